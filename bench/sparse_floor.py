"""The least work of any sparse-input fit: the first layer's two products, nothing else.

Whatever its optimizer update does, a fit of a CSR X through a dense first
layer W_0 (n_in, n_hidden) must, every step, form ``X_b W_0`` (read the rows
of W_0 that the batch's non-zeros pick) and scatter ``X_b^T D`` into those
rows of the gradient, and must draw the initial W_0 once.  This script does
only that, on both cores (rows of the batch split between threads for the
product, columns of W_0 for the scatter, so that no two threads write one
element), with a fixed D: its time is a floor under any fit's, the lazy
update's included.  ``bench/sparse.py`` runs it as the engine ``products
floor`` and divides the exact update's time by it: the most any lazy update
could gain over the exact one on this machine.
"""

import time

import numba
import numpy as np


@numba.njit(parallel=True, cache=True)
def _forward(indptr, indices, data, rows, W, out):
    # out (batch, n_hidden) = X[rows] (batch, n_in; CSR) @ W (n_in, n_hidden)
    for r in numba.prange(rows.size):
        i = rows[r]
        for j in range(W.shape[1]):
            out[r, j] = 0
        for k in range(indptr[i], indptr[i + 1]):
            v, src = data[k], indices[k]
            for j in range(W.shape[1]):
                out[r, j] += v * W[src, j]


@numba.njit(parallel=True, cache=True)
def _scatter(indptr, indices, data, rows, D, grad, n_parts):
    # grad[touched] (n_in, n_hidden) += X[rows]^T (n_in, batch) @ D (batch, n_hidden),
    # each thread its own block of columns
    width = -(-grad.shape[1] // n_parts)
    for p in numba.prange(n_parts):
        j0, j1 = p * width, min(grad.shape[1], (p + 1) * width)
        for r in range(rows.size):
            i = rows[r]
            for k in range(indptr[i], indptr[i + 1]):
                v, dst = data[k], indices[k]
                for j in range(j0, j1):
                    grad[dst, j] += v * D[r, j]


@numba.njit(parallel=True, cache=True)
def _clear(indptr, indices, rows, grad):
    # the touched rows of grad back to zero for the next batch
    for r in numba.prange(rows.size):
        i = rows[r]
        for k in range(indptr[i], indptr[i + 1]):
            dst = indices[k]
            for j in range(grad.shape[1]):
                grad[dst, j] = 0


def products_floor(X, n_hidden=128, batch_size=200, epochs=3, seed=0):
    """Seconds of the initial draw and ``epochs`` epochs of the two products, on X (CSR)."""
    rng = np.random.default_rng(seed)
    n_parts = numba.get_num_threads()
    D = rng.standard_normal((batch_size, n_hidden)).astype(np.float32)
    out = np.empty((batch_size, n_hidden), np.float32)
    small = np.arange(min(batch_size, X.shape[0]))
    W_small = np.zeros((X.shape[1], 4), np.float32)  # compile (or load) before the clock
    _forward(X.indptr, X.indices, X.data, small, W_small, out[:, :4])
    _scatter(X.indptr, X.indices, X.data, small, D[:, :4], W_small, n_parts)
    _clear(X.indptr, X.indices, small, W_small)
    start = time.perf_counter()
    W = rng.random((X.shape[1], n_hidden), dtype=np.float32)
    grad = np.zeros_like(W)
    for _ in range(epochs):
        order = rng.permutation(X.shape[0])
        for b in range(0, X.shape[0], batch_size):
            rows = order[b:b + batch_size]
            _forward(X.indptr, X.indices, X.data, rows, W, out[:rows.size])
            _scatter(X.indptr, X.indices, X.data, rows, D[:rows.size], grad, n_parts)
            _clear(X.indptr, X.indices, rows, grad)
    return time.perf_counter() - start
