"""A sparse input's first layer: products that read the rows of a CSR matrix where they are.

A sparse X (a :class:`~fastmlp.kernels.structs.CSR`) is the first layer's
input only, and its rows are never gathered or densified:

* forward: row r of ``X_b W_0`` is the sum of the rows of W_0 that its
  non-zeros pick, scaled by their values (a row of W_0 is contiguous in the
  (fan_in, fan_out) layout): :func:`product`;
* weight gradient: ``dW_0 = X_b^T D_0`` scattered into the rows of dW_0 that
  the batch's non-zeros pick: :func:`weight_gradient`.  A team splits it by
  columns of dW_0, so no two threads ever write one element;
* the sensitivity of the input, ``D_0 W_0^T``, is never formed.

Input dropout drops stored values, each with the mask the dense path draws
for its row and column (:mod:`fastmlp.kernels.noise`): a sparse fit masks
exactly the values a dense fit of the same data masks.

Training keeps the gradient's W_0 block zero outside the rows of the
current batch: the buffer starts at zero, the scatter adds into it, and
after each step :func:`clear_gradient` zeroes the rows the batch listed
(:func:`list_touched`).  The optimizer then updates either every row of
W_0 (the default: the update a dense fit makes, untouched rows with a zero
gradient) or, with the lazy update, only the listed rows
(:func:`update_touched`), leaving the parameters and optimizer state of
the other rows as they are -- ``torch.optim.SparseAdam``'s semantics.

Entry points dispatch on the input's type when the kernels are typed
(:func:`is_csr`): a dense model's kernels contain none of this code.
"""

import numpy as np
from numba import types
from numba.extending import overload

from . import noise as _noise
from .config import jit
from .mathfun import like
from .memory import prefetch
from .noise import keep_rate
from .penalty import BIASES, L1, L2, active, range_value, value_share
from .shares import share
from .structs import B_OFFSET, CSR, FAN_IN, FAN_OUT, G_OFFSET, W_OFFSET
from .sync import barrier
from .views import flat_view


def is_csr(typ):
    """Whether the Numba type ``typ`` is that of a :class:`~fastmlp.kernels.structs.CSR`."""
    return isinstance(typ, types.NamedTuple) and typ.instance_class is CSR


@jit
def row_at(index, position):
    """The row of X at ``position`` of a pass: ``index[position]``, or ``position`` itself
    when ``index`` is empty."""
    return index[position] if index.size > 0 else position


@jit
def product(inp, r0, r1, j0, j1, W, w_off, fan_out, dst, d_off, rate, noise):
    """Rows r0..r1, columns j0..j1 of ``X_b W`` (X sparse) into ``dst``.

    Shapes: ``inp`` a :class:`~fastmlp.kernels.structs.SparseInput` (row r of
    the chunk is row ``row_at(inp.index, inp.c0 + r)`` of X);
    W the (fan_in, fan_out) block of ``W`` at ``w_off``; row r's result at
    ``dst[d_off + r * fan_out + j0 ...]``.  ``rate`` > 0: input dropout with
    the masks of row ``noise.row0 + r`` (stream 0), as the dense path draws
    them.
    """
    X = inp.X
    data, indices, indptr = X.data, X.indices, X.indptr
    width = j1 - j0
    drop = rate > 0.0
    keep, inv = keep_rate(rate if drop else 0.0, W)
    zero = like(0.0, W)
    for r in range(r0, r1):
        i = row_at(inp.index, inp.c0 + r)
        out = flat_view(dst, d_off + r * fan_out + j0, width)
        for j in range(width):
            out[j] = zero
        key = _noise.row_key(noise.seed, noise.step, 0, noise.row0 + r) if drop else np.uint64(0)
        for k in range(indptr[i], indptr[i + 1]):
            col = indices[k]
            value = like(data[k], W)
            if drop:
                if _noise.uniform(key, col) >= keep:
                    continue
                value = value * inv
            w = flat_view(W, w_off + col * fan_out + j0, width)
            for j in range(width):
                out[j] += value * w[j]


