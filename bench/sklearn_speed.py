"""fit time: scikit-learn's MLPClassifier against fastmlp.sklearn.MLPClassifier.

Both get the same estimator settings -- digits (standardised), hidden layers
(256, 128), Adam, batch 64, ``max_iter`` epochs with ``tol=0`` and a huge
``n_iter_no_change`` so that both run every epoch.  Each timed ``fit`` runs
in a fresh worker process after a short warm-up fit there (thread pools
started, fastmlp's compiled kernels loaded from the cache), so neither
library's idle, spinning threads slow the other down; the rounds alternate
the libraries, and the script prints the median of each and the ratio.

    python bench/sklearn_speed.py [--rounds 5] [--epochs 50] [--threads N] [--float32]
                                  [--repeat 5]

``--threads`` limits both libraries (scikit-learn's BLAS through
threadpoolctl, fastmlp through ``n_threads``); by default each uses every
core.  ``--float32`` adds fastmlp on float32 input, which the estimator keeps
in float32.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

LIBRARIES = ("scikit-learn", "fastmlp", "fastmlp float32")


def settings(epochs):
    """The constructor arguments both estimators get."""
    return dict(hidden_layer_sizes=(256, 128), solver="adam", batch_size=64,
                learning_rate_init=1e-3, max_iter=epochs, tol=0.0,
                n_iter_no_change=10 * epochs, random_state=0)


def worker(library, epochs, n_threads, repeat=1):
    """Warm up, then time one fit; returns seconds."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(np.tile(X, (repeat, 1)))
    y = np.tile(y, repeat)
    kw = settings(epochs)
    if library == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
    else:
        from fastmlp.sklearn import MLPClassifier
        kw["n_threads"] = n_threads
        if library == "fastmlp float32":
            X = X.astype(np.float32)
    with threadpool_limits(n_threads):
        MLPClassifier(**{**kw, "max_iter": 2}).fit(X, y)
        est = MLPClassifier(**kw)
        start = time.perf_counter()
        est.fit(X, y)
        seconds = time.perf_counter() - start
    assert est.n_iter_ == epochs  # every epoch ran
    return seconds


def run_worker(library, args):
    cmd = [sys.executable, __file__, "--worker", library, "--epochs", str(args.epochs),
           "--repeat", str(args.repeat)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--repeat", type=int, default=1,
                        help="the digits this many times over (5: 8,985 rows)")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(worker(args.worker, args.epochs, args.threads, args.repeat))
        return

    libraries = LIBRARIES if args.float32 else LIBRARIES[:2]
    times = {lib: [] for lib in libraries}
    for r in range(args.rounds):
        for lib in libraries:
            times[lib].append(run_worker(lib, args))
        print(f"round {r + 1}: " + ", ".join(f"{lib} {times[lib][-1]:.3f} s"
                                             for lib in libraries), flush=True)

    threads = args.threads or os.cpu_count()
    print(f"\ndigits ({1797 * args.repeat}, 64), hidden (256, 128), adam, batch 64, "
          f"{args.epochs} epochs, "
          f"{threads} thread(s), median of {args.rounds} rounds; "
          f"{platform.machine()}, {os.cpu_count()} CPUs\n")
    base = statistics.median(times["scikit-learn"])
    print("| estimator | median fit (s) | ms / epoch | speed-up |")
    print("|---|---:|---:|---:|")
    for lib in libraries:
        med = statistics.median(times[lib])
        print(f"| {lib} | {med:.3f} | {1e3 * med / args.epochs:.1f} | {base / med:.1f}x |")


if __name__ == "__main__":
    main()
