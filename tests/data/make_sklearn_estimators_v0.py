"""Write the pickled-estimator fixture of tests/test_sklearn_compat.py.

Run once, with the code whose pickles must keep loading (see that test's
docstring for the commit), from the repository root::

    python tests/data/make_sklearn_estimators_v0.py

Writes ``sklearn_estimators_v0.pkl`` (both estimators, pickle protocol 4)
and ``sklearn_estimators_v0_expected.npz`` (their predictions on a fixed
input) next to this script.  Rerunning it with newer code would overwrite
the old-format fixture, which is the point of the test: don't.
"""

import pathlib
import pickle

import numpy as np

from fastmlp.sklearn import MLPClassifier, MLPRegressor

HERE = pathlib.Path(__file__).resolve().parent


def main():
    rng = np.random.default_rng(20240601)
    X = rng.standard_normal((60, 4))
    labels = np.array(["a", "b", "c"])[rng.integers(0, 3, size=60)]
    y_reg = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(60)
    X_new = rng.standard_normal((7, 4))

    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, batch_size=16, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, batch_size=16, random_state=1)
    clf.fit(X, labels)
    reg.fit(X, y_reg)

    with open(HERE / "sklearn_estimators_v0.pkl", "wb") as f:
        pickle.dump({"classifier": clf, "regressor": reg}, f, protocol=4)
    np.savez(HERE / "sklearn_estimators_v0_expected.npz", X_new=X_new, X_train=X,
             y_train_labels=labels, y_train_reg=y_reg,
             classifier_predict=clf.predict(X_new),
             classifier_predict_proba=clf.predict_proba(X_new),
             regressor_predict=reg.predict(X_new))


if __name__ == "__main__":
    main()
