"""Whole-network forward and backward over the flat parameter buffer.

A network is a :class:`~fastmlp.kernels.structs.Net` (params, layout,
act_param, layer_f, running):

``layout`` (int64, one row per layer) locates every layer in ``params``::

    layout[l] = [fan_in, fan_out, W offset, b offset, activation code,
                 gamma offset or -1, running-statistics offset or -1, 0]

``W_l = params[w : w + fan_in*fan_out]`` viewed (fan_in, fan_out) (row form,
``A_l = f(A_{l-1} @ W_l + b_l)``) and ``b_l = params[b : b + fan_out]``.  A
layer with batch normalisation (:mod:`fastmlp.kernels.norm`) uses ``b_l``
as beta, has its gamma at the gamma offset and its running mean and
variance in ``running`` (float buffer of the params' dtype).  ``act_param``
holds each layer's activation parameter (params' dtype), ``layer_f``
(float64) per layer: [dropout rate of the layer's input, DropConnect rate,
batch-norm momentum, batch-norm eps].

``work``, a :class:`~fastmlp.kernels.structs.Work`, is the workspace: one
flat buffer ``work.buf`` sized for chunks of ``chunk_rows(work)`` rows, and
where each part of it starts.  Per layer: A_l (``out_at(work, l)``) holds the
layer's output, Z_l (``pre_at(work, l)``) its pre-activation when the backward
pass needs it (GELU/swish), ``dropped_at(work, l)`` A_l after dropout,
``masked_at(work, l)`` W_l after DropConnect, ``zhat_at(work, l)`` and
``bn_at(work, l)`` batch normalisation's normalised values and statistics,
``wt_at(work, l)`` W_l^T (fan_out, fan_in), the transposed weights of a layer
with few units, for its upstream product (:func:`backward_share`).  Per
chunk: the gathered inputs and targets (``inputs_at(work)``, ``targets_at(work)``),
the sensitivities D0/D1 (``d0_at(work)``, ``d1_at(work)``, ping-pong), the BLAS
(alpha, beta) pairs (1, 0) and (1, 1) (``coef_at(work)``) and a zero vector as
wide as the widest layer (``zeros_at(work)``).  An absent part's offset is -1.

``noise``, a :class:`~fastmlp.kernels.structs.Noise` (seed,
step, mode, row0), keys the dropout and DropConnect masks
(:mod:`fastmlp.kernels.noise`; row r of a chunk is row row0 + r of its
batch), and says whether batch norm updates its running statistics;
``training`` switches dropout, DropConnect and batch statistics on.

Threads: each layer's work is split between ``n_threads`` threads, by rows
(each thread a block of samples: consecutive row-split layers need no
synchronisation, rows are independent) or by columns (each thread all the
samples and a block of the layer's units: a bigger, more efficient GEMM per
thread for thin batches of wide layers, and what batch normalisation needs
as its statistics run over all the rows), as ``work.split`` says for
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
from numba import types
from numba.extending import overload

from . import noise as _noise
from . import sparse
from .activations import SOFTMAX
from .blas import gemm
from .config import jit
from .losses import SQUARED_ERROR, STAT_LOSS
from .memory import prefetch_rows
from .noise import keep_rate
from .shares import share, weight_slice
from .structs import (
    ACTIVATION,
    B_OFFSET,
    BN_EPS,
    BN_MOMENTUM,
    DROPCONNECT,
    DROPOUT,
    FAN_IN,
    FAN_OUT,
    G_OFFSET,
    R_OFFSET,
    W_OFFSET,
    DenseInput,
    Noise,
    SparseInput,
)
from .views import block_view, flat_view
from .workspace import (
    bn_at,
    coef_at,
    d0_at,
    d1_at,
    dropped_at,
    inputs_at,
    masked_at,
    out_at,
    pre_at,
    split_of,
    wt_at,
    zeros_at,
    zhat_at,
)

# how a team shares a hidden layer (``Work.split``)
ROW_SPLIT = 0
COLUMN_SPLIT = 1

#: the ``noise`` of inference passes (no masks drawn, no statistics updated)
INFERENCE = Noise(0, 0, 0, 0)
TRAINING = 1
TRAINING_UPDATE = 2


@jit
def inference_noise():
    """The :class:`~fastmlp.kernels.structs.Noise` of inference passes, in int64s.

    (A module constant would be typed as literals.)
    """
    zero = np.int64(0)
    return Noise(zero, zero, zero, zero)


@jit
def gather(src, index, first, r0, r1, dst, d_off):
    """Rows index[first + r] of ``src`` for r in r0..r1 into (rows, width) ``dst`` at d_off."""
    width = src.shape[1]
    for r in range(r0, r1):
        # an element loop between two views (LLVM copies with vector moves):
        # 32 random rows of 64 floats in 0.65 us, where a slice assignment
        # took 3.9 us (and compiled Numba's whole broadcasting machinery) and
        # indexing dst's flat buffer 8.6 us
        row = source_row(src, index[first + r])
        out = flat_view(dst, d_off + r * width, width)
        for j in range(width):
            out[j] = row[j]


def source_row(src, i):
    """Row i of the 2-D ``src`` as a view: unowned when ``src`` is C-contiguous."""
    return src[i]


@overload(source_row)
def _source_row_overload(src, i):
    if src.layout == "C":
        def unowned(src, i):
            return flat_view(src, i * src.shape[1], src.shape[1])
        return unowned

    def owned(src, i):
        return src[i]
    return owned


@jit
def drop_rows(buf, src_off, dst_off, width, r0, r1, c0, c1, rate, noise, stream, row0):
    """Inverted dropout of columns c0..c1, rows r0..r1 of a (rows, width) block.

    ``buf[dst_off + ...] = buf[src_off + ...] * mask / keep`` (in place when
    the offsets are equal); the mask of row r is keyed by (seed, step,
    stream, row0 + r).
    """
    keep, inv = keep_rate(rate, buf)
    for r in range(r0, r1):
        key = _noise.row_key(noise.seed, noise.step, stream, row0 + r)
        at = r * width + c0
        _noise.apply_row(buf[src_off + at:src_off + at + c1 - c0],
                         buf[dst_off + at:dst_off + at + c1 - c0], c1 - c0, key, c0, keep, inv)


# The same signatures, doing nothing: what models without dropout or
# DropConnect get (:mod:`fastmlp.kernels.ops`).

@jit
def no_drop_rows(buf, src_off, dst_off, width, r0, r1, c0, c1, rate, noise, stream, row0):
    """Stands for :func:`drop_rows` in models without dropout (never called)."""


@jit
def no_prepare_dropconnect(net, work, noise, t, n_threads):
    """Stands for :func:`prepare_dropconnect` in models without DropConnect (never called)."""


@jit
def layer_weights(net, work, l, training):
    """(flat array, offset) of the weights layer l multiplies by: W_l, or W_l after DropConnect."""
    if training and masked_at(work, l) >= 0:
        return work.buf, masked_at(work, l)
    return net.params, net.layout[l, W_OFFSET]


@jit
def hidden_input(work, l, training):
    """(flat array, offset) of the input block of layer l > 0 (A_{l-1} after dropout, if any)."""
    if training and dropped_at(work, l - 1) >= 0:
        return work.buf, dropped_at(work, l - 1)
    return work.buf, out_at(work, l - 1)


@jit
def prepare_dropconnect(net, work, noise, t, n_threads):
    """Thread t's share of every DropConnect layer's masked weights W * mask / keep."""
    params, layout, layer_f = net.params, net.layout, net.layer_f
    for l in range(layout.shape[0]):
        if masked_at(work, l) < 0:
            continue
        fan_in, fan_out, w = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFFSET]
        keep, inv = keep_rate(layer_f[l, DROPCONNECT], work.buf)
        i0, i1 = share(fan_in, t, n_threads)
        for i in range(i0, i1):
            key = _noise.row_key(noise.seed, noise.step, 2 * l + 1, i)
            at = i * fan_out
            _noise.apply_row(params[w + at:w + at + fan_out],
                             work.buf[masked_at(work, l) + at:masked_at(work, l) + at + fan_out],
                             fan_out, key, 0, keep, inv)


@jit
def layer_forward(net, ops, l, inp, work, r0, r1, c0, c1, dst, d_off, save, epilogue, noise):
    """Rows r0..r1 x units c0..c1 of layer l: the product, then the epilogue.

    Layer 0 reads the chunk's input rows ``inp`` (a
    :class:`~fastmlp.kernels.structs.DenseInput` or, for a sparse X read in
    place, a :class:`~fastmlp.kernels.structs.SparseInput`), later layers
    A_{l-1}; ``dst[d_off + r * fan_out + j]``
    receives unit j of row r.  The epilogue: bias (or batch
    normalisation), activation, and (training) dropout into the next layer's
    input buffer.  ``save``: keep what the backward pass needs.
    ``epilogue`` False leaves the raw product (output layer, finished by
    the loss or :func:`finish_output`).  Batch normalisation in training
    needs r0..r1 to be all the rows.  ``ops``: the configuration's
    functions (:class:`fastmlp.kernels.ops.Ops`).
    """
    params, layout, act_param, layer_f, running = (net.params, net.layout, net.act_param,
                                                   net.layer_f, net.running)
    training = noise.mode != 0
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    width = c1 - c0
    rows = r1 - r0
    wbuf, w_off = layer_weights(net, work, l, training)
    if l == 0:
        rate = layer_f[0, DROPOUT] if training else 0.0
        input_product(inp, work, r0, r1, c0, c1, fan_in, fan_out, wbuf, w_off, dst, d_off, rate,
                      noise)
    else:
        src, s_off = hidden_input(work, l, training)
        gemm(False, False, rows, width, fan_in, flat_view(work.buf, coef_at(work), 2), src,
             s_off + r0 * fan_in, fan_in, wbuf, w_off + c0, fan_out, dst,
             d_off + r0 * fan_out + c0, fan_out)
    if not epilogue:
        return
    z_off = pre_at(work, l)
    keep_z = save and z_off >= 0
    b = layout[l, B_OFFSET]
    bias = flat_view(params, b + c0, c1 - c0)
    g = layout[l, G_OFFSET]
    if g >= 0:  # batch normalisation, then the activation without a bias
        gamma = params[g:g + fan_out]
        beta = params[b:b + fan_out]
        if training:
            ops.norm.train(dst, d_off, rows, fan_out, c0, c1, gamma, beta, layer_f[l, BN_EPS],
                           layer_f[l, BN_MOMENTUM], work.buf, zhat_at(work, l), work.buf,
                           bn_at(work, l), running, layout[l, R_OFFSET],
                           noise.mode == TRAINING_UPDATE, net.mpi)
        else:
            zh = zhat_at(work, l) if save else -1
            ops.norm.infer(dst, d_off + r0 * fan_out, rows, fan_out, c0, c1, gamma, beta,
                           layer_f[l, BN_EPS], running, layout[l, R_OFFSET], work.buf,
                           zh + r0 * fan_out if zh >= 0 else -1, work.buf, bn_at(work, l))
        bias = flat_view(work.buf, zeros_at(work), width)
    # whole rows r0..r1, of which the activation takes columns c0..c1 (``bias``'s)
    ops.forward[layout[l, ACTIVATION]](
        block_view(dst, d_off + r0 * fan_out, rows, fan_out), bias, act_param[l],
        block_view(work.buf, z_off + r0 * fan_out if keep_z else 0, rows if keep_z else 0,
                   fan_out), c0)
    if training and dropped_at(work, l) >= 0:
        ops.dropout.rows(work.buf, d_off, dropped_at(work, l), fan_out, r0, r1, c0, c1,
                         layer_f[l + 1, DROPOUT], noise, 2 * (l + 1), noise.row0)


@jit
def forward_rows(net, ops, inp, work, r0, r1, out, out_off, save, noise):
    """Rows r0..r1 of a block through every layer but the last's epilogue.

    ``inp`` (see :func:`chunk_input`) holds the block's input rows.  Hidden
    outputs go to their A buffers in ``work.buf`` (row r at ``A_l offset + r *
    width``), the last layer's GEMM result to ``out[out_off + r * n_out]``;
    its bias and activation are left to the caller (the loss, or
    :func:`finish_output`).
    """
    layout = net.layout
    n_layers = layout.shape[0]
    for l in range(n_layers):
        last = l == n_layers - 1
        layer_forward(net, ops, l, inp, work, r0, r1, np.int64(0), layout[l, FAN_OUT],
                      out if last else work.buf, out_off if last else out_at(work, l), save,
                      not last, noise)


@jit
def finish_output(net, forward, out, out_off, r0, r1):
    """Bias and output activation on rows r0..r1 of the output block (predict)."""
    params, layout, act_param = net.params, net.layout, net.act_param
    last = layout.shape[0] - 1
    n_out = layout[last, FAN_OUT]
    b = layout[last, B_OFFSET]
    A = block_view(out, out_off + r0 * n_out, r1 - r0, n_out)
    forward[layout[last, ACTIVATION]](A, params[b:b + n_out], act_param[last],
                                      block_view(out, 0, 0, n_out), np.int64(0))


@jit
def output_loss_rows(net, ops, loss_code, tin, t_off, work, r0, r1, scale, sw, index, c0,
                     stats):
    """Bias, output activation and loss of rows r0..r1 of the output GEMM result.

    ``tin[t_off + r * n_out ...]`` is target row r; the sensitivity lands in
    D0.  Row r is at position c0 + r of the data (``index``) for its weight
    in ``sw`` (:mod:`fastmlp.kernels.losses`).  Cross-entropies apply their
    output activation themselves; squared error goes through the output
    activation's own forward and backward functions.  Returns the summed
    loss, also added to ``stats``.
    """
    params, layout, act_param = net.params, net.layout, net.act_param
    n_layers = layout.shape[0]
    last = n_layers - 1
    n_out = layout[last, FAN_OUT]
    a_out = out_at(work, last)
    rows = r1 - r0
    b = layout[last, B_OFFSET]
    z_off = pre_at(work, last)
    code, alpha = layout[last, ACTIVATION], act_param[last]
    A = block_view(work.buf, a_out + r0 * n_out, rows, n_out)
    bias = flat_view(params, b, n_out)
    D = block_view(work.buf, d0_at(work) + r0 * n_out, rows, n_out)
    Zs = block_view(work.buf, z_off + r0 * n_out, rows, n_out)
    squared = loss_code == SQUARED_ERROR
    if squared:
        ops.forward[code](A, bias, alpha, Zs, np.int64(0))
    loss = ops.loss(A, bias, block_view(tin, t_off + r0 * n_out, rows, n_out), scale, D, sw,
                    index, c0 + r0, stats, code)
    if squared and code != SOFTMAX:
        ops.backward[code](D, A, Zs, alpha, np.int64(0), n_out)
    stats[STAT_LOSS] += loss
    return loss


@jit
def forward_loss_rows(net, ops, loss_code, inp, tin, t_off, work, r0, r1, scale, sw, index, c0,
                      stats):
    """Inference forward pass and loss of rows r0..r1 of the chunk at c0 (evaluation)."""
    last = net.layout.shape[0] - 1
    forward_rows(net, ops, inp, work, r0, r1, work.buf, out_at(work, last),
                 np.bool_(False), inference_noise())
    return output_loss_rows(net, ops, loss_code, tin, t_off, work, r0, r1, scale, sw, index,
                            c0, stats)


@jit
def _activation_backward_rows(net, ops, work, l, up_off, width, r0, r1, c0, c1, noise):
    """D <- D (* dropout mask / keep) * f'(z_l) on rows r0..r1, columns c0..c1 of layer l.

    ``D`` is the (rows, width) upstream block at ``up_off``; ``width`` is
    layer l's fan_out.
    """
    layout, act_param, layer_f = net.layout, net.act_param, net.layer_f
    derive, alpha = ops.backward[layout[l, ACTIVATION]], act_param[l]
    a_off, z_off = out_at(work, l), pre_at(work, l)
    rate = layer_f[l + 1, DROPOUT] if dropped_at(work, l) >= 0 else 0.0
    if rate > 0.0 and noise.mode != 0:
        ops.dropout.rows(work.buf, up_off, up_off, width, r0, r1, c0, c1, rate, noise, 2 * (l + 1),
                         noise.row0)
    rows = r1 - r0
    derive(block_view(work.buf, up_off + r0 * width, rows, width),
           block_view(work.buf, a_off + r0 * width, rows, width),
           block_view(work.buf, (z_off if z_off >= 0 else 0) + r0 * width,
                      rows if z_off >= 0 else 0, width), alpha, c0, c1)


@jit
def add_column_sums(out, buf, off, rows, stride):
    """out[j] += sum over r < rows of buf[off + r * stride + j], for j < out.size.

    Four rows per pass over ``out``: one row at a time loads and stores
    every ``out`` element once per row, and that traffic, not the adds,
    bounded the loop (32 x 128 floats: 190 ns against 420-620 ns).
    """
    n = out.size
    r = 0
    while r + 4 <= rows:
        a = flat_view(buf, off + r * stride, n)
        b = flat_view(buf, off + (r + 1) * stride, n)
        c = flat_view(buf, off + (r + 2) * stride, n)
        d = flat_view(buf, off + (r + 3) * stride, n)
        for j in range(n):
            out[j] += (a[j] + b[j]) + (c[j] + d[j])
        r += 4
    while r < rows:
        a = flat_view(buf, off + r * stride, n)
        for j in range(n):
            out[j] += a[j]
        r += 1


@jit(inline="always")
def weight_gradient(net, ops, grad, src, s_off, work, l, rows, d_off, t, n_threads, accumulate,
                    noise):
    """Thread t's slice of dW_l = A^T D_l from the dense input block at ``src[s_off ...]``.

    The slice is rows or columns of dW_l, whichever dimension is larger
    (:func:`~fastmlp.kernels.shares.weight_slice`), written (or added, with
    ``accumulate``) by one product; DropConnect then masks it.
    """
    layout, layer_f = net.layout, net.layer_f
    fan_in, fan_out, w_off = layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFFSET]
    coef_w = flat_view(work.buf, coef_at(work) + (2 if accumulate else 0), 2)
    by_rows, lo, hi = weight_slice(fan_in, fan_out, t, n_threads)
    if by_rows:
        gemm(True, False, hi - lo, fan_out, rows, coef_w, src, s_off + lo, fan_in,
             work.buf, d_off, fan_out, grad, w_off + lo * fan_out, fan_out)
    else:
        gemm(True, False, fan_in, hi - lo, rows, coef_w, src, s_off, fan_in,
             work.buf, d_off + lo, fan_out, grad, w_off + lo, fan_out)
    if noise.mode != 0 and masked_at(work, l) >= 0:  # DropConnect: kept weights' gradient
        i0, i1, j0, j1 = (lo, hi, 0, fan_out) if by_rows else (0, fan_in, lo, hi)
        ops.dropout.rows(grad, w_off, w_off, fan_out, i0, i1, j0, j1, layer_f[l, DROPCONNECT],
                         noise, 2 * l + 1, np.int64(0))


@jit
def backward_share(net, ops, grad, inp, work, l, rows, cur, t, n_threads, accumulate, noise):
    """Thread t's share of layer l's backward step for a chunk of ``rows`` rows.

    D_l (rows, fan_out) -- the sensitivity of layer l's pre-activation, or
    of its pre-normalisation output for a batch-norm layer -- is in the
    ``cur`` sensitivity buffer.  Writes slice t of dW_l = A_{l-1}^T D_l (of
    X^T D_0 for layer 0, ``inp`` the chunk's input rows) and of db_l =
    column sums of D_l (added to ``grad`` when ``accumulate``; batch
    norm's beta and gamma were written when D_l was made), and for l > 0
    share t of D_{l-1}: (D_l W_l^T) * mask * f'(z_{l-1}), through layer
    l-1's batch normalisation if it has one.
    """
    params, layout = net.params, net.layout
    training = noise.mode != 0
    fan_in, fan_out = layout[l, FAN_IN], layout[l, FAN_OUT]
    b_off = layout[l, B_OFFSET]
    d_off = d0_at(work) if cur == 0 else d1_at(work)
    up_off = d1_at(work) if cur == 0 else d0_at(work)
    if l == 0:
        input_weight_gradient(net, ops, grad, inp, work, rows, d_off, t, n_threads, accumulate,
                              noise)
    else:
        src, s_off = hidden_input(work, l, training)
        weight_gradient(net, ops, grad, src, s_off, work, l, rows, d_off, t, n_threads,
                        accumulate, noise)
    j0, j1 = share(fan_out, t, n_threads)
    if layout[l, G_OFFSET] < 0:  # db slice: column sums of D_l over the columns j0..j1
        db = flat_view(grad, b_off + j0, j1 - j0)
        if not accumulate:
            db[:] = 0
        add_column_sums(db, work.buf, d_off + j0, rows, fan_out)
    if l == 0:
        return
    # upstream D_l W_l^T, then the mask, f'(z_{l-1}) and batch norm of layer l-1;
    # split like layer l-1's forward pass
    by_columns = split_of(work, l - 1) == COLUMN_SPLIT
    if by_columns:
        r0, r1 = 0, rows
        i0, i1 = share(fan_in, t, n_threads)
    else:
        r0, r1 = share(rows, t, n_threads)
        i0, i1 = 0, fan_in
    coef = flat_view(work.buf, coef_at(work), 2)
    wbuf, wv_off = layer_weights(net, work, l, training)
    wtt = wt_at(work, l)
    if wtt >= 0 and (n_threads == 1 or by_columns):
        # A narrow layer (a classifier's output layer): OpenBLAS multiplies D W^T
        # with a short inner dimension through its general kernel, packing both
        # operands (S's 32x10x128: 8% of its step), so the thread first writes
        # the columns i0..i1 of W_l^T (fan_out, fan_in) it needs -- its own
        # for a column-split layer l-1; a row-split thread would need all of
        # it while another writes it, so a team keeps the transposed product --
        # and multiplies without a transposition (the small-matrix kernel).
        # Each row of W^T is written contiguously; W is read with a stride of
        # fan_out (tuning.UPSTREAM_TRANSPOSE_MAX_FAN_OUT at most).
        for k in range(fan_out):
            wt_row = flat_view(work.buf, wtt + k * fan_in + i0, i1 - i0)
            for i in range(i1 - i0):
                wt_row[i] = wbuf[wv_off + (i0 + i) * fan_out + k]
        gemm(False, False, r1 - r0, i1 - i0, fan_out, coef, work.buf, d_off + r0 * fan_out,
             fan_out, work.buf, wtt + i0, fan_in, work.buf, up_off + r0 * fan_in + i0, fan_in)
    else:
        gemm(False, True, r1 - r0, i1 - i0, fan_out, coef, work.buf, d_off + r0 * fan_out,
             fan_out, wbuf, wv_off + i0 * fan_out, fan_out, work.buf,
             up_off + r0 * fan_in + i0, fan_in)
    _activation_backward_rows(net, ops, work, l - 1, up_off, fan_in, r0, r1, i0, i1, noise)
    g = layout[l - 1, G_OFFSET]
    if g >= 0:  # (r0, r1) is every row here: batch norm forces the column split
        ops.norm.backward(work.buf, up_off, rows, fan_in, i0, i1, work.buf, zhat_at(work, l - 1),
                          params[g:g + fan_in], work.buf, bn_at(work, l - 1), grad[g:g + fan_in],
                          grad[layout[l - 1, B_OFFSET]:layout[l - 1, B_OFFSET] + fan_in],
                          training, accumulate, net.mpi)


def chunk_input(X, index, c0, work):
    """The chunk's input rows as layer 0 reads them.

    A dense X: a :class:`~fastmlp.kernels.structs.DenseInput` of the rows
    gathered in ``work.buf`` (a non-empty ``index``) or of X itself; inputs
    of another dtype than the workspace's (a float64 dataset read in place
    by a float32 model) are only ever read gathered -- converted row by row
    into ``work.buf`` -- so their passes need a non-empty ``index``.  A
    sparse X: a :class:`~fastmlp.kernels.structs.SparseInput`, read where it
    is through ``index``.
    """
    if index.size > 0 or X.dtype != work.buf.dtype:
        return DenseInput(work.buf, inputs_at(work))
    return DenseInput(X.reshape(-1), c0 * X.shape[1])


def _buffer_dtype(work):
    """The float dtype of a :class:`~fastmlp.kernels.structs.Work` type's buffer."""
    return work.types[work.fields.index("buf")].dtype


@overload(chunk_input)
def _chunk_input_overload(X, index, c0, work):
    # chosen when the kernels are typed: a sparse X is read in place; with
    # two dtypes, a dense X itself could not stand where the workspace does
    if sparse.is_csr(X):
        return lambda X, index, c0, work: SparseInput(X, index, c0)
    if X.dtype != _buffer_dtype(work):
        return lambda X, index, c0, work: DenseInput(work.buf, inputs_at(work))

    def direct_or_gathered(X, index, c0, work):
        # the rows as a plain pair first: a read-only X (a memory map) and the
        # writeable workspace unify as arrays, not inside a named tuple
        flat, offset = dense_rows(X, index, c0, work)
        return DenseInput(flat, offset)
    return direct_or_gathered


@jit
def dense_rows(X, index, c0, work):
    """(flat array, offset) of a dense chunk's rows: gathered in the workspace, or X itself."""
    if index.size > 0:
        return work.buf, inputs_at(work)
    return X.reshape(-1), c0 * X.shape[1]


def is_dense(X):
    """Whether the input X is a dense array (not a sparse CSR); known when typing."""
    return not isinstance(X, tuple)


@overload(is_dense)
def _is_dense_overload(X):
    dense = not sparse.is_csr(X)
    return lambda X: dense


def gather_input(X, index, c0, r0, r1, work):
    """Rows r0..r1 of a gathered chunk's dense input into ``inputs_at(work)``; nothing for a
    sparse X (read in place)."""


@overload(gather_input)
def _gather_input_overload(X, index, c0, r0, r1, work):
    if sparse.is_csr(X):
        return lambda X, index, c0, r0, r1, work: None

    def dense(X, index, c0, r0, r1, work):
        gather(X, index, c0, r0, r1, work.buf, inputs_at(work))
    return dense


def prefetch_input_rows(X, index, start, stop):
    """Prefetch the inputs of rows index[start..stop): dense rows, or a sparse X's non-zeros."""


@overload(prefetch_input_rows)
def _prefetch_input_rows_overload(X, index, start, stop):
    if sparse.is_csr(X):
        return lambda X, index, start, stop: sparse.prefetch_rows(X, index, start, stop)
    return lambda X, index, start, stop: prefetch_rows(X, index, start, stop)


def input_product(inp, work, r0, r1, c0, c1, fan_in, fan_out, W, w_off, dst, d_off, rate,
                  noise):
    """Rows r0..r1, units c0..c1 of layer 0's product ``X_b W_0`` into ``dst`` at ``d_off``.

    Dense input rows (already dropped out where training asks) go through
    BLAS; a sparse X through :func:`fastmlp.kernels.sparse.product`, which
    applies the input dropout ``rate`` itself.
    """


@overload(input_product, inline="always")
def _input_product_overload(inp, work, r0, r1, c0, c1, fan_in, fan_out, W, w_off, dst, d_off,
                            rate, noise):
    if isinstance(inp, types.NamedTuple) and inp.instance_class is SparseInput:
        def sparse_product(inp, work, r0, r1, c0, c1, fan_in, fan_out, W, w_off, dst, d_off,
                           rate, noise):
            sparse.product(inp, r0, r1, c0, c1, W, w_off, fan_out, dst, d_off, rate, noise)
        return sparse_product

    def dense_product(inp, work, r0, r1, c0, c1, fan_in, fan_out, W, w_off, dst, d_off, rate,
                      noise):
        gemm(False, False, r1 - r0, c1 - c0, fan_in, flat_view(work.buf, coef_at(work), 2),
             inp.flat, inp.offset + r0 * fan_in, fan_in, W, w_off + c0, fan_out, dst,
             d_off + r0 * fan_out + c0, fan_out)
    return dense_product


def input_weight_gradient(net, ops, grad, inp, work, rows, d_off, t, n_threads, accumulate,
                          noise):
    """Thread t's share of layer 0's weight gradient ``X_b^T D_0`` (D_0 at ``d_off``).

    Dense input rows: :func:`weight_gradient`.  A sparse X: columns
    ``share(fan_out)`` of the rows the chunk's non-zeros pick, added to a
    block that is zero elsewhere (:mod:`fastmlp.kernels.sparse`); the
    first chunk of a pass that does not keep it so (``loss_grad``) finds
    it zeroed by its caller.
    """


@overload(input_weight_gradient, inline="always")
def _input_weight_gradient_overload(net, ops, grad, inp, work, rows, d_off, t, n_threads,
                                    accumulate, noise):
    if isinstance(inp, types.NamedTuple) and inp.instance_class is SparseInput:
        def sparse_gradient(net, ops, grad, inp, work, rows, d_off, t, n_threads, accumulate,
                            noise):
            layout, layer_f = net.layout, net.layer_f
            fan_in, fan_out, w_off = layout[0, FAN_IN], layout[0, FAN_OUT], layout[0, W_OFFSET]
            j0, j1 = share(fan_out, t, n_threads)
            training = noise.mode != 0
            rate = layer_f[0, DROPOUT] if training else 0.0
            sparse.weight_gradient(inp, rows, work.buf, d_off, fan_out, grad, w_off, j0, j1,
                                   rate, noise)
            if training and masked_at(work, 0) >= 0:  # DropConnect, on this thread's columns
                ops.dropout.rows(grad, w_off, w_off, fan_out, np.int64(0), fan_in, j0, j1,
                                 layer_f[0, DROPCONNECT], noise, np.int64(1), np.int64(0))
        return sparse_gradient

    def dense_gradient(net, ops, grad, inp, work, rows, d_off, t, n_threads, accumulate, noise):
        weight_gradient(net, ops, grad, inp.flat, inp.offset, work, np.int64(0), rows, d_off, t,
                        n_threads, accumulate, noise)
    return dense_gradient
