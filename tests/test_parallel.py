"""Thread control (fastmlp/parallel.py): threads(), kernel_threads, single_threaded_blas.

The Numba thread count is read with ``fastmlp.get_num_threads()`` and
``numba.get_num_threads()``; the BLAS thread counts through the module's
own controllers (OpenBLAS/MKL ``get_num_threads``).  Everything the tests
change is checked to come back exactly as it was.  Cases that need two
distinct thread counts are skipped on a one-thread machine.
"""

import contextlib

import numba
import pytest

import fastmlp as fm
from fastmlp.engine import threads as parallel
from fastmlp.engine.threads import (
    PARALLEL_MIN_FLOPS,
    kernel_threads,
    max_threads,
    single_threaded_blas,
    threads,
)

two_threads = pytest.mark.skipif(fm.max_threads() < 2, reason="needs 2 threads")


def _blas_counts(libs=None):
    return [lib.get() for lib in (parallel._blas_controllers() if libs is None else libs)]


@pytest.fixture(autouse=True)
def _restores_everything():
    numba_before, blas_before = numba.get_num_threads(), _blas_counts()
    yield
    assert parallel._kernel_sections == 0 and not parallel._deferred
    assert numba.get_num_threads() == numba_before
    assert _blas_counts() == blas_before


def test_max_threads_is_numbas_pool_size():
    assert fm.max_threads() == max_threads() == numba.config.NUMBA_NUM_THREADS >= 1
    assert 1 <= fm.get_num_threads() <= fm.max_threads()
    assert fm.get_num_threads() == numba.get_num_threads()


def test_threads_one_sets_numba_and_blas_and_restores():
    before = fm.get_num_threads()
    with threads(1):
        assert fm.get_num_threads() == 1
        assert all(count == 1 for count in _blas_counts())
    assert fm.get_num_threads() == before


def test_blas_libraries_are_found():
    assert parallel._blas_controllers(), "no BLAS library under control"
    assert parallel._kernels_blas()
    assert set(parallel._kernels_blas()) <= set(parallel._blas_controllers())


@two_threads
def test_threads_sets_the_count_it_is_given():
    with threads(2):
        assert fm.get_num_threads() == 2
        assert all(count == 2 for count in _blas_counts())
        with threads(1):
            assert fm.get_num_threads() == 1
            assert all(count == 1 for count in _blas_counts())
        assert fm.get_num_threads() == 2
        assert all(count == 2 for count in _blas_counts())


@two_threads
def test_nested_threads_restore_each_level():
    with threads(1):
        with threads(2):
            with threads(1):
                assert fm.get_num_threads() == 1
            assert fm.get_num_threads() == 2
            assert all(count == 2 for count in _blas_counts())
        assert fm.get_num_threads() == 1
        assert all(count == 1 for count in _blas_counts())


def test_threads_restores_after_an_exception():
    before = fm.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        with threads(1):
            raise RuntimeError("boom")
    assert fm.get_num_threads() == before


def test_threads_none_changes_nothing():
    before, blas = fm.get_num_threads(), _blas_counts()
    with threads(None):
        assert fm.get_num_threads() == before and _blas_counts() == blas


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", True, False])
def test_bad_thread_counts_raise_naming_the_value(n):
    with pytest.raises(ValueError, match=f"got {repr(n).replace('.', '[.]')}$"):
        with threads(n):
            pass


def test_more_threads_than_available_are_refused():
    n = fm.max_threads() + 1
    with pytest.raises(ValueError, match=f"n_threads={n} exceeds the {fm.max_threads()} threads"):
        with threads(n):
            pass


def test_trainer_refuses_too_many_threads():
    with pytest.raises(ValueError, match="exceeds"):
        fm.Trainer(fm.Model([2, 2]), n_threads=fm.max_threads() + 1)


# ------------------------------------------------------------- kernel_threads

def test_small_chunks_run_on_one_thread():
    assert kernel_threads(0) == 1
    assert kernel_threads(PARALLEL_MIN_FLOPS - 1) == 1


def test_large_chunks_use_numbas_thread_count():
    assert kernel_threads(PARALLEL_MIN_FLOPS) == numba.get_num_threads()
    assert kernel_threads(100 * PARALLEL_MIN_FLOPS) == numba.get_num_threads()
    with threads(1):
        assert kernel_threads(10 * PARALLEL_MIN_FLOPS) == 1


@two_threads
def test_large_chunks_follow_the_threads_context():
    with threads(2):
        assert kernel_threads(PARALLEL_MIN_FLOPS) == 2
        assert kernel_threads(PARALLEL_MIN_FLOPS - 1) == 1


# ------------------------------------------------------- single_threaded_blas

@two_threads
def test_single_threaded_blas_sets_one_and_restores():
    libs = parallel._kernels_blas()
    with threads(2):
        with single_threaded_blas():
            assert _blas_counts(libs) == [1] * len(libs)
            assert fm.get_num_threads() == 2  # Numba's own count is not touched
        assert _blas_counts(libs) == [2] * len(libs)


@two_threads
def test_single_threaded_blas_nests_and_only_the_last_exit_restores():
    libs = parallel._kernels_blas()
    with threads(2):
        with single_threaded_blas():
            with single_threaded_blas():
                assert _blas_counts(libs) == [1] * len(libs)
            assert parallel._kernel_sections == 1
            assert _blas_counts(libs) == [1] * len(libs)  # still inside the outer one
        assert _blas_counts(libs) == [2] * len(libs)


@two_threads
def test_threads_inside_a_kernel_section_keeps_blas_single_threaded():
    libs = parallel._kernels_blas()
    with threads(2):
        with single_threaded_blas():
            with threads(2):
                assert fm.get_num_threads() == 2
                assert _blas_counts(libs) == [1] * len(libs)
            assert _blas_counts(libs) == [1] * len(libs)
        assert _blas_counts(libs) == [2] * len(libs)


@two_threads
def test_a_threads_change_made_during_a_kernel_section_applies_when_it_ends():
    # Overlapping (not nested) sections, as two Python threads would produce them:
    # the BLAS count threads(1) asked for takes effect when the kernel section ends,
    # and threads' own exit then puts back the count from before it.
    libs = parallel._kernels_blas()
    with threads(2):
        section, change = single_threaded_blas(), threads(1)
        section.__enter__()
        change.__enter__()
        assert _blas_counts(libs) == [1] * len(libs)
        section.__exit__(None, None, None)
        assert _blas_counts(libs) == [1] * len(libs)  # threads(1) still in effect
        change.__exit__(None, None, None)
        assert _blas_counts(libs) == [2] * len(libs)


def test_single_threaded_blas_restores_after_an_exception():
    before = _blas_counts()
    with contextlib.suppress(KeyError):
        with single_threaded_blas():
            raise KeyError("x")
    assert _blas_counts() == before and parallel._kernel_sections == 0