@jit
def weight_gradient(inp, rows, D, d_off, fan_out, grad, w_off, j0, j1, rate, noise):
    """Columns j0..j1 of ``dW_0 += X_b^T D_0`` for the chunk's ``rows`` rows (X sparse).

    Adds into the rows of the gradient block at ``w_off`` that the chunk's
    non-zeros pick (the caller keeps the others zero).  ``D`` holds D_0 at
    ``d_off`` (rows, fan_out); ``rate`` and ``noise``: the input dropout of
    :func:`product`.
    """
    X = inp.X
    data, indices, indptr = X.data, X.indices, X.indptr
    width = j1 - j0
    drop = rate > 0.0
    keep, inv = keep_rate(rate if drop else 0.0, grad)
    for r in range(rows):
        i = row_at(inp.index, inp.c0 + r)
        d = flat_view(D, d_off + r * fan_out + j0, width)
        key = _noise.row_key(noise.seed, noise.step, 0, noise.row0 + r) if drop else np.uint64(0)
        for k in range(indptr[i], indptr[i + 1]):
            col = indices[k]
            value = like(data[k], grad)
            if drop:
                if _noise.uniform(key, col) >= keep:
                    continue
                value = value * inv
            g = flat_view(grad, w_off + col * fan_out + j0, width)
            for j in range(width):
                g[j] += value * d[j]


# ``work.rows`` holds, one after the other: how many rows are listed, the
# list's capacity, the list, a stamp per input (the step that last listed
# it), and a float64 per input (the penalty of that row of W_0, stored as
# its bits) -- one array, so that the workspace stays small to pass along.
_COUNT = 0
_CAPACITY = 1
_LIST = 2


@jit
def _n_inputs(work):
    return (work.rows.size - _LIST - work.rows[_CAPACITY]) // 2


@jit
def listed(work):
    """The rows of W_0 the current batch touches (a view of ``work.rows``)."""
    return flat_view(work.rows, _LIST, work.rows[_COUNT])


@jit
def list_touched(X, index, start, stop, work, mark):
    """List the rows of W_0 that the non-zeros of positions start..stop pick, each once.

    Into ``work.rows`` (:func:`listed` reads the list); ``mark`` (the step's
    number) stamps each listed row, so the list needs no clearing between
    batches.
    """
    indices, indptr = X.indices, X.indptr
    capacity = work.rows[_CAPACITY]
    touched = flat_view(work.rows, _LIST, capacity)
    stamp = flat_view(work.rows, _LIST + capacity, _n_inputs(work))
    n = 0
    for p in range(start, stop):
        i = row_at(index, p)
        for k in range(indptr[i], indptr[i + 1]):
            col = indices[k]
            if stamp[col] != mark:
                stamp[col] = mark
                touched[n] = col
                n += 1
    work.rows[_COUNT] = n


@jit
def forget_listed(work):
    """Clear the stamps of :func:`list_touched` (no row listed by any step): before the
    list serves another model (a population's members share a thread's workspace), whose
    steps carry the same numbers."""
    if work.rows.size > 0:
        capacity = work.rows[_CAPACITY]
        flat_view(work.rows, _LIST + capacity, _n_inputs(work))[:] = -1
        work.rows[_COUNT] = 0


@jit
def clear_gradient(grad, w_off, fan_in, fan_out, work, whole, t, n_threads):
    """Thread t's share of zeroing the gradient's (fan_in, fan_out) W_0 block at ``w_off``
    after a step.

    The listed rows only (the others are zero), unless ``whole``: after a
    step that added the penalty's gradient to the whole buffer.
    """
    if whole:
        lo, hi = share(fan_in * fan_out, t, n_threads)
        grad[w_off + lo:w_off + hi] = 0
        return
    touched = listed(work)
    lo, hi = share(touched.size, t, n_threads)
    for n in range(lo, hi):
        row = flat_view(grad, w_off + touched[n] * fan_out, fan_out)
        row[:] = 0


@jit
def row_penalties(work):
    """The penalty of each row of W_0 (float64, one per input), kept by the lazy update."""
    n_in = _n_inputs(work)
    return flat_view(work.rows, work.rows.size - n_in, n_in).view(np.float64)


@jit
def all_row_penalties(params, w_off, fan_out, reg, work, t, n_threads):
    """Thread t's share of :func:`row_penalties` computed afresh (at the start of a call:
    the weights may have changed between calls)."""
    sums = row_penalties(work)
    lo, hi = share(sums.size, t, n_threads)
    for i in range(lo, hi):
        at = w_off + i * fan_out
        sums[i] = range_value(params, at, at + fan_out, reg[L2], reg[L1])


@jit
def listed_row_penalties(params, w_off, fan_out, reg, work, t, n_threads):
    """Thread t's share of :func:`row_penalties` of the listed rows, after the lazy update
    changed them (the others did not change), split as :func:`update_touched` splits."""
    sums = row_penalties(work)
    touched = listed(work)
    lo, hi = share(touched.size, t, n_threads)
    for n in range(lo, hi):
        i = touched[n]
        at = w_off + i * fan_out
        sums[i] = range_value(params, at, at + fan_out, reg[L2], reg[L1])


