"""Preprocessing and data discipline: standardisation, PCA whitening, data splits.

The lecture notes (004): zero-centre and scale every input feature,
``x_i <- (x_i - mu_i) / sigma_i``, with statistics from the training split
only, and "be sure to apply the same transformation at training and test
time! Save training set statistics and apply to test data."  A model made
with ``Model(..., preprocessing="standardize")`` (or ``"whiten"``) does
exactly that: :meth:`fastmlp.Trainer.fit` fits the transform on the training
data the first time, and ``predict``, ``evaluate`` and ``loss_and_grad``
apply it to every input.  A transform exposes ``kind``, ``fit``,
``transform``, ``transform_checked`` (the same on checked rows, optionally in
place: what reading a large input block by block calls), ``is_fitted`` and
``state_dict``/``load_state_dict`` (plain
arrays, so model files can store it without pickle).

The data splits (``train_test_split``, ``train_val_test_split``, ...) live
in :mod:`fastmlp.data.splits`; they are named here too, where users import
them.
"""

import numpy as np

from ._utils.sparse import column_moments, is_sparse, scale_columns
from ._utils.tuning import CALL_MAX_BYTES
from ._utils.validation import check_array
from .data.rows import RowSubset
from .data.splits import split_count, stratified_indices, train_test_split, train_val_test_split

__all__ = ["StandardScaler", "PCAWhitening", "get_preprocessing", "train_test_split",
           "train_val_test_split", "split_count", "stratified_indices", "PREPROCESSING"]


class _Transform:
    """What the fitted transforms share: fitted check, state as plain arrays."""

    kind = ""
    _state = ()

    @property
    def is_fitted(self):
        """Whether :meth:`fit` (or :meth:`load_state_dict`) has set the statistics."""
        return getattr(self, self._state[0]) is not None

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(X_train) first "
                               "(Trainer.fit does it for a model's own preprocessing)")

    def fit_transform(self, X, dtype=None):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X, dtype)

    def state_dict(self):
        """The fitted statistics: a dict of float64 arrays."""
        self._check_fitted()
        return {name: getattr(self, name).copy() for name in self._state}

    def load_state_dict(self, state):
        """Set the statistics from :meth:`state_dict` output (shapes are checked)."""
        missing = [name for name in self._state if name not in state]
        if missing:
            raise ValueError(f"{self.kind} state lacks {missing}")
        arrays = {name: np.asarray(state[name], dtype=np.float64) for name in self._state}
        n = arrays[self._state[0]].shape[-1]
        for name, a in arrays.items():
            if a.ndim not in (1, 2) or a.shape[-1] != n or not np.isfinite(a).all():
                raise ValueError(f"{self.kind} state {name!r} has shape {a.shape} or non-finite "
                                 f"values; expected finite arrays over {n} features")
        for name, a in arrays.items():
            setattr(self, name, a)
        return self

    @property
    def n_features(self):
        """Number of input features seen by :meth:`fit` (None before)."""
        return None if not self.is_fitted else getattr(self, self._state[0]).shape[-1]

    def _input(self, X, dtype):
        self._check_fitted()
        arr = X if is_sparse(X) else np.asarray(X)
        if dtype is None:
            dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        return check_array(arr, dtype, self.n_features, sparse=True), np.dtype(dtype)

    def __repr__(self):
        return f"{type(self).__name__}({'fitted' if self.is_fitted else 'not fitted'})"


def _fit_input(X):
    """X checked for a fit, not converted (a subset's rows were checked with its base); a
    sparse X in compressed sparse rows."""
    if isinstance(X, RowSubset):
        return X
    dtype = X.dtype if is_sparse(X) and X.dtype in (np.float32, np.float64) else np.float64
    return check_array(X, dtype, convert=False, sparse=True)


