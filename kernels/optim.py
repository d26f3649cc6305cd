"""Optimizer updates: one per-element loop over the flat parameter buffer.

Every optimizer is a function ``<name>_range(p, g, state, c, lo, hi)`` that
updates elements ``lo..hi`` of ``p`` in place from the gradient ``g``, its
state rows ``state[i]`` (flat buffers of the same length) and the step's
constants ``c``, which :func:`step_scalars` derives once per step from the
hyper-parameters ``hyper`` (float64; layout below) and the 1-based step
number.  :func:`step` runs one over the whole buffer on the calling
thread (inside the training loop); :func:`step_parallel` splits it over the
Numba threads (``opt.step`` from Python).  Adding an optimizer: write its
``_range`` function, give it a code, add a branch to :func:`step_scalars`
and to :func:`update_range`.

Scalars are computed in float64 and rounded once to the buffer's dtype, as
``torch.optim`` does with its Python-float scalars.  Loops index with
unsigned integers: with a signed start Numba must handle negative indices,
and that check alone stops LLVM from vectorising the loop (measured 4x).
"""

import numpy as np
from numba import prange

from .config import jit
from .mathfun import like

SGD = 0
ADAM = 1

#: hyper layout per optimizer (float64 arrays)
SGD_HYPER = ("lr", "momentum", "dampening", "nesterov", "weight_decay")
ADAM_HYPER = ("lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad")

#: Below this many elements the parallel step runs serially (launch overhead).
PARALLEL_MIN_SIZE = 1 << 16


@jit
def step_scalars(kind, hyper, t):
    """The per-step constants of optimizer ``kind`` at step t (a float64 8-tuple).

    Computed once per step, not once per range: a step may update a layer
    in many small slices (a column block of W is one range per row).
    """
    if kind == ADAM:
        beta1, beta2 = hyper[1], hyper[2]
        return (hyper[0] / (1.0 - beta1 ** t), 1.0 / np.sqrt(1.0 - beta2 ** t), 1.0 - beta1,
                beta2, 1.0 - beta2, hyper[3], hyper[4], hyper[5])
    # SGD: lr, momentum, 1 - dampening, nesterov, weight decay, first step
    return (hyper[0], hyper[1], 1.0 - hyper[2], hyper[3], hyper[4], 1.0 if t == 1 else 0.0,
            0.0, 0.0)


@jit
def sgd_range(p, g, state, c, lo, hi):
    """torch.optim.SGD on p[lo:hi].  state[0] = momentum buffer; c from :func:`step_scalars`.

    g <- g + wd p;  buf <- g (t = 1) or mu buf + (1 - dampening) g;
    g <- g + mu buf (nesterov) or buf;  p <- p - lr g
    """
    lr = like(c[0], p)
    mu = like(c[1], p)
    keep = like(c[2], p)
    nesterov = c[3] != 0.0
    wd = like(c[4], p)
    if c[1] == 0.0:
        for i in range(np.uint64(lo), np.uint64(hi)):
            gi = g[i] + wd * p[i]
            p[i] = p[i] - lr * gi
        return
    buf = state[0]
    first = c[5] != 0.0
    for i in range(np.uint64(lo), np.uint64(hi)):
        gi = g[i] + wd * p[i]
        b = gi if first else mu * buf[i] + keep * gi
        buf[i] = b
        step = gi + mu * b if nesterov else b
        p[i] = p[i] - lr * step


@jit
def adam_range(p, g, state, c, lo, hi):
    """torch.optim.Adam on p[lo:hi].  state[0] = m, [1] = v, [2] = max v (amsgrad).

    g <- g + wd p;  m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    (amsgrad: v in the denominator replaced by its running maximum).
    ``c`` from :func:`step_scalars`.
    """
    step_size = like(c[0], p)
    inv_bc2_sqrt = like(c[1], p)
    one_minus_b1 = like(c[2], p)
    b2 = like(c[3], p)
    one_minus_b2 = like(c[4], p)
    eps = like(c[5], p)
    wd = like(c[6], p)
    m = state[0]
    v = state[1]
    if c[7] != 0.0:
        vmax = state[2]
        for i in range(np.uint64(lo), np.uint64(hi)):
            gi = g[i] + wd * p[i]
            mi = m[i] + one_minus_b1 * (gi - m[i])
            vi = b2 * v[i] + one_minus_b2 * gi * gi
            m[i] = mi
            v[i] = vi
            top = vmax[i] if vmax[i] > vi else vi
            vmax[i] = top
            p[i] = p[i] - step_size * mi / (np.sqrt(top) * inv_bc2_sqrt + eps)
        return
    for i in range(np.uint64(lo), np.uint64(hi)):
        gi = g[i] + wd * p[i]
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step_size * mi / (np.sqrt(vi) * inv_bc2_sqrt + eps)


@jit
def update_range(kind, p, g, state, c, lo, hi):
    """Dispatch to the optimizer ``kind`` over p[lo:hi] (``c``: :func:`step_scalars`)."""
    if kind == SGD:
        sgd_range(p, g, state, c, lo, hi)
    elif kind == ADAM:
        adam_range(p, g, state, c, lo, hi)


@jit
def step(kind, p, g, state, hyper, count):
    """One optimizer step over the whole buffer on this thread; ``count[0] += 1``."""
    count[0] += 1
    update_range(kind, p, g, state, step_scalars(kind, hyper, count[0]), 0, p.size)


@jit(parallel=True)
def step_parallel(kind, p, g, state, hyper, count, n_chunks):
    """One optimizer step split in ``n_chunks`` contiguous chunks over the Numba threads.

    (The caller passes ``n_chunks``: calling ``numba.get_num_threads()`` in
    here would make the function uncacheable.)
    """
    count[0] += 1
    c = step_scalars(kind, hyper, count[0])
    n = p.size
    if n < PARALLEL_MIN_SIZE or n_chunks < 2:
        update_range(kind, p, g, state, c, 0, n)
        return
    size = (n + n_chunks - 1) // n_chunks
    for k in prange(n_chunks):
        update_range(kind, p, g, state, c, k * size, min(n, (k + 1) * size))
