"""The kernels' matrix products through register tiles and through OpenBLAS, side by side.

    python bench/products.py [--workloads S,M,L] [--rows 1,8,64,512] [--samples 9]

For each workload (bench/workloads.py; float32) it times, on one thread,
every product of its training step that reads B in rows -- each layer's
forward product ``A W`` (batch x fan_in @ fan_in x fan_out) and weight
gradient ``A^T D`` (fan_in x batch @ batch x fan_out) -- and each layer's
forward product for a predict of ``--rows`` rows, once through
:func:`fastmlp.kernels.blas.tiles_gemm` and once through
:func:`~fastmlp.kernels.blas.blas_gemm`, alternating, and prints the
medians and their ratio, and which of the two :func:`~fastmlp.kernels.blas.gemm`
takes (``uses_tiles``).  A ratio below 1 means the tiles are faster.
"""

import argparse
import os
import platform
import sys
import time

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import WORKLOADS  # noqa: E402

from fastmlp.engine.threads import single_threaded_blas  # noqa: E402
from fastmlp.kernels.blas import blas_gemm, tiles_gemm, uses_tiles  # noqa: E402


@numba.njit(cache=True)
def _tiles_loop(trans_a, m, n, k, coef, a, lda, b, ldb, c, ldc, reps):
    for _ in range(reps):
        tiles_gemm(trans_a, m, n, k, coef, a, 0, lda, b, 0, ldb, c, 0, ldc)


@numba.njit(cache=True)
def _blas_loop(trans_a, m, n, k, coef, a, lda, b, ldb, c, ldc, reps):
    for _ in range(reps):
        blas_gemm(trans_a, False, m, n, k, coef, a, 0, lda, b, 0, ldb, c, 0, ldc)


def _time(loop, args, samples):
    """Median seconds of one product over ``samples`` samples of ~20 ms each."""
    loop(*args, 1)
    start = time.perf_counter()
    loop(*args, 3)
    reps = max(1, int(0.02 / max((time.perf_counter() - start) / 3, 1e-7)))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        loop(*args, reps)
        times.append((time.perf_counter() - start) / reps)
    return float(np.median(times))


def compare(trans_a, m, n, k, samples, rng):
    """(tiles seconds, BLAS seconds) of one product, alternating sample by sample."""
    a_rows, a_cols = (k, m) if trans_a else (m, k)
    a = rng.standard_normal(a_rows * a_cols).astype(np.float32)
    b = rng.standard_normal(k * n).astype(np.float32)
    c = np.zeros(m * n, np.float32)
    coef = np.array([1.0, 0.0], np.float32)
    args = (np.bool_(trans_a), np.int64(m), np.int64(n), np.int64(k), coef, a,
            np.int64(a_cols), b, np.int64(n), c, np.int64(n))
    tiles, blas = [], []
    for _ in range(3):
        tiles.append(_time(_tiles_loop, args, samples))
        blas.append(_time(_blas_loop, args, samples))
    return float(np.median(tiles)), float(np.median(blas))


def products(workload, rows):
    """(label, trans_a, m, n, k) of a training step's B-in-rows products and of predicts."""
    pairs = list(zip(workload.sizes[:-1], workload.sizes[1:]))
    batch = workload.batch_size
    found = []
    for l, (fan_in, fan_out) in enumerate(pairs):
        found.append((f"forward {l} (batch)", False, batch, fan_out, fan_in))
        found.append((f"dW {l} (batch)", True, fan_in, fan_out, batch))
    for r in rows:
        for l, (fan_in, fan_out) in enumerate(pairs):
            found.append((f"predict {r} rows, layer {l}", False, r, fan_out, fan_in))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="S,M,L")
    parser.add_argument("--rows", default="1,8,64,512")
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    rng = np.random.default_rng(0)
    print(f"# {platform.processor() or platform.machine()}, one thread, float32; "
          "medians in us")
    print(f"{'workload':9s} {'product':28s} {'m x k x n':>18s} {'tiles':>9s} {'BLAS':>9s} "
          f"{'ratio':>6s}  gemm takes")
    with single_threaded_blas():
        for name in args.workloads.split(","):
            workload = WORKLOADS[name]
            for label, trans_a, m, n, k in products(workload, rows):
                tiles, blas = compare(trans_a, m, n, k, args.samples, rng)
                takes = "tiles" if uses_tiles(trans_a, m, n, k, 4) else "BLAS"
                print(f"{name:9s} {label:28s} {f'{m}x{k}x{n}':>18s} {tiles * 1e6:9.1f} "
                      f"{blas * 1e6:9.1f} {tiles / blas:6.2f}  {takes}", flush=True)


if __name__ == "__main__":
    main()
