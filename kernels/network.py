"""Whole-network forward and backward over the flat parameter buffer.

``layout`` (int64, one row per layer) locates every layer in ``params``::

    layout[l] = [fan_in, fan_out, W offset, b offset, activation code]

``W_l = params[w : w + fan_in*fan_out]`` viewed (fan_in, fan_out) (row form,
``A_l = f(A_{l-1} @ W_l + b_l)``) and ``b_l = params[b : b + fan_out]``.

``ws`` is one flat workspace sized for ``max_rows`` rows and ``wsl`` (int64)
locates the buffers in it::

    wsl[l] = [A_l offset, Z_l offset or -1, 0, 0, 0, 0]          l < n_layers
    wsl[n_layers] = [max_rows, X offset, T offset, D0, D1, coefficients]

A_l holds the layer's output, Z_l its pre-activation when the backward pass
needs it (GELU/swish), X and T the gathered inputs and targets of a chunk,
D0/D1 the sensitivities (ping-pong) and the coefficient slot the BLAS
(alpha, beta) pairs (1, 0) and (1, 1).

Threads: a chunk's rows are split in ``n_threads`` contiguous row blocks.
The forward pass and the loss run block by block with no synchronisation
(rows are independent).  The backward pass goes layer by layer; in each,
every thread computes a slice of the weight gradient A^T D (by rows or
columns, whichever dimension is larger), the matching slice of the bias
gradient, and its row block of the next sensitivity D W^T * f'.  BLAS runs
single-threaded inside each thread.  The same thread count always splits
the same way, so results are bit-reproducible for a fixed thread count.
"""

import numpy as np
from numba import prange

from .activations import backward_block, forward_block
from .blas import gemm
from .config import jit
from .losses import output_loss
from .mathfun import like

FAN_IN = 0
FAN_OUT = 1
W_OFFSET = 2
B_OFFSET = 3
ACTIVATION = 4
LAYOUT_COLUMNS = 6

A_OFFSET = 0
Z_OFFSET = 1
MAX_ROWS = 0
X_OFFSET = 1
T_OFFSET = 2
D0_OFFSET = 3
D1_OFFSET = 4
COEF_OFFSET = 5


@jit
def share(n, t, n_threads):
    """Bounds of thread t's contiguous share of n items."""
    return (n * t) // n_threads, (n * (t + 1)) // n_threads


@jit
def weight_slice(fan_in, fan_out, t, n_threads):
    """Which part of a (fan_in, fan_out) weight gradient thread t computes.

    Returns (by_rows, lo, hi): rows lo..hi when fan_in >= fan_out, else
    columns lo..hi.  Splitting the larger dimension keeps each thread's
    GEMM efficient.
    """
    if fan_in >= fan_out:
        lo, hi = share(fan_in, t, n_threads)
        return True, lo, hi
    lo, hi = share(fan_out, t, n_threads)
    return False, lo, hi


@jit
def block_view(buf, offset, rows, width):
    """A (rows, width) C-contiguous view of ``buf`` starting at ``offset``."""
    return buf[offset:offset + rows * width].reshape(rows, width)


@jit
def gather(src, index, first, r0, r1, dst, d_off):
    """Rows index[first + r] of ``src`` for r in r0..r1 into (rows, width) ``dst`` at d_off."""
    width = src.shape[1]
    for r in range(r0, r1):
        row = src[index[first + r]]
        base = d_off + r * width
        for j in range(width):
            dst[base + j] = row[j]


@jit
def forward_rows(params, layout, act_param, xin, x_off, ws, wsl, r0, r1, out, out_off, save):
    """Rows r0..r1 of a block through every layer but the last's epilogue.

    ``xin[x_off + r * n_in ...]`` is input row r of the block.  Hidden
    outputs go to their A buffers in ``ws`` (row r at ``A_l offset + r *
    width``), the last layer's GEMM result to ``out[out_off + r * n_out]``;
    its bias and activation are left to the caller (the loss, or
    :func:`finish_output`).  ``save``: keep z where the backward pass needs it.
    """
    n_layers = layout.shape[0]
    rows = r1 - r0
    head = wsl[n_layers]
    coef = ws[head[COEF_OFFSET]:head[COEF_OFFSET] + 2]
    for l in range(n_layers):
        fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
        last = l == n_layers - 1
        dst = out if last else ws
        d_off = out_off + r0 * fan_out if last else wsl[l, A_OFFSET] + r0 * fan_out
        if l == 0:
            gemm(False, False, rows, fan_out, fan_in, coef, xin, x_off + r0 * fan_in, fan_in,
                 params, layout[l, W_OFFSET], fan_out, dst, d_off, fan_out)
        else:
            gemm(False, False, rows, fan_out, fan_in, coef, ws,
                 wsl[l - 1, A_OFFSET] + r0 * fan_in, fan_in,
                 params, layout[l, W_OFFSET], fan_out, dst, d_off, fan_out)
        if last:
            break
        z_off = wsl[l, Z_OFFSET]
        keep = save and z_off >= 0
        Zs = block_view(ws, z_off + r0 * fan_out if keep else 0, rows if keep else 0, fan_out)
        b = layout[l, B_OFFSET]
        forward_block(layout[l, ACTIVATION], block_view(ws, d_off, rows, fan_out),
                      params[b:b + fan_out], act_param[l], Zs)


