"""Optimizer updates: one per-element loop over the flat parameter buffer.

Every optimizer is a function ``<name>_range(p, g, state, c, lo, hi)`` that
updates elements ``lo..hi`` of ``p`` in place from the gradient ``g``, its
state rows ``state[i]`` (flat buffers of the same length) and the step's
constants ``c``, which its ``<name>_constants(hyper, t, lr, sstate, scale)``
derives once per step from the hyper-parameters ``hyper`` (float64, layout
below), the 1-based step number, the learning rate in effect and the
optimizer's scalar state.  Adding an optimizer: write both functions, give
it a code, put them in :data:`CONSTANTS` and :data:`RANGES` at that code,
and add a branch to :func:`advance_scalars` if it keeps scalar state (and
one to :func:`update_range`, the dispatcher tests use).  The training
kernels receive the two functions of the optimizer in use as pointers
(:mod:`fastmlp.kernels.ops`), so only those are compiled.

Before its own rule, every optimizer passes the gradient through the same
element-wise transforms, in this order (each off at its neutral value):

    g <- g * s                      s = min(1, max_norm / (||g|| + 1e-6))   clip by global norm
    g <- clip(g, -v, v)                                                    clip by value
    g <- g + l2 * p + l1 * sign(p)                                         coupled L2 and L1
    p <- p * (1 - lr * wd)                                                 decoupled decay (AdamW)

Scalars are computed in float64 and rounded once to the buffer's dtype, as
``torch.optim`` does with its Python-float scalars.  Loops index with
unsigned integers: with a signed start Numba must handle negative indices,
and that check alone stops LLVM from vectorising the loop (measured 4x).
"""

import numpy as np
from numba import prange

from .config import jit
from .mathfun import like

#: Below this many parameters an optimizer step called from Python
#: (``Optimizer.step``) runs on one thread (a parallel region's launch
#: overhead).
OPTIMIZER_PARALLEL_MIN_SIZE = 1 << 16

SGD = 0
ADAM = 1
ADAGRAD = 2
RMSPROP = 3
ADADELTA = 4
ADAMAX = 5
NADAM = 6
RADAM = 7
RPROP = 8

#: ``hyper`` layout: slots 0..7 belong to the optimizer, 8..12 to the transforms.
HYPER_SIZE = 16
CORE_HYPER = {
    SGD: ("lr", "momentum", "dampening", "nesterov"),
    ADAM: ("lr", "beta1", "beta2", "eps", "amsgrad"),
    ADAGRAD: ("lr", "lr_decay", "eps", "initial_accumulator_value"),
    RMSPROP: ("lr", "alpha", "eps", "momentum", "centered"),
    ADADELTA: ("lr", "rho", "eps"),
    ADAMAX: ("lr", "beta1", "beta2", "eps"),
    NADAM: ("lr", "beta1", "beta2", "eps", "momentum_decay"),
    RADAM: ("lr", "beta1", "beta2", "eps"),
    RPROP: ("lr", "eta_minus", "eta_plus", "step_size_min", "step_size_max"),
}
CLIP_NORM = 8
CLIP_VALUE = 9
L2 = 10
L1 = 11
DECOUPLED = 12

#: Size of the float64 scalar state (NAdam's running product of momenta).
SCALAR_STATE = 4



# The constants of step t, one function per optimizer (a float64 16-tuple).
# ``lr`` is the learning rate in effect, ``sstate`` the optimizer's scalar
# state before this step, ``scale`` the global-norm clipping factor (1 when
# off).  Computed once per step, not once per range: a step may update a
# layer in many small slices (a column block of W is one range per row).
# Slots 0..7 are the optimizer's own; slots 8..12 (:func:`_transform_constants`):
# gradient scale, clip value (inf when off), l2, l1 and the decoupled decay
# factor 1 - lr * wd.


@jit
def _transform_constants(hyper, lr, scale):
    clip = hyper[CLIP_VALUE] if hyper[CLIP_VALUE] > 0.0 else np.inf
    return (scale, clip, hyper[L2], hyper[L1], 1.0 - lr * hyper[DECOUPLED], 0.0, 0.0, 0.0)


