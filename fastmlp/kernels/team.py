"""Multi-threaded training steps run by a team of threads (:mod:`fastmlp.kernels.workers`).

Each function here is executed by every thread of the team (``t`` is the
thread's number, ``n_threads`` the team size) and returns after the same
sequence of barriers on all of them.  The work splits are those of
:mod:`fastmlp.kernels.network`: rows or columns of each layer's GEMM,
slices of each weight gradient; the barriers (:mod:`fastmlp.kernels.sync`)
stand where a phase needs the whole result of the one before.  ``net`` is
a :class:`~fastmlp.kernels.structs.Net`, ``reg`` the
objective's penalties (:mod:`fastmlp.kernels.penalty`), ``seed`` the seed
of the dropout and DropConnect masks.

Optimizer updates are fused into the backward pass: a thread updates the
rows of W_l whose gradient it has just computed (or, for a weight gradient
split by columns, a contiguous share of W_l: :func:`update_layer_share`),
and its share of b_l (and gamma_l), after the barrier that ends layer l's
backward share -- the first moment nobody reads W_l any more (the upstream
D_l W_l^T is done).  The gradient is still in the cores' caches and there
is no separate pass over the whole buffer.  The arithmetic per element is
the optimizer's own, so the result is bit-for-bit that of a separate step.
"""

import numpy as np

from .collective import allreduce_sum
from .config import jit
from .losses import row_weight
from .mathfun import like
from .memory import CACHE_LINE, prefetch_rows
from .network import (
    B_OFFSET,
    COLUMN_SPLIT,
    DROPOUT,
    FAN_IN,
    FAN_OUT,
    G_OFFSET,
    ROW_SPLIT,
    TRAINING_UPDATE,
    W_OFFSET,
    backward_share,
    chunk_input,
    gather,
    gather_input,
    is_dense,
    layer_forward,
    output_loss_rows,
    prefetch_input_rows,
)
from .optim import CLIP_NORM, advance_scalars, clip_scale, sum_of_squares
from .penalty import active, with_penalty
from .shares import line_share, share, weight_slice
from .sparse import (
    clear_batch_gradient,
    list_batch_rows,
    penalty_value,
    start_lazy_penalty,
    update_touched,
)
from .structs import Noise, Span, Step, Team
from .sync import barrier
from .workspace import chunk_rows, inputs_at, masked_at, out_at, split_of, targets_at


@jit
def uses_dropconnect(work, n_layers):
    """Whether the workspace holds DropConnect weights for any layer."""
    for l in range(n_layers):
        if masked_at(work, l) >= 0:
            return True
    return False


