"""L2 and L1 penalties that are part of the training objective.

    loss <- loss + 1/2 l2 sum w^2 + l1 sum |w|        grad <- grad + l2 w + l1 sign(w)

over the weights, and the biases (with batch normalisation's gamma and
beta) too when asked.  ``reg`` (float64) is
``[l2, l1, penalize_biases]``.  Work is split between threads by contiguous
shares of each layer's weights and biases.
"""

import numpy as np

from .config import jit
from .mathfun import like
from .shares import share
from .structs import B_OFFSET, FAN_IN, FAN_OUT, G_OFFSET, W_OFFSET

L2 = 0
L1 = 1
BIASES = 2


@jit
def active(reg):
    """Whether any penalty is on."""
    return reg[L2] > 0.0 or reg[L1] > 0.0


@jit
def range_value(params, lo, hi, l2, l1):
    """The penalty of ``params[lo:hi]`` (float64): 1/2 l2 sum w^2 + l1 sum |w|."""
    squares = 0.0
    absolute = 0.0
    for i in range(np.uint64(lo), np.uint64(hi)):
        v = float(params[i])
        squares += v * v
        absolute += abs(v)
    return 0.5 * l2 * squares + l1 * absolute


@jit
def value_share(params, layout, reg, t, n_threads):
    """Thread t's share of the penalty value (float64)."""
    total = 0.0
    for l in range(layout.shape[0]):
        w, n_w = layout[l, W_OFFSET], layout[l, FAN_IN] * layout[l, FAN_OUT]
        lo, hi = share(n_w, t, n_threads)
        total += range_value(params, w + lo, w + hi, reg[L2], reg[L1])
        if reg[BIASES] != 0.0:
            lo, hi = share(layout[l, FAN_OUT], t, n_threads)
            for b in (layout[l, B_OFFSET], layout[l, G_OFFSET]):
                if b >= 0:
                    total += range_value(params, b + lo, b + hi, reg[L2], reg[L1])
    return total


@jit
def _add_ranges(params, grad, lo, hi, l2, l1):
    zero = like(0, l2)
    one = like(1, l2)
    for i in range(np.uint64(lo), np.uint64(hi)):
        p = params[i]
        sign = one if p > zero else (-one if p < zero else zero)
        grad[i] = grad[i] + l2 * p + l1 * sign


@jit
def add_gradient_share(params, grad, layout, reg, t, n_threads):
    """Add thread t's share of the penalty gradient to ``grad``."""
    l2, l1 = like(reg[L2], params), like(reg[L1], params)
    for l in range(layout.shape[0]):
        w, n_w = layout[l, W_OFFSET], layout[l, FAN_IN] * layout[l, FAN_OUT]
        lo, hi = share(n_w, t, n_threads)
        _add_ranges(params, grad, w + lo, w + hi, l2, l1)
        if reg[BIASES] != 0.0:
            lo, hi = share(layout[l, FAN_OUT], t, n_threads)
            for b in (layout[l, B_OFFSET], layout[l, G_OFFSET]):
                if b >= 0:
                    _add_ranges(params, grad, b + lo, b + hi, l2, l1)


@jit
def with_penalty(c, reg, bias):
    """Step constants ``c`` with the penalty gradient folded into its L2/L1 slots.

    For the fused update, where the penalty gradient is added per element
    like the optimizer's own coupled decay.  ``bias``: the range holds biases.
    """
    if bias and reg[BIASES] == 0.0:
        return c
    return (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10] + reg[L2],
            c[11] + reg[L1], c[12], c[13], c[14], c[15])


# The same signatures, doing nothing: what objectives without a penalty
# get (:mod:`fastmlp.kernels.ops`), so that the functions above compile only
# where a penalty is set.

@jit
def no_value_share(params, layout, reg, t, n_threads):
    """Stands for :func:`value_share` without a penalty: 0."""
    return 0.0


@jit
def no_gradient_share(params, grad, layout, reg, t, n_threads):
    """Stands for :func:`add_gradient_share` without a penalty (never called)."""
