"""Rows of a large input read where they are.

A training set held out from a memory-mapped file, or one that needs the
model's preprocessing, is not copied whole: :class:`RowSubset` stands for
``X[index]`` and reads the rows when they are asked for, and
:func:`is_large` says when an input is big enough for that to matter
(above ``INPUT_COPY_MAX_BYTES``; smaller inputs are simply copied, which
keeps the kernels on their fastest path); :func:`reads_in_place` says which
inputs the training reads where they are (memory maps, read-only arrays).
"""

import mmap

import numpy as np

from .._utils.sparse import is_sparse
from .._utils.validation import is_large

__all__ = ["RowSubset", "reads_in_place", "take_rows"]


class RowSubset:
    """Rows ``index`` of a 2-D array, read on demand: ``X[index]`` without the copy.

    Slicing or indexing it returns an ordinary array of those rows (read
    from ``base`` then), so the code that reads inputs block by block takes
    it as it takes an array.

    Parameters
    ----------
    base : ndarray (n, n_features)
        Checked rows (a memory map, say).
    index : ndarray of int
        The rows of ``base`` this subset holds, in its order.
    """

    ndim = 2

    def __init__(self, base, index):
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)

    @property
    def shape(self):
        """(rows of the subset, columns of the base)."""
        return (self.index.size, self.base.shape[1])

    @property
    def dtype(self):
        """The base's dtype."""
        return self.base.dtype

    @property
    def itemsize(self):
        """Bytes per value, as the base's."""
        return self.base.itemsize

    @property
    def nbytes(self):
        """Bytes the subset's rows would take as an array."""
        return self.index.size * self.base.shape[1] * self.base.itemsize

    def __len__(self):
        return self.index.size

    def __getitem__(self, key):
        return self.base[self.index[key]]

    def __array__(self, dtype=None, copy=None):
        # NumPy would otherwise build the array row by row through
        # __getitem__; a caller that asks for all of it gets one gather
        if copy is False:
            raise ValueError("a RowSubset is not an array: reading it copies its rows")
        rows = self.base[self.index]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def __repr__(self):
        return f"RowSubset({self.shape[0]} of {self.base.shape[0]} rows)"


def reads_in_place(X):
    """Whether X is read where it is rather than copied by the training: a large input
    that is read-only or maps a file (``np.load(path, mmap_mode="r")``).

    A large writeable in-memory array is copied when a split or the
    preprocessing asks for it, as for any array: the copy is the faster
    path, and the data fit in memory already.
    """
    if isinstance(X, RowSubset):
        return True
    if is_sparse(X):  # its arrays are sliced, not its rows read one by one
        return False
    if not is_large(X):
        return False
    if not X.flags.writeable:
        return True
    base = X
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def take_rows(X, index):
    """``X[index]``: a :class:`RowSubset` for an input read in place
    (:func:`reads_in_place`), a copy otherwise."""
    return RowSubset(X, index) if reads_in_place(X) else X[index]
