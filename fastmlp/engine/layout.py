"""Where every weight, bias and workspace buffer lives in the flat arrays.

Parameters are stored layer after layer, ``W_0, b_0, W_1, b_1, ...``, with
``W_l`` a C-contiguous (fan_in, fan_out) block (the row form
``A_l = f(A_{l-1} W_l + b_l)`` of the lecture notes) and ``b_l`` (fan_out,);
a layer with batch normalisation stores its gamma (fan_out,) right after
``b_l``, which serves as its beta.  Gradients and optimizer state use the
same layout, so an optimizer update, a save or an average is one operation
over one array.  The running mean and variance of the batch-norm layers,
not trained, sit in a second flat buffer.
"""

import numpy as np

from .._utils.tuning import (
    COLUMN_SPLIT_MAX_ROWS_PER_THREAD,
    COLUMN_SPLIT_MIN_FLOPS_PER_THREAD,
    COLUMN_SPLIT_MIN_UNITS_PER_THREAD,
    UPSTREAM_TRANSPOSE_MAX_FAN_OUT,
)
from ..kernels import network as _k
from ..kernels.structs import LAYOUT_COLUMNS, WORK_CHUNK, WORK_PARTS, Work

__all__ = ["ParamLayout", "Workspace", "split_by_columns"]


class ParamLayout:
    """Offsets of the weights, biases and batch-norm scales of an MLP in its flat buffer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``[n_in, h_1, ..., n_out]``.
    activations : sequence of Activation
        One per layer after the input (hidden layers, then the output).
    batch_norm : sequence of bool, optional
        One per layer after the input: normalise that layer's affine output.
    """

    def __init__(self, sizes, activations, batch_norm=None):
        self.sizes = tuple(int(s) for s in sizes)
        self.activations = tuple(activations)
        n_layers = len(self.sizes) - 1
        self.batch_norm = tuple(bool(b) for b in (batch_norm or [False] * n_layers))
        table = np.full((n_layers, LAYOUT_COLUMNS), -1, dtype=np.int64)
        offset = 0
        running = 0
        for l in range(n_layers):
            fan_in, fan_out = self.sizes[l], self.sizes[l + 1]
            table[l, _k.FAN_IN] = fan_in
            table[l, _k.FAN_OUT] = fan_out
            table[l, _k.W_OFFSET] = offset
            table[l, _k.B_OFFSET] = offset + fan_in * fan_out
            table[l, _k.ACTIVATION] = self.activations[l].code
            offset += fan_in * fan_out + fan_out
            if self.batch_norm[l]:
                table[l, _k.G_OFFSET] = offset
                table[l, _k.R_OFFSET] = running
                offset += fan_out
                running += 2 * fan_out
        self.table = table
        self.n_params = offset
        self.n_running = running

    def __setstate__(self, state):
        # joblib may load the table as a read-only memory map; the kernels
        # take a plain writeable array (another type would compile anew)
        table = state.get("table")
        if isinstance(table, np.ndarray) and (not table.flags.writeable
                                              or type(table) is not np.ndarray):
            state["table"] = np.array(table)
        self.__dict__.update(state)

    @property
    def activation_codes(self):
        """The activation code of every layer, as the kernels know them."""
        return tuple(int(a.code) for a in self.activations)

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + output layer)."""
        return self.table.shape[0]

    def weight_slice(self, l):
        """Slice of ``params`` holding W_l (flattened, row-major)."""
        start = int(self.table[l, _k.W_OFFSET])
        return slice(start, start + self.sizes[l] * self.sizes[l + 1])

    def bias_slice(self, l):
        """Slice of ``params`` holding b_l (beta for a batch-norm layer)."""
        start = int(self.table[l, _k.B_OFFSET])
        return slice(start, start + self.sizes[l + 1])

    def gamma_slice(self, l):
        """Slice of ``params`` holding gamma_l, or None without batch norm."""
        start = int(self.table[l, _k.G_OFFSET])
        return None if start < 0 else slice(start, start + self.sizes[l + 1])

    def weight_views(self, buf):
        """(fan_in, fan_out) views of every W_l in ``buf``."""
        return [buf[self.weight_slice(l)].reshape(self.sizes[l], self.sizes[l + 1])
                for l in range(self.n_layers)]

    def bias_views(self, buf):
        """(fan_out,) views of every b_l in ``buf``."""
        return [buf[self.bias_slice(l)] for l in range(self.n_layers)]

    def gamma_views(self, buf):
        """(fan_out,) views of every gamma_l in ``buf`` (None where there is no batch norm)."""
        return [None if self.gamma_slice(l) is None else buf[self.gamma_slice(l)]
                for l in range(self.n_layers)]

    def running_views(self, running):
        """(mean, variance) views of every batch-norm layer's running statistics (or None)."""
        out = []
        for l in range(self.n_layers):
            r = int(self.table[l, _k.R_OFFSET])
            w = self.sizes[l + 1]
            out.append(None if r < 0 else (running[r:r + w], running[r + w:r + 2 * w]))
        return out

    def activation_params(self, dtype):
        """Per-layer activation parameter (leaky slope, ELU alpha) as ``dtype``."""
        return np.array([a.param for a in self.activations], dtype=dtype)

    def is_weight(self):
        """Boolean mask over ``params``: True on weights, False on biases and gammas."""
        mask = np.zeros(self.n_params, dtype=bool)
        for l in range(self.n_layers):
            mask[self.weight_slice(l)] = True
        return mask


