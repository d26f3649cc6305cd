"""Test scores of scikit-learn's MLP and fastmlp.sklearn's with the same settings.

Three of scikit-learn's bundled datasets -- digits (10 classes), breast
cancer (binary), diabetes (regression) -- each split 75/25 (stratified for
the classifiers) and standardised on the training part, per seed.  Both
libraries get the same constructor arguments and ``random_state`` (so the
same initial weights); the script prints a Markdown table of the mean test
score (accuracy, R^2) over the seeds with its standard deviation.  (Fit
times are left to bench/sklearn_speed.py, which times each library in its
own process.)

    python bench/sklearn_parity.py [--seeds 5]
"""

import argparse
import statistics
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

from fastmlp.sklearn import MLPClassifier, MLPRegressor

#: (dataset, loader, is_classifier, settings name, constructor arguments)
CASES = [
    ("digits", load_digits, True, "adam, (100,)", dict()),
    ("digits", load_digits, True, "adam, (256, 128), batch 64",
     dict(hidden_layer_sizes=(256, 128), batch_size=64)),
    ("digits", load_digits, True, "sgd, (100,)", dict(solver="sgd", learning_rate_init=0.01)),
    ("breast cancer", load_breast_cancer, True, "adam, (100,)", dict()),
    ("breast cancer", load_breast_cancer, True, "lbfgs, (100,)", dict(solver="lbfgs")),
    ("diabetes", load_diabetes, False, "adam, (64, 32), alpha 3, batch 32",
     dict(hidden_layer_sizes=(64, 32), alpha=3.0, batch_size=32, max_iter=300)),
    ("diabetes", load_diabetes, False, "adam, (64,), early stopping",
     dict(hidden_layer_sizes=(64,), early_stopping=True, validation_fraction=0.2,
          max_iter=1000)),
    ("diabetes", load_diabetes, False, "lbfgs, (32,), alpha 10",
     dict(solver="lbfgs", hidden_layer_sizes=(32,), alpha=10.0, max_iter=500)),
]


def split(loader, classifier, seed):
    X, y = loader(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed,
                                              stratify=y if classifier else None)
    scaler = StandardScaler().fit(X_tr)
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    if not classifier:  # standardised targets for both (R^2 does not change)
        mean, std = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mean) / std, (y_te - mean) / std
    return X_tr, X_te, y_tr, y_te


def run(cls, kwargs, data, seed):
    X_tr, X_te, y_tr, y_te = data
    return cls(random_state=seed, **kwargs).fit(X_tr, y_tr).score(X_te, y_te)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    seeds = range(args.seeds)
    # warm-up: load fastmlp's compiled kernels before anything is timed
    run(MLPClassifier, dict(max_iter=2), split(load_digits, True, 0), 0)

    print(f"Mean test score over {args.seeds} seeds (± std); accuracy for the "
          "classifiers, R² for diabetes.\n")
    print("| dataset | settings | scikit-learn | fastmlp |")
    print("|---|---|---:|---:|")
    for name, loader, classifier, label, kwargs in CASES:
        ours, theirs = (MLPClassifier, SkClassifier) if classifier else (MLPRegressor,
                                                                      SkRegressor)
        results = {"sk": [], "fm": []}
        for seed in seeds:
            data = split(loader, classifier, seed)
            results["sk"].append(run(theirs, kwargs, data, seed))
            results["fm"].append(run(ours, kwargs, data, seed))
        cells = []
        for key in ("sk", "fm"):
            scores = results[key]
            spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
            cells.append(f"{np.mean(scores):.4f} ± {spread:.4f}")
        print(f"| {name} | {label} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
