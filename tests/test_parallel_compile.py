"""The first run on all cores: kernels compiled in worker processes, their fall-backs.

The cold compiles run tests/compile_child.py in fresh processes with an
empty ``NUMBA_CACHE_DIR`` each (marked ``cold_compile``: tens of seconds
apiece); the references are the same program compiled in one process.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numba import types

import fastmlp as fm
from fastmlp.engine import compile_estimate, compile_pool
from fastmlp.engine.compile_pool import BatchReport, JobResult, compile_alone
from fastmlp.engine.compile_processes import (
    ENVIRONMENT_VARIABLE,
    allowed_processes,
    compile_processes,
    environment_processes,
    spawn_refusal,
)
from fastmlp.engine.compile_worker import FAULT_VARIABLE
from fastmlp.engine.compiling import announce, first_use
from fastmlp.engine.threads import available_cpus
from fastmlp.kernels import deferred, ops, optim
from fastmlp.kernels.cache_probe import cached

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
cold_compile = pytest.mark.cold_compile
needs_two_cores = pytest.mark.skipif(available_cpus() < 2, reason="needs 2 cores")


def _child(out, processes, cache, fault=None, check=True, **variables):
    """tests/compile_child.py into ``out`` with ``cache`` as Numba's cache (and more
    environment ``variables``)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=ROOT, **variables)
    env[ENVIRONMENT_VARIABLE] = str(processes)
    env.pop(FAULT_VARIABLE, None)
    if fault:
        env[FAULT_VARIABLE] = fault
    out.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, os.path.join(HERE, "compile_child.py"), str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def _results(out, prefix=""):
    with open(out / f"{prefix}batches.json") as f:
        batches = json.load(f)
    return (np.load(out / f"{prefix}params.npy"), np.load(out / f"{prefix}predicted.npy"),
            batches)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The reference: compiled in one process (the switch off), from an empty cache."""
    base = tmp_path_factory.mktemp("serial")
    done = _child(base / "out", 1, base / "cache")
    return _results(base / "out") + (done.stderr,)


# ------------------------------------------------------------------ cold compiles
@cold_compile
def test_the_switch_keeps_every_compile_in_the_process(serial):
    _, _, batches, stderr = serial
    assert batches and all(b["processes"] == 1 for b in batches)
    assert {where for b in batches for _, where, _ in b["results"]} == {"here"}
    assert "one process allowed" in {b["in_process_reason"] for b in batches}
    assert "on 1 process -- first run only" in stderr and "compile worker" not in stderr


@cold_compile
@needs_two_cores
def test_a_parallel_compile_gives_the_serial_results_and_fills_the_cache(serial, tmp_path):
    params, predicted, _, _ = serial
    cache = tmp_path / "cache"
    _child(tmp_path / "cold", 2, cache)
    cold_params, cold_predicted, batches = _results(tmp_path / "cold")
    assert np.array_equal(cold_params, params)  # bit-identical
    assert np.array_equal(cold_predicted, predicted)
    first = batches[0]
    assert first["processes"] == 2
    names = {name for name, _, _ in first["results"]}
    assert {"train_member", "forward", "backward", "_train"} <= names
    wheres = {where for _, where, _ in first["results"]}
    assert wheres == {"here", "worker"}  # both processes compiled some
    assert all(ok for _, _, ok in first["results"])
    # a warm start: every job found in the cache, nothing compiled, no process started
    warm = _child(tmp_path / "warm", 2, cache)
    warm_params, warm_predicted, warm_batches = _results(tmp_path / "warm")
    assert warm_batches == []
    assert "compiling fastmlp kernels" not in warm.stderr
    assert np.array_equal(warm_params, params) and np.array_equal(warm_predicted, predicted)


@cold_compile
@needs_two_cores
def test_a_killed_worker_leaves_no_corrupt_entry(serial, tmp_path):
    # the worker dies (SIGKILL) while Numba saves train_member's entry, between
    # the index file and the data file; this process compiles it instead
    params, predicted, _, _ = serial
    cache = tmp_path / "cache"
    killed = _child(tmp_path / "cold", 2, cache, fault="kill:train_member")
    cold_params, cold_predicted, batches = _results(tmp_path / "cold")
    assert "compile worker" in killed.stderr and "failed on train_member" in killed.stderr
    assert "exit status -9" in killed.stderr
    assert np.array_equal(cold_params, params) and np.array_equal(cold_predicted, predicted)
    assert ["train_member", "worker", True] not in batches[0]["results"]
    # the cache holds every job, train_member's entry included: a warm start
    _child(tmp_path / "warm", 2, cache)
    warm_params, _, warm_batches = _results(tmp_path / "warm")
    assert warm_batches == [] and np.array_equal(warm_params, params)


@cold_compile
@needs_two_cores
def test_an_unwritable_cache_directory_sends_workers_where_numba_goes(serial, tmp_path):
    # NUMBA_CACHE_DIR cannot be written (a path below a file: even root cannot),
    # and the package's __pycache__ is not a candidate (a read-only install):
    # Numba falls back to the per-user cache, and the workers follow it there
    params, predicted, _, _ = serial
    (tmp_path / "file").write_text("")
    unwritable = tmp_path / "file" / "cache"
    variables = dict(NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator,UserWideCacheLocator",
                     XDG_CACHE_HOME=str(tmp_path / "user"), HOME=str(tmp_path / "home"))
    _child(tmp_path / "cold", 2, unwritable, **variables)
    cold_params, cold_predicted, batches = _results(tmp_path / "cold")
    assert np.array_equal(cold_params, params) and np.array_equal(cold_predicted, predicted)
    assert batches[0]["processes"] == 2
    assert {where for _, where, _ in batches[0]["results"]} == {"here", "worker"}
    assert any(name.endswith(".nbc") for _, _, files in os.walk(tmp_path / "user")
               for name in files)
    _child(tmp_path / "warm", 2, unwritable, **variables)
    assert _results(tmp_path / "warm")[2] == []  # the workers' entries are found


MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))


@cold_compile
@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install 'fastmlp[mpi]')")
def test_the_ranks_of_a_node_share_the_jobs_and_meet_at_a_barrier(tmp_path):
    pytest.importorskip("mpi4py")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=ROOT)
    env.pop(ENVIRONMENT_VARIABLE, None)
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py",
                           os.path.join(HERE, "compile_child.py"), str(tmp_path), "--comm"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    ranks = [_results(tmp_path, f"rank{r}-") for r in (0, 1)]
    assert np.array_equal(ranks[0][0], ranks[1][0])
    shared = [batches[0] for _, _, batches in ranks]
    assert shared[0]["missing"] == shared[1]["missing"]  # the same jobs, on both ranks
    compiled = [{name for name, where, ok in b["results"] if where == f"rank {r}" and ok}
                for r, b in enumerate(shared)]
    assert compiled[0] and compiled[1] and not compiled[0] & compiled[1]
    assert compiled[0] | compiled[1] == set(shared[0]["missing"])
    assert {"train_member", "forward", "backward"} <= set(shared[0]["missing"])
    assert "on 2 ranks -- first run only" in done.stderr


# ------------------------------------------------------------------ cheap checks
def _update_signature(dtype):
    """The signature of an optimizer's update (:mod:`fastmlp.kernels.optim`)."""
    row, block = types.Array(dtype, 1, "C"), types.Array(dtype, 2, "C")
    return types.void(row, row, block, types.UniTuple(types.float64, 16), types.int64,
                      types.int64)


