"""scikit-learn estimators trained by fastmlp: :class:`MLPClassifier` and :class:`MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``: the same constructor parameters, defaults, fitted
attributes and methods, so changing the import is enough::

    from fastmlp.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

    clf = MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=64, random_state=0)
    clf.fit(X_train, y_train).score(X_test, y_test)

Training runs in fastmlp's compiled kernels (one call per epoch, several
threads), and the estimators take more than scikit-learn's: every fastmlp
optimizer as ``solver``, every fastmlp schedule as ``learning_rate``, more
activations, dropout, batch normalisation, an L1 penalty, ``n_threads`` and
float32 training (``dtype``).

How scikit-learn's definitions are reproduced, and where they are only
approximated:

* Weights and biases start as in scikit-learn (Glorot-uniform, drawn from
  ``random_state`` in the same order), so with the same ``random_state`` both
  libraries start from the same network.  The early-stopping split is drawn
  from the same generator too (stratified for every single-label
  classification, where scikit-learn stratifies binary targets only).
* scikit-learn's L2 term is ``alpha / 2 * ||W||^2`` divided by the batch's
  sample count (weight sum with ``sample_weight``), in the loss and the
  gradient.  fastmlp's penalty is a fixed coefficient per model, so it is set
  to ``alpha / batch_size`` (times the mean sample weight): exact for every
  full batch and for L-BFGS, an approximation for an epoch's last, smaller
  batch.
* ``solver="adam"`` is ``fastmlp.optim.Adam``, PyTorch's update rule, whose
  ``epsilon`` sits outside the bias correction of the second moment (in
  scikit-learn it sits inside); ``solver="sgd"`` is ``fastmlp.optim.SGD``,
  identical to scikit-learn's momentum and Nesterov updates at a constant
  learning rate.
* ``loss_`` and ``loss_curve_`` follow scikit-learn's definitions (the mean
  over an epoch's batches, penalty included; half the squared error averaged
  over the outputs for multi-output regression, from the epoch's mean penalty
  estimated at its start and end).
* Sparse input is accepted and densified (fastmlp's kernels are dense), which
  needs ``n_samples * n_features`` floats of memory.

Training stops as scikit-learn's does (``tol`` and ``n_iter_no_change`` on
the training loss or, with ``early_stopping``, on the validation score,
whose best weights are restored); ``max_iter`` reached without converging
raises :class:`ConvergenceWarning`, a subclass of both scikit-learn's and
fastmlp's ``ConvergenceWarning``.
"""

import copy
import math
import numbers
import warnings

import numpy as np
from scipy.special import xlogy

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state, column_or_1d
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("fastmlp.sklearn needs scikit-learn (>= 1.3): "
                      "pip install 'fastmlp[sklearn]'") from exc

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

from .callbacks import Callback
from .exceptions import ConvergenceWarning as _FastmlpConvergenceWarning
from .exceptions import DivergenceError
from .model import Model
from .optim import LBFGS, SGD, Adam, Optimizer, get_optimizer
from .parallel import threads
from .schedules import Schedule, get_schedule
from .trainer import Trainer

__all__ = ["MLPClassifier", "MLPRegressor", "ConvergenceWarning"]


class ConvergenceWarning(_SklearnConvergenceWarning, _FastmlpConvergenceWarning):
    """The solver stopped at ``max_iter`` (or L-BFGS at ``max_fun``) before converging.

    A subclass of both ``sklearn.exceptions.ConvergenceWarning`` and
    ``fastmlp.ConvergenceWarning``, so a filter on either catches it.
    """


#: scikit-learn's hidden-layer activations and the other fastmlp ones.
_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "sigmoid", "leaky_relu", "elu",
                "selu", "softplus", "gelu", "swish")
#: The learning-rate names scikit-learn defines (they apply to solver="sgd" only).
_SKLEARN_RATES = ("constant", "invscaling", "adaptive")
#: Optimizers that take scikit-learn's beta_1, beta_2 and epsilon.
_ADAM_FAMILY = ("adam", "adamw", "adamax", "nadam", "radam")
#: Smallest learning rate the "adaptive" schedule divides further (scikit-learn's).
_MIN_ADAPTIVE_LR = 1e-6


