"""What MLPClassifier and MLPRegressor share: :class:`BaseMLP`.

The subclasses supply the task: ``_validate_input`` (checked X and the
network's targets), ``_output_activation``, ``_decode`` (network output to
predictions), ``_score_function`` and, for classification,
``_stratify_labels``; a subclass with parameters of its own checks them in
``_check_task_params`` and, if they came after the first pickles, lists
them in ``_added_params``.
"""

import functools
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..engine.threads import threads
from ..exceptions import ConvergenceWarning as _FastmlpConvergenceWarning
from ..exceptions import DivergenceError
from ..initializers import get_initializer
from ..model import Model
from ..optim import SGD
from ..trainer import Trainer
from ._exceptions import ConvergenceWarning
from ._inputs import (
    SPARSE_FORMAT,
    assign_arrays,
    is_plain_float_matrix,
    network_input,
    sample_weights,
    validate_data,
)
from ._params import (
    check_common_params,
    effective_batch_size,
    hidden_sizes,
    make_optimizer,
    make_schedule,
    solver_minimizes,
)
from ._poisson import PoissonTrainer, minimize_poisson, poisson_loss_grad
from ._stopping import EpochHook, FitContext, HeldOut, StoppingRules
from ._weights import DrawnByEstimator, fill_uniform

# Warnings name the line of the user's fit or partial_fit call: that method
# calls _fit, which calls _fit_stochastic or _fit_lbfgs, which warn.
_WARN_FROM_SOLVER_PATH = 4

# scikit-learn's words first (its tests and users match on them), then fastmlp's advice
_NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may contain "
                       "large values and need to be preprocessed. Scale the features (for "
                       "instance with StandardScaler) or lower learning_rate_init.")

#: Parameters added after the first release, with their defaults: pickles of
#: older estimators lack them (see BaseMLP.__setstate__; subclasses add their own).
ADDED_PARAMS = {"scoring": None, "sparse_update": "exact"}


