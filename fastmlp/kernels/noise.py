"""Counter-based random masks for dropout and DropConnect.

A mask bit is a pure function of (seed, step, stream, row, column): a
64-bit hash (the SplitMix64 finaliser) of those numbers, its top 24 bits
read as a uniform number in [0, 1) and compared with the keep probability.
Nothing is stored between the forward and the backward pass (the backward
pass recomputes the bits), any thread can draw any element in any order,
and the masks are the same for every thread count: same seed, same masks,
same result.

``stream`` tells the uses apart: ``2 l`` for the dropout on layer l's input,
``2 l + 1`` for layer l's DropConnect.
"""

import numpy as np

from .config import jit
from .mathfun import like

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_K_STEP = np.uint64(0xD1B54A32D192ED03)
_K_STREAM = np.uint64(0xABC98388FB8FAC03)
_K_ROW = np.uint64(0x8CB92BA72F3D8DD7)
_INV_2_24 = 1.0 / (1 << 24)


@jit
def _mix(z):
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@jit
def row_key(seed, step, stream, row):
    """The hash key of one row of one mask (mixed once; columns are added to it)."""
    k = _mix(np.uint64(seed))
    k = _mix(k ^ (np.uint64(step) * _K_STEP))
    k = _mix(k ^ (np.uint64(stream) * _K_STREAM))
    return _mix(k ^ (np.uint64(row) * _K_ROW))


@jit
def uniform(key, col):
    """A uniform number in [0, 1) for column ``col`` of the row with ``key``."""
    return float(_mix(key ^ np.uint64(col)) >> np.uint64(40)) * _INV_2_24


@jit
def apply_row(src, dst, n, key, c0, keep, inv_keep):
    """dst[j] = src[j] / keep where kept, 0 where dropped, for columns c0..c0+n."""
    zero = inv_keep - inv_keep
    for j in range(n):
        dst[j] = src[j] * inv_keep if uniform(key, c0 + j) < keep else zero


@jit
def keep_rate(rate, like_):
    """(keep probability, 1 / keep in the buffers' dtype) of a drop rate."""
    keep = 1.0 - rate
    return keep, like(1.0 / keep, like_)
