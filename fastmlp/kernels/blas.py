"""Matrix products on sub-blocks of flat buffers, through SciPy's BLAS.

``np.dot`` inside Numba needs whole contiguous operands; splitting one
product over threads by columns needs sub-blocks with a leading dimension
(``A[:, c0:c1]`` of a row-major matrix).  :func:`gemm` calls the same
BLAS entry point Numba's ``np.dot`` uses (``numba_xxgemm`` in Numba's
helper library, which forwards to ``scipy.linalg.cython_blas``), with
explicit offsets, leading dimensions, alpha and beta.  The symbol is
resolved when the compiled code is loaded, so cached kernels stay valid
across processes.

Row-major convention (as everywhere in fastmlp)::

    C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C

``A`` is read from flat buffer ``a`` starting at ``a_off`` with row stride
``lda``: ``op(A) = A`` stored (m, k) when ``trans_a`` is False, ``A^T`` of an
(k, m) block when True.  Same for ``B`` (stored (k, n), or (n, k) when
``trans_b``) and for ``C`` (stored (m, n), row stride ``ldc``).  BLAS is
column-major, so the call computes ``C^T = op(B)^T op(A)^T``.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .config import jit
from .views import element_pointer


def _external(dtype):
    sig = types.intc(types.char, types.char, types.char, types.intp, types.intp, types.intp,
                     types.CPointer(dtype), types.CPointer(dtype), types.intp,
                     types.CPointer(dtype), types.intp, types.CPointer(dtype),
                     types.CPointer(dtype), types.intp)
    return types.ExternalFunction("numba_xxgemm", sig)


_xxgemm_f32 = _external(types.float32)
_xxgemm_f64 = _external(types.float64)
_N = ord("n")
_T = ord("t")


def _raw_gemm(transa, transb, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    raise NotImplementedError("only callable from compiled code")


@overload(_raw_gemm)
def _raw_gemm_overload(transa, transb, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off,
                       ldc):
    single = c.dtype == types.float32
    fn = _xxgemm_f32 if single else _xxgemm_f64
    kind = np.int8(ord("s") if single else ord("d"))

    def impl(transa, transb, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
        return fn(kind, transa, transb, m, n, k, element_pointer(coef, 0),
                  element_pointer(a, a_off), lda, element_pointer(b, b_off), ldb,
                  element_pointer(coef, 1), element_pointer(c, c_off), ldc)

    return impl


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
    # C^T (n x m, col-major) = op(B)^T (n x k) @ op(A)^T (k x m)
    tb = np.int8(_T if trans_b else _N)
    ta = np.int8(_T if trans_a else _N)
    _raw_gemm(tb, ta, n, m, k, coef, b, b_off, ldb, a, a_off, lda, c, c_off, ldc)
