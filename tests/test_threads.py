"""fastmlp.threads sets Numba and BLAS thread counts and restores them."""

import numba
import numpy as np
import pytest

import fastmlp as fm
from fastmlp.engine.threads import _blas_controllers, _threadpoolctl_controllers
from fastmlp.kernels import blas_library


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
