"""The network: architecture, the flat parameter buffer, predict and gradients."""

import copy
from collections import namedtuple

import numpy as np

from . import initializers as _init
from ._utils.sparse import is_sparse
from ._utils.validation import (
    NO_WEIGHTS,
    as_dtype_checked,
    check_array,
    check_buffer,
    check_dtype,
    check_flag,
    check_lengths,
    check_nonnegative_float,
    check_positive_float,
    check_sample_weight,
    check_seed,
    check_sizes,
    check_unit_interval,
    dropout_rates,
    overflow_cause,
    per_layer,
)
from .activations import get_activation
from .archive.format import CHECKPOINT_FORMAT, MODEL_FORMAT, read_archive, write_archive
from .archive.model_record import build_from_record, constructor_arguments, record_of
from .engine.calls import INFERENCE, Engine, training_noise
from .engine.layout import ParamLayout
from .kernels import network as _kn
from .kernels import penalty as _kp
from .kernels.finite import all_finite
from .kernels.structs import LAYER_F_COLUMNS
from .losses import encode_targets, get_loss
from .metrics import metrics_from_stats
from .preprocessing import get_preprocessing

__all__ = ["Model", "ModelState"]

#: A model's trained state at one moment (:meth:`Model.snapshot`): copies of
#: ``params`` and ``running_stats``.
ModelState = namedtuple("ModelState", ["params", "running_stats"])

#: Mask seeds are int64 in the kernels.
_SEED_MASK = (1 << 63) - 1


