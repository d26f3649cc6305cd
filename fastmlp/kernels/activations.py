"""Activation epilogues: bias + activation forward, upstream * f'(z) backward.

One function per activation and direction, each over a (rows, n) block,
so every inner loop is a straight loop over a contiguous row that LLVM
vectorises (a code test inside the element loop measured 4-20x slower, a
function call per row 2x slower on small blocks).  The kernels call the
ones a model uses through pointers (:data:`FORWARD`, :data:`BACKWARD`,
:mod:`fastmlp.kernels.ops`); :func:`forward_block` and
:func:`backward_block` dispatch on the code, for tests and tools.

Forward, block ``Z`` (GEMM output) of a layer with bias ``b``, columns
``c0 <= j < c0 + b.size``::

    Z[r, j] <- f(Z[r, j] + b[j - c0])   (Zs[r, j] <- Z[r, j] + b[j - c0] when saving)

Backward, block ``D`` (upstream dL/da) with the layer's output ``A``,
columns ``c0 <= j < c1``::

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
from .views import flat_view

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

#: The name of every code, in code order.
NAMES = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "gelu",
         "gelu_tanh", "swish", "softmax")

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
# One function per activation: each is compiled only when a model uses it
# (as a function pointer, see :mod:`fastmlp.kernels.ops`).  Shapes, for all:
# Z (rows, n) whole rows of the GEMM output, of which columns c0 .. c0 +
# b.size are overwritten by f(Z + b) -- a column-split layer's thread passes
# its share of the columns, in one call rather than one per row (26 ns a
# call); b the columns' biases; ``alpha`` the activation parameter
# (leaky slope, ELU alpha) in the block's dtype; Zs (rows, n) receives z =
# Z + b in the same columns when the backward pass needs it, else (0, n).


@jit
def row_part(M, r, c0, n):
    """Columns c0..c0+n of row r of the C-contiguous block ``M``, as a flat view.

    Loops over it index from 0, so that LLVM sees non-negative indices and
    vectorises them (``M[r, c0 + j]`` kept Numba's negative-index wraparound
    in the loop: a relu over 128 x 256 floats 12.9 us instead of 2.2).
    """
    return flat_view(M, r * M.shape[1] + c0, n)


@jit
def save_preactivation(Z, b, Zs, c0):
    """Zs <- Z + b when Zs has rows (GELU/swish layers keep z for the backward pass)."""
    if Zs.shape[0] > 0:
        for r in range(Z.shape[0]):
            zs = row_part(Zs, r, c0, b.size)
            z = row_part(Z, r, c0, b.size)
            for j in range(b.size):
                zs[j] = z[j] + b[j]


@jit
def identity_forward(Z, b, alpha, Zs, c0):
    """Z <- Z + b."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            z[j] = z[j] + b[j]


