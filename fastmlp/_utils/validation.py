"""Checks for what users pass in: arrays, sizes, rates and names.

Every check raises before anything is changed, with a message that names the
argument and the problem.  Arrays come out C-contiguous and writeable in the
model's dtype (a read-only or strided input is copied: Numba would otherwise
compile a second version of every kernel for it).
"""

import numbers

import numpy as np

from ..kernels.finite import all_finite
from .sparse import check_csr, is_sparse
from .sparse import largest_magnitude as sparse_largest_magnitude
from .sparse import nbytes as sparse_nbytes
from .tuning import INPUT_COPY_MAX_BYTES

_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    """Normalise ``dtype`` to np.float32 or np.float64 (the only two supported)."""
    try:
        key = np.dtype(dtype).name
    except TypeError:
        key = None
    if key not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(_FLOAT_DTYPES[key])


def check_array(X, dtype, n_features=None, what="X", convert=True, sparse=False):
    """Validate a 2-D feature matrix and return it C-contiguous in ``dtype``.

    An array that is already C-contiguous in ``dtype`` is returned as it is
    -- large read-only ones and memory maps (``np.load(path, mmap_mode="r")``)
    included: the kernels only read it, so a dataset larger than memory is
    never copied (a read-only array of at most INPUT_COPY_MAX_BYTES is
    copied, which spares compiling the kernels for read-only input).  The
    NaN/inf check reads it once, in blocks of rows (no full-size temporary
    array).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    dtype : numpy dtype (float32 or float64)
    n_features : int, optional
        Required number of columns.
    what : str
        Name used in messages.
    convert : True, False or "large", default True
        Convert to ``dtype``.  False: a float32 or float64 array keeps its
        own dtype (the caller converts block by block, see
        :func:`as_dtype_checked`); "large": only arrays above
        INPUT_COPY_MAX_BYTES keep it.  Other numbers always become ``dtype``.
    sparse : bool, default False
        Accept a SciPy sparse matrix or array, returned in compressed sparse
        rows with its values in ``dtype`` (:func:`fastmlp._utils.sparse.check_csr`),
        never densified.

    Raises
    ------
    TypeError
        Non-numeric (strings, objects) or complex data; a sparse matrix where
        ``sparse`` is False.
    ValueError
        Not 2-D, empty, wrong number of features, NaN or inf.
    """
    if _ready_as_it_is(X, dtype, n_features, convert):
        if not all_finite(X):
            _check_finite(X, what)  # (raises, naming the first NaN or inf)
        return X
    if is_sparse(X):
        if not sparse:
            raise TypeError(f"{what} is a sparse matrix, which this call does not take "
                            f"(it needs dense data: {what}.toarray() if it fits in memory)")
        return check_csr(X, np.dtype(dtype), n_features, what)
    arr = _numeric_array(X, what)
    if arr.ndim != 2:
        hint = (f"; for a single feature use {what}.reshape(-1, 1), for a single sample "
                f"{what}.reshape(1, -1)") if arr.ndim == 1 else ""
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), "
                         f"got shape {arr.shape}{hint}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: 0 samples (shape {arr.shape})")
    if arr.shape[1] == 0:
        raise ValueError(f"{what} has 0 features (shape {arr.shape})")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{what} has {arr.shape[1]} features but the model expects {n_features}")
    if arr.dtype.kind == "f":
        _check_finite(arr, what)
    keep = arr.dtype in (np.float32, np.float64) and (
        convert is False or convert == "large" and is_large(arr))
    if keep:
        dtype = arr.dtype
    out = as_dtype_checked(arr, dtype, what)
    if not out.flags.writeable and not is_large(out):
        # a small read-only array is copied: the kernels would otherwise be
        # compiled again for read-only input (seconds, once), for a copy of
        # milliseconds; large ones (memory maps) are read where they are
        out = out.copy()
    return out


#: NumPy's C_CONTIGUOUS and WRITEABLE bits of ``ndarray.flags.num`` (one attribute read:
#: ``flags.c_contiguous`` builds a flags object per look).
_C_CONTIGUOUS_WRITEABLE = 0x1 | 0x400


