"""Model: layout of the flat buffer, predict against the reference, initialisation."""

import numpy as np
import pytest
from conftest import naive_args
from naive import forward

import fastmlp as fm


def test_params_is_one_buffer_and_views_share_it():
    model = fm.Model([4, 6, 5, 2], seed=0)
    assert model.params.ndim == 1 and model.params.flags.c_contiguous
    assert model.n_params == 4 * 6 + 6 + 6 * 5 + 5 + 5 * 2 + 2
    for W, (fi, fo) in zip(model.weights, [(4, 6), (6, 5), (5, 2)]):
        assert W.shape == (fi, fo) and W.base is model.params
    assert [b.shape for b in model.biases] == [(6,), (5,), (2,)]
    model.weights[1][2, 3] = 42.0
    assert model.params[4 * 6 + 6 + 2 * 5 + 3] == 42.0
    model.params[-1] = 7.0
    assert model.biases[-1][-1] == 7.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 3, 1024, 1500, 4097])
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
def test_predict_matches_naive(dtype, n, output, rng):
    model = fm.Model([7, 13, 9, 4], activation=["tanh", "gelu"], output=output, dtype=dtype,
                     seed=1)
    X = rng.standard_normal((n, 7))
    _, As = forward(*naive_args(model), X)
    out = model.predict(X)
    assert out.shape == (n, 4) and out.dtype == np.dtype(dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, As[-1], rtol=tol, atol=tol)


def test_predict_accepts_any_layout_and_readonly(rng):
    model = fm.Model([5, 3, 2], seed=0)
    X = rng.standard_normal((9, 5))
    expected = model.predict(X)
    frozen = X.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(model.predict(frozen), expected)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(X)), expected)
    wide = np.zeros((9, 10))
    wide[:, ::2] = X
    np.testing.assert_array_equal(model.predict(wide[:, ::2]), expected)
    np.testing.assert_array_equal(model.predict(X.tolist()), expected)


def test_same_seed_same_weights_in_both_dtypes():
    a = fm.Model([10, 20, 3], dtype="float32", seed=9)
    b = fm.Model([10, 20, 3], dtype="float64", seed=9)
    np.testing.assert_array_equal(a.params, b.params.astype(np.float32))
    assert not np.array_equal(a.params, fm.Model([10, 20, 3], seed=10).params)
    assert all(np.all(bias == 0) for bias in a.biases)


@pytest.mark.parametrize("init, std", [("he_normal", np.sqrt(2 / 400)),
                                       ("lecun_normal", np.sqrt(1 / 400)),
                                       ("glorot_normal", np.sqrt(2 / 700)),
                                       ("glorot_uniform", np.sqrt(6 / 700) / np.sqrt(3)),
                                       ("he_uniform", np.sqrt(6 / 400) / np.sqrt(3)),
                                       (fm.initializers.Normal(0.05), 0.05)])
def test_initializer_scale(init, std):
    W = fm.Model([400, 300, 2], init=init, dtype="float64", seed=0).weights[0]
    assert abs(W.mean()) < 5 * std / np.sqrt(W.size)
    assert W.std() == pytest.approx(std, rel=0.01)


def test_auto_init_follows_activation():
    relu = fm.Model([400, 300, 2], activation="relu", dtype="float64", seed=0).weights[0]
    tanh = fm.Model([400, 300, 2], activation="tanh", dtype="float64", seed=0).weights[0]
    assert relu.std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)
    assert tanh.std() == pytest.approx(np.sqrt(2 / 700), rel=0.01)


def test_evaluate_and_copy(rng):
    model = fm.Model([3, 4, 2], seed=0)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    result = model.evaluate(X, y)
    assert result["loss"] == pytest.approx(model.loss_and_grad(X, y)[0], rel=1e-6)
    acc = np.mean(model.predict(X).argmax(axis=1) == y)
    assert result["accuracy"] == pytest.approx(acc)
    clone = model.copy()
    clone.params[:] = 0
    assert np.any(model.params != 0)
    assert clone.weights[0].base is clone.params


def test_repr_mentions_architecture():
    text = repr(fm.Model([3, 4, 2], activation=fm.activations.leaky_relu(0.2)))
    assert "[3, 4, 2]" in text and "leaky_relu(negative_slope=0.2)" in text and "float32" in text


def test_a_model_loaded_as_read_only_memory_maps_trains(tmp_path, rng):
    # joblib hands arrays back as read-only memory maps, the parameter
    # layout's table included; the unpickled model must still train
    joblib = pytest.importorskip("joblib")
    model = fm.Model([4, 6, 3], seed=0, dtype="float64")
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path, mmap_mode="r")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for m in (model, loaded):
        fm.Trainer(m, "sgd", batch_size=10, epochs=2, seed=0, verbose=0).fit(X, y)
    np.testing.assert_array_equal(loaded.params, model.params)
