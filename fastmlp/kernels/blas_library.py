"""Which BLAS library the kernels' matrix products run in: chosen once, when fastmlp is imported.

A NumPy >= 2 wheel and a SciPy wheel each bring their own OpenBLAS: NumPy's
built with 64-bit integers (ILP64, symbols ``scipy_sgemm_64_``), SciPy's
with 32-bit ones (``scipy.linalg.cython_blas``, which Numba's ``np.dot``
calls).  They are often different releases, and a newer one can be
faster: NumPy 2.4's OpenBLAS 0.3.31 ran M's and L's products 4-6% faster
than SciPy 1.17's 0.3.30 on this project's Zen 4 machine (the same
Fortran call through ctypes, one thread, interleaved).  The kernels use
the newer of the two (NumPy's when both are the same release), or the one
``FASTMLP_BLAS=numpy`` / ``FASTMLP_BLAS=scipy`` names.

The compiled kernels call the symbols ``fastmlp_sgemm`` and
``fastmlp_dgemm`` (:data:`SYMBOLS`) with the ILP64 Fortran interface
(every argument by address, integers int64); this module binds them to the
chosen library's functions (``llvmlite.binding.add_symbol``) before any
kernel is compiled or loaded, so the kernels' cached machine code holds the
names only.  SciPy's 32-bit-integer functions are reached through a small
compiled adapter.  NumPy linked to another BLAS (MKL, a system library)
exports no ``scipy_sgemm_64_``: then SciPy's is used.
"""

import ctypes
import glob
import importlib.util
import os
import re
from collections import namedtuple

from llvmlite import binding, ir
from numba import cfunc, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

from .config import CFUNC_OPTIONS

__all__ = ["SYMBOLS", "Library", "chosen"]

#: the kernels' names for the single- and double-precision GEMM
SYMBOLS = {"float32": "fastmlp_sgemm", "float64": "fastmlp_dgemm"}

#: One candidate library: ``name`` ("numpy" or "scipy"), its OpenBLAS
#: ``version`` (a tuple of ints; () when it does not say), ``exports`` the
#: name of a function that library alone exports (to find its thread
#: control, :mod:`fastmlp.parallel`), the addresses of its ``sgemm`` and
#: ``dgemm``, and whether they take 64-bit integers (``ilp64``).
Library = namedtuple("Library", ["name", "version", "exports", "sgemm", "dgemm", "ilp64"])

_LP64_SYMBOLS = {"float32": "fastmlp_lp64_sgemm", "float64": "fastmlp_lp64_dgemm"}


def _version(lib, getter):
    """The OpenBLAS release of ``lib`` (from its config string), or ()."""
    try:
        get = getattr(lib, getter)
    except AttributeError:
        return ()
    get.restype = ctypes.c_char_p
    found = re.search(rb"OpenBLAS\s+(\d+(?:\.\d+)*)", get() or b"")
    return tuple(int(part) for part in found.group(1).split(b".")) if found else ()


def _numpy_library():
    """NumPy's own ILP64 OpenBLAS (a NumPy >= 2 wheel), or None."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:
        return None
    try:
        lib = ctypes.CDLL(core.__file__)  # its symbols include those of its BLAS
        sgemm, dgemm = lib.scipy_sgemm_64_, lib.scipy_dgemm_64_
    except (OSError, AttributeError):
        return None
    return Library("numpy", _version(lib, "scipy_openblas_get_config64_"), "scipy_sgemm_64_",
                   ctypes.cast(sgemm, ctypes.c_void_p).value,
                   ctypes.cast(dgemm, ctypes.c_void_p).value, True)


def _scipy_blas_module():
    """The file of ``scipy.linalg.cython_blas``, found without importing ``scipy.linalg``
    (~0.1 s) -- or None."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = glob.glob(os.path.join(folder, "linalg", "cython_blas.*"))
        found = [path for path in found if not path.endswith((".pxd", ".pyi", ".py"))]
        if found:
            return found[0]
    return None


def _scipy_library():
    """SciPy's BLAS (32-bit integers, the one Numba's ``np.dot`` calls); its functions'
    addresses are looked up when it is chosen (that imports ``scipy.linalg``)."""
    path = _scipy_blas_module()
    try:
        version = _version(ctypes.CDLL(path), "scipy_openblas_get_config") if path else ()
    except OSError:
        version = ()
    return Library("scipy", version, "scipy_sgemm_", None, None, False)


def _with_scipy_addresses(library):
    return library._replace(
        sgemm=get_cython_function_address("scipy.linalg.cython_blas", "sgemm"),
        dgemm=get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))


def _choose():
    wanted = os.environ.get("FASTMLP_BLAS", "").strip().lower()
    if wanted not in ("", "numpy", "scipy"):
        raise ValueError(f"FASTMLP_BLAS={wanted!r}: use 'numpy' or 'scipy' (or leave it unset)")
    scipy_lib = _scipy_library()
    numpy_lib = None if wanted == "scipy" else _numpy_library()
    if numpy_lib is not None and (wanted == "numpy" or numpy_lib.version >= scipy_lib.version):
        return numpy_lib
    return _with_scipy_addresses(scipy_lib)