class Workspace:
    """Activation, pre-activation, input, target and sensitivity buffers.

    One flat array of ``dtype`` sized for ``max_rows`` rows, allocated once
    and reused by every chunk; :attr:`work` is what the kernels take: that
    buffer and where each part of it starts (a
    :class:`~fastmlp.kernels.structs.Work`).  Threads share it, each working
    on its own rows or units.

    Parameters
    ----------
    layout : ParamLayout
    max_rows : int
        Most rows a chunk may have.
    dtype : numpy dtype
    training : bool
        Also reserve what the loss and the backward pass need: the gathered
        inputs and targets, the output layer's buffers, saved
        pre-activations, batch-norm buffers, two sensitivity buffers, the
        transposed weights of narrow layers (for their upstream product),
        and (given ``layer_f``) the dropped-out activations and DropConnect
        weights.  Without it (predict) only the hidden layers' outputs.
    n_threads : int
        Threads that will share each chunk; decides how each hidden layer's
        work is split (see :func:`split_by_columns`; batch norm needs the
        column split).
    layer_f : ndarray, optional
        The model's per-layer float options (dropout, DropConnect rates).
    touched_rows : int, default 0
        Training on a sparse input: the most rows of W_0 one batch's
        non-zeros may pick (:mod:`fastmlp.kernels.sparse`); 0 otherwise.
    gather_inputs : bool, default True
        Keep room to gather a training chunk's input rows; False where they
        are always read in place -- a sparse input, whose rows x inputs
        could be gigabytes, or an evaluation.
    """

    def __init__(self, layout, max_rows, dtype, training=True, n_threads=1, layer_f=None,
                 touched_rows=0, gather_inputs=True):
        sizes = layout.sizes
        n_layers = layout.n_layers
        widest = max(sizes[1:])
        # a row per layer, then the chunk's entries (kernels.structs.WORK_CHUNK)
        parts = np.full((n_layers + 1, len(WORK_PARTS)), -1, dtype=np.int64)
        column = {name: j for j, name in enumerate(WORK_PARTS)}
        offset = 0

        def take(width, rows=max_rows):
            nonlocal offset
            start = offset
            offset += rows * width
            return start

        for l in range(n_layers):
            width = sizes[l + 1]
            output = l == n_layers - 1
            norm = layout.batch_norm[l]
            parts[l, column["out"]] = take(width) if (training or not output) else -1
            keep_z = training and (output or layout.activations[l].needs_preactivation)
            parts[l, column["pre"]] = take(width) if keep_z else -1
            split = norm or split_by_columns(max_rows, width, n_threads, sizes[l])
            by_columns = not output and n_threads > 1 and split
            parts[l, column["split"]] = _k.COLUMN_SPLIT if by_columns else _k.ROW_SPLIT
            if norm:
                parts[l, column["bn"]] = take(2 * width, rows=1)
                if training:
                    parts[l, column["zhat"]] = take(width)
            if training and layer_f is not None:
                if not output and layer_f[l + 1, _k.DROPOUT] > 0:
                    parts[l, column["dropped"]] = take(width)
                if layer_f[l, _k.DROPCONNECT] > 0:
                    parts[l, column["masked"]] = take(sizes[l] * width, rows=1)
            if training and l > 0 and width <= UPSTREAM_TRANSPOSE_MAX_FAN_OUT:
                parts[l, column["wt"]] = take(sizes[l] * width, rows=1)
        chunk = dict.fromkeys(("inputs", "targets", "d0", "d1"), 0)
        if training:
            chunk = dict(inputs=take(sizes[0] if gather_inputs else 0), targets=take(sizes[-1]),
                         d0=take(widest), d1=take(widest))
        zeros = take(widest, rows=1)
        coef = offset
        chunk.update(max_rows=max_rows, coef=coef, zeros=zeros)
        parts[n_layers, :len(WORK_CHUNK)] = [chunk[name] for name in WORK_CHUNK]
        self.max_rows = max_rows
        self.buffer = np.empty(offset + 4, dtype=dtype)
        self.buffer[zeros:zeros + widest] = 0
        # BLAS (alpha, beta) pairs: (1, 0) to overwrite, (1, 1) to accumulate
        self.buffer[coef:] = (1, 0, 1, 1)
        # a sparse input's list (kernels.sparse): count, capacity, the list, a
        # stamp per input (-1: no step has that number, every row is new), and
        # the bits of a float64 per input (the lazy update's penalty of each row)
        rows = np.zeros(0, dtype=np.int64)
        if touched_rows > 0:
            rows = np.concatenate([[0, touched_rows], np.zeros(touched_rows, dtype=np.int64),
                                   np.full(sizes[0], -1, dtype=np.int64),
                                   np.zeros(sizes[0], dtype=np.int64)])
        #: what the kernels take: the buffer and where its parts start
        self.work = Work(buf=self.buffer, parts=parts, rows=rows)


def split_by_columns(rows, width, n_threads, fan_in):
    """Whether threads should share a hidden layer (``fan_in`` -> ``width`` units) by units
    rather than by samples.

    With a thin batch each thread's GEMM is more efficient over all the rows
    and a slice of the units -- when the layer is large enough to repay the
    barrier that ends it (the thresholds and their measurements:
    :mod:`fastmlp._utils.tuning`).
    """
    return (n_threads > 1 and rows < COLUMN_SPLIT_MAX_ROWS_PER_THREAD * n_threads
            and width >= COLUMN_SPLIT_MIN_UNITS_PER_THREAD * n_threads
            and 2 * rows * fan_in * width >= COLUMN_SPLIT_MIN_FLOPS_PER_THREAD * n_threads)
