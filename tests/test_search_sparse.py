"""fastmlp.search on a sparse X: split by rows, never densified, the dense search's results.

The reference is the same search on ``X.toarray()`` (float64, no
preprocessing, so that both train the same networks): every trial's
validation score and loss, the chosen configuration, the refitted model
and its test score agree within 1e-8.  In this process (sequential trials
and threads) ``toarray``/``todense`` raise for a matrix of the data's
width; the process backends (loky, Dask) get the same CSR splits, pickled.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from densify_guard import no_densifying

import fastmlp.search.methods
from fastmlp.search import search

N, D = 300, 43  # D: a width no other matrix of these searches has (see no_densifying)

SPACE = {"lr": [3e-3, 3e-2], "hidden": [(8,), (16,)]}
SETTINGS = dict(method="grid", epochs=3, seed=1, dtype="float64", preprocessing=None)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = sp.random(N, D, density=0.15, format="csr", random_state=rng)
    X.data = X.data * 4 - 2
    score = X @ rng.standard_normal(D)
    return X, np.digitize(score, np.quantile(score, [0.3, 0.7]))


@pytest.fixture(scope="module")
def dense_result(data):
    X, y = data
    return search(X.toarray(), y, SPACE, **SETTINGS)


@pytest.fixture
def handed_to_backends(monkeypatch):
    """The types of the training and validation inputs every round hands to the backends."""
    seen = []
    run_tasks = fastmlp.search.methods.run_tasks

    def spy(tasks, data, *args, **kwargs):
        seen.append((type(data["train"][0]), type(data["val"][0])))
        return run_tasks(tasks, data, *args, **kwargs)

    monkeypatch.setattr(fastmlp.search.methods, "run_tasks", spy)
    return seen


def assert_same_search(result, reference):
    key = lambda rows: sorted(rows, key=lambda r: r["trial"])  # noqa: E731
    for mine, theirs in zip(key(result.trials), key(reference.trials), strict=True):
        assert mine["status"] == theirs["status"] == "ok"
        assert {k: mine[k] for k in SPACE} == {k: theirs[k] for k in SPACE}
        assert mine["val_score"] == pytest.approx(theirs["val_score"], rel=1e-8)
        assert mine["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-8)
    assert result.best_params == reference.best_params
    assert result.test_score == pytest.approx(reference.test_score, rel=1e-8)
    np.testing.assert_allclose(result.best_model.params, reference.best_model.params, rtol=0,
                               atol=1e-8 * max(1.0, np.abs(reference.best_model.params).max()))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_sparse_search_in_this_process_equals_the_dense_one(data, dense_result, n_jobs,
                                                             handed_to_backends):
    X, y = data
    with no_densifying(D):
        result = search(X, y, SPACE, n_jobs=n_jobs, **SETTINGS)
        predicted = result.best_model.predict(X[:5])
    assert_same_search(result, dense_result)
    assert handed_to_backends == [(sp.csr_matrix, sp.csr_matrix)]
    np.testing.assert_allclose(predicted, dense_result.best_model.predict(X[:5].toarray()),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("backend", ["loky", "dask"])
def test_a_sparse_search_in_worker_processes_equals_the_dense_one(data, dense_result, backend,
                                                                  handed_to_backends):
    pytest.importorskip("distributed" if backend == "dask" else "joblib")
    X, y = data
    with no_densifying(D):  # the splits and the refit, in this process
        result = search(X, y, SPACE, n_jobs=2, backend=backend, **SETTINGS)
    assert_same_search(result, dense_result)
    assert handed_to_backends == [(sp.csr_matrix, sp.csr_matrix)]


@pytest.mark.parametrize("convert", [sp.csc_matrix, sp.coo_array, sp.csr_array])
def test_other_formats_are_converted_once_to_csr(data, dense_result, convert,
                                                 handed_to_backends):
    X, y = data
    float32 = search(convert(X), y, SPACE, **{**SETTINGS, "dtype": "float32"})
    csr = sp.csr_array if convert is sp.coo_array or convert is sp.csr_array else sp.csr_matrix
    assert handed_to_backends == [(csr, csr)]
    assert float32.best_model.dtype == np.float32
    assert float32.test_score == pytest.approx(dense_result.test_score, abs=0.05)


def test_fixed_sparse_splits_and_scaling_without_centring(data):
    # preprocessing="standardize" on sparse data divides by each column's
    # standard deviation (zeros included) and does not centre: the dense
    # search of the data so scaled, without preprocessing, is the same search
    X, y = data
    train, val, test = slice(0, 200), slice(200, 250), slice(250, None)
    # (no refit: refitting would fit the scaling on training + validation rows)
    settings = {**SETTINGS, "preprocessing": "standardize", "refit": False}
    with no_densifying(D):
        result = search(X[train], y[train], SPACE, validation_data=(X[val], y[val]),
                        test_data=(X[test], y[test]), **settings)
    dense = X.toarray()
    scale = dense[train].std(axis=0)
    scaled = dense / scale
    reference = search(scaled[train], y[train], SPACE, validation_data=(scaled[val], y[val]),
                       test_data=(scaled[test], y[test]), **SETTINGS, refit=False)
    assert_same_search(result, reference)
    assert not np.any(result.best_model.preprocessing.mean_)


def test_a_sparse_x_of_the_wrong_shape_or_values_is_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="one row per target"):
        search(X, y[:-1], SPACE, **SETTINGS)
    bad = X.copy()
    bad.data[4] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        search(bad, y, SPACE, **SETTINGS)
    with pytest.raises(ValueError, match="dtype must be"):
        search(X, y, SPACE, **{**SETTINGS, "dtype": "float16"})