@jit
def sgd_constants(hyper, t, lr, sstate, scale):
    """lr, momentum, 1 - dampening, nesterov, first step."""
    core = (lr, hyper[1], 1.0 - hyper[2], hyper[3], 1.0 if t == 1 else 0.0, 0.0, 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def adam_constants(hyper, t, lr, sstate, scale):
    """lr / (1 - b1^t), 1 / sqrt(1 - b2^t), 1 - b1, b2, 1 - b2, eps, amsgrad."""
    b1, b2 = hyper[1], hyper[2]
    core = (lr / (1.0 - b1 ** t), 1.0 / np.sqrt(1.0 - b2 ** t), 1.0 - b1, b2, 1.0 - b2,
            hyper[3], hyper[4], 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def adagrad_constants(hyper, t, lr, sstate, scale):
    """lr / (1 + (t - 1) lr_decay), eps."""
    core = (lr / (1.0 + (t - 1) * hyper[1]), hyper[2], hyper[3], 0.0, 0.0, 0.0, 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def rmsprop_constants(hyper, t, lr, sstate, scale):
    """lr, alpha, 1 - alpha, eps, momentum, centered."""
    core = (lr, hyper[1], 1.0 - hyper[1], hyper[2], hyper[3], hyper[4], 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def adadelta_constants(hyper, t, lr, sstate, scale):
    """lr, rho, 1 - rho, eps."""
    core = (lr, hyper[1], 1.0 - hyper[1], hyper[2], 0.0, 0.0, 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def adamax_constants(hyper, t, lr, sstate, scale):
    """lr / (1 - b1^t), 1 - b1, b2, eps."""
    b1 = hyper[1]
    core = (lr / (1.0 - b1 ** t), 1.0 - b1, hyper[2], hyper[3], 0.0, 0.0, 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def nadam_constants(hyper, t, lr, sstate, scale):
    """Step sizes of the gradient and momentum terms, 1 - b1, b2, 1 - b2, 1 / (1 - b2^t), eps."""
    b1, b2, psi = hyper[1], hyper[2], hyper[4]
    mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    product = sstate[0] * mu  # sstate[0]: product of mu up to step t-1 (1 at start)
    core = (-lr * (1.0 - mu) / (1.0 - product), -lr * mu_next / (1.0 - product * mu_next),
            1.0 - b1, b2, 1.0 - b2, 1.0 / (1.0 - b2 ** t), hyper[3], 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def radam_constants(hyper, t, lr, sstate, scale):
    """lr / (1 - b1^t), rectification * sqrt(1 - b2^t), 1 - b1, b2, 1 - b2, eps, rectified."""
    b1, b2 = hyper[1], hyper[2]
    bc1, bc2 = 1.0 - b1 ** t, 1.0 - b2 ** t
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * t * b2 ** t / bc2
    rect = 0.0
    if rho_t > 5.0:
        rect = np.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                       / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
    core = (lr / bc1, rect * np.sqrt(bc2), 1.0 - b1, b2, 1.0 - b2, hyper[3],
            1.0 if rho_t > 5.0 else 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def rprop_constants(hyper, t, lr, sstate, scale):
    """lr, eta-, eta+, smallest and largest step, first step."""
    core = (lr, hyper[1], hyper[2], hyper[3], hyper[4], 1.0 if t == 1 else 0.0, 0.0, 0.0)
    return core + _transform_constants(hyper, lr, scale)


@jit
def advance_scalars(kind, hyper, t, sstate):
    """Update the scalar state after step t (called once per step, by one thread)."""
    if kind == NADAM:
        sstate[0] = sstate[0] * hyper[1] * (1.0 - 0.5 * 0.96 ** (t * hyper[4]))


@jit
def _sign(x):
    zero = like(0, x)
    one = like(1, x)
    return one if x > zero else (-one if x < zero else zero)


@jit
def transformed(gi, pi, scale, clip, l2, l1):
    """The gradient after the element-wise transforms (scale, clip, coupled L2 and L1)."""
    g = gi * scale
    g = g if g < clip else clip
    g = g if g > -clip else -clip
    return g + l2 * pi + l1 * _sign(pi)


@jit
def _transforms(c, p):
    return (like(c[8], p), like(c[9], p), like(c[10], p), like(c[11], p), like(c[12], p))


@jit
def untransformed(c):
    """True when the step's transforms (slots 8..12 of ``c``) leave gradient and weights alone."""
    return c[8] == 1.0 and c[9] == np.inf and c[10] == 0.0 and c[11] == 0.0 and c[12] == 1.0


@jit
def sgd_range(p, g, state, c, lo, hi):
    """torch.optim.SGD on p[lo:hi].  state[0] = momentum buffer.

    buf <- g (first step) or mu buf + (1 - dampening) g;
    g <- g + mu buf (nesterov) or buf;  p <- p - lr g
    """
    lr, mu, keep = like(c[0], p), like(c[1], p), like(c[2], p)
    nesterov, first = c[3] != 0.0, c[4] != 0.0
    scale, clip, l2, l1, decay = _transforms(c, p)
    if c[1] == 0.0:
        for i in range(np.uint64(lo), np.uint64(hi)):
            pi = p[i] * decay
            p[i] = pi - lr * transformed(g[i], pi, scale, clip, l2, l1)
        return
    buf = state[0]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        b = gi if first else mu * buf[i] + keep * gi
        buf[i] = b
        p[i] = pi - lr * (gi + mu * b if nesterov else b)


@jit
def adam_range(p, g, state, c, lo, hi):
    """torch.optim.Adam / AdamW on p[lo:hi].  state: m, v (, max v for amsgrad).

    m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    step_size, inv_bc2_sqrt = like(c[0], p), like(c[1], p)
    one_minus_b1, b2 = like(c[2], p), like(c[3], p)
    one_minus_b2, eps = like(c[4], p), like(c[5], p)
    scale, clip, l2, l1, decay = _transforms(c, p)
    m, v = state[0], state[1]
    if c[6] != 0.0:
        vmax = state[2]
        for i in range(np.uint64(lo), np.uint64(hi)):
            pi = p[i] * decay
            gi = transformed(g[i], pi, scale, clip, l2, l1)
            mi = m[i] + one_minus_b1 * (gi - m[i])
            vi = b2 * v[i] + one_minus_b2 * gi * gi
            m[i] = mi
            v[i] = vi
            top = vmax[i] if vmax[i] > vi else vi
            vmax[i] = top
            p[i] = pi - step_size * mi / (np.sqrt(top) * inv_bc2_sqrt + eps)
        return
    if untransformed(c):  # the common case, 14% faster without the transforms' arithmetic
        for i in range(np.uint64(lo), np.uint64(hi)):
            gi = g[i]
            mi = m[i] + one_minus_b1 * (gi - m[i])
            vi = b2 * v[i] + one_minus_b2 * gi * gi
            m[i] = mi
            v[i] = vi
            p[i] = p[i] - step_size * mi / (np.sqrt(vi) * inv_bc2_sqrt + eps)
        return
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * mi / (np.sqrt(vi) * inv_bc2_sqrt + eps)


@jit
def adagrad_range(p, g, state, c, lo, hi):
    """torch.optim.Adagrad on p[lo:hi].  state[0] = sum of squared gradients.

    G <- G + g^2;  p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(G) + eps)
    (the accumulator starts at initial_accumulator_value)
    """
    clr, eps = like(c[0], p), like(c[1], p)
    scale, clip, l2, l1, decay = _transforms(c, p)
    total = state[0]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        s = total[i] + gi * gi
        total[i] = s
        p[i] = pi - clr * gi / (np.sqrt(s) + eps)


@jit
def rmsprop_range(p, g, state, c, lo, hi):
    """torch.optim.RMSprop on p[lo:hi].  state: square avg, grad avg (centered), momentum buf.

    v <- alpha v + (1 - alpha) g^2;  d <- sqrt(v - gbar^2 if centered else v) + eps
    p <- p - lr g / d   (momentum: buf <- mu buf + g / d;  p <- p - lr buf)
    """
    lr, alpha, one_minus_alpha = like(c[0], p), like(c[1], p), like(c[2], p)
    eps, mu = like(c[3], p), like(c[4], p)
    centered, use_momentum = c[5] != 0.0, c[4] != 0.0
    scale, clip, l2, l1, decay = _transforms(c, p)
    # slots: square avg, then the grad avg if centered, then the momentum buffer
    sq = state[0]
    avg = state[1 if centered else 0]
    buf = state[(2 if centered else 1) if use_momentum else 0]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        s = alpha * sq[i] + one_minus_alpha * gi * gi
        sq[i] = s
        if centered:
            a = avg[i] + one_minus_alpha * (gi - avg[i])
            avg[i] = a
            s = s - a * a
        d = np.sqrt(s) + eps
        if use_momentum:
            b = mu * buf[i] + gi / d
            buf[i] = b
            p[i] = pi - lr * b
        else:
            p[i] = pi - lr * gi / d


@jit
def adadelta_range(p, g, state, c, lo, hi):
    """torch.optim.Adadelta on p[lo:hi].  state: square avg of g, of the updates.

    v <- rho v + (1 - rho) g^2;  dx <- sqrt(u + eps) / sqrt(v + eps) * g
    u <- rho u + (1 - rho) dx^2;  p <- p - lr dx
    """
    lr, rho, one_minus_rho, eps = like(c[0], p), like(c[1], p), like(c[2], p), like(c[3], p)
    scale, clip, l2, l1, decay = _transforms(c, p)
    sq, acc = state[0], state[1]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        s = rho * sq[i] + one_minus_rho * gi * gi
        sq[i] = s
        dx = np.sqrt(acc[i] + eps) / np.sqrt(s + eps) * gi
        acc[i] = rho * acc[i] + one_minus_rho * dx * dx
        p[i] = pi - lr * dx


@jit
def adamax_range(p, g, state, c, lo, hi):
    """torch.optim.Adamax on p[lo:hi].  state: m, u (infinity norm).

    m <- m + (1 - b1)(g - m);  u <- max(b2 u, |g| + eps);  p <- p - lr / (1 - b1^t) * m / u
    """
    clr, one_minus_b1, b2, eps = like(c[0], p), like(c[1], p), like(c[2], p), like(c[3], p)
    scale, clip, l2, l1, decay = _transforms(c, p)
    m, u = state[0], state[1]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        mi = m[i] + one_minus_b1 * (gi - m[i])
        m[i] = mi
        a = b2 * u[i]
        b = abs(gi) + eps
        ui = a if a > b else b
        u[i] = ui
        p[i] = pi - clr * mi / ui


@jit
def nadam_range(p, g, state, c, lo, hi):
    """torch.optim.NAdam on p[lo:hi].  state: m, v.

    m <- m + (1 - b1)(g - m);  v <- b2 v + (1 - b2) g^2;  d <- sqrt(v / (1 - b2^t)) + eps
    p <- p - lr (1 - mu_t) / (1 - prod mu_1..t) g / d - lr mu_{t+1} / (1 - prod mu_1..t+1) m / d
    """
    a, b = like(c[0], p), like(c[1], p)
    one_minus_b1, b2, one_minus_b2 = like(c[2], p), like(c[3], p), like(c[4], p)
    inv_bc2, eps = like(c[5], p), like(c[6], p)
    scale, clip, l2, l1, decay = _transforms(c, p)
    m, v = state[0], state[1]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        d = np.sqrt(vi * inv_bc2) + eps
        p[i] = pi + a * gi / d + b * mi / d


@jit
def radam_range(p, g, state, c, lo, hi):
    """torch.optim.RAdam on p[lo:hi].  state: m, v.

    m, v as Adam;  rectified (rho_t > 5):
                       p <- p - lr / (1 - b1^t) m r sqrt(1 - b2^t) / (sqrt(v) + eps)
    otherwise:         p <- p - lr / (1 - b1^t) m
    """
    clr, rect = like(c[0], p), like(c[1], p)
    one_minus_b1, b2 = like(c[2], p), like(c[3], p)
    one_minus_b2, eps = like(c[4], p), like(c[5], p)
    rectified = c[6] != 0.0
    scale, clip, l2, l1, decay = _transforms(c, p)
    m, v = state[0], state[1]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = b2 * v[i] + one_minus_b2 * gi * gi
        m[i] = mi
        v[i] = vi
        if rectified:
            p[i] = pi - clr * mi * rect / (np.sqrt(vi) + eps)
        else:
            p[i] = pi - clr * mi


@jit
def rprop_range(p, g, state, c, lo, hi):
    """torch.optim.Rprop (the iRprop- variant) on p[lo:hi].  state: previous g, step sizes.

    s <- sign(g * g_prev);  step <- clip(step * (eta+ if s > 0, eta- if s < 0, 1 if 0))
    g <- 0 where s < 0;  p <- p - sign(g) step;  g_prev <- g   (steps start at lr)
    """
    lr, eta_minus, eta_plus = like(c[0], p), like(c[1], p), like(c[2], p)
    smin, smax = like(c[3], p), like(c[4], p)
    first = c[5] != 0.0
    scale, clip, l2, l1, decay = _transforms(c, p)
    zero = like(0, lr)
    one = like(1, lr)
    prev, steps = state[0], state[1]
    for i in range(np.uint64(lo), np.uint64(hi)):
        pi = p[i] * decay
        gi = transformed(g[i], pi, scale, clip, l2, l1)
        step = lr if first else steps[i]
        prod = gi * prev[i]
        factor = eta_plus if prod > zero else (eta_minus if prod < zero else one)
        step = step * factor
        step = step if step > smin else smin
        step = step if step < smax else smax
        steps[i] = step
        gi = zero if prod < zero else gi
        prev[i] = gi
        p[i] = pi - _sign(gi) * step


@jit
def no_update(p, g, state, c, lo, hi):
    """The update of passes that only compute gradients (evaluation, ``loss_and_grad``)."""


@jit
def no_constants(hyper, t, lr, sstate, scale):
    """The step constants of passes that update nothing: zeros."""
    return (0.0,) * 16


#: Per optimizer code: the function of its step constants and its update.
CONSTANTS = (sgd_constants, adam_constants, adagrad_constants, rmsprop_constants,
             adadelta_constants, adamax_constants, nadam_constants, radam_constants,
             rprop_constants)
RANGES = (sgd_range, adam_range, adagrad_range, rmsprop_range, adadelta_range, adamax_range,
          nadam_range, radam_range, rprop_range)


@jit(from_python=True)
def update_range(kind, p, g, state, c, lo, hi):
    """Dispatch to the optimizer ``kind`` over p[lo:hi] (every optimizer; for tests and tools).

    The training kernels call the one update a run uses through
    :mod:`fastmlp.kernels.ops`, which compiles only that one.
    """
    if kind == ADAM:
        adam_range(p, g, state, c, lo, hi)
    elif kind == SGD:
        sgd_range(p, g, state, c, lo, hi)
    elif kind == ADAGRAD:
        adagrad_range(p, g, state, c, lo, hi)
    elif kind == RMSPROP:
        rmsprop_range(p, g, state, c, lo, hi)
    elif kind == ADADELTA:
        adadelta_range(p, g, state, c, lo, hi)
    elif kind == ADAMAX:
        adamax_range(p, g, state, c, lo, hi)
    elif kind == NADAM:
        nadam_range(p, g, state, c, lo, hi)
    elif kind == RADAM:
        radam_range(p, g, state, c, lo, hi)
    elif kind == RPROP:
        rprop_range(p, g, state, c, lo, hi)


@jit
def sum_of_squares(x, lo, hi):
    """sum x[lo:hi]^2 in float64."""
    total = 0.0
    for i in range(np.uint64(lo), np.uint64(hi)):
        v = float(x[i])
        total += v * v
    return total


@jit
def clip_scale(hyper, squares):
    """The global-norm clipping factor min(1, max_norm / (||g|| + 1e-6)) (1 when off)."""
    if hyper[CLIP_NORM] <= 0.0:
        return 1.0
    return min(1.0, hyper[CLIP_NORM] / (np.sqrt(squares) + 1e-6))


@jit(from_python=True)
def step(update, constants, kind, p, g, state, hyper, count, sstate, lr):
    """One optimizer step over the whole buffer on this thread; ``count[0] += 1``.

    ``update`` and ``constants`` are the optimizer's functions (pointers
    from :mod:`fastmlp.kernels.ops`), ``kind`` its code.
    """
    count[0] += 1
    scale = clip_scale(hyper, sum_of_squares(g, 0, g.size)) if hyper[CLIP_NORM] > 0.0 else 1.0
    update(p, g, state, constants(hyper, count[0], lr, sstate, scale), np.int64(0), p.size)
    advance_scalars(kind, hyper, count[0], sstate)


@jit(parallel=True, from_python=True)
def step_parallel(update, constants, kind, p, g, state, hyper, count, sstate, lr, n_chunks):
    """One optimizer step split in ``n_chunks`` contiguous chunks over the Numba threads.

    (The caller passes ``n_chunks``: calling ``numba.get_num_threads()`` in
    here would make the function uncacheable.)
    """
    n = p.size
    if n < OPTIMIZER_PARALLEL_MIN_SIZE or n_chunks < 2:
        step(update, constants, kind, p, g, state, hyper, count, sstate, lr)
        return
    count[0] += 1
    size = (n + n_chunks - 1) // n_chunks
    scale = 1.0
    if hyper[CLIP_NORM] > 0.0:
        squares = 0.0
        for k in prange(n_chunks):
            squares += sum_of_squares(g, k * size, min(n, (k + 1) * size))
        scale = clip_scale(hyper, squares)
    c = constants(hyper, count[0], lr, sstate, scale)
    for k in prange(n_chunks):
        update(p, g, state, c, k * size, min(n, (k + 1) * size))
    advance_scalars(kind, hyper, count[0], sstate)
