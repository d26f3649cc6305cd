"""Activation epilogues: bias + activation forward, upstream * f'(z) backward.

Both work on a (rows, n) block with the activation code tested once per
block, so every inner loop is a straight loop over a contiguous row that
LLVM vectorises (a code test inside the element loop measured 4-20x
slower, a function call per row 2x slower on small blocks).

Forward, block ``Z`` (GEMM output) of a layer with bias ``b``::

    Z[r, j] <- f(Z[r, j] + b[j])        (Zs[r, j] <- Z[r, j] + b[j] when saving)

Backward, block ``D`` (upstream dL/da) with the layer's output ``A``::

    D[r, j] <- D[r, j] * f'(z[r, j])

f' is computed from the output ``a`` where that is exact (sigmoid a(1-a),
tanh 1-a^2, relu/leaky/elu/selu by the sign of a, softplus 1 - e^-a); GELU
and swish need the pre-activation, which the forward pass saves
(``NEEDS_PREACTIVATION``).  Bias gradients are column sums taken elsewhere
(:mod:`fastmlp.kernels.network`), so that threads can split these blocks by
rows.
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


# ------------------------------------------------------------------ forward
@jit
def forward_block(code, Z, b, alpha, Zs):
    """Bias + activation over a block, in place.

    Shapes: Z (rows, n); b (n,); Zs (rows, n) to also receive z = Z + b, or
    (0, n); ``alpha`` is the activation parameter (leaky slope, ELU alpha)
    in the block's dtype.
    """
    rows, n = Z.shape
    if Zs.shape[0] > 0:
        for r in range(rows):
            for j in range(n):
                Zs[r, j] = Z[r, j] + b[j]
    zero = like(0, alpha)
    one = like(1, alpha)
    if code == IDENTITY:
        for r in range(rows):
            for j in range(n):
                Z[r, j] = Z[r, j] + b[j]
    elif code == RELU:
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = v if v > zero else zero
    elif code == LEAKY_RELU:
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = v if v > zero else alpha * v
    elif code == SIGMOID:
        for r in range(rows):
            for j in range(n):
                Z[r, j] = sigmoid(Z[r, j] + b[j])
    elif code == TANH:
        for r in range(rows):
            for j in range(n):
                Z[r, j] = tanh(Z[r, j] + b[j])
    elif code == ELU:
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = v if v > zero else alpha * expm1(v)
    elif code == SELU:
        lam = like(SELU_LAMBDA, alpha)
        lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = lam * v if v > zero else lam_alpha * expm1(v)
    elif code == SOFTPLUS:
        for r in range(rows):
            for j in range(n):
                Z[r, j] = softplus(Z[r, j] + b[j])
    elif code == GELU:
        half = like(0.5, alpha)
        c = like(_INV_SQRT_2, alpha)
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = half * v * (one + math.erf(v * c))
    elif code == GELU_TANH:
        half = like(0.5, alpha)
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = half * v * (one + tanh(_gelu_tanh_inner(v)))
    elif code == SWISH:
        for r in range(rows):
            for j in range(n):
                v = Z[r, j] + b[j]
                Z[r, j] = v * sigmoid(v)
    elif code == SOFTMAX:
        for r in range(rows):
            row = Z[r]
            for j in range(n):
                row[j] = row[j] + b[j]
            softmax_inplace(row)


@jit
def softmax_inplace(z):
    """Stable softmax of one row in place: e^(z - m) / s.  Returns (m, s): max and sum."""
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
    return top, total


# ----------------------------------------------------------------- backward
@jit
def backward_block(code, D, A, Zs, alpha):
    """``D <- D * f'`` over a block, in place.

    Shapes: D, A (rows, n); Zs (rows, n) holding z for GELU/swish, else
    anything (unused).  Softmax is not handled here (see losses).
    """
    rows, n = D.shape
    zero = like(0, alpha)
    one = like(1, alpha)
    if code == IDENTITY:
        pass
    elif code == RELU:
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] if A[r, j] > zero else zero
    elif code == LEAKY_RELU:
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] if A[r, j] > zero else alpha * D[r, j]
    elif code == SIGMOID:
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] * A[r, j] * (one - A[r, j])
    elif code == TANH:
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] * (one - A[r, j] * A[r, j])
    elif code == ELU:
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] if A[r, j] > zero else D[r, j] * (A[r, j] + alpha)
    elif code == SELU:
        lam = like(SELU_LAMBDA, alpha)
        lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
        for r in range(rows):
            for j in range(n):
                D[r, j] = D[r, j] * lam if A[r, j] > zero else D[r, j] * (A[r, j] + lam_alpha)
    elif code == SOFTPLUS:
        for r in range(rows):
            for j in range(n):
                D[r, j] = -D[r, j] * expm1(-A[r, j])
    elif code == GELU:
        half = like(0.5, alpha)
        c = like(_INV_SQRT_2, alpha)
        k = like(_INV_SQRT_2PI, alpha)
        for r in range(rows):
            for j in range(n):
                v = Zs[r, j]
                cdf = half * (one + math.erf(v * c))
                D[r, j] = D[r, j] * (cdf + v * k * exp(-half * v * v))
    elif code == GELU_TANH:
        half = like(0.5, alpha)
        c = like(_SQRT_2_OVER_PI, alpha)
        c3 = like(3 * _GELU_CUBIC, alpha)
        for r in range(rows):
            for j in range(n):
                v = Zs[r, j]
                t = tanh(_gelu_tanh_inner(v))
                D[r, j] = D[r, j] * (half * (one + t)
                                     + half * v * (one - t * t) * c * (one + c3 * v * v))
    elif code == SWISH:
        for r in range(rows):
            for j in range(n):
                s = sigmoid(Zs[r, j])
                D[r, j] = D[r, j] * (s + A[r, j] * (one - s))
