"""fastmlp.threads sets Numba and BLAS thread counts and restores them; the default count
follows the CPU affinity and a container's CPU quota (stubbed cgroup files)."""

import os

import numba
import numpy as np
import pytest

import fastmlp as fm
from fastmlp.engine import threads as threads_mod
from fastmlp.engine.threads import (
    PARALLEL_MIN_FLOPS,
    _blas_controllers,
    _threadpoolctl_controllers,
    kernel_threads,
)
from fastmlp.kernels import blas_library

two_threads = pytest.mark.skipif(fm.max_threads() < 2, reason="needs 2 threads")


def test_threads_context_sets_and_restores():
    before_numba = numba.get_num_threads()
    libs = _blas_controllers()
    before_blas = [lib.get() for lib in libs]
    with fm.threads(1):
        assert numba.get_num_threads() == 1
        assert all(lib.get() == 1 for lib in libs)
    assert numba.get_num_threads() == before_numba
    assert [lib.get() for lib in libs] == before_blas


def test_the_kernels_blas_is_controlled():
    # The kernels' matrix products go through the library blas_library chose (NumPy's or
    # SciPy's OpenBLAS); it must be among the controlled ones.
    exports = blas_library.chosen().exports
    assert any(lib.exports(exports) for lib in _blas_controllers())


def test_the_threadpoolctl_fallback_sets_and_restores_blas_threads():
    # the controllers used when no BLAS library is recognised by its exports
    pytest.importorskip("threadpoolctl")
    pools = _threadpoolctl_controllers()
    if not pools:
        pytest.skip("threadpoolctl finds no BLAS library in this process")
    for pool in pools:
        before = pool.get()
        pool.set(1)
        try:
            assert pool.get() == 1
        finally:
            pool.set(before)
        assert pool.get() == before


def test_trainer_threads_are_restored_after_fit(rng):
    before = numba.get_num_threads()
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    fm.Trainer(fm.Model([3, 4, 2]), epochs=1, n_threads=1, verbose=0).fit(X, y)
    assert numba.get_num_threads() == before


def test_one_thread_and_all_threads_agree_closely(rng):
    X, y = rng.standard_normal((200, 8)), rng.integers(0, 3, 200)
    results = []
    for n in (1, fm.max_threads()):
        model = fm.Model([8, 64, 3], dtype="float64", seed=0)
        fm.Trainer(model, batch_size=50, epochs=3, seed=0, n_threads=n, verbose=0).fit(X, y)
        results.append(model.params)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9, atol=1e-12)


# ------------------------------------------------ the default count and CPU quotas
def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _cgroups(tmp_path, files, proc="0::/\n"):
    """A stub cgroup root holding ``files`` ({relative path: contents}), and a stub
    /proc/self/cgroup; returns their paths."""
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for name, text in files.items():
        _write(root / name, text)
    proc_file = tmp_path / "proc_self_cgroup"
    if proc is not None:
        _write(proc_file, proc)
    return str(root), str(proc_file)


@pytest.mark.parametrize("files, proc, expected", [
    ({"cpu.max": "400000 100000\n"}, "0::/\n", 4.0),  # v2: 4 CPUs
    ({"cpu.max": "150000 100000\n"}, "0::/\n", 1.5),
    ({"cpu.max": "max 100000\n"}, "0::/\n", None),  # v2: no quota
    # v2, the process's own cgroup has none but its parent has: the parent binds
    ({"kubepods/pod1/cpu.max": "max 100000", "kubepods/cpu.max": "250000 100000"},
     "0::/kubepods/pod1\n", 2.5),
    # v2, the child's is the tighter one
    ({"kubepods/pod1/cpu.max": "50000 100000", "kubepods/cpu.max": "250000 100000"},
     "0::/kubepods/pod1\n", 0.5),
    # in a container the listed path does not exist: the root is its own cgroup
    ({"cpu.max": "200000 100000"}, "0::/docker/abc123\n", 2.0),
    # v1 with a quota, the controller mounted as cpu,cpuacct
    ({"cpu,cpuacct/cpu.cfs_quota_us": "300000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
     "5:cpuacct,cpu:/\n", 3.0),
    # v1 in the process's own cgroup below the mount
    ({"cpu/docker/x/cpu.cfs_quota_us": "50000", "cpu/docker/x/cpu.cfs_period_us": "100000",
      "cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
     "3:cpu:/docker/x\n2:cpuacct:/\n", 0.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
     "1:cpu:/\n0::/\n", None),  # v1: no quota
    # both hierarchies state one: the smaller wins
    ({"cpu.max": "800000 100000", "cpu/cpu.cfs_quota_us": "200000",
      "cpu/cpu.cfs_period_us": "100000"}, "1:cpu:/\n0::/\n", 2.0),
    ({}, "0::/\n", None),  # no files at all
    ({"cpu.max": "300000 100000"}, None, 3.0),  # no /proc/self/cgroup: the root still counts
])
def test_cpu_quota_from_stub_cgroup_files(tmp_path, files, proc, expected):
    root, proc_file = _cgroups(tmp_path, files, proc)
    assert threads_mod.cpu_quota(root, proc_file) == expected


@pytest.mark.parametrize("files, proc", [
    ({"cpu.max": "lots of garbage"}, "0::/\n"),
    ({"cpu.max": ""}, "0::/\n"),
    ({"cpu.max": b"\xff\xfe\x00\x01 100000"}, "0::/\n"),
    ({"cpu.max": "0 100000"}, "0::/\n"),
    ({"cpu.max": "-5 100000"}, "0::/\n"),
    ({"cpu.max": "100000 0"}, "0::/\n"),
    ({"cpu.max": "1.5e5 100000"}, "0::/\n"),
    ({"cpu.max/oops": "x"}, "0::/\n"),  # a directory where the file should be
    ({"cpu/cpu.cfs_quota_us": "200000"}, "1:cpu:/\n"),  # v1 without its period
    ({"cpu/cpu.cfs_quota_us": "abc", "cpu/cpu.cfs_period_us": "100000"}, "1:cpu:/\n"),
    ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "-1"}, "1:cpu:/\n"),
    ({"cpu.max": "max 100000"}, "garbage\n:::\n0::relative\n\xff"),
    # a path that climbs out of the mount is not followed
    ({"cpu.max": "max 100000"}, "0::/../../etc\n"),
])
def test_garbage_cgroup_files_are_ignored(tmp_path, files, proc):
    root, proc_file = _cgroups(tmp_path, files, proc)
    assert threads_mod.cpu_quota(root, proc_file) is None


