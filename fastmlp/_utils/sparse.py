"""Sparse inputs on the Python side: SciPy CSR matrices checked, sized, scaled and cut.

A sparse X stays sparse everywhere in fastmlp: it is checked and converted
here (another format to CSR, once; the values to the model's dtype), and
the kernels read its three arrays where they are
(:mod:`fastmlp.kernels.sparse`).  Both SciPy interfaces are accepted
(``csr_matrix`` and ``csr_array``), with int32 or int64 indices; the result
keeps the caller's class.  Nothing here densifies, and :func:`csr_on` and
:func:`row_range` copy nothing: a CSR matrix on arrays mapped from files
(``np.load(mmap_mode="r")``) and its row ranges read the files in place.
"""

import numpy as np
import scipy.sparse as sp

from .tuning import INPUT_COPY_MAX_BYTES

__all__ = ["is_sparse", "check_csr", "nbytes", "largest_magnitude", "scale_columns",
           "max_row_nnz", "column_moments", "csr_on", "row_range", "index_dtype"]

_INDEX_DTYPES = (np.int32, np.int64)


def is_sparse(X):
    """Whether X is a SciPy sparse matrix or array (any format)."""
    return not isinstance(X, np.ndarray) and sp.issparse(X)


def check_csr(X, dtype, n_features=None, what="X"):
    """A sparse ``X`` checked and in compressed sparse rows, its values in ``dtype``.

    CSR input is used as it is when its values are already ``dtype`` (the
    arrays are not copied); other formats (CSC, COO, ...) are converted
    once; values of another type are converted (a copy of the values only);
    a read-only matrix of at most INPUT_COPY_MAX_BYTES (a small memory-mapped
    file) is copied, as dense inputs are.

    Parameters
    ----------
    X : scipy sparse matrix or array, shape (n_samples, n_features)
    dtype : numpy dtype (float32 or float64)
    n_features : int, optional
        Required number of columns.
    what : str
        Name used in messages.

    Returns
    -------
    scipy sparse CSR (``csr_matrix`` or ``csr_array``, as given)

    Raises
    ------
    TypeError
        Complex or non-numeric values.
    ValueError
        Not 2-D, empty, wrong number of columns, NaN or inf values, column
        indices out of range, an inconsistent row pointer.
    """
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.format != "csr":
        X = X.tocsr()
    if X.dtype.kind == "c":
        raise TypeError(f"{what} has complex dtype {X.dtype}; fastmlp trains on real numbers")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{what} has non-numeric dtype {X.dtype}; features must be numbers")
    n, d = X.shape
    if n == 0:
        raise ValueError(f"{what} is empty: 0 samples (shape {X.shape})")
    if d == 0:
        raise ValueError(f"{what} has 0 features (shape {X.shape})")
    if n_features is not None and d != n_features:
        raise ValueError(f"{what} has {d} features but the model expects {n_features}")
    indptr, indices = X.indptr, X.indices
    if indptr.shape != (n + 1,) or indptr[0] != 0 or indptr[-1] != indices.size \
            or indices.size != X.data.size or (np.diff(indptr) < 0).any():
        raise ValueError(f"{what} is not a consistent CSR matrix (its row pointer does not "
                         "match its values)")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= d):
        raise ValueError(f"{what} has column indices outside [0, {d})")
    if X.data.dtype.kind == "f" and not np.isfinite(X.data).all():
        where = int(np.flatnonzero(~np.isfinite(X.data))[0])
        row = int(np.searchsorted(indptr, where, side="right")) - 1
        raise ValueError(f"{what} has NaN or inf: first at row {row}, column "
                         f"{int(indices[where])}")
    data = X.data if X.data.dtype == dtype else X.data.astype(dtype)
    if indices.dtype not in _INDEX_DTYPES:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    read_only = not (data.flags.writeable and indices.flags.writeable and indptr.flags.writeable)
    if read_only and nbytes(X) <= INPUT_COPY_MAX_BYTES:
        # a small read-only matrix (memory-mapped files) is copied: the kernels
        # would otherwise be compiled again for read-only arrays (seconds, once)
        data, indices, indptr = np.array(data), np.array(indices), np.array(indptr)
    if data is X.data and indices is X.indices and indptr is X.indptr:
        return X
    return csr_on(data, indices, indptr, X.shape, type(X))


