"""fastmlp.search: spaces, methods, results file and resume, bad input, parallel backends."""

import csv
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

from fastmlp.datasets import load_digits
from fastmlp.search import (
    Space,
    choice,
    loguniform,
    randint,
    read_space,
    search,
    uniform,
)

# one activation and optimizer throughout: trials reuse the same compiled kernels
SPACE = {"lr": loguniform(1e-3, 1e-1), "hidden": [(16,), (32,)], "l2": uniform(0.0, 1e-3)}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:600], y[:600]


def _without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# -- distributions and spaces ---------------------------------------------------------------

def test_distributions_sample_within_bounds_and_log_scale():
    rng = np.random.default_rng(0)
    logs = [loguniform(1e-4, 1e-1).sample(rng) for _ in range(2000)]
    assert min(logs) >= 1e-4 and max(logs) <= 1e-1
    # log-uniform: about a third of the draws in each decade
    assert 0.25 < np.mean(np.array(logs) < 1e-3) < 0.42
    ints = {randint(2, 4).sample(rng) for _ in range(200)}
    assert ints == {2, 3, 4}
    assert choice(["a", "b"]).sample(rng) in ("a", "b")


def test_scipy_rvs_objects_are_distributions():
    stats = pytest.importorskip("scipy.stats")
    space = Space({"lr": stats.loguniform(1e-4, 1e-2), "batch_size": 32})
    config = space.sample(np.random.default_rng(1))
    assert 1e-4 <= config["lr"] <= 1e-2 and config["batch_size"] == 32


def test_narrowing_is_on_the_log_scale_and_stays_inside():
    space = Space({"lr": loguniform(1e-5, 1e-1), "batch_size": randint(8, 128)})
    narrow = space.narrowed([{"lr": 1e-3, "batch_size": 64}], shrink=4)
    lr = narrow.distributions["lr"]
    assert math.log10(lr.high / lr.low) == pytest.approx(1.0)  # 4 decades / 4
    assert math.sqrt(lr.low * lr.high) == pytest.approx(1e-3)
    edge = space.narrowed([{"lr": 1e-5, "batch_size": 8}], shrink=4).distributions
    assert edge["lr"].low == pytest.approx(1e-5)  # slid inside the range, same width
    assert edge["batch_size"].low == 8 and edge["batch_size"].high < 128


def test_grid_enumerates_every_combination():
    space = Space({"hidden": [(8,), (16,)], "lr": [0.01, 0.1, 1.0], "batch_size": 32})
    assert space.grid_size() == 6
    assert {(c["hidden"], c["lr"]) for c in space.grid()} == {
        (h, lr) for h in ((8,), (16,)) for lr in (0.01, 0.1, 1.0)}


# -- bad input, before any trial runs -------------------------------------------------------

@pytest.mark.parametrize("space, message", [
    ({"learning_rate": loguniform(1e-3, 1e-1)}, "valid names: hidden"),
    ({}, "at least one"),
])
def test_bad_spaces_are_refused(digits, space, message):
    with pytest.raises(ValueError, match=message):
        search(*digits, space, n_trials=2, epochs=1)


@pytest.mark.parametrize("make, message", [
    (lambda: uniform(1.0, 1.0), "empty or inverted"),
    (lambda: uniform(2.0, 1.0), "empty or inverted"),
    (lambda: loguniform(0.0, 1.0), "must be positive"),
    (lambda: loguniform(-1.0, 1.0), "must be positive"),
    (lambda: randint(1.5, 3), "integers"),
    (lambda: choice([]), "at least one"),
])
def test_bad_distributions_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_plans_are_refused_before_any_trial(digits, tmp_path):
    calls = []
    kwargs = dict(epochs=1, on_trial=calls.append)
    with pytest.raises(ValueError, match="more than the budget"):
        search(*digits, {"lr": [0.1, 0.01], "hidden": [(8,), (16,)]}, method="grid",
               n_trials=3, **kwargs)
    with pytest.raises(ValueError, match="infinitely many"):
        search(*digits, SPACE, method="grid", **kwargs)
    with pytest.raises(ValueError, match="unknown activation"):
        search(*digits, {"activation": ["relu", "rleu"]}, n_trials=2, **kwargs)
    with pytest.raises(ValueError, match="epochs as its resource"):
        search(*digits, {"epochs": [1, 2]}, method="halving", n_trials=2, **kwargs)
    with pytest.raises(ValueError, match="unknown method"):
        search(*digits, SPACE, method="bayes", **kwargs)
    with pytest.raises(ValueError, match="unknown backend"):
        search(*digits, SPACE, backend="spark", **kwargs)
    assert calls == []