class Model:
    """A multilayer perceptron whose weights and biases live in one flat buffer.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_inputs, hidden_1, ..., n_outputs]``, at least two entries.
    activation : str or Activation, or a sequence of them, default "relu"
        Hidden-layer activation: one for all hidden layers or one per hidden
        layer.  See :mod:`fastmlp.activations` for the names.
    output : str or Activation, default "softmax"
        Output activation: "softmax", "sigmoid", "identity" (or any
        element-wise activation).
    loss : str, optional
        "squared_error", "cross_entropy" or "binary_cross_entropy"; by default
        the one that pairs with ``output`` (see :mod:`fastmlp.losses`).
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters, activations and gradients.
    init : str or Initializer, default "auto"
        Weight initialisation (see :mod:`fastmlp.initializers`); biases are 0.
    seed : int, numpy Generator or None
        Seed of the initialisation; the same seed gives the same weights.
    l2 : float, default 0
        L2 penalty of the objective: ``loss + l2/2 * sum(w^2)`` over the
        weights, in the loss value and in its gradient (``+ l2 * w``).
    l1 : float, default 0
        L1 penalty: ``loss + l1 * sum(|w|)``, gradient ``+ l1 * sign(w)``.
    penalize_biases : bool, default False
        Apply the penalties to the biases too (and to batch normalisation's
        gamma and beta).
    dropout : float or sequence of float, default 0
        Inverted dropout (Srivastava et al., 2014): in training each unit of
        a layer's input is kept with probability ``1 - rate`` and scaled by
        ``1 / (1 - rate)``, so ``predict`` (no dropout) needs no rescaling.
        A float applies to the output of every hidden layer; a sequence
        gives one rate per weight layer's input: ``[input, hidden_1, ...,
        hidden_last]``.
    dropconnect : float or sequence of float, default 0
        DropConnect (Wan et al., 2013): in training each weight is kept with
        probability ``1 - rate`` (scaled by ``1 / (1 - rate)``), a new mask
        per batch.  A float applies to every weight layer, a sequence gives
        one rate per weight layer.  Prediction uses the weights as they are
        (the mean network).
    batch_norm : bool or sequence of bool, default False
        Batch normalisation (Ioffe & Szegedy, 2015) between the affine map
        and the activation of every hidden layer (or of those marked in a
        sequence with one entry per hidden layer).  See
        :mod:`fastmlp.kernels.norm` for the formulas; ``bn_momentum`` and
        ``bn_eps`` are PyTorch's ``BatchNorm1d`` ``momentum`` and ``eps``.
        The layer's bias serves as beta; gamma (initialised to 1) follows it
        in ``params``.
    bn_momentum : float, default 0.1
        Weight of the batch statistics in the running-statistics update.
    bn_eps : float, default 1e-5
        Added to the variance before the square root.
    preprocessing : None, "standardize", "whiten" or a transform, default None
        An input transform stored with the model (:mod:`fastmlp.preprocessing`):
        :meth:`fastmlp.Trainer.fit` fits it on the training data the first
        time, and ``predict``, ``evaluate`` and ``loss_and_grad`` apply it to
        every input, so raw features go in everywhere.

    Attributes
    ----------
    params : ndarray (n_params,)
        Every weight and bias, layer after layer: ``W_0, b_0, W_1, b_1, ...``.
    weights : list of ndarray
        ``weights[i]`` is the (fan_in, fan_out) view of layer i's weights into
        ``params`` (the row form: ``a_i = f(a_{i-1} @ W_i + b_i)``).
    biases : list of ndarray
        ``biases[i]`` is the (fan_out,) view of layer i's bias into ``params``
        (beta for a batch-normalised layer).
    gammas : list of ndarray or None
        Batch normalisation scales (views into ``params``), None for layers
        without it.
    running_stats : ndarray
        The running means and variances of the batch-normalised layers
        (flat, model dtype; not trained); ``running_means[i]`` and
        ``running_vars[i]`` are views into it (None without batch norm).
    metadata : dict
        Free JSON-able information stored with the model (default empty):
        saved in model files and checkpoints under ``"model" -> "metadata"``,
        copied by :meth:`copy`, pickled.  The command line keeps there what
        predicting on raw rows needs (class labels, feature names and
        encodings, imputation statistics) and a training summary.

    Examples
    --------
    >>> import fastmlp as fm
    >>> model = fm.Model([64, 128, 10], activation="relu", output="softmax", seed=0)
    >>> model.params.size
    9610
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", loss=None,
                 dtype="float32", init="auto", seed=None, l2=0.0, l1=0.0,
                 penalize_biases=False, dropout=0.0, dropconnect=0.0, batch_norm=False,
                 bn_momentum=0.1, bn_eps=1e-5, preprocessing=None):
        sizes = check_sizes(layer_sizes)
        n_hidden = len(sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(f"activation lists {len(activation)} names but the model has "
                                 f"{n_hidden} hidden layers")
            hidden = [get_activation(a) for a in activation]
        else:
            hidden = [get_activation(activation)] * n_hidden
        out_act = get_activation(output, allow_softmax=True, what="output")
        self.loss = get_loss(loss, out_act.name)
        self.dtype = check_dtype(dtype)
        self.init = _init.get_initializer(init)
        n_layers = len(sizes) - 1
        norm = per_layer(batch_norm, n_hidden, "batch_norm", check_flag) + [False]
        self._layer_f = np.zeros((n_layers, LAYER_F_COLUMNS))
        self._layer_f[:, _kn.DROPOUT] = dropout_rates(dropout, n_layers)
        self._layer_f[:, _kn.DROPCONNECT] = per_layer(
            dropconnect, n_layers, "dropconnect", check_unit_interval, hidden_only=False)
        self._layer_f[:, _kn.BN_MOMENTUM] = check_unit_interval(bn_momentum, "bn_momentum",
                                                                closed_right=True)
        self._layer_f[:, _kn.BN_EPS] = check_positive_float(bn_eps, "bn_eps")
        self._layout = ParamLayout(sizes, hidden + [out_act], norm)
        self._act_param = self._layout.activation_params(self.dtype)
        self.params = np.zeros(self._layout.n_params, dtype=self.dtype)
        self.running_stats = np.zeros(self._layout.n_running, dtype=self.dtype)
        self._make_views()
        self._reg = np.zeros(3)
        self.l2, self.l1, self.penalize_biases = l2, l1, penalize_biases
        self.preprocessing = get_preprocessing(preprocessing)
        if self.preprocessing is not None and self.preprocessing.is_fitted \
                and self.preprocessing.n_features != sizes[0]:
            raise ValueError(f"the preprocessing was fitted on {self.preprocessing.n_features} "
                             f"features but the model takes {sizes[0]} inputs")
        self._engine = self._make_engine()
        self.metadata = {}
        self.reinitialize(seed)

    # ------------------------------------------------------------- config
    def get_config(self):
        """The architecture and settings as plain JSON-able values.

        ``Model.from_config(model.get_config())`` builds a model of the same
        shape and behaviour (fresh weights: copy ``params`` and
        ``running_stats`` over, and the preprocessing's state, to clone it).
        """
        layout = self._layout
        return {
            "layer_sizes": self.layer_sizes,
            "activation": [[a.name, a.param] for a in layout.activations[:-1]],
            "output": [layout.activations[-1].name, layout.activations[-1].param],
            "loss": self.loss,
            "dtype": self.dtype.name,
            "l2": self.l2, "l1": self.l1, "penalize_biases": self.penalize_biases,
            "dropout": self.dropout, "dropconnect": self.dropconnect,
            "batch_norm": self.batch_norm, "bn_momentum": self.bn_momentum,
            "bn_eps": self.bn_eps,
            "preprocessing": None if self.preprocessing is None else self.preprocessing.kind,
        }

    @classmethod
    def from_config(cls, config):
        """A model built from :meth:`get_config` output (weights freshly initialised).

        Raises
        ------
        ValueError
            A missing or malformed entry (named in the message).
        """
        return cls(**constructor_arguments(config))

    def __getstate__(self):
        # the per-layer views and the engine (references to the arrays) are
        # rebuilt on unpickling, so they stay views
        state = dict(self.__dict__)
        for key in ("weights", "biases", "gammas", "running_means", "running_vars", "_engine"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        # joblib may hand back (read-only) memory maps; the kernels write into
        # params and running_stats (and take only writeable plain arrays)
        for key, value in state.items():
            if isinstance(value, np.ndarray) and (not value.flags.writeable
                                                  or type(value) is not np.ndarray):
                state[key] = np.array(value)
        state.setdefault("metadata", {})  # pickled before models had metadata
        self.__dict__.update(state)
        self._make_views()
        self._engine = self._make_engine()

    def fit_preprocessing(self, X):
        """Fit the model's preprocessing on (training) inputs ``X``; returns self.

        :meth:`fastmlp.Trainer.fit` calls this on its training data when the
        preprocessing is not fitted yet.
        """
        if self.preprocessing is None:
            raise ValueError("this model has no preprocessing (Model(..., preprocessing=...))")
        X = check_array(X, np.float64, self.n_inputs, sparse=True)
        self.preprocessing.fit(X)
        return self

    def prepare_inputs(self, X, what="X"):
        """``X`` checked, in the model's dtype, with the stored preprocessing applied.

        What ``predict``, ``evaluate`` and ``loss_and_grad`` do to their
        inputs before the network sees them.

        Raises
        ------
        ValueError, TypeError
            ``X`` is not a finite 2-D array of ``n_inputs`` columns.
        RuntimeError
            The preprocessing is not fitted yet.
        """
        return self.prepare_rows(self._checked_inputs(X, what))

    def _checked_inputs(self, X, what="X"):
        """``X`` checked but not converted: its own float dtype, no preprocessing applied.

        predict and evaluate prepare it block by block (:meth:`prepare_rows`),
        so a large float64 or memory-mapped input is never copied whole.  A
        sparse X comes back in compressed sparse rows with its values in the
        model's dtype.
        """
        X = check_array(X, self.dtype, self.n_inputs, what, convert=False, sparse=True)
        prep = self.preprocessing
        if prep is not None and not prep.is_fitted:
            raise RuntimeError(f"the model's {prep.kind} preprocessing is not fitted yet: train "
                               "the model (Trainer.fit fits it on the training data) or call "
                               "model.fit_preprocessing(X_train)")
        return X

    def prepare_rows(self, rows, scratch=False):
        """Rows already checked (by :meth:`prepare_inputs`'s checks, or those of
        :meth:`Trainer.fit <fastmlp.Trainer.fit>`) in the model's dtype, with the
        preprocessing applied: a view when there is nothing to do.

        What the code that reads a large input block by block calls on each
        block; ``scratch``: ``rows`` is a copy the caller does not need
        afterwards, which the preprocessing may overwrite.  Sparse rows (in the
        model's dtype already) stay sparse: scaled, never centred.
        """
        if is_sparse(rows):
            prep = self.preprocessing
            return rows if prep is None else prep.transform_checked(rows, overwrite=scratch)
        converted = as_dtype_checked(rows, self.dtype)
        prep = self.preprocessing
        if prep is None:
            return converted
        if converted is rows and not scratch:
            converted = rows.copy()  # the caller's rows stay as they are
        # in place: one block-sized array instead of the two of ``(x - mean) / scale``
        return prep.transform_checked(converted, overwrite=True)

    # ------------------------------------------------------------ structure
    @property
    def layer_sizes(self):
        """Layer widths, input first."""
        return list(self._layout.sizes)

    @property
    def n_inputs(self):
        """Number of input features."""
        return self._layout.sizes[0]

    @property
    def n_outputs(self):
        """Width of the output layer."""
        return self._layout.sizes[-1]

    @property
    def activations(self):
        """Activation of every layer after the input (the last is the output's)."""
        return list(self._layout.activations)

    @property
    def output(self):
        """Name of the output activation."""
        return self._layout.activations[-1].name

    @property
    def n_params(self):
        """Number of weights and biases."""
        return self._layout.n_params

    @property
    def layout(self):
        """The :class:`~fastmlp.layout.ParamLayout` of ``params``."""
        return self._layout

    @property
    def batch_norm(self):
        """Whether each hidden layer has batch normalisation."""
        return list(self._layout.batch_norm[:-1])

    @property
    def dropout(self):
        """Dropout rate of each weight layer's input (the input, then each hidden layer)."""
        return [float(r) for r in self._layer_f[:, _kn.DROPOUT]]

    @property
    def dropconnect(self):
        """DropConnect rate of each weight layer."""
        return [float(r) for r in self._layer_f[:, _kn.DROPCONNECT]]

    @property
    def bn_momentum(self):
        """Batch normalisation's running-statistics momentum."""
        return float(self._layer_f[0, _kn.BN_MOMENTUM])

    @property
    def bn_eps(self):
        """Batch normalisation's variance epsilon."""
        return float(self._layer_f[0, _kn.BN_EPS])

    @property
    def stochastic(self):
        """Whether training draws random masks (dropout or DropConnect)."""
        return self._engine.stochastic

    def _make_views(self):
        layout = self._layout
        self.weights = layout.weight_views(self.params)
        self.biases = layout.bias_views(self.params)
        self.gammas = layout.gamma_views(self.params)
        running = layout.running_views(self.running_stats)
        self.running_means = [None if r is None else r[0] for r in running]
        self.running_vars = [None if r is None else r[1] for r in running]

    def _make_engine(self):
        return Engine(self._layout, self.dtype, self.loss, self.params, self.running_stats,
                      self._act_param, self._layer_f, self._reg)

    @property
    def engine(self):
        """The :class:`~fastmlp.engine.Engine` that runs this model's compiled passes."""
        return self._engine

    # ---------------------------------------------------------- penalties
    @property
    def l2(self):
        """L2 penalty coefficient of the objective."""
        return float(self._reg[_kp.L2])

    @l2.setter
    def l2(self, value):
        self._reg[_kp.L2] = check_nonnegative_float(value, "l2")

    @property
    def l1(self):
        """L1 penalty coefficient of the objective."""
        return float(self._reg[_kp.L1])

    @l1.setter
    def l1(self, value):
        self._reg[_kp.L1] = check_nonnegative_float(value, "l1")

    @property
    def penalize_biases(self):
        """Whether the penalties include the biases."""
        return bool(self._reg[_kp.BIASES])

    @penalize_biases.setter
    def penalize_biases(self, value):
        self._reg[_kp.BIASES] = float(check_flag(value, "penalize_biases"))

    def penalty(self):
        """The penalty term of the objective at the current parameters."""
        if not (self.l2 or self.l1):
            return 0.0
        parts = list(self.weights)
        if self.penalize_biases:
            parts += self.biases + [g for g in self.gammas if g is not None]
        squares = sum(float(np.dot(p.ravel().astype(np.float64), p.ravel())) for p in parts)
        absolute = sum(float(np.abs(p).sum(dtype=np.float64)) for p in parts)
        return 0.5 * self.l2 * squares + self.l1 * absolute

    def reinitialize(self, seed=None):
        """Draw fresh weights (biases to zero) in place, keeping the same buffer.

        Batch normalisation restarts from gamma = 1, beta = 0, running mean 0
        and running variance 1.

        Parameters
        ----------
        seed : int, numpy Generator or None
        """
        rng = np.random.default_rng(check_seed(seed))
        guard = self._engine.guard
        guard.check_not_fitted_elsewhere("reinitialize")
        with guard.writing():
            for l, W in enumerate(self.weights):
                scheme = self.init
                if scheme == "auto":
                    scheme = _init.for_activation(self._layout.activations[l].name)
                W[...] = scheme.sample(rng, *W.shape)
            for b in self.biases:
                b[...] = 0
            for g, var in zip(self.gammas, self.running_vars):
                if g is not None:
                    g[...] = 1
                    var[...] = 1
            for mean in self.running_means:
                if mean is not None:
                    mean[...] = 0
        return self

    def __repr__(self):
        acts = ", ".join(str(a) for a in self._layout.activations[:-1]) or "none"
        reg = "".join(f", {k}={getattr(self, k):g}" for k in ("l2", "l1") if getattr(self, k))
        if any(self.batch_norm):
            reg += f", batch_norm={self.batch_norm}"
        for name in ("dropout", "dropconnect"):
            if any(getattr(self, name)):
                reg += f", {name}={getattr(self, name)}"
        return (f"Model({self.layer_sizes}, hidden activations: {acts}, output={self.output!r}, "
                f"loss={self.loss!r}, dtype={self.dtype.name}{reg}, {self.n_params} parameters)")

    # ------------------------------------------------------------ compute
    def predict(self, X):
        """Network output after the output activation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs), in the model's dtype
            Class probabilities for softmax/sigmoid outputs, values otherwise.
        """
        X = self._checked_inputs(X)
        # never half-updated parameters, while another thread trains the model
        out = self._engine.guard.read(lambda: self._engine.predict(X, self.prepare_rows))
        if not all_finite(out):
            self._explain_non_finite(X, out)
        return out

    def _explain_non_finite(self, X, out):
        """Raise the error for a NaN/inf prediction, with what most likely caused it."""
        rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
        raise FloatingPointError(f"predict produced NaN or inf for {rows.size} of "
                                 f"{out.shape[0]} rows (first: row {rows[0]}): "
                                 + overflow_cause(X[rows], self.params))

    def loss_and_grad(self, X, Y, out=None, training=False, seed=0, sample_weight=None):
        """The objective -- mean loss over the samples plus the penalty -- and its gradient.

        By default in inference mode (no dropout, batch normalisation with
        its running statistics), the objective ``predict`` and ``evaluate``
        see.  With ``training``, the objective of one training step on (X, Y)
        as one batch: dropout and DropConnect masks drawn from ``seed``,
        batch statistics (the running ones are not updated).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        Y : array-like
            Targets in a form the loss accepts (see :mod:`fastmlp.losses`).
        out : ndarray of shape (n_params,), optional
            Buffer (model dtype, C-contiguous) that receives the gradient, to
            avoid an allocation.
        training : bool, default False
            Training-mode objective (see above).
        seed : int, default 0
            Seed of the dropout and DropConnect masks in training mode.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples: the loss is ``sum w_i L_i / sum w_i``.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            Same layout as ``params`` (``out`` when given).
        """
        X = self.prepare_inputs(X)
        T = encode_targets(Y, self.loss, self.n_outputs, self.dtype, what="Y")
        check_lengths(X, T, ("X", "Y"))
        sw = check_sample_weight(sample_weight, X.shape[0])
        grad = np.empty_like(self.params) if out is None else check_buffer(out, self.params)
        noise = INFERENCE
        if training:
            seed = check_seed(seed)
            if not isinstance(seed, int):
                raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
            self._check_batch_norm_rows(X.shape[0], "X")
            noise = training_noise(seed & _SEED_MASK)
        loss = self._engine.guard.read(lambda: self._engine.loss_and_grad(X, T, grad, noise, sw))
        if not (np.isfinite(loss) and np.isfinite(grad).all()):
            what = "loss" if not np.isfinite(loss) else "gradient"
            raise FloatingPointError(f"loss_and_grad: the {what} is NaN or inf: "
                                     + overflow_cause(X, self.params))
        return loss, grad

    def _check_batch_norm_rows(self, rows, what):
        if rows < 2 and any(self.batch_norm):
            raise ValueError(f"batch normalisation needs at least 2 samples per training "
                             f"batch (the variance of one sample is 0); {what} has {rows}")

    def evaluate(self, X, Y, sample_weight=None):
        """Objective (mean loss plus penalty) and the task's metric on (X, Y).

        With ``sample_weight``, the weighted mean loss and the weighted
        accuracy or R^2.

        Returns
        -------
        dict
            ``{"loss": ..., "accuracy": ...}`` for classification losses,
            ``{"loss": ..., "r2": ...}`` for squared error.
        """
        X = self._checked_inputs(X)
        T = encode_targets(Y, self.loss, self.n_outputs, self.dtype, what="Y")
        check_lengths(X, T, ("X", "Y"))
        return self._scores(X, T, check_sample_weight(sample_weight, X.shape[0]), None,
                            self.prepare_rows)

    def evaluate_prepared(self, X, T, sample_weight=NO_WEIGHTS, total_sum_of_squares=None,
                          raw_rows=False):
        """:meth:`evaluate` on inputs and targets already prepared: no checks, no copies.

        What :class:`~fastmlp.Trainer` calls on its validation data every epoch.

        Parameters
        ----------
        X : ndarray (n, n_inputs) or RowSubset
            From :meth:`prepare_inputs`; with ``raw_rows``, checked rows
            not yet converted or preprocessed (a large input, a
            :class:`~fastmlp.rows.RowSubset` of one), which are prepared
            block by block.
        T : ndarray (n, n_outputs)
            From :func:`fastmlp.losses.encode_targets` for this model.
        sample_weight : ndarray (n,) float64 or empty, optional
        total_sum_of_squares : float, optional
            Of the targets about their (weighted) mean, for R^2 (computed
            when not given).
        raw_rows : bool, default False
        """
        return self._scores(X, T, sample_weight, total_sum_of_squares,
                            self.prepare_rows if raw_rows else None)

    def _scores(self, X, T, sw, sst, prepare):
        """Loss (+ penalty) and metric of X against T; ``prepare`` readies each block of X."""
        sums = self._engine.guard.read(lambda: self._engine.evaluate(X, T, sw, prepare))
        result = metrics_from_stats(sums, self.loss, T, sst, sw)
        result["loss"] += self.penalty()
        if not np.isfinite(result["loss"]):
            raise FloatingPointError("evaluate: the loss is NaN or inf: "
                                     + overflow_cause(X, self.params))
        return result

    # ---------------------------------------------------------- persistence
    def to_record(self):
        """The header entries and arrays that describe the model in an archive.

        See :mod:`fastmlp.model_record`; model files and checkpoints hold them.
        """
        return record_of(self)

    @classmethod
    def from_record(cls, header, arrays, path="<archive>"):
        """The model an archive's header and arrays describe (see :meth:`to_record`).

        Raises
        ------
        ValueError
            Anything missing, malformed or not fitting, naming ``path``.
        """
        return build_from_record(cls, header, arrays, path)

    def save(self, path):
        """Write the model to one .npz file, atomically (see :func:`save_model`)."""
        header, arrays = self.to_record()
        write_archive(path, {"format": MODEL_FORMAT, **header}, arrays)

    @classmethod
    def load(cls, path):
        """Read a model file, or the model of a checkpoint (see :func:`load_model`)."""
        header, arrays = read_archive(path, (MODEL_FORMAT, CHECKPOINT_FORMAT))
        return cls.from_record(header, arrays, path)

    def snapshot(self, into=None):
        """A copy of the trained state: parameters and batch-norm running statistics.

        Parameters
        ----------
        into : ModelState, optional
            An earlier snapshot of this model, overwritten instead of
            allocating new buffers (for a copy taken every epoch).

        Returns
        -------
        ModelState
        """
        def take():
            if into is None:
                return ModelState(self.params.copy(), self.running_stats.copy())
            into.params[...] = self.params
            into.running_stats[...] = self.running_stats
            return into

        return self._engine.guard.read(take)  # whole steps only

    def restore(self, state):
        """Put back the state of a :meth:`snapshot`, in place (views and buffers stay)."""
        with self._engine.guard.writing():
            self.params[...] = state.params
            self.running_stats[...] = state.running_stats

    def use_buffers(self, params, running_stats, layer_settings, penalties):
        """Keep the model's state in the given arrays from now on (a population's rows).

        Its values are copied in, and the model reads and writes them there:
        ``params`` (n_params,) and ``running_stats`` (n_running,) in its dtype,
        ``layer_settings`` (n_layers, 4) float64 (dropout and DropConnect
        rates, batch-norm momentum and eps per layer) and ``penalties`` (3,)
        float64 (L2, L1, whether biases are penalised), each C-contiguous and
        writeable.  The views (``weights``, ...) follow; the model gets a new
        engine.
        """
        self._engine.guard.check_not_fitted_elsewhere("use_buffers")
        new = (params, running_stats, layer_settings, penalties)
        old = (self.params, self.running_stats, self._layer_f, self._reg)
        names = ("params", "running_stats", "layer_settings", "penalties")
        for given, own, name in zip(new, old, names):
            check_buffer(given, own, name)
        for given, own in zip(new, old):
            given[...] = own
        self.params, self.running_stats, self._layer_f, self._reg = new
        self._make_views()
        self._engine = self._make_engine()

    def copy(self):
        """An independent model with the same architecture and parameter values."""
        clone = Model.__new__(Model)
        clone.__setstate__(copy.deepcopy(self.__getstate__()))
        return clone


