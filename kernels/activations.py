"""Activation epilogues: bias + activation forward, f'(z) * upstream backward.

Both work on one row at a time with the activation code tested once per row,
so every inner loop is a straight loop over a contiguous row that LLVM
vectorises (a code test inside the element loop measured 4-20x slower).

Forward, per row ``z`` (GEMM output) of a layer with bias ``b``::

    z[j] <- f(z[j] + b[j])            (zs[j] <- z[j] + b[j] when saving)

Backward, per row ``d`` (upstream dL/da) with the layer's output ``a``::

    d[j] <- d[j] * f'(z[j])           db[j] += d[j]

f' is computed from the output ``a`` where that is exact (sigmoid
a(1-a), tanh 1-a^2, relu/leaky/elu/selu by the sign of a, softplus
1 - e^-a); GELU and swish need the pre-activation, which the forward saves
(``NEEDS_PREACTIVATION``).
"""

import math

import numpy as np

from .config import jit
from .mathfun import exp, expm1, like

IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3
LEAKY_RELU = 4
ELU = 5
SELU = 6
SOFTPLUS = 7
GELU = 8
GELU_TANH = 9
SWISH = 10
SOFTMAX = 11

#: Codes whose derivative needs the saved pre-activation z.
NEEDS_PREACTIVATION = frozenset({GELU, GELU_TANH, SWISH})

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


# ----------------------------------------------------------------- scalars
@jit
def sigmoid(z):
    """1 / (1 + e^-z); e^-z overflows to inf for z << 0, giving exactly 0."""
    one = like(1, z)
    return one / (one + exp(-z))


@jit
def tanh(z):
    """tanh via expm1(-2|z|): no overflow, exact for small |z|, vectorisable."""
    u = expm1(like(-2, z) * abs(z))
    t = -u / (u + like(2, z))
    return t if z >= like(0, z) else -t


