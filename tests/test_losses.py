"""Losses (fastmlp/losses.py): target encoding, name resolution, and the loss values.

encode_targets is checked against one-hot rows built by hand and against the
error each malformed target should raise; get_loss against the documented
output pairing.  The loss the model reports (``evaluate`` and
``loss_and_grad``, float64) is compared with a direct NumPy forward pass and
a log-sum-exp cross-entropy, a binary cross-entropy from logits and half the
squared error, and the output-bias gradient with its closed form
(prediction minus target, averaged).
"""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.losses import (
    NAMES,
    default_loss,
    encode_targets,
    get_loss,
    is_classification,
    loss_code,
)

CANONICAL = ("squared_error", "cross_entropy", "binary_cross_entropy")


# ------------------------------------------------------------ encode_targets

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_class_labels_become_one_hot_rows_in_the_model_dtype(dtype):
    T = encode_targets([2, 0, 1, 2], "cross_entropy", 3, dtype)
    assert T.dtype == dtype and T.flags.c_contiguous
    np.testing.assert_array_equal(T, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_float_and_bool_labels_are_accepted_when_integral():
    np.testing.assert_array_equal(encode_targets(np.array([1.0, 0.0]), "cross_entropy", 2,
                                                 np.float64), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(encode_targets(np.array([True, False]), "cross_entropy", 2,
                                                 np.float64), [[0, 1], [1, 0]])


def test_probability_rows_pass_through_for_cross_entropy():
    y = np.array([[0.25, 0.75], [1.0, 0.0]])
    T = encode_targets(y, "cross_entropy", 2, np.float32)
    assert T.dtype == np.float32
    np.testing.assert_array_equal(T, y.astype(np.float32))


@pytest.mark.parametrize("y, n_out, expected", [
    ([0, 1, 1], 1, [[0], [1], [1]]),
    ([[0, 1], [1, 0.5]], 2, [[0, 1], [1, 0.5]]),
    ([True, False], 1, [[1], [0]]),
])
def test_binary_targets(y, n_out, expected):
    T = encode_targets(y, "binary_cross_entropy", n_out, np.float64)
    assert T.shape == (len(expected), n_out) and T.dtype == np.float64
    np.testing.assert_array_equal(T, expected)


def test_regression_targets_1d_and_2d():
    T = encode_targets([1.5, -2.0, 3.25], "squared_error", 1, np.float32)
    assert T.shape == (3, 1) and T.dtype == np.float32
    np.testing.assert_array_equal(T[:, 0], [1.5, -2.0, 3.25])
    y = np.asfortranarray(np.arange(6.0).reshape(3, 2))
    T = encode_targets(y, "squared_error", 2, np.float64)
    assert T.flags.c_contiguous and T.shape == (3, 2)
    np.testing.assert_array_equal(T, y)


@pytest.mark.parametrize("y, loss, n_out, error, match", [
    (np.array(["a", "b"]), "cross_entropy", 2, TypeError, "non-numeric.*MLPClassifier"),
    (np.array([1 + 1j, 2]), "squared_error", 1, TypeError, "complex"),
    (np.array(3.0), "squared_error", 1, ValueError, r"1-D or 2-D, got shape \(\)"),
    (np.zeros((2, 2, 2)), "squared_error", 2, ValueError, r"1-D or 2-D, got shape \(2, 2, 2\)"),
    (np.array([0.0, np.nan]), "squared_error", 1, ValueError, "NaN or inf"),
    (np.array([0, np.inf]), "binary_cross_entropy", 1, ValueError, "NaN or inf"),
    (np.array([0, 3, 1, -1]), "cross_entropy", 3, ValueError, r"outside 0\.\.2.*\[-1, 3\]"),
    (np.array([0.5, 1.0]), "cross_entropy", 2, ValueError, "non-integer"),
    (np.array([[0.5, 0.6], [1, 0]]), "cross_entropy", 2, ValueError, "row 0 sums to 1.1"),
    (np.array([[1.5, -0.5]]), "cross_entropy", 2, ValueError, r"probabilities \(>= 0\)"),
    (np.array([[0.0, 1.5]]), "binary_cross_entropy", 2, ValueError, r"\[0, 1\]"),
    (np.array([0.5, 2.0]), "squared_error", 2, ValueError, r"pass a 2-D array of shape \(n, 2\)"),
    (np.zeros((4, 3)), "squared_error", 2, ValueError, "3 columns but the model has 2"),
    (np.eye(3), "cross_entropy", 2, ValueError, "3 columns but the model has 2"),
])
def test_bad_targets_raise_errors_naming_the_problem(y, loss, n_out, error, match):
    with pytest.raises(error, match=match):
        encode_targets(y, loss, n_out, np.float64)


def test_error_messages_use_the_argument_name():
    with pytest.raises(ValueError, match="^y_val has labels outside"):
        encode_targets([5], "cross_entropy", 2, np.float64, what="y_val")


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("output, expected", [
    ("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"),
    ("identity", "squared_error"), ("tanh", "squared_error"),
])
def test_default_loss_follows_the_output(output, expected):
    assert default_loss(output) == expected
    assert get_loss(None, output) == expected


@pytest.mark.parametrize("spec, output, expected", [
    ("mse", "identity", "squared_error"),
    (" MSE ", "tanh", "squared_error"),
    ("squared_error", "softmax", "squared_error"),   # squared error takes any output
    ("log_loss", "softmax", "cross_entropy"),
    ("categorical_cross_entropy", "softmax", "cross_entropy"),
    ("Cross_Entropy", "softmax", "cross_entropy"),
    ("bce", "sigmoid", "binary_cross_entropy"),
])
def test_get_loss_resolves_aliases(spec, output, expected):
    assert get_loss(spec, output) == expected


@pytest.mark.parametrize("spec, output, match", [
    ("cross_entropy", "sigmoid", "needs output='softmax', got output='sigmoid'"),
    ("bce", "softmax", "needs output='sigmoid', got output='softmax'"),
    ("hinge", "identity", "unknown loss 'hinge'; valid names: bce, "),
])
def test_get_loss_refuses_unknown_names_and_wrong_outputs(spec, output, match):
    with pytest.raises(ValueError, match=match):
        get_loss(spec, output)


def test_get_loss_needs_a_string():
    with pytest.raises(TypeError, match="loss must be a name, got int"):
        get_loss(3, "identity")


def test_names_codes_and_classification_flags():
    assert set(CANONICAL) <= set(NAMES) and list(NAMES) == sorted(NAMES)
    codes = [loss_code(n) for n in CANONICAL]
    assert len(set(codes)) == 3 and all(isinstance(c, int) for c in codes)
    assert [is_classification(n) for n in CANONICAL] == [False, True, True]


def test_model_with_mismatched_loss_is_refused():
    with pytest.raises(ValueError, match="needs output='softmax'"):
        fm.Model([3, 2], output="sigmoid", loss="cross_entropy")


# ------------------------------------------------- loss values of the model

def _model(sizes, output, rng):
    model = fm.Model(sizes, activation="tanh", output=output, dtype="float64", seed=0)
    model.params[...] = 0.7 * rng.standard_normal(model.n_params)  # non-zero biases too
    return model


def _logits(model, X):
    """The output layer's pre-activation, by a direct NumPy forward pass."""
    A = X
    for W, b in zip(model.weights[:-1], model.biases[:-1]):
        A = np.tanh(A @ W + b)
    return A @ model.weights[-1] + model.biases[-1]


def _logsumexp(Z):
    m = Z.max(axis=1)
    return m + np.log(np.exp(Z - m[:, None]).sum(axis=1))


def _weighted_mean(per_sample, w):
    return per_sample.mean() if w is None else (w * per_sample).sum() / w.sum()


def _output_bias_grad(delta, w):
    return delta.mean(axis=0) if w is None else (w[:, None] * delta).sum(axis=0) / w.sum()


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_is_log_sum_exp_minus_the_true_logit(weighted, rng):
    model = _model([4, 5, 3], "softmax", rng)
    X = rng.standard_normal((11, 4))
    y = rng.integers(0, 3, 11)
    w = rng.random(11) + 0.1 if weighted else None
    Z = _logits(model, X)
    per_sample = _logsumexp(Z) - Z[np.arange(11), y]
    expected = _weighted_mean(per_sample, w)
    assert model.evaluate(X, y, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)
    loss, grad = model.loss_and_grad(X, y, sample_weight=w)
    assert loss == pytest.approx(expected, rel=1e-12)
    softmax = np.exp(Z - _logsumexp(Z)[:, None])
    np.testing.assert_allclose(grad[model.layout.bias_slice(1)],
                               _output_bias_grad(softmax - np.eye(3)[y], w),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_of_extreme_logits_and_ties(dtype):
    # logits of +-1e4 overflow any exp(z) and cancel in lse(z) - z_k; the
    # kernel's sum t (log s - u), u = z - max z, gets them exactly.  A tie
    # counts the first largest output, as argmax does.
    model = fm.Model([2, 3], output="softmax", dtype=dtype, seed=0)
    model.weights[0][...] = [[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]
    model.biases[0][...] = 0.0
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]], dtype=dtype)
    y = np.array([0, 0, 0])
    # rows: logits (1e4, -1e4, 0) -> loss 0, right; (-1e4, 1e4, 0) -> 2e4, wrong;
    # (0, 0, 0) -> log 3, a three-way tie won by output 0, right
    result = model.evaluate(X, y)
    assert result["loss"] == pytest.approx((0.0 + 2e4 + np.log(3.0)) / 3, rel=1e-7)
    assert result["accuracy"] == pytest.approx(2 / 3)
    loss, grad = model.loss_and_grad(X, y)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))


