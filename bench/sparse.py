"""Sparse inputs: fastmlp's exact and lazy updates against scikit-learn's MLP (and PyTorch).

Two problems, generated (seeded) so that every run sees the same data:

``tfidf``
    A text classification problem shaped like the one scikit-learn users
    bring: 16,000 documents x 200,000 terms, about 100 distinct terms a
    document drawn from Zipf-like term frequencies, 20 classes each with
    its own topic terms (drawn more often in its documents), TF-IDF values,
    rows l2-normalised; 80% train, 20% test.
``onehot``
    Categorical data one-hot encoded: 50,000 rows x 20 columns of 2,000
    levels each (40,000 inputs, 20 non-zeros a row), the class decided by
    a sum of per-level effects plus noise, 10 classes.

Engines, each fitting in its own process (``ru_maxrss`` is its peak
memory; the data are generated and passed in as CSR before anything is
timed), after an untimed warm-up fit on a few rows in the same process
(thread pools started, fastmlp's kernels compiled or loaded):

``scikit-learn``   ``sklearn.neural_network.MLPClassifier`` on the CSR matrix
``fastmlp exact``  ``fastmlp.sklearn.MLPClassifier`` with its defaults (every
                   first-layer weight updated every step: the dense fit's result)
``fastmlp lazy``   the same with ``sparse_update="lazy"`` (only the rows each
                   batch touches; ``torch.optim.SparseAdam``'s semantics)
``products floor`` the first layer's two products alone, with the initial draw
                   (``bench/sparse_floor.py``): no fit is faster, so the exact
                   update's time over it bounds what a lazy update can gain
``pytorch``        when torch is installed: a CSR batch times a dense weight
                   (``torch.sparse.mm``), ReLU, linear, cross-entropy, dense Adam

All: hidden layer (128,), Adam lr 1e-3, batch 200, 3 epochs (``--epochs``),
float32 for fastmlp and PyTorch (the estimators' float32 input), float64 for
scikit-learn (what it converts CSR to).  Reported: fit seconds, peak
memory, test accuracy, and ratios to scikit-learn measured in the same run;
``--rounds`` repeats the processes alternately and reports medians.

    python bench/sparse.py [--problems tfidf,onehot] [--rounds 1] [--epochs 3]
                           [--engines scikit-learn,fastmlp exact,fastmlp lazy,pytorch]
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings

ENGINES = ("scikit-learn", "fastmlp exact", "fastmlp lazy", "products floor", "pytorch")


def tfidf_problem(seed=0, n_docs=16_000, n_terms=200_000, terms_per_doc=100, n_classes=20,
                  topic_terms=400, topic_share=0.3):
    """CSR float32 TF-IDF rows (l2-normalised) and their classes."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    # Zipf-like background frequencies over the vocabulary
    weights = 1.0 / np.arange(1, n_terms + 1) ** 1.07
    background = np.cumsum(weights / weights.sum())
    topics = rng.choice(n_terms, size=(n_classes, topic_terms), replace=False)
    labels = rng.integers(0, n_classes, n_docs)
    draws = int(terms_per_doc * 1.3)  # repeats collapse into counts
    n_topic = rng.binomial(draws, topic_share, n_docs)
    rows, cols = [], []
    for doc in range(n_docs):
        k = n_topic[doc]
        terms = np.concatenate([
            np.searchsorted(background, rng.random(draws - k)),
            topics[labels[doc], rng.integers(0, topic_terms, k)]])
        rows.append(np.full(terms.size, doc))
        cols.append(terms)
    counts = sp.csr_matrix((np.ones(sum(map(len, cols)), dtype=np.float32),
                            (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n_docs, n_terms))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=n_terms)
    idf = np.log((1 + n_docs) / (1 + df)) + 1.0
    counts.data = (np.log1p(counts.data) * idf[counts.indices]).astype(np.float32)
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    counts = sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ counts
    return sp.csr_matrix(counts, dtype=np.float32), labels


