"""Hyper-parameter search: grid, random, coarse-to-fine and successive halving.

The data discipline of the lecture notes: every trial trains on the
training split and is scored on one validation split, the same for every
trial; the best configuration is then retrained on training + validation
data and evaluated once on the held-out test split, whose score plays no
part in the choice.

The methods:

grid
    Every combination of the space's choices.
random, coarse-to-fine
    ``n_trials`` configurations drawn from the space.  With ``rounds=K``
    the trials are split over K rounds, and each round after the first
    draws from a space whose numeric ranges are ``shrink`` times narrower
    than the previous round's, centred on the mean value of the ``top_k``
    best trials so far -- the mean of the logarithms for log-uniform
    ranges, so the narrowing happens on the log scale; integer ranges
    round; a window slides to stay inside the previous range; choices
    stay whole.
halving
    Successive halving with epochs as the resource: ``n_trials``
    configurations train ``min_epochs`` epochs, the best ``1/eta`` of them
    train ``eta`` times as many (from scratch, so each rung is reproducible
    on its own), and so on up to ``epochs``; the others stop early.  The
    best trial is chosen in the last rung.

A sparse X (SciPy, any format) is converted once to compressed sparse rows
in the trials' dtype and never densified: the splits are its rows, every
trial (in any backend) trains and is scored on them, and
``preprocessing="standardize"`` scales it without centring.
"""

import collections
import contextlib

import numpy as np
import scipy.sparse as sp

from .._utils.sparse import check_csr, is_sparse
from .._utils.validation import check_dtype
from ..activations import NAMES as ACTIVATIONS
from ..data.encoding import infer_task
from ..optim import NAMES as OPTIMIZERS
from ..preprocessing import train_test_split, train_val_test_split
from .backends import check_backend, run_tasks
from .plots import plot_search
from .runner import FIXED_COLUMNS, ResultsFile, Setup, build_trainer, is_lost
from .space import Space

__all__ = ["search", "SearchResult", "METHODS"]

#: The values of :func:`search`'s ``method``.
METHODS = ("grid", "random", "halving")


class SearchResult:
    """The outcome of :func:`search`.

    Attributes
    ----------
    trials : list of dict
        One row per trial (per trial and rung for halving), ordered by
        round and trial: ``trial``, ``round``, the hyper-parameters,
        ``val_score``, ``val_loss``, ``epochs``, ``seconds``, ``status``.
    best_params : dict
        The chosen configuration (highest validation score).
    best_score : float
        Its validation score (accuracy, or R^2 for regression).
    best_model : Model
        It trained again (on training + validation data with ``refit``).
    test_score : float or None
        ``best_model``'s score on the test split (None without one).
    test_metrics : dict or None
        All of ``best_model``'s test metrics.
    metric : str
        "accuracy" or "r2".
    """

    def __init__(self, trials, names, best, best_model, test_metrics, metric, log_names=()):
        self.trials, self.metric = trials, metric
        self.log_names = tuple(log_names)  # log-uniform hyper-parameters (log axes)
        self.names = [n for n in names if n not in FIXED_COLUMNS]  # "epochs" is a column
        self.best_params = {name: best[name] for name in names}
        self.best_score = best["val_score"]
        self.best_trial = best["trial"]
        self.best_model = best_model
        self.test_metrics = test_metrics
        self.test_score = None if test_metrics is None else test_metrics[metric]

    def leaderboard(self, n=10):
        """The ``n`` best rows as a text table (best first; failed trials last)."""
        rows = sorted(self.trials, key=_rank_key)[:n]
        header = ["trial", "round", *self.names, "val_score", "val_loss", "epochs", "seconds",
                  "status"]
        cells = [[_show(row.get(c)) for c in header] for row in rows]
        widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
                  for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
        return "\n".join(line.rstrip() for line in lines)

    def plot(self, path):
        """Save validation score against each numeric hyper-parameter to ``path`` (log axes
        for log-uniform ones); the path, or None without matplotlib."""
        return plot_search(self, path, self.log_names)

    def __str__(self):
        return self.leaderboard()


