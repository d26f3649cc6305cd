"""Multi-threaded training steps run by a team of threads inside one parallel region.

Each function here is executed by every thread of the team (``t`` is the
thread's number, ``n_threads`` the team size) and returns after the same
sequence of barriers on all of them.  The work splits are those of
:mod:`fastmlp.kernels.network`: rows or columns of each layer's GEMM,
slices of each weight gradient; the barriers (:mod:`fastmlp.kernels.sync`)
stand where a phase needs the whole result of the one before.

Optimizer updates are fused into the backward pass: a thread updates the
slice of W_l (and b_l) whose gradient it has just computed, after the
barrier that ends layer l's backward share -- the first moment nobody reads
W_l any more (the upstream D_l W_l^T is done).  The gradient slice is still
in that core's cache and there is no separate pass over the whole buffer.
The arithmetic per element is the optimizer's own, so the result is
bit-for-bit that of a separate step.
"""

import numpy as np

from .config import jit
from .memory import prefetch_rows
from .network import (A_OFFSET, B_OFFSET, COLUMN_SPLIT, FAN_IN, FAN_OUT, MAX_ROWS, ROW_SPLIT,
                      SPLIT, T_OFFSET, W_OFFSET, X_OFFSET, backward_share, chunk_input, gather,
                      layer_forward, layer_input, output_loss_rows, share, weight_slice)
from .mathfun import like
from .penalty import active, add_gradient_share, value_share, with_penalty
from .optim import (CLIP_NORM, advance_scalars, clip_scale, step_scalars, sum_of_squares,
                    update_range)
from .sync import barrier


@jit
def forward(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl, scale, stats,
            t, n_threads, sync):
    """Thread t's part of the forward pass and loss of chunk c0 (``rows`` rows).

    Consecutive row-split layers (and the output layer with its loss) need
    no barrier between them; a column-split layer is followed by one, as the
    next layer needs all of its units.  Ends with a barrier.
    """
    n_layers = layout.shape[0]
    head = wsl[n_layers]
    gathered = index.size > 0
    xin, x_off = chunk_input(X, index, c0, ws, wsl, n_layers)
    tin = ws if gathered else T.reshape(-1)
    t_off = head[T_OFFSET] if gathered else c0 * T.shape[1]
    r0, r1 = share(rows, t, n_threads)
    if gathered:
        gather(X, index, c0, r0, r1, ws, head[X_OFFSET])
        gather(T, index, c0, r0, r1, ws, head[T_OFFSET])
        if wsl[0, SPLIT] == COLUMN_SPLIT:
            barrier(sync, n_threads)
    l = 0
    while l < n_layers:
        if l < n_layers - 1 and wsl[l, SPLIT] == COLUMN_SPLIT:
            lo, hi = share(layout[l, FAN_OUT], t, n_threads)
            src, s_off = layer_input(xin, x_off, ws, wsl, l)
            layer_forward(params, layout, act_param, l, src, s_off, ws, wsl, 0, rows, lo, hi,
                          ws, wsl[l, A_OFFSET], True, True)
            barrier(sync, n_threads)
            l += 1
            continue
        end = l + 1
        while end < n_layers and (end == n_layers - 1 or wsl[end, SPLIT] == ROW_SPLIT):
            end += 1
        for k in range(l, end):
            src, s_off = layer_input(xin, x_off, ws, wsl, k)
            layer_forward(params, layout, act_param, k, src, s_off, ws, wsl, r0, r1, 0,
                          layout[k, FAN_OUT], ws, wsl[k, A_OFFSET], True, k < n_layers - 1)
        if end == n_layers:
            output_loss_rows(params, layout, act_param, loss_code, tin, t_off, ws, wsl, r0, r1,
                             scale, stats[t])
        else:
            barrier(sync, n_threads)
        l = end
    barrier(sync, n_threads)


@jit
def update_layer_share(params, grad, layout, reg, l, t, n_threads, kind, state, c):
    """Optimizer update of the part of W_l, b_l whose gradient thread t computed.

    ``c``: the step's constants (:func:`fastmlp.kernels.optim.step_scalars`);
    the objective's penalty gradient (``reg``) joins the update per element.
    """
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w, b = layout[l, W_OFFSET], layout[l, B_OFFSET]
    cw = with_penalty(c, reg, False)
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if by_rows or (lo == 0 and hi == fan_out):  # contiguous rows of W
        r0, r1 = (lo, hi) if by_rows else (0, fan_in)
        update_range(kind, params, grad, state, cw, w + r0 * fan_out, w + r1 * fan_out)
    else:  # a column block: one range per row
        for i in range(fan_in):
            update_range(kind, params, grad, state, cw, w + i * fan_out + lo,
                         w + i * fan_out + hi)
    j0, j1 = share(fan_out, t, n_threads)
    update_range(kind, params, grad, state, with_penalty(c, reg, True), b + j0, b + j1)


@jit
def backward(params, grad, layout, act_param, reg, X, index, c0, rows, ws, wsl, t, n_threads,
             sync, accumulate, fused, kind, state, c):
    """Thread t's part of the backward pass of chunk c0, layer after layer.

    With ``fused``, each layer's slices are also updated by optimizer
    ``kind`` with the step's constants ``c`` once the next barrier has
    passed.  Ends with a barrier.
    """
    n_layers = layout.shape[0]
    xin, x_off = chunk_input(X, index, c0, ws, wsl, n_layers)
    for l in range(n_layers - 1, -1, -1):
        if fused and l < n_layers - 1:
            update_layer_share(params, grad, layout, reg, l + 1, t, n_threads, kind, state, c)
        backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                       (n_layers - 1 - l) % 2, t, n_threads, accumulate)
        barrier(sync, n_threads)
    if fused:
        update_layer_share(params, grad, layout, reg, 0, t, n_threads, kind, state, c)
        barrier(sync, n_threads)