# ---------------------------------------------------------------- shared docs
_COMMON_PARAMS = """
    hidden_layer_sizes : int or array-like of int, default=(100,)
        Width of each hidden layer (an empty tuple gives a linear model).
    activation : str, default="relu"
        Hidden-layer activation: scikit-learn's "identity", "logistic",
        "tanh", "relu", or fastmlp's "leaky_relu", "elu", "selu",
        "softplus", "gelu", "swish" ("sigmoid" is "logistic").
    solver : str or optimizer instance, default="adam"
        "adam", "sgd" and "lbfgs" as in scikit-learn; any other fastmlp
        optimizer name ("nadam", "rmsprop", "adagrad", "adamw", "radam",
        "adamax", "adadelta", "rprop"), or an instance from
        :mod:`fastmlp.optim` (copied at each fit).  Named optimizers get
        ``learning_rate_init`` as ``lr``; the Adam family also ``beta_1``,
        ``beta_2`` and ``epsilon``; ``solver_params`` adds to these.
    alpha : float, default=0.0001
        Strength of the L2 penalty ``alpha / 2 * ||W||^2`` (weights only),
        divided by the batch size as in scikit-learn.
    batch_size : int or "auto", default="auto"
        Samples per mini-batch; "auto" is ``min(200, n_samples)`` (the whole
        training set for full-batch optimizers such as "rprop").  Ignored by
        L-BFGS.  Values above the sample count are clipped, with a warning.
    learning_rate : str or Schedule, default="constant"
        "constant", "invscaling" (``learning_rate_init / (t + 1)^power_t``
        after each epoch, ``t`` the samples seen) and "adaptive" (divide by 5
        whenever the loss stalls) as in scikit-learn, used by solver="sgd"
        only.  Any other fastmlp schedule name or a
        :class:`fastmlp.schedules.Schedule` instance applies to every
        first-order solver.
    learning_rate_init : float, default=0.001
        Initial learning rate of the first-order solvers.
    power_t : float, default=0.5
        Exponent of "invscaling".
    max_iter : int, default=200
        Epochs of the first-order solvers; iterations of L-BFGS.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the early-stopping split, the shuffling
        and the dropout masks.
    tol : float, default=1e-4
        Training stops (or "adaptive" lowers the rate) when the loss (the
        validation score with ``early_stopping``) has not improved by
        ``tol`` for ``n_iter_no_change`` consecutive epochs.  L-BFGS's
        gradient tolerance.
    verbose : bool or int, default=False
        Print the loss of every epoch; 2 prints fastmlp's progress lines
        (with learning rate and samples per second) instead.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (with a fresh optimizer).
    momentum : float, default=0.9
        Momentum of solver="sgd", in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov momentum for solver="sgd" (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score stops improving and restore the weights of the best epoch.
        First-order solvers only.
    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping``.
    beta_1 : float, default=0.9
        Adam's first-moment decay rate, in [0, 1).
    beta_2 : float, default=0.999
        Adam's second-moment decay rate, in [0, 1).
    epsilon : float, default=1e-8
        Adam's denominator offset.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping.
    max_fun : int, default=15000
        L-BFGS's limit on loss evaluations.
    solver_params : dict, optional
        Extra keyword arguments of the fastmlp optimizer named by ``solver``
        (for instance ``{"weight_decay": 1e-4}`` for "adamw").
    dropout : float or sequence of float, default=0.0
        Inverted dropout rate on every hidden layer's output (a sequence:
        one rate per weight layer's input, see :class:`fastmlp.Model`).
        Not with L-BFGS.
    batch_norm : bool or sequence of bool, default=False
        Batch normalisation in every (or each marked) hidden layer.
    l1 : float, default=0.0
        L1 penalty ``l1 * |W|_1``, scaled like ``alpha``.
    n_threads : int or None, default=None
        Threads for training and prediction (None: all available).
    dtype : {None, "float32", "float64"}, default=None
        Precision of the network.  None keeps float32 input in float32 and
        trains everything else in float64.
"""

_COMMON_ATTRIBUTES = """
    loss_ : float
        Training loss of the last epoch (L-BFGS: at the solution), L2
        penalty included.
    best_loss_ : float or None
        Lowest training loss seen (None with ``early_stopping``).  First-order
        solvers only.
    loss_curve_ : list of float
        Training loss of every epoch.  First-order solvers only.
    validation_scores_ : list of float or None
        Validation score of every epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation score with ``early_stopping``, else None.
    t_ : int
        Training samples seen by the solver (sum over epochs).
    coefs_ : list of ndarray
        ``coefs_[i]`` (fan_in, fan_out) weights of layer i: views into the
        network's parameter buffer, so in-place changes reach predictions.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` biases of layer i (views, as ``coefs_``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit (only when ``X`` had string column names).
    n_iter_ : int
        Epochs (L-BFGS: iterations) run by the last fit or partial_fit.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation.
    model_ : fastmlp.Model
        The fitted fastmlp network (for fastmlp's own tools).
"""


def _fill_doc(cls):
    cls.__doc__ = (cls.__doc__.replace("{common_params}", _COMMON_PARAMS.strip("\n"))
                   .replace("{common_attributes}", _COMMON_ATTRIBUTES.strip("\n")))
    return cls


