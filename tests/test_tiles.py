"""The register-tiled product (fastmlp.kernels.tiles) against NumPy's, in float64."""

import numba
import numpy as np
import pytest
from flat_blocks import flat_blocks

from fastmlp.kernels import tiles
from fastmlp.kernels.blas import gemm
from fastmlp.kernels.blas import uses_tiles as _uses_tiles


@numba.njit
def _tiled(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off, ldc):
    tiles.tiled_product(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off,
                        ldc)


@numba.njit
def uses_tiles(m, n, k, itemsize, trans_a=False):
    return _uses_tiles(trans_a, m, n, k, itemsize)


@numba.njit
def _gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc):
    gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)


#: rows around the tile heights (every remainder), columns around the widths of a
#: vector and of a tile (masked last columns), inner dimensions with k = 0
_ROWS = sorted({1, 2, 3, tiles.TILE_ROWS - 1, tiles.TILE_ROWS, tiles.TILE_ROWS + 1,
                2 * tiles.TILE_ROWS + 3})
_COLUMNS = [1, 7, 16, 33, 70, 129]
_INNER = [0, 1, 5, 64]


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_tiles_are_numpys_product(dtype, tolerance, trans_a, beta):
    rng = np.random.default_rng(11)
    off = 2
    for m in _ROWS:
        for n in _COLUMNS:
            for k in _INNER:
                (a, lda, A), (b, ldb, B), (c, ldc, C) = flat_blocks(rng, dtype, m, n, k, trans_a)
                if beta == 0.0:
                    C[:, :n] = np.nan  # never read
                before = c.copy()
                expected = 1.5 * A.astype(np.float64) @ B.astype(np.float64)
                if beta:
                    expected += beta * C[:, :n].astype(np.float64)
                a_row, a_step = (1, lda) if trans_a else (lda, 1)
                _tiled(m, n, k, dtype(1.5), a, off, a_row, a_step, b, off, ldb, dtype(beta), c,
                       off, ldc)
                error = np.max(np.abs(C[:, :n] - expected)) / max(1.0, np.abs(expected).max())
                assert error < tolerance, (m, n, k)
                # nothing outside the block: the offset's head, each row's padding column
                np.testing.assert_array_equal(c[:off], before[:off])
                np.testing.assert_array_equal(C[:, n], before[off:].reshape(m, ldc)[:, n])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_nan_of_b_reaches_its_column_even_times_zero(dtype):
    # as BLAS: NaN * 0 is NaN (a diverged weight must show in the output)
    rng = np.random.default_rng(2)
    m, n, k = tiles.TILE_ROWS + 2, 70, 9
    (a, lda, A), (b, ldb, B), (c, ldc, C) = flat_blocks(rng, dtype, m, n, k, False, off=0)
    B[4, 37] = np.nan
    A[:, 4] = 0
    _tiled(m, n, k, dtype(1), a, 0, lda, 1, b, 0, ldb, dtype(0), c, 0, ldc)
    assert np.isnan(C[:, 37]).all()
    assert np.isfinite(np.delete(C[:, :n], 37, axis=1)).all()


def test_gemm_takes_the_tiles_for_thin_products_and_wide_enough_b():
    wide = tiles.TILE_VECTORS * tiles.VECTOR_BYTES // 4  # a tile's float32 columns
    assert uses_tiles(8, wide, 784, 4)
    assert not uses_tiles(8, wide - 1, 784, 4)  # narrower than a tile: BLAS
    assert uses_tiles(4096, 256, 784, 4)  # B within TILED_MOST_WEIGHTS
    assert not uses_tiles(4096, 1024, 1024, 4)  # many rows and a large B: BLAS packs it once
    assert uses_tiles(64, 1024, 1024, 4)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 2e-6), (np.float64, 1e-14)])
@pytest.mark.parametrize("trans_a", [False, True])
def test_gemm_through_the_tiles_is_numpys_product(dtype, tolerance, trans_a):
    rng = np.random.default_rng(4)
    m, n, k = 13, 100, 37
    assert uses_tiles(m, n, k, np.dtype(dtype).itemsize, trans_a)
    (a, lda, A), (b, ldb, B), (c, ldc, C) = flat_blocks(rng, dtype, m, n, k, trans_a)
    expected = 2.0 * A.astype(np.float64) @ B.astype(np.float64) + 0.5 * C[:, :n]
    _gemm(trans_a, False, m, n, k, np.array([2.0, 0.5], dtype), a, 2, lda, b, 2, ldb, c, 2, ldc)
    assert np.max(np.abs(C[:, :n] - expected)) / np.abs(expected).max() < tolerance


def test_the_vector_width_follows_the_cpu_numba_compiles_for(monkeypatch):
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2,+fma,-avx512f")
    assert tiles._target_vector_bytes() == 32
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx512f,+avx512bw")
    assert tiles._target_vector_bytes() == 64
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "")
    monkeypatch.setattr(numba.config, "CPU_NAME", "generic")
    assert tiles._target_vector_bytes() == 16
    # the tile's sums fit the registers: TILE_ROWS x tile_vectors(rows) for every height
    assert all(r * tiles.tile_vectors(r) <= max(16, tiles.TILE_ROWS * tiles.TILE_VECTORS)
               for r in range(1, tiles.TILE_ROWS + 1))
