"""The training loop: a run of mini-batches in one compiled call.

Per batch: gather the rows named by ``order`` -> forward (GEMM + epilogue)
-> loss and output sensitivity -> backward -> optimizer update in place.
Python enters once per call (an epoch, or a chunk of one when a callback or
the progress display wants control back), never once per batch.

The optimizer update is fused into the backward pass: each thread updates
the slice of W_l (and b_l) whose gradient it has just computed, in the
next layer's parallel region -- the first moment nobody reads W_l any more
(the upstream D_l W_l^T is done).  The gradient slice is still in that
core's cache, and the separate pass over the whole buffer disappears.  The
arithmetic per element is the optimizer's own, so the result is bit-for-bit
that of a separate step.  Batches larger than one chunk (their gradient is
accumulated chunk by chunk) take the unfused path.
"""

import numpy as np
from numba import prange

from .config import jit
from .mathfun import like
from .memory import prefetch_rows
from .network import (B_OFFSET, FAN_IN, FAN_OUT, MAX_ROWS, W_OFFSET, backward_share,
                      chunk_input, forward_parallel, forward_share, loss_grad,
                      loss_grad_parallel, share,
                      weight_slice)
from .optim import step, step_parallel, update_range

#: ``run`` layout (int64)
RUN_BATCH_SIZE = 0
RUN_FIRST_BATCH = 1
RUN_END_BATCH = 2
RUN_LOSS = 3
RUN_OPTIMIZER = 4
RUN_FIELDS = 5


@jit
def update_layer_share(params, grad, layout, l, t, n_threads, kind, state, hyper, step_no):
    """Optimizer update of the part of W_l, b_l whose gradient thread t computed."""
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w, b = layout[l, W_OFFSET], layout[l, B_OFFSET]
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if by_rows:
        update_range(kind, params, grad, state, hyper, step_no, w + lo * fan_out, w + hi * fan_out)
    else:
        for i in range(fan_in):
            update_range(kind, params, grad, state, hyper, step_no, w + i * fan_out + lo,
                         w + i * fan_out + hi)
    j0, j1 = share(fan_out, t, n_threads)
    update_range(kind, params, grad, state, hyper, step_no, b + j0, b + j1)


@jit
def fused_step(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws, wsl,
               stats, kind, state, hyper, count):
    """One training step (batch start..stop, one chunk) on this thread.

    Returns the batch's mean loss; when it is not finite nothing is updated.
    """
    n_layers = layout.shape[0]
    rows = stop - start
    before = stats[:, 0].sum()
    forward_share(params, layout, act_param, loss_code, X, T, index, start, rows, ws, wsl,
                  like(1.0 / rows, grad), stats, 0, 1)
    loss = (stats[:, 0].sum() - before) / rows
    if not np.isfinite(loss):
        return loss
    step_no = count[0] + 1
    xin, x_off = chunk_input(X, index, start, ws, wsl, n_layers)
    for l in range(n_layers - 1, -1, -1):
        backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                       (n_layers - 1 - l) % 2, 0, 1, False)
        update_layer_share(params, grad, layout, l, 0, 1, kind, state, hyper, step_no)
    count[0] = step_no
    return loss


@jit(parallel=True)
def fused_step_parallel(params, grad, layout, act_param, loss_code, X, T, index, start, stop,
                        ws, wsl, stats, kind, state, hyper, count, n_threads):
    """:func:`fused_step` split over ``n_threads`` threads.

    Regions: the forward pass (see :func:`fastmlp.kernels.network.forward_parallel`);
    then per layer l, the update of layer l+1's slices and the backward share
    of layer l; then the update of layer 0.
    """
    n_layers = layout.shape[0]
    rows = stop - start
    before = stats[:, 0].sum()
    forward_parallel(params, layout, act_param, loss_code, X, T, index, start, rows, ws, wsl,
                     like(1.0 / rows, grad), stats, n_threads)
    loss = (stats[:, 0].sum() - before) / rows
    if not np.isfinite(loss):
        return loss
    step_no = count[0] + 1
    xin, x_off = chunk_input(X, index, start, ws, wsl, n_layers)
    for l in range(n_layers - 1, -1, -1):
        for t in prange(n_threads):
            if l < n_layers - 1:
                update_layer_share(params, grad, layout, l + 1, t, n_threads, kind, state, hyper,
                                   step_no)
            backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                           (n_layers - 1 - l) % 2, t, n_threads, False)
    for t in prange(n_threads):
        update_layer_share(params, grad, layout, 0, t, n_threads, kind, state, hyper, step_no)
    count[0] = step_no
    return loss


@jit
def train_batches(params, grad, layout, act_param, X, T, order, run, ws, wsl, opt_state,
                  opt_hyper, opt_count, stats, n_threads):
    """Train on batches ``run[1] .. run[2]-1`` of the epoch order ``order``.

    Shapes: params, grad (n_params,); X (n, n_in); T (n, n_out); order (n,)
    int64, a permutation of the rows (batch b is order[b*bs : (b+1)*bs], the
    last one possibly shorter); opt_state (slots, n_params); opt_hyper
    float64; opt_count (1,) int64; stats (n_threads, 3 + n_out) float64 as
    in :mod:`fastmlp.kernels.losses`.  ``n_threads`` threads share each batch
    (see :mod:`fastmlp.kernels.network`) and the optimizer update.

    Returns -1 when every batch had a finite loss; otherwise the index of the
    first batch whose loss was NaN or inf, which was not applied.
    """
    batch_size = run[RUN_BATCH_SIZE]
    loss_code = run[RUN_LOSS]
    kind = run[RUN_OPTIMIZER]
    n = X.shape[0]
    for b in range(run[RUN_FIRST_BATCH], run[RUN_END_BATCH]):
        start = b * batch_size
        stop = min(n, start + batch_size)
        # The next batch's scattered rows travel to cache while this one computes.
        prefetch_rows(X, order, stop, min(n, stop + batch_size))
        prefetch_rows(T, order, stop, min(n, stop + batch_size))
        if stop - start <= wsl[layout.shape[0], MAX_ROWS]:
            if n_threads == 1:
                loss = fused_step(params, grad, layout, act_param, loss_code, X, T, order, start,
                                  stop, ws, wsl, stats, kind, opt_state, opt_hyper, opt_count)
            else:
                loss = fused_step_parallel(params, grad, layout, act_param, loss_code, X, T,
                                           order, start, stop, ws, wsl, stats, kind, opt_state,
                                           opt_hyper, opt_count, n_threads)
            if not np.isfinite(loss):
                return b
            continue
        # A batch over several chunks: accumulate its gradient, then one step.
        if n_threads == 1:
            loss = loss_grad(params, grad, layout, act_param, loss_code, X, T, order, start,
                             stop, ws, wsl, stats)
        else:
            loss = loss_grad_parallel(params, grad, layout, act_param, loss_code, X, T, order,
                                      start, stop, ws, wsl, stats, n_threads)
        if not np.isfinite(loss):
            return b
        if n_threads == 1:
            step(kind, params, grad, opt_state, opt_hyper, opt_count)
        else:
            step_parallel(kind, params, grad, opt_state, opt_hyper, opt_count, 4 * n_threads)
    return -1
