"""Write the fixtures of tests/test_compat_0_1_0.py: what fastmlp 0.1.0 wrote.

Run once, with fastmlp 0.1.0 as it was before its modules moved into
subpackages (commit 2135d8a), from the repository root::

    python tests/data/make_fixtures_0_1_0.py

Writes next to this script:

- ``pickles_0_1_0.pkl`` (pickle protocol 4): a fitted ``MLPClassifier``
  with early stopping and an ``MLPRegressor`` trained by SGD with an
  adaptive rate (their pickles hold trainers, optimizers, schedules,
  callbacks and the stopping bookkeeping), a ``Model`` with batch norm and
  stored standardisation, and a ``Trainer`` with a schedule, early stopping
  and a hold-out fraction;
- ``checkpoints_0_1_0/``: the checkpoints of a 4-epoch fit stopped after 2;
- ``model_0_1_0.npz``: a model file;
- ``expected_0_1_0.npz``: the data, and what each object predicted.

Rerunning it with newer code would overwrite the old-format fixtures, which
are the point of the test: don't.
"""

import pathlib
import pickle
import shutil

import numpy as np

import fastmlp as fm
from fastmlp.sklearn import MLPClassifier, MLPRegressor

HERE = pathlib.Path(__file__).resolve().parent


def main():
    rng = np.random.default_rng(20261207)
    X = rng.standard_normal((80, 5))
    labels = np.array(["x", "y", "z"])[rng.integers(0, 3, size=80)]
    y_reg = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.3]) + 0.1 * rng.standard_normal(80)
    codes = rng.integers(0, 3, size=80)
    X_new = rng.standard_normal((9, 5))

    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=6, batch_size=16, random_state=0,
                        early_stopping=True, n_iter_no_change=2)
    reg = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", learning_rate="adaptive",
                       max_iter=5, batch_size=16, random_state=1)
    clf.fit(X, labels)
    reg.fit(X, y_reg)

    model = fm.Model([5, 7, 3], batch_norm=True, preprocessing="standardize", seed=2,
                     dtype="float64")
    trainer = fm.Trainer(model, fm.optim.SGD(lr=0.05, momentum=0.9), batch_size=20, epochs=3,
                         seed=3, verbose=0, schedule=fm.schedules.StepDecay(2, 0.5),
                         validation_fraction=0.25,
                         callbacks=[fm.callbacks.EarlyStopping(patience=5)])
    trainer.fit(X, codes)

    checkpoints = HERE / "checkpoints_0_1_0"
    shutil.rmtree(checkpoints, ignore_errors=True)
    resumed = fm.Model([5, 6, 3], seed=4)
    fm.Trainer(resumed, fm.optim.Adam(lr=1e-2), batch_size=16, epochs=2, seed=5, verbose=0,
               checkpoint_dir=checkpoints, keep_checkpoints=1).fit(X, codes)
    resumed.save(HERE / "model_0_1_0.npz")

    with open(HERE / "pickles_0_1_0.pkl", "wb") as f:
        pickle.dump({"classifier": clf, "regressor": reg, "model": model, "trainer": trainer},
                    f, protocol=4)
    np.savez(HERE / "expected_0_1_0.npz", X=X, labels=labels, y_reg=y_reg, codes=codes,
             X_new=X_new, classifier_proba=clf.predict_proba(X_new),
             regressor_predict=reg.predict(X_new), model_predict=model.predict(X_new),
             trainer_model_predict=trainer.model.predict(X_new),
             checkpoint_predict=resumed.predict(X_new))


if __name__ == "__main__":
    main()