@pytest.mark.parametrize("cpus, quota, limit, expected", [
    (96, 4.0, 96, 4),  # the report: a 4-CPU quota on a 96-core host
    (96, 1.5, 96, 2),  # a fraction of a CPU takes a whole thread
    (96, 0.01, 96, 1),
    (2, 4.0, 2, 2),  # a quota above the affinity changes nothing
    (1, None, 96, 1),  # pinned to one core
    (8, None, 8, 8),
    (8, None, 4, 4),  # never above Numba's pool
])
def test_the_default_thread_rule(cpus, quota, limit, expected):
    assert threads_mod.default_thread_count(cpus, quota, limit) == expected


@pytest.fixture
def quota_of(tmp_path, monkeypatch):
    """Point the module at a stub cgroup v2 quota of ``cpus`` CPUs (default recomputed)."""
    def stub(cpus):
        root, proc_file = _cgroups(tmp_path / str(cpus), {"cpu.max": f"{cpus * 100000} 100000"})
        monkeypatch.setattr(threads_mod, "CGROUP_ROOT", root)
        monkeypatch.setattr(threads_mod, "PROC_SELF_CGROUP", proc_file)
        monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
        threads_mod.default_threads.cache_clear()
        return threads_mod.default_threads()

    yield stub
    threads_mod.default_threads.cache_clear()  # the next call reads the real files


def _blas():
    return [lib.get() for lib in _blas_controllers()]


def test_the_default_follows_the_affinity_without_a_quota(quota_of, monkeypatch, tmp_path):
    root, proc_file = _cgroups(tmp_path, {"cpu.max": "max 100000"})
    monkeypatch.setattr(threads_mod, "CGROUP_ROOT", root)
    monkeypatch.setattr(threads_mod, "PROC_SELF_CGROUP", proc_file)
    threads_mod.default_threads.cache_clear()
    expected = min(len(os.sched_getaffinity(0)), fm.max_threads())
    assert threads_mod.default_threads() == expected


def test_a_quota_of_one_cpu_caps_the_kernels_numba_and_blas(quota_of):
    numba_before, blas_before = numba.get_num_threads(), _blas()
    assert quota_of(1) == 1
    assert fm.get_num_threads() == 1
    assert kernel_threads(100 * PARALLEL_MIN_FLOPS) == 1
    assert numba.get_num_threads() == numba_before  # nothing changed outside a block
    with fm.threads(None):  # what a fit without n_threads enters
        assert numba.get_num_threads() == 1
        assert all(count == 1 for count in _blas())
    assert numba.get_num_threads() == numba_before and _blas() == blas_before


@two_threads
def test_an_explicit_count_overrides_the_quota(quota_of):
    quota_of(1)
    blas_before = _blas()
    with fm.threads(2):
        assert fm.get_num_threads() == 2
        assert kernel_threads(100 * PARALLEL_MIN_FLOPS) == 2
        with fm.threads(None):  # inside an explicit count, None changes nothing
            assert fm.get_num_threads() == 2 and all(count == 2 for count in _blas())
    assert fm.get_num_threads() == 1 and _blas() == blas_before


def test_numba_num_threads_in_the_environment_overrides_the_quota(quota_of, monkeypatch):
    quota_of(1)
    monkeypatch.setenv("NUMBA_NUM_THREADS", str(fm.max_threads()))
    threads_mod.default_threads.cache_clear()
    assert threads_mod.default_threads() == fm.max_threads()


@two_threads
def test_a_fit_under_a_quota_trains_on_the_default_unless_told(quota_of, rng):
    seen = []

    class Spy(fm.Callback):
        def on_epoch_begin(self, trainer, epoch):
            seen.append((fm.get_num_threads(), numba.get_num_threads(), max(_blas())))

    quota_of(1)
    X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
    numba_before, blas_before = numba.get_num_threads(), _blas()
    for n_threads, expected in ((None, 1), (2, 2)):
        seen.clear()
        fm.Trainer(fm.Model([3, 4, 2]), epochs=1, n_threads=n_threads, verbose=0,
                   callbacks=[Spy()]).fit(X, y)
        assert seen == [(expected, expected, expected)]
        assert numba.get_num_threads() == numba_before and _blas() == blas_before
