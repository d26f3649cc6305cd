"""Regression on the half Poisson deviance (``MLPRegressor(loss="poisson")``).

fastmlp's kernels have no Poisson loss; this module trains it through the
squared-error gradient (see :class:`PoissonTrainer`), by mini-batches or
with L-BFGS.
"""

import math
import warnings

import numpy as np
from scipy.special import xlogy

from ..engine.threads import threads
from ..exceptions import ConvergenceWarning as _FastmlpConvergenceWarning
from ..exceptions import DivergenceError


class PoissonTrainer:
    """Mini-batch training on the half Poisson deviance with a log link.

    fastmlp's kernels have no Poisson loss, but with an identity output
    ``z`` the deviance's gradient with respect to ``z`` is ``exp(z) - y``:
    the squared error's gradient ``z - t`` for the stand-in target
    ``t = z - (exp(z) - y)``.  Every batch therefore costs one forward pass
    (for ``z``) plus one squared-error gradient pass, with a Python loop
    over the batches: slower than the fused engine path, same result.
    """

    # A fitted Poisson estimator keeps its trainer (partial_fit continues
    # with it), so pickles name this class.  They name it on the package,
    # fastmlp.sklearn.PoissonTrainer, whichever module defines it; older
    # pickles (up to commit a59718a) name fastmlp.sklearn._PoissonTrainer,
    # which the package's __getattr__ still resolves.
    __module__ = "fastmlp.sklearn"

    def __init__(self, model, optimizer, batch_size, shuffle, seed, schedule):
        self.model, self.optimizer = model, optimizer
        self.batch_size, self.shuffle, self.schedule = batch_size, shuffle, schedule
        self.rng = np.random.default_rng(seed)
        self.epoch = self.steps = 0
        self._started = False

    def fit(self, X, y, epochs, on_epoch_end, sample_weight=None):
        """Train up to ``epochs`` epochs; ``on_epoch_end(mean_loss)`` returning True stops."""
        model, opt = self.model, self.optimizer
        n = X.shape[0]
        bs = min(self.batch_size, n)
        n_batches = math.ceil(n / bs)
        grad = np.empty_like(model.params)
        if self.schedule is not None and not self._started:
            self.schedule.start(opt.lr)
        self._started = True
        for _ in range(epochs):
            order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            rates = None
            if self.schedule is not None:
                rates = self.schedule.rates(self.epoch, self.steps, n_batches, n_batches)
            start = model.params.copy()
            total = 0.0
            for b in range(n_batches):
                idx = order[b * bs:(b + 1) * bs]
                sw = None if sample_weight is None else sample_weight[idx]
                if rates is not None:
                    opt.lr = rates[b]
                loss = poisson_loss_grad(model, X[idx], y[idx], sw, grad)
                if not (math.isfinite(loss) and np.all(np.isfinite(grad))):
                    model.params[...] = start
                    raise DivergenceError(f"the Poisson loss became NaN or infinite in epoch "
                                          f"{self.epoch + 1}")
                opt.step(model.params, grad)
                total += loss * idx.size
            self.steps += n_batches
            self.epoch += 1
            if rates is not None:
                opt.lr = float(rates[-1])
            if on_epoch_end(total / n):
                break


def poisson_loss_grad(model, X, y, sample_weight, grad):
    """Half Poisson deviance (plus penalty) of a log-link model, its gradient into grad.

    The loss is the (weighted) mean over the rows, summed over the outputs,
    as scikit-learn defines it.  Weights are folded into the stand-in target
    (row i's error scaled by ``n w_i / sum(w)``), so the unweighted mean of
    the squared-error gradients is the weighted deviance gradient; a batch
    whose weights are all 0 contributes no data gradient, as in the engine.
    """
    z = model.predict(X).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        mu = np.exp(z)
        dev = xlogy(y, y) - y * z - y + mu  # y log(y / mu) - y + mu, with 0 log 0 = 0
    error = mu - y
    if sample_weight is None:
        per_output = dev.mean(axis=0)
    else:
        total = sample_weight.sum()
        share = sample_weight / total if total > 0 else np.zeros_like(sample_weight)
        per_output = share @ dev
        error *= (share * X.shape[0])[:, None]
    # the squared error's gradient at the target z - error is the deviance's
    model.loss_and_grad(X, z - error, out=grad)
    return float(per_output.sum()) + model.penalty()


def minimize_poisson(model, optimizer, X, Y, sample_weight, n_threads):
    """Fit ``model`` with a minimizing solver (L-BFGS) on the Poisson objective.

    The solver's own ConvergenceWarning is silenced: the estimator words
    its own from the returned result.
    """

    def objective(params, grad):
        if params is not model.params:
            model.params[...] = params
        return poisson_loss_grad(model, X, Y, sample_weight, grad)

    with threads(n_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", _FastmlpConvergenceWarning)
        return optimizer.minimize(objective, model.params)