# ---------------------------------------------------------------- helpers
def _validate_data(est, X, y="no_validation", reset=True, **kwargs):
    """scikit-learn's input validation (``validate_data`` or the older method).

    ``y=None`` is passed on, so that fitting without targets fails with
    scikit-learn's message.
    """
    if _sk_validate_data is not None:
        return _sk_validate_data(est, X, y, reset=reset, **kwargs)
    return est._validate_data(X, y, reset=reset, **kwargs)  # pragma: no cover - sklearn < 1.6


def _check_sample_weight(sample_weight, n_samples):
    """float64 weights of shape (n_samples,), or None when absent or all ones.

    All ones is the unweighted problem; passing None keeps that case on the
    engine's unweighted path, bit for bit.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sw = np.full(n_samples, float(sample_weight))
    else:
        sw = np.asarray(sample_weight)
        if sw.dtype.kind not in "biuf":
            raise ValueError(f"sample_weight must be numeric, got dtype {sw.dtype}")
        sw = sw.astype(np.float64)  # a copy: the caller's array is never modified
        if sw.ndim != 1:
            raise ValueError(f"sample_weight must be 1-D, got shape {sw.shape}")
        if sw.shape[0] != n_samples:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries but X has "
                             f"{n_samples} samples (sample_weight.shape == ({n_samples},) "
                             "expected)")
    if not np.all(np.isfinite(sw)):
        raise ValueError("sample_weight contains NaN or inf")
    if np.any(sw < 0):
        raise ValueError("sample_weight must be non-negative")
    if not np.any(sw > 0):
        raise ValueError("sample_weight has only zero weights: at least one sample needs a "
                         "positive weight")
    if np.all(sw == 1):
        return None
    return sw


def _weight_kwargs(sample_weight):
    return {} if sample_weight is None else {"sample_weight": sample_weight}


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _in_range(value, name, low, high, low_open=False, high_open=False, integer=False):
    """Raise ValueError unless ``value`` is a (finite) number in the interval."""
    ok_type = _is_int(value) if integer else (
        isinstance(value, numbers.Real) and not isinstance(value, bool))
    if ok_type and not math.isnan(value):
        above = value > low if low_open else value >= low
        below = high is None or (value < high if high_open else value <= high)
        if above and below:
            return
    left = "(" if low_open else "["
    right = "inf)" if high is None else (f"{high})" if high_open else f"{high}]")
    kind = "an integer" if integer else "a number"
    raise ValueError(f"{name} must be {kind} in {left}{low}, {right}, got {value!r}")


class _EpochHook(Callback):
    """Hands every finished epoch of a Trainer.fit to the estimator's stopping rules."""

    def __init__(self, estimator, ctx):
        self.estimator, self.ctx = estimator, ctx
        self._penalty_start = 0.0

    def on_epoch_begin(self, trainer, epoch):
        if self.ctx.per_output_mean:
            self._penalty_start = trainer.model.penalty()

    def on_epoch_end(self, trainer, epoch, logs):
        loss = logs["loss"]
        if self.ctx.per_output_mean:
            # The engine's loss sums the outputs' squared errors; scikit-learn
            # averages them.  Only the data part is divided, the penalty is
            # taken as the mean of its values at the epoch's ends.
            penalty = 0.5 * (self._penalty_start + trainer.model.penalty())
            loss = (loss - penalty) / self.ctx.n_outputs + penalty
        return self.estimator._end_epoch(loss, self.ctx)