class BaseMLP(StoppingRules, BaseEstimator):
    """What MLPClassifier and MLPRegressor share; not for direct use."""

    #: Constructor parameters newer than the first pickles, with their defaults.
    _added_params = ADDED_PARAMS

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, loss=None, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None, scoring=None, sparse_update="exact"):
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
        self.scoring = scoring
        self.sparse_update = sparse_update

    def _check_params(self):
        """Validate the hyper-parameters (at fit time, as scikit-learn does)."""
        self._check_task_params()
        check_common_params(self)

    def _check_task_params(self):
        """Validate the hyper-parameters only the subclass has (before the shared ones)."""

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
        assign_arrays(self.model_.weights, values, "coefs_")

    @property
    def intercepts_(self):
        """Biases of every layer, views into the network."""
        check_is_fitted(self)
        return list(self.model_.biases)

    @intercepts_.setter
    def intercepts_(self, values):
        assign_arrays(self.model_.biases, values, "intercepts_")

    def _network_dtype(self, X):
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)

    def _initialize(self, n_outputs, X, hidden, rs):
        """Build the network (scikit-learn's initial weights) and reset the fit state."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.model_ = self._build_network([X.shape[1]] + hidden + [n_outputs], X, rs)
        self._trainer = None
        self._best_params = self._best_running = None
        if self.early_stopping:
            self._keep_best()
        if not solver_minimizes(self.solver):
            self._reset_epoch_records()

    def _keep_best(self):
        """Start the best epoch's copy of the weights from the current ones (early stopping
        only: a copy as large as the network, 100 MB for a 200,000-input first layer)."""
        self._best_params = self.model_.params.copy()
        self._best_running = self.model_.running_stats.copy()

    def _start_validation_records(self):
        self.validation_scores_ = []
        self.validation_loss_curve_ = []
        self.best_validation_score_ = -np.inf
        self.best_loss_ = None

    def _build_network(self, units, X, rs):
        """A Model of layer widths ``units``, with scikit-learn's initial weights from ``rs``."""
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        # the exp of the Poisson output is taken outside the network
        output = {"logistic": "sigmoid", "exp": "identity"}.get(self.out_activation_,
                                                                self.out_activation_)
        activation = "sigmoid" if self.activation == "logistic" else self.activation
        model = Model(units, activation=activation, output=output,
                      dtype=self._network_dtype(X), dropout=self.dropout,
                      batch_norm=self.batch_norm, init=DrawnByEstimator())
        # Glorot-uniform weights and biases, drawn layer by layer (weights,
        # then biases) from the estimator's generator: scikit-learn's scheme,
        # so the same random_state starts both libraries at the same point.
        factor = 2.0 if self.activation in ("logistic", "sigmoid") else 6.0
        for W, b in zip(model.weights, model.biases):
            bound = np.sqrt(factor / (W.shape[0] + W.shape[1]))
            fill_uniform(rs, bound, W)
            b[...] = rs.uniform(-bound, bound, b.shape)
        model.init = get_initializer("auto")  # what a later model.reinitialize() draws
        return model

    def _reset_epoch_records(self):
        """Empty loss curve and stopping-rule state (first-order solvers)."""
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self._start_validation_records()
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False):
        """What fit (``incremental=False``) and partial_fit share; returns self."""
        self._check_params()
        hidden = hidden_sizes(self.hidden_layer_sizes)
        first_pass = not self.__sklearn_is_fitted__() or (not self.warm_start
                                                         and not incremental)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True: there is no "
                             "held-out set across calls")
        X, Y, y_score = self._validate_input(X, y, incremental, reset=first_pass)
        sw = self._training_weights(sample_weight, y_score, incremental)
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
        X = network_input(X, model.dtype)  # a sparse X stays sparse
        Y = np.ascontiguousarray(Y, dtype=model.dtype)
        try:
            if solver_minimizes(self.solver):
                self._fit_lbfgs(X, Y, sw)
            else:
                self._fit_stochastic(X, Y, y_score, sw, rs, incremental)
        except DivergenceError as exc:
            raise ValueError(f"{_NON_FINITE_MESSAGE} ({exc})") from exc
        if not np.all(np.isfinite(model.params)):
            raise ValueError(_NON_FINITE_MESSAGE)
        return self

    def _training_weights(self, sample_weight, y, incremental):
        """The weights of the training samples (None: unweighted); classifiers add class_weight."""
        return sample_weights(sample_weight, y.shape[0])

    def _penalties(self, model, samples):
        """Set the model's penalties for a batch of ``samples`` (weight sum) samples."""
        model.l2 = self.alpha / samples
        model.l1 = self.l1 / samples

    def _split_validation(self, X, Y, y_score, sw, rs):
        """Hold out validation_fraction of the data (scikit-learn's draw from rs)."""
        n = X.shape[0]
        stratify = self._stratify_labels(y_score, Y, n)
        train, val = train_test_split(np.arange(n), random_state=rs,
                                      test_size=self.validation_fraction, stratify=stratify)
        if val.size < 2:
            # scikit-learn's message (early_stopping needs at least 2 held-out samples)
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             f"or the size of your dataset (it holds {val.size} sample(s); "
                             "early stopping needs at least 2).")
        sw_train, sw_val = (None, None) if sw is None else (sw[train], sw[val])
        return (X[train], Y[train], sw_train), HeldOut(X[val], Y[val], y_score[val], sw_val)

    def _stratify_labels(self, y_score, Y, n):
        return None

    def _fit_stochastic(self, X, Y, y_score, sw, rs, incremental):
        """Train by epochs with a first-order solver, under scikit-learn's stopping rules."""
        model = self.model_
        val = None
        if self.early_stopping:
            (X, Y, sw), val = self._split_validation(X, Y, y_score, sw, rs)
            if self._best_params is None:  # switched on for a warm start (scikit-learn
                self._keep_best()          # fails there on its records of None)
                self._start_validation_records()
        trainer = self._stochastic_trainer(rs, incremental)
        n = X.shape[0]
        # settings a set_params between partial_fit calls may have changed
        trainer.batch_size = effective_batch_size(self.batch_size, n, trainer.optimizer,
                                                  stacklevel=_WARN_FROM_SOLVER_PATH)
        trainer.shuffle = self.shuffle
        if isinstance(trainer, Trainer):
            trainer.verbose = 2 if self.verbose >= 2 else 0
            trainer.n_threads = self.n_threads
            trainer.sparse_update = self.sparse_update
        mean_weight = 1.0 if sw is None else float(sw.mean())
        self._penalties(model, trainer.batch_size * mean_weight)
        ctx = FitContext(
            n_train=n, incremental=incremental, val=val, optimizer=trainer.optimizer,
            sgd=isinstance(trainer.optimizer, SGD), n_outputs=Y.shape[1],
            per_output_mean=self.out_activation_ == "identity" and Y.shape[1] > 1,
            unconverged=False)
        self.n_iter_ = 0
        try:
            with threads(self.n_threads):
                self._run_epochs(trainer, X, Y, sw, 1 if incremental else self.max_iter, ctx)
        except DivergenceError as exc:
            if val is None:
                raise  # no finite best epoch to fall back on: _fit raises scikit-learn's error
            # scikit-learn records NaN validation scores and keeps the best epoch's
            # weights; training on from non-finite weights could not improve them
            self._record_divergence(ctx)
            warnings.warn(f"training diverged in epoch {self.n_iter_} ({exc}); the weights of "
                          f"the best epoch by validation score are kept", ConvergenceWarning,
                          stacklevel=_WARN_FROM_SOLVER_PATH)
        except KeyboardInterrupt:
            warnings.warn("training interrupted by the user; the estimator keeps the weights "
                          "of the last completed epoch", UserWarning,
                          stacklevel=_WARN_FROM_SOLVER_PATH)
        if self.early_stopping:
            model.params[...] = self._best_params
            model.running_stats[...] = self._best_running
        if ctx.unconverged:
            warnings.warn(f"the solver ran max_iter={self.max_iter} epochs without "
                          "converging (by tol and n_iter_no_change); raise max_iter or tol",
                          ConvergenceWarning, stacklevel=_WARN_FROM_SOLVER_PATH)

    def _stochastic_trainer(self, rs, incremental):
        """partial_fit's trainer from the previous call, else a new one (its seed from rs)."""
        if incremental and self._trainer is not None:
            return self._trainer
        optimizer = make_optimizer(self)
        if optimizer.minimizes:  # cannot happen with a name: "lbfgs" takes _fit_lbfgs
            raise ValueError(f"{type(optimizer).__name__} minimizes the whole objective; it "
                             "is not a stochastic solver")
        seed = int(rs.randint(np.iinfo(np.int32).max))
        schedule = make_schedule(self.learning_rate)
        if self.out_activation_ == "exp":
            trainer = PoissonTrainer(self.model_, optimizer, 1, self.shuffle, seed, schedule)
        else:
            trainer = Trainer(self.model_, optimizer, batch_size=1, shuffle=self.shuffle,
                              seed=seed, verbose=2 if self.verbose >= 2 else 0,
                              n_threads=self.n_threads, schedule=schedule,
                              sparse_update=self.sparse_update)
        self._trainer = trainer
        return trainer

    def _run_epochs(self, trainer, X, Y, sw, epochs, ctx):
        """Up to ``epochs`` epochs, each one handed to the stopping rules."""
        end_epoch = functools.partial(self._end_epoch, ctx=ctx)  # True stops training
        if self.out_activation_ == "exp":
            trainer.fit(X, Y, epochs, end_epoch, sample_weight=sw)
            return
        trainer.callbacks = [EpochHook(end_epoch, ctx)]
        try:
            trainer.fit(X, Y, epochs=epochs, sample_weight=sw)
        finally:
            trainer.callbacks = []  # the hook holds the data: do not keep it

    def _fit_lbfgs(self, X, Y, sw):
        """Train with a solver that minimizes the whole objective itself (L-BFGS)."""
        model = self.model_
        total_weight = X.shape[0] if sw is None else float(sw.sum())
        self._penalties(model, total_weight)
        opt = make_optimizer(self)
        if self.out_activation_ == "exp":
            result = minimize_poisson(model, opt, X, Y, sw, self.n_threads)
        else:
            # (the constructor turns a function into a Callback: the attribute would not)
            progress = [lambda it, logs: print(f"Iteration {it + 1}, loss = {logs['loss']:.8f}")]
            trainer = Trainer(model, opt, batch_size=None, verbose=0, n_threads=self.n_threads,
                              callbacks=progress if self.verbose else ())
            with warnings.catch_warnings():
                # re-emitted below as this package's ConvergenceWarning
                warnings.simplefilter("ignore", _FastmlpConvergenceWarning)
                trainer.fit(X, Y, sample_weight=sw)
            result = opt.result
        self.n_iter_ = int(min(result.nit, opt.max_iter))
        self._trainer = None
        if result.status != 0:
            message = result.message
            if isinstance(message, bytes):
                message = message.decode("latin1")
            warnings.warn(f"L-BFGS failed to converge after {result.nit} iteration(s) "
                          f"(status {result.status}: {message}); raise max_iter or max_fun, "
                          "or scale the data", ConvergenceWarning,
                          stacklevel=_WARN_FROM_SOLVER_PATH)
        self.loss_ = self._objective_value(X, Y, sw)

    def _objective_value(self, X, Y, sw):
        """scikit-learn's objective at the current weights (L-BFGS's ``loss_``)."""
        model = self.model_
        with threads(self.n_threads):
            if self.out_activation_ == "exp":
                return poisson_loss_grad(model, X, Y, sw, np.empty_like(model.params))
            loss = model.evaluate(X, Y, sample_weight=sw)["loss"]
        if self.out_activation_ == "identity" and Y.shape[1] > 1:
            penalty = model.penalty()
            loss = (loss - penalty) / Y.shape[1] + penalty
        return float(loss)

    # ------------------------------------------------------------ prediction
    def _forward(self, X):
        """Network output for raw input ``X`` (validated, in the network's dtype)."""
        check_is_fitted(self)
        if not is_plain_float_matrix(X, getattr(self, "n_features_in_", None),
                                     hasattr(self, "feature_names_in_")):
            X = validate_data(self, X, reset=False, accept_sparse=SPARSE_FORMAT,
                              dtype=(np.float64, np.float32))
            X = network_input(X)  # a sparse X stays sparse
        # else: the network checks the values (finite, of a float type) itself
        if self.n_threads is None:
            return self.model_.predict(X)
        with threads(self.n_threads):
            return self.model_.predict(X)

    def __setstate__(self, state):
        super().__setstate__(state)
        for name, default in self._added_params.items():
            self.__dict__.setdefault(name, default)
        if "validation_scores_" in state and "validation_loss_curve_" not in state:
            # fitted before validation losses were recorded: those epochs' are unknown
            scores = state["validation_scores_"]
            self.validation_loss_curve_ = None if scores is None else [np.nan] * len(scores)
        # joblib can load the arrays as read-only memory maps; the compiled
        # kernels write into the optimizer's state (and would compile another
        # specialisation for read-only buffers), so take writeable copies.
        _own_arrays(self.__dict__, {})

    # ------------------------------------------------------------ tags
    def _more_tags(self):  # scikit-learn < 1.6
        return {"allow_nan": False}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR read in place by the network, never densified
        return tags


def _own_arrays(obj, memo):
    """Replace read-only (or memory-mapped) arrays reachable from ``obj`` by copies.

    Walks dicts, lists, tuples and the public attributes of fastmlp's
    objects (a trainer, an optimizer and its state).  A :class:`fastmlp.Model`
    is left as it is: its own ``__setstate__`` already took writeable copies
    and rebuilt its views and engine.  ``memo`` maps ids to replacements so
    shared arrays and objects stay shared.
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
    elif (type(obj).__module__.startswith("fastmlp") and hasattr(obj, "__dict__")
          and not isinstance(obj, Model)):
        for name, value in list(vars(obj).items()):
            if name.startswith("_"):
                continue  # another module's private state is its own business
            fixed = _own_arrays(value, memo)
            if fixed is not value:
                setattr(obj, name, fixed)
    return obj
