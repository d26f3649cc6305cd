"""Every split of rows: train / test, train / validation / test, stratified or not, in order.

Random splits (:func:`train_test_split`, :func:`train_val_test_split`,
:func:`held_out_indices`, which :meth:`fastmlp.Trainer.fit`'s
``validation_fraction`` draws with too) keep each class's proportion on
both sides when given labels.  The command line splits a table with
:func:`row_split` (test rows first, then validation rows from the rest)
and a file of ``fastmlp convert`` -- read in place, never copied -- with
:func:`contiguous_split` into consecutive row ranges.
"""

import numbers
from collections import namedtuple

import numpy as np

from .._utils.validation import check_seed

__all__ = ["train_test_split", "train_val_test_split", "split_count", "stratified_indices",
           "held_out_indices", "RowSplit", "row_split", "contiguous_split"]

#: The rows of each part of a train / validation / test split: index arrays,
#: or slices (consecutive rows, which index a memory map without copying it).
RowSplit = namedtuple("RowSplit", ["train", "val", "test"])


def train_test_split(*arrays, test_size=0.25, stratify=None, seed=None):
    """Split arrays (same first dimension) into random train and test parts.

    Parameters
    ----------
    *arrays : array-like
    test_size : float in (0, 1) or int
        Fraction or number of samples in the test part.
    stratify : array-like of labels, optional
        Keep each label's proportion in both parts (each label with at least
        two samples appears in both).
    seed : int, numpy Generator or None

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``.
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    for a in arrays[1:]:
        if a.shape[0] != n:
            raise ValueError(f"arrays have different lengths: {n} and {a.shape[0]}")
    n_test = split_count(test_size, n)
    rng = np.random.default_rng(check_seed(seed))
    test_idx, train_idx = held_out_indices(n, n_test, rng, stratify)
    out = []
    for a in arrays:
        out += [a[train_idx], a[test_idx]]
    return out


def train_val_test_split(*arrays, val_size=0.15, test_size=0.15, stratify=None, seed=None):
    """Split arrays into training, validation and test parts.

    The lecture's data discipline: fit on the training part, choose
    hyper-parameters (and stop early) on the validation part, and report the
    test part once at the end.

    Parameters
    ----------
    *arrays : array-like
    val_size, test_size : float in (0, 1) or int
        Fractions of the whole data (or sample counts) for validation and test.
    stratify : array-like of labels, optional
        Keep each label's proportion in all three parts.
    seed : int, numpy Generator or None

    Returns
    -------
    list
        ``[a_train, a_val, a_test, b_train, b_val, b_test, ...]``.
    """
    if not arrays:
        raise ValueError("train_val_test_split needs at least one array")
    rng = np.random.default_rng(check_seed(seed))
    n = np.asarray(arrays[0]).shape[0]
    n_test, n_val = split_count(test_size, n), split_count(val_size, n)
    if n_test + n_val >= n:
        raise ValueError(f"val_size={val_size!r} and test_size={test_size!r} leave no training "
                         f"samples out of {n}")
    labels = [] if stratify is None else [stratify]
    first = train_test_split(*arrays, *labels, test_size=n_test, stratify=stratify, seed=rng)
    rest, tests = first[0::2], first[1::2]
    second = train_test_split(*rest[:len(arrays)], test_size=n_val,
                              stratify=rest[-1] if labels else None, seed=rng)
    out = []
    for i in range(len(arrays)):
        out += [second[2 * i], second[2 * i + 1], tests[i]]
    return out


def split_count(test_size, n):
    """Samples in the held-out part: ``test_size`` as a fraction of ``n`` (rounded up) or a count.

    Raises
    ------
    ValueError
        Neither a fraction in (0, 1) nor a count, or a split that leaves
        either part empty.
    """
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = int(np.ceil(test_size * n))
    else:
        raise ValueError("test_size must be a fraction in (0, 1) or a sample count, "
                         f"got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size!r} leaves {n_test} of {n} samples for testing; "
                         "both parts need at least one sample")
    return n_test


def stratified_indices(labels, n_test, rng):
    """(held-out, kept) row indices, each class split in the proportion ``n_test / n``.

    Every class with two or more samples has at least one on each side.
    ``rng`` is a NumPy Generator.
    """
    n = labels.shape[0]
    if labels.shape[0] != n or labels.ndim != 1:
        raise ValueError("stratify must be a 1-D array of labels")
    classes, y = np.unique(labels, return_inverse=True)
    frac = n_test / n
    test, train = [], []
    for c in range(classes.size):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(frac * idx.size))
        if idx.size >= 2:
            k = min(max(k, 1), idx.size - 1)
        test.append(idx[:k])
        train.append(idx[k:])
    test_idx, train_idx = np.concatenate(test), np.concatenate(train)
    return rng.permutation(test_idx), rng.permutation(train_idx)


def held_out_indices(n, n_held, rng, stratify=None):
    """(held-out, kept) indices of ``n`` rows: ``n_held`` random ones and the rest.

    Parameters
    ----------
    n, n_held : int
    rng : numpy Generator
    stratify : array-like of labels, optional
        Split each class in the proportion ``n_held / n``
        (:func:`stratified_indices`).
    """
    if stratify is None:
        perm = rng.permutation(n)
        return perm[:n_held], perm[n_held:]
    return stratified_indices(np.asarray(stratify), n_held, rng)


def row_split(n, test_size, validation_size, seed, stratify=None):
    """The rows of a random train / validation / test split, as the command line draws it.

    The test rows are drawn first (``test_size`` of all rows, with ``seed``),
    then the validation rows from the rest (``validation_size`` of them,
    with ``seed + 1``).

    Parameters
    ----------
    n : int
    test_size, validation_size : float in (0, 1) or int
    seed : int
    stratify : array (n,) of labels, optional
        Keep each class's proportion in the three parts.

    Returns
    -------
    RowSplit
        Index arrays.
    """
    rows = np.arange(n)
    rest, test = train_test_split(rows, test_size=test_size, stratify=stratify, seed=seed)
    train, val = train_test_split(rest, test_size=validation_size,
                                  stratify=None if stratify is None else stratify[rest],
                                  seed=seed + 1)
    return RowSplit(train, val, test)


def contiguous_split(n, test_size, validation_size):
    """Train / validation / test as consecutive row ranges: validation and test are the last.

    Slices of a memory map are views: a file is split without a copy.  Rows
    ordered by class or time should be shuffled before (the parts are not
    random).

    Parameters
    ----------
    n : int
    test_size : float in [0, 1)
        Fraction of the rows for the test range (rounded); 0 gives an empty
        test range.
    validation_size : float in (0, 1)
        Fraction of the remaining rows for the validation range (rounded).

    Returns
    -------
    RowSplit
        Slices.

    Raises
    ------
    ValueError
        An empty training or validation range, or an empty test range for a
        non-zero ``test_size``.
    """
    n_test = int(round(n * test_size))
    n_val = int(round((n - n_test) * validation_size))
    n_train = n - n_test - n_val
    if min(n_train, n_val) < 1 or (test_size and n_test < 1):
        raise ValueError(f"{n} rows are too few for a train / validation / test split")
    val_end = n_train + n_val
    return RowSplit(slice(0, n_train), slice(n_train, val_end), slice(val_end, n))
