"""What the kernels take as input rows: a dense array as it is, a sparse one as its arrays.

The engine (:mod:`fastmlp.engine.calls`, :mod:`fastmlp.engine.population`)
turns a checked X into the kernels' input, sizes its calls by the bytes of
its rows through these (its compiled functions are keyed by
:func:`fastmlp.kernels.ops.fingerprint`).
"""

import numpy as np

from .._utils.sparse import is_sparse
from .._utils.sparse import nbytes as sparse_nbytes
from ..kernels.structs import CSR

__all__ = ["kernel_input", "input_density", "row_bytes", "staged_rows"]


def kernel_input(X):
    """X as the kernels take it: a dense array as it is, a SciPy CSR matrix as a
    :class:`~fastmlp.kernels.structs.CSR` of its three arrays (no copy)."""
    if not is_sparse(X):
        return X
    return CSR(X.data, X.indices, X.indptr, (np.int64(X.shape[0]), np.int64(X.shape[1])))


def input_density(X):
    """The share of X's entries that are stored: 1 for a dense X."""
    if not is_sparse(X):
        return 1.0
    return X.nnz / max(1, X.shape[0] * X.shape[1])


def row_bytes(X):
    """Bytes of one row of X (on average, for a sparse X)."""
    if is_sparse(X):
        return sparse_nbytes(X) // max(1, X.shape[0])
    return X.shape[1] * X.itemsize


def staged_rows(X, T, sw, rows, prepare, dtype):
    """``(X, T, sw, index)`` of the given rows of a fit's data, gathered and prepared
    (``prepare(rows, scratch=True)``: the model's conversion and preprocessing), the
    index their positions: what a call over staged batches reads (one process)."""
    if not rows.size:  # the compile-only call
        prepared = np.empty((0, X.shape[1]), dtype=dtype)
    else:
        prepared = prepare(X[rows], scratch=True)
    return prepared, T[rows], sw[rows] if sw.size else sw, np.arange(rows.size, dtype=np.int64)