@jit
def forward(net, ops, loss_code, data, c0, rows, work, scale, stats, team, noise):
    """Thread ``team.t``'s part of the forward pass and loss of chunk c0 (``rows`` rows).

    ``data`` a :class:`~fastmlp.kernels.structs.Data`, ``work`` a
    :class:`~fastmlp.kernels.structs.Work`, ``team`` a
    :class:`~fastmlp.kernels.structs.Team`; the thread's loss and metric
    sums go to ``stats[team.t]``.  In training mode (``noise.mode``) masked
    weights for DropConnect first; then the gathered inputs (dropped out, if
    asked).  Consecutive row-split layers (and the output layer with its
    loss) need no barrier between them; a column-split layer is followed by
    one, as the next layer needs all of its units.  Ends with a barrier.
    """
    X, T, index = data.X, data.T, data.index
    t, n_threads, sync = team.t, team.n_threads, team.sync
    layout, layer_f = net.layout, net.layer_f
    n_layers = layout.shape[0]
    training = noise.mode != 0
    if training and uses_dropconnect(work, n_layers):
        ops.dropout.weights(net, work, noise, t, n_threads)
        barrier(sync, n_threads)
    gathered = index.size > 0
    inp = chunk_input(X, index, c0, work)
    tin = work.buf if gathered else T.reshape(-1)
    t_off = targets_at(work) if gathered else c0 * T.shape[1]
    r0, r1 = share(rows, t, n_threads)
    if gathered:
        n_in = X.shape[1]
        gather_input(X, index, c0, r0, r1, work)
        gather(T, index, c0, r0, r1, work.buf, targets_at(work))
        # a sparse input's dropout drops its stored values in the product
        if training and layer_f[0, DROPOUT] > 0.0 and is_dense(X):
            at = inputs_at(work)
            ops.dropout.rows(work.buf, at, at, n_in, r0, r1, np.int64(0), n_in,
                             layer_f[0, DROPOUT], noise, np.int64(0), noise.row0)
        if split_of(work, 0) == COLUMN_SPLIT:
            barrier(sync, n_threads)
    l = np.int64(0)
    while l < n_layers:
        if l < n_layers - 1 and split_of(work, l) == COLUMN_SPLIT:
            lo, hi = share(layout[l, FAN_OUT], t, n_threads)
            layer_forward(net, ops, l, inp, work, np.int64(0), rows, lo, hi, work.buf,
                          out_at(work, l), np.bool_(True), np.bool_(True), noise)
            barrier(sync, n_threads)
            l += 1
            continue
        end = l + 1
        while end < n_layers and (end == n_layers - 1 or split_of(work, end) == ROW_SPLIT):
            end += 1
        for k in range(l, end):
            layer_forward(net, ops, k, inp, work, r0, r1, np.int64(0), layout[k, FAN_OUT],
                          work.buf, out_at(work, k), np.bool_(True), k < n_layers - 1, noise)
        if end == n_layers:
            output_loss_rows(net, ops, loss_code, tin, t_off, work, r0, r1, scale, data.sw,
                             index, c0, stats[t])
        else:
            barrier(sync, n_threads)
        l = end
    barrier(sync, n_threads)


