"""L-BFGS over the flat parameter buffer, through ``scipy.optimize``."""

import time
import warnings

import numpy as np

from .._utils.validation import check_positive_float, check_positive_int
from ..engine.guard import writing_to
from ..exceptions import ConvergenceWarning
from .solver import Solver

__all__ = ["LBFGS"]


class LBFGS(Solver):
    """Limited-memory BFGS (scipy's L-BFGS-B) on the whole training set.

    The lecture notes close their comparison of optimizers with L-BFGS: a
    quasi-Newton method that builds a curvature estimate from the last
    ``history_size`` gradient differences.  It is a full-batch method: every
    iteration evaluates the objective (mean loss plus the model's penalty)
    and its gradient on all the data, with the compiled multi-threaded
    kernels, and ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``
    chooses the next point.

    The flat buffer is what scipy optimizes.  scipy works in float64: for a
    float64 model its iterate is handed to the kernels as the parameter
    buffer itself (no packing, no copy per evaluation); for a float32 model
    the iterate is rounded into the model's float32 buffer (one cast per
    evaluation) and the float32 gradient is widened to float64 for scipy.

    Use it through :class:`~fastmlp.Trainer` (``batch_size`` must be None,
    the full batch) or directly with :meth:`minimize`.

    Parameters
    ----------
    max_iter : int, default 200
        Iterations (scipy's ``maxiter``).
    max_fun : int, default 15000
        Objective evaluations (``maxfun``).
    tol : float, default 1e-5
        Stop when the largest gradient component falls below it (``gtol``).
    history_size : int, default 10
        Correction pairs kept (``maxcor``).
    """

    full_batch = True
    minimizes = True
    takes_schedule = False
    resumable = False  # scipy keeps its curvature history internally

    def __init__(self, max_iter=200, max_fun=15000, tol=1e-5, history_size=10):
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.max_fun = check_positive_int(max_fun, "max_fun")
        self.tol = check_positive_float(tol, "tol")
        self.history_size = check_positive_int(history_size, "history_size")
        self.result = None

    def epoch_limit(self, epochs):
        """L-BFGS runs up to ``max_iter`` iterations, one epoch each, whatever ``epochs`` says."""
        return self.max_iter

    @property
    def lr(self):
        """L-BFGS has no learning rate (its line search picks the step)."""
        return float("nan")

    def minimize(self, objective, params, callback=None, _stacklevel=2):
        """Minimize ``objective`` starting from (and writing back to) ``params``.

        Parameters
        ----------
        objective : callable ``f(x, grad_out) -> float``
            Evaluates the objective at the float buffer ``x`` (the model's
            dtype), writing its gradient into ``grad_out``.
        params : ndarray (n,)
            The model's parameter buffer; holds the solution afterwards.
        callback : callable ``f(iteration, loss, seconds)``, optional
            Called after every iteration; returning True stops the
            minimisation there (early stopping).

        Returns
        -------
        scipy.optimize.OptimizeResult
        """
        from scipy.optimize import minimize

        single = params.dtype == np.float32
        grad = np.empty_like(params)
        # trial points are evaluated in a buffer of their own: the model's holds
        # the accepted iterates only
        trial = np.empty_like(params) if single else None
        last = {"loss": np.nan}
        start = time.perf_counter()
        iteration = [0]

        def fun(x):
            if single:
                trial[...] = x  # the one cast per evaluation
                loss = objective(trial, grad)
            else:
                if not (x.flags.c_contiguous and x.flags.writeable):
                    x = np.array(x)  # (a read-only view would need its own compiled kernel)
                loss = objective(x, grad)  # scipy's iterate is the parameter buffer
            last["loss"] = loss
            # scipy keeps references to returned gradients: hand it a fresh array
            return loss, grad.astype(np.float64, copy=True)

        def on_iteration(xk):
            iteration[0] += 1
            # the model holds every accepted iterate: the callback sees it, and an
            # interruption (Ctrl-C between two evaluations) leaves the best point
            with writing_to(params, "L-BFGS"):
                params[...] = xk
            if callback is not None:
                if callback(iteration[0], last["loss"], time.perf_counter() - start):
                    raise StopIteration  # scipy ends the run at this iterate

        x0 = params.astype(np.float64, copy=True)
        result = minimize(fun, x0, method="L-BFGS-B", jac=True, callback=on_iteration,
                          options={"maxiter": self.max_iter, "maxfun": self.max_fun,
                                   "gtol": self.tol, "maxcor": self.history_size})
        with writing_to(params, "L-BFGS"):
            params[...] = result.x
        self.result = result
        if result.status == 1:
            warnings.warn(f"L-BFGS stopped after {result.nit} iterations and {result.nfev} "
                          f"evaluations (max_iter={self.max_iter}, max_fun={self.max_fun}) "
                          f"without meeting tol={self.tol}; raise max_iter or max_fun",
                          ConvergenceWarning, stacklevel=_stacklevel + 1)
        return result

    def __repr__(self):
        return (f"LBFGS(max_iter={self.max_iter}, max_fun={self.max_fun}, tol={self.tol}, "
                f"history_size={self.history_size})")
