"""What the estimators' callers hand in: X and y, sample weights, coefficient arrays.

X and y go through scikit-learn's own validation (its estimator checks
expect its messages, feature-name handling and ``n_features_in_``);
sample weights through fastmlp's shared :mod:`fastmlp._utils.validation`.
A sparse X stays sparse: scikit-learn's validation converts any other
SciPy format to compressed sparse rows (:data:`SPARSE_FORMAT`), once, and
fastmlp's network reads those rows where they are.
"""

import numpy as np

from .._utils.sparse import check_csr, is_sparse
from .._utils.validation import check_sample_weight

#: The sparse format X is validated into (scikit-learn's ``accept_sparse``): the one
#: fastmlp's kernels read; CSC, COO and the others are converted to it once.
SPARSE_FORMAT = "csr"

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None


def validate_data(est, X, y="no_validation", reset=True, **kwargs):
    """scikit-learn's input validation (``validate_data`` or the older method).

    ``y=None`` is passed on, so that fitting without targets fails with
    scikit-learn's message.
    """
    if _sk_validate_data is not None:
        return _sk_validate_data(est, X, y, reset=reset, **kwargs)
    # scikit-learn < 1.6 offers it only as a BaseEstimator method (its API, private by name)
    return est._validate_data(X, y, reset=reset, **kwargs)  # pragma: no cover - sklearn < 1.6


def is_plain_float_matrix(X, n_features, named):
    """Whether a prediction's X may skip scikit-learn's validation: a plain float32/64 NumPy
    matrix of the fitted width, for an estimator fitted without feature names.

    Such an X passes every check of scikit-learn's except the values' --
    finite -- which fastmlp's network makes anyway (its message names NaN or
    inf, as scikit-learn's does); validating it twice cost a one-row
    ``predict_proba`` more than the prediction itself.
    """
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOAT_DTYPES
            and X.shape[1] == n_features and X.shape[0] > 0 and not named)


#: The dtypes scikit-learn's validation would keep as they are.
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def sample_weights(sample_weight, n_samples):
    """float64 weights of shape (n_samples,), or None when absent or all ones.

    All ones is the unweighted problem; returning None keeps that case on
    the engine's unweighted path, bit for bit.
    """
    if sample_weight is None:
        return None
    try:
        weights = check_sample_weight(sample_weight, n_samples)
    except ValueError as exc:
        if _all_zero(sample_weight, n_samples):
            # scikit-learn's estimator checks look for "zero" in this message
            raise ValueError("sample_weight has only zero weights: at least one sample "
                             "needs a positive weight") from exc
        raise
    if np.all(weights == 1):
        return None
    # check_sample_weight may hand back the caller's own array: train on a copy
    return weights.copy()


def _all_zero(sample_weight, n_samples):
    """Whether ``sample_weight`` is well formed for ``n_samples`` samples and all zeros."""
    try:
        values = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return values.shape in ((), (n_samples,)) and not np.any(values)


def network_input(X, dtype=None):
    """A validated X as fastmlp's network takes it, never densified.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix or array
        Output of :func:`validate_data`.
    dtype : numpy dtype, optional
        The network's dtype; None keeps X's own.

    Returns
    -------
    ndarray or scipy sparse CSR
        A dense X C-contiguous (in ``dtype`` when given); a sparse X in
        compressed sparse rows, of the caller's class (``csr_matrix`` or
        ``csr_array``), its values in ``dtype`` when given (a copy of the
        values only when they are of another type).
    """
    if is_sparse(X):
        return X.tocsr() if dtype is None else check_csr(X, np.dtype(dtype))
    return np.ascontiguousarray(X, dtype=dtype)


def assign_arrays(views, values, name):
    """Copy ``values`` into ``views`` (``coefs_`` or ``intercepts_``), all shapes checked first."""
    values = list(values)
    if len(values) != len(views):
        raise ValueError(f"{name} needs {len(views)} arrays, got {len(values)}")
    for i, (view, value) in enumerate(zip(views, values)):
        value = np.asarray(value)
        if value.shape != view.shape:
            raise ValueError(f"{name}[{i}] must have shape {view.shape}, got {value.shape}")
    for view, value in zip(views, values):
        view[...] = value
