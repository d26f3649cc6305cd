"""Preprocessing: standardisation and PCA whitening, fitted on the training split and stored."""

import pickle

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.preprocessing import (
    PCAWhitening,
    StandardScaler,
    get_preprocessing,
    train_val_test_split,
)


def _correlated(rng, n=500, d=5):
    mixing = rng.standard_normal((d, d))
    return rng.standard_normal((n, d)) @ mixing * 3 + 10


def test_whitening_decorrelates_to_unit_variance(rng):
    X = _correlated(rng)
    Z = PCAWhitening(eps=1e-10).fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(np.cov(Z.T, bias=True), np.eye(5), atol=1e-7)


def test_whitening_is_the_lecture_formula(rng):
    """X_white = X U S^(-1/2) with [U, S, V] = svd(X^T X) on centred X (times sqrt(n))."""
    X = _correlated(rng, 200)
    Xc = X - X.mean(axis=0)
    U, S, _ = np.linalg.svd(Xc.T @ Xc)
    lecture = Xc @ U / np.sqrt(S) * np.sqrt(len(X))
    Z = PCAWhitening(eps=1e-12).fit_transform(X)
    # singular vectors are defined up to sign
    np.testing.assert_allclose(np.abs(Z), np.abs(lecture), rtol=1e-6, atol=1e-8)


def test_whitening_rank_deficient_data_stays_finite(rng):
    X = rng.standard_normal((3, 6))  # 3 samples in 6 dimensions: rank 2 after centring
    X = np.hstack([X, X[:, :1] * 2])  # and a dependent column
    w = PCAWhitening(eps=1e-5).fit(X)
    Z = w.transform(X)
    assert np.isfinite(Z).all()
    # the null-space directions carry (numerically) nothing
    assert np.abs(Z[:, 2:]).max() < 1e-3
    assert np.isfinite(w.transform(rng.standard_normal((4, 7)))).all()


def test_standardisation_is_fitted_on_training_data_only_and_stored(rng):
    X = rng.standard_normal((300, 4)) * [1, 10, 100, 0.1] + [5, -5, 50, 0]
    y = (X[:, 0] > 5).astype(int)
    X_test = X[:50] * 3
    model = fm.Model([4, 8, 2], preprocessing="standardize", seed=0)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(X_test)
    fm.Trainer(model, epochs=2, verbose=0).fit(X[50:], y[50:])
    scaler = model.preprocessing
    np.testing.assert_allclose(scaler.mean_, X[50:].astype(np.float32).mean(axis=0), rtol=1e-5)
    # predict applies the stored statistics to raw inputs
    manual = fm.Model([4, 8, 2], seed=0)
    manual.params[...] = model.params
    expected = manual.predict((X_test - scaler.mean_) / scaler.scale_)
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=1e-5, atol=1e-6)
    # a second fit keeps the statistics of the first training data
    mean = scaler.mean_.copy()
    fm.Trainer(model, epochs=1, verbose=0).fit(X[:100] + 100, y[:100])
    np.testing.assert_array_equal(model.preprocessing.mean_, mean)


def test_whitened_model_trains_and_predicts_raw_inputs(rng):
    X = _correlated(rng, 600)
    y = (X @ rng.standard_normal(5) > np.median(X @ np.ones(5))).astype(int)
    model = fm.Model([5, 16, 2], preprocessing=PCAWhitening(), seed=0)
    history = fm.Trainer(model, epochs=5, verbose=0, seed=0).fit(X, y, validation_data=(X, y))
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-5)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    copy = model.copy()
    copy.preprocessing.mean_[0] += 1
    assert model.preprocessing.mean_[0] != copy.preprocessing.mean_[0]


def test_state_dict_round_trip(rng):
    X = _correlated(rng)
    for transform in (StandardScaler(), PCAWhitening(eps=1e-3)):
        transform.fit(X)
        again = type(transform)().load_state_dict(transform.state_dict())
        np.testing.assert_array_equal(again.transform(X), transform.transform(X))
    with pytest.raises(ValueError, match="lacks"):
        StandardScaler().load_state_dict({"mean_": np.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        StandardScaler().load_state_dict({"mean_": np.zeros(3), "scale_": np.ones(4)})


def test_config_round_trip(rng):
    model = fm.Model([4, 6, 5, 3], activation=[fm.activations.leaky_relu(0.2), "elu"],
                     output="sigmoid", dtype="float64", l2=1e-3, dropout=0.1, batch_norm=True,
                     preprocessing="whiten")
    clone = fm.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.activations == model.activations
    with pytest.raises(ValueError, match="lacks"):
        fm.Model.from_config({"layer_sizes": [2, 1]})


def test_bad_preprocessing_names():
    with pytest.raises(ValueError, match="'standardize', 'whiten'"):
        get_preprocessing("normalise")
    with pytest.raises(TypeError):
        fm.Model([2, 2], preprocessing=3)
    with pytest.raises(ValueError, match="eps"):
        PCAWhitening(eps=0)
    fitted = StandardScaler().fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match="3 features"):
        fm.Model([5, 2], preprocessing=fitted)


def test_train_val_test_split_stratified(rng):
    X = rng.standard_normal((200, 3))
    y = np.r_[np.zeros(150, int), np.ones(50, int)]
    X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(
        X, y, val_size=0.2, test_size=0.1, stratify=y, seed=0)
    assert (len(y_tr), len(y_va), len(y_te)) == (140, 40, 20)
    assert np.bincount(y_va).tolist() == [30, 10] and np.bincount(y_te).tolist() == [15, 5]
    rows = np.concatenate([X_tr, X_va, X_te])
    assert np.unique(rows, axis=0).shape[0] == 200
    with pytest.raises(ValueError, match="no training"):
        train_val_test_split(X, y, val_size=0.5, test_size=0.5)


def test_the_splits_are_importable_where_they_were():
    import fastmlp.data.splits as splits
    import fastmlp.preprocessing as preprocessing
    for name in ("train_test_split", "train_val_test_split", "split_count",
                 "stratified_indices"):
        assert getattr(preprocessing, name) is getattr(splits, name)


def test_random_held_out_rows_are_the_head_of_a_permutation():
    from fastmlp.data.splits import held_out_indices
    held, kept = held_out_indices(10, 3, np.random.default_rng(4))
    permutation = np.random.default_rng(4).permutation(10)
    assert held.tolist() == permutation[:3].tolist()
    assert kept.tolist() == permutation[3:].tolist()


def test_a_contiguous_split_keeps_the_last_rows_for_validation_and_test():
    from fastmlp.data.splits import contiguous_split
    # 10 rows: 2 for the test, a quarter of the other 8 for validation
    split = contiguous_split(10, 0.2, 0.25)
    assert [(part.start, part.stop) for part in split] == [(0, 6), (6, 8), (8, 10)]
    assert np.arange(10)[split.val].tolist() == [6, 7]
    assert contiguous_split(10, 0, 0.5).test == slice(10, 10)
    with pytest.raises(ValueError, match="3 rows are too few"):
        contiguous_split(3, 0.1, 0.1)
    with pytest.raises(ValueError, match="3 rows are too few"):
        contiguous_split(3, 0.4, 0.1)