class _FitContext:
    """What one fit call's epochs share: the validation set, the optimizer, flags."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class _PoissonTrainer:
    """Mini-batch training on the half Poisson deviance with a log link.

    fastmlp's kernels have no Poisson loss, but with an identity output
    ``z`` the deviance's gradient with respect to ``z`` is ``exp(z) - y``:
    the squared error's gradient ``z - t`` for the stand-in target
    ``t = z - (exp(z) - y)``.  Every batch therefore costs one forward pass
    (for ``z``) plus one squared-error gradient pass, with a Python loop
    over the batches: slower than the fused engine path, same result.
    """

    def __init__(self, model, optimizer, batch_size, shuffle, seed, schedule):
        self.model, self.optimizer = model, optimizer
        self.batch_size, self.shuffle, self.schedule = batch_size, shuffle, schedule
        self.rng = np.random.default_rng(seed)
        self.epoch = self.steps = 0
        self._started = False

    def fit(self, X, y, epochs, on_epoch_end, sample_weight=None):
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
                loss = _poisson_loss_grad(model, X[idx], y[idx], sw, grad)
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


def _poisson_loss_grad(model, X, y, sample_weight, grad):
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


# ---------------------------------------------------------------- the base class
class _BaseMLP(BaseEstimator):
    """What MLPClassifier and MLPRegressor share; not for direct use."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, loss=None, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.solver_params = solver_params
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.l1 = l1
        self.n_threads = n_threads
        self.dtype = dtype

    # ------------------------------------------------------------ parameters
    def _check_params(self):
        """Validate the hyper-parameters (at fit time, as scikit-learn does)."""
        self._hidden_sizes()
        if not isinstance(self.activation, str) or self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}; "
                             f"got {self.activation!r}")
        if not isinstance(self.solver, (str, Optimizer, LBFGS)):
            raise ValueError(f"solver must be an optimizer name or a fastmlp optimizer, got "
                             f"{self.solver!r}")
        _in_range(self.alpha, "alpha", 0, None)
        _in_range(self.l1, "l1", 0, None)
        if not (self.batch_size == "auto" if isinstance(self.batch_size, str) else
                _is_int(self.batch_size) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got "
                             f"{self.batch_size!r}")
        if not isinstance(self.learning_rate, (str, Schedule)):
            raise ValueError(f"learning_rate must be a schedule name or a fastmlp Schedule, got "
                             f"{self.learning_rate!r}")
        _in_range(self.learning_rate_init, "learning_rate_init", 0, None, low_open=True)
        _in_range(self.power_t, "power_t", 0, None)
        _in_range(self.max_iter, "max_iter", 1, None, integer=True)
        _in_range(self.tol, "tol", 0, None)
        _in_range(self.momentum, "momentum", 0, 1, high_open=True)  # fastmlp SGD: [0, 1)
        _in_range(self.validation_fraction, "validation_fraction", 0, 1, high_open=True)
        _in_range(self.beta_1, "beta_1", 0, 1, high_open=True)
        _in_range(self.beta_2, "beta_2", 0, 1, high_open=True)
        _in_range(self.epsilon, "epsilon", 0, None, low_open=True)
        if not (self.n_iter_no_change == np.inf or (_is_int(self.n_iter_no_change)
                                                    and self.n_iter_no_change >= 1)):
            raise ValueError(f"n_iter_no_change must be a positive integer or np.inf, got "
                             f"{self.n_iter_no_change!r}")
        _in_range(self.max_fun, "max_fun", 1, None, integer=True)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.solver_params is not None and not isinstance(self.solver_params, dict):
            raise ValueError(f"solver_params must be a dict or None, got {self.solver_params!r}")
        if self.dtype not in (None, "float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype must be None, 'float32' or 'float64', got {self.dtype!r}")

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if _is_int(sizes):
            sizes = [sizes]
        try:
            sizes = list(sizes)
        except TypeError:
            raise ValueError(f"hidden_layer_sizes must be an int or a sequence of ints, got "
                             f"{self.hidden_layer_sizes!r}") from None
        if not all(_is_int(s) and s >= 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
        return [int(s) for s in sizes]

    def _is_lbfgs(self):
        if isinstance(self.solver, LBFGS):
            return True
        return isinstance(self.solver, str) and self.solver.strip().lower() == "lbfgs"

    def _solver_name(self):
        return self.solver.strip().lower() if isinstance(self.solver, str) else None

    # ------------------------------------------------------------ fitted state
    def __sklearn_is_fitted__(self):
        return getattr(self, "model_", None) is not None

    @property
    def coefs_(self):
        """Weights of every layer, (fan_in, fan_out) views into the network."""
        check_is_fitted(self)
        return list(self.model_.weights)

    @coefs_.setter
    def coefs_(self, values):
        _assign_arrays(self.model_.weights, values, "coefs_")

    @property
    def intercepts_(self):
        """Biases of every layer, views into the network."""
        check_is_fitted(self)
        return list(self.model_.biases)

    @intercepts_.setter
    def intercepts_(self, values):
        _assign_arrays(self.model_.biases, values, "intercepts_")

    def _network_dtype(self, X):
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)

    def _initialize(self, n_outputs, X, hidden, rs):
        """Build the network (scikit-learn's initial weights) and reset the fit state."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        units = [X.shape[1]] + hidden + [n_outputs]
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        output = {"logistic": "sigmoid", "exp": "identity"}.get(self.out_activation_,
                                                                self.out_activation_)
        activation = "sigmoid" if self.activation == "logistic" else self.activation
        model = Model(units, activation=activation, output=output,
                      dtype=self._network_dtype(X), dropout=self.dropout,
                      batch_norm=self.batch_norm, seed=0)
        # Glorot-uniform weights and biases, drawn layer by layer (weights,
        # then biases) from the estimator's generator: scikit-learn's scheme,
        # so the same random_state starts both libraries at the same point.
        factor = 2.0 if self.activation in ("logistic", "sigmoid") else 6.0
        for W, b in zip(model.weights, model.biases):
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            W[...] = rs.uniform(-bound, bound, W.shape)
            b[...] = rs.uniform(-bound, bound, b.shape)
        self.model_ = model
        self._trainer = None
        self._best_params = model.params.copy()
        self._best_running = model.running_stats.copy()
        if not self._is_lbfgs():
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._check_params()
        hidden = self._hidden_sizes()
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start
                                                         and not incremental)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True: there is no "
                             "held-out set across calls")
        X, Y, y_score = self._validate_input(X, y, incremental, reset=first_pass)
        sw = _check_sample_weight(sample_weight, X.shape[0])
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y.shape[1], X, hidden, rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs but the network was fitted with "
                             f"{self.n_outputs_}")
        model = self.model_
        if self.out_activation_ == "exp" and (np.any(np.asarray(self.dropout) > 0)
                                              or np.any(self.batch_norm)):
            raise ValueError("loss='poisson' does not support dropout or batch_norm")
        X = np.ascontiguousarray(X, dtype=model.dtype)
        Y = np.ascontiguousarray(Y, dtype=model.dtype)
        try:
            if self._is_lbfgs():
                self._fit_lbfgs(X, Y, sw)
            else:
                self._fit_stochastic(X, Y, y_score, sw, rs, incremental)
        except DivergenceError as exc:
            raise ValueError(f"training produced non-finite weights (NaN or inf): {exc} The "
                             "input may hold very large values: scale the features (for "
                             "instance with StandardScaler) or lower learning_rate_init.") \
                from exc
        if not np.all(np.isfinite(model.params)):
            raise ValueError("training produced non-finite weights (NaN or inf). The input may "
                             "hold very large values: scale the features (for instance with "
                             "StandardScaler) or lower learning_rate_init.")
        return self

    def _penalties(self, model, samples):
        """Set the model's penalties for a batch of ``samples`` (weight sum) samples."""
        model.l2 = self.alpha / samples
        model.l1 = self.l1 / samples

    def _make_optimizer(self):
        solver = self.solver
        if isinstance(solver, (Optimizer, LBFGS)):
            return solver.copy() if isinstance(solver, Optimizer) else copy.deepcopy(solver)
        name = self._solver_name()
        extra = dict(self.solver_params or {})
        if name == "lbfgs":
            tol = max(float(self.tol), np.finfo(np.float64).tiny)  # scipy takes gtol = 0
            kwargs = {"max_iter": self.max_iter, "max_fun": self.max_fun, "tol": tol}
            return LBFGS(**{**kwargs, **extra})
        if name == "sgd":
            kwargs = {"lr": self.learning_rate_init, "momentum": self.momentum,
                      "nesterov": bool(self.nesterovs_momentum and self.momentum > 0)}
            return SGD(**{**kwargs, **extra})
        kwargs = {"lr": self.learning_rate_init}
        if name in _ADAM_FAMILY:
            kwargs.update(betas=(self.beta_1, self.beta_2), eps=self.epsilon)
        if name == "adam":
            return Adam(**{**kwargs, **extra})
        return get_optimizer(name, **{**kwargs, **extra})

    def _make_schedule(self):
        rate = self.learning_rate
        if isinstance(rate, Schedule):
            return copy.deepcopy(rate)
        if rate in _SKLEARN_RATES:
            return None  # applied by _end_epoch (solver="sgd" only)
        return get_schedule(rate)

    def _batch_size(self, n, optimizer):
        if self.batch_size == "auto":
            return n if getattr(optimizer, "full_batch", False) else min(200, n)
        if self.batch_size > n:
            warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training "
                          "samples; it is clipped to the sample count", UserWarning,
                          stacklevel=5)
        return min(self.batch_size, n)

    def _split_validation(self, X, Y, y_score, sw, rs):
        """Hold out validation_fraction of the data (scikit-learn's draw from rs)."""
        n = X.shape[0]
        stratify = self._stratify_labels(y_score, n)
        train, val = train_test_split(np.arange(n), random_state=rs,
                                      test_size=self.validation_fraction, stratify=stratify)
        if val.size < 2:
            raise ValueError(f"the validation set holds {val.size} sample(s); raise "
                             "validation_fraction or give more data (early_stopping needs "
                             "at least 2)")
        sw_train, sw_val = (None, None) if sw is None else (sw[train], sw[val])
        return (X[train], Y[train], sw_train), (X[val], y_score[val], sw_val)

    def _stratify_labels(self, y_score, n):
        return None

    def _fit_stochastic(self, X, Y, y_score, sw, rs, incremental):
        model = self.model_
        val = None
        if self.early_stopping:
            (X, Y, sw), val = self._split_validation(X, Y, y_score, sw, rs)
        poisson = self.out_activation_ == "exp"
        if incremental and self._trainer is not None:
            trainer = self._trainer
        else:
            optimizer = self._make_optimizer()
            if isinstance(optimizer, LBFGS):  # an LBFGS instance given as solver
                raise ValueError("L-BFGS is not a stochastic solver")
            seed = int(rs.randint(np.iinfo(np.int32).max))
            schedule = self._make_schedule()
            if poisson:
                trainer = _PoissonTrainer(model, optimizer, 1, self.shuffle, seed, schedule)
            else:
                trainer = Trainer(model, optimizer, batch_size=1, shuffle=self.shuffle,
                                  seed=seed, verbose=2 if self.verbose >= 2 else 0,
                                  n_threads=self.n_threads, schedule=schedule)
            self._trainer = trainer
        n = X.shape[0]
        # settings a set_params between partial_fit calls may have changed
        trainer.batch_size = self._batch_size(n, trainer.optimizer)
        trainer.shuffle = self.shuffle
        if isinstance(trainer, Trainer):
            trainer.verbose = 2 if self.verbose >= 2 else 0
            trainer.n_threads = self.n_threads
        mean_weight = 1.0 if sw is None else float(sw.mean())
        self._penalties(model, trainer.batch_size * mean_weight)
        ctx = _FitContext(
            n_train=n, incremental=incremental, val=val, optimizer=trainer.optimizer,
            sgd=isinstance(trainer.optimizer, SGD), n_outputs=Y.shape[1],
            per_output_mean=self.out_activation_ == "identity" and Y.shape[1] > 1,
            unconverged=False)
        self.n_iter_ = 0
        epochs = 1 if incremental else self.max_iter
        try:
            with threads(self.n_threads):
                if poisson:
                    trainer.fit(X, Y, epochs, lambda loss: self._end_epoch(loss, ctx),
                                sample_weight=sw)
                else:
                    trainer.callbacks = [_EpochHook(self, ctx)]
                    try:
                        trainer.fit(X, Y, epochs=epochs, **_weight_kwargs(sw))
                    finally:
                        trainer.callbacks = []  # the hook holds the data: do not keep it
        except KeyboardInterrupt:
            warnings.warn("training interrupted by the user; the estimator keeps the weights "
                          "of the last completed epoch", UserWarning, stacklevel=4)
        if self.early_stopping:
            model.params[...] = self._best_params
            model.running_stats[...] = self._best_running
        if ctx.unconverged:
            warnings.warn(f"the solver ran max_iter={self.max_iter} epochs without "
                          "converging (by tol and n_iter_no_change); raise max_iter or tol",
                          ConvergenceWarning, stacklevel=4)

    def _end_epoch(self, loss, ctx):
        """Record an epoch and apply scikit-learn's stopping rules; True stops training."""
        self.n_iter_ += 1
        self.t_ += ctx.n_train
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose == 1 or self.verbose is True:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._track_improvement(ctx)
        opt = ctx.optimizer
        if ctx.sgd and self.learning_rate == "invscaling":
            opt.lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            watched = "validation score" if ctx.val is not None else "training loss"
            what = (f"{watched} did not improve by more than tol={self.tol} for "
                    f"{self.n_iter_no_change} consecutive epochs")
            adaptive = ctx.sgd and self.learning_rate == "adaptive"
            if adaptive and opt.lr > _MIN_ADAPTIVE_LR:
                opt.lr = opt.lr / 5.0
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"The {what}; learning rate lowered to {opt.lr:g}")
            else:
                if self.verbose:
                    print(f"The {what}; stopping.")
                return True
        # warned about once training is over, from the user's fit call
        ctx.unconverged = not ctx.incremental and self.n_iter_ == self.max_iter
        return False

    def _track_improvement(self, ctx):
        if ctx.val is None:
            if self.loss_ > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_)
            return
        X_val, y_val, sw_val = ctx.val
        score = self._validation_score(X_val, y_val, sw_val)
        self.validation_scores_.append(score)
        if self.verbose == 1 or self.verbose is True:
            print(f"Validation score: {score:f}")
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params[...] = self.model_.params
            self._best_running[...] = self.model_.running_stats

    def _validation_score(self, X, y, sample_weight):
        raw = self.model_.predict(X)
        if not np.all(np.isfinite(raw)):
            return np.nan
        return float(self._score_function(y, self._decode(raw), sample_weight=sample_weight))

    def _fit_lbfgs(self, X, Y, sw):
        model = self.model_
        total_weight = X.shape[0] if sw is None else float(sw.sum())
        self._penalties(model, total_weight)
        opt = self._make_optimizer()
        if self.out_activation_ == "exp":
            result = self._minimize_poisson(opt, X, Y, sw)
        else:
            trainer = Trainer(model, opt, batch_size=None, verbose=0, n_threads=self.n_threads)
            if self.verbose:
                trainer.callbacks = [lambda it, logs: print(
                    f"Iteration {it + 1}, loss = {logs['loss']:.8f}")]
            with warnings.catch_warnings():
                # re-emitted below as this module's ConvergenceWarning
                warnings.simplefilter("ignore", _FastmlpConvergenceWarning)
                trainer.fit(X, Y, **_weight_kwargs(sw))
            result = opt.result
        self.n_iter_ = int(min(result.nit, opt.max_iter))
        self._trainer = None
        if result.status != 0:
            message = result.message
            if isinstance(message, bytes):
                message = message.decode("latin1")
            warnings.warn(f"L-BFGS failed to converge after {result.nit} iteration(s) "
                          f"(status {result.status}: {message}); raise max_iter or max_fun, "
                          "or scale the data", ConvergenceWarning, stacklevel=4)
        self.loss_ = self._objective_value(X, Y, sw)

    def _minimize_poisson(self, opt, X, Y, sw):
        model = self.model_

        def objective(params, grad):
            if params is not model.params:
                model.params[...] = params
            return _poisson_loss_grad(model, X, Y, sw, grad)

        with threads(self.n_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", _FastmlpConvergenceWarning)
            return opt.minimize(objective, model.params)

    def _objective_value(self, X, Y, sw):
        """scikit-learn's objective at the current weights (L-BFGS's ``loss_``)."""
        model = self.model_
        with threads(self.n_threads):
            if self.out_activation_ == "exp":
                return _poisson_loss_grad(model, X, Y, sw, np.empty_like(model.params))
            loss = model.evaluate(X, Y, **_weight_kwargs(sw))["loss"]
        if self.out_activation_ == "identity" and Y.shape[1] > 1:
            penalty = model.penalty()
            loss = (loss - penalty) / Y.shape[1] + penalty
        return float(loss)

    # ------------------------------------------------------------ prediction
    def _forward(self, X):
        """Network output for raw input ``X`` (validated, in the network's dtype)."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, accept_sparse=["csr", "csc", "coo"],
                           dtype=(np.float64, np.float32))
        X = _densify(X)
        with threads(self.n_threads):
            return self.model_.predict(X)

    def __setstate__(self, state):
        super().__setstate__(state)
        # joblib can load the arrays as read-only memory maps; the compiled
        # kernels write into the model's buffers (and would compile another
        # specialisation for read-only ones), so take writeable copies.
        _own_arrays(self.__dict__, {})

    # ------------------------------------------------------------ tags
    def _more_tags(self):  # scikit-learn < 1.6
        return {"allow_nan": False}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # accepted and densified
        return tags

    def _check_solver(self):
        """available_if condition of partial_fit: a stochastic (first-order) solver."""
        if self._is_lbfgs():
            raise AttributeError("partial_fit needs a stochastic solver; L-BFGS ("
                                 f"solver={self.solver!r}) trains on the whole data only")
        return True


def _own_arrays(obj, memo):
    """Replace read-only (or memory-mapped) arrays reachable from ``obj`` by copies.

    Walks dicts, lists, tuples and fastmlp's own objects; a Model gets its
    per-layer views rebuilt on the new buffer.  ``memo`` maps ids to
    replacements so shared arrays and objects stay shared.
    """
    key = id(obj)
    if key in memo:
        return memo[key]
    if isinstance(obj, np.ndarray):
        fixed = obj if (obj.flags.writeable and type(obj) is np.ndarray) else np.array(obj)
        memo[key] = fixed
        return fixed
    memo[key] = obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _own_arrays(v, memo)
    elif isinstance(obj, list):
        obj[:] = [_own_arrays(v, memo) for v in obj]
    elif isinstance(obj, tuple):
        memo[key] = type(obj)(_own_arrays(v, memo) for v in obj) if type(obj) is tuple else obj
        return memo[key]
    elif type(obj).__module__.startswith("fastmlp") and hasattr(obj, "__dict__"):
        _own_arrays(vars(obj), memo)
        if isinstance(obj, Model):
            obj._make_views()
    return obj


def _densify(X):
    """Sparse input as a dense C-contiguous array (the kernels work on dense rows)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    return np.ascontiguousarray(X)


def _assign_arrays(views, values, name):
    values = list(values)
    if len(values) != len(views):
        raise ValueError(f"{name} needs {len(views)} arrays, got {len(values)}")
    for i, (view, value) in enumerate(zip(views, values)):
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"{name}[{i}] must have shape {view.shape}, got {value.shape}")
    for view, value in zip(views, values):
        view[...] = value