def onehot_problem(seed=0, n_rows=50_000, n_columns=20, levels=2_000, n_classes=10):
    """CSR float32 one-hot rows of categorical columns and their classes."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    codes = rng.zipf(1.3, size=(n_rows, n_columns)) % levels
    effects = rng.standard_normal((n_columns, levels, n_classes))
    scores = effects[np.arange(n_columns), codes].sum(axis=1)
    labels = (scores + rng.gumbel(size=scores.shape) * 2.0).argmax(axis=1)
    cols = (codes + levels * np.arange(n_columns)).ravel()
    X = sp.csr_matrix((np.ones(cols.size, dtype=np.float32),
                       (np.repeat(np.arange(n_rows), n_columns), cols)),
                      shape=(n_rows, n_columns * levels))
    return X, labels


PROBLEMS = {"tfidf": tfidf_problem, "onehot": onehot_problem}


def _split(X, y):
    n_train = int(0.8 * X.shape[0])
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _fit_sklearn(X, y, X_test, y_test, epochs, lazy=False, library="scikit-learn"):
    from sklearn.exceptions import ConvergenceWarning

    settings = dict(hidden_layer_sizes=(128,), solver="adam", batch_size=200,
                    learning_rate_init=1e-3, max_iter=epochs, tol=0.0,
                    n_iter_no_change=10 * epochs, random_state=0)
    if library == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
        X, X_test = X.astype("float64"), X_test.astype("float64")
    else:
        from fastmlp.sklearn import MLPClassifier
        if lazy:
            settings["sparse_update"] = "lazy"
    warnings.simplefilter("ignore", ConvergenceWarning)
    MLPClassifier(**{**settings, "max_iter": 1}).fit(X[:400], y[:400])  # warm-up
    model = MLPClassifier(**settings)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    return seconds, float(model.score(X_test, y_test))


def _fit_torch(X, y, X_test, y_test, epochs):
    import numpy as np
    import torch

    torch.manual_seed(0)
    n_classes = int(y.max()) + 1
    first = torch.nn.Parameter(torch.empty(X.shape[1], 128))
    torch.nn.init.kaiming_uniform_(first, a=5 ** 0.5)
    bias = torch.nn.Parameter(torch.zeros(128))
    head = torch.nn.Linear(128, n_classes)
    params = [first, bias, *head.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    labels = torch.as_tensor(y, dtype=torch.long)

    def batch_tensor(rows):
        part = X[rows]
        return torch.sparse_csr_tensor(torch.as_tensor(part.indptr, dtype=torch.int64),
                                       torch.as_tensor(part.indices, dtype=torch.int64),
                                       torch.as_tensor(part.data), size=part.shape)

    def forward(inputs):
        return head(torch.relu(torch.sparse.mm(inputs, first) + bias))

    def epoch(n_rows):
        order = np.random.default_rng(0).permutation(n_rows)
        for start in range(0, n_rows, 200):
            rows = order[start:start + 200]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(forward(batch_tensor(rows)), labels[rows])
            loss.backward()
            optimizer.step()

    epoch(400)  # warm-up
    start = time.perf_counter()
    for _ in range(epochs):
        epoch(X.shape[0])
    seconds = time.perf_counter() - start
    with torch.no_grad():
        predicted = forward(batch_tensor(np.arange(X_test.shape[0]))).argmax(dim=1).numpy()
    return seconds, float((predicted == y_test).mean())


def worker(engine, problem, epochs):
    """Build the problem, fit one engine; print a JSON line with the figures."""
    X, y = PROBLEMS[problem]()
    X_train, y_train, X_test, y_test = _split(X, y)
    if engine == "pytorch":
        seconds, accuracy = _fit_torch(X_train, y_train, X_test, y_test, epochs)
    elif engine == "products floor":
        from sparse_floor import products_floor
        seconds, accuracy = products_floor(X_train, epochs=epochs), float("nan")
    else:
        library = "scikit-learn" if engine == "scikit-learn" else "fastmlp"
        seconds, accuracy = _fit_sklearn(X_train, y_train, X_test, y_test, epochs,
                                         lazy=engine == "fastmlp lazy", library=library)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "accuracy": accuracy, "peak_mb": peak_mb}))


def _run(engine, problem, epochs):
    out = subprocess.run([sys.executable, __file__, "--worker", engine, problem, str(epochs)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{engine} on {problem} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _available(engine):
    module = {"scikit-learn": "sklearn", "pytorch": "torch",
              "products floor": "numba"}.get(engine, "fastmlp")
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", default="tfidf,onehot")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if _available(e)]
    cpu = platform.processor() or platform.machine()
    print(f"{os.cpu_count()} cores ({cpu}); engines: {', '.join(engines)}; "
          f"{args.rounds} round(s), {args.epochs} epochs")
    results = {}
    for problem in args.problems.split(","):
        figures = {e: [] for e in engines}
        for round_ in range(args.rounds):
            order = engines if round_ % 2 == 0 else engines[::-1]
            for engine in order:
                figures[engine].append(_run(engine, problem, args.epochs))
        results[problem] = figures
        _report(problem, figures)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def _report(problem, figures):
    def median(engine, key):
        return statistics.median(run[key] for run in figures[engine])

    base = "scikit-learn" if "scikit-learn" in figures else None
    print(f"\n{problem}: engine, fit seconds, peak MB, test accuracy"
          + (", speed-up and memory against scikit-learn" if base else ""))
    for engine in figures:
        line = (f"  {engine:15s} {median(engine, 'seconds'):8.2f} s "
                f"{median(engine, 'peak_mb'):8.0f} MB   accuracy {median(engine, 'accuracy'):.4f}")
        if base:
            line += (f"   {median(base, 'seconds') / median(engine, 'seconds'):6.2f}x faster, "
                     f"{median(engine, 'peak_mb') / median(base, 'peak_mb'):.2f}x the memory")
        print(line)
    if "fastmlp exact" in figures and "fastmlp lazy" in figures:
        speed = median("fastmlp exact", "seconds") / median("fastmlp lazy", "seconds")
        gap = median("fastmlp lazy", "accuracy") - median("fastmlp exact", "accuracy")
        print(f"  lazy against exact: {speed:.2f}x faster, accuracy {gap:+.4f}")
    if "fastmlp exact" in figures and "products floor" in figures:
        bound = median("fastmlp exact", "seconds") / median("products floor", "seconds")
        print(f"  exact against the products floor: {bound:.2f}x (no lazy update can gain more)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
