"""The network: architecture, the flat parameter buffer, predict and gradients."""

import numbers

import numpy as np

from . import initializers as _init
from ._validation import (check_array, check_dtype, check_lengths, check_nonnegative_float,
                          check_seed)
from .activations import get_activation
from .kernels import network as _kn
from .kernels import penalty as _kp
from .kernels import sync as _ksync
from .kernels import train as _kt
from .layout import ParamLayout, Workspace
from .losses import encode_targets, get_loss, loss_code
from .parallel import kernel_threads, single_threaded_blas

__all__ = ["Model"]

#: Rows per thread per block for predict/evaluate/loss_and_grad: enough for
#: an efficient GEMM, small enough that a block's activations stay in cache
#: for the epilogue.
ROWS_PER_THREAD = 512


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
        Apply the penalties to the biases too.

    Attributes
    ----------
    params : ndarray (n_params,)
        Every weight and bias, layer after layer: ``W_0, b_0, W_1, b_1, ...``.
    weights : list of ndarray
        ``weights[i]`` is the (fan_in, fan_out) view of layer i's weights into
        ``params`` (the row form: ``a_i = f(a_{i-1} @ W_i + b_i)``).
    biases : list of ndarray
        ``biases[i]`` is the (fan_out,) view of layer i's bias into ``params``.

    Examples
    --------
    >>> import fastmlp as fm
    >>> model = fm.Model([64, 128, 10], activation="relu", output="softmax", seed=0)
    >>> model.params.size
    9610
    """

    def __init__(self, layer_sizes, activation="relu", output="softmax", loss=None,
                 dtype="float32", init="auto", seed=None, l2=0.0, l1=0.0,
                 penalize_biases=False):
        sizes = _check_sizes(layer_sizes)
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
        self._layout = ParamLayout(sizes, hidden + [out_act])
        self._act_param = self._layout.activation_params(self.dtype)
        self.params = np.zeros(self._layout.n_params, dtype=self.dtype)
        self.weights = self._layout.weight_views(self.params)
        self.biases = self._layout.bias_views(self.params)
        self._reg = np.zeros(3)
        self.l2, self.l1, self.penalize_biases = l2, l1, penalize_biases
        self.reinitialize(seed)

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
        self._reg[_kp.BIASES] = float(bool(value))

    def penalty(self):
        """The penalty term of the objective at the current parameters."""
        if not (self.l2 or self.l1):
            return 0.0
        parts = self.weights + (self.biases if self.penalize_biases else [])
        squares = sum(float(np.dot(p.ravel().astype(np.float64), p.ravel())) for p in parts)
        absolute = sum(float(np.abs(p).sum(dtype=np.float64)) for p in parts)
        return 0.5 * self.l2 * squares + self.l1 * absolute

    def reinitialize(self, seed=None):
        """Draw fresh weights (biases to zero) in place, keeping the same buffer.

        Parameters
        ----------
        seed : int, numpy Generator or None
        """
        rng = np.random.default_rng(check_seed(seed))
        for l, W in enumerate(self.weights):
            scheme = self.init
            if scheme == "auto":
                scheme = _init.for_activation(self._layout.activations[l].name)
            W[...] = scheme.sample(rng, *W.shape)
        for b in self.biases:
            b[...] = 0
        return self

    def __repr__(self):
        acts = ", ".join(str(a) for a in self._layout.activations[:-1]) or "none"
        reg = "".join(f", {k}={getattr(self, k):g}" for k in ("l2", "l1") if getattr(self, k))
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
        X = check_array(X, self.dtype, self.n_inputs)
        return self._predict_checked(X)

    def _predict_checked(self, X):
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        n_threads, rows = self._plan(X.shape[0])
        # A workspace per call keeps concurrent predicts on one model safe.
        ws = Workspace(self._layout, rows, self.dtype, training=False)
        with single_threaded_blas():
            _kn.predict(self.params, self._layout.table, self._act_param, X, out, ws.buffer,
                        ws.table, n_threads)
        return out

    def _plan(self, n_rows):
        """(threads, rows per block) for a pass over ``n_rows`` rows."""
        flops = 2 * n_rows * sum(a * b for a, b in zip(self.layer_sizes, self.layer_sizes[1:]))
        n_threads = kernel_threads(min(flops, flops // max(n_rows, 1) * ROWS_PER_THREAD))
        return n_threads, max(1, min(n_rows, ROWS_PER_THREAD * n_threads))

    def loss_and_grad(self, X, Y, out=None):
        """The objective -- mean loss over the samples plus the penalty -- and its gradient.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        Y : array-like
            Targets in a form the loss accepts (see :mod:`fastmlp.losses`).
        out : ndarray of shape (n_params,), optional
            Buffer (model dtype, C-contiguous) that receives the gradient, to
            avoid an allocation.

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            Same layout as ``params`` (``out`` when given).
        """
        X = check_array(X, self.dtype, self.n_inputs)
        T = encode_targets(Y, self.loss, self.n_outputs, self.dtype, what="Y")
        check_lengths(X, T, ("X", "Y"))
        grad = self._grad_buffer(out)
        return self._loss_and_grad_checked(X, T, grad), grad

    def _grad_buffer(self, out):
        if out is None:
            return np.empty_like(self.params)
        if (not isinstance(out, np.ndarray) or out.shape != self.params.shape
                or out.dtype != self.dtype or not out.flags.c_contiguous
                or not out.flags.writeable):
            raise ValueError(f"out must be a writeable C-contiguous {self.dtype.name} array of "
                             f"shape {self.params.shape}")
        return out

    def _loss_and_grad_checked(self, X, T, grad):
        n_threads, rows = self._plan(X.shape[0])
        ws = Workspace(self._layout, rows, self.dtype, training=True, n_threads=n_threads)
        stats = np.zeros((n_threads, 3 + self.n_outputs))
        no_index = np.empty(0, dtype=np.int64)
        return self._objective(self.params, grad, X, T, no_index, ws, stats, n_threads)

    def _objective(self, params, grad, X, T, index, ws, stats, n_threads):
        """Objective and gradient at ``params`` (the model's own buffer or a stand-in)."""
        with single_threaded_blas():
            return float(_kt.loss_grad(params, grad, self._layout.table, self._act_param,
                                       self._reg, loss_code(self.loss), X, T, index, 0,
                                       X.shape[0], ws.buffer, ws.table, stats, n_threads,
                                       _ksync.new_state()))

    def evaluate(self, X, Y):
        """Objective (mean loss plus penalty) and the task's metric on (X, Y).

        Returns
        -------
        dict
            ``{"loss": ..., "accuracy": ...}`` for classification losses,
            ``{"loss": ..., "r2": ...}`` for squared error.
        """
        X = check_array(X, self.dtype, self.n_inputs)
        T = encode_targets(Y, self.loss, self.n_outputs, self.dtype, what="Y")
        check_lengths(X, T, ("X", "Y"))
        return self._evaluate_checked(X, T)

    def _evaluate_checked(self, X, T, sst=None):
        from .metrics import metrics_from_stats

        n_threads, rows = self._plan(X.shape[0])
        ws = Workspace(self._layout, rows, self.dtype, training=True)
        stats = np.zeros((n_threads, 3 + self.n_outputs))
        with single_threaded_blas():
            _kn.evaluate(self.params, self._layout.table, self._act_param, loss_code(self.loss),
                         X, T, ws.buffer, ws.table, stats, n_threads)
        result = metrics_from_stats(stats.sum(axis=0), self.loss, T, sst)
        result["loss"] += self.penalty()
        return result

    def copy(self):
        """An independent model with the same architecture and parameter values."""
        clone = Model.__new__(Model)
        clone.__dict__.update(self.__dict__)
        clone.params = self.params.copy()
        clone._reg = self._reg.copy()
        clone.weights = self._layout.weight_views(clone.params)
        clone.biases = self._layout.bias_views(clone.params)
        return clone


def _check_sizes(layer_sizes):
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError("layer_sizes must be a sequence of positive integers such as "
                        f"[64, 128, 10], got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"layer_sizes must be positive integers, got {sizes}")
    return [int(s) for s in sizes]