def _float64_blocks(X):
    """X's rows as float64 blocks of at most CALL_MAX_BYTES: a fit reads a large or
    memory-mapped input in one streaming pass per statistic instead of copying it.

    Data of one block get exactly the results of the whole-array formulas.
    """
    # the block and one temporary of it are alive at a time
    step = max(1, CALL_MAX_BYTES // 2 // (8 * X.shape[1]))
    for start in range(0, X.shape[0], step):
        # a copy even of float64 rows: the caller centres it in place
        yield np.array(X[start:start + step], dtype=np.float64)


def _column_mean(X):
    total = sum(block.sum(axis=0) for block in _float64_blocks(X))
    return total / X.shape[0]


def _centred_products(X, mean, outer):
    """Per column ``sum (x - mean)^2`` over the rows of X, or the matrix
    ``sum (x - mean)^T (x - mean)`` when ``outer``."""
    total = 0.0
    for block in _float64_blocks(X):
        centred = np.subtract(block, mean, out=block)
        if outer:
            total = total + centred.T @ centred
        else:
            total = total + np.multiply(centred, centred, out=centred).sum(axis=0)
    return total


class StandardScaler(_Transform):
    """Per-feature standardisation ``(x - mean) / std`` fitted on training data.

    Features with zero variance get std 1 (they are only centred), so no
    division by zero occurs.

    Sparse data are scaled without centring -- subtracting the means would
    make every zero a stored value -- as scikit-learn's
    ``StandardScaler(with_mean=False)`` does: fitted on a sparse X, ``mean_``
    is 0 and ``scale_`` the columns' standard deviations (zeros included);
    every input, sparse or dense, is then divided by them.  A scaler fitted
    on dense data (which centres) refuses sparse input.

    Attributes
    ----------
    mean_, scale_ : ndarray (n_features,) float64
    """

    kind = "standardize"
    _state = ("mean_", "scale_")

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, X):
        """Compute the mean and standard deviation of each column of ``X``.

        Two streaming passes over X (a memory map is not copied).
        """
        X = _fit_input(X)
        if is_sparse(X):
            _, variance = column_moments(X)
            self.mean_ = np.zeros(X.shape[1])  # not centred: see the class docstring
            std = np.sqrt(variance)
        else:
            self.mean_ = _column_mean(X)
            std = np.sqrt(_centred_products(X, self.mean_, outer=False) / X.shape[0])
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X, dtype=None):
        """Standardise ``X`` with the fitted statistics (result in ``dtype``, default X's float
        type)."""
        X, dtype = self._input(X, dtype)
        return self.transform_checked(X)

    def transform_checked(self, X, overwrite=False):
        """:meth:`transform` of a checked float array (or CSR matrix), in its own dtype;
        ``overwrite``: in place (the same values, without the two temporaries)."""
        if is_sparse(X):
            if self.mean_.any():
                raise ValueError("this standardisation centres its inputs (it was fitted on "
                                 "dense data), which would densify a sparse input; fit it on "
                                 "sparse data to scale without centring")
            if not overwrite:
                return scale_columns(X, 1.0 / self.scale_)
            X.data *= (1.0 / self.scale_)[X.indices].astype(X.dtype)
            return X
        mean, scale = self.mean_.astype(X.dtype), self.scale_.astype(X.dtype)
        if not overwrite:
            return (X - mean) / scale
        np.subtract(X, mean, out=X)
        return np.divide(X, scale, out=X)

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        self._check_fitted()
        X = np.asarray(X)
        return X * self.scale_.astype(X.dtype) + self.mean_.astype(X.dtype)


