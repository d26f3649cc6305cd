"""Property-based tests (hypothesis) over shapes, dtypes and hyper-parameters.

Invariants: a finite loss and gradient on finite data, predict's shape, dtype
and output range, a save -> load round trip that changes nothing, and the
gradient equal to finite differences of the loss (float64).  About 260
examples in all; shapes stay small so each example costs milliseconds.
"""

import os
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastmlp as fm  # noqa: E402

SETTINGS = dict(deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: output activation -> loss it pairs with
OUTPUTS = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy",
           "identity": "squared_error"}
HIDDEN = ["relu", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus", "tanh",
          "sigmoid", "identity"]
#: infinitely differentiable: finite differences converge to the gradient everywhere
SMOOTH = ["tanh", "sigmoid", "softplus", "gelu", "silu", "identity"]


@st.composite
def networks(draw, hidden=HIDDEN, dtypes=("float32", "float64"), regularised=True):
    """Keyword arguments of a small Model."""
    n_hidden = draw(st.integers(0, 2))
    sizes = [draw(st.integers(1, 6)) for _ in range(n_hidden + 2)]
    output = draw(st.sampled_from(sorted(OUTPUTS)))
    if output == "softmax" and sizes[-1] == 1:
        sizes[-1] = 2  # a one-class softmax is constant
    kwargs = dict(layer_sizes=sizes, output=output, dtype=draw(st.sampled_from(dtypes)),
                  activation=[draw(st.sampled_from(hidden)) for _ in range(n_hidden)],
                  seed=draw(st.integers(0, 2**31)),
                  l2=draw(st.sampled_from([0.0, 1e-3, 0.1])))
    if regularised and n_hidden:
        kwargs.update(dropout=draw(st.sampled_from([0.0, 0.3])),
                      dropconnect=draw(st.sampled_from([0.0, 0.2])),
                      batch_norm=draw(st.booleans()))
    return kwargs


@st.composite
def data(draw, kwargs, n_min=1, scale_max=1e3):
    """(X, y) that fit the network ``kwargs``: finite, of moderate size."""
    n = draw(st.integers(n_min, 12))
    sizes = kwargs["layer_sizes"]
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    scale = draw(st.sampled_from([s for s in (1e-3, 1.0, 30.0) if s < scale_max] + [scale_max]))
    X = rng.standard_normal((n, sizes[0])) * scale
    k = sizes[-1]
    loss = OUTPUTS[kwargs["output"]]
    if loss == "cross_entropy":
        y = rng.integers(0, k, n)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, k)) < 0.5).astype(float)
    else:
        y = rng.standard_normal((n, k)) * scale
    return X, y


def _model(kwargs):
    kwargs = dict(kwargs)
    if not kwargs["activation"]:
        kwargs["activation"] = "relu"  # unused without hidden layers
    return fm.Model(**kwargs)


@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_finite_data_gives_a_finite_loss_and_gradient(draw):
    kwargs = draw.draw(networks())
    model = _model(kwargs)
    X, y = draw.draw(data(kwargs, n_min=2))
    training = draw.draw(st.booleans())
    loss, grad = model.loss_and_grad(X, y, training=training, seed=3)
    assert np.isfinite(loss), (kwargs, loss)
    assert np.isfinite(grad).all(), kwargs
    assert grad.shape == model.params.shape and grad.dtype == model.dtype


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_predict_shape_dtype_and_range(draw):
    kwargs = draw.draw(networks())
    model = _model(kwargs)
    X, _ = draw.draw(data(kwargs, scale_max=30.0))
    out = model.predict(X)
    assert out.shape == (X.shape[0], model.n_outputs)
    assert out.dtype == model.dtype and out.flags.c_contiguous
    assert np.isfinite(out).all()
    tol = 1e-5 if model.dtype == np.float32 else 1e-12
    if kwargs["output"] == "softmax":
        assert np.all(out >= 0)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=0, atol=tol)
    elif kwargs["output"] == "sigmoid":
        assert np.all((out >= 0) & (out <= 1))
    # a row alone gives (nearly: another GEMM shape) what it gives in the batch
    np.testing.assert_allclose(model.predict(X[-1:]), out[-1:], rtol=1e-4, atol=tol)
    # lists in, the same numbers out
    assert np.array_equal(model.predict(X.tolist()), out)


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_save_load_round_trip_is_identical(draw):
    kwargs = draw.draw(networks())
    kwargs["preprocessing"] = draw.draw(st.sampled_from([None, "standardize", "whiten"]))
    model = _model(kwargs)
    X, _ = draw.draw(data(kwargs, n_min=2, scale_max=30.0))
    if model.preprocessing is not None and draw.draw(st.booleans()):
        model.fit_preprocessing(X)
    rng = np.random.default_rng(0)
    model.params[...] = rng.standard_normal(model.params.size)  # not just the initialisation
    model.running_stats[...] = np.abs(rng.standard_normal(model.running_stats.size))
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "m.npz")
        fm.save(model, path)
        loaded = fm.load(path)
    assert loaded.get_config() == model.get_config()
    assert np.array_equal(loaded.params, model.params)
    assert np.array_equal(loaded.running_stats, model.running_stats)
    if model.preprocessing is None or model.preprocessing.is_fitted:
        assert np.array_equal(loaded.predict(X), model.predict(X))
    else:
        assert not loaded.preprocessing.is_fitted


@settings(max_examples=80, **SETTINGS)
@given(st.data())
def test_gradient_equals_finite_differences(draw):
    kwargs = draw.draw(networks(hidden=SMOOTH, dtypes=("float64",)))
    model = _model(kwargs)
    X, y = draw.draw(data(kwargs, n_min=2, scale_max=3.0))
    rng = np.random.default_rng(draw.draw(st.integers(0, 2**31)))
    model.params[...] = rng.standard_normal(model.params.size) * 0.5
    training = bool(kwargs.get("batch_norm")) and draw.draw(st.booleans())
    _, grad = model.loss_and_grad(X, y, training=training, seed=7)
    base = model.params.copy()
    h = 1e-5

    def loss_at(step):
        model.params[...] = base + step
        return model.loss_and_grad(X, y, training=training, seed=7)[0]

    for _ in range(3):  # directional derivatives: all parameters at once
        v = rng.standard_normal(base.size)
        # fourth-order central difference: the second-order one is off by
        # ~1e-5 where batch norm over two rows curves the loss sharply
        numeric = (8 * (loss_at(h * v) - loss_at(-h * v))
                   - (loss_at(2 * h * v) - loss_at(-2 * h * v))) / (12 * h)
        model.params[...] = base
        analytic = float(grad @ v)
        assert abs(numeric - analytic) <= 1e-6 * (1 + abs(analytic)), \
            (kwargs, numeric, analytic)