def _ready_as_it_is(X, dtype, n_features, convert):
    """Whether :func:`check_array` returns X itself once it is found finite: a writeable
    C-contiguous float32/float64 ndarray of the right shape, in ``dtype`` unless
    ``convert`` is False.  (A predict's common case, checked in ~0.3 us where the whole
    way takes ~1.5.)"""
    return (type(X) is np.ndarray and X.ndim == 2 and X.shape[0] > 0 and X.shape[1] > 0
            and (n_features is None or X.shape[1] == n_features)
            and (convert is False or X.dtype == dtype) and _compiled_check_applies(X))


def _compiled_check_applies(arr):
    """Whether ``arr``'s NaN/inf check is the compiled one
    (:func:`fastmlp.kernels.finite.all_finite`): a C-contiguous writeable float32 or
    float64 array, as the kernels take (so that no other variant compiles)."""
    return (arr.dtype in _COMPILED_CHECK_DTYPES
            and arr.flags.num & _C_CONTIGUOUS_WRITEABLE == _C_CONTIGUOUS_WRITEABLE)


def _numeric_array(X, what):
    """X as a NumPy array of real numbers (objects converted), or a clear error."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{what} could not be converted to an array: {exc}") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{what} has complex dtype {arr.dtype}; fastmlp trains on real numbers")
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{what} holds non-numeric values (dtype object); "
                            "convert them to numbers first") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what} has non-numeric dtype {arr.dtype}; features must be numbers")
    return arr


#: The dtypes whose NaN/inf check is compiled (:func:`_compiled_check_applies`).
_COMPILED_CHECK_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: Rows are checked in blocks of about this many values: a temporary of a
#: quarter MB instead of one the size of the data.
_BLOCK_VALUES = 1 << 18


def _row_blocks(arr):
    step = max(1, _BLOCK_VALUES // max(1, arr.shape[1]))
    for start in range(0, arr.shape[0], step):
        yield start, arr[start:start + step]


def largest_magnitude(arr):
    """``max |x|`` over a 2-D array (or :class:`~fastmlp.data.rows.RowSubset`, or a sparse
    matrix's stored values), read block by block: no temporary the size of the data."""
    if is_sparse(arr):
        return sparse_largest_magnitude(arr)
    return max(float(np.abs(block).max()) for _, block in _row_blocks(arr))


def overflow_cause(X, params):
    """The likely reason a network pass over (finite) ``X`` gave NaN or inf, for messages."""
    if not np.isfinite(params).all():
        return "the model's parameters contain NaN or inf"
    return (f"the values overflow {params.dtype.name} inside the network (largest |x|: "
            f"{largest_magnitude(X):.3g}, largest |parameter|: "
            f"{float(np.abs(params).max()):.3g}); standardise the features "
            "(Model(preprocessing='standardize')) or use float64")


def _check_finite(arr, what):
    """ValueError naming the first NaN or inf of ``arr`` (2-D, float), read block by block."""
    if _compiled_check_applies(arr):
        if all_finite(arr):  # the common case: one compiled pass, no temporary
            return
    elif arr.size <= _BLOCK_VALUES and np.isfinite(arr).all():  # the common case, at once
        return
    for start, block in _row_blocks(arr):
        if not np.isfinite(block).all():
            count = sum(int((~np.isfinite(b)).sum()) for _, b in _row_blocks(arr))
            row, column = np.argwhere(~np.isfinite(block))[0]
            raise ValueError(f"{what} contains NaN or inf ({count} values, first at row "
                             f"{start + row}, column {column})")


def as_dtype_checked(arr, dtype, what="X"):
    """``arr`` (finite, 2-D) C-contiguous in ``dtype``: itself when it is already so.

    A conversion to a narrower dtype is checked for values it turns into
    inf, block by block.

    Raises
    ------
    ValueError
        Values too large for ``dtype``.
    """
    dtype = np.dtype(dtype)
    if arr.dtype == dtype and arr.flags.c_contiguous:
        return arr
    with np.errstate(over="ignore"):  # reported below with a clearer message
        out = np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.itemsize > dtype.itemsize:
        for _, block in _row_blocks(out):
            if not np.isfinite(block).all():
                raise ValueError(f"{what} has values too large for {dtype.name} "
                                 f"(largest magnitude {largest_magnitude(arr):g})")
    return out


#: What the kernels take for "no sample weights".
NO_WEIGHTS = np.empty(0, dtype=np.float64)


def check_sample_weight(sample_weight, n, what="sample_weight"):
    """Per-sample weights as a float64 array of length ``n`` (NO_WEIGHTS for None).

    Weights must be finite and >= 0 with a positive sum (scikit-learn's
    rule); the loss becomes the weighted mean ``sum w_i L_i / sum w_i``.
    """
    if sample_weight is None:
        return NO_WEIGHTS
    try:
        w = np.asarray(sample_weight)
    except Exception as exc:
        raise ValueError(f"{what} could not be converted to an array: {exc}") from None
    if w.ndim == 0:
        w = np.full(n, w)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numbers, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), one weight per sample, got {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError(f"{what} contains NaN or inf")
    if (w < 0).any():
        raise ValueError(f"{what} must be >= 0 (first negative at index {np.argmax(w < 0)})")
    if not w.sum() > 0:
        raise ValueError(f"{what} sums to 0: at least one sample needs a positive weight")
    return w


def check_buffer(out, like, what="out"):
    """``out`` if it can receive a result shaped like ``like``: a writeable C-contiguous
    array of its shape and dtype, else a ValueError saying what it must be."""
    if (not isinstance(out, np.ndarray) or out.shape != like.shape or out.dtype != like.dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"{what} must be a writeable C-contiguous {like.dtype.name} array of "
                         f"shape {like.shape}")
    return out


def check_lengths(X, Y, what=("X", "y")):
    """Raise if X and Y do not have the same number of rows."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"{what[0]} and {what[1]} have different numbers of samples: "
                         f"{X.shape[0]} and {Y.shape[0]}")


def check_positive_int(value, what, allow_none=False):
    """An int >= 1 (bools refused), or None when allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value, what):
    """A finite real > 0."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value <= 0):
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return float(value)


def check_nonnegative_float(value, what):
    """A finite real >= 0."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < 0):
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_unit_interval(value, what, closed_right=False):
    """A real in [0, 1) (or [0, 1] when ``closed_right``)."""
    interval = "[0, 1]" if closed_right else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number in {interval}, got {value!r}")
    upper_ok = value <= 1 if closed_right else value < 1
    if not np.isfinite(value) or value < 0 or not upper_ok:
        raise ValueError(f"{what} must be in {interval}, got {value!r}")
    return float(value)


