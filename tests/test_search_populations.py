"""A search's trials trained as populations: the same rows as each trial alone."""

import numpy as np
import pytest

from fastmlp.cli.commands import main
from fastmlp.datasets import load_digits
from fastmlp.search import loguniform, search, uniform
from fastmlp.search.populations import jobs, population_key, run_job
from fastmlp.search.runner import Setup, run_trial


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    return X[:500], y[:500]


def _same_rows(a, b, tol=1e-9):
    assert len(a) == len(b)
    for x, y in zip(sorted(a, key=lambda r: (r["round"], r["trial"])),
                    sorted(b, key=lambda r: (r["round"], r["trial"]))):
        assert {k: v for k, v in x.items() if k not in ("seconds", "val_score", "val_loss")} \
            == {k: v for k, v in y.items() if k not in ("seconds", "val_score", "val_loss")}
        for key in ("val_score", "val_loss"):
            assert x[key] == pytest.approx(y[key], rel=tol, abs=tol, nan_ok=True)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_rows_equal_the_trials_alone(digits, n_jobs):
    X, y = digits
    space = {"lr": loguniform(1e-3, 1e-1), "l2": uniform(0.0, 1e-3), "dropout": [0.0, 0.2],
             "hidden": [(16,), (24,)], "optimizer": ["adam", "sgd"], "momentum": 0.9}
    kwargs = dict(method="random", n_trials=10, rounds=2, epochs=3, seed=3, n_jobs=n_jobs)
    alone = search(X, y, space, populations=False, **kwargs)
    together = search(X, y, space, **kwargs)
    _same_rows(alone.trials, together.trials)
    assert together.best_params == alone.best_params


def test_a_diverging_trial_is_diverged_in_its_population(digits):
    X, y = digits
    space = {"lr": [1e-2, 1e9], "optimizer": "sgd"}
    kwargs = dict(method="grid", epochs=2, seed=0)
    alone = search(X, y, space, populations=False, **kwargs)
    together = search(X, y, space, **kwargs)
    assert sorted(r["status"] for r in together.trials) == ["diverged", "ok"]
    _same_rows(alone.trials, together.trials)


def _task(trial, **config):
    return {"trial": trial, "round": 0, "config": config, "epochs": 2}


def test_jobs_group_what_a_population_shares():
    tasks = [_task(0, hidden=(16,), lr=0.1), _task(1, hidden=(16,), lr=0.01, l2=1e-3),
             _task(2, hidden=(32,), lr=0.1), _task(3, hidden=(16,), lr=0.2, dropout=0.1),
             _task(4, hidden=(16,), optimizer="sgd", lr=0.1),
             _task(5, hidden=(16,), lr=0.1, batch_size=64)]
    assert population_key(tasks[0]) == population_key(tasks[1]) == population_key(tasks[3])
    assert len({population_key(t) for t in tasks}) == 4
    numbers = [[t["trial"] for t in job] for job in jobs(tasks, 1)]
    assert numbers == [[0, 1, 3], [2], [4], [5]]
    numbers = [[t["trial"] for t in job] for job in jobs(tasks, 2)]
    assert numbers == [[0, 3], [1], [2], [4], [5]]  # cut for two workers
    assert jobs(tasks, 1, populations=False) == [[t] for t in tasks]


@pytest.mark.filterwarnings("ignore::fastmlp.ConvergenceWarning")
def test_a_population_that_cannot_train_gives_way_to_the_trials_alone(digits):
    X, y = digits
    data = {"train": (X[:300], y[:300]), "val": (X[300:], y[300:])}
    setup = Setup(64, 10, True, seed=1, threads=1)
    # L-BFGS runs its own iterations: no population; each trial alone instead
    job = [_task(0, optimizer="lbfgs", l2=1e-4), _task(1, optimizer="lbfgs", l2=1e-3)]
    rows = run_job(job, data, setup)
    for row, task in zip(rows, job):
        expected = run_trial(task, data, setup)
        assert row["val_loss"] == expected["val_loss"] and row["status"] == "ok"


def test_cli_no_populations_flag(tmp_path, capsys):
    args = ["search", "--trials", "4", "--epochs", "1", "--results", str(tmp_path / "r.csv")]
    assert main(args + ["--no-populations"]) == 0
    first = capsys.readouterr().out
    assert main(["search", "--trials", "4", "--epochs", "1", "--results",
                 str(tmp_path / "s.csv")]) == 0
    second = capsys.readouterr().out

    def scores(text):
        return [line.split(",")[0] for line in text.splitlines() if "trial" in line]

    assert scores(first) == scores(second)
    assert np.loadtxt(tmp_path / "r.csv", delimiter=",", skiprows=1, usecols=(-4,),
                      dtype=float).shape == (4,)