@jit
def update_layer_share(net, update, grad, reg, l, work, team, step):
    """Optimizer update of thread ``team.t``'s part of W_l, b_l (and gamma_l), once all of
    layer l's gradient is written.

    The part of W_l is the rows whose gradient the thread computed when the
    weight gradient was split by rows; when it was split by columns, a
    contiguous 1/n_threads of W_l instead (cut on cache-line multiples):
    updating the column block a thread computed, row by row, made the two
    threads write the cache line at each row's cut -- of the parameters,
    the gradient and both moments -- in turn (measured on the 64-256-128-10
    shape: Adam 25% of a two-thread step, its column-split layer 64 calls a
    thread).  ``update``: the optimizer's update function, ``step`` a
    :class:`~fastmlp.kernels.structs.Step` (its state and constants,
    :mod:`fastmlp.kernels.optim`); the objective's penalty gradient
    (``reg``) joins the update per element.  The lazy update of a sparse
    input's W_0 (``step.lazy``) takes the rows its batch touched instead
    (:func:`fastmlp.kernels.sparse.update_touched`).
    """
    t, n_threads = team.t, team.n_threads
    state, c = step.state, step.constants
    params, layout = net.params, net.layout
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w, b, g = layout[l, W_OFFSET], layout[l, B_OFFSET], layout[l, G_OFFSET]
    cw = with_penalty(c, reg, np.bool_(False))
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if l == 0 and step.lazy:
        update_touched(update, params, grad, state, cw, w, fan_out, work, t, n_threads)
    elif by_rows:  # contiguous rows of W
        update(params, grad, state, cw, w + lo * fan_out, w + hi * fan_out)
    else:
        p0, p1 = line_share(fan_in * fan_out, t, n_threads, CACHE_LINE // params.itemsize)
        update(params, grad, state, cw, w + p0, w + p1)
    j0, j1 = share(fan_out, t, n_threads)
    cb = with_penalty(c, reg, np.bool_(True))
    update(params, grad, state, cb, b + j0, b + j1)
    if g >= 0:
        update(params, grad, state, cb, g + j0, g + j1)


@jit
def backward(net, ops, grad, reg, data, c0, rows, work, team, accumulate, step, noise):
    """Thread ``team.t``'s part of the backward pass of chunk c0, layer after layer.

    With ``step.fused``, each layer's slices are also updated by optimizer
    ``ops.update`` with the step's constants once the next barrier has
    passed.  Ends with a barrier.
    """
    n_layers = net.layout.shape[0]
    inp = chunk_input(data.X, data.index, c0, work)
    for l in range(n_layers - 1, -1, -1):
        if step.fused and l < n_layers - 1:
            update_layer_share(net, ops.update, grad, reg, l + 1, work, team, step)
        backward_share(net, ops, grad, inp, work, l, rows, (n_layers - 1 - l) % 2, team.t,
                       team.n_threads, accumulate, noise)
        barrier(team.sync, team.n_threads)
    if step.fused:
        update_layer_share(net, ops.update, grad, reg, np.int64(0), work, team, step)
        barrier(team.sync, team.n_threads)


@jit
def batch_loss(net, ops, passes, grad, reg, loss_code, data, span, work, sums, team, step,
               noise):
    """Mean loss of positions ``span.start .. span.stop`` and, if it is finite, its gradient
    (thread ``team.t``'s part).

    The objective is the mean data loss (weighted by ``data.sw`` when it is
    not empty: ``sum w_i L_i / sum w_i``, ``span.weight`` being the
    denominator: :func:`batch_weight` of the rows, or of the whole batch
    when these rows are one rank's share of it) plus the penalty (``reg``).
    Chunks of ``chunk_rows(work)`` rows accumulate into ``grad``; with
    ``step.fused`` (one chunk only) the optimizer update (``ops.update``
    with the step's state and constants) happens on the way, otherwise
    ``grad`` ends up holding the objective's whole gradient.
    ``sums.partial`` (one float64 per thread) carries each thread's share
    of the loss.  ``noise`` = (seed, step, mode, row0), row0 the rows'
    place in their batch (see :mod:`fastmlp.kernels.network`).
    ``passes``: :func:`forward` and :func:`backward` as pointers
    (:class:`fastmlp.kernels.ops.Passes`).  Every thread returns the same
    loss.
    """
    start, stop, weight = span.start, span.stop, span.weight
    stats, partial = sums.stats, sums.partial
    t, n_threads, sync = team.t, team.n_threads, team.sync
    params, layout = net.params, net.layout
    max_rows = chunk_rows(work)
    n = stop - start
    scale = like(1.0 / weight, grad)
    mine = stats[t, 0]
    penalty = (penalty_value(data.X, ops, params, layout, reg, work, step.lazy, t, n_threads)
               if active(reg) else 0.0)
    if n == 0 and not span.accumulate:  # a rank's empty share of a short last batch
        lo, hi = share(grad.size, t, n_threads)
        grad[lo:hi] = 0.0
        barrier(sync, n_threads)
    unfused = Step(np.bool_(False), step.lazy, step.state, step.constants)
    for c0 in range(start, stop, max_rows):
        rows = min(stop, c0 + max_rows) - c0
        chunk_noise = Noise(noise.seed, noise.step, noise.mode, noise.row0 + c0 - start)
        passes.forward(net, ops, loss_code, data, c0, rows, work, scale, stats, team,
                       chunk_noise)
        if c0 == start:
            # Decide on the first chunk whether to go on: a NaN loss must not
            # reach the weights (with a fused update, the first chunk is all).
            partial[t] = (stats[t, 0] - mine) / weight + penalty
            barrier(sync, n_threads)
            first = partial.sum()
            if not np.isfinite(first):
                return first
            if rows == n:  # one chunk: the loss is known already
                stats[t, 0] += penalty * weight
                passes.backward(net, ops, grad, reg, data, c0, rows, work, team,
                                span.accumulate, step, chunk_noise)
                if not step.fused and active(reg):
                    ops.penalty.gradient(params, grad, layout, reg, t, n_threads)
                    barrier(sync, n_threads)
                return first
        passes.backward(net, ops, grad, reg, data, c0, rows, work, team,
                        span.accumulate or c0 != start, unfused, chunk_noise)
    partial[t] = (stats[t, 0] - mine) / weight + penalty
    stats[t, 0] += penalty * weight
    if active(reg):
        ops.penalty.gradient(params, grad, layout, reg, t, n_threads)
    barrier(sync, n_threads)
    total = partial.sum()
    barrier(sync, n_threads)  # nobody may overwrite partial before all have read it
    return total


@jit
def sum_over_ranks(run, mpi, grad, loss, team):
    """The batch's loss and gradient summed over the ranks (data-parallel training).

    Each rank's ``loss`` and ``grad`` hold its share of the batch, already
    divided by the whole batch's weight (and the penalty on rank 0 only), so
    the sums are the whole batch's.  Thread 0 makes the calls while the team
    waits.  The loss goes first: when it is NaN or inf on any rank, every
    rank sees it and skips the gradient alike, so no rank is left waiting.
    Returns the summed loss; an MPI error shows as NaN (MPI's default
    handler aborts the job before that).  ``mpi``: the handles of
    :mod:`fastmlp.kernels.collective`.
    """
    barrier(team.sync, team.n_threads)  # every thread's part of the gradient is written
    if team.t == 0:
        reduced = run.reduced
        reduced[0] = loss
        failed = allreduce_sum(mpi, reduced[:1]) != 0
        if not failed and np.isfinite(reduced[0]):
            failed = allreduce_sum(mpi, grad) != 0
        if failed:
            reduced[0] = np.nan
    barrier(team.sync, team.n_threads)
    return run.reduced[0]


@jit
def batch_weight(sw, index, start, stop):
    """Total weight of the rows at positions start..stop (their number without weights).

    A batch whose weights are all 0 counts as 1: its loss and gradient are
    then 0 rather than 0/0.
    """
    if sw.size == 0:
        return float(stop - start)
    total = 0.0
    for p in range(start, stop):
        total += row_weight(sw, index, p)
    return total if total > 0.0 else 1.0


@jit
def update_share(net, grad, ops, opt, step_no, lr, partial, work, team, lazy):
    """Thread ``team.t``'s share of an optimizer step over the whole buffer (unfused path).

    Handles clipping by global norm: the threads first sum the squares of
    their shares of the gradient.  ``lazy``: a sparse input's W_0 (the
    buffer's first block) only on the rows its batch touched.  Ends with a
    barrier.
    """
    t, n_threads, sync = team.t, team.n_threads, team.sync
    params, layout = net.params, net.layout
    state, hyper, sstate = opt.state, opt.hyper, opt.scalars
    lo, hi = share(params.size, t, n_threads)
    scale = 1.0
    if hyper[CLIP_NORM] > 0.0:
        partial[t] = sum_of_squares(grad, lo, hi)
        barrier(sync, n_threads)
        scale = clip_scale(hyper, partial.sum())
        barrier(sync, n_threads)
    c = ops.constants(hyper, step_no, lr, sstate, scale)
    if lazy:
        w0, fan_out = layout[0, W_OFFSET], layout[0, FAN_OUT]
        rest = w0 + layout[0, FAN_IN] * fan_out
        lo, hi = share(params.size - rest, t, n_threads)
        ops.update(params, grad, state, c, rest + lo, rest + hi)
        update_touched(ops.update, params, grad, state, c, w0, fan_out, work, t, n_threads)
    else:
        ops.update(params, grad, state, c, lo, hi)
    barrier(sync, n_threads)


@jit
def train_member(t, net, ops, passes, grad, reg, data, run, work, opt, sums, n_threads, sync,
                 result):
    """Thread t's part of training batches run.first .. run.end-1 of the epoch order.

    ``data.index`` is the epoch order (batch b is ``order[b*bs : (b+1)*bs]``);
    ``run`` a :class:`~fastmlp.kernels.structs.Run`; ``opt`` the optimizer's
    arrays, an :class:`~fastmlp.kernels.structs.OptState`:
    ``opt.rates[b - first]`` is batch b's learning rate, or ``hyper[0]`` for
    all when it is empty.
    """
    X, T, sw, order = data.X, data.T, data.sw, data.index
    team = Team(t, n_threads, sync)
    batch_size, first, end = run.batch_size, run.first, run.end
    loss_code, kind, seed = run.loss_code, run.kind, run.seed
    state, hyper, sstate = opt.state, opt.hyper, opt.scalars
    count, lrs = opt.count, opt.rates
    n = X.shape[0]
    max_rows = chunk_rows(work)
    step_no = count[0]
    distributed = run.ranks > 1
    # the lazy update's penalty of each row of W_0, from the weights as this call finds them
    start_lazy_penalty(X, net.params, net.layout, reg, work, run.lazy, team)
    for b in range(first, end):
        batch_start = b * batch_size
        batch_stop = min(n, batch_start + batch_size)
        # this rank's share of the batch (all of it in one process); the
        # masks are keyed on a row's place in the whole batch
        lo, hi = share(batch_stop - batch_start, run.rank, run.ranks)
        start, stop = batch_start + lo, batch_start + hi
        # The next batch's scattered rows travel to cache meanwhile: each thread
        # asks for the rows it will gather itself (this rank's share of the batch,
        # split as the forward pass splits it), into its own core's cache, and the
        # team shares the misses' latency (thread 0 asking for all of them made the
        # other wait at the gather's barrier and read its rows from thread 0's core).
        next_stop = min(n, batch_stop + batch_size)
        rank_lo, rank_hi = share(next_stop - batch_stop, run.rank, run.ranks)
        mine_lo, mine_hi = share(rank_hi - rank_lo, t, n_threads)
        first_row = batch_stop + rank_lo
        prefetch_input_rows(X, order, first_row + mine_lo, first_row + mine_hi)
        prefetch_rows(T, order, first_row + mine_lo, first_row + mine_hi)
        if t == 0:  # a sparse input: the rows of W_0 the whole batch touches (all ranks')
            list_batch_rows(X, order, batch_start, batch_stop, work, step_no + 1)
        lr = lrs[b - first] if lrs.size > 0 else hyper[0]
        # Clipping by global norm, and the sum over ranks, need the whole
        # gradient before any update.
        fused = stop - start <= max_rows and hyper[CLIP_NORM] <= 0.0 and not distributed
        step = Step(fused, run.lazy, state, ops.constants(hyper, step_no + 1, lr, sstate, 1.0))
        span = Span(start, stop, batch_weight(sw, order, batch_start, batch_stop),
                    np.bool_(False))
        loss = batch_loss(net, ops, passes, grad, reg, loss_code, data, span, work, sums, team,
                          step, Noise(seed, step_no + 1, np.int64(TRAINING_UPDATE), lo))
        if distributed:
            loss = sum_over_ranks(run, net.mpi, grad, loss, team)
        if not np.isfinite(loss):
            clear_batch_gradient(X, net.params, grad, net.layout, reg, work, np.bool_(True),
                                 run.lazy, team)
            if t == 0:
                result[0] = b
            break
        if not fused:
            update_share(net, grad, ops, opt, step_no + 1, lr, sums.partial, work, team,
                         run.lazy)
        # a sparse input's W_0 gradient back to zero: the rows this batch touched, or all
        # of it after an unfused step (which added the penalty's gradient everywhere)
        clear_batch_gradient(X, net.params, grad, net.layout, reg, work, not fused, run.lazy,
                             team)
        step_no += 1
        if t == 0:  # read by the others only after the next batch's forward barrier
            advance_scalars(kind, hyper, step_no, sstate)
    if t == 0:
        count[0] = step_no


@jit
def loss_grad_member(t, net, ops, passes, grad, reg, loss_code, data, start, stop, work, sums,
                     n_threads, sync, result, noise, weight, accumulate):
    """Thread t's part of the objective and its gradient over positions start..stop (the
    mean over ``weight`` when it is positive, else over the rows' total weight; the
    gradient added to ``grad``'s when ``accumulate``)."""
    if weight <= 0.0:
        weight = batch_weight(data.sw, data.index, start, stop)
    step = Step(np.bool_(False), np.bool_(False), grad[:0].reshape(0, 0), (0.0,) * 16)
    loss = batch_loss(net, ops, passes, grad, reg, loss_code, data,
                      Span(start, stop, weight, accumulate), work, sums,
                      Team(t, n_threads, sync), step, noise)
    if t == 0:
        result[0] = loss
