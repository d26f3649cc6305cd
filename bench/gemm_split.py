"""Where a training step's time goes beyond its matrix products, and which way to split them.

    python bench/gemm_split.py [--workloads M,L] [--threads 2]

For every matrix product of one training step (bench/workloads.py), three
timings on ``--threads`` cores, medians:

* team: what fastmlp's thread team does -- each thread multiplies its share
  (rows of the batch for the forward and upstream products, the larger
  dimension of a weight gradient) through the kernels' own ``gemm`` (the
  BLAS library they chose, single-threaded), all at once;
* scipy / numpy: one multi-threaded call of SciPy's or NumPy's BLAS for the
  whole product.

The per-step sums give three GEMM ceilings; against them, the measured
training step (samples/s of a fit, same process) shows how much of the step
is not matrix products: the epilogues (bias, activation, loss), the
optimizer, the gathers and the barriers.  A product where one multi-threaded
call beats the team's split by a margin is one where the team design loses.

``--scaling`` instead measures what two (or ``--threads``) cores can give
at all: every product of a step on one thread, then split over the team
(each thread on its own core at once), against training on one thread and
on the team.  From the products' own speed-up ``g`` and their share ``p``
of the one-thread step, with the rest sped up perfectly (``k`` times on k
threads), training would gain ``1 / (p / g + (1 - p) / k)``.  An estimate,
not a bound: the products are timed apart from training (each thread on
operands of its own), and training can do better -- M trained 1.77x where
this estimated 1.69x.
"""

import argparse
import os
import statistics
import sys
import threading
import time

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gemm import time_matmul  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

from fastmlp.engine.threads import single_threaded_blas
from fastmlp.kernels.blas import gemm


@numba.njit(nogil=True, cache=True)
def _product(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc, reps):
    for _ in range(reps):
        gemm(trans_a, trans_b, m, n, k, coef, a, a_off, lda, b, b_off, ldb, c, c_off, ldc)


def _operands(kind, m, k, n, rng):
    """Flat (a, b) of the (m, n) product, stored as the trainer stores them: forward A (m, k)
    and W (k, n); weight gradient A (k, m) and D (k, n); upstream D (m, k) and W (n, k)."""
    a_shape, b_shape = {"fwd": ((m, k), (k, n)), "dW": ((k, m), (k, n)),
                        "dA": ((m, k), (n, k))}[kind]
    return (rng.standard_normal(a_shape).astype(np.float32).reshape(-1),
            rng.standard_normal(b_shape).astype(np.float32).reshape(-1))


def _share_call(kind, m, k, n, t, n_threads):
    """The kernels' ``gemm`` arguments (after ``coef``) of thread t's share, as the network
    splits it: rows of the batch for the forward and upstream products, the larger dimension
    of a weight gradient (:func:`fastmlp.kernels.shares.weight_slice`)."""
    by_rows = kind != "dW" or m >= n
    size = m if by_rows else n
    lo, hi = size * t // n_threads, size * (t + 1) // n_threads
    if kind == "fwd":
        return False, False, hi - lo, n, k, lo * k, k, 0, n, lo * n
    if kind == "dA":
        return False, True, hi - lo, n, k, lo * k, k, 0, k, lo * n
    if by_rows:  # dW rows lo..hi: columns lo..hi of the stored A
        return True, False, hi - lo, n, k, lo, m, 0, n, lo * n
    return True, False, m, hi - lo, k, 0, m, lo, n, lo