# ------------------------------------------------------------------ the call itself
def _pointer_types(dtype):
    float_p = ir.FloatType().as_pointer() if dtype == "float32" else ir.DoubleType().as_pointer()
    return ir.IntType(8).as_pointer(), float_p


def _gemm_codegen(symbols, int_bits):
    """The code of a call of Fortran ``?gemm`` symbol ``symbols[dtype]`` on an intrinsic's
    arguments (see :func:`fortran_gemm`): every argument by address, the transpositions
    and sizes stored to stack slots, the sizes as ``int_bits``-bit integers."""
    int_t = ir.IntType(int_bits)
    int_p = int_t.as_pointer()
    size_type = types.int64 if int_bits == 64 else types.int32

    def codegen(context, builder, signature, args):
        dtype = str(signature.args[6].dtype)
        char_p, float_p = _pointer_types(dtype)
        slots = []
        for position, (typ, value) in enumerate(zip(signature.args, args)):
            if isinstance(typ, types.CPointer):  # alpha, a, b, beta, c
                slots.append(value)
                continue
            transposition = position < 2
            slot = cgutils.alloca_once(builder, ir.IntType(8) if transposition else int_t)
            builder.store(context.cast(builder, value, typ,
                                       types.int8 if transposition else size_type), slot)
            slots.append(slot)
        fnty = ir.FunctionType(ir.VoidType(), [char_p, char_p, int_p, int_p, int_p, float_p,
                                               float_p, int_p, float_p, int_p, float_p, float_p,
                                               int_p])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, symbols[dtype]),
                     slots)
        return context.get_dummy_value()

    return codegen


def _gemm_typing(args):
    """The intrinsics' signature, or None when the arguments are not those of a GEMM."""
    trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc = args
    integers, pointers = (trans_a, trans_b, m, n, k, lda, ldb, ldc), (alpha, a, b, beta, c)
    if not (all(isinstance(t, types.Integer) for t in integers)
            and all(isinstance(p, types.CPointer) for p in pointers)
            and len({p.dtype for p in pointers}) == 1 and str(a.dtype) in SYMBOLS):
        return None
    return types.none(*args)


_ILP64_CALL = _gemm_codegen(SYMBOLS, 64)
_LP64_CALL = _gemm_codegen(_LP64_SYMBOLS, 32)


@intrinsic
def fortran_gemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major ``C = alpha op(A) op(B) + beta C`` through the kernels' GEMM symbol.

    ``trans_a``/``trans_b``: ord('n') or ord('t'); sizes and leading
    dimensions: integers; ``alpha``, ``a``, ``b``, ``beta``, ``c``: typed
    pointers of one float dtype.  The Fortran interface of every BLAS, under
    the kernels' own name (:data:`SYMBOLS`).
    """
    signature = _gemm_typing((trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
    return None if signature is None else (signature, _ILP64_CALL)


@intrinsic
def _lp64_gemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """:func:`fortran_gemm` into SciPy's 32-bit-integer library (the adapter's body)."""
    signature = _gemm_typing((trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
    return None if signature is None else (signature, _LP64_CALL)


def _adapter(dtype):
    """A compiled ILP64 ``?gemm`` that calls SciPy's LP64 one (sizes fit 32 bits: the
    kernels' blocks are far smaller)."""
    number = types.float32 if dtype == "float32" else types.float64
    char_p, int_p, float_p = (types.CPointer(types.int8), types.CPointer(types.int64),
                              types.CPointer(number))
    signature = types.void(char_p, char_p, int_p, int_p, int_p, float_p, float_p, int_p,
                           float_p, int_p, float_p, float_p, int_p)

    def adapter(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        _lp64_gemm(trans_a[0], trans_b[0], m[0], n[0], k[0], alpha, a, lda[0], b, ldb[0], beta,
                   c, ldc[0])

    return cfunc(signature, **CFUNC_OPTIONS)(adapter).address


_chosen = None


def chosen():
    """The :class:`Library` the kernels call (bound to :data:`SYMBOLS` on first use)."""
    global _chosen
    if _chosen is None:
        library = _choose()
        if library.ilp64:
            binding.add_symbol(SYMBOLS["float32"], library.sgemm)
            binding.add_symbol(SYMBOLS["float64"], library.dgemm)
        else:
            binding.add_symbol(_LP64_SYMBOLS["float32"], library.sgemm)
            binding.add_symbol(_LP64_SYMBOLS["float64"], library.dgemm)
            binding.add_symbol(SYMBOLS["float32"], _adapter("float32"))
            binding.add_symbol(SYMBOLS["float64"], _adapter("float64"))
        _chosen = library
    return _chosen
