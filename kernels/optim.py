"""Optimizer updates: one per-element loop over the flat parameter buffer.

Every optimizer is a function ``<name>_range(p, g, state, hyper, t, lo, hi)``
that updates elements ``lo..hi`` of ``p`` in place from the gradient ``g``,
its state rows ``state[i]`` (flat buffers of the same length) and its
hyper-parameters ``hyper`` (float64; layout below).  ``t`` is the 1-based
step number.  :func:`step` runs one over the whole buffer on the calling
thread (inside the training loop); :func:`step_parallel` splits it over the
Numba threads (``opt.step`` from Python).  Adding an optimizer: write its
``_range`` function, give it a code, add a branch to :func:`update_range`.

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
def sgd_range(p, g, state, hyper, t, lo, hi):
    """torch.optim.SGD on p[lo:hi].  state[0] = momentum buffer.

    g <- g + wd p;  buf <- g (t = 1) or mu buf + (1 - dampening) g;
    g <- g + mu buf (nesterov) or buf;  p <- p - lr g
    """
    lr = like(hyper[0], p)
    mu = like(hyper[1], p)
    keep = like(1.0 - hyper[2], p)
    nesterov = hyper[3] != 0.0
    wd = like(hyper[4], p)
    if hyper[1] == 0.0:
        for i in range(np.uint64(lo), np.uint64(hi)):
            gi = g[i] + wd * p[i]
            p[i] = p[i] - lr * gi
        return
    buf = state[0]
    first = t == 1
    for i in range(np.uint64(lo), np.uint64(hi)):
        gi = g[i] + wd * p[i]
        b = gi if first else mu * buf[i] + keep * gi
        buf[i] = b
        step = gi + mu * b if nesterov else b
        p[i] = p[i] - lr * step


@jit
def adam_range(p, g, state, hyper, t, lo, hi):
    """torch.optim.Adam on p[lo:hi].  state[0] = m, state[1] = v, state[2] = max v (amsgrad).

    g <- g + wd p;  m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    (amsgrad: v in the denominator replaced by its running maximum).
    """
    beta1, beta2 = hyper[1], hyper[2]
    step_size = like(hyper[0] / (1.0 - beta1 ** t), p)
    inv_bc2_sqrt = like(1.0 / np.sqrt(1.0 - beta2 ** t), p)
    one_minus_b1 = like(1.0 - beta1, p)
    b2 = like(beta2, p)
    one_minus_b2 = like(1.0 - beta2, p)
    eps = like(hyper[3], p)
    wd = like(hyper[4], p)
    m = state[0]
    v = state[1]
    if hyper[5] != 0.0:
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
def update_range(kind, p, g, state, hyper, t, lo, hi):
    """Dispatch to the optimizer ``kind`` over p[lo:hi]."""
    if kind == SGD:
        sgd_range(p, g, state, hyper, t, lo, hi)
    elif kind == ADAM:
        adam_range(p, g, state, hyper, t, lo, hi)


@jit
def step(kind, p, g, state, hyper, count):
    """One optimizer step over the whole buffer on this thread; ``count[0] += 1``."""
    count[0] += 1
    update_range(kind, p, g, state, hyper, count[0], 0, p.size)


@jit(parallel=True)
def step_parallel(kind, p, g, state, hyper, count, n_chunks):
    """One optimizer step split in ``n_chunks`` contiguous chunks over the Numba threads.

    (The caller passes ``n_chunks``: calling ``numba.get_num_threads()`` in
    here would make the function uncacheable.)
    """
    count[0] += 1
    t = count[0]
    n = p.size
    if n < PARALLEL_MIN_SIZE or n_chunks < 2:
        update_range(kind, p, g, state, hyper, t, 0, n)
        return
    size = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        update_range(kind, p, g, state, hyper, t, c * size, min(n, (c + 1) * size))
