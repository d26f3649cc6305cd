"""The estimators' hyper-parameters: their checks, and the fastmlp objects they name.

scikit-learn checks hyper-parameters when ``fit`` is called, not in the
constructor (``set_params`` and ``clone`` must accept anything), so these
functions take the estimator and read its attributes.
"""

import copy
import numbers
import warnings

import numpy as np
from sklearn.metrics import check_scoring

from .._utils.validation import (
    check_flag,
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)
from ..optim import LBFGS, SGD, Adam, Optimizer, Solver, get_optimizer
from ..schedules import Schedule, get_schedule
from ..training.settings import SPARSE_UPDATES

#: scikit-learn's hidden-layer activations and the other fastmlp ones.
_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "sigmoid", "leaky_relu", "elu",
                "selu", "softplus", "gelu", "swish")
#: The learning-rate names scikit-learn defines (they apply to solver="sgd" only).
_SKLEARN_RATES = ("constant", "invscaling", "adaptive")
#: Optimizers that take scikit-learn's beta_1, beta_2 and epsilon.
_ADAM_FAMILY = ("adam", "adamw", "adamax", "nadam", "radam")


def check_common_params(est):
    """Validate the hyper-parameters every MLP estimator has; raise ValueError on the first
    bad one.

    Parameters
    ----------
    est : BaseMLP
        The estimator whose constructor parameters are checked.
    """
    hidden_sizes(est.hidden_layer_sizes)
    if not isinstance(est.activation, str) or est.activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}; "
                         f"got {est.activation!r}")
    if not isinstance(est.solver, (str, Solver)):
        raise ValueError(f"solver must be an optimizer name or a fastmlp optimizer, got "
                         f"{est.solver!r}")
    check_nonnegative_float(est.alpha, "alpha")
    check_nonnegative_float(est.l1, "l1")
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        check_positive_int(est.batch_size, "batch_size (or 'auto')")
    if not isinstance(est.learning_rate, (str, Schedule)):
        raise ValueError(f"learning_rate must be a schedule name or a fastmlp Schedule, got "
                         f"{est.learning_rate!r}")
    check_positive_float(est.learning_rate_init, "learning_rate_init")
    check_nonnegative_float(est.power_t, "power_t")
    check_positive_int(est.max_iter, "max_iter")
    check_nonnegative_float(est.tol, "tol")
    check_unit_interval(est.momentum, "momentum")  # fastmlp's SGD, like scikit-learn: [0, 1)
    check_unit_interval(est.validation_fraction, "validation_fraction")
    check_unit_interval(est.beta_1, "beta_1")
    check_unit_interval(est.beta_2, "beta_2")
    check_positive_float(est.epsilon, "epsilon")
    if est.n_iter_no_change != np.inf:
        check_positive_int(est.n_iter_no_change, "n_iter_no_change (or np.inf)")
    check_positive_int(est.max_fun, "max_fun")
    for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
        check_flag(getattr(est, name), name)
    if est.solver_params is not None and not isinstance(est.solver_params, dict):
        raise ValueError(f"solver_params must be a dict or None, got {est.solver_params!r}")
    if est.dtype not in (None, "float32", "float64", np.float32, np.float64):
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {est.dtype!r}")
    if not isinstance(est.sparse_update, str) or est.sparse_update not in SPARSE_UPDATES:
        raise ValueError(f"sparse_update must be one of {', '.join(map(repr, SPARSE_UPDATES))}, "
                         f"got {est.sparse_update!r}")
    if est.scoring is not None:
        if not (isinstance(est.scoring, str) or callable(est.scoring)):
            raise ValueError(f"scoring must be None, a scorer name or a callable, got "
                             f"{est.scoring!r}")
        check_scoring(est, scoring=est.scoring)  # an unknown name raises scikit-learn's error


