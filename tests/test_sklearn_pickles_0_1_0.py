"""Fitted estimators pickled by fastmlp 0.1.0 load, predict and train on as they did.

The fixtures ``tests/data/sklearn_0_1_0_extras.pkl`` (pickle protocol 4)
and ``sklearn_0_1_0_extras.npz`` were written by
``tests/data/make_sklearn_0_1_0_extras.py`` at commit a59718a, before the
names fastmlp.sklearn's modules share lost their leading underscore, with
numpy 2.4.6 and scikit-learn 1.9.1.  They hold the estimators whose pickles
carry more than a network and an optimizer: Poisson regressors (whose
trainer the pickle names ``fastmlp.sklearn._PoissonTrainer``), early
stopping with class weights and a scorer, SGD's adaptive rate with
``warm_start``, multilabel ``partial_fit``.  Never regenerate them with
newer code: they stand for the pickles users already have.
"""

import importlib.util
import io
import pathlib
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import fastmlp as fm  # noqa: E402
import fastmlp.sklearn  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402
from fastmlp.sklearn._poisson import PoissonTrainer  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data"
FIXTURE = DATA / "sklearn_0_1_0_extras.pkl"

#: Each estimator of the fixture: its class, and the class of the trainer it keeps.
KINDS = {
    "poisson_adam": (MLPRegressor, PoissonTrainer),
    "poisson_partial": (MLPRegressor, PoissonTrainer),
    "poisson_lbfgs": (MLPRegressor, type(None)),
    "early_stopping": (MLPClassifier, fm.Trainer),
    "sgd_adaptive_warm_start": (MLPRegressor, fm.Trainer),
    "multilabel_partial": (MLPClassifier, fm.Trainer),
}


class _NamesRecorder(pickle.Unpickler):
    """An unpickler that records every global (module, name) the pickle looks up."""

    def __init__(self, file):
        super().__init__(file)
        self.names = set()

    def find_class(self, module, name):
        self.names.add((module, name))
        return super().find_class(module, name)


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "sklearn_0_1_0_extras.npz") as saved:
        return dict(saved)


@pytest.fixture
def loaded():
    """(the estimators, the globals their pickle names), a fresh load per test."""
    with open(FIXTURE, "rb") as f:
        recorder = _NamesRecorder(f)
        return recorder.load(), recorder.names


@pytest.fixture(scope="module")
def fixture_script():
    """The script that wrote the fixture, as a module (its fitting code is the recipe)."""
    spec = importlib.util.spec_from_file_location("make_sklearn_0_1_0_extras",
                                                  DATA / "make_sklearn_0_1_0_extras.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_old_private_trainer_name_resolves_to_the_renamed_class(loaded):
    _, names = loaded
    # what the test is about: the fixture names the class by its old private name
    assert ("fastmlp.sklearn", "_PoissonTrainer") in names
    assert fastmlp.sklearn._PoissonTrainer is PoissonTrainer
    with pytest.raises(AttributeError, match="_NoSuchName"):
        fastmlp.sklearn._NoSuchName  # noqa: B018


def test_the_estimators_load_as_the_current_classes(loaded):
    estimators, _ = loaded
    assert sorted(estimators) == sorted(KINDS)
    for name, (estimator_class, trainer_class) in KINDS.items():
        assert type(estimators[name]) is estimator_class, name
        assert type(estimators[name]._trainer) is trainer_class, name


def test_the_estimators_predict_what_they_predicted(loaded, expected):
    estimators, _ = loaded
    X_new = expected["X_new"]
    for name, estimator in estimators.items():
        np.testing.assert_array_equal(estimator.predict(X_new), expected[f"{name}_predict"],
                                      err_msg=name)
    for name in ("early_stopping", "multilabel_partial"):
        np.testing.assert_array_equal(estimators[name].predict_proba(X_new),
                                      expected[f"{name}_proba"], err_msg=name)


def test_refitting_with_the_current_code_gives_the_pickled_predictions(fixture_script,
                                                                       expected):
    # the renames change no behaviour: the fixture's recipe, run now, predicts the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refitted = fixture_script.fitted_estimators(
            expected["X"], expected["counts"], expected["labels"], expected["y_reg"],
            expected["multilabel"])
    X_new = expected["X_new"]
    for name, estimator in refitted.items():
        if isinstance(estimator, MLPClassifier):
            np.testing.assert_array_equal(estimator.predict(X_new), expected[f"{name}_predict"],
                                          err_msg=name)
            np.testing.assert_allclose(estimator.predict_proba(X_new),
                                       expected[f"{name}_proba"], rtol=1e-10, atol=1e-12,
                                       err_msg=name)
        else:
            np.testing.assert_allclose(estimator.predict(X_new), expected[f"{name}_predict"],
                                       rtol=1e-10, atol=1e-12, err_msg=name)


def test_a_pickled_poisson_partial_fit_continues_as_an_uninterrupted_one(loaded, expected):
    estimators, _ = loaded
    resumed = estimators["poisson_partial"]
    X, counts = expected["X"], expected["counts"]
    resumed.partial_fit(X, counts)
    # the same settings as the fixture's, four partial_fit calls without a pickle between
    straight = MLPRegressor(**resumed.get_params())
    for _ in range(4):
        straight.partial_fit(X, counts)
    assert resumed._trainer.epoch == straight._trainer.epoch == 4
    for mine, reference in zip(resumed.coefs_ + resumed.intercepts_,
                               straight.coefs_ + straight.intercepts_):
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-12)


def test_the_pickled_estimators_keep_training(loaded, expected):
    estimators, _ = loaded
    X, counts = expected["X"], expected["counts"]
    poisson = estimators["poisson_adam"]
    before = poisson.coefs_[0].copy()
    poisson.partial_fit(X, counts)
    assert type(poisson._trainer) is PoissonTrainer and poisson._trainer.epoch == 5
    assert not np.array_equal(poisson.coefs_[0], before)
    assert np.all(np.isfinite(poisson.predict(X))) and np.all(poisson.predict(X) > 0)
    adaptive = estimators["sgd_adaptive_warm_start"]
    curve = list(adaptive.loss_curve_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adaptive.fit(X, expected["y_reg"])  # warm start, from the pickled weights
    assert adaptive.loss_curve_[:len(curve)] == curve
    assert len(adaptive.loss_curve_) == len(curve) + adaptive.n_iter_
    clf = estimators["multilabel_partial"]
    clf.partial_fit(X, expected["multilabel"])
    assert clf.predict(X).shape == expected["multilabel"].shape


def test_new_pickles_of_a_poisson_fit_name_only_public_paths(loaded, expected):
    estimators, _ = loaded
    poisson = estimators["poisson_adam"]
    data = pickle.dumps(poisson, protocol=4)
    assert b"fastmlp.sklearn._" not in data and b"_PoissonTrainer" not in data
    recorder = _NamesRecorder(io.BytesIO(data))
    copy = recorder.load()
    assert ("fastmlp.sklearn", "PoissonTrainer") in recorder.names
    np.testing.assert_array_equal(copy.predict(expected["X_new"]),
                                  expected["poisson_adam_predict"])