def nbytes(X):
    """Bytes of a CSR matrix's three arrays."""
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def largest_magnitude(X):
    """``max |x|`` over the stored values of a sparse X (0 when it stores none)."""
    return float(np.abs(X.data).max()) if X.data.size else 0.0


def max_row_nnz(X):
    """The most stored values in one row of a CSR X."""
    return int(np.diff(X.indptr).max()) if X.shape[0] else 0


def scale_columns(X, factors):
    """X with column j multiplied by ``factors[j]``: a new CSR sharing X's index arrays."""
    data = X.data * factors[X.indices].astype(X.data.dtype)
    return type(X)((data, X.indices, X.indptr), shape=X.shape, copy=False)


def column_moments(X):
    """Per-column mean and variance of a sparse X, zeros included (float64).

    From the stored values alone, without a dense array: the mean from the
    column sums, then the squared deviations of the stored values plus the
    zeros' share ``(n - stored) mean^2`` -- two passes, no cancellation.
    """
    n, d = X.shape
    data = X.data.astype(np.float64)
    mean = np.bincount(X.indices, weights=data, minlength=d) / n
    stored = np.bincount(X.indices, minlength=d)
    deviations = np.bincount(X.indices, weights=(data - mean[X.indices]) ** 2, minlength=d)
    return mean, (deviations + (n - stored) * mean * mean) / n


def index_dtype(n_features, nnz):
    """int32 when column indices below ``n_features`` and ``nnz`` stored values fit, else
    int64: the index type SciPy keeps without converting (it narrows int64 index arrays
    whose contents fit in int32 -- a copy)."""
    return np.int32 if max(n_features, nnz) < np.iinfo(np.int32).max else np.int64


def csr_on(data, indices, indptr, shape, kind=sp.csr_matrix):
    """A SciPy CSR matrix (``kind``: ``csr_matrix`` or ``csr_array``) whose three arrays are
    ``data``, ``indices`` and ``indptr``.

    None is copied or converted -- SciPy's constructor may narrow int64
    indices to int32, a copy of what may be a file's memory map -- and
    nothing is checked here beyond the lengths: the caller wrote or
    checked the arrays (the model checks them again, without copies,
    when it is given the matrix).

    Parameters
    ----------
    data : ndarray (nnz,)
    indices : ndarray (nnz,) int32 or int64
        Column of each value, each row's increasing.
    indptr : ndarray (n_rows + 1,)
        Row ``i``'s values are ``data[indptr[i]:indptr[i + 1]]``.
    shape : (int, int)

    Raises
    ------
    ValueError
        Arrays whose lengths do not agree with each other and ``shape``.
    """
    if indptr.shape != (shape[0] + 1,) or data.shape != indices.shape or data.ndim != 1:
        raise ValueError(f"inconsistent CSR arrays for shape {shape}: data {data.shape}, "
                         f"indices {indices.shape}, indptr {indptr.shape}")
    X = kind(shape, dtype=data.dtype)
    X.data, X.indices, X.indptr = data, indices, indptr
    return X


def row_range(X, start, stop):
    """Rows ``start:stop`` of a CSR X as a CSR matrix on views of X's values and indices.

    SciPy's ``X[start:stop]`` copies the rows' values and indices; these
    are slices of X's arrays (of a memory map: of the file), with only the
    row pointer (``stop - start + 1`` entries) new.
    """
    lo, hi = int(X.indptr[start]), int(X.indptr[stop])
    indptr = np.asarray(X.indptr[start:stop + 1]) - X.indptr.dtype.type(lo)
    return csr_on(X.data[lo:hi], X.indices[lo:hi], indptr, (stop - start, X.shape[1]))
