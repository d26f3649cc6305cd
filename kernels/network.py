"""Whole-network forward and backward over the flat parameter buffer.

``layout`` (int64, one row per layer) locates every layer in ``params``::

    layout[l] = [fan_in, fan_out, W offset, b offset, activation code]

``W_l = params[w : w + fan_in*fan_out]`` viewed (fan_in, fan_out) (row form,
``A_l = f(A_{l-1} @ W_l + b_l)``) and ``b_l = params[b : b + fan_out]``.

``ws`` is one flat workspace sized for ``max_rows`` rows and ``wsl`` (int64)
locates the buffers in it::

    wsl[l] = [A_l offset, Z_l offset or -1, split, 0, 0, 0]      l < n_layers
    wsl[n_layers] = [max_rows, X offset, T offset, D0, D1, coefficients]

A_l holds the layer's output, Z_l its pre-activation when the backward pass
needs it (GELU/swish), X and T the gathered inputs and targets of a chunk,
D0/D1 the sensitivities (ping-pong) and the coefficient slot the BLAS
(alpha, beta) pairs (1, 0) and (1, 1).

Threads: each layer's work is split between ``n_threads`` threads, by rows
(each thread a block of samples: consecutive row-split layers need no
synchronisation, rows are independent) or by columns (each thread all the
samples and a block of the layer's units: a bigger, more efficient GEMM per
thread, for thin batches of wide layers), as ``split`` in ``wsl`` says for
each hidden layer; the output layer and its loss always split by rows.
The backward pass goes layer by layer; in each, every thread computes a
slice of the weight gradient A^T D (by rows or columns, whichever dimension
is larger), the matching slice of the bias gradient, and its share of the
next sensitivity D W^T * f' (split like the forward pass of that layer).
BLAS runs single-threaded inside each thread.  The same thread count always
splits the same way, so results are bit-reproducible for a fixed thread
count.
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
SPLIT = 2
MAX_ROWS = 0
X_OFFSET = 1
T_OFFSET = 2
D0_OFFSET = 3
D1_OFFSET = 4
COEF_OFFSET = 5

ROW_SPLIT = 0
COLUMN_SPLIT = 1


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
def layer_forward(params, layout, act_param, l, src, s_off, ws, wsl, r0, r1, c0, c1, dst, d_off,
                  save, epilogue):
    """Rows r0..r1 x units c0..c1 of layer l: GEMM, then bias + activation.

    ``src[s_off + r * fan_in ...]`` is input row r, ``dst[d_off + r * fan_out
    + j]`` receives unit j of row r.  ``save``: keep z where the backward
    pass needs it; ``epilogue`` False leaves the raw GEMM result (output
    layer, finished by the loss or :func:`finish_output`).
    """
    head = wsl[layout.shape[0]]
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    coef = ws[head[COEF_OFFSET]:head[COEF_OFFSET] + 2]
    width = c1 - c0
    gemm(False, False, r1 - r0, width, fan_in, coef, src, s_off + r0 * fan_in, fan_in,
         params, layout[l, W_OFFSET] + c0, fan_out, dst, d_off + r0 * fan_out + c0, fan_out)
    if not epilogue:
        return
    z_off = wsl[l, Z_OFFSET]
    keep = save and z_off >= 0
    b = layout[l, B_OFFSET]
    bias = params[b + c0:b + c1]
    code, alpha = layout[l, ACTIVATION], act_param[l]
    if width == fan_out:  # whole rows: one contiguous block
        rows = r1 - r0
        forward_block(code, block_view(dst, d_off + r0 * fan_out, rows, fan_out), bias, alpha,
                      block_view(ws, z_off + r0 * fan_out if keep else 0, rows if keep else 0,
                                 fan_out))
        return
    for r in range(r0, r1):  # a column block: row segment by row segment
        forward_block(code, block_view(dst, d_off + r * fan_out + c0, 1, width), bias, alpha,
                      block_view(ws, z_off + r * fan_out + c0 if keep else 0, 1 if keep else 0,
                                 width))


@jit
def layer_input(xin, x_off, ws, wsl, l):
    """(flat array, offset) of layer l's input block."""
    if l == 0:
        return xin, x_off
    return ws, wsl[l - 1, A_OFFSET]


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
    for l in range(n_layers):
        src, s_off = layer_input(xin, x_off, ws, wsl, l)
        last = l == n_layers - 1
        layer_forward(params, layout, act_param, l, src, s_off, ws, wsl, r0, r1, 0,
                      layout[l, FAN_OUT], out if last else ws,
                      out_off if last else wsl[l, A_OFFSET], save, not last)


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
def output_loss_rows(params, layout, act_param, loss_code, tin, t_off, ws, wsl, r0, r1, scale,
                     stats):
    """Bias, output activation and loss of rows r0..r1 of the output GEMM result.

    ``tin[t_off + r * n_out ...]`` is target row r; the sensitivity lands in
    D0.  Returns the summed loss.
    """
    n_layers = layout.shape[0]
    last = n_layers - 1
    head = wsl[n_layers]
    n_out = layout[last, FAN_OUT]
    a_out = wsl[last, A_OFFSET]
    rows = r1 - r0
    b = layout[last, B_OFFSET]
    z_off = wsl[last, Z_OFFSET]
    return output_loss(loss_code, layout[last, ACTIVATION],
                       block_view(ws, a_out + r0 * n_out, rows, n_out), params[b:b + n_out],
                       act_param[last], block_view(tin, t_off + r0 * n_out, rows, n_out), scale,
                       block_view(ws, head[D0_OFFSET] + r0 * n_out, rows, n_out),
                       block_view(ws, z_off + r0 * n_out, rows, n_out), stats)


