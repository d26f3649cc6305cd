"""ParamLayout, Workspace and split_by_columns (fastmlp/layout.py).

The parameter count and every block's place in the flat buffer are checked
against an independent walk over the layer sizes (W, b, then gamma for a
batch-normalised layer); views are checked to be views (writes go through),
to sit where the layout table says, not to overlap and to cover the buffer
exactly.  Workspace buffers are rebuilt from the documented list of what each
configuration reserves and checked for overlap, bounds and exact size.
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp._utils.tuning import COLUMN_SPLIT_MAX_ROWS_PER_THREAD as MAX_ROWS
from fastmlp._utils.tuning import COLUMN_SPLIT_MIN_FLOPS_PER_THREAD as MIN_FLOPS
from fastmlp._utils.tuning import COLUMN_SPLIT_MIN_UNITS_PER_THREAD as MIN_UNITS
from fastmlp._utils.tuning import UPSTREAM_TRANSPOSE_MAX_FAN_OUT
from fastmlp.activations import elu, get_activation, leaky_relu
from fastmlp.engine.layout import ParamLayout, Workspace, split_by_columns
from fastmlp.kernels import activations as KA
from fastmlp.kernels import network as K
from fastmlp.kernels.structs import LAYER_F_COLUMNS, LAYOUT_COLUMNS, WORK_CHUNK, WORK_PARTS

#: The column of each part in a workspace's table of parts
PART = {name: j for j, name in enumerate(WORK_PARTS)}


def chunk_entry(ws, name):
    """A chunk entry of a workspace (the last row of its table of parts)."""
    return ws.work.parts[-1, WORK_CHUNK.index(name)]


def _acts(*names):
    return [n if not isinstance(n, str) else get_activation(n, allow_softmax=True)
            for n in names]


def _expected_blocks(sizes, batch_norm):
    """(kind, layer, length) of every parameter block, in storage order."""
    blocks = []
    for l, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        blocks.append(("W", l, fan_in * fan_out))
        blocks.append(("b", l, fan_out))
        if batch_norm[l]:
            blocks.append(("g", l, fan_out))
    return blocks


CONFIGS = [
    ([3, 2], ["identity"], [False]),
    ([4, 5, 3], ["relu", "softmax"], [False, False]),
    ([6, 7, 5, 2], ["tanh", "gelu", "sigmoid"], [True, False, False]),
    ([2, 3, 4, 5, 1], ["relu", "swish", "elu", "identity"], [True, True, True, False]),
]


@pytest.mark.parametrize("sizes, acts, norm", CONFIGS)
def test_n_params_is_the_sum_of_weights_biases_and_gammas(sizes, acts, norm):
    layout = ParamLayout(sizes, _acts(*acts), norm)
    expected = sum(i * o + o + (o if bn else 0) for i, o, bn in zip(sizes[:-1], sizes[1:], norm))
    assert layout.n_params == expected
    assert layout.n_layers == len(sizes) - 1
    assert layout.n_running == sum(2 * o for o, bn in zip(sizes[1:], norm) if bn)


@pytest.mark.parametrize("sizes, acts, norm", CONFIGS)
def test_blocks_are_stored_in_order_w_b_gamma_without_gaps(sizes, acts, norm):
    layout = ParamLayout(sizes, _acts(*acts), norm)
    offset = 0
    for kind, l, length in _expected_blocks(sizes, norm):
        sl = {"W": layout.weight_slice, "b": layout.bias_slice, "g": layout.gamma_slice}[kind](l)
        assert (sl.start, sl.stop) == (offset, offset + length), (kind, l)
        offset += length
    assert offset == layout.n_params
    for l, bn in enumerate(norm):
        assert (layout.gamma_slice(l) is None) == (not bn)


@pytest.mark.parametrize("sizes, acts, norm", CONFIGS)
def test_table_matches_the_slices(sizes, acts, norm):
    layout = ParamLayout(sizes, _acts(*acts), norm)
    t = layout.table
    assert t.dtype == np.int64 and t.shape == (len(sizes) - 1, LAYOUT_COLUMNS)
    running = 0
    for l in range(layout.n_layers):
        assert t[l, K.FAN_IN] == sizes[l] and t[l, K.FAN_OUT] == sizes[l + 1]
        assert t[l, K.W_OFFSET] == layout.weight_slice(l).start
        assert t[l, K.B_OFFSET] == layout.bias_slice(l).start
        assert t[l, K.ACTIVATION] == layout.activations[l].code
        if norm[l]:
            assert t[l, K.G_OFFSET] == layout.gamma_slice(l).start
            assert t[l, K.R_OFFSET] == running
            running += 2 * sizes[l + 1]
        else:
            assert t[l, K.G_OFFSET] == -1 and t[l, K.R_OFFSET] == -1


@pytest.mark.parametrize("sizes, acts, norm", CONFIGS)
def test_views_read_the_right_elements_and_cover_the_buffer_once(sizes, acts, norm):
    layout = ParamLayout(sizes, _acts(*acts), norm)
    buf = np.arange(layout.n_params, dtype=np.float64)  # each element holds its own index
    seen = []
    weights, biases = layout.weight_views(buf), layout.bias_views(buf)
    gammas = layout.gamma_views(buf)
    for l in range(layout.n_layers):
        w_off = layout.table[l, K.W_OFFSET]
        fan_in, fan_out = sizes[l], sizes[l + 1]
        assert weights[l].shape == (fan_in, fan_out)
        # row-major (fan_in, fan_out): W[i, j] sits at w_off + i * fan_out + j
        i, j = np.indices((fan_in, fan_out))
        np.testing.assert_array_equal(weights[l], w_off + i * fan_out + j)
        b_off = layout.table[l, K.B_OFFSET]
        np.testing.assert_array_equal(biases[l], b_off + np.arange(fan_out))
        seen += [weights[l].ravel(), biases[l]]
        if norm[l]:
            g_off = layout.table[l, K.G_OFFSET]
            np.testing.assert_array_equal(gammas[l], g_off + np.arange(fan_out))
            seen.append(gammas[l])
        else:
            assert gammas[l] is None
    np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(layout.n_params))


def test_views_are_views_writes_reach_the_flat_buffer():
    layout = ParamLayout([3, 4, 2], _acts("tanh", "identity"), [True, False])
    buf = np.zeros(layout.n_params)
    w, b, g = layout.weight_views(buf), layout.bias_views(buf), layout.gamma_views(buf)
    for view in w + b + [g[0]]:
        assert np.shares_memory(view, buf)
    w[1][2, 1] = 7.0
    b[0][3] = 5.0
    g[0][1] = 3.0
    assert buf[layout.table[1, K.W_OFFSET] + 2 * 2 + 1] == 7.0
    assert buf[layout.table[0, K.B_OFFSET] + 3] == 5.0
    assert buf[layout.table[0, K.G_OFFSET] + 1] == 3.0
    assert np.count_nonzero(buf) == 3


def test_running_views_split_mean_and_variance_without_overlap():
    sizes, norm = [2, 3, 4, 5, 1], [True, False, True, False]
    layout = ParamLayout(sizes, _acts("relu", "relu", "relu", "identity"), norm)
    running = np.arange(layout.n_running, dtype=np.float64)
    views = layout.running_views(running)
    assert views[1] is None and views[3] is None
    mean0, var0 = views[0]
    mean2, var2 = views[2]
    np.testing.assert_array_equal(mean0, [0, 1, 2])
    np.testing.assert_array_equal(var0, [3, 4, 5])
    np.testing.assert_array_equal(mean2, [6, 7, 8, 9, 10])
    np.testing.assert_array_equal(var2, [11, 12, 13, 14, 15])
    assert layout.n_running == 16
    assert all(np.shares_memory(v, running) for v in (mean0, var0, mean2, var2))


def test_is_weight_marks_exactly_the_weight_blocks():
    sizes, norm = [4, 6, 3], [True, False]
    layout = ParamLayout(sizes, _acts("relu", "softmax"), norm)
    mask = layout.is_weight()
    assert mask.dtype == bool and mask.shape == (layout.n_params,)
    assert mask.sum() == 4 * 6 + 6 * 3
    expected = np.zeros(layout.n_params, dtype=bool)
    expected[0:24] = True                      # W_0; then b_0 (6), gamma_0 (6)
    expected[36:36 + 18] = True                # W_1; then b_1 (3)
    np.testing.assert_array_equal(mask, expected)


def test_batch_norm_defaults_to_off_everywhere():
    layout = ParamLayout([3, 4, 2], _acts("relu", "softmax"))
    assert layout.batch_norm == (False, False)
    assert layout.n_params == 3 * 4 + 4 + 4 * 2 + 2 and layout.n_running == 0


def test_activation_codes_and_params():
    acts = [leaky_relu(0.2), elu(0.5), get_activation("tanh"),
            get_activation("softmax", allow_softmax=True)]
    layout = ParamLayout([2, 3, 3, 3, 2], acts)
    assert layout.activation_codes == (KA.LEAKY_RELU, KA.ELU, KA.TANH, KA.SOFTMAX)
    assert len(set(layout.activation_codes)) == 4
    for dtype in (np.float32, np.float64):
        p = layout.activation_params(dtype)
        assert p.dtype == dtype
        np.testing.assert_array_equal(p, np.array([0.2, 0.5, 0.0, 0.0], dtype=dtype))


def test_model_views_follow_its_layout():
    model = fm.Model([5, 4, 3], batch_norm=True, dtype="float64", seed=0)
    layout = model.layout
    assert model.n_params == model.params.size == 5 * 4 + 4 + 4 + 4 * 3 + 3
    for l in range(2):
        assert np.shares_memory(model.weights[l], model.params)
        np.testing.assert_array_equal(model.weights[l].ravel(),
                                      model.params[layout.weight_slice(l)])
        np.testing.assert_array_equal(model.biases[l], model.params[layout.bias_slice(l)])
    np.testing.assert_array_equal(model.gammas[0], model.params[layout.gamma_slice(0)])
    assert model.gammas[1] is None
    np.testing.assert_array_equal(model.gammas[0], np.ones(4))  # gamma starts at 1


# ------------------------------------------------------------------ Workspace

def _buffers(layout, ws, training, layer_f):
    """(name, start, length) of every buffer the workspace should hold, from the docs."""
    sizes, rows, w = layout.sizes, ws.max_rows, ws.work
    n = layout.n_layers
    widest = max(sizes[1:])
    out = []
    for l in range(n):
        width = sizes[l + 1]
        output = l == n - 1
        if training or not output:
            out.append((f"A{l}", w.parts[l, PART["out"]], rows * width))
        else:
            assert w.parts[l, PART["out"]] == -1
        if training and (output or layout.activations[l].needs_preactivation):
            out.append((f"Z{l}", w.parts[l, PART["pre"]], rows * width))
        else:
            assert w.parts[l, PART["pre"]] == -1
        if layout.batch_norm[l]:
            out.append((f"S{l}", w.parts[l, PART["bn"]], 2 * width))
            if training:
                out.append((f"ZH{l}", w.parts[l, PART["zhat"]], rows * width))
        if training and layer_f is not None and not output and layer_f[l + 1, K.DROPOUT] > 0:
            out.append((f"DA{l}", w.parts[l, PART["dropped"]], rows * width))
        else:
            assert w.parts[l, PART["dropped"]] == -1
        if training and layer_f is not None and layer_f[l, K.DROPCONNECT] > 0:
            out.append((f"WT{l}", w.parts[l, PART["masked"]], sizes[l] * width))
        else:
            assert w.parts[l, PART["masked"]] == -1
        if training and l > 0 and width <= UPSTREAM_TRANSPOSE_MAX_FAN_OUT:
            out.append((f"WTT{l}", w.parts[l, PART["wt"]], sizes[l] * width))
        else:
            assert w.parts[l, PART["wt"]] == -1
    if training:
        out += [("X", chunk_entry(ws, "inputs"), rows * sizes[0]),
                ("T", chunk_entry(ws, "targets"), rows * sizes[-1]),
                ("D0", chunk_entry(ws, "d0"), rows * widest),
                ("D1", chunk_entry(ws, "d1"), rows * widest)]
    out += [("zeros", chunk_entry(ws, "zeros"), widest), ("coef", chunk_entry(ws, "coef"), 4)]
    return out


def _layer_f(n_layers, dropout=(), dropconnect=()):
    f = np.zeros((n_layers, LAYER_F_COLUMNS))
    for l, rate in dropout:
        f[l, K.DROPOUT] = rate
    for l, rate in dropconnect:
        f[l, K.DROPCONNECT] = rate
    return f


WS_CASES = [
    ([4, 5, 3], ("relu", "softmax"), None, True, None),
    ([4, 5, 3], ("relu", "softmax"), None, False, None),
    ([6, 8, 7, 2], ("gelu", "tanh", "identity"), [True, False, False], True,
     _layer_f(3, dropout=[(1, 0.5), (2, 0.2)], dropconnect=[(0, 0.3), (2, 0.1)])),
    ([6, 8, 7, 2], ("swish", "relu", "sigmoid"), [False, True, False], False,
     _layer_f(3, dropout=[(1, 0.5)], dropconnect=[(1, 0.3)])),
    ([3, 9, 1], ("elu", "identity"), [True, False], True, _layer_f(2)),
]


@pytest.mark.parametrize("sizes, acts, norm, training, layer_f", WS_CASES)
@pytest.mark.parametrize("rows", [1, 7])
def test_workspace_buffers_are_disjoint_in_bounds_and_fill_the_buffer(sizes, acts, norm,
                                                                      training, layer_f, rows):
    layout = ParamLayout(sizes, _acts(*acts), norm)
    ws = Workspace(layout, rows, np.float64, training=training, layer_f=layer_f)
    assert ws.work.parts.shape == (layout.n_layers + 1, len(WORK_PARTS))
    assert chunk_entry(ws, "max_rows") == rows == ws.max_rows and ws.work.buf is ws.buffer
    bufs = _buffers(layout, ws, training, layer_f)
    spans = sorted((int(start), int(start) + length, name) for name, start, length in bufs)
    assert spans[0][0] == 0
    for (s0, e0, n0), (s1, e1, n1) in zip(spans, spans[1:]):
        assert e0 <= s1, f"{n0} [{s0}, {e0}) overlaps {n1} [{s1}, {e1})"
    assert spans[-1][1] == ws.buffer.size
    # nothing unaccounted for: the lengths add up to the buffer
    assert sum(e - s for s, e, _ in spans) == ws.buffer.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_workspace_zero_vector_and_blas_coefficients(dtype):
    layout = ParamLayout([3, 6, 2], _acts("relu", "softmax"))
    ws = Workspace(layout, 5, dtype)
    assert ws.buffer.dtype == dtype
    z = chunk_entry(ws, "zeros")
    np.testing.assert_array_equal(ws.buffer[z:z + 6], np.zeros(6))
    c = chunk_entry(ws, "coef")
    np.testing.assert_array_equal(ws.buffer[c:c + 4], [1, 0, 1, 1])


@pytest.mark.parametrize("training", [True, False])
def test_workspace_size_grows_linearly_with_max_rows(training):
    sizes = [4, 5, 6, 3]
    layout = ParamLayout(sizes, _acts("relu", "gelu", "softmax"), [True, False, False])
    size = {r: Workspace(layout, r, np.float64, training=training).buffer.size
            for r in (1, 2, 10, 11)}
    assert size[1] < size[2] < size[10] < size[11]
    per_row = size[2] - size[1]
    assert size[11] - size[10] == per_row and size[10] - size[1] == 9 * per_row
    widest = max(sizes[1:])
    if training:
        # A of every layer, Z of the gelu layer and the output, zhat of the batch-norm
        # layer, X, T and the two sensitivity buffers
        expected = sum(sizes[1:]) + (6 + 3) + 5 + sizes[0] + sizes[-1] + 2 * widest
    else:
        expected = 5 + 6  # hidden layers' outputs only
    assert per_row == expected


def test_workspace_split_column_only_for_hidden_layers_with_threads():
    assert 16 < MAX_ROWS                          # 16 rows make a thin batch
    wide, narrow = 4 * MIN_UNITS, MIN_UNITS      # narrow: too few units for 2 threads
    # an input wide enough that 16 rows of layer 0 are worth splitting
    fan_in = -(-MIN_FLOPS * 2 // (2 * 16 * wide))
    sizes = [fan_in, wide, narrow, 3]
    layout = ParamLayout(sizes, _acts("relu", "relu", "softmax"), [False, True, False])
    one = Workspace(layout, 16, np.float64, n_threads=1)
    assert list(one.work.parts[:-1, PART["split"]]) == [K.ROW_SPLIT] * 3
    two = Workspace(layout, 16, np.float64, n_threads=2)
    # layer 0: a thin batch of a wide layer -> columns; layer 1: batch norm -> columns
    # (its width alone would not qualify); output: always rows
    split = PART["split"]
    assert list(two.work.parts[:-1, split]) == [K.COLUMN_SPLIT, K.COLUMN_SPLIT, K.ROW_SPLIT]
    many_rows = Workspace(layout, 2 * MAX_ROWS + 10, np.float64, n_threads=2)
    assert list(many_rows.work.parts[:-1, split]) == [K.ROW_SPLIT, K.COLUMN_SPLIT, K.ROW_SPLIT]
    small = ParamLayout([10, wide, narrow, 3], _acts("relu", "relu", "softmax"),
                        [False, False, False])
    # the same thin batch of a small layer: not worth a barrier -> rows
    assert Workspace(small, 16, np.float64, n_threads=2).work.parts[0, split] == K.ROW_SPLIT


# the rule: more than one thread, fewer than MAX_ROWS rows per thread, at least
# MIN_UNITS units per thread and MIN_FLOPS of forward product per thread (a wide
# input, 10**6, leaves the first three to decide)
@pytest.mark.parametrize("rows, width, n_threads, expected", [
    (100, 1000 * MIN_UNITS, 1, False),                 # one thread never splits by columns
    (2 * MAX_ROWS - 1, 2 * MIN_UNITS, 2, True),        # just below the row limit
    (2 * MAX_ROWS, 2 * MIN_UNITS, 2, False),           # at the row limit: split by rows
    (2 * MAX_ROWS - 1, 2 * MIN_UNITS - 1, 2, False),   # one unit short
    (4 * MAX_ROWS - 1, 4 * MIN_UNITS, 4, True),
    (4 * MAX_ROWS, 4 * MIN_UNITS, 4, False),
    (1, 4 * MIN_UNITS - 1, 4, False),
    (1, 4 * MIN_UNITS, 4, True),
])
def test_split_by_columns_rule(rows, width, n_threads, expected):
    assert split_by_columns(rows, width, n_threads, 10**6) is expected


def test_a_small_layer_is_split_by_rows():
    rows, width = 64, 4 * MIN_UNITS
    just = -(-MIN_FLOPS * 2 // (2 * rows * width))  # the least fan_in reaching MIN_FLOPS a thread
    assert split_by_columns(rows, width, 2, just)
    assert not split_by_columns(rows, width, 2, just - 1)
    assert not split_by_columns(64, 256, 2, 16)   # 16-256-...: 0.26 MFLOP a thread
    assert split_by_columns(64, 256, 2, 64)       # 64-256-...: 1 MFLOP a thread
    assert split_by_columns(128, 256, 2, 784)     # M's first layer: 26 MFLOP a thread
