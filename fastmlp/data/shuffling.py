"""The order of an epoch's rows: a full shuffle, or a block shuffle for data on disk.

A full shuffle (a random permutation of the rows) reads a memory-mapped
dataset that does not fit in the page cache at random places: one disk read
per row.  A block shuffle keeps most of the randomness and reads in long
runs: the rows are cut into blocks of consecutive rows
(:data:`~fastmlp._utils.tuning.SHUFFLE_BLOCK_ROWS`), the blocks are put
in a random order, and each run of
:data:`~fastmlp._utils.tuning.SHUFFLE_BUFFER_BLOCKS` consecutive blocks of
that order -- a buffer -- is shuffled row by row.  Each buffer's rows are
read from disk block by block, and a batch mixes rows from as many places
in the file as a buffer has blocks.
"""

import numpy as np

from .._utils.tuning import SHUFFLE_BLOCK_ROWS, SHUFFLE_BUFFER_BLOCKS

__all__ = ["epoch_order", "SHUFFLES"]

#: The values of ``Trainer(shuffle=...)``.
SHUFFLES = (True, False, "blocks")


def epoch_order(rng, n_rows, shuffle, block_rows=SHUFFLE_BLOCK_ROWS,
                buffer_blocks=SHUFFLE_BUFFER_BLOCKS):
    """The rows of an epoch in the order they are trained on (int64, a permutation).

    Parameters
    ----------
    rng : numpy.random.Generator
    n_rows : int
    shuffle : {True, False, "blocks"}
        A full random permutation, the rows in their order, or a block
        shuffle (see the module docstring).
    block_rows, buffer_blocks : int
        The block shuffle's block length and blocks per buffer.
    """
    if shuffle is True:
        return rng.permutation(n_rows)
    if shuffle is False:
        return np.arange(n_rows, dtype=np.int64)
    starts = rng.permutation(np.arange(0, n_rows, block_rows))
    order = np.empty(n_rows, dtype=np.int64)
    filled = 0
    for first in range(0, starts.size, buffer_blocks):
        rows = np.concatenate([np.arange(s, min(n_rows, s + block_rows))
                               for s in starts[first:first + buffer_blocks]])
        order[filled:filled + rows.size] = rng.permutation(rows)
        filled += rows.size
    return order