def check_flag(value, what):
    """True or False (numpy bools too); anything else, even if truthy, is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def check_seed(seed):
    """None, a non-negative int, or a numpy Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None, a non-negative integer or a numpy Generator, "
                         f"got {seed!r}")
    return int(seed)


def is_large(X):
    """Whether X is too big to copy as a matter of course (above INPUT_COPY_MAX_BYTES)."""
    return (sparse_nbytes(X) if is_sparse(X) else X.nbytes) > INPUT_COPY_MAX_BYTES


# ------------------------------------------------ the Model constructor's arguments

def per_layer(value, n, what, check, hidden_only=True):
    """One checked value per layer from a scalar or a sequence of ``n``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != n:
            layers = "hidden layers" if hidden_only else "weight layers"
            raise ValueError(f"{what} lists {len(value)} values but the model has {n} {layers}")
        return [check(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return [check(value, what)] * n


def dropout_rates(dropout, n_layers):
    """Rate on each weight layer's input: a float means the hidden outputs only."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        if len(dropout) != n_layers:
            raise ValueError(f"dropout lists {len(dropout)} rates; give one per weight layer's "
                             f"input ([input, hidden_1, ...]): {n_layers}")
        return [check_unit_interval(v, f"dropout[{i}]") for i, v in enumerate(dropout)]
    return [0.0] + [check_unit_interval(dropout, "dropout")] * (n_layers - 1)


def check_sizes(layer_sizes):
    """``layer_sizes`` as a list of positive ints, or a clear error."""
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
