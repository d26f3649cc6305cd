"""Time one matrix product through SciPy's BLAS (the one Numba's ``np.dot`` calls) or NumPy's
(``np.matmul``, its own OpenBLAS build and thread pool); fastmlp's kernels call the newer of
the two (:mod:`fastmlp.kernels.blas_library`)."""

import time

import numba
import numpy as np


@numba.njit(cache=True)
def _repeat_plain(a, b, out, reps):
    for _ in range(reps):
        np.dot(a, b, out)


@numba.njit(cache=True)
def _repeat_left_t(a, b, out, reps):
    for _ in range(reps):
        np.dot(a.T, b, out)


@numba.njit(cache=True)
def _repeat_right_t(a, b, out, reps):
    for _ in range(reps):
        np.dot(a, b.T, out)


def _numpy_plain(a, b, out, reps):
    for _ in range(reps):
        np.matmul(a, b, out=out)


def _numpy_left_t(a, b, out, reps):
    for _ in range(reps):
        np.matmul(a.T, b, out=out)


def _numpy_right_t(a, b, out, reps):
    for _ in range(reps):
        np.matmul(a, b.T, out=out)


_SCIPY = {"fwd": _repeat_plain, "dW": _repeat_left_t, "dA": _repeat_right_t}
_NUMPY = {"fwd": _numpy_plain, "dW": _numpy_left_t, "dA": _numpy_right_t}


def time_matmul(kind, m, k, n, dtype=np.float32, target=0.05, samples=7, blas="scipy",
                fastest=False):
    """Median seconds of one (m x k) @ (k x n) product (with ``fastest``, its fastest sample's).

    kind "fwd": A @ W; "dW": A^T @ D (A stored k x m); "dA": D @ W^T (W stored n x k),
    the operand layouts of the forward pass, weight gradients and upstream gradients;
    ``blas`` "scipy" (through Numba's np.dot) or "numpy" (np.matmul).
    """
    rng = np.random.default_rng(0)
    out = np.empty((m, n), dtype)
    if kind == "fwd":
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    elif kind == "dW":
        a, b = rng.standard_normal((k, m)), rng.standard_normal((k, n))
    elif kind == "dA":
        a, b = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    else:
        raise ValueError(kind)
    fn = (_SCIPY if blas == "scipy" else _NUMPY)[kind]
    a, b = a.astype(dtype), b.astype(dtype)
    fn(a, b, out, 3)
    start = time.perf_counter()
    fn(a, b, out, 3)
    once = max((time.perf_counter() - start) / 3, 1e-7)
    reps = max(1, int(target / once))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        fn(a, b, out, reps)
        times.append((time.perf_counter() - start) / reps)
    return float(np.min(times) if fastest else np.median(times))
