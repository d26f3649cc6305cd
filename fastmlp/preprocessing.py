"""Preprocessing and data discipline: standardisation and data splits.

The lecture notes (004): zero-centre and scale every input feature,
``x_i <- (x_i - mu_i) / sigma_i``, with statistics from the training split
only, and apply the same transform at test time.
"""

import numbers

import numpy as np

from ._validation import check_array, check_seed

__all__ = ["StandardScaler", "train_test_split"]


class StandardScaler:
    """Per-feature standardisation ``(x - mean) / std`` fitted on training data.

    Features with zero variance get std 1 (they are only centred), so no
    division by zero occurs.

    Attributes
    ----------
    mean_, scale_ : ndarray (n_features,) float64
    """

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, X):
        """Compute the mean and standard deviation of each column of ``X``."""
        X = check_array(X, np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X, dtype=None):
        """Standardise ``X`` with the fitted statistics (result in ``dtype``, default X's float type)."""
        if self.mean_ is None:
            raise RuntimeError("StandardScaler is not fitted; call fit(X_train) first")
        arr = np.asarray(X)
        if dtype is None:
            dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        X = check_array(arr, dtype, self.mean_.size)
        return ((X - self.mean_.astype(dtype)) / self.scale_.astype(dtype)).astype(dtype, copy=False)

    def fit_transform(self, X, dtype=None):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X, dtype)

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        X = np.asarray(X)
        return X * self.scale_.astype(X.dtype) + self.mean_.astype(X.dtype)


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
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(check_seed(seed))
    if stratify is None:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        test_idx, train_idx = _stratified(np.asarray(stratify), n_test, rng)
    out = []
    for a in arrays:
        out += [a[train_idx], a[test_idx]]
    return out


def _n_test(test_size, n):
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, numbers.Real) and 0 < test_size < 1:
        n_test = int(np.ceil(test_size * n))
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a sample count, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size!r} leaves {n_test} of {n} samples for testing; "
                         "both parts need at least one sample")
    return n_test


def _stratified(labels, n_test, rng):
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
