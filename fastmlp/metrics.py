"""Metrics: accuracy, log-loss, mean squared error and R^2.

The functions take NumPy arrays and follow scikit-learn's definitions
(``accuracy_score``, ``log_loss``, ``mean_squared_error``, ``r2_score``
with uniform averaging over outputs), so numbers can be compared directly.
"""

import numpy as np

from .kernels.losses import STAT_CORRECT, STAT_COUNT, STAT_LOSS, STAT_SSE
from .losses import is_classification

__all__ = ["accuracy", "log_loss", "mean_squared_error", "r2_score", "total_sum_of_squares",
           "metrics_from_stats"]


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted label equals the true one.

    1-D arrays are compared element-wise; 2-D (multi-label) rows count as
    correct only when every column matches (subset accuracy).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {y_true.shape} vs {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    if y_true.ndim == 1:
        return float(np.mean(y_true == y_pred))
    return float(np.mean(np.all(y_true == y_pred, axis=1)))


def log_loss(y_true, proba, eps=None):
    """Mean negative log-likelihood of integer labels under predicted probabilities.

    Parameters
    ----------
    y_true : (n,) int labels 0..k-1
    proba : (n, k) rows of probabilities
    eps : float, optional
        Probabilities are clipped to [eps, 1 - eps]; default: the dtype's eps.
    """
    y_true = np.asarray(y_true).astype(np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(f"proba must be (n, k) with n = {y_true.shape[0]}, got {proba.shape}")
    eps = np.finfo(np.float64).eps if eps is None else eps
    p = np.clip(proba[np.arange(y_true.size), y_true], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def mean_squared_error(y_true, y_pred):
    """Mean over samples and outputs of (y_true - y_pred)^2 (note: no 1/2 factor)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return float(np.mean((y_true - y_pred) ** 2))


def r2_score(y_true, y_pred):
    """Coefficient of determination, averaged uniformly over outputs.

    An output whose true values are constant scores 1.0 when predicted
    exactly and 0.0 otherwise (scikit-learn's ``force_finite`` convention).
    """
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    if y_true.ndim == 1:
        y_true, y_pred = y_true[:, None], y_pred.reshape(-1, 1)
    sse = ((y_true - y_pred) ** 2).sum(axis=0)
    return _r2_from_sse(sse, total_sum_of_squares(y_true))


def total_sum_of_squares(T, sample_weight=None):
    """Per-output (weighted) sum of squares about the (weighted) mean."""
    T = np.asarray(T, np.float64)
    if sample_weight is None or len(sample_weight) == 0:
        return ((T - T.mean(axis=0)) ** 2).sum(axis=0)
    w = np.asarray(sample_weight, np.float64)[:, None]
    mean = (w * T).sum(axis=0) / w.sum()
    return (w * (T - mean) ** 2).sum(axis=0)


def _r2_from_sse(sse, sst):
    with np.errstate(divide="ignore", invalid="ignore"):
        per_output = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0),
                              np.where(sse == 0, 1.0, 0.0))
    return float(np.mean(per_output))


def metrics_from_stats(stats, loss, T, sst=None, sample_weight=None):
    """Turn the kernels' running ``stats`` into ``{"loss", "accuracy" | "r2"}``.

    ``sst`` (per-output total sum of squares of ``T``) may be passed to
    avoid recomputing it every epoch.  With ``sample_weight`` the stats are
    weighted sums and every figure is the weighted one.
    """
    count = stats[STAT_COUNT]
    result = {"loss": float(stats[STAT_LOSS] / count)}
    if is_classification(loss):
        result["accuracy"] = float(stats[STAT_CORRECT] / count)
    else:
        sst = total_sum_of_squares(T, sample_weight) if sst is None else sst
        result["r2"] = _r2_from_sse(stats[STAT_SSE:], sst)
    return result
