"""Vectorisable elementary functions and dtype helpers for the kernels.

Numba lowers ``np.exp``/``np.expm1`` to scalar libm calls (about 2.4 ns per
float32 element on the dev machine) because no vector math library is
linked.  The versions here are written with arithmetic, ``floor`` and a bit
cast only, so LLVM vectorises the loops that call them (about 0.3 ns per
element), and they give the same bits on every machine.

Method (the classic one, coefficients are Taylor's 1/k!):

    x = n ln2 + r,  |r| <= ln2/2,  n = round(x / ln2)
    e^x = 2^n e^r,  e^r = sum_k r^k / k!     (degree 7 in float32, 13 in float64)

``ln2`` is split in two parts (Cody and Waite) so that ``r`` is exact to the
working precision.  ``expm1`` evaluates ``e^r - 1 = r + r^2 Q(r)`` and
recombines as ``2^n (e^r - 1) + (2^n - 1)``, which is exact for small ``x``.
Measured maximum error against float64 references: below 1 ulp for exp and
2 ulp for expm1 (see ``tests/test_mathfun.py``).

Overflow gives ``inf``, underflow gives ``0`` (``-1`` for expm1), NaN stays
NaN; no input raises.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .config import STRICT_FASTMATH, jit


def like(value, ref):
    """Return ``value`` converted to the float type of ``ref`` (array or scalar).

    Inside kernels this is how constants are written: a bare Python literal
    in an expression with float32 data would promote it to float64.
    """
    dtype = np.asarray(ref).dtype
    return dtype.type(value)


@overload(like, inline="always")
def _like_overload(value, ref):
    target = ref.dtype if isinstance(ref, types.Array) else ref

    def impl(value, ref):
        return target(value)

    return impl


@intrinsic
def _pow2(typingctx, n, ref):
    """2**n as the float type of ``ref``, by writing ``n`` into the exponent bits.

    Valid for n in the normal exponent range (-126..127 float32,
    -1022..1023 float64); callers split larger shifts in two.
    """
    if not isinstance(ref, types.Float) or not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if ref.bitwidth == 32:
            int_type, float_type, bias, shift = ir.IntType(32), ir.FloatType(), 127, 23
        else:
            int_type, float_type, bias, shift = ir.IntType(64), ir.DoubleType(), 1023, 52
        if value.type.width < int_type.width:
            value = builder.sext(value, int_type)
        elif value.type.width > int_type.width:
            value = builder.trunc(value, int_type)
        biased = builder.add(value, ir.Constant(int_type, bias))
        bits = builder.shl(biased, ir.Constant(int_type, shift))
        return builder.bitcast(bits, float_type)

    return ref(n, ref), codegen


# Range limits and the two-part ln 2 (exactly representable high part).
_F32_HI, _F32_LO = 88.72283, -87.33654
_F64_HI, _F64_LO = 709.782712893384, -708.3964185322641
_LOG2E = 1.4426950408889634
_F32_LN2_HI, _F32_LN2_LO = 0.693359375, -2.12194440e-4
_F64_LN2_HI, _F64_LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10

# 1/k! for k = 2..9 (float32 uses k <= 8) and k = 2..14 (float64).
_INV_FACT = [1.0 / float(np.prod(np.arange(1, k + 1))) for k in range(0, 15)]
_F32_Q = tuple(np.float32(c) for c in reversed(_INV_FACT[2:9]))
_F64_Q = tuple(float(c) for c in reversed(_INV_FACT[2:15]))


@jit(fastmath=STRICT_FASTMATH)
def _reduce_f32(x):
    """Return (n, em1r) with x = n ln2 + r and em1r = e^r - 1 (float32)."""
    n = np.floor(x * np.float32(_LOG2E) + np.float32(0.5))
    r = x - n * np.float32(_F32_LN2_HI)
    r = r - n * np.float32(_F32_LN2_LO)
    q = np.float32(_F32_Q[0])
    q = q * r + np.float32(_F32_Q[1])
    q = q * r + np.float32(_F32_Q[2])
    q = q * r + np.float32(_F32_Q[3])
    q = q * r + np.float32(_F32_Q[4])
    q = q * r + np.float32(_F32_Q[5])
    q = q * r + np.float32(_F32_Q[6])
    return np.int32(n), r + r * r * q


@jit(fastmath=STRICT_FASTMATH)
def _reduce_f64(x):
    """Return (n, em1r) with x = n ln2 + r and em1r = e^r - 1 (float64)."""
    n = np.floor(x * _LOG2E + 0.5)
    r = x - n * _F64_LN2_HI
    r = r - n * _F64_LN2_LO
    q = _F64_Q[0]
    q = q * r + _F64_Q[1]
    q = q * r + _F64_Q[2]
    q = q * r + _F64_Q[3]
    q = q * r + _F64_Q[4]
    q = q * r + _F64_Q[5]
    q = q * r + _F64_Q[6]
    q = q * r + _F64_Q[7]
    q = q * r + _F64_Q[8]
    q = q * r + _F64_Q[9]
    q = q * r + _F64_Q[10]
    q = q * r + _F64_Q[11]
    q = q * r + _F64_Q[12]
    return np.int64(n), r + r * r * q


@jit(fastmath=STRICT_FASTMATH)
def _exp_f32(x):
    # NaN and out-of-range inputs take a harmless path, then are overridden.
    xc = x if (x > np.float32(_F32_LO) and x < np.float32(_F32_HI)) else np.float32(0)
    n, em1r = _reduce_f32(xc)
    half = n >> 1  # split 2^n in two factors so n = 128 does not overflow
    y = (em1r + np.float32(1)) * _pow2(half, x) * _pow2(n - half, x)
    if x >= np.float32(_F32_HI):
        y = np.float32(np.inf)
    if x <= np.float32(_F32_LO):
        y = np.float32(0)
    if x != x:
        y = x
    return y


@jit(fastmath=STRICT_FASTMATH)
def _exp_f64(x):
    xc = x if (x > _F64_LO and x < _F64_HI) else 0.0
    n, em1r = _reduce_f64(xc)
    half = n >> 1
    y = (em1r + 1.0) * _pow2(half, x) * _pow2(n - half, x)
    if x >= _F64_HI:
        y = np.inf
    if x <= _F64_LO:
        y = 0.0
    if x != x:
        y = x
    return y


@jit(fastmath=STRICT_FASTMATH)
def _expm1_f32(x):
    xc = x if (x > np.float32(_F32_LO) and x < np.float32(_F32_HI)) else np.float32(0)
    n, em1r = _reduce_f32(xc)
    half = n >> 1
    low, high = _pow2(half, x), _pow2(n - half, x)
    # Moderate x: 2^n (e^r - 1) + (2^n - 1) keeps the accuracy of e^r - 1.
    # Near overflow 2^n itself is inf (n = 128); there the -1 is below
    # rounding and the product is taken in an order that stays finite.
    scale = low * high
    y = scale * em1r + (scale - np.float32(1))
    if x > np.float32(80):
        y = (em1r + np.float32(1)) * low * high
    if x >= np.float32(_F32_HI):
        y = np.float32(np.inf)
    if x <= np.float32(_F32_LO):
        y = np.float32(-1)
    if x != x:
        y = x
    return y


@jit(fastmath=STRICT_FASTMATH)
def _expm1_f64(x):
    xc = x if (x > _F64_LO and x < _F64_HI) else 0.0
    n, em1r = _reduce_f64(xc)
    half = n >> 1
    low, high = _pow2(half, x), _pow2(n - half, x)
    scale = low * high  # see _expm1_f32; here 2^n overflows at n = 1024
    y = scale * em1r + (scale - 1.0)
    if x > 700.0:
        y = (em1r + 1.0) * low * high
    if x >= _F64_HI:
        y = np.inf
    if x <= _F64_LO:
        y = -1.0
    if x != x:
        y = x
    return y


def exp(x):
    """Vectorisable ``e**x`` for float32/float64 scalars (NumPy fallback outside Numba)."""
    return np.exp(x)


def expm1(x):
    """Vectorisable ``e**x - 1`` for float32/float64 scalars (NumPy fallback outside Numba)."""
    return np.expm1(x)


@overload(exp)
def _exp_overload(x):
    if x == types.float32:
        return lambda x: _exp_f32(x)
    if x == types.float64:
        return lambda x: _exp_f64(x)
    return None


@overload(expm1)
def _expm1_overload(x):
    if x == types.float32:
        return lambda x: _expm1_f32(x)
    if x == types.float64:
        return lambda x: _expm1_f64(x)
    return None