@jit
def relu_forward(Z, b, alpha, Zs, c0):
    """Z <- max(Z + b, 0)."""
    save_preactivation(Z, b, Zs, c0)
    zero = like(0, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = v if v > zero else zero


@jit
def leaky_relu_forward(Z, b, alpha, Zs, c0):
    """Z <- v if v > 0 else alpha v, v = Z + b."""
    save_preactivation(Z, b, Zs, c0)
    zero = like(0, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = v if v > zero else alpha * v


@jit
def sigmoid_forward(Z, b, alpha, Zs, c0):
    """Z <- 1 / (1 + e^-(Z + b))."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            z[j] = sigmoid(z[j] + b[j])


@jit
def tanh_forward(Z, b, alpha, Zs, c0):
    """Z <- tanh(Z + b)."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            z[j] = tanh(z[j] + b[j])


@jit
def elu_forward(Z, b, alpha, Zs, c0):
    """Z <- v if v > 0 else alpha (e^v - 1), v = Z + b."""
    save_preactivation(Z, b, Zs, c0)
    zero = like(0, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = v if v > zero else alpha * expm1(v)


@jit
def selu_forward(Z, b, alpha, Zs, c0):
    """Z <- lambda v if v > 0 else lambda alpha (e^v - 1), the SELU constants."""
    save_preactivation(Z, b, Zs, c0)
    zero = like(0, alpha)
    lam = like(SELU_LAMBDA, alpha)
    lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = lam * v if v > zero else lam_alpha * expm1(v)


@jit
def softplus_forward(Z, b, alpha, Zs, c0):
    """Z <- log(1 + e^(Z + b))."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            z[j] = softplus(z[j] + b[j])


@jit
def gelu_forward(Z, b, alpha, Zs, c0):
    """Z <- v Phi(v), v = Z + b (exact, with erf)."""
    save_preactivation(Z, b, Zs, c0)
    one = like(1, alpha)
    half = like(0.5, alpha)
    c = like(_INV_SQRT_2, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = half * v * (one + math.erf(v * c))


@jit
def gelu_tanh_forward(Z, b, alpha, Zs, c0):
    """Z <- v/2 (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), v = Z + b."""
    save_preactivation(Z, b, Zs, c0)
    one = like(1, alpha)
    half = like(0.5, alpha)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = half * v * (one + tanh(_gelu_tanh_inner(v)))


@jit
def swish_forward(Z, b, alpha, Zs, c0):
    """Z <- v sigmoid(v), v = Z + b."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        z = row_part(Z, r, c0, b.size)
        for j in range(b.size):
            v = z[j] + b[j]
            z[j] = v * sigmoid(v)


@jit
def softmax_forward(Z, b, alpha, Zs, c0):
    """Each row of Z <- softmax(row + b) (stable): whole rows (``c0`` 0), as an output layer's
    block always is."""
    save_preactivation(Z, b, Zs, c0)
    for r in range(Z.shape[0]):
        row = Z[r]
        for j in range(Z.shape[1]):
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


# The cross-entropy's softmax over a (rows, k) block, in passes: outputs are
# narrow (k = 10 for digits), and a loop over one row of 10 is too short for
# LLVM to vectorise, so the exponentials run over the whole contiguous
# block at once (the epilogue of a 32 x 10 block, measured: 2.3 us with the
# softmax row by row, 1.3 us now).  Prediction keeps the row-by-row
# softmax: its probabilities stay bit for bit what they were.


@jit
def shift_rows_by_max(Z, b):
    """Z <- Z + b - (max of the row of Z + b), row by row: every entry <= 0."""
    for r in range(Z.shape[0]):
        top = Z[r, 0] + b[0]
        for j in range(Z.shape[1]):
            v = Z[r, j] + b[j]
            Z[r, j] = v
            top = max(top, v)
        for j in range(Z.shape[1]):
            Z[r, j] = Z[r, j] - top


@jit
def exp_block(Z):
    """Z <- e^Z element-wise on a C-contiguous block, as one flat vectorised loop."""
    flat = flat_view(Z, 0, Z.size)  # no reshape helper call, no reference count
    for i in range(flat.size):
        flat[i] = exp(flat[i])


# ----------------------------------------------------------------- backward
# D <- D * f'(z) on columns c0..c1, one function per activation.  Shapes,
# for all: D, A (rows, n) whole rows of the upstream sensitivity and the
# layer's output; Zs (rows, n) holding z for GELU/swish, else anything
# (unused).  Softmax has no element-wise derivative: the losses handle it.


@jit
def identity_backward(D, A, Zs, alpha, c0, c1):
    """f' = 1: D unchanged."""


@jit
def relu_backward(D, A, Zs, alpha, c0, c1):
    """f' = 1 where a > 0, else 0."""
    zero = like(0, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] if a[j] > zero else zero


@jit
def leaky_relu_backward(D, A, Zs, alpha, c0, c1):
    """f' = 1 where a > 0, else alpha."""
    zero = like(0, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] if a[j] > zero else alpha * d[j]


@jit
def sigmoid_backward(D, A, Zs, alpha, c0, c1):
    """f' = a (1 - a)."""
    one = like(1, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] * a[j] * (one - a[j])


@jit
def tanh_backward(D, A, Zs, alpha, c0, c1):
    """f' = 1 - a^2."""
    one = like(1, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] * (one - a[j] * a[j])


@jit
def elu_backward(D, A, Zs, alpha, c0, c1):
    """f' = 1 where a > 0, else a + alpha."""
    zero = like(0, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] if a[j] > zero else d[j] * (a[j] + alpha)


@jit
def selu_backward(D, A, Zs, alpha, c0, c1):
    """f' = lambda where a > 0, else a + lambda alpha."""
    zero = like(0, alpha)
    lam = like(SELU_LAMBDA, alpha)
    lam_alpha = like(SELU_LAMBDA * SELU_ALPHA, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = d[j] * lam if a[j] > zero else d[j] * (a[j] + lam_alpha)


@jit
def softplus_backward(D, A, Zs, alpha, c0, c1):
    """f' = sigmoid(z) = 1 - e^-a."""
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        for j in range(c1 - c0):
            d[j] = -d[j] * expm1(-a[j])


@jit
def gelu_backward(D, A, Zs, alpha, c0, c1):
    """f' = Phi(z) + z phi(z), from the saved z."""
    one = like(1, alpha)
    half = like(0.5, alpha)
    c = like(_INV_SQRT_2, alpha)
    k = like(_INV_SQRT_2PI, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        zs = row_part(Zs, r, c0, c1 - c0)
        for j in range(c1 - c0):
            v = zs[j]
            cdf = half * (one + math.erf(v * c))
            d[j] = d[j] * (cdf + v * k * exp(-half * v * v))


@jit
def gelu_tanh_backward(D, A, Zs, alpha, c0, c1):
    """The derivative of the tanh form of GELU, from the saved z."""
    one = like(1, alpha)
    half = like(0.5, alpha)
    c = like(_SQRT_2_OVER_PI, alpha)
    c3 = like(3 * _GELU_CUBIC, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        zs = row_part(Zs, r, c0, c1 - c0)
        for j in range(c1 - c0):
            v = zs[j]
            t = tanh(_gelu_tanh_inner(v))
            d[j] = d[j] * (half * (one + t)
                           + half * v * (one - t * t) * c * (one + c3 * v * v))


@jit
def swish_backward(D, A, Zs, alpha, c0, c1):
    """f' = s + a (1 - s), s = sigmoid(z) from the saved z."""
    one = like(1, alpha)
    for r in range(D.shape[0]):
        d = row_part(D, r, c0, c1 - c0)
        a = row_part(A, r, c0, c1 - c0)
        zs = row_part(Zs, r, c0, c1 - c0)
        for j in range(c1 - c0):
            s = sigmoid(zs[j])
            d[j] = d[j] * (s + a[j] * (one - s))


#: The forward and backward function of every activation code (softmax's
#: backward is the identity: the losses apply its Jacobian themselves).
FORWARD = (identity_forward, sigmoid_forward, tanh_forward, relu_forward, leaky_relu_forward,
           elu_forward, selu_forward, softplus_forward, gelu_forward, gelu_tanh_forward,
           swish_forward, softmax_forward)
BACKWARD = (identity_backward, sigmoid_backward, tanh_backward, relu_backward,
            leaky_relu_backward, elu_backward, selu_backward, softplus_backward, gelu_backward,
            gelu_tanh_backward, swish_backward, identity_backward)


@jit(from_python=True)
def forward_block(code, Z, b, alpha, Zs, c0):
    """Bias + activation ``code`` over columns c0 .. c0 + b.size of a block, in place (every
    code; for tests and tools).

    The training and inference kernels call the one function a layer needs
    through :mod:`fastmlp.kernels.ops` instead, which compiles only those.
    """
    if code == IDENTITY:
        identity_forward(Z, b, alpha, Zs, c0)
    elif code == RELU:
        relu_forward(Z, b, alpha, Zs, c0)
    elif code == LEAKY_RELU:
        leaky_relu_forward(Z, b, alpha, Zs, c0)
    elif code == SIGMOID:
        sigmoid_forward(Z, b, alpha, Zs, c0)
    elif code == TANH:
        tanh_forward(Z, b, alpha, Zs, c0)
    elif code == ELU:
        elu_forward(Z, b, alpha, Zs, c0)
    elif code == SELU:
        selu_forward(Z, b, alpha, Zs, c0)
    elif code == SOFTPLUS:
        softplus_forward(Z, b, alpha, Zs, c0)
    elif code == GELU:
        gelu_forward(Z, b, alpha, Zs, c0)
    elif code == GELU_TANH:
        gelu_tanh_forward(Z, b, alpha, Zs, c0)
    elif code == SWISH:
        swish_forward(Z, b, alpha, Zs, c0)
    elif code == SOFTMAX:
        softmax_forward(Z, b, alpha, Zs, c0)


@jit(from_python=True)
def backward_block(code, D, A, Zs, alpha, c0, c1):
    """``D <- D * f'`` for activation ``code`` over columns c0..c1 of a block, in place (every
    code)."""
    if code == RELU:
        relu_backward(D, A, Zs, alpha, c0, c1)
    elif code == LEAKY_RELU:
        leaky_relu_backward(D, A, Zs, alpha, c0, c1)
    elif code == SIGMOID:
        sigmoid_backward(D, A, Zs, alpha, c0, c1)
    elif code == TANH:
        tanh_backward(D, A, Zs, alpha, c0, c1)
    elif code == ELU:
        elu_backward(D, A, Zs, alpha, c0, c1)
    elif code == SELU:
        selu_backward(D, A, Zs, alpha, c0, c1)
    elif code == SOFTPLUS:
        softplus_backward(D, A, Zs, alpha, c0, c1)
    elif code == GELU:
        gelu_backward(D, A, Zs, alpha, c0, c1)
    elif code == GELU_TANH:
        gelu_tanh_backward(D, A, Zs, alpha, c0, c1)
    elif code == SWISH:
        swish_backward(D, A, Zs, alpha, c0, c1)