def test_cross_entropy_with_soft_labels(rng):
    model = _model([3, 4, 4], "softmax", rng)
    X = rng.standard_normal((9, 3))
    T = rng.random((9, 4))
    T /= T.sum(axis=1, keepdims=True)
    Z = _logits(model, X)
    log_p = Z - _logsumexp(Z)[:, None]
    expected = np.mean(-(T * log_p).sum(axis=1))
    assert model.evaluate(X, T)["loss"] == pytest.approx(expected, rel=1e-12)
    assert model.loss_and_grad(X, T)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_from_logits(weighted, rng):
    model = _model([4, 6, 2], "sigmoid", rng)
    X = 2.0 * rng.standard_normal((13, 4))
    T = (rng.random((13, 2)) < 0.5).astype(float)
    T[0] = [0.3, 0.9]  # soft targets are allowed too
    w = rng.random(13) + 0.1 if weighted else None
    Z = _logits(model, X)
    # -t log s(z) - (1 - t) log(1 - s(z)), summed over the outputs, written stably
    per_element = np.maximum(Z, 0) - T * Z + np.log1p(np.exp(-np.abs(Z)))
    expected = _weighted_mean(per_element.sum(axis=1), w)
    assert model.evaluate(X, T, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)
    loss, grad = model.loss_and_grad(X, T, sample_weight=w)
    assert loss == pytest.approx(expected, rel=1e-12)
    sigmoid = 1.0 / (1.0 + np.exp(-Z))
    np.testing.assert_allclose(grad[model.layout.bias_slice(1)], _output_bias_grad(sigmoid - T, w),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_out", [1, 3])
def test_squared_error_is_half_the_squared_distance(n_out, weighted, rng):
    model = _model([5, 4, n_out], "identity", rng)
    X = rng.standard_normal((10, 5))
    Y = rng.standard_normal((10, n_out))
    y = Y[:, 0] if n_out == 1 else Y  # 1-D targets for one output
    w = rng.random(10) + 0.1 if weighted else None
    Z = _logits(model, X)
    expected = _weighted_mean(0.5 * ((Z - Y) ** 2).sum(axis=1), w)
    assert model.evaluate(X, y, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)
    loss, grad = model.loss_and_grad(X, y, sample_weight=w)
    assert loss == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad[model.layout.bias_slice(1)], _output_bias_grad(Z - Y, w),
                               rtol=1e-12, atol=1e-15)


def test_squared_error_with_a_tanh_output(rng):
    model = _model([3, 4, 2], "tanh", rng)
    X = rng.standard_normal((8, 3))
    Y = rng.standard_normal((8, 2))
    out = np.tanh(_logits(model, X))
    expected = np.mean(0.5 * ((out - Y) ** 2).sum(axis=1))
    assert model.evaluate(X, Y)["loss"] == pytest.approx(expected, rel=1e-12)
