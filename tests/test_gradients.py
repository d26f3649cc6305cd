"""Gradients: finite differences and the naive reference, for every activation x loss."""

import numpy as np
import pytest
from conftest import naive_args, targets_for
from naive import flatten, loss_and_grad

import fastmlp as fm

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus",
          "gelu", "gelu_tanh", "swish"]
HEADS = [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"),
         ("identity", "squared_error"), ("sigmoid", "squared_error"),
         ("softmax", "squared_error"), ("tanh", "squared_error")]


def finite_difference(model, X, Y, h=1e-6):
    fd = np.empty(model.n_params)
    for i in range(model.n_params):
        keep = model.params[i]
        model.params[i] = keep + h
        up, _ = model.loss_and_grad(X, Y)
        model.params[i] = keep - h
        down, _ = model.loss_and_grad(X, Y)
        model.params[i] = keep
        fd[i] = (up - down) / (2 * h)
    return fd


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss", HEADS)
def test_finite_differences(hidden, output, loss, rng):
    model = fm.Model([4, 5, 3], activation=hidden, output=output, loss=loss, dtype="float64",
                     seed=int(rng.integers(1 << 30)))
    X = rng.standard_normal((7, 4))
    Y = targets_for(loss, 7, 3, rng)
    value, grad = model.loss_and_grad(X, Y)
    fd = finite_difference(model, X, Y)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    ref_value, dWs, dbs = loss_and_grad(*naive_args(model), loss, X, model_targets(model, Y))
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, flatten(dWs, dbs), rtol=1e-10, atol=1e-13)


def model_targets(model, Y):
    from fastmlp.losses import encode_targets
    return encode_targets(Y, model.loss, model.n_outputs, np.float64)


@pytest.mark.parametrize("sizes", [[5, 40, 36, 3], [4, 33, 32, 2], [3, 8, 2]])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_upstream_through_narrow_and_wide_layers(sizes, dtype, rng):
    # a layer of at most 32 units passes its sensitivities on through its
    # transposed weights, a wider one through the transposed product: both
    # against the naive reference, on either side of the 32-unit line
    model = fm.Model(sizes, activation="tanh", dtype=dtype, seed=6)
    X = rng.standard_normal((9, sizes[0]))
    y = rng.integers(0, sizes[-1], 9)
    _, grad = model.loss_and_grad(X, y)
    m64 = fm.Model(sizes, activation="tanh", dtype="float64", seed=6)
    m64.params[:] = model.params
    _, dWs, dbs = loss_and_grad(*naive_args(m64), m64.loss, X, model_targets(m64, y))
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == "float64" else dict(rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(grad, flatten(dWs, dbs), **tol)


@pytest.mark.parametrize("activation", [["tanh", "relu", "sigmoid", "elu"],
                                        ["swish", "gelu", "selu", "leaky_relu"]])
def test_deep_network(activation, rng):
    model = fm.Model([6, 9, 8, 7, 5, 4], activation=activation, output="softmax",
                     dtype="float64", seed=3)
    X = rng.standard_normal((10, 6))
    y = rng.integers(0, 4, 10)
    _, grad = model.loss_and_grad(X, y)
    np.testing.assert_allclose(grad, finite_difference(model, X, y), rtol=1e-5, atol=1e-8)


def test_soft_and_one_hot_targets_for_cross_entropy(rng):
    model = fm.Model([3, 4, 5], activation="tanh", dtype="float64", seed=1)
    X = rng.standard_normal((6, 3))
    labels = rng.integers(0, 5, 6)
    loss_labels, g_labels = model.loss_and_grad(X, labels)
    loss_onehot, g_onehot = model.loss_and_grad(X, np.eye(5)[labels])
    assert loss_labels == loss_onehot
    np.testing.assert_array_equal(g_labels, g_onehot)
    soft = rng.random((6, 5))
    soft /= soft.sum(axis=1, keepdims=True)
    _, g_soft = model.loss_and_grad(X, soft)
    np.testing.assert_allclose(g_soft, finite_difference(model, X, soft), rtol=1e-5, atol=1e-8)


def test_multilabel_binary_cross_entropy(rng):
    model = fm.Model([3, 6, 4], activation="relu", output="sigmoid", dtype="float64", seed=2)
    X = rng.standard_normal((9, 3))
    Y = (rng.random((9, 4)) < 0.4).astype(float)
    _, grad = model.loss_and_grad(X, Y)
    np.testing.assert_allclose(grad, finite_difference(model, X, Y), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n", [1, 2, 1023, 1024, 1025, 2500])
def test_chunked_gradient_equals_reference(n, rng):
    # The kernels cut batches into chunks of 1024 rows and add the chunk gradients.
    model = fm.Model([5, 8, 3], activation="tanh", dtype="float64", seed=4)
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 3, n)
    value, grad = model.loss_and_grad(X, y)
    ref_value, dWs, dbs = loss_and_grad(*naive_args(model), "cross_entropy", X, np.eye(3)[y])
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, flatten(dWs, dbs), rtol=1e-10, atol=1e-14)