@jit
def softplus(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows."""
    zero = like(0, z)
    return (z if z > zero else zero) + np.log1p(exp(-abs(z)))


@jit
def _gelu_tanh_inner(z):
    return like(_SQRT_2_OVER_PI, z) * (z + like(_GELU_CUBIC, z) * z * z * z)


# ------------------------------------------------------------ forward rows
@jit
def forward_row(code, z, b, alpha, zs):
    """Row epilogue: ``z <- f(z + b)``; ``zs <- z + b`` first when ``zs`` is non-empty.

    Shapes: z (n,), b (n,), zs (n,) or (0,); ``alpha`` is the activation's
    parameter (leaky slope, ELU alpha) in the row's dtype.
    """
    n = z.size
    if zs.size:
        for j in range(n):
            zs[j] = z[j] + b[j]
    zero = like(0, alpha)
    one = like(1, alpha)
    if code == IDENTITY:
        for j in range(n):
            z[j] = z[j] + b[j]
    elif code == RELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > zero else zero
    elif code == LEAKY_RELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > zero else alpha * v
    elif code == SIGMOID:
        for j in range(n):
            z[j] = sigmoid(z[j] + b[j])
    elif code == TANH:
        for j in range(n):
            z[j] = tanh(z[j] + b[j])
    elif code == ELU:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v if v > zero else alpha * expm1(v)
    elif code == SELU:
        lam = like(SELU_LAMBDA, alpha)
        lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
        for j in range(n):
            v = z[j] + b[j]
            z[j] = lam * v if v > zero else lam_alpha * expm1(v)
    elif code == SOFTPLUS:
        for j in range(n):
            z[j] = softplus(z[j] + b[j])
    elif code == GELU:
        half = like(0.5, alpha)
        c = like(_INV_SQRT_2, alpha)
        for j in range(n):
            v = z[j] + b[j]
            z[j] = half * v * (one + math.erf(v * c))
    elif code == GELU_TANH:
        half = like(0.5, alpha)
        for j in range(n):
            v = z[j] + b[j]
            z[j] = half * v * (one + tanh(_gelu_tanh_inner(v)))
    elif code == SWISH:
        for j in range(n):
            v = z[j] + b[j]
            z[j] = v * sigmoid(v)
    elif code == SOFTMAX:
        for j in range(n):
            z[j] = z[j] + b[j]
        softmax_inplace(z)


@jit
def softmax_inplace(z):
    """Stable softmax of one row in place: e^(z - max z) / sum."""
    top = z[0]
    for j in range(1, z.size):
        if z[j] > top:
            top = z[j]
    total = like(0, top)
    for j in range(z.size):
        e = exp(z[j] - top)
        z[j] = e
        total += e
    inv = like(1, top) / total
    for j in range(z.size):
        z[j] = z[j] * inv


@jit
def forward_block(code, Z, b, alpha, Zs):
    """Bias + activation over a block: Z (rows, n) in place, Zs (rows, n) or (0, n)."""
    save = Zs.shape[0] > 0
    for r in range(Z.shape[0]):
        forward_row(code, Z[r], b, alpha, Zs[r] if save else Zs.ravel())


# ----------------------------------------------------------- backward rows
@jit
def backward_row(code, d, a, z, alpha, db):
    """Row epilogue: ``d <- d * f'``; ``db += d``.

    Shapes: d, a, db (n,); z (n,) for GELU/swish (saved pre-activation),
    otherwise unused.  Softmax hidden layers are not supported (the output
    layer's softmax is handled by the losses).
    """
    n = d.size
    zero = like(0, alpha)
    one = like(1, alpha)
    if code == IDENTITY:
        pass
    elif code == RELU:
        for j in range(n):
            d[j] = d[j] if a[j] > zero else zero
    elif code == LEAKY_RELU:
        for j in range(n):
            d[j] = d[j] if a[j] > zero else alpha * d[j]
    elif code == SIGMOID:
        for j in range(n):
            d[j] = d[j] * a[j] * (one - a[j])
    elif code == TANH:
        for j in range(n):
            d[j] = d[j] * (one - a[j] * a[j])
    elif code == ELU:
        for j in range(n):
            d[j] = d[j] if a[j] > zero else d[j] * (a[j] + alpha)
    elif code == SELU:
        lam = like(SELU_LAMBDA, alpha)
        lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
        for j in range(n):
            d[j] = d[j] * lam if a[j] > zero else d[j] * (a[j] + lam_alpha)
    elif code == SOFTPLUS:
        for j in range(n):
            d[j] = -d[j] * expm1(-a[j])
    elif code == GELU:
        half = like(0.5, alpha)
        c = like(_INV_SQRT_2, alpha)
        k = like(_INV_SQRT_2PI, alpha)
        for j in range(n):
            v = z[j]
            cdf = half * (one + math.erf(v * c))
            d[j] = d[j] * (cdf + v * k * exp(-half * v * v))
    elif code == GELU_TANH:
        half = like(0.5, alpha)
        c = like(_SQRT_2_OVER_PI, alpha)
        c3 = like(3 * _GELU_CUBIC, alpha)
        for j in range(n):
            v = z[j]
            t = tanh(_gelu_tanh_inner(v))
            d[j] = d[j] * (half * (one + t) + half * v * (one - t * t) * c * (one + c3 * v * v))
    elif code == SWISH:
        for j in range(n):
            s = sigmoid(z[j])
            d[j] = d[j] * (s + a[j] * (one - s))
    for j in range(n):
        db[j] += d[j]


@jit
def backward_block(code, D, A, Zs, alpha, db):
    """``D <- D * f'`` over a block and ``db <- column sums of D``.

    Shapes: D, A (rows, n); Zs (rows, n) when the code needs it, else (0, n);
    db (n,) is overwritten.
    """
    db[:] = 0
    have_z = Zs.shape[0] > 0
    for r in range(D.shape[0]):
        backward_row(code, D[r], A[r], Zs[r] if have_z else A[r], alpha, db)