def test_jobs_are_put_off_until_something_needs_them():
    rng = np.random.default_rng(3)
    model = fm.Model([4, 6, 2], activation="tanh", output="sigmoid",
                     loss="binary_cross_entropy", dtype="float32", seed=0)
    model.predict(rng.standard_normal((10, 4)).astype(np.float32))
    assert not deferred.pending()  # compiled (or loaded), with whatever was pending


def test_a_new_pointer_compiles_only_when_its_address_is_needed():
    sig = _update_signature(types.float32)
    pointer = ops.Compiled(optim.no_update, sig)
    assert not pointer.job.done and pointer.job in deferred.pending()
    assert pointer.numba_type == types.FunctionType(sig)  # typed without compiling
    assert pointer.address != 0
    assert pointer.job.done and pointer.job not in deferred.pending()


def test_the_probe_answers_like_numba_cache(tmp_path):
    # a fresh cache: missing, then present; a data file lost after its index entry
    # was written (a worker killed in between) counts as missing
    program = textwrap.dedent("""
        import glob, os, sys
        from numba import types
        from fastmlp.kernels import deferred, optim
        from fastmlp.kernels.cache_probe import cached
        row, block = types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C")
        sig = types.void(row, row, block, types.UniTuple(types.float64, 16), types.int64,
                         types.int64)
        job = deferred.Job(deferred.POINTER, optim.no_update, sig)
        before = cached(job)
        job.run()
        after = cached(job)
        for path in glob.glob(os.path.join(sys.argv[1], "**", "optim.no_update-*.nbc"),
                              recursive=True):
            os.remove(path)
        print(before, after, cached(job))
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "True", "False"]


def test_a_worker_compiles_into_its_cache_and_reports_a_failure(tmp_path, monkeypatch):
    spec = deferred.Job(deferred.POINTER, optim.no_update,
                        _update_signature(types.float64)).spec
    done = compile_alone(spec, str(tmp_path / "ok"))
    assert done.ok and done.error == "" and done.seconds > 0
    assert any(name.startswith("optim.no_update-") and name.endswith(".nbc")
               for _, _, files in os.walk(tmp_path / "ok") for name in files)
    monkeypatch.setenv(FAULT_VARIABLE, "raise:no_update")
    failed = compile_alone(spec, str(tmp_path / "failed"))
    assert not failed.ok and "asked this job to fail" in failed.error


def test_the_probe_cannot_tell_without_a_usable_cache():
    class NoSource:  # a function Numba cannot locate a cache for
        py_func = staticmethod(eval("lambda: None"))

    job = deferred.Job(deferred.POINTER, NoSource, types.void())
    assert cached(job) is None


def test_a_cache_that_cannot_be_read_keeps_the_compile_here():
    # a function Numba has no cache directory for: compiled here, as without workers
    function = numba.njit(eval("lambda x: x + 1"))
    job = deferred.Job(deferred.OVERLOAD, function, (types.int64,))
    assert cached(job) is None
    before = len(compile_pool.history())
    with compile_processes(2):
        compile_pool.compile_batch([job])
    report = compile_pool.history()[before]
    assert job.done and function(np.int64(2)) == 3
    assert report.processes == 1 and report.in_process_reason == "the cache cannot be read"
    assert [r.where for r in report.results] == ["here"] and report.worker_starts == []


def test_schedule_hands_the_longest_job_to_the_process_free_first():
    # by hand: this process is free at 0, the worker at 1; 5 -> here (ends 5),
    # 3 -> worker (ends 4), 2 -> worker (ends 6), 2 -> here (ends 7)
    plan = compile_estimate.schedule([2.0, 5.0, 2.0, 3.0], 2, start_delay=1.0)
    assert plan.assignment == [[1, 2], [3, 0]]
    assert plan.seconds == pytest.approx(7.0)
    assert compile_estimate.schedule([2.0, 5.0], 1).seconds == pytest.approx(7.0)


def test_workers_start_only_when_they_pay_for_their_start():
    def best(costs, most):
        return compile_estimate.best_schedule(costs, most, start_delay=1.0)

    assert best([1.0, 0.5], 4).processes == 1
    assert best([6.0, 5.0, 4.0], 4).processes == 3
    assert best([6.0, 1.0, 1.0], 8).seconds == 6.0  # the longest job bounds it


def test_the_machine_speed_is_a_plausible_factor():
    assert 0.2 <= compile_estimate.machine_speed() <= 10.0
    assert compile_estimate.job_seconds("train_member", 2.0) == \
        2 * compile_estimate.REFERENCE_SECONDS["train_member"]


def test_processes_allowed_by_the_setting_the_variable_and_the_threads(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    cores = available_cpus()
    with fm.threads(1):
        assert allowed_processes() == 1  # the user's thread limit
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "1")
    assert environment_processes() == 1 and allowed_processes() == 1
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "64")
    assert allowed_processes() == cores  # never more than the cores
    with compile_processes(1):  # the setting wins over the variable
        assert allowed_processes() == 1
    assert allowed_processes() == cores  # restored
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "auto")
    assert environment_processes() is None
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "two")
    with pytest.raises(ValueError, match=f"{ENVIRONMENT_VARIABLE} must be a positive .*'two'"):
        allowed_processes()
    with pytest.raises(ValueError, match="positive integer or None, got 0"):
        with compile_processes(0):
            pass


def test_no_workers_where_starting_processes_is_unsafe(monkeypatch):
    for variable in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE"):
        monkeypatch.delenv(variable, raising=False)
    assert spawn_refusal() == ""
    monkeypatch.setenv("PMI_SIZE", "2")
    assert "MPI" in spawn_refusal()
    monkeypatch.delenv("PMI_SIZE")
    monkeypatch.setattr(sys, "executable", "")
    assert "no usable Python executable" in spawn_refusal()
    monkeypatch.setattr(sys, "executable", shutil.which("sh"))
    assert "embedded" in spawn_refusal()


def test_the_notice_gives_the_processes_and_the_estimate(capsys):
    out = io.StringIO()
    with first_use(("test", "announced", id(out)), "float32 relu/adam", 99, stream=out):
        announce(2, 11.4)
        announce(3, 50)  # once only
    assert out.getvalue() == ("compiling fastmlp kernels for float32 relu/adam on 2 processes "
                              "-- first run only, about 11 s\n")
    announce(2, 5)  # outside a first use: nothing
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ the bench scripts
sys.path.insert(0, os.path.join(ROOT, "bench"))
import cold_start  # noqa: E402  (bench/, not run here)
import compile_profile  # noqa: E402


def test_cold_start_has_a_serial_column_beside_the_parallel_one():
    env = cold_start.environment("/cache", "/src", serial=True,
                                 base={"PYTHONPATH": "/x", ENVIRONMENT_VARIABLE: "4"})
    assert env["NUMBA_CACHE_DIR"] == "/cache" and env[ENVIRONMENT_VARIABLE] == "1"
    assert env["PYTHONPATH"] == os.pathsep.join(["/src", "/x"])
    parallel = cold_start.environment("/c", base={ENVIRONMENT_VARIABLE: "4"})
    assert ENVIRONMENT_VARIABLE not in parallel
    assert cold_start.with_serial(("b", None)) and not cold_start.with_serial(("jax", None))
    assert not cold_start.with_serial(("b", "/before"))
    runs = [("b", None), ("jax", None)]
    lines = cold_start.table(runs, {runs[0]: [6.0, 8.0, 7.0], runs[1]: [2.0]},
                             {runs[0]: [1.0], runs[1]: [1.5]}, {runs[0]: [10.0, 14.0, 12.0]})
    assert lines[1].split() == ["b", "7.0", "12.0", "0.58x", "1.0"]
    assert lines[2].split() == ["jax", "2.0", "-", "-", "1.5"]
    assert lines[3] == "(b) / (jax) cold: 3.5x"


def test_compile_profile_shows_the_critical_path():
    results = [JobResult("backward", "here", 1, 3.0, 2.5, True),
               JobResult("forward", "here", 1, 2.0, 1.5, True)]
    batch = BatchReport(["b", "f", "r"], ["b", "f"], 1, 4.0, 5.0, "one process allowed",
                        results, [])
    lines = compile_profile.batch_lines([batch])
    assert lines[-1] == '  "backward": 2.50, "forward": 1.50'
    model = compile_profile.model_lines([batch], [("backward", 6.0), ("forward", 4.0)],
                                        processes=(1, 2, 4))
    assert "critical path backward 6.0 s; 10.0 s alone in all (5.0 s in this process)" \
        in model[1]
    start = compile_estimate.WORKER_START_SECONDS
    assert model[2].split()[-2:] == ["5.0", "s"]  # one process: what it took
    assert float(model[3].split()[-2]) == pytest.approx(6.0 + start)  # the longest job
    assert float(model[4].split()[-2]) == pytest.approx(6.0 + start)