def test_float32_gradient_close_to_float64(rng):
    m64 = fm.Model([8, 16, 16, 4], activation="relu", dtype="float64", seed=5)
    m32 = fm.Model([8, 16, 16, 4], activation="relu", dtype="float32", seed=5)
    X = rng.standard_normal((50, 8))
    y = rng.integers(0, 4, 50)
    l64, g64 = m64.loss_and_grad(X, y)
    l32, g32 = m32.loss_and_grad(X, y)
    assert g32.dtype == np.float32
    assert l32 == pytest.approx(l64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


def test_out_buffer_is_used_and_checked(rng):
    model = fm.Model([3, 4, 2], dtype="float32", seed=0)
    X = rng.standard_normal((5, 3))
    y = rng.integers(0, 2, 5)
    buf = np.zeros(model.n_params, np.float32)
    _, grad = model.loss_and_grad(X, y, out=buf)
    assert grad is buf and np.any(buf != 0)
    with pytest.raises(ValueError, match="out must be"):
        model.loss_and_grad(X, y, out=np.zeros(model.n_params, np.float64))


@pytest.mark.parametrize("l2, l1, biases", [(0.1, 0.0, False), (0.0, 0.05, False),
                                            (0.2, 0.03, True)])
def test_penalty_in_value_and_gradient(l2, l1, biases, rng):
    model = fm.Model([4, 6, 3], activation="tanh", dtype="float64", seed=2, l2=l2, l1=l1,
                     penalize_biases=biases)
    model.biases[0][...] = rng.standard_normal(6)  # non-zero, so a bias penalty shows
    X, y = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    value, grad = model.loss_and_grad(X, y)
    data, dWs, dbs = loss_and_grad(*naive_args(model), "cross_entropy", X, np.eye(3)[y])
    parts = model.weights + (model.biases if biases else [])
    penalty = sum(0.5 * l2 * np.sum(p ** 2) + l1 * np.sum(np.abs(p)) for p in parts)
    assert value == pytest.approx(data + penalty, rel=1e-12)
    assert model.penalty() == pytest.approx(penalty, rel=1e-12)
    expected_dW = [d + l2 * W + l1 * np.sign(W) for d, W in zip(dWs, model.weights)]
    expected_db = [d + (l2 * b + l1 * np.sign(b) if biases else 0)
                   for d, b in zip(dbs, model.biases)]
    np.testing.assert_allclose(grad, flatten(expected_dW, expected_db), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad, finite_difference(model, X, y), rtol=1e-5, atol=1e-7)
    assert model.evaluate(X, y)["loss"] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("rows", range(10))
def test_bias_gradient_column_sums_of_any_row_count(rows, rng):
    # add_column_sums takes rows four at a time, then one by one: every remainder
    from fastmlp.kernels.config import jit
    from fastmlp.kernels.network import add_column_sums

    @jit(from_python=True)
    def column_sums(out, buf, off, rows, stride):
        add_column_sums(out, buf, off, rows, stride)

    stride, width, off = 11, 7, 3  # a column block of a wider matrix, after some offset
    buf = rng.standard_normal(off + max(rows, 1) * stride)
    out = rng.standard_normal(width)
    expected = out + buf[off:off + rows * stride].reshape(rows, stride)[:, :width].sum(axis=0)
    column_sums(out, buf, np.int64(off), np.int64(rows), np.int64(stride))
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
