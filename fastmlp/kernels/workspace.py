"""The parts of a workspace, read by name: where each buffer starts in ``work.buf``.

A :class:`~fastmlp.kernels.structs.Work` keeps its offsets in one int64
table, ``parts`` (a row per layer, the columns of
:data:`~fastmlp.kernels.structs.WORK_PARTS`, and a last row for the chunk's
entries, :data:`~fastmlp.kernels.structs.WORK_CHUNK`), so that the
structure the kernels pass from call to call stays small; these functions
read it by name.  An absent part's offset is -1.
"""

from .config import jit
from .structs import WORK_CHUNK, WORK_PARTS

_OUT, _PRE, _SPLIT, _BN, _DROPPED, _MASKED, _ZHAT, _WT = (
    WORK_PARTS.index(name) for name in ("out", "pre", "split", "bn", "dropped", "masked",
                                        "zhat", "wt"))


@jit
def out_at(work, l):
    """Offset of A_l, layer l's output (rows, fan_out)."""
    return work.parts[l, _OUT]


@jit
def pre_at(work, l):
    """Offset of Z_l, layer l's pre-activation kept for the backward pass, or -1."""
    return work.parts[l, _PRE]


@jit
def split_of(work, l):
    """How a team shares layer l: ``ROW_SPLIT`` or ``COLUMN_SPLIT`` (kernels.network)."""
    return work.parts[l, _SPLIT]


@jit
def bn_at(work, l):
    """Offset of layer l's batch-normalisation statistics (2, fan_out), or -1."""
    return work.parts[l, _BN]


@jit
def dropped_at(work, l):
    """Offset of A_l after dropout (the next layer's input in training), or -1."""
    return work.parts[l, _DROPPED]


@jit
def masked_at(work, l):
    """Offset of W_l after DropConnect (fan_in, fan_out), or -1."""
    return work.parts[l, _MASKED]


@jit
def zhat_at(work, l):
    """Offset of layer l's normalised pre-activation (rows, fan_out), or -1."""
    return work.parts[l, _ZHAT]


@jit
def wt_at(work, l):
    """Offset of W_l transposed (fan_out, fan_in), or -1."""
    return work.parts[l, _WT]


_MAX_ROWS, _INPUTS, _TARGETS, _D0, _D1, _COEF, _ZEROS = range(len(WORK_CHUNK))


@jit
def chunk_rows(work):
    """The most rows a chunk of this workspace has."""
    return work.parts[work.parts.shape[0] - 1, _MAX_ROWS]


@jit
def inputs_at(work):
    """Offset of a chunk's gathered input rows (rows, n_in)."""
    return work.parts[work.parts.shape[0] - 1, _INPUTS]


@jit
def targets_at(work):
    """Offset of a chunk's gathered target rows (rows, n_out)."""
    return work.parts[work.parts.shape[0] - 1, _TARGETS]


@jit
def d0_at(work):
    """Offset of the first sensitivity buffer (rows, widest layer)."""
    return work.parts[work.parts.shape[0] - 1, _D0]


@jit
def d1_at(work):
    """Offset of the second sensitivity buffer (rows, widest layer)."""
    return work.parts[work.parts.shape[0] - 1, _D1]


@jit
def coef_at(work):
    """Offset of the BLAS (alpha, beta) pairs (1, 0) and (1, 1)."""
    return work.parts[work.parts.shape[0] - 1, _COEF]


@jit
def zeros_at(work):
    """Offset of a zero row as wide as the widest layer."""
    return work.parts[work.parts.shape[0] - 1, _ZEROS]