@jit
def batch_loss(params, grad, layout, act_param, reg, loss_code, X, T, index, start, stop, ws,
               wsl, stats, partial, t, n_threads, sync, fused, kind, state, c):
    """Mean loss of rows start..stop and, if it is finite, its gradient (thread t's part).

    The objective is the mean data loss plus the penalty (``reg``).  Chunks
    of max_rows rows accumulate into ``grad``; with ``fused`` (one chunk
    only) the optimizer update (``kind``, ``state``, constants ``c``)
    happens on the way, otherwise ``grad`` ends up holding the objective's
    whole gradient.  ``partial`` (one float64 per thread) carries each
    thread's share of the loss.  Every thread returns the same loss.
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    n = stop - start
    scale = like(1.0 / n, grad)
    mine = stats[t, 0]
    penalty = value_share(params, layout, reg, t, n_threads) if active(reg) else 0.0
    for c0 in range(start, stop, max_rows):
        rows = min(stop, c0 + max_rows) - c0
        forward(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl, scale,
                stats, t, n_threads, sync)
        if c0 == start:
            # Decide on the first chunk whether to go on: a NaN loss must not
            # reach the weights (with a fused update, the first chunk is all).
            partial[t] = (stats[t, 0] - mine) / rows + penalty
            barrier(sync, n_threads)
            first = partial.sum()
            if not np.isfinite(first):
                return first
            if rows == n:  # one chunk: the loss is known already
                stats[t, 0] += penalty * n
                backward(params, grad, layout, act_param, reg, X, index, c0, rows, ws, wsl, t,
                         n_threads, sync, False, fused, kind, state, c)
                if not fused and active(reg):
                    add_gradient_share(params, grad, layout, reg, t, n_threads)
                    barrier(sync, n_threads)
                return first
        backward(params, grad, layout, act_param, reg, X, index, c0, rows, ws, wsl, t, n_threads,
                 sync, c0 != start, False, kind, state, c)
    partial[t] = (stats[t, 0] - mine) / n + penalty
    stats[t, 0] += penalty * n
    if active(reg):
        add_gradient_share(params, grad, layout, reg, t, n_threads)
    barrier(sync, n_threads)
    total = partial.sum()
    barrier(sync, n_threads)  # nobody may overwrite partial before all have read it
    return total


@jit
def update_share(params, grad, kind, opt, step_no, lr, partial, t, n_threads, sync):
    """Thread t's share of an optimizer step over the whole buffer (unfused path).

    Handles clipping by global norm: the threads first sum the squares of
    their shares of the gradient.  Ends with a barrier.
    """
    state, hyper, sstate = opt[0], opt[1], opt[2]
    lo, hi = share(params.size, t, n_threads)
    scale = 1.0
    if hyper[CLIP_NORM] > 0.0:
        partial[t] = sum_of_squares(grad, lo, hi)
        barrier(sync, n_threads)
        scale = clip_scale(hyper, partial.sum())
        barrier(sync, n_threads)
    update_range(kind, params, grad, state, step_scalars(kind, hyper, step_no, lr, sstate, scale),
                 lo, hi)
    barrier(sync, n_threads)


@jit
def train_member(params, grad, layout, act_param, reg, X, T, order, batch_size, first, end,
                 loss_code, ws, wsl, kind, opt, stats, partial, t, n_threads, sync, result):
    """Thread t's part of training batches first..end-1 of the epoch order.

    ``opt`` = (state, hyper, scalar state, step count, learning rates): the
    optimizer's arrays; ``lrs[b - first]`` is batch b's learning rate, or
    ``hyper[0]`` for all when ``lrs`` is empty.
    """
    state, hyper, sstate, count, lrs = opt
    n = X.shape[0]
    max_rows = wsl[layout.shape[0], MAX_ROWS]
    step_no = count[0]
    for b in range(first, end):
        start = b * batch_size
        stop = min(n, start + batch_size)
        if t == 0:  # the next batch's scattered rows travel to cache meanwhile
            prefetch_rows(X, order, stop, min(n, stop + batch_size))
            prefetch_rows(T, order, stop, min(n, stop + batch_size))
        lr = lrs[b - first] if lrs.size > 0 else hyper[0]
        # Clipping by global norm needs the whole gradient before any update.
        fused = stop - start <= max_rows and hyper[CLIP_NORM] <= 0.0
        c = step_scalars(kind, hyper, step_no + 1, lr, sstate, 1.0)
        loss = batch_loss(params, grad, layout, act_param, reg, loss_code, X, T, order, start,
                          stop, ws, wsl, stats, partial, t, n_threads, sync, fused, kind, state,
                          c)
        if not np.isfinite(loss):
            if t == 0:
                result[0] = b
            break
        if not fused:
            update_share(params, grad, kind, opt, step_no + 1, lr, partial, t, n_threads, sync)
        step_no += 1
        if t == 0:  # read by the others only after the next batch's forward barrier
            advance_scalars(kind, hyper, step_no, sstate)
    if t == 0:
        count[0] = step_no


@jit
def loss_grad_member(params, grad, layout, act_param, reg, loss_code, X, T, index, start, stop,
                     ws, wsl, stats, partial, t, n_threads, sync, result):
    """Thread t's part of the objective and its gradient over rows start..stop."""
    c = (0.0,) * 16
    loss = batch_loss(params, grad, layout, act_param, reg, loss_code, X, T, index, start, stop,
                      ws, wsl, stats, partial, t, n_threads, sync, False, 0,
                      grad[:0].reshape(0, 0), c)
    if t == 0:
        result[0] = loss
