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
from .optim import step_scalars, update_range
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
def update_layer_share(params, grad, layout, l, t, n_threads, kind, state, c):
    """Optimizer update of the part of W_l, b_l whose gradient thread t computed.

    ``c``: the step's constants (:func:`fastmlp.kernels.optim.step_scalars`).
    """
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w, b = layout[l, W_OFFSET], layout[l, B_OFFSET]
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if by_rows or (lo == 0 and hi == fan_out):  # contiguous rows of W
        r0, r1 = (lo, hi) if by_rows else (0, fan_in)
        update_range(kind, params, grad, state, c, w + r0 * fan_out, w + r1 * fan_out)
    else:  # a column block: one range per row
        for i in range(fan_in):
            update_range(kind, params, grad, state, c, w + i * fan_out + lo, w + i * fan_out + hi)
    j0, j1 = share(fan_out, t, n_threads)
    update_range(kind, params, grad, state, c, b + j0, b + j1)


@jit
def backward(params, grad, layout, act_param, X, index, c0, rows, ws, wsl, t, n_threads, sync,
             accumulate, fused, kind, state, hyper, step_no):
    """Thread t's part of the backward pass of chunk c0, layer after layer.

    With ``fused``, each layer's slices are also updated by the optimizer
    (step number ``step_no``) once the next barrier has passed.  Ends with a
    barrier.
    """
    n_layers = layout.shape[0]
    xin, x_off = chunk_input(X, index, c0, ws, wsl, n_layers)
    c = step_scalars(kind, hyper, step_no)
    for l in range(n_layers - 1, -1, -1):
        if fused and l < n_layers - 1:
            update_layer_share(params, grad, layout, l + 1, t, n_threads, kind, state, c)
        backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                       (n_layers - 1 - l) % 2, t, n_threads, accumulate)
        barrier(sync, n_threads)
    if fused:
        update_layer_share(params, grad, layout, 0, t, n_threads, kind, state, c)
        barrier(sync, n_threads)


@jit
def batch_loss(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws, wsl,
               stats, partial, t, n_threads, sync, fused, kind, state, hyper, step_no):
    """Mean loss of rows start..stop and, if it is finite, its gradient (thread t's part).

    Chunks of max_rows rows accumulate into ``grad``; with ``fused`` (one
    chunk only) the optimizer update happens on the way.  ``partial`` (one
    float64 per thread) carries each thread's share of the loss.  Every
    thread returns the same loss.
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    scale = like(1.0 / (stop - start), grad)
    mine = stats[t, 0]
    for c0 in range(start, stop, max_rows):
        rows = min(stop, c0 + max_rows) - c0
        forward(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl, scale,
                stats, t, n_threads, sync)
        if c0 == start:
            # Decide on the first chunk whether to go on: a NaN loss must not
            # reach the weights (with a fused update, the first chunk is all).
            partial[t] = stats[t, 0] - mine
            barrier(sync, n_threads)
            first = partial.sum() / rows
            if not np.isfinite(first):
                return first
            if rows == stop - start:  # one chunk: the loss is known already
                backward(params, grad, layout, act_param, X, index, c0, rows, ws, wsl, t,
                         n_threads, sync, False, fused, kind, state, hyper, step_no)
                return first
        backward(params, grad, layout, act_param, X, index, c0, rows, ws, wsl, t, n_threads,
                 sync, c0 != start, fused, kind, state, hyper, step_no)
    partial[t] = stats[t, 0] - mine
    barrier(sync, n_threads)
    total = partial.sum() / (stop - start)
    barrier(sync, n_threads)  # nobody may overwrite partial before all have read it
    return total


@jit
def train_member(params, grad, layout, act_param, X, T, order, batch_size, first, end,
                 loss_code, ws, wsl, kind, state, hyper, count, stats, partial, t, n_threads,
                 sync, result):
    """Thread t's part of training batches first..end-1 of the epoch order."""
    n = X.shape[0]
    max_rows = wsl[layout.shape[0], MAX_ROWS]
    step_no = count[0]
    n_params = params.size
    for b in range(first, end):
        start = b * batch_size
        stop = min(n, start + batch_size)
        if t == 0:  # the next batch's scattered rows travel to cache meanwhile
            prefetch_rows(X, order, stop, min(n, stop + batch_size))
            prefetch_rows(T, order, stop, min(n, stop + batch_size))
        fused = stop - start <= max_rows
        loss = batch_loss(params, grad, layout, act_param, loss_code, X, T, order, start, stop,
                          ws, wsl, stats, partial, t, n_threads, sync, fused, kind, state, hyper,
                          step_no + 1)
        if not np.isfinite(loss):
            if t == 0:
                result[0] = b
            break
        if not fused:  # accumulated over chunks: one update pass, split by ranges
            lo, hi = share(n_params, t, n_threads)
            update_range(kind, params, grad, state, step_scalars(kind, hyper, step_no + 1), lo,
                         hi)
            barrier(sync, n_threads)
        step_no += 1
    if t == 0:
        count[0] = step_no


@jit
def loss_grad_member(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws,
                     wsl, stats, partial, t, n_threads, sync, result):
    """Thread t's part of the mean loss and gradient of rows start..stop."""
    loss = batch_loss(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws,
                      wsl, stats, partial, t, n_threads, sync, False, 0, grad[:0].reshape(0, 0),
                      np.zeros(0), 0)
    if t == 0:
        result[0] = loss
