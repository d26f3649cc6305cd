"""Matrix products on sub-blocks of flat buffers: register tiles of our own, or BLAS.

``np.dot`` inside Numba needs whole contiguous operands; splitting one
product over threads by columns needs sub-blocks with a leading dimension
(``A[:, c0:c1]`` of a row-major matrix).  :func:`gemm` calls the Fortran
``?gemm`` of the BLAS library :mod:`fastmlp.kernels.blas_library` chose
(NumPy's or SciPy's OpenBLAS) with explicit offsets, leading dimensions,
alpha and beta.  The symbol is resolved when the compiled code is loaded,
so cached kernels stay valid across processes whichever library answers.

Row-major convention (as everywhere in fastmlp)::

    C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C

``A`` is read from flat buffer ``a`` starting at ``a_off`` with row stride
``lda``: ``op(A) = A`` stored (m, k) when ``trans_a`` is False, ``A^T`` of an
(k, m) block when True.  Same for ``B`` (stored (k, n), or (n, k) when
``trans_b``) and for ``C`` (stored (m, n), row stride ``ldc``).  BLAS is
column-major, so the call computes ``C^T = op(B)^T op(A)^T``.

Products whose B is read in rows (``trans_b`` False: a forward product
``A W``, a weight gradient ``A^T D``) run as :mod:`fastmlp.kernels.tiles`'
register tiles when B has a tile's width of columns and the product is
thin or B fits in a core's cache (:func:`uses_tiles`): those tiles copy
nothing first, where OpenBLAS packs B at each call.
"""

import numpy as np

from .blas_library import chosen, fortran_gemm
from .config import jit
from .tiles import TILE_VECTORS, VECTOR_BYTES, bind, call_tiled_product
from .views import element_pointer

_N = ord("n")
_T = ord("t")

# Bind the kernels' GEMM symbols to a library, and those of the register tiles to
# their compiled functions, before any kernel is compiled or loaded from the cache
# (they are resolved when the machine code is linked).
chosen()
bind()


#: A product of one row by a (k, n) matrix of at least this many entries runs as
#: :func:`_row_times_matrix`: OpenBLAS's gemm copies ("packs") the whole matrix
#: for it, where the row needs one pass over the matrix (one thread, float32,
#: 1024x1024: 389 us against 59 us; 784x1024: 107 against 60; but 784x256,
#: small enough for OpenBLAS's kernels without packing: 7.4 against 21.7 us).
ROW_LOOP_MIN_WEIGHTS = 1 << 19


@jit
def _row_times_matrix(trans_a, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off):
    # c[c_off:c_off+n] (1, n) = alpha * a-row (1, k) @ B (k, n; rows ldb apart) + beta * c;
    # the a-row's entries are lda apart when trans_a.  As BLAS: beta = 0 never reads c
    # (whatever it holds), and a NaN of B or a reaches c even times a zero.
    alpha, beta = coef[0], coef[1]
    out = c[c_off:c_off + n]
    if beta == 0:
        out[:] = 0
    elif beta != 1:
        for j in range(n):
            out[j] *= beta
    step = lda if trans_a else 1
    for kk in range(k):
        s = alpha * a[a_off + kk * step]
        row = b[b_off + kk * ldb:b_off + kk * ldb + n]
        for j in range(n):
            out[j] += s * row[j]


#: Products of at most this many rows take the tiles whatever B's size: OpenBLAS's
#: packing of B pays off only over many rows.  ``python bench/products.py``, one
#: thread, float32, Zen 4, us tiles / BLAS: 8 x 1024 @ 1024 x 1024 194 / 396, 64 rows
#: 1,551 / 1,612, 512 rows 11,906 / 11,041.
TILED_MOST_ROWS = 64
#: ... and over more rows when B has fewer entries than this (B 784 x 256: 512 rows
#: 1,851 / 2,038 us; a weight gradient's D, 256 x 256: 148 / 167; but 256 x 1024:
#: 4,916 / 4,569 -- A^T is read down its columns, which BLAS copies first).
TILED_MOST_WEIGHTS = 1 << 18


@jit(from_python=True)
def uses_tiles(trans_a, m, n, k, itemsize):
    """Whether an op(A) (m, k) @ B (k, n) product, B read in rows, runs as register tiles.

    Not for a B narrower than a tile (a classifier's output layer: most of
    each tile's lanes would be masked off; 64 x 256 @ 256 x 10: 10.0 us
    tiles, 4.9 BLAS).  ``trans_a`` does not change the rule (measured
    above), only the product.
    """
    return (n >= TILE_VECTORS * VECTOR_BYTES // itemsize
            and (m <= TILED_MOST_ROWS or n * k < TILED_MOST_WEIGHTS))


@jit
def gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """Row-major ``C = coef[0] op(A) op(B) + coef[1] C`` on blocks of flat buffers.

    Shapes: a, b, c are 1-D arrays of one float dtype; ``coef`` is a (2,)
    array of that dtype holding (alpha, beta).  Does nothing when m, n or k
    is 0 (with k = 0 and beta = 0 BLAS would still zero C; callers never
    rely on that).
    """
    if m <= 0 or n <= 0 or k <= 0:
        return
    if m == 1 and not trans_b and n * k >= ROW_LOOP_MIN_WEIGHTS:
        _row_times_matrix(trans_a, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off)
        return
    if not trans_b and uses_tiles(trans_a, m, n, k, a.itemsize):
        tiles_gemm(trans_a, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)
    else:
        blas_gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)


@jit
def tiles_gemm(trans_a, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """:func:`gemm` with B read in rows (``trans_b`` False), as register tiles
    (:func:`fastmlp.kernels.tiles.call_tiled_product`), whatever the shapes."""
    a_row, a_step = (np.int64(1), np.int64(lda)) if trans_a else (np.int64(lda), np.int64(1))
    call_tiled_product(np.int64(m), np.int64(n), np.int64(k), coef[0], a, np.int64(a_off),
                       a_row, a_step, b, np.int64(b_off), np.int64(ldb), coef[1], c,
                       np.int64(c_off), np.int64(ldc))


@jit
def blas_gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    """:func:`gemm` through BLAS's ``?gemm``, whatever the shapes (m, n, k > 0)."""
    # C^T (n x m, col-major) = op(B)^T (n x k) @ op(A)^T (k x m)
    tb = np.int8(_T if trans_b else _N)
    ta = np.int8(_T if trans_a else _N)
    fortran_gemm(tb, ta, n, m, k, element_pointer(coef, 0), element_pointer(b, b_off), ldb,
                 element_pointer(a, a_off), lda, element_pointer(coef, 1),
                 element_pointer(c, c_off), ldc)
