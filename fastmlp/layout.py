"""Where every weight, bias and workspace buffer lives in the flat arrays.

Parameters are stored layer after layer, ``W_0, b_0, W_1, b_1, ...``, with
``W_l`` a C-contiguous (fan_in, fan_out) block (the row form
``A_l = f(A_{l-1} W_l + b_l)`` of the lecture notes) and ``b_l`` (fan_out,).
Gradients and optimizer state use the same layout, so an optimizer update,
a save or an average is one operation over one array.
"""

import numpy as np

from .kernels import network as _k

__all__ = ["ParamLayout", "Workspace"]


class ParamLayout:
    """Offsets of the weights and biases of an MLP in its flat buffer.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first: ``[n_in, h_1, ..., n_out]``.
    activations : sequence of Activation
        One per layer after the input (hidden layers, then the output).
    """

    def __init__(self, sizes, activations):
        self.sizes = tuple(int(s) for s in sizes)
        self.activations = tuple(activations)
        n_layers = len(self.sizes) - 1
        table = np.zeros((n_layers, _k.LAYOUT_COLUMNS), dtype=np.int64)
        offset = 0
        for l in range(n_layers):
            fan_in, fan_out = self.sizes[l], self.sizes[l + 1]
            table[l, _k.FAN_IN] = fan_in
            table[l, _k.FAN_OUT] = fan_out
            table[l, _k.W_OFFSET] = offset
            table[l, _k.B_OFFSET] = offset + fan_in * fan_out
            table[l, _k.ACTIVATION] = self.activations[l].code
            offset += fan_in * fan_out + fan_out
        self.table = table
        self.n_params = offset

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + output layer)."""
        return self.table.shape[0]

    def weight_slice(self, l):
        """Slice of ``params`` holding W_l (flattened, row-major)."""
        start = int(self.table[l, _k.W_OFFSET])
        return slice(start, start + self.sizes[l] * self.sizes[l + 1])

    def bias_slice(self, l):
        """Slice of ``params`` holding b_l."""
        start = int(self.table[l, _k.B_OFFSET])
        return slice(start, start + self.sizes[l + 1])

    def weight_views(self, buf):
        """(fan_in, fan_out) views of every W_l in ``buf``."""
        return [buf[self.weight_slice(l)].reshape(self.sizes[l], self.sizes[l + 1])
                for l in range(self.n_layers)]

    def bias_views(self, buf):
        """(fan_out,) views of every b_l in ``buf``."""
        return [buf[self.bias_slice(l)] for l in range(self.n_layers)]

    def activation_params(self, dtype):
        """Per-layer activation parameter (leaky slope, ELU alpha) as ``dtype``."""
        return np.array([a.param for a in self.activations], dtype=dtype)


class Workspace:
    """Activation, pre-activation, input, target and sensitivity buffers.

    One flat array of ``dtype`` sized for ``max_rows`` rows, allocated once
    and reused by every chunk; ``table`` (int64) tells the kernels where each
    buffer starts (see :mod:`fastmlp.kernels.network`).  Threads share it,
    each working on its own rows.

    Parameters
    ----------
    layout : ParamLayout
    max_rows : int
        Most rows a chunk may have.
    dtype : numpy dtype
    training : bool
        Also reserve what the loss and the backward pass need: the gathered
        inputs and targets, the output layer's buffers, saved
        pre-activations and two sensitivity buffers.  Without it (predict)
        only the hidden layers' outputs are kept.
    n_threads : int
        Threads that will share each chunk; decides how each hidden layer's
        work is split (see :func:`split_by_columns`).
    """

    def __init__(self, layout, max_rows, dtype, training=True, n_threads=1):
        sizes = layout.sizes
        n_layers = layout.n_layers
        table = np.zeros((n_layers + 1, _k.LAYOUT_COLUMNS), dtype=np.int64)
        offset = 0

        def take(width):
            nonlocal offset
            start = offset
            offset += max_rows * width
            return start

        for l in range(n_layers):
            width = sizes[l + 1]
            output = l == n_layers - 1
            table[l, _k.A_OFFSET] = take(width) if (training or not output) else -1
            keep_z = training and (output or layout.activations[l].needs_preactivation)
            table[l, _k.Z_OFFSET] = take(width) if keep_z else -1
            if not output and split_by_columns(max_rows, width, n_threads):
                table[l, _k.SPLIT] = _k.COLUMN_SPLIT
        head = table[n_layers]
        head[_k.MAX_ROWS] = max_rows
        if training:
            head[_k.X_OFFSET] = take(sizes[0])
            head[_k.T_OFFSET] = take(sizes[-1])
            head[_k.D0_OFFSET] = take(max(sizes[1:]))
            head[_k.D1_OFFSET] = take(max(sizes[1:]))
        head[_k.COEF_OFFSET] = offset
        self.table = table
        self.max_rows = max_rows
        self.buffer = np.empty(offset + 4, dtype=dtype)
        # BLAS (alpha, beta) pairs: (1, 0) to overwrite, (1, 1) to accumulate
        self.buffer[offset:] = (1, 0, 1, 1)


def split_by_columns(rows, width, n_threads):
    """Whether threads should share a hidden layer by units rather than by samples.

    With a thin batch (fewer than 256 rows per thread) each thread's GEMM is
    more efficient over all the rows and a slice of the units, as long as
    each slice keeps 64 units or more; measured single-thread sgemm:
    256x1024x512 at 92 GFLOP/s against 128x1024x1024 at 80, 128x784x128 at
    88 against 64x784x256 at 82.
    """
    return n_threads > 1 and rows < 256 * n_threads and width >= 64 * n_threads
