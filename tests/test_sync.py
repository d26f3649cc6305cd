"""The team barrier (fastmlp.kernels.sync): generations, and the timing of its waits."""

import time

import numba
import numpy as np
import pytest

import fastmlp as fm
from fastmlp.engine.threads import single_threaded_blas, threads
from fastmlp.kernels import sync
from fastmlp.kernels.workers import run_team
from fastmlp.losses import encode_targets

two_threads = pytest.mark.skipif(fm.max_threads() < 2, reason="needs 2 threads")


@numba.njit(nogil=True)
def _phases(state, n_threads, t, n_barriers, work):
    """Thread 0 computes ``work`` square roots before each barrier; the others only wait."""
    total = 0.0
    for _ in range(n_barriers):
        if t == 0:
            for j in range(work):
                total += j ** 0.5
        sync.barrier(state, n_threads)
    return total


def _team(state, n_barriers, work):
    start = time.perf_counter()
    run_team(lambda t: _phases(state, 2, t, n_barriers, work), 2)
    return time.perf_counter() - start


def test_one_thread_passes_without_counting():
    state = sync.new_state()
    _phases(state, 1, 0, 5, 10)
    assert sync.barriers_passed(state) == 0


@two_threads
def test_untimed_barriers_count_generations_and_record_no_wait():
    state = sync.new_state()
    _phases(state, 1, 0, 1, 1)  # compiled before the team starts
    _team(state, 90, 100)
    assert sync.barriers_passed(state) == 90
    assert not state[sync.STATE_SIZE - sync.MAX_PERIOD:].any()


@two_threads
def test_timed_waits_fall_on_the_barriers_places_and_fit_in_the_wall_time():
    state = sync.new_state()
    _phases(state, 1, 0, 1, 1)
    sync.time_waits(state, 9)
    elapsed = _team(state, 9 * 200, 3000)
    waited = sync.waits(state) / sync.counter_ticks_per_second()
    assert waited.shape == (9,) and sync.barriers_passed(state) == 9 * 200
    # the waiting thread waits at every place; nobody waits longer than the run took
    assert (waited > 0).all()
    assert waited.sum() <= 2 * elapsed * 1.05
    sync.time_waits(state, 0)
    assert sync.waits(state).size == 0


@pytest.mark.parametrize("period", [-1, sync.MAX_PERIOD + 1])
def test_a_period_out_of_range_is_refused(period):
    with pytest.raises(ValueError, match="period"):
        sync.time_waits(sync.new_state(), period)


@two_threads
def test_a_training_loop_times_its_teams_waits(rng):
    X = rng.standard_normal((512, 40)).astype(np.float32)
    model = fm.Model([40, 256, 256, 3], seed=0)
    T = encode_targets(rng.integers(0, 3, 512), model.loss, model.n_outputs, model.dtype)
    optimizer = fm.optim.Adam(1e-3)
    optimizer.bind(model.params)
    with threads(2), single_threaded_blas():
        loop = model.engine.training_loop(X, T, np.empty(0), 128, optimizer.kind, "adam", 0)
        loop.prepare(optimizer.kernel_args(None))
        if loop.n_threads < 2:
            pytest.skip("the plan trains this model on one thread")
        loop.run(np.arange(512), optimizer.kernel_args(None), 0, 4)
        period = loop.barriers_passed // 4
        loop.time_barrier_waits(period)
        start = time.perf_counter()
        loop.run(np.arange(512), optimizer.kernel_args(None), 0, 4)
        elapsed = time.perf_counter() - start
        waited = loop.barrier_waits()
    assert waited.shape == (period,) and (waited >= 0).all()
    assert waited.sum() <= 2 * elapsed * 1.05
