"""Metrics (fastmlp/metrics.py) against direct formulas and scikit-learn.

accuracy, log_loss, mean_squared_error and r2_score are compared with the
textbook formula written out in NumPy and, where scikit-learn is installed,
with ``sklearn.metrics``; the weighted total sum of squares with a NumPy
weighted-mean formula and with row repetition (integer weights); and
metrics_from_stats with kernel statistics assembled by hand.
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.kernels.losses import STAT_CORRECT, STAT_COUNT, STAT_LOSS, STAT_SSE
from fastmlp.metrics import (
    accuracy,
    log_loss,
    mean_squared_error,
    metrics_from_stats,
    r2_score,
    total_sum_of_squares,
)

try:
    import sklearn.metrics as skm
except ImportError:  # pragma: no cover
    skm = None

needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn is not installed")


# ------------------------------------------------------------------ accuracy

def test_accuracy_counts_equal_labels():
    assert accuracy([0, 1, 2, 2], [0, 2, 2, 1]) == 0.5
    assert accuracy(np.array([3]), np.array([3])) == 1.0
    assert isinstance(accuracy([1], [0]), float) and accuracy([1], [0]) == 0.0


def test_multilabel_accuracy_needs_the_whole_row():
    y = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 0]])
    p = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [1, 0, 0]])
    assert accuracy(y, p) == 0.5  # rows 0 and 2 match completely


@needs_sklearn
def test_accuracy_matches_sklearn(rng):
    y, p = rng.integers(0, 4, 57), rng.integers(0, 4, 57)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p), rel=1e-15)
    Y, P = rng.integers(0, 2, (40, 3)), rng.integers(0, 2, (40, 3))
    assert accuracy(Y, P) == pytest.approx(skm.accuracy_score(Y, P), rel=1e-15)


def test_accuracy_refuses_mismatched_shapes_and_empty_input():
    with pytest.raises(ValueError, match=r"shapes differ: \(3,\) vs \(2,\)"):
        accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


# ------------------------------------------------------------------ log_loss

def test_log_loss_is_the_mean_negative_log_of_the_true_class_probability():
    proba = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    y = [0, 1, 2]
    expected = -(np.log(0.5) + np.log(0.8) + np.log(0.6)) / 3
    assert log_loss(y, proba) == pytest.approx(expected, rel=1e-15)


def test_log_loss_clips_zero_probabilities():
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    eps = np.finfo(np.float64).eps
    assert log_loss([1, 0], proba) == pytest.approx(-(np.log(eps) + np.log(0.5)) / 2, rel=1e-15)
    assert log_loss([1, 0], proba, eps=1e-3) == pytest.approx(-(np.log(1e-3) + np.log(0.5)) / 2,
                                                               rel=1e-15)
    assert log_loss([0], np.array([[1.0, 0.0]]), eps=1e-3) == pytest.approx(-np.log(1 - 1e-3))


@needs_sklearn
def test_log_loss_matches_sklearn(rng):
    proba = rng.random((30, 4)) + 0.05
    proba /= proba.sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, 30)
    assert log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=range(4)),
                                               rel=1e-12)


def test_log_loss_checks_the_probability_shape():
    with pytest.raises(ValueError, match=r"proba must be \(n, k\) with n = 3"):
        log_loss([0, 1, 0], np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"got \(3,\)"):
        log_loss([0, 1, 0], np.full(3, 0.5))


# ------------------------------------------------------------ regression

def test_mean_squared_error_has_no_half_factor():
    assert mean_squared_error([1.0, 2.0], [2.0, 4.0]) == 2.5
    assert mean_squared_error([[0.0, 1.0]], [[3.0, 1.0]]) == 4.5


def test_r2_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 5.0])
    # SSE = 1, SST = 5 (mean 2.5: 2.25 + 0.25 + 0.25 + 2.25)
    assert r2_score(y, p) == pytest.approx(1 - 1 / 5, rel=1e-15)
    assert r2_score(y, np.full(4, 2.5)) == 0.0
    assert r2_score(y, y) == 1.0


def test_r2_averages_outputs_uniformly_and_handles_constant_outputs():
    Y = np.array([[1.0, 7.0, 7.0], [2.0, 7.0, 7.0], [3.0, 7.0, 7.0]])
    P = np.array([[1.0, 7.0, 6.0], [2.0, 7.0, 7.0], [4.0, 7.0, 7.0]])
    # output 0: 1 - 1/2; output 1: constant, exact -> 1; output 2: constant, missed -> 0
    assert r2_score(Y, P) == pytest.approx((0.5 + 1.0 + 0.0) / 3, rel=1e-15)


def test_r2_accepts_a_column_prediction_for_1d_truth():
    y = np.array([0.0, 1.0, 3.0])
    p = np.array([[0.5], [1.0], [2.0]])
    sst = ((y - y.mean()) ** 2).sum()
    assert r2_score(y, p) == pytest.approx(1 - 1.25 / sst, rel=1e-15)


@needs_sklearn
@pytest.mark.parametrize("shape", [(25,), (25, 3)])
def test_regression_metrics_match_sklearn(shape, rng):
    y = rng.standard_normal(shape)
    p = y + 0.5 * rng.standard_normal(shape)
    assert mean_squared_error(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert r2_score(y, p) == pytest.approx(skm.r2_score(y, p), rel=1e-12)


@needs_sklearn
def test_r2_constant_column_convention_matches_sklearn():
    Y = np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])
    for P in (Y.copy(), Y + [[0.5, 0.0]] * np.array([[1], [0], [0]])):
        assert r2_score(Y, P) == pytest.approx(skm.r2_score(Y, P), rel=1e-12)


# ------------------------------------------------------ total sum of squares

def test_unweighted_total_sum_of_squares():
    T = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 3.0]])
    np.testing.assert_allclose(total_sum_of_squares(T), [8.0, 6.0], rtol=1e-15)
    # no weights and an empty weight array mean the same
    np.testing.assert_array_equal(total_sum_of_squares(T, np.empty(0)), total_sum_of_squares(T))


def test_weighted_total_sum_of_squares_matches_numpy(rng):
    T = rng.standard_normal((20, 3))
    w = rng.random(20) * 3
    mean = np.average(T, axis=0, weights=w)
    expected = np.einsum("i,ij->j", w, (T - mean) ** 2)
    np.testing.assert_allclose(total_sum_of_squares(T, w), expected, rtol=1e-12)


def test_integer_weights_equal_repeated_rows(rng):
    T = rng.standard_normal((6, 2))
    w = np.array([1, 3, 0, 2, 1, 4])
    repeated = np.repeat(T, w, axis=0)
    np.testing.assert_allclose(total_sum_of_squares(T, w.astype(float)),
                               total_sum_of_squares(repeated), rtol=1e-12)


# -------------------------------------------------------- metrics_from_stats

def _stats(loss_sum, correct, count, sse=()):
    stats = np.zeros(STAT_SSE + len(sse))
    stats[STAT_LOSS], stats[STAT_CORRECT], stats[STAT_COUNT] = loss_sum, correct, count
    stats[STAT_SSE:] = sse
    return stats


@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy"])
def test_metrics_from_stats_for_classification(loss):
    result = metrics_from_stats(_stats(6.0, 3.0, 4.0), loss, None)
    assert result == {"loss": 1.5, "accuracy": 0.75}


def test_metrics_from_stats_for_regression():
    T = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 3.0]])  # SST per output: [8, 6]
    stats = _stats(9.0, 0.0, 3.0, sse=[2.0, 3.0])
    expected_r2 = ((1 - 2 / 8) + (1 - 3 / 6)) / 2
    result = metrics_from_stats(stats, "squared_error", T)
    assert set(result) == {"loss", "r2"}
    assert result["loss"] == 3.0
    assert result["r2"] == pytest.approx(expected_r2, rel=1e-15)
    # a given SST is used instead of the targets' own
    given = metrics_from_stats(stats, "squared_error", T, sst=np.array([4.0, 12.0]))
    assert given["r2"] == pytest.approx(((1 - 2 / 4) + (1 - 3 / 12)) / 2, rel=1e-15)


def test_metrics_from_stats_weighted_regression():
    T = np.array([[0.0], [2.0], [4.0]])
    w = np.array([1.0, 1.0, 2.0])
    # weighted mean 2.5; weighted SST = 6.25 + 0.25 + 2 * 2.25 = 11
    stats = _stats(5.0, 0.0, 4.0, sse=[2.2])
    result = metrics_from_stats(stats, "squared_error", T, sample_weight=w)
    assert result["loss"] == 1.25
    assert result["r2"] == pytest.approx(1 - 2.2 / 11, rel=1e-15)


@needs_sklearn
def test_model_evaluate_metrics_match_sklearn_on_its_predictions(rng):
    X = rng.standard_normal((40, 3))
    reg = fm.Model([3, 5, 2], activation="tanh", output="identity", dtype="float64", seed=1)
    Y = rng.standard_normal((40, 2))
    w = rng.random(40) + 0.1
    assert reg.evaluate(X, Y)["r2"] == pytest.approx(skm.r2_score(Y, reg.predict(X)), rel=1e-10)
    assert reg.evaluate(X, Y, sample_weight=w)["r2"] == pytest.approx(
        skm.r2_score(Y, reg.predict(X), sample_weight=w), rel=1e-10)
    clf = fm.Model([3, 5, 4], activation="tanh", output="softmax", dtype="float64", seed=1)
    y = rng.integers(0, 4, 40)
    proba = clf.predict(X)
    result = clf.evaluate(X, y, sample_weight=w)
    assert result["accuracy"] == pytest.approx(
        skm.accuracy_score(y, proba.argmax(axis=1), sample_weight=w), rel=1e-12)
    assert result["loss"] == pytest.approx(
        skm.log_loss(y, proba, sample_weight=w, labels=range(4)), rel=1e-10)