@jit
def forward_loss_rows(params, layout, act_param, loss_code, xin, x_off, tin, t_off, ws, wsl,
                      r0, r1, scale, stats):
    """Forward pass and loss of rows r0..r1; the output sensitivity lands in D0.

    ``tin[t_off + r * n_out ...]`` is target row r.  Returns the summed loss.
    """
    last = layout.shape[0] - 1
    forward_rows(params, layout, act_param, xin, x_off, ws, wsl, r0, r1, ws,
                 wsl[last, A_OFFSET], True)
    return output_loss_rows(params, layout, act_param, loss_code, tin, t_off, ws, wsl, r0, r1,
                            scale, stats)


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
    # upstream D_l W_l^T, then * f'(z_{l-1}); split like layer l-1's forward pass
    coef = ws[head[COEF_OFFSET]:head[COEF_OFFSET] + 2]
    a_off, z_off = wsl[l - 1, A_OFFSET], wsl[l - 1, Z_OFFSET]
    code, alpha = layout[l - 1, ACTIVATION], act_param[l - 1]
    if wsl[l - 1, SPLIT] == COLUMN_SPLIT:
        i0, i1 = share(fan_in, t, n_threads)
        width = i1 - i0
        gemm(False, True, rows, width, fan_out, coef, ws, d_off, fan_out,
             params, w_off + i0 * fan_out, fan_out, ws, up_off + i0, fan_in)
        for r in range(rows):
            at = r * fan_in + i0
            backward_block(code, block_view(ws, up_off + at, 1, width),
                           block_view(ws, a_off + at, 1, width),
                           block_view(ws, z_off + at if z_off >= 0 else 0,
                                      1 if z_off >= 0 else 0, width), alpha)
        return
    r0, r1 = share(rows, t, n_threads)
    gemm(False, True, r1 - r0, fan_in, fan_out, coef, ws, d_off + r0 * fan_out, fan_out,
         params, w_off, fan_out, ws, up_off + r0 * fan_in, fan_in)
    backward_block(code, block_view(ws, up_off + r0 * fan_in, r1 - r0, fan_in),
                   block_view(ws, a_off + r0 * fan_in, r1 - r0, fan_in),
                   block_view(ws, (z_off if z_off >= 0 else 0) + r0 * fan_in,
                              r1 - r0 if z_off >= 0 else 0, fan_in), alpha)


@jit
def chunk_input(X, index, c0, ws, wsl, n_layers):
    """(flat array, offset) of the chunk's input rows: gathered in ``ws`` or X itself."""
    if index.size > 0:
        return ws, wsl[n_layers, X_OFFSET]
    return X.reshape(-1), c0 * X.shape[1]


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