@jit
def finish_output(params, layout, act_param, out, out_off, r0, r1):
    """Bias and output activation on rows r0..r1 of the output block (predict)."""
    last = layout.shape[0] - 1
    n_out = layout[last, FAN_OUT]
    b = layout[last, B_OFFSET]
    A = block_view(out, out_off + r0 * n_out, r1 - r0, n_out)
    forward_block(layout[last, ACTIVATION], A, params[b:b + n_out], act_param[last],
                  block_view(out, 0, 0, n_out))


@jit
def forward_loss_rows(params, layout, act_param, loss_code, xin, x_off, tin, t_off, ws, wsl,
                      r0, r1, scale, stats):
    """Forward pass and loss of rows r0..r1; the output sensitivity lands in D0.

    ``tin[t_off + r * n_out ...]`` is target row r.  Returns the summed loss.
    """
    n_layers = layout.shape[0]
    last = n_layers - 1
    head = wsl[n_layers]
    n_out = layout[last, FAN_OUT]
    a_out = wsl[last, A_OFFSET]
    forward_rows(params, layout, act_param, xin, x_off, ws, wsl, r0, r1, ws, a_out, True)
    rows = r1 - r0
    b = layout[last, B_OFFSET]
    z_off = wsl[last, Z_OFFSET]
    return output_loss(loss_code, layout[last, ACTIVATION],
                       block_view(ws, a_out + r0 * n_out, rows, n_out), params[b:b + n_out],
                       act_param[last], block_view(tin, t_off + r0 * n_out, rows, n_out), scale,
                       block_view(ws, head[D0_OFFSET] + r0 * n_out, rows, n_out),
                       block_view(ws, z_off + r0 * n_out, rows, n_out), stats)


@jit
def backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows, cur, t,
                   n_threads, accumulate):
    """Thread t's share of layer l's backward step for a chunk of ``rows`` rows.

    D_l (rows, fan_out) is in the ``cur`` sensitivity buffer.  Writes slice t
    of dW_l = A_{l-1}^T D_l and of db_l = column sums of D_l (added to
    ``grad`` when ``accumulate``), and for l > 0 rows share t of
    D_{l-1} = (D_l W_l^T) * f'(z_{l-1}) into the other buffer.
    """
    n_layers = layout.shape[0]
    head = wsl[n_layers]
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    w_off, b_off = layout[l, W_OFFSET], layout[l, B_OFFSET]
    d_off = head[D0_OFFSET] if cur == 0 else head[D1_OFFSET]
    up_off = head[D1_OFFSET] if cur == 0 else head[D0_OFFSET]
    c = head[COEF_OFFSET] + (2 if accumulate else 0)
    coef_w = ws[c:c + 2]
    src = xin if l == 0 else ws
    s_off = x_off if l == 0 else wsl[l - 1, A_OFFSET]
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if by_rows:
        gemm(True, False, hi - lo, fan_out, rows, coef_w, src, s_off + lo, fan_in,
             ws, d_off, fan_out, grad, w_off + lo * fan_out, fan_out)
    else:
        gemm(True, False, fan_in, hi - lo, rows, coef_w, src, s_off, fan_in,
             ws, d_off + lo, fan_out, grad, w_off + lo, fan_out)
    # db slice: column sums of D_l over the columns j0..j1
    j0, j1 = share(fan_out, t, n_threads)
    db = grad[b_off + j0:b_off + j1]
    if not accumulate:
        db[:] = 0
    for r in range(rows):
        row = ws[d_off + r * fan_out + j0:d_off + r * fan_out + j1]
        for j in range(j1 - j0):
            db[j] += row[j]
    if l == 0:
        return
    # upstream rows r0..r1: D_l W_l^T, then * f'(z_{l-1})
    r0, r1 = share(rows, t, n_threads)
    coef = ws[head[COEF_OFFSET]:head[COEF_OFFSET] + 2]
    gemm(False, True, r1 - r0, fan_in, fan_out, coef, ws, d_off + r0 * fan_out, fan_out,
         params, w_off, fan_out, ws, up_off + r0 * fan_in, fan_in)
    z_off = wsl[l - 1, Z_OFFSET]
    backward_block(layout[l - 1, ACTIVATION], block_view(ws, up_off + r0 * fan_in, r1 - r0, fan_in),
                   block_view(ws, wsl[l - 1, A_OFFSET] + r0 * fan_in, r1 - r0, fan_in),
                   block_view(ws, (z_off if z_off >= 0 else 0) + r0 * fan_in,
                              r1 - r0 if z_off >= 0 else 0, fan_in),
                   act_param[l - 1])