@pytest.mark.parametrize("name, text, message", [
    ("s.toml", "lr = {loguniform = [0, 1]}", "must be positive"),
    ("s.toml", "lr = {loguniform = [1e-3]}", r"\[low, high\]"),
    ("s.toml", "lr = {gaussian = [0, 1]}", "unknown distribution"),
    ("s.toml", "lr = [", "not valid TOML"),
    ("s.toml", "rate = [0.1, 0.2]", "unknown hyper-parameter"),
    ("s.json", "{\"hidden\": {\"choice\": [[0]]}}", "positive integers"),
    ("s.json", "[1, 2]", "table of hyper-parameters"),
    ("s.yaml", "lr: 1", ".toml or .json"),
])
def test_malformed_space_files_are_refused(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_space(path)


def test_space_file_forms(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(textwrap.dedent("""\
        lr = {loguniform = [1e-4, 1e-1]}
        hidden = {choice = [[64], [128, 64]]}
        activation = ["relu", "tanh"]
        batch_size = 32
    """))
    space = read_space(path)
    assert space.distributions["lr"] == loguniform(1e-4, 1e-1)
    assert space.distributions["hidden"] == choice([(64,), (128, 64)])
    assert space.distributions["activation"] == choice(["relu", "tanh"])
    assert space.sample(np.random.default_rng(0))["batch_size"] == 32


# -- methods --------------------------------------------------------------------------------

def test_random_search_is_reproducible_and_keeps_the_test_split_out(digits):
    first = search(*digits, SPACE, n_trials=4, epochs=2, seed=3)
    again = search(*digits, SPACE, n_trials=4, epochs=2, seed=3)
    assert _without_seconds(first.trials) == _without_seconds(again.trials)
    assert first.test_score == again.test_score
    best = max((r for r in first.trials), key=lambda r: r["val_score"])
    assert first.best_score == best["val_score"]
    assert first.best_params == {k: best[k] for k in SPACE}
    assert 0.5 < first.test_score <= 1.0
    assert first.best_model.predict(digits[0][:3]).shape == (3, 10)
    other = search(*digits, SPACE, n_trials=4, epochs=2, seed=4)
    assert _without_seconds(other.trials) != _without_seconds(first.trials)


def test_coarse_to_fine_narrows_around_the_best(digits):
    result = search(*digits, {"lr": loguniform(1e-4, 1.0)}, n_trials=9, rounds=3, epochs=1,
                    seed=0)
    assert [r["round"] for r in result.trials] == [0] * 3 + [1] * 3 + [2] * 3
    spread = [np.ptp(np.log([r["lr"] for r in result.trials if r["round"] == k]))
              for k in range(3)]
    # round k draws from a range 3^k times narrower (4 decades -> 1.33 -> 0.44)
    assert spread[1] <= math.log(1e4) / 3 + 1e-9 and spread[2] <= math.log(1e4) / 9 + 1e-9


def test_grid_search_visits_the_grid(digits):
    result = search(*digits, {"lr": [0.01, 0.05], "hidden": [(16,), (32,)]}, method="grid",
                    epochs=1)
    assert len(result.trials) == 4
    assert {(r["lr"], r["hidden"]) for r in result.trials} == {
        (lr, h) for lr in (0.01, 0.05) for h in ((16,), (32,))}


def test_successive_halving_stops_the_laggards(digits):
    result = search(*digits, SPACE, method="halving", n_trials=9, min_epochs=1, eta=3,
                    epochs=9, seed=0)
    per_rung = [[r for r in result.trials if r["round"] == k] for k in range(3)]
    assert [len(rows) for rows in per_rung] == [9, 3, 1]
    assert [rows[0]["epochs"] for rows in per_rung] == [1, 3, 9]
    survivors = sorted(per_rung[0], key=lambda r: -r["val_score"])[:3]
    assert {r["trial"] for r in per_rung[1]} == {r["trial"] for r in survivors}
    assert result.best_trial == per_rung[2][0]["trial"]


def test_failing_trials_are_recorded_and_the_search_goes_on(digits):
    # "step" needs a step size: those trials raise; huge steps may diverge
    space = {"schedule": [None, "step"], "optimizer": ["adam"], "lr": [1e-2, 1e9]}
    result = search(*digits, space, method="grid", epochs=2)
    status = {(r["schedule"], r["lr"]): r["status"] for r in result.trials}
    assert status[(None, 1e-2)] == "ok"
    assert status[("step", 1e-2)].startswith("error: ValueError")
    assert status[(None, 1e9)] in ("ok", "diverged")
    assert result.best_params["lr"] == 1e-2
    assert "error" in result.leaderboard()


def test_regression_scores_r2(digits):
    X, y = digits
    result = search(X, y.astype(float) + 0.5, {"lr": [1e-2]}, method="grid", epochs=2)
    assert result.metric == "r2" and result.best_model.n_outputs == 1


# -- results file and resume ----------------------------------------------------------------

def test_results_file_has_one_row_per_trial(digits, tmp_path):
    path = tmp_path / "results.csv"
    result = search(*digits, SPACE, n_trials=3, epochs=1, results=path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["trial", "round", "lr", "hidden", "l2", "val_score", "val_loss",
                             "epochs", "seconds", "status"]
    assert len(rows) == 3 and float(rows[0]["lr"]) == result.trials[0]["lr"]
    with pytest.raises(ValueError, match="resume=True"):
        search(*digits, SPACE, n_trials=3, epochs=1, results=path)
    with pytest.raises(ValueError, match="different search"):
        search(*digits, SPACE, n_trials=3, epochs=1, results=path, resume=True, seed=9)


_KILLED_SEARCH = """
import sys, time
from fastmlp.datasets import load_digits
from fastmlp.search import loguniform, uniform, search
X, y = load_digits()
space = {"lr": loguniform(1e-3, 1e-1), "hidden": [(16,), (32,)], "l2": uniform(0.0, 1e-3)}
search(X[:600], y[:600], space, n_trials=8, epochs=1, seed=5, results=sys.argv[1],
       on_trial=lambda row: time.sleep(0.4))
"""


def test_resume_after_sigkill_repeats_no_finished_trial(digits, tmp_path):
    path = tmp_path / "killed.csv"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SEARCH, str(path)])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().count("\n") >= 4:  # header + 3 rows
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    lines = path.read_text().splitlines()[1:]
    finished = {int(line.split(",")[0]) for line in lines}
    assert 3 <= len(finished) < 8
    ran = []
    resumed = search(*digits, SPACE, n_trials=8, epochs=1, seed=5, results=path, resume=True,
                     on_trial=ran.append)
    # (trials finish in groups -- populations -- not in their order)
    assert sorted(r["trial"] for r in ran) == sorted(set(range(8)) - finished)
    whole = search(*digits, SPACE, n_trials=8, epochs=1, seed=5, results=tmp_path / "w.csv")
    assert _without_seconds(resumed.trials) == _without_seconds(whole.trials)
    assert resumed.test_score == whole.test_score


def test_a_row_cut_short_by_a_crash_is_dropped(digits, tmp_path):
    path = tmp_path / "cut.csv"
    search(*digits, SPACE, n_trials=2, epochs=1, seed=1, results=path)
    text = path.read_text()
    path.write_text(text[:text.rfind("\n", 0, len(text) - 1) + 1] + "1,0,0.0")
    ran = []
    search(*digits, SPACE, n_trials=2, epochs=1, seed=1, results=path, resume=True,
           on_trial=ran.append)
    assert [r["trial"] for r in ran] == [1]
    assert path.read_text().count("\n") == 3


# -- parallel backends ----------------------------------------------------------------------

def test_joblib_processes_give_the_sequential_rows(digits):
    pytest.importorskip("joblib")
    serial = search(*digits, SPACE, n_trials=4, epochs=1, seed=2)
    parallel = search(*digits, SPACE, n_trials=4, epochs=1, seed=2, n_jobs=2, backend="loky")
    assert [r["trial"] for r in parallel.trials] == [0, 1, 2, 3]
    for a, b in zip(serial.trials, parallel.trials):
        assert (a["lr"], a["hidden"], a["status"]) == (b["lr"], b["hidden"], b["status"])
        assert a["val_score"] == pytest.approx(b["val_score"], abs=0.02)


def test_threads_give_the_rows_of_processes(digits):
    # the same trials at one thread each: in threads of this process (the
    # compiled loop releases the GIL) or in worker processes, the same bits
    pytest.importorskip("joblib")
    processes = search(*digits, SPACE, n_trials=4, epochs=1, seed=2, n_jobs=2,
                       backend="loky")
    threads = search(*digits, SPACE, n_trials=4, epochs=1, seed=2, n_jobs=2)
    key = lambda rows: sorted(rows, key=lambda r: r["trial"])  # noqa: E731
    for a, b in zip(key(processes.trials), key(threads.trials)):
        assert (a["lr"], a["hidden"], a["status"]) == (b["lr"], b["hidden"], b["status"])
        assert a["val_score"] == b["val_score"] and a["val_loss"] == b["val_loss"]
    assert threads.test_score == processes.test_score


def test_dask_local_cluster(digits):
    pytest.importorskip("distributed")
    result = search(*digits, SPACE, n_trials=4, epochs=1, seed=2, backend="dask", n_jobs=2)
    assert sorted(r["trial"] for r in result.trials) == [0, 1, 2, 3]
    assert all(r["status"] == "ok" for r in result.trials)
    assert result.test_score > 0.5


def test_ray_backend(digits):
    pytest.importorskip("ray")
    result = search(*digits, SPACE, n_trials=2, epochs=1, backend="ray", n_jobs=2)
    assert len(result.trials) == 2


# -- other searchers ------------------------------------------------------------------------

def test_optuna_pruning_callback_stops_pruned_trials(digits):
    optuna = pytest.importorskip("optuna")
    import fastmlp as fm
    from fastmlp.search import OptunaPruning

    X, y = digits
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        model = fm.Model([64, 16, 10], seed=0, preprocessing="standardize")
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trainer = fm.Trainer(model, fm.optim.Adam(lr=lr), epochs=4, verbose=0, seed=0,
                             callbacks=[OptunaPruning(trial, monitor="val_loss")])
        trainer.fit(X[:400], y[:400], validation_data=(X[400:], y[400:]))
        return trainer.history["val_loss"][-1]

    sampler = optuna.samplers.TPESampler(seed=0)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    study.optimize(objective, n_trials=8)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.PRUNED in states
    assert all(len(t.intermediate_values) <= 4 for t in study.trials)


def test_sklearn_estimator_in_halving_random_search(digits):
    pytest.importorskip("sklearn")
    from scipy.stats import loguniform as scipy_loguniform
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV

    from fastmlp.sklearn import MLPClassifier

    X, y = digits
    searcher = HalvingRandomSearchCV(
        MLPClassifier(hidden_layer_sizes=(16,), random_state=0, tol=0.0),
        {"learning_rate_init": scipy_loguniform(1e-3, 1e-1)}, resource="max_iter",
        min_resources=1, max_resources=4, factor=2, n_candidates=4, cv=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searcher.fit(X, y)
    assert searcher.n_resources_ == [1, 2, 4]
    assert searcher.best_estimator_.max_iter == 4
    assert searcher.best_estimator_.score(X, y) > 0.2  # unscaled pixels, 4 epochs; chance 0.1


def test_the_plot_has_a_panel_per_numeric_hyper_parameter_with_log_axes(digits, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = search(*digits, SPACE, n_trials=3, epochs=1, seed=2)
    figures = []
    original = plt.subplots

    def record(*args, **kwargs):
        fig, axes = original(*args, **kwargs)
        figures.append(axes)
        return fig, axes

    plt.subplots = record
    try:
        path = result.plot(tmp_path / "search.png")
    finally:
        plt.subplots = original
    assert path is not None and (tmp_path / "search.png").stat().st_size > 0
    panels = {ax.get_xlabel(): ax for ax in figures[0][0]}
    numeric = [n for n in result.names
               if all(isinstance(r[n], (int, float)) for r in result.trials)]
    assert sorted(panels) == sorted(numeric)
    for name, ax in panels.items():
        assert ax.get_xscale() == ("log" if name in result.log_names else "linear")
