"""Whole-network forward and backward over the flat parameter buffer.

``layout`` (int64, one row per layer) locates every layer in ``params``::

    layout[l] = [fan_in, fan_out, W offset, b offset, activation code]

``W_l = params[w : w + fan_in*fan_out].reshape(fan_in, fan_out)`` (row form,
``A_l = f(A_{l-1} @ W_l + b_l)``) and ``b_l = params[b : b + fan_out]``.

``ws`` is one flat workspace sized for ``max_rows`` rows and ``wsl`` (int64)
locates the buffers in it::

    wsl[l] = [A_l offset, Z_l offset or -1, 0, 0, 0]        l < n_layers
    wsl[n_layers] = [max_rows, X offset, T offset, D0 offset, D1 offset]

A_l holds the layer's output, Z_l its pre-activation when the backward pass
needs it (GELU/swish, and the output layer for the losses), X and T the
gathered inputs and targets of a chunk, D0/D1 the sensitivities (ping-pong).

The matrix products are BLAS calls (``np.dot`` with ``out=``, which Numba
turns into sgemm/dgemm on the operands in place, transposed views included);
the bias/activation epilogue runs right after each product while its output
is still in cache.  Nothing here allocates.
"""

import numpy as np

from .activations import backward_block, forward_block
from .config import jit
from .losses import output_loss
from .mathfun import like

FAN_IN = 0
FAN_OUT = 1
W_OFFSET = 2
B_OFFSET = 3
ACTIVATION = 4
LAYOUT_COLUMNS = 5

A_OFFSET = 0
Z_OFFSET = 1
MAX_ROWS = 0
X_OFFSET = 1
T_OFFSET = 2
D0_OFFSET = 3
D1_OFFSET = 4


@jit
def weight_view(buf, layout, l):
    """W_l (fan_in, fan_out) as a view of ``buf`` (params or grad)."""
    fan_in, fan_out, w = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFFSET]
    return buf[w:w + fan_in * fan_out].reshape(fan_in, fan_out)


@jit
def bias_view(buf, layout, l):
    """b_l (fan_out,) as a view of ``buf`` (params or grad)."""
    b = layout[l, B_OFFSET]
    return buf[b:b + layout[l, FAN_OUT]]


@jit
def block_view(ws, offset, rows, width):
    """The first ``rows`` rows of a (max_rows, width) buffer in ``ws``."""
    return ws[offset:offset + rows * width].reshape(rows, width)


@jit
def forward(params, layout, act_param, X, ws, wsl, save):
    """Forward pass of ``X`` (rows, n_in); A_l (and Z_l when ``save``) land in ``ws``.

    Returns the output block A_{L-1} (rows, n_out), a view into ``ws``.
    """
    rows = X.shape[0]
    n_layers = layout.shape[0]
    prev = X
    for l in range(n_layers):
        fan_out = layout[l, FAN_OUT]
        out = block_view(ws, wsl[l, A_OFFSET], rows, fan_out)
        np.dot(prev, weight_view(params, layout, l), out)
        z_off = wsl[l, Z_OFFSET]
        keep_z = save and z_off >= 0
        Zs = block_view(ws, z_off if keep_z else 0, rows if keep_z else 0, fan_out)
        forward_block(layout[l, ACTIVATION], out, bias_view(params, layout, l), act_param[l], Zs)
        prev = out
    return prev


@jit
def backward(params, grad, layout, act_param, X, ws, wsl, rows):
    """Weight gradients and hidden sensitivities, given the output sensitivity.

    Expects the output sensitivity (rows, n_out) in D0 and the output bias
    gradient already in ``grad``; writes every other slot of ``grad``.
    Shapes: X (rows, n_in) is the input block the forward pass saw.
    """
    n_layers = layout.shape[0]
    d_offsets = (wsl[n_layers, D0_OFFSET], wsl[n_layers, D1_OFFSET])
    cur = 0
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
        D = block_view(ws, d_offsets[cur], rows, fan_out)
        if l > 0:
            prev = block_view(ws, wsl[l - 1, A_OFFSET], rows, fan_in)
            np.dot(prev.T, D, weight_view(grad, layout, l))
            # Upstream for layer l-1, then its sensitivity and bias gradient.
            up = block_view(ws, d_offsets[1 - cur], rows, fan_in)
            np.dot(D, weight_view(params, layout, l).T, up)
            z_off = wsl[l - 1, Z_OFFSET]
            Zs = block_view(ws, z_off if z_off >= 0 else 0, rows if z_off >= 0 else 0, fan_in)
            backward_block(layout[l - 1, ACTIVATION], up, prev, Zs, act_param[l - 1],
                           bias_view(grad, layout, l - 1))
            cur = 1 - cur
        else:
            np.dot(X.T, D, weight_view(grad, layout, l))