@jit
def lazy_penalty_share(params, layout, reg, work, t, n_threads):
    """Thread t's share of the penalty value with W_0's part summed from
    :func:`row_penalties`: a pass over one float64 per input instead of W_0 itself
    (25.6M weights a step for a 200,000-input layer of 128 units)."""
    total = value_share(params, layout[1:], reg, t, n_threads)
    sums = row_penalties(work)
    lo, hi = share(sums.size, t, n_threads)
    for i in range(lo, hi):
        total += sums[i]
    if reg[BIASES] != 0.0:
        lo, hi = share(layout[0, FAN_OUT], t, n_threads)
        for b in (layout[0, B_OFFSET], layout[0, G_OFFSET]):
            if b >= 0:
                total += range_value(params, b + lo, b + hi, reg[L2], reg[L1])
    return total


@jit
def update_touched(update, params, grad, state, c, w_off, fan_out, work, t, n_threads):
    """The lazy update: thread t's share of the listed rows of the W_0 block at ``w_off``,
    updated by ``update`` with the step's constants ``c``; the other rows and their state
    are left as they are."""
    touched = listed(work)
    lo, hi = share(touched.size, t, n_threads)
    for n in range(lo, hi):
        at = w_off + touched[n] * fan_out
        update(params, grad, state, c, at, at + fan_out)


@jit
def prefetch_rows(X, index, start, stop):
    """Ask for the first cache lines of the non-zeros of rows index[start..stop) of X."""
    for p in range(start, stop):
        k = X.indptr[index[p]]
        if k < X.data.size:
            prefetch(X.data, k)
            prefetch(X.indices, k)


def list_batch_rows(X, index, start, stop, work, mark):
    """:func:`list_touched` for a sparse X; nothing for a dense one."""


@overload(list_batch_rows)
def _list_batch_rows_overload(X, index, start, stop, work, mark):
    if is_csr(X):
        return lambda X, index, start, stop, work, mark: list_touched(X, index, start, stop,
                                                                       work, mark)
    return lambda X, index, start, stop, work, mark: None


def clear_batch_gradient(X, params, grad, layout, reg, work, whole, lazy, team):
    """A sparse X: :func:`clear_gradient` of W_0's block (layout row 0: fan_in, fan_out,
    offset) -- and, for the lazy update with a penalty, the listed rows'
    :func:`row_penalties` -- then a barrier, so that the next batch's list waits for the
    clearing.  Nothing for a dense X."""


@overload(clear_batch_gradient)
def _clear_batch_gradient_overload(X, params, grad, layout, reg, work, whole, lazy, team):
    if not is_csr(X):
        return lambda X, params, grad, layout, reg, work, whole, lazy, team: None

    def clear(X, params, grad, layout, reg, work, whole, lazy, team):
        w_off, fan_out = layout[0, W_OFFSET], layout[0, FAN_OUT]
        clear_gradient(grad, w_off, layout[0, FAN_IN], fan_out, work, whole, team.t,
                       team.n_threads)
        if lazy and active(reg):
            listed_row_penalties(params, w_off, fan_out, reg, work, team.t, team.n_threads)
        barrier(team.sync, team.n_threads)
    return clear


def start_lazy_penalty(X, params, layout, reg, work, lazy, team):
    """A sparse X trained by the lazy update with a penalty: :func:`all_row_penalties`
    and a barrier, at the start of a call.  Nothing otherwise."""


@overload(start_lazy_penalty)
def _start_lazy_penalty_overload(X, params, layout, reg, work, lazy, team):
    if not is_csr(X):
        return lambda X, params, layout, reg, work, lazy, team: None

    def start(X, params, layout, reg, work, lazy, team):
        if lazy and active(reg):
            all_row_penalties(params, layout[0, W_OFFSET], layout[0, FAN_OUT], reg, work,
                              team.t, team.n_threads)
            barrier(team.sync, team.n_threads)
    return start


def penalty_value(X, ops, params, layout, reg, work, lazy, t, n_threads):
    """Thread t's share of the penalty value: ``ops.penalty.value``, or for the lazy
    update of a sparse X :func:`lazy_penalty_share` (W_0's rows kept up to date by the
    steps)."""


@overload(penalty_value)
def _penalty_value_overload(X, ops, params, layout, reg, work, lazy, t, n_threads):
    if not is_csr(X):
        return (lambda X, ops, params, layout, reg, work, lazy, t, n_threads:
                ops.penalty.value(params, layout, reg, t, n_threads))

    def value(X, ops, params, layout, reg, work, lazy, t, n_threads):
        if lazy:
            return lazy_penalty_share(params, layout, reg, work, t, n_threads)
        return ops.penalty.value(params, layout, reg, t, n_threads)
    return value
