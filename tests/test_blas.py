"""The kernels' matrix product (fastmlp.kernels.blas.gemm) against NumPy, in each BLAS library
fastmlp can choose (fastmlp.kernels.blas_library)."""

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from flat_blocks import flat_blocks

from fastmlp.engine import threads as parallel
from fastmlp.kernels import blas_library
from fastmlp.kernels.blas import ROW_LOOP_MIN_WEIGHTS, gemm


@numba.njit
def _gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)


def gemm_errors(dtype):
    """Largest relative error of ``gemm`` against NumPy over every transposition, on
    blocks with offsets and leading dimensions wider than the block, alpha and beta."""
    rng = np.random.default_rng(3)
    m, n, k, pad, off = 7, 5, 6, 3, 4
    errors = []
    for trans_a in (False, True):
        for trans_b in (False, True):
            (a, lda, A), (b, ldb, B), (c, ldc, C) = flat_blocks(rng, dtype, m, n, k, trans_a,
                                                                trans_b, pad, off)
            head = c[:off].copy()
            expected = C.astype(np.float64).copy()
            expected[:, :n] = (1.5 * A.astype(np.float64) @ B.astype(np.float64)
                               + 0.5 * expected[:, :n])
            _gemm(trans_a, trans_b, m, n, k, np.array([1.5, 0.5], dtype), a, off, lda, b, off,
                  ldb, c, off, ldc)
            errors.append(np.max(np.abs(C - expected)) / np.max(np.abs(expected)))
            assert np.array_equal(c[:off], head)
    return max(errors)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_gemm_is_numpys_product_for_every_transposition(dtype, tolerance):
    assert gemm_errors(dtype) < tolerance


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_one_row_by_a_large_matrix_is_numpys_product(dtype, tolerance, trans_a, beta):
    # a single row times a matrix of ROW_LOOP_MIN_WEIGHTS entries or more takes a loop of
    # its own, not BLAS: the same product, offsets, strides, alpha and beta
    rng = np.random.default_rng(5)
    n, k, pad, off = 1000, 600, 3, 2
    assert n * k >= ROW_LOOP_MIN_WEIGHTS
    lda = 4  # the row's entries lda apart when trans_a (a column of a (k, lda) block)
    a = rng.standard_normal(off + (k * lda if trans_a else k)).astype(dtype)
    row = a[off::lda][:k] if trans_a else a[off:off + k]
    b = rng.standard_normal(off + k * (n + pad)).astype(dtype)
    B = b[off:].reshape(k, n + pad)[:, :n]
    c = rng.standard_normal(off + n + pad).astype(dtype)
    if beta == 0.0:
        c[off:off + n] = np.nan  # never read
    expected = 1.5 * row.astype(np.float64) @ B.astype(np.float64)
    if beta:
        expected += beta * c[off:off + n].astype(np.float64)
    outside = np.concatenate([c[:off], c[off + n:]])
    _gemm(trans_a, False, 1, n, k, np.array([1.5, beta], dtype), a, off, lda, b, off, n + pad,
          c, off, n + pad)
    got = c[off:off + n]
    assert np.max(np.abs(got - expected)) / np.max(np.abs(expected)) < tolerance
    np.testing.assert_array_equal(np.concatenate([c[:off], c[off + n:]]), outside)
    b[off + 7 * (n + pad) + 3] = np.nan  # as BLAS: a NaN of B reaches its column
    a[off + 7 * (lda if trans_a else 1)] = 0
    _gemm(trans_a, False, 1, n, k, np.array([1.0, 0.0], dtype), a, off, lda, b, off, n + pad,
          c, off, n + pad)
    assert np.isnan(c[off + 3]) and np.isfinite(np.delete(c[off:off + n], 3)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_leaves_everything_outside_its_block_alone(dtype):
    a, b = np.ones(12, dtype), np.ones(12, dtype)
    c = np.full(20, 7, dtype)
    _gemm(False, False, 2, 3, 2, np.array([1, 0], dtype), a, 0, 2, b, 0, 3, c, 5, 4)
    block = c[5:5 + 2 * 4].reshape(2, 4)
    np.testing.assert_array_equal(block[:, :3], 2)
    np.testing.assert_array_equal(block[:, 3], 7)  # the leading dimension's padding
    np.testing.assert_array_equal(np.delete(c, np.arange(5, 13)), 7)


@pytest.mark.parametrize("library", ["numpy", "scipy"])
def test_each_library_gives_numpys_products(library, tmp_path):
    # a process of its own: the library is chosen once per process
    if library == "numpy" and blas_library._numpy_library() is None:
        pytest.skip("this NumPy has no OpenBLAS of its own")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import numpy as np
        from test_blas import gemm_errors
        from fastmlp.kernels import blas_library
        assert blas_library.chosen().name == {library!r}, blas_library.chosen()
        print(gemm_errors(np.float32), gemm_errors(np.float64))
    """)
    env = dict(os.environ, FASTMLP_BLAS=library, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    single, double = (float(v) for v in done.stdout.split())
    assert single < 1e-6 and double < 1e-14


def _library(name, version):
    return blas_library.Library(name, version, f"{name}_gemm", 1, 2, name == "numpy")


@pytest.mark.parametrize("numpy_version, scipy_version, wanted, expected", [
    ((0, 3, 31), (0, 3, 30), "", "numpy"),
    ((0, 3, 30), (0, 3, 31), "", "scipy"),
    ((0, 3, 30), (0, 3, 30), "", "numpy"),
    ((0, 3, 30), (0, 3, 31), "numpy", "numpy"),
    ((0, 3, 31), (0, 3, 30), "scipy", "scipy"),
    (None, (0, 3, 30), "", "scipy"),
    (None, (0, 3, 30), "numpy", "scipy"),  # asked for, but NumPy has no OpenBLAS of its own
])
def test_the_newer_openblas_is_chosen_unless_one_is_asked_for(monkeypatch, numpy_version,
                                                              scipy_version, wanted, expected):
    numpy_lib = None if numpy_version is None else _library("numpy", numpy_version)
    monkeypatch.setattr(blas_library, "_numpy_library", lambda: numpy_lib)
    monkeypatch.setattr(blas_library, "_scipy_library", lambda: _library("scipy", scipy_version))
    monkeypatch.setattr(blas_library, "_with_scipy_addresses", lambda library: library)
    monkeypatch.setenv("FASTMLP_BLAS", wanted)
    assert blas_library._choose().name == expected


def test_an_unknown_library_name_is_refused(monkeypatch):
    monkeypatch.setenv("FASTMLP_BLAS", "mkl")
    with pytest.raises(ValueError, match="FASTMLP_BLAS='mkl'"):
        blas_library._choose()


def test_the_openblas_version_is_read_from_its_configuration():
    class Lib:
        @staticmethod
        def config():
            return b"OpenBLAS 0.3.31.188.0  USE64BITINT DYNAMIC_ARCH NO_AFFINITY SkylakeX"

        @staticmethod
        def silent():
            return b"a BLAS"

    assert blas_library._version(Lib, "config") == (0, 3, 31, 188, 0)
    assert blas_library._version(Lib, "silent") == ()
    assert blas_library._version(Lib, "absent") == ()


def test_the_kernels_library_is_the_one_made_single_threaded():
    chosen = blas_library.chosen()
    controllers = parallel._kernels_blas()
    if any(c.exports(chosen.exports) for c in parallel._blas_controllers()):
        assert all(c.exports(chosen.exports) for c in controllers)
    with parallel.single_threaded_blas():
        assert all(c.get() == 1 for c in controllers)
