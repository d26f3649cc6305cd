"""Losses: names, the output each pairs with, and target encoding.

Every loss is a per-sample sum over the outputs and a mean over the samples
of a batch:

``squared_error``
    1/2 ||y - yhat||^2 per sample (the lecture's E = 1/2 sum_j (t_j - y_j)^2).
    Any output activation.  Targets: (n, n_out), or (n,) for one output.
``cross_entropy``
    -sum_k t_k log softmax(z)_k, computed as log-sum-exp minus z_k.  Softmax
    output.  Targets: integer labels 0..n_out-1 of shape (n,), or rows of
    probabilities / one-hot rows of shape (n, n_out).
``binary_cross_entropy``
    -sum_k t_k log s(z_k) + (1 - t_k) log(1 - s(z_k)), computed from the
    logit as softplus(z) - t z.  Sigmoid output, one independent label per
    output (multi-label allowed).  Targets in [0, 1], (n, n_out) or (n,).

The default loss follows the output: softmax -> cross_entropy, sigmoid ->
binary_cross_entropy, anything else -> squared_error.
"""

import numpy as np

from .kernels import losses as _k

__all__ = ["NAMES", "get_loss", "default_loss", "encode_targets"]

_CODES = {
    "squared_error": _k.SQUARED_ERROR,
    "cross_entropy": _k.CROSS_ENTROPY,
    "binary_cross_entropy": _k.BINARY_CROSS_ENTROPY,
}
_ALIASES = {
    "mse": "squared_error",
    "log_loss": "cross_entropy",
    "categorical_cross_entropy": "cross_entropy",
    "bce": "binary_cross_entropy",
}
#: The output activation each loss requires (None: any).
_REQUIRED_OUTPUT = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}

#: Every accepted loss name, aliases included.
NAMES = tuple(sorted(set(_CODES) | set(_ALIASES)))


def loss_code(name):
    """Kernel code of a canonical loss name."""
    return _CODES[name]


def default_loss(output):
    """Loss that pairs with the output activation name ``output``."""
    return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(
        output, "squared_error")


def get_loss(spec, output):
    """Resolve and check a loss name against the output activation name.

    Raises
    ------
    ValueError
        Unknown name (valid names listed) or a loss that needs another output.
    """
    if spec is None:
        return default_loss(output)
    if not isinstance(spec, str):
        raise TypeError(f"loss must be a name, got {type(spec).__name__}")
    name = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    if name not in _CODES:
        raise ValueError(f"unknown loss {spec!r}; valid names: {', '.join(NAMES)}")
    required = _REQUIRED_OUTPUT.get(name)
    if required is not None and output != required:
        raise ValueError(f"loss {name!r} needs output={required!r}, got output={output!r}")
    return name


def is_classification(loss):
    """Whether the loss is a classification loss (accuracy is its metric)."""
    return loss in ("cross_entropy", "binary_cross_entropy")


def encode_targets(y, loss, n_outputs, dtype, what="y"):
    """Turn user targets into the (n, n_outputs) float rows the kernels expect.

    Parameters
    ----------
    y : array-like
        Targets as described in the module docstring.
    loss : str
        Canonical loss name.
    n_outputs : int
        Width of the network's output layer.
    dtype : numpy dtype
        float32 or float64, the model's dtype.
    what : str
        Name of the argument in error messages.

    Returns
    -------
    ndarray of shape (n, n_outputs), C-contiguous, of ``dtype``.

    Raises
    ------
    ValueError, TypeError
        Wrong shape, non-numeric or complex values, NaN/inf, labels outside
        0..n_outputs-1, probabilities outside [0, 1].
    """
    y = np.asarray(y)
    if y.dtype.kind in "OUSV" or y.dtype.kind == "c":
        kind = "complex" if y.dtype.kind == "c" else "non-numeric"
        raise TypeError(f"{what} has {kind} dtype {y.dtype}; targets must be numbers"
                        + (" (encode string labels as 0..k-1, or use fastmlp.sklearn."
                           "MLPClassifier which does it for you)"
                           if kind == "non-numeric" else ""))
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.ndim == 0 or y.ndim > 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got shape {y.shape}")
    if y.size and not np.all(np.isfinite(y)):
        raise ValueError(f"{what} contains NaN or inf")
    if loss == "cross_entropy" and y.ndim == 1:
        return _one_hot(y, n_outputs, dtype, what)
    if y.ndim == 1:
        if n_outputs != 1:
            raise ValueError(f"{what} has shape {y.shape} but the model has {n_outputs} outputs; "
                             f"pass a 2-D array of shape (n, {n_outputs})")
        y = y.reshape(-1, 1)
    if y.shape[1] != n_outputs:
        raise ValueError(f"{what} has {y.shape[1]} columns but the model has {n_outputs} outputs")
    if loss == "binary_cross_entropy" and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{what} must lie in [0, 1] for binary_cross_entropy, "
                         f"found values in [{y.min()}, {y.max()}]")
    if loss == "cross_entropy" and y.size:
        if y.min() < 0:
            raise ValueError(f"{what} rows must be probabilities (>= 0) for cross_entropy, "
                             f"found {y.min()}")
        # probability rows sum to 1 (a float32 one-hot or soft label to rounding)
        sums = y.sum(axis=1, dtype=np.float64)
        off = np.flatnonzero(np.abs(sums - 1) > 1e-4)
        if off.size:
            raise ValueError(f"{what} rows must be probabilities summing to 1 for cross_entropy "
                             f"(one-hot or soft labels); row {off[0]} sums to {sums[off[0]]:g}")
    return np.ascontiguousarray(y, dtype=dtype)


def _one_hot(labels, n_outputs, dtype, what):
    if labels.dtype.kind == "f":
        if labels.size and not np.all(labels == np.round(labels)):
            raise ValueError(f"{what} holds non-integer values; cross_entropy takes integer "
                             f"labels 0..{n_outputs - 1} or (n, {n_outputs}) probability rows")
    labels = labels.astype(np.int64)
    bad = (labels < 0) | (labels >= n_outputs)
    if np.any(bad):
        shown = np.unique(labels[bad])[:5].tolist()
        raise ValueError(f"{what} has labels outside 0..{n_outputs - 1} (the model has "
                         f"{n_outputs} outputs): {shown}")
    rows = np.zeros((labels.size, n_outputs), dtype=dtype)
    rows[np.arange(labels.size), labels] = 1
    return rows