def team_seconds(kind, m, k, n, n_threads, samples=7, target=0.05, fastest=False):
    """Seconds of one product split over a team, each thread its share through the kernels'
    own ``gemm`` (their BLAS library, single-threaded), all at once: the median sample (with
    ``fastest``, the fastest)."""
    a, b = _operands(kind, m, k, n, np.random.default_rng(0))
    out = np.empty(m * n, np.float32)
    coef = np.array([1.0, 0.0], np.float32)
    calls = []
    for t in range(n_threads):
        ta, tb, mm, nn, kk, a_off, lda, b_off, ldb, c_off = _share_call(kind, m, k, n, t,
                                                                        n_threads)
        calls.append((ta, tb, mm, nn, kk, coef, a, a_off, lda, b, b_off, ldb, out, c_off, n))

    def run(reps):
        threads = [threading.Thread(target=_product, args=(*call, reps)) for call in calls]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return (time.perf_counter() - start) / reps

    with single_threaded_blas():
        run(3)
        reps = max(1, int(target / max(run(3), 1e-7)))
        times = [run(reps) for _ in range(samples)]
        return min(times) if fastest else statistics.median(times)


def step_speed(workload, n_threads):
    import fastmlp as fm

    X, y = workload.data()
    model = fm.Model(list(workload.sizes), seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=n_threads)
    trainer.fit(X, y)
    return statistics.median(trainer.fit(X, y)["samples_per_sec"][0] for _ in range(3))


def scaling_estimate(workload, n_threads):
    """Print the products' and the training's speed-up on ``n_threads`` cores, and the estimate."""
    shapes = workload.matmul_shapes()
    alone = sum(team_seconds(kind, m, k, n, 1) for kind, m, k, n in shapes)
    team = sum(team_seconds(kind, m, k, n, n_threads) for kind, m, k, n in shapes)
    step_one = workload.batch_size / step_speed(workload, 1)
    step_team = workload.batch_size / step_speed(workload, n_threads)
    gain = alone / team
    share = min(1.0, alone / step_one)
    estimate = 1.0 / (share / gain + (1.0 - share) / n_threads)
    print(f"{workload.label}: products {alone * 1e6:.0f} us a step on 1 thread, "
          f"{team * 1e6:.0f} us on {n_threads}: {gain:.2f}x; training step "
          f"{step_one * 1e6:.0f} us on 1 thread ({share:.0%} products), {step_team * 1e6:.0f} us "
          f"on {n_threads}: {step_one / step_team:.2f}x; {estimate:.2f}x estimated from the "
          f"products with the rest sped up {n_threads}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="M,L")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--scaling", action="store_true",
                        help="the products' speed-up on --threads cores and what it allows")
    args = parser.parse_args(argv)
    import fastmlp as fm

    for name in args.workloads.split(","):
        if args.scaling:
            scaling_estimate(WORKLOADS[name], args.threads)
            continue
        workload = WORKLOADS[name]
        shapes = workload.matmul_shapes()
        # the multi-threaded BLAS calls last: their pools' threads spin for a
        # while after each call and would slow whatever runs next
        step = workload.batch_size / step_speed(workload, args.threads)
        times = np.zeros((len(shapes), 3))
        for i, (kind, m, k, n) in enumerate(shapes):
            times[i, 0] = team_seconds(kind, m, k, n, args.threads)
        for column, blas in ((1, "scipy"), (2, "numpy")):
            with fm.threads(args.threads):
                for i, (kind, m, k, n) in enumerate(shapes):
                    times[i, column] = time_matmul(kind, m, k, n, blas=blas)
        print(f"\n{workload.label}, {args.threads} threads (microseconds per product)")
        print(f"  {'product':24} {'team':>9} {'scipy':>9} {'numpy':>9}")
        for (kind, m, k, n), row in zip(shapes, times):
            print(f"  {kind} {m}x{k}x{n}".ljust(26) + " ".join(f"{t * 1e6:9.1f}" for t in row))
        totals = times.sum(axis=0)
        print("  " + "per step".ljust(24) + " ".join(f"{t * 1e6:9.1f}" for t in totals))
        print(f"  measured training step {step * 1e6:.1f} us: products at the team's split "
              f"{totals[0] / step:.0%} of it, at the best single call {totals.min() / step:.0%}; "
              f"the rest (epilogues, optimizer, gathers, barriers) {1 - totals[0] / step:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
