"""What fastmlp 0.1.0 wrote and imported keeps working after its modules moved.

The fixtures in ``tests/data/`` (``*_0_1_0*``) were written by
``tests/data/make_fixtures_0_1_0.py`` with fastmlp 0.1.0 as it was before
its modules moved into subpackages (commit 2135d8a), numpy 2.4.6 and
scikit-learn 1.9.1: pickled estimators, a pickled model and trainer, a
checkpoint directory and a model file.  Never regenerate them with newer
code: they stand for the files users already have.
"""

import importlib
import pathlib
import pickle
import warnings

import numpy as np
import pytest

import fastmlp as fm
from fastmlp._utils.compat import MOVED

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def expected():
    with np.load(DATA / "expected_0_1_0.npz") as saved:
        return dict(saved)


@pytest.fixture
def pickled():
    pytest.importorskip("sklearn")
    with open(DATA / "pickles_0_1_0.pkl", "rb") as f:
        return pickle.load(f)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_every_old_module_path_imports_as_the_module_that_replaced_it(old):
    module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])


def test_old_import_statements_give_the_current_objects():
    from fastmlp.checkpoint import Checkpoint
    from fastmlp.divergence import TerminateOnNaN
    from fastmlp.io import load_model, save_model
    from fastmlp.layout import ParamLayout
    from fastmlp.parallel import threads
    from fastmlp.training.checkpoint import Checkpoint as Current
    assert Checkpoint is Current
    assert TerminateOnNaN is fm.TerminateOnNaN and threads is fm.threads
    assert save_model is fm.save and load_model is fm.load
    assert ParamLayout is type(fm.Model([2, 3]).layout)


def test_the_old_paths_finder_comes_after_the_real_modules():
    import sys
    from importlib.machinery import PathFinder
    ours = [i for i, f in enumerate(sys.meta_path) if type(f).__name__ == "_OldPaths"]
    assert len(ours) == 1 and ours[0] > sys.meta_path.index(PathFinder)
    assert not set(MOVED) & {"fastmlp.model", "fastmlp.trainer", "fastmlp.callbacks"}


def test_pickles_of_0_1_0_load_as_the_current_classes(pickled):
    from fastmlp.sklearn import MLPClassifier, MLPRegressor
    assert type(pickled["classifier"]) is MLPClassifier
    assert type(pickled["regressor"]) is MLPRegressor
    assert type(pickled["model"]) is fm.Model and type(pickled["trainer"]) is fm.Trainer
    assert type(pickled["model"].layout) is type(fm.Model([2, 3]).layout)


def test_pickles_of_0_1_0_predict_what_they_predicted(pickled, expected):
    X_new = expected["X_new"]
    np.testing.assert_array_equal(pickled["classifier"].predict_proba(X_new),
                                  expected["classifier_proba"])
    np.testing.assert_array_equal(pickled["regressor"].predict(X_new),
                                  expected["regressor_predict"])
    np.testing.assert_array_equal(pickled["model"].predict(X_new), expected["model_predict"])
    np.testing.assert_array_equal(pickled["trainer"].model.predict(X_new),
                                  expected["trainer_model_predict"])


def test_pickled_trainer_and_estimators_of_0_1_0_keep_training(pickled, expected):
    trainer = pickled["trainer"]
    before = trainer.model.params.copy()
    trainer.fit(expected["X"], expected["codes"], epochs=2)
    assert trainer.epoch == 5 and not np.array_equal(before, trainer.model.params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = pickled["classifier"].fit(expected["X"], expected["labels"])
    assert set(clf.predict(expected["X_new"])) <= {"x", "y", "z"}


def test_model_file_and_checkpoint_of_0_1_0_load(expected, tmp_path):
    model = fm.load(DATA / "model_0_1_0.npz")
    np.testing.assert_array_equal(model.predict(expected["X_new"]), expected["checkpoint_predict"])
    trainer = fm.Trainer.from_checkpoint(DATA / "checkpoints_0_1_0")
    np.testing.assert_array_equal(trainer.model.predict(expected["X_new"]),
                                  expected["checkpoint_predict"])
    assert trainer.epoch == 2