class PCAWhitening(_Transform):
    """PCA whitening: decorrelate the features and give each component unit variance.

    The lecture notes (004) write it with an SVD::

        X <- X - mean(X, axis=0),   [U, S, V] = svd(X^T X),   X_white = X U S^(-1/2)

    Here the SVD is of the covariance ``C = X^T X / n`` (the same U, and S
    divided by n, so that each whitened component has variance 1), and
    ``eps`` is added to S before the square root::

        X_white = (X - mean) U (S/n + eps)^(-1/2)

    The output keeps all ``n_features`` columns (so a model's input size
    does not change).  Rank-deficient data -- fewer samples than features,
    or linearly dependent features -- leave eigenvalues at 0; the epsilon
    bounds their scale by ``1/sqrt(eps)`` so those directions, in which the
    training data do not vary, stay near 0 instead of dividing by zero.
    The epsilon also damps components whose variance is near or below it
    (features on a scale much smaller than ``sqrt(eps)`` should be rescaled
    first).

    Parameters
    ----------
    eps : float, default 1e-5

    Attributes
    ----------
    mean_ : ndarray (n_features,) float64
    components_ : ndarray (n_features, n_features) float64
        U: the principal directions, as columns, by decreasing variance.
    explained_variance_ : ndarray (n_features,) float64
        S/n: the variance along each direction.
    """

    kind = "whiten"
    _state = ("mean_", "components_", "explained_variance_")

    def __init__(self, eps=1e-5):
        if not (isinstance(eps, (int, float)) and np.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        self.eps = float(eps)
        self.mean_ = self.components_ = self.explained_variance_ = None

    def fit(self, X):
        """Mean, principal directions and variances of ``X`` (n_samples, n_features).

        Two streaming passes over X (a memory map is not copied).
        """
        X = _fit_input(X)
        _refuse_sparse(X)
        self.mean_ = _column_mean(X)
        cov = _centred_products(X, self.mean_, outer=True) / X.shape[0]
        U, S, _ = np.linalg.svd(cov, hermitian=True)
        self.components_, self.explained_variance_ = U, S
        return self

    def transform(self, X, dtype=None):
        """Whitened ``X`` (result in ``dtype``, default X's float type)."""
        X, dtype = self._input(X, dtype)
        return self.transform_checked(X)

    def transform_checked(self, X, overwrite=False):
        """:meth:`transform` of a checked float array, result in its dtype; ``overwrite``:
        into X itself.

        Computed in float64, a few thousand rows at a time, so that the
        temporaries stay small whatever X's size.
        """
        _refuse_sparse(X)
        W = self.components_ / np.sqrt(self.explained_variance_ + self.eps)
        out = X if overwrite else np.empty_like(X)
        step = max(1, (1 << 20) // X.shape[1])
        for start in range(0, X.shape[0], step):
            out[start:start + step] = (X[start:start + step] - self.mean_) @ W
        return out

    def state_dict(self):
        state = super().state_dict()
        state["eps"] = np.array([self.eps])
        return state

    def load_state_dict(self, state):
        if "eps" in state:
            self.eps = float(np.asarray(state["eps"], dtype=np.float64).ravel()[0])
        return super().load_state_dict({k: v for k, v in state.items() if k != "eps"})


def _refuse_sparse(X):
    if is_sparse(X):
        raise ValueError("PCA whitening centres and rotates the features, which would make a "
                         "sparse input dense; use preprocessing='standardize' (on sparse data "
                         "it scales without centring) or none")


#: Names accepted by ``Model(preprocessing=...)``.
PREPROCESSING = {"standardize": StandardScaler, "whiten": PCAWhitening}


def get_preprocessing(spec):
    """A transform instance from a name, an instance, or None.

    Parameters
    ----------
    spec : None, {"standardize", "whiten"} or a transform instance
        Names also accept "standardise" and "pca_whiten".
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        name = {"standardise": "standardize", "pca_whiten": "whiten",
                "whitening": "whiten"}.get(spec.lower(), spec.lower())
        if name not in PREPROCESSING:
            raise ValueError(f"unknown preprocessing {spec!r}; valid: None, "
                             + ", ".join(repr(k) for k in PREPROCESSING))
        return PREPROCESSING[name]()
    if isinstance(spec, _Transform):
        return spec
    raise TypeError("preprocessing must be None, 'standardize', 'whiten', a StandardScaler or a "
                    f"PCAWhitening, got {type(spec).__name__}")


def from_state_dict(kind, state):
    """Rebuild a fitted transform from its ``kind`` and :meth:`state_dict` (model files)."""
    if kind not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing kind {kind!r}; valid: {sorted(PREPROCESSING)}")
    return PREPROCESSING[kind]().load_state_dict(state)