# ---------------------------------------------------------------- classifier
@_fill_doc
class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier trained by fastmlp: scikit-learn's ``MLPClassifier``.

    Minimises the log-loss (softmax output for multiclass targets, logistic
    outputs for binary and multilabel targets) with the chosen solver.  See
    the module docstring for where it departs from scikit-learn.

    Parameters
    ----------
{common_params}

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel targets, the label indices).
{common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmlp.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9                       # doctest: +SKIP
    True
    """

    _score_function = staticmethod(accuracy_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss="log_loss", shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            solver_params=solver_params, dropout=dropout, batch_norm=batch_norm, l1=l1,
            n_threads=n_threads, dtype=dtype)

    # scikit-learn's get_params reads the subclass signature, which has no
    # ``loss``; the attribute stays for the shared code.

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"  # binary (one unit) and multilabel (one unit per label)

    def _validate_input(self, X, y, incremental, reset):
        """Checked X (dense), the binarized targets, and the labels for scoring."""
        X, y = _validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc", "coo"],
                              multi_output=True, dtype=(np.float64, np.float32))
        X = _densify(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])
            known = self.classes_
            if self.warm_start and not incremental:
                if set(classes.tolist()) != set(np.asarray(known).tolist()):
                    raise ValueError(f"warm_start needs y to have the classes of the previous "
                                     f"fit: previously {known}, now {classes}")
            elif np.setdiff1d(classes, known).size:
                raise ValueError(f"y has classes {np.setdiff1d(classes, known)} that are not "
                                 f"in classes_ {known}")
        Y = self._label_binarizer.transform(y)
        return X, Y, y

    def _stratify_labels(self, y, n):
        """Labels to stratify the validation split on (single-label targets only)."""
        if y.ndim != 1:
            return None
        _, counts = np.unique(y, return_counts=True)
        n_val = math.ceil(self.validation_fraction * n)
        if counts.min() < 2 or n_val < counts.size or n - n_val < counts.size:
            return None  # a stratified split is impossible: fall back to a plain one
        return y

    def _decode(self, proba):
        """Labels from the network's output."""
        if proba.shape[1] == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the labels ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (sparse input is densified).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (a batch's loss is the weighted
            mean over its samples).

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        ``k`` calls give the same network as ``fit`` with ``max_iter=k`` on
        the same data (same shuffling, optimizer state and weights).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels of this batch of data.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.
        classes : array-like of shape (n_classes,), default=None
            Every class of the whole data; required on the first call (for
            multilabel targets it may be omitted).

        Returns
        -------
        self : MLPClassifier
            The updated estimator.
        """
        if not self.__sklearn_is_fitted__() or not hasattr(self, "_label_binarizer"):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            elif classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit "
                                 "(the labels of the whole data set)")
            else:
                self._label_binarizer.fit(np.asarray(classes))
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.asarray(classes), self.classes_):
            raise ValueError(f"classes={np.asarray(classes)} differs from the classes of the "
                             f"earlier partial_fit calls, {self.classes_}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
            Class labels (a multilabel indicator matrix for multilabel fits).
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities; for binary targets the two columns are ``1 - p``
            and ``p``, for multilabel targets one column per label.
        """
        proba = self._forward(X)
        if proba.shape[1] == 1:
            p = proba.ravel()
            return np.column_stack([1 - p, p])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities (``-inf`` where a probability is 0).
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------- regressor
@_fill_doc
class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor trained by fastmlp: scikit-learn's ``MLPRegressor``.

    Minimises half the squared error (identity output; several outputs for
    2-D targets) or the half Poisson deviance with a log link.  See the
    module docstring for where it departs from scikit-learn.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        "poisson" needs ``y >= 0`` and predicts ``exp`` of the network's
        output.  fastmlp's kernels have no Poisson loss: it trains through a
        per-batch Python loop (slower than "squared_error"), without dropout
        or batch normalisation.
{common_params}

    Attributes
    ----------
{common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastmlp.sklearn import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=10, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9                       # doctest: +SKIP
    True
    """

    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            solver_params=solver_params, dropout=dropout, batch_norm=batch_norm, l1=l1,
            n_threads=n_threads, dtype=dtype)

    def _check_params(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        super()._check_params()

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        """Checked X (dense), 2-D float targets, and y as given for scoring."""
        X, y = _validate_data(self, X, y, reset=reset, accept_sparse=["csr", "csc", "coo"],
                              multi_output=True, y_numeric=True,
                              dtype=(np.float64, np.float32))
        X = _densify(X)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets; y has negative values")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y, y

    def _decode(self, out):
        if self.out_activation_ == "exp":
            with np.errstate(over="ignore"):
                out = np.exp(out)
        return out.ravel() if out.shape[1] == 1 else out

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (sparse input is densified).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        ``k`` calls give the same network as ``fit`` with ``max_iter=k`` on
        the same data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        self : MLPRegressor
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions (1-D for a single output).
        """
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