@jit
def forward_share(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl, scale,
                  stats, t, n_threads):
    """Thread t's rows of chunk c0: gather (through ``index``), forward pass, loss."""
    head = wsl[layout.shape[0]]
    r0, r1 = share(rows, t, n_threads)
    if index.size > 0:
        gather(X, index, c0, r0, r1, ws, head[X_OFFSET])
        gather(T, index, c0, r0, r1, ws, head[T_OFFSET])
        forward_loss_rows(params, layout, act_param, loss_code, ws, head[X_OFFSET], ws,
                          head[T_OFFSET], ws, wsl, r0, r1, scale, stats[t])
    else:
        forward_loss_rows(params, layout, act_param, loss_code, X.reshape(-1), c0 * X.shape[1],
                          T.reshape(-1), c0 * T.shape[1], ws, wsl, r0, r1, scale, stats[t])


@jit
def chunk_input(X, index, c0, ws, wsl, n_layers):
    """(flat array, offset) of the chunk's input rows: gathered in ``ws`` or X itself."""
    if index.size > 0:
        return ws, wsl[n_layers, X_OFFSET]
    return X.reshape(-1), c0 * X.shape[1]


@jit
def loss_grad(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws, wsl,
              stats):
    """Mean loss and its gradient over rows start..stop, in chunks of max_rows rows.

    Shapes: X (n, n_in), T (n, n_out); ``index`` (n,) int64 maps positions
    to rows of X and T (empty: positions are rows); ``stats`` (1, 3 + n_out)
    float64 is accumulated.  The gradient of the mean loss is written to
    ``grad`` (chunks after the first are added in by BLAS with beta = 1).
    One thread; :func:`loss_grad_parallel` is the same split over threads
    (kept separate because a parallel-compiled function costs ~3 us more
    per call even on its one-thread path, 10% of a small batch).
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    scale = like(1.0 / (stop - start), grad)
    before = stats[:, 0].sum()
    for c0 in range(start, stop, max_rows):
        rows = min(stop, c0 + max_rows) - c0
        forward_share(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl,
                      scale, stats, 0, 1)
        xin, x_off = chunk_input(X, index, c0, ws, wsl, n_layers)
        for l in range(n_layers - 1, -1, -1):
            backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                           (n_layers - 1 - l) % 2, 0, 1, c0 != start)
    return (stats[:, 0].sum() - before) / (stop - start)


@jit(parallel=True)
def loss_grad_parallel(params, grad, layout, act_param, loss_code, X, T, index, start, stop, ws,
                       wsl, stats, n_threads):
    """:func:`loss_grad` with each chunk split over ``n_threads`` threads.

    ``stats`` is (n_threads, 3 + n_out).  One parallel region for the
    forward pass and loss, then one per layer for the backward pass.
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    scale = like(1.0 / (stop - start), grad)
    before = stats[:, 0].sum()
    for c0 in range(start, stop, max_rows):
        rows = min(stop, c0 + max_rows) - c0
        for t in prange(n_threads):
            forward_share(params, layout, act_param, loss_code, X, T, index, c0, rows, ws, wsl,
                          scale, stats, t, n_threads)
        xin, x_off = chunk_input(X, index, c0, ws, wsl, n_layers)
        for l in range(n_layers - 1, -1, -1):
            for t in prange(n_threads):
                backward_share(params, grad, layout, act_param, xin, x_off, ws, wsl, l, rows,
                               (n_layers - 1 - l) % 2, t, n_threads, c0 != start)
    return (stats[:, 0].sum() - before) / (stop - start)


@jit(parallel=True)
def predict(params, layout, act_param, X, out, ws, wsl, n_threads):
    """Network output for every row of X into ``out`` (n, n_out), block by block.

    Each block of max_rows rows is split between the threads; the output
    layer writes straight into ``out``.
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    n, n_in = X.shape
    n_out = out.shape[1]
    Xf = X.reshape(-1)
    of = out.reshape(-1)
    for c0 in range(0, n, max_rows):
        rows = min(n, c0 + max_rows) - c0
        for t in prange(n_threads):
            r0, r1 = share(rows, t, n_threads)
            if r1 > r0:
                forward_rows(params, layout, act_param, Xf, c0 * n_in, ws, wsl, r0, r1, of,
                             c0 * n_out, False)
                finish_output(params, layout, act_param, of, c0 * n_out, r0, r1)


@jit(parallel=True)
def evaluate(params, layout, act_param, loss_code, X, T, ws, wsl, stats, n_threads):
    """Loss and metrics of X against T, accumulated into ``stats`` (n_threads, 3 + n_out)."""
    n_layers = layout.shape[0]
    head = wsl[n_layers]
    max_rows = head[MAX_ROWS]
    n, n_in = X.shape
    n_out = T.shape[1]
    zero = like(0, ws)
    Xf = X.reshape(-1)
    Tf = T.reshape(-1)
    for c0 in range(0, n, max_rows):
        rows = min(n, c0 + max_rows) - c0
        for t in prange(n_threads):
            r0, r1 = share(rows, t, n_threads)
            forward_loss_rows(params, layout, act_param, loss_code, Xf, c0 * n_in, Tf,
                              c0 * n_out, ws, wsl, r0, r1, zero, stats[t])
