"""Bad input gets a clear error, raised before any weight changes."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp._utils.validation import check_array


@pytest.fixture
def setup(rng):
    model = fm.Model([4, 5, 3], seed=0)
    X = rng.standard_normal((10, 4))
    y = rng.integers(0, 3, 10)
    return model, X, y


def _bad_X(X):
    nan = X.copy()
    nan[2, 1] = np.nan
    inf = X.copy()
    inf[0, 0] = np.inf
    return [
        (X[:, :3], ValueError, "3 features but the model expects 4"),
        (X[:0], ValueError, "empty"),
        (np.zeros((10, 0)), ValueError, "0 features"),
        (nan, ValueError, "NaN or inf.*row 2, column 1"),
        (inf, ValueError, "NaN or inf"),
        (X[0], ValueError, "2-D"),
        (X[None], ValueError, "2-D"),
        (X.astype(str), TypeError, "non-numeric"),
        (X.astype(complex), TypeError, "complex"),
        (np.array([["a", 1, 2, 3]] * 10, dtype=object), TypeError, "non-numeric"),
        (np.full((10, 4), 1e300), ValueError, "too large for float32"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_bad_features_everywhere(setup, case):
    model, X, y = setup
    bad, exc, message = _bad_X(X)[case]
    before = model.params.copy()
    trainer = fm.Trainer(model, verbose=0)
    for call in (lambda: model.predict(bad), lambda: model.loss_and_grad(bad, y[:len(bad)]),
                 lambda: trainer.fit(bad, y), lambda: model.evaluate(bad, y)):
        with pytest.raises(exc, match=message):
            call()
    np.testing.assert_array_equal(model.params, before)


@pytest.mark.parametrize("y_bad, exc, message", [
    (np.array([0, 1, 3, 0, 1, 2, 0, 1, 2, 7]), ValueError, r"outside 0..2.*\[3, 7\]"),
    (np.array([0, 1, -1, 0, 1, 2, 0, 1, 2, 0]), ValueError, "outside"),
    (np.arange(9) % 3, ValueError, "different numbers of samples: 10 and 9"),
    (np.array(["a", "b"] * 5), TypeError, "non-numeric"),
    (np.array([0.5] * 10), ValueError, "non-integer"),
    (np.zeros((10, 4)), ValueError, "4 columns but the model has 3 outputs"),
    (np.full(10, np.nan), ValueError, "NaN"),
    (np.zeros((10, 3, 1)), ValueError, "1-D or 2-D"),
])
def test_bad_targets(setup, y_bad, exc, message):
    model, X, _ = setup
    before = model.params.copy()
    with pytest.raises(exc, match=message):
        fm.Trainer(model, verbose=0).fit(X, y_bad)
    with pytest.raises(exc, match=message):
        model.loss_and_grad(X, y_bad)
    np.testing.assert_array_equal(model.params, before)


def test_target_range_for_binary_cross_entropy(rng):
    model = fm.Model([2, 3, 2], output="sigmoid", seed=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.loss_and_grad(rng.standard_normal((4, 2)), np.full((4, 2), 2.0))


def test_bad_validation_data(setup):
    model, X, y = setup
    trainer = fm.Trainer(model, verbose=0)
    with pytest.raises(ValueError, match="pair"):
        trainer.fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="X_val has 2 features"):
        trainer.fit(X, y, validation_data=(X[:, :2], y))
    assert trainer.epoch == 0


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(layer_sizes=[4]), ValueError, "at least an input and an output"),
    (dict(layer_sizes=[4, 0, 2]), ValueError, "positive integers"),
    (dict(layer_sizes=[4, -3, 2]), ValueError, "positive integers"),
    (dict(layer_sizes=[4, 2.5, 2]), ValueError, "positive integers"),
    (dict(layer_sizes=5), TypeError, "sequence"),
    (dict(layer_sizes=[4, 3, 2], activation="rectifier"), ValueError, "valid names"),
    (dict(layer_sizes=[4, 3, 2], activation=["relu", "tanh"]), ValueError, "1 hidden layers"),
    (dict(layer_sizes=[4, 3, 2], output="maxout"), ValueError, "unknown output"),
    (dict(layer_sizes=[4, 3, 2], loss="hinge"), ValueError, "valid names: .*cross_entropy"),
    (dict(layer_sizes=[4, 3, 2], output="identity", loss="cross_entropy"), ValueError,
     "needs output='softmax'"),
    (dict(layer_sizes=[4, 3, 2], dtype="float16"), ValueError, "float32' or 'float64"),
    (dict(layer_sizes=[4, 3, 2], init="ones"), ValueError, "valid names: .*he_normal"),
    (dict(layer_sizes=[4, 3, 2], seed=-1), ValueError, "seed"),
])
def test_bad_model_arguments(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        fm.Model(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-4), "batch_size"),
    (dict(batch_size=2.5), "batch_size"), (dict(epochs=0), "epochs"),
    (dict(optimizer="adagradx"), "valid names"), (dict(verbose=5), "verbose"),
    (dict(n_threads=0), "n_threads"),
])
def test_bad_trainer_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fm.Trainer(fm.Model([2, 2]), **kwargs)


def test_sparse_input_is_refused_where_it_would_be_densified():
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(30, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match="sparse input dense"):
        fm.preprocessing.PCAWhitening().fit(X)
    # the input check of the paths that need dense data names the problem
    with pytest.raises(TypeError, match="sparse matrix, which this call does not take"):
        check_array(X, np.float32)


def test_too_many_threads_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        with fm.threads(fm.max_threads() + 1):
            pass


@pytest.mark.parametrize("output", ["softmax", "identity"])
def test_overflowing_inputs_raise_instead_of_predicting_nan(output):
    model = fm.Model([4, 8, 3], output=output, seed=0)
    X = np.full((3, 4), 1.0, dtype=np.float32)
    X[1] = 3e38  # finite in float32, but X @ W overflows
    with pytest.raises(FloatingPointError, match="row 1.*standardise"):
        model.predict(X)
    # the same rows in float64 stay finite
    wide = fm.Model([4, 8, 3], output=output, dtype="float64", seed=0)
    assert np.isfinite(wide.predict(X.astype(np.float64))).all()
