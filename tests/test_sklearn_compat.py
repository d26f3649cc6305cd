"""Estimators pickled by earlier versions of fastmlp.sklearn keep loading and training.

The fixture ``tests/data/sklearn_estimators_v0.pkl`` (pickle protocol 4)
holds an ``MLPClassifier`` fitted on the string labels "a", "b", "c" and an
``MLPRegressor``, both float64, trained five epochs with Adam on random data;
``tests/data/sklearn_estimators_v0_expected.npz`` holds the training data
and their predictions on a fixed input.  Both files were written by
``tests/data/make_sklearn_estimators_v0.py`` with the single-module
``fastmlp/sklearn.py`` (before it became the package ``fastmlp/sklearn/``)
at commit ad920c5402102a7f755ac5e1bd326dc26633d82f, the module being the
same in e22fe3c, with numpy 2.4.6 and scikit-learn 1.9.1.  Never regenerate
them with newer code: they stand for the pickles users already have.
"""

import pathlib
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastmlp.sklearn  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "sklearn_estimators_v0_expected.npz") as saved:
        return dict(saved)


@pytest.fixture
def estimators():
    with open(DATA / "sklearn_estimators_v0.pkl", "rb") as f:
        return pickle.load(f)


def test_old_pickles_load_as_the_current_classes(estimators):
    assert type(estimators["classifier"]) is fastmlp.sklearn.MLPClassifier
    assert type(estimators["regressor"]) is fastmlp.sklearn.MLPRegressor


def test_old_pickles_predict_what_they_predicted(estimators, expected):
    clf, reg = estimators["classifier"], estimators["regressor"]
    X_new = expected["X_new"]
    np.testing.assert_array_equal(clf.predict(X_new), expected["classifier_predict"])
    np.testing.assert_array_equal(clf.predict_proba(X_new), expected["classifier_predict_proba"])
    np.testing.assert_array_equal(reg.predict(X_new), expected["regressor_predict"])
    assert list(clf.classes_) == ["a", "b", "c"]


def test_old_pickles_keep_training(estimators, expected):
    clf, reg = estimators["classifier"], estimators["regressor"]
    X, labels, y = expected["X_train"], expected["y_train_labels"], expected["y_train_reg"]
    before = clf.coefs_[0].copy()
    curve = list(clf.loss_curve_)
    clf.partial_fit(X, labels)  # the pickled trainer and Adam state continue
    assert clf.n_iter_ == 1 and clf.loss_curve_[:len(curve)] == curve
    assert len(clf.loss_curve_) == len(curve) + 1
    assert not np.array_equal(clf.coefs_[0], before)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 5 epochs on purpose
        reg.fit(X, y)
    assert reg.n_iter_ == reg.max_iter and np.all(np.isfinite(reg.predict(X)))


def test_new_pickles_name_the_public_path(estimators):
    clf = estimators["classifier"]
    assert type(clf).__module__ == "fastmlp.sklearn"
    assert b"fastmlp.sklearn._" not in pickle.dumps(clf, protocol=4)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.coefs_[0], clf.coefs_[0])


def test_old_pickles_take_the_newer_parameters_defaults(estimators, expected):
    # class_weight, scoring and sparse_update came later: pickles without them get the defaults
    from sklearn.base import clone
    clf, reg = estimators["classifier"], estimators["regressor"]
    assert clf.get_params()["class_weight"] is None and clf.get_params()["scoring"] is None
    assert reg.get_params()["scoring"] is None and "class_weight" not in reg.get_params()
    assert clf.get_params()["sparse_update"] == reg.get_params()["sparse_update"] == "exact"
    assert clone(clf).get_params() == clf.get_params()
    X, labels = expected["X_train"], expected["y_train_labels"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(early_stopping=True, warm_start=False, max_iter=3).fit(X, labels)
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == clf.n_iter_

