"""Write the fixtures of tests/test_sklearn_pickles_0_1_0.py: fitted estimators of 0.1.0.

Run once, with fastmlp.sklearn as it was before the names its modules share
lost their leading underscore (commit a59718a), from the repository root
(PYTHONPATH makes the script import that checkout's fastmlp, not an installed
one)::

    PYTHONPATH=. python tests/data/make_sklearn_0_1_0_extras.py

Writes next to this script:

- ``sklearn_0_1_0_extras.pkl`` (pickle protocol 4): a dict of fitted
  estimators whose pickles hold more than the network and an optimizer --
  Poisson regressors (fitted by Adam, by ``partial_fit`` with SGD and a
  fastmlp schedule: both keep fastmlp.sklearn's Poisson trainer, and by
  L-BFGS, which keeps none), a classifier with early stopping, class
  weights and a scorer, a regressor refitted with ``warm_start`` by SGD
  with scikit-learn's adaptive rate, and a multilabel classifier trained
  by ``partial_fit``;
- ``sklearn_0_1_0_extras.npz``: the data and what each estimator predicted.

Rerunning it with newer code would overwrite the old-format fixtures, which
are the point of the test: don't.
"""

import pathlib
import pickle
import warnings

import numpy as np

from fastmlp.schedules import StepDecay
from fastmlp.sklearn import MLPClassifier, MLPRegressor

HERE = pathlib.Path(__file__).resolve().parent


def fitted_estimators(X, counts, labels, y_reg, multilabel):
    """Every estimator of the fixture, fitted (short runs: convergence is not the point)."""
    poisson_adam = MLPRegressor(loss="poisson", hidden_layer_sizes=(6,), max_iter=4,
                                batch_size=16, learning_rate_init=0.01, random_state=0)
    poisson_adam.fit(X, counts)
    poisson_partial = MLPRegressor(loss="poisson", hidden_layer_sizes=(5,), solver="sgd",
                                   learning_rate=StepDecay(1, 0.5), learning_rate_init=0.01,
                                   batch_size=20, random_state=1)
    for _ in range(3):
        poisson_partial.partial_fit(X, counts)
    poisson_lbfgs = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs",
                                 max_iter=15, random_state=2)
    poisson_lbfgs.fit(X, counts)
    early = MLPClassifier(hidden_layer_sizes=(7,), max_iter=6, batch_size=16, random_state=3,
                          early_stopping=True, n_iter_no_change=2, class_weight="balanced",
                          scoring="balanced_accuracy")
    early.fit(X, labels)
    adaptive = MLPRegressor(hidden_layer_sizes=(6,), solver="sgd", learning_rate="adaptive",
                            n_iter_no_change=1, tol=10.0, max_iter=4, batch_size=16,
                            warm_start=True, random_state=4)
    adaptive.fit(X, y_reg)
    adaptive.fit(X, y_reg)  # warm start: continues from the first fit's weights and rate
    multilabel_partial = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", batch_size=16,
                                       random_state=5)
    for _ in range(2):
        multilabel_partial.partial_fit(X, multilabel)
    return {"poisson_adam": poisson_adam, "poisson_partial": poisson_partial,
            "poisson_lbfgs": poisson_lbfgs, "early_stopping": early,
            "sgd_adaptive_warm_start": adaptive, "multilabel_partial": multilabel_partial}


def main():
    rng = np.random.default_rng(20270115)
    X = rng.standard_normal((64, 4))
    counts = rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1])).astype(np.float64)
    labels = np.array(["p", "q", "r"])[rng.integers(0, 3, size=64)]
    y_reg = X @ np.array([0.5, -1.0, 0.2, 0.0]) + 0.1 * rng.standard_normal(64)
    multilabel = (rng.random((64, 3)) < 0.4).astype(np.int64)
    X_new = rng.standard_normal((8, 4))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few epochs on purpose
        estimators = fitted_estimators(X, counts, labels, y_reg, multilabel)

    with open(HERE / "sklearn_0_1_0_extras.pkl", "wb") as f:
        pickle.dump(estimators, f, protocol=4)
    predictions = {f"{name}_predict": est.predict(X_new) for name, est in estimators.items()}
    for name in ("early_stopping", "multilabel_partial"):
        predictions[f"{name}_proba"] = estimators[name].predict_proba(X_new)
    np.savez(HERE / "sklearn_0_1_0_extras.npz", X=X, counts=counts, labels=labels, y_reg=y_reg,
             multilabel=multilabel, X_new=X_new, **predictions)


if __name__ == "__main__":
    main()