def hidden_sizes(hidden_layer_sizes):
    """The hidden layers' widths as a list of ints (an int is one layer)."""
    sizes = hidden_layer_sizes
    if isinstance(sizes, numbers.Integral):
        sizes = [sizes]
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got "
                         f"{hidden_layer_sizes!r}") from None
    return [check_positive_int(size, f"hidden_layer_sizes[{i}]") for i, size in enumerate(sizes)]


def _solver_name(solver):
    """The normalised optimizer name, or None for an optimizer instance."""
    return solver.strip().lower() if isinstance(solver, str) else None


def solver_minimizes(solver):
    """Whether ``solver`` runs its own iterations over the whole objective (L-BFGS).

    Such a solver trains on the full data through ``fit`` only: no epochs,
    no ``partial_fit``, no early stopping.
    """
    if isinstance(solver, Solver):
        return solver.minimizes
    return _solver_name(solver) == "lbfgs"


def partial_fit_available(est):
    """``available_if`` condition of ``partial_fit``: ``est.solver`` is stochastic.

    Parameters
    ----------
    est : BaseMLP
        The estimator whose ``partial_fit`` is looked up.

    Returns
    -------
    bool
        True for a first-order solver.

    Raises
    ------
    AttributeError
        For a solver that minimizes the whole objective (L-BFGS): to
        scikit-learn, the estimator then has no ``partial_fit``.
    """
    if solver_minimizes(est.solver):
        raise AttributeError("partial_fit needs a stochastic solver; L-BFGS ("
                             f"solver={est.solver!r}) trains on the whole data only")
    return True


def make_optimizer(est):
    """A fresh optimizer for one fit, from ``est.solver`` and the related parameters."""
    solver = est.solver
    if isinstance(solver, Solver):
        # the parameter itself must stay untouched (scikit-learn's clone rules)
        return solver.copy() if isinstance(solver, Optimizer) else copy.deepcopy(solver)
    name = _solver_name(solver)
    extra = dict(est.solver_params or {})
    if name == "lbfgs":
        tol = max(float(est.tol), np.finfo(np.float64).tiny)  # scipy takes gtol = 0
        kwargs = {"max_iter": est.max_iter, "max_fun": est.max_fun, "tol": tol}
        return LBFGS(**{**kwargs, **extra})
    if name == "sgd":
        kwargs = {"lr": est.learning_rate_init, "momentum": est.momentum,
                  "nesterov": bool(est.nesterovs_momentum and est.momentum > 0)}
        return SGD(**{**kwargs, **extra})
    kwargs = {"lr": est.learning_rate_init}
    if name in _ADAM_FAMILY:
        kwargs.update(betas=(est.beta_1, est.beta_2), eps=est.epsilon)
    if name == "adam":
        return Adam(**{**kwargs, **extra})
    return get_optimizer(name, **{**kwargs, **extra})


def make_schedule(learning_rate):
    """The fastmlp schedule ``learning_rate`` names, or None for scikit-learn's own rates."""
    if isinstance(learning_rate, Schedule):
        return copy.deepcopy(learning_rate)
    if learning_rate in _SKLEARN_RATES:
        return None  # applied between epochs by the stopping rules (solver="sgd" only)
    return get_schedule(learning_rate)


def effective_batch_size(requested, n_samples, optimizer, stacklevel):
    """Samples per batch for ``n_samples`` training samples.

    "auto" is scikit-learn's ``min(200, n)``, or the whole set for solvers
    meant for full batches; a requested size above ``n`` is clipped with a
    warning, attributed to the caller's ``stacklevel`` (as the caller would
    pass it to :func:`warnings.warn`: the user's fit call).
    """
    if requested == "auto":
        return n_samples if optimizer.full_batch else min(200, n_samples)
    if requested > n_samples:
        warnings.warn(f"batch_size={requested} is larger than the {n_samples} training "
                      "samples; it is clipped to the sample count", UserWarning,
                      stacklevel=stacklevel + 1)
    return min(requested, n_samples)