def _show(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    return str(value)


def _rank_key(row):
    """Sort key: successful rows first, higher score, lower loss, earlier trial."""
    ok = row["status"] == "ok"
    return (not ok, -row["val_score"] if ok else 0.0, row["val_loss"] if ok else 0.0,
            row["trial"], row["round"])


def search(X, y, space, *, method="random", n_trials=None, rounds=1, shrink=3.0, top_k=3,
           epochs=10, min_epochs=1, eta=3, validation_size=0.15, test_size=0.15,
           validation_data=None, test_data=None, refit=True, seed=0, n_jobs=1,
           backend="threads", scheduler=None, results=None, resume=False, task="auto",
           dtype="float32", preprocessing="standardize", on_trial=None, populations=True):
    """Search hyper-parameters of a fastmlp model; retrain the best and test it once.

    Parameters
    ----------
    X, y : array-like or, for X, a SciPy sparse matrix (see the module docstring)
        All the data, split (stratified) unless ``validation_data`` is given.
    space : dict or Space
        Hyper-parameter -> distribution, list (a choice) or constant (see
        :mod:`fastmlp.search.space`).
    method : {"random", "grid", "halving"}
        See the module docstring (``n_trials``, when given with "grid",
        must cover the grid).
    n_trials : int, optional
        Trials; default: the grid's size for "grid", 20 otherwise.
    rounds, shrink, top_k, min_epochs, eta : int, float, int, int, int
        Coarse-to-fine rounds and narrowing; halving's first rung and growth.
    epochs : int
        Epochs per trial (halving's largest rung) unless the space sets it.
    validation_size, test_size : float
        Fractions of the data for validation and test when they are split
        here (``test_size=0`` keeps no test split).
    validation_data, test_data : (X, y), optional
        Fixed splits instead; ``X, y`` are then the training data.
    refit : bool, default True
        Retrain the best configuration on training + validation data.
    seed : int
        Seeds the sampling, the splits, initial weights and shuffling:
        the same seed repeats a search.
    n_jobs, backend, scheduler : int, {"threads", "loky", "dask", "ray"}, str
        Parallel trials (see :func:`fastmlp.search.backends.run_tasks`: a trial
        whose worker process dies runs once more, then is recorded as lost).
    results : str or path, optional
        CSV file receiving one row per finished trial (made durable at once).
    resume : bool
        Continue the search in ``results`` (only its trials lost with a worker run again).
    task, dtype, preprocessing : str
        "auto", "classification" or "regression"; the models' dtype and input transform.
    on_trial : callable, optional
        Called with each new row.
    populations : bool, default True
        Train a round's trials that share architecture, batch size, optimizer
        kind, schedule and epochs as one population, each getting the row it
        gets alone (:mod:`fastmlp.search.populations`); False: every trial alone.

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError, TypeError
        Bad input (unknown names, empty or inverted ranges, a grid larger
        than ``n_trials``, ...), before any trial runs.
    """
    space = Space(space)
    check_backend(backend, n_jobs, scheduler)
    n_trials = _check_plan(space, method, n_trials, rounds, shrink, top_k, epochs, min_epochs,
                           eta)
    splits, setup = _prepare(X, y, validation_data, test_data, validation_size, test_size,
                             task, seed, dtype, preprocessing)
    setup.threads = 1 if (n_jobs != 1 or backend not in ("threads", "loky")) else None
    data = {"train": splits["train"], "val": splits["val"]}
    records, finished = _recorded(results, space.names, resume)

    def run(tasks):
        return _run_round(tasks, finished, records, data, setup,
                          _Pool(n_jobs, backend, scheduler, populations), on_trial, space.names)

    rows, final = _run_method(method, space, run, n_trials, rounds, shrink, top_k, epochs,
                              min_epochs, eta, seed)
    best = _best(final, rows)
    model, test_metrics = _final_model(best, splits, setup, refit)
    rows = sorted(rows, key=lambda r: (r["round"], r["trial"]))
    return SearchResult(rows, space.names, best, model, test_metrics, setup.metric,
                        _log_scale(space))


def _recorded(results, names, resume):
    """The results file (None without one) and its finished rows by (trial, round): a trial
    lost with its worker is not finished but runs again (its row stays, before the new one)."""
    if results is None:
        return None, {}
    records = ResultsFile(results, names, resume)
    return records, {(r["trial"], r["round"]): r for r in records.rows if not is_lost(r)}


def _log_scale(space):
    """The names of the space's log-uniform hyper-parameters."""
    return [name for name, dist in space.distributions.items()
            if getattr(dist, "kind", None) == "loguniform"]


def _run_method(method, space, run, n_trials, rounds, shrink, top_k, epochs, min_epochs, eta,
                seed):
    """All the trials of ``method`` through ``run``: (every row, the rows the best is chosen
    from)."""
    if method == "grid":
        rows = run([_task(i, 0, c, epochs) for i, c in enumerate(space.grid())])
        return rows, rows
    if method == "random":
        return _coarse_to_fine(space, n_trials, rounds, shrink, top_k, epochs, seed, run)
    return _halving(space, n_trials, min_epochs, eta, epochs, seed, run)


def _check_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_plan(space, method, n_trials, rounds, shrink, top_k, epochs, min_epochs, eta):
    """Check the method's settings against the space; the number of trials."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid ones: {', '.join(METHODS)}")
    _check_int(epochs, "epochs")
    _check_int(rounds, "rounds")
    _check_int(top_k, "top_k")
    if not (isinstance(shrink, (int, float)) and shrink > 1):
        raise ValueError(f"shrink must be a number > 1, got {shrink!r}")
    for name, allowed in (("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS)):
        dist = space.distributions.get(name)
        values = dist.grid() if dist is not None and hasattr(dist, "options") else []
        bad = [v for v in values if not isinstance(v, str) or v.lower() not in allowed]
        if bad:
            raise ValueError(f"unknown {name} value(s) {bad}; valid: {', '.join(allowed)}")
    if method == "grid":
        size = space.grid_size()  # ValueError for a continuous distribution
        if n_trials is not None and size > _check_int(n_trials, "n_trials"):
            raise ValueError(f"the grid has {size} configurations, more than the budget of "
                             f"n_trials={n_trials}; shrink the grid or raise n_trials")
        return size
    n_trials = 20 if n_trials is None else _check_int(n_trials, "n_trials")
    if method == "random" and rounds > n_trials:
        raise ValueError(f"rounds={rounds} leaves rounds without trials (n_trials={n_trials})")
    if method == "halving":
        if "epochs" in space.distributions:
            raise ValueError("halving uses epochs as its resource; leave 'epochs' out of the "
                             "space and set epochs= (the largest rung)")
        _check_int(eta, "eta", 2)
        if _check_int(min_epochs, "min_epochs") > epochs:
            raise ValueError(f"min_epochs={min_epochs} exceeds epochs={epochs}")
    return n_trials


def _prepare(X, y, validation_data, test_data, validation_size, test_size, task, seed,
             dtype, preprocessing):
    """The splits (labels encoded 0..k-1 for classification) and the trials' Setup."""
    X = _search_inputs(X, dtype)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != len(y):
        raise ValueError(f"X must be 2-D with one row per target; got X {X.shape}, y {y.shape}")
    if task == "auto":
        task = infer_task(y)
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    classification = task == "classification"
    labels = np.unique(y) if classification else None

    def encode(values):
        values = np.asarray(values)
        if not classification:
            return values.astype(np.float64)
        codes = np.searchsorted(labels, values).clip(0, len(labels) - 1)
        if not np.array_equal(labels[codes], values):
            raise ValueError("the validation or test targets hold labels the training data "
                             "lack")
        return codes

    if validation_data is None:
        # the rows of each part are drawn, then taken: a sparse X is cut, never densified
        rows = np.arange(X.shape[0])
        stratify = y if classification else None
        if test_size:
            parts = train_val_test_split(rows, val_size=validation_size, test_size=test_size,
                                         stratify=stratify, seed=seed)
        else:
            parts = train_test_split(rows, test_size=validation_size, stratify=stratify,
                                     seed=seed) + [None]
        splits = {k: None if part is None else (X[part], y[part])
                  for k, part in zip(("train", "val", "test"), parts)}
    else:
        splits = {"train": (X, y), "val": tuple(validation_data)[:2],
                  "test": None if test_data is None else tuple(test_data)[:2]}
    names = {"train": "X", "val": "the validation X", "test": "the test X"}
    splits = {k: None if v is None else (_search_inputs(v[0], dtype, names[k]), encode(v[1]))
              for k, v in splits.items()}
    n_outputs = len(labels) if classification else 1
    setup = Setup(X.shape[1], n_outputs, classification, seed=seed, dtype=dtype,
                  preprocessing=None if preprocessing in (None, "none") else preprocessing)
    return splits, setup


def _search_inputs(X, dtype, what="X"):
    """X as every trial reads it: a SciPy sparse X in compressed sparse rows with its values
    in the trials' ``dtype`` -- converted here once rather than by each trial, never
    densified -- and anything else as an array."""
    if is_sparse(X):
        return check_csr(X, check_dtype(dtype), what=what)
    return np.asarray(X)


def _task(trial, round_, config, epochs):
    return {"trial": trial, "round": round_, "config": config, "epochs": epochs}


#: Where a round's trials run (the arguments of :func:`fastmlp.search.backends.run_tasks`).
_Pool = collections.namedtuple("_Pool", ["n_jobs", "backend", "scheduler", "populations"])


def _run_round(tasks, finished, records, data, setup, pool, on_trial, names):
    """Rows of ``tasks``: read back when finished before (resume), else run and recorded."""
    pending = []
    for task in tasks:
        done = finished.get((task["trial"], task["round"]))
        if done is None:
            pending.append(task)
        elif any(done.get(k) != v for k, v in task["config"].items() if k != "epochs"):
            raise ValueError(f"the results file's trial {task['trial']} (round {task['round']}) "
                             f"had other hyper-parameters: it belongs to a different search "
                             "(space, seed or method); use a new results file")
    # closed at once should on_trial raise: the backend stops its workers then, not at a
    # garbage collection
    with contextlib.closing(run_tasks(pending, data, setup, pool.n_jobs, pool.backend,
                                      pool.scheduler, pool.populations)) as ran:
        for row in ran:
            if records is not None:
                records.append(row)
            finished[(row["trial"], row["round"])] = row
            if on_trial is not None:
                on_trial(row)
    return [finished[(t["trial"], t["round"])] for t in tasks]


def _coarse_to_fine(space, n_trials, rounds, shrink, top_k, epochs, seed, run):
    """Random search over ``rounds`` rounds, each narrower around the best so far."""
    rows, trial = [], 0
    for round_ in range(rounds):
        count = n_trials // rounds + (1 if round_ < n_trials % rounds else 0)
        if round_ > 0:
            best = sorted((r for r in rows if r["status"] == "ok"), key=_rank_key)[:top_k]
            space = space.narrowed(best, shrink)
        rng = np.random.default_rng([seed, round_])  # each round its own stream
        tasks = [_task(trial + i, round_, space.sample(rng), epochs) for i in range(count)]
        rows += run(tasks)
        trial += count
    return rows, rows


def _halving(space, n_trials, min_epochs, eta, epochs, seed, run):
    """Successive halving: survivors of each rung train ``eta`` times longer."""
    rng = np.random.default_rng([seed, 0])
    configs = [space.sample(rng) for _ in range(n_trials)]
    alive, rows, rung, budget = list(range(n_trials)), [], 0, min_epochs
    while True:
        rung_rows = run([_task(i, rung, configs[i], budget) for i in alive])
        rows += rung_rows
        if budget >= epochs or len(alive) <= 1:
            return rows, rung_rows
        keep = max(1, len(alive) // eta)
        alive = sorted(r["trial"] for r in sorted(rung_rows, key=_rank_key)[:keep])
        rung, budget = rung + 1, min(epochs, budget * eta)


def _best(final, rows):
    """The best of the last round's rows ``final``; RuntimeError when every trial failed."""
    ok = [r for r in final if r["status"] == "ok"]
    if not ok:
        raise RuntimeError(f"every one of the {len(rows)} trials failed; first status: "
                           f"{rows[0]['status'] if rows else 'no trials'}")
    return min(ok, key=_rank_key)


def _final_model(best, splits, setup, refit):
    """The best configuration trained again (on train + validation with ``refit``); tested."""
    config = {k: v for k, v in best.items()
              if k not in ("trial", "round", *FIXED_COLUMNS)}
    trainer = build_trainer(config, setup, max(1, best["epochs"]))
    (X_train, y_train), (X_val, y_val) = splits["train"], splits["val"]
    if refit:
        if is_sparse(X_train) or is_sparse(X_val):
            X_train = sp.vstack([X_train, X_val], format="csr")
        else:
            X_train = np.concatenate([X_train, X_val])
        y_train = np.concatenate([y_train, y_val])
    trainer.fit(X_train, y_train)
    test_metrics = None
    if splits["test"] is not None:
        test_metrics = {k: float(v) for k, v in trainer.model.evaluate(*splits["test"]).items()}
    return trainer.model, test_metrics
