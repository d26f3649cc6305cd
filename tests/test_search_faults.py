"""A search whose worker processes die in the middle of trials: nothing mixed, nothing hangs.

The worker deaths are real: ``fastmlp search`` runs in a child process with
``tests/kill_hook`` on its PYTHONPATH, so that each of its loky, Dask or
Ray workers kills itself (SIGKILL) when it starts trial 1 (every time) or
trial 2 (the first time only).  Trial 2 must run again and give the row it
gives in this process; trial 1 must be recorded as lost, with the reason;
the others must finish with their rows; ``--resume`` must run trial 1 alone
again.  The retry loop itself is checked on a pool without processes.
"""

import csv
import os
import subprocess
import sys
from collections import Counter

import pytest

from fastmlp.cli import main
from fastmlp.search.backends import RUNS, run_on_pool
from fastmlp.search.pools import WorkerLost
from fastmlp.search.runner import LOST

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kill_hook")
ENGINES = {"loky": "joblib", "dask": "distributed", "ray": "ray"}


def read_rows(path):
    """The results file's rows in file order, without the wall times."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def search_args(space, results, *extra):
    # every trial alone (not trained together as populations): one trial per worker task,
    # whose death costs that trial only
    return ["search", "--space", str(space), "--method", "grid", "--epochs", "1", "--seed",
            "5", "--results", str(results), "--no-populations", *extra]


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.json"
    path.write_text('{"lr": [0.01, 0.02, 0.05, 0.1], "hidden": [[16]]}')
    return path


@pytest.fixture(scope="module")
def reference(space, tmp_path_factory):
    """The rows by trial of the search run one trial after another in this process."""
    results = tmp_path_factory.mktemp("reference") / "r.csv"
    assert main(search_args(space, results, "--jobs", "1")) == 0
    rows = {row["trial"]: row for row in read_rows(results)}
    assert [rows[t]["status"] for t in "0123"] == ["ok"] * 4
    return rows


def deaths_by_trial(folder):
    """Trial number -> times a worker died in it (the hook's marker files)."""
    return Counter(name.split("-")[1] for name in os.listdir(folder))


@pytest.mark.parametrize("backend", ["loky", "dask", "ray"])
def test_killed_workers_cost_their_trials_only_and_resume_runs_the_lost_one(
        backend, space, reference, tmp_path, capsys):
    pytest.importorskip(ENGINES[backend])
    markers = tmp_path / "deaths"
    markers.mkdir()
    results = tmp_path / "r.csv"
    env = dict(os.environ, FASTMLP_TEST_KILL="1:always,2:once",
               FASTMLP_TEST_KILL_DIR=str(markers),
               PYTHONPATH=os.pathsep.join(filter(None, [HOOK, os.environ.get("PYTHONPATH")])))
    if backend != "ray":
        # the order of events fixed (a timing would choose it otherwise): trial 1 dies
        # first beside trial 0 -- never beside trial 2, which would then die once in
        # company and once of its own, and be lost -- and trials 2 and 3 start once
        # trial 1 is lost.  (Ray starts trial 1 only after trial 0: no such wait.)
        env["FASTMLP_TEST_WAIT"] = f"0:1:1,2:1:{RUNS},3:1:{RUNS}"
    env.pop("RAY_ADDRESS", None)  # Ray: a local instance of its own
    child = subprocess.Popen(
        [sys.executable, "-m", "fastmlp",
         *search_args(space, results, "--backend", backend, "--jobs", "2")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = child.communicate(timeout=300)
    finally:
        child.kill()
    assert child.returncode == 0, err[-3000:]
    assert deaths_by_trial(markers) == {"1": RUNS, "2": 1}

    rows = {row["trial"]: row for row in read_rows(results)}
    assert len(read_rows(results)) == 4  # one row per trial: none written twice
    for trial in "023":
        assert rows[trial] == reference[trial]
    lost = rows["1"]
    assert lost["status"].startswith(f"{LOST} its worker died {RUNS} times")
    assert {"loky": "TerminatedWorkerError", "dask": "KilledWorker",
            "ray": "WorkerCrashedError"}[backend] in lost["status"]
    assert (lost["val_score"], lost["val_loss"], lost["epochs"]) == ("nan", "nan", "0")
    assert lost["lr"] == reference["1"]["lr"]
    assert "best configuration (trial" in out

    # resume (no worker dies now): the lost trial alone runs again
    capsys.readouterr()
    assert main(search_args(space, results, "--backend", backend, "--jobs", "2",
                            "--resume")) == 0
    ran = [line for line in capsys.readouterr().out.splitlines()
           if line.startswith("  trial ")]
    assert len(ran) == 1 and ran[0].startswith("  trial 1 (round 0)")
    after = read_rows(results)
    assert len(after) == 5 and after[-1] == reference["1"]
    assert deaths_by_trial(markers) == {"1": RUNS, "2": 1}


# -- the retry loop, on a pool without processes ----------------------------------------------

class FakePool:
    """Ends every job in flight at each ``wait``; a job holding a trial in ``killers`` kills
    its worker -- with ``shared_fate``, every job in flight with it dies too."""

    def __init__(self, capacity, shared_fate, killers):
        self.capacity, self.shared_fate, self.killers = capacity, shared_fate, killers
        self.runs, self.in_flight, self.dead = Counter(), {}, set()
        self.most_in_flight = 0

    def submit(self, job):
        handle = sum(self.runs.values())  # one per submission
        self.in_flight[handle] = [task["trial"] for task in job]
        for task in job:
            self.runs[task["trial"]] += 1
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return handle

    def wait(self, handles):
        killed = {h for h in handles if self.killers & set(self.in_flight[h])}
        self.dead = set(handles) if killed and self.shared_fate else killed
        return list(handles)

    def result(self, handle):
        trials = self.in_flight.pop(handle)
        if handle in self.dead:
            raise WorkerLost(f"a fake worker died with trials {trials}")
        return [{"trial": trial, "status": "ok"} for trial in trials]


def _tasks(n):
    return [{"trial": t, "round": 0, "config": {"lr": 0.1}, "epochs": 1} for t in range(n)]


@pytest.mark.parametrize("shared_fate", [False, True])
def test_the_retry_loop_loses_only_the_trial_that_kills_its_worker(shared_fate):
    pool = FakePool(capacity=3, shared_fate=shared_fate, killers={1})
    running = {}
    rows = {row["trial"]: row for row in run_on_pool(pool, [[t] for t in _tasks(6)], running)}
    assert sorted(rows) == list(range(6)) and running == {}
    assert rows[1]["status"].startswith(f"{LOST} its worker died {RUNS} times")
    assert all(rows[t]["status"] == "ok" for t in (0, 2, 3, 4, 5))
    assert pool.runs[1] == RUNS
    # the trials in flight with the killer ran again when their fate was shared, alone
    assert pool.runs == Counter({1: RUNS, 0: RUNS if shared_fate else 1,
                                 2: RUNS if shared_fate else 1, 3: 1, 4: 1, 5: 1})
    assert pool.most_in_flight == 3


def test_a_population_job_whose_worker_dies_loses_its_trials_only():
    tasks = _tasks(6)
    jobs = [[tasks[0], tasks[3]], [tasks[1], tasks[4]], [tasks[2], tasks[5]]]
    pool = FakePool(capacity=2, shared_fate=False, killers={4})
    rows = {row["trial"]: row for row in run_on_pool(pool, jobs, {})}
    assert sorted(rows) == list(range(6))
    for trial in (1, 4):  # trained together: lost together, each once retried
        assert rows[trial]["status"].startswith(f"{LOST} its worker died {RUNS} times")
        assert pool.runs[trial] == RUNS
    assert all(rows[t]["status"] == "ok" and pool.runs[t] == 1 for t in (0, 2, 3, 5))
