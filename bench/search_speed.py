"""Wall time of a random search: fastmlp.search against scikit-learn's RandomizedSearchCV.

Both draw 24 random configurations from the same space -- hidden sizes
(64,), (128,) or (128, 64), log-uniform learning rate in [1e-4, 1e-1] and
L2 penalty in [1e-6, 1e-2], batch size 32 or 64 -- and train each for the
same number of epochs with Adam on the digits, two trials at a time
(``n_jobs=2``).  fastmlp scores each trial on one fixed validation split
and retrains the best on training + validation data; RandomizedSearchCV
gets the same single split (``PredefinedSplit``) and ``refit=True`` over
its own MLPClassifier (``tol=0`` so it runs every epoch), so both do the
same amount of training.  The script prints both wall times, the best
validation scores and the ratio.

    python bench/search_speed.py [--trials 24] [--epochs 20] [--jobs 2] [--seed 0]

fastmlp runs twice: trials in joblib's worker processes (``backend="loky"``)
and in threads of one process (the default, ``backend="threads"``).

fastmlp compiles a configuration's kernels on its first run: a short
warm-up search (not timed) fills the cache first.
"""

import argparse
import time
import warnings

import numpy as np

HIDDEN = [(64,), (128,), (128, 64)]


def _splits(seed):
    from fastmlp.datasets import load_digits
    from fastmlp.preprocessing import train_val_test_split

    X, y = load_digits()
    X_train, X_val, _, y_train, y_val, _ = train_val_test_split(
        X, y, val_size=0.15, test_size=0.15, stratify=y, seed=seed)
    return X_train, y_train, X_val, y_val


def run_fastmlp(trials, epochs, jobs, seed, backend="threads"):
    """Seconds and best validation accuracy of fastmlp's random search."""
    from fastmlp.search import loguniform, search

    X_train, y_train, X_val, y_val = _splits(seed)
    space = {"hidden": HIDDEN, "lr": loguniform(1e-4, 1e-1), "l2": loguniform(1e-6, 1e-2),
             "batch_size": [32, 64]}
    start = time.perf_counter()
    result = search(X_train, y_train, space, method="random", n_trials=trials, epochs=epochs,
                    validation_data=(X_val, y_val), seed=seed, n_jobs=jobs,
                    backend=backend)
    return time.perf_counter() - start, result.best_score


def run_sklearn(trials, epochs, jobs, seed):
    """Seconds and best validation accuracy of RandomizedSearchCV over MLPClassifier."""
    from scipy.stats import loguniform
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import PredefinedSplit, RandomizedSearchCV
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, y_train, X_val, y_val = _splits(seed)
    X, y = np.concatenate([X_train, X_val]), np.concatenate([y_train, y_val])
    fold = np.r_[np.full(len(X_train), -1), np.zeros(len(X_val), dtype=int)]
    space = {"mlpclassifier__hidden_layer_sizes": HIDDEN,
             "mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-1),
             "mlpclassifier__alpha": loguniform(1e-6, 1e-2),
             "mlpclassifier__batch_size": [32, 64]}
    model = make_pipeline(StandardScaler(), MLPClassifier(
        max_iter=epochs, tol=0.0, n_iter_no_change=10 ** 6, random_state=seed))
    searcher = RandomizedSearchCV(model, space, n_iter=trials, cv=PredefinedSplit(fold),
                                  n_jobs=jobs, refit=True, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        searcher.fit(X, y)
    return time.perf_counter() - start, searcher.best_score_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run_fastmlp(6, 1, 1, args.seed)  # warm-up, not timed: compile or load the kernels
    fast, fast_score = run_fastmlp(args.trials, args.epochs, args.jobs, args.seed,
                                   backend="loky")
    threads, threads_score = run_fastmlp(args.trials, args.epochs, args.jobs, args.seed)
    slow, slow_score = run_sklearn(args.trials, args.epochs, args.jobs, args.seed)
    print(f"{args.trials} random configurations, {args.epochs} epochs, {args.jobs} jobs")
    print(f"fastmlp.search, processes {fast:8.2f} s  best validation accuracy {fast_score:.4f}")
    print(f"fastmlp.search, threads   {threads:8.2f} s  best validation accuracy "
          f"{threads_score:.4f}")
    print(f"RandomizedSearchCV        {slow:8.2f} s  best validation accuracy {slow_score:.4f}")
    print(f"ratio (scikit-learn / fastmlp): processes {slow / fast:.2f}, "
          f"threads {slow / threads:.2f}")


if __name__ == "__main__":
    main()