@jit
def rows_of(src, index, start, stop, ws, offset):
    """Rows start..stop of ``src``, through ``index`` when it is non-empty.

    Contiguous rows are returned as a view; indexed rows are gathered into
    the (rows, width) buffer at ``offset`` in ``ws``.
    """
    if index.size == 0:
        return src[start:stop]
    dst = block_view(ws, offset, stop - start, src.shape[1])
    for r in range(stop - start):
        dst[r, :] = src[index[start + r]]
    return dst


@jit
def chunk_loss_grad(params, grad, layout, act_param, loss_code, X, T, index, start, stop,
                    scale, ws, wsl, stats):
    """Loss (summed over rows) and gradient of rows start..stop (at most max_rows).

    The gradient written to ``grad`` is ``scale * sum of per-sample gradients``.
    """
    n_layers = layout.shape[0]
    last = n_layers - 1
    head = wsl[n_layers]
    rows = stop - start
    Xb = rows_of(X, index, start, stop, ws, head[X_OFFSET])
    Tb = rows_of(T, index, start, stop, ws, head[T_OFFSET])
    out = forward(params, layout, act_param, Xb, ws, wsl, True)
    n_out = layout[last, FAN_OUT]
    Z = block_view(ws, wsl[last, Z_OFFSET], rows, n_out)
    D = block_view(ws, head[D0_OFFSET], rows, n_out)
    loss = output_loss(loss_code, layout[last, ACTIVATION], Z, out, Tb, scale,
                       act_param[last], D, bias_view(grad, layout, last), stats)
    backward(params, grad, layout, act_param, Xb, ws, wsl, rows)
    return loss


@jit
def loss_grad(params, grad, grad_tmp, layout, act_param, loss_code, X, T, index, start, stop,
              ws, wsl, stats):
    """Mean loss and gradient over rows start..stop, in chunks of max_rows rows.

    ``grad_tmp`` (same size as ``grad``) receives each chunk after the first
    before it is added to ``grad``; it is unused when one chunk suffices.
    """
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    scale = like(1.0 / (stop - start), grad)
    total = 0.0
    for c0 in range(start, stop, max_rows):
        c1 = min(stop, c0 + max_rows)
        target = grad if c0 == start else grad_tmp
        total += chunk_loss_grad(params, target, layout, act_param, loss_code, X, T, index,
                                 c0, c1, scale, ws, wsl, stats)
        if c0 != start:
            for i in range(grad.size):
                grad[i] += grad_tmp[i]
    return total / (stop - start)


@jit
def predict(params, layout, act_param, X, out, ws, wsl):
    """Network output for every row of X into ``out`` (n, n_out), chunk by chunk."""
    n_layers = layout.shape[0]
    max_rows = wsl[n_layers, MAX_ROWS]
    n = X.shape[0]
    for c0 in range(0, n, max_rows):
        c1 = min(n, c0 + max_rows)
        res = forward(params, layout, act_param, X[c0:c1], ws, wsl, False)
        out[c0:c1] = res


@jit
def evaluate(params, layout, act_param, loss_code, X, T, ws, wsl, db, stats):
    """Summed loss and metrics (into ``stats``) of X against T, chunk by chunk.

    ``ws`` needs the D0 buffer (a training workspace) as scratch for the
    loss kernel; ``db`` (n_out,) is scratch too.
    """
    n_layers = layout.shape[0]
    last = n_layers - 1
    head = wsl[n_layers]
    n = X.shape[0]
    n_out = layout[last, FAN_OUT]
    zero = like(0, ws)
    total = 0.0
    for c0 in range(0, n, head[MAX_ROWS]):
        c1 = min(n, c0 + head[MAX_ROWS])
        out = forward(params, layout, act_param, X[c0:c1], ws, wsl, True)
        Z = block_view(ws, wsl[last, Z_OFFSET], c1 - c0, n_out)
        D = block_view(ws, head[D0_OFFSET], c1 - c0, n_out)
        total += output_loss(loss_code, layout[last, ACTIVATION], Z, out, T[c0:c1], zero,
                             act_param[last], D, db, stats)
    return total
