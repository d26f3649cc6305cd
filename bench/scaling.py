"""Thread scaling: samples/s, parallel efficiency and the barriers' share, per team size.

    python bench/scaling.py [--workloads S,M,L] [--epochs 3] [--threads 1,2,4,...]

For team sizes 1, 2, 4, ... up to every core of the machine (or
``--threads``), and each workload of bench/workloads.py (Adam, float32):

* samples/s of training (median of ``--epochs`` epochs after a warm-up
  epoch) and the parallel efficiency, speed(k) / (k x speed(1));
* barriers per batch: how many times the team met at a barrier, counted
  on the training loop's barrier state over an epoch;
* the cost of one barrier for k threads with nothing else to do (a team
  passing 20,000 barriers; the spin-wait every phase ends with), and so
  the share of a batch's time that the barriers alone take at least:
  barriers per batch x barrier cost / time per batch;
* what the threads really wait (``waited``): the cycles each thread spends
  at each barrier of a batch, timed over an epoch with the barrier's
  cycle counter (:func:`fastmlp.kernels.sync.time_waits`) -- the barrier's
  own cost plus the time a thread waits for a slower one (load imbalance,
  or a core the machine gave to someone else) -- as a share of the batch's
  time, and per barrier, in the order a batch meets them (for M and L on
  two threads: after the gather, after each column-split hidden layer's
  forward product, at the end of the forward pass, after the loss, then
  after each layer's backward step and the last update).

It runs unchanged on a large machine; the README's model of the team
design at 16 and 64 cores starts from these quantities.
"""

import argparse
import os
import statistics
import sys
import time

import numba
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import WORKLOADS  # noqa: E402

import fastmlp as fm  # noqa: E402
from fastmlp.engine.threads import max_threads, single_threaded_blas, threads
from fastmlp.kernels import sync
from fastmlp.kernels.workers import run_team
from fastmlp.losses import encode_targets


@numba.njit(nogil=True, cache=True)
def _pass_barriers(state, n_threads, count):
    for _ in range(count):
        sync.barrier(state, n_threads)


def barrier_seconds(n_threads, count=20_000):
    """Seconds per barrier for a team of ``n_threads`` doing nothing else (median of 5)."""
    if n_threads == 1:
        return 0.0
    times = []
    for _ in range(5):
        state = sync.new_state()
        start = time.perf_counter()
        run_team(lambda t, state=state: _pass_barriers(state, n_threads, count), n_threads)
        times.append((time.perf_counter() - start) / count)
    return statistics.median(times)


def training_speed(workload, n_threads, epochs):
    """Median samples/s of ``epochs`` epochs with a team of ``n_threads``."""
    X, y = workload.data()
    model = fm.Model(list(workload.sizes), seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=n_threads)
    trainer.fit(X, y)  # warm-up
    return statistics.median(trainer.fit(X, y)["samples_per_sec"][0] for _ in range(epochs))


def barrier_counts(workload, n_threads):
    """Barriers the team meets per batch, and the time a thread waits at each of them.

    Two epochs through the engine's training loop: the first counts the
    barriers (on the loop's barrier state), the second times every thread's
    wait at each barrier of a batch (the loop's cycle-counter timing).
    Returns (barriers per batch, seconds a thread waits at each barrier of a
    batch -- an array, empty with one thread --, the team's size).
    """
    X, y = workload.data()
    model = fm.Model(list(workload.sizes), seed=0)
    optimizer = fm.optim.Adam(1e-3)
    optimizer.bind(model.params)
    T = encode_targets(y, model.loss, model.n_outputs, model.dtype)
    n_batches = -(-X.shape[0] // workload.batch_size)
    with threads(n_threads), single_threaded_blas():  # as Trainer.fit runs it
        loop = model.engine.training_loop(X, T, np.empty(0), workload.batch_size,
                                          optimizer.kind, "adam", 0)
        loop.prepare(optimizer.kernel_args(None))
        before = loop.barriers_passed
        loop.run(np.arange(X.shape[0]), optimizer.kernel_args(None), 0, n_batches)
        per_batch = (loop.barriers_passed - before) / n_batches
        period = int(round(per_batch))
        if loop.n_threads == 1 or period != per_batch or period > sync.MAX_PERIOD:
            return per_batch, np.empty(0), loop.n_threads
        loop.time_barrier_waits(period)
        loop.run(np.arange(X.shape[0]), optimizer.kernel_args(None), 0, n_batches)
        waits = loop.barrier_waits() / (n_batches * loop.n_threads)
        loop.time_barrier_waits(0)
    return per_batch, waits, loop.n_threads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="S,M,L")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", help="team sizes, e.g. 1,2,4 (default: powers of two "
                                          "up to every core, and every core)")
    args = parser.parse_args(argv)
    most = max_threads()
    sizes = sorted({1, most} | {2 ** i for i in range(1, most.bit_length()) if 2 ** i < most})
    if args.threads:
        sizes = [int(k) for k in args.threads.split(",")]
    print(f"{most} threads available; barrier cost alone (us): "
          + ", ".join(f"{k}: {barrier_seconds(k) * 1e6:.2f}" for k in sizes if k > 1))
    print(f"{'workload':34} {'threads':>7} {'samples/s':>11} {'efficiency':>10} "
          f"{'barriers/batch':>14} {'us/batch':>9} {'barrier share':>13} {'waited':>7}")
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        base = None
        for k in sizes:
            speed = training_speed(workload, k, args.epochs)
            base = speed if base is None else base
            per_batch, waits, team = barrier_counts(workload, k)
            batch_seconds = workload.batch_size / speed
            share = per_batch * barrier_seconds(team) / batch_seconds
            waited = f"{waits.sum() / batch_seconds:7.1%}" if waits.size else f"{'--':>7}"
            print(f"{workload.label:34} {k:7d} {speed:11,.0f} {speed / (k * base):10.2f} "
                  f"{per_batch:14.1f} {batch_seconds * 1e6:9.1f} {share:13.1%} {waited}"
                  + ("" if team == k else f"  (team of {team}: the plan's choice)"))
            if waits.size:
                print(f"{'':34} a thread's wait at each barrier of a batch (us): "
                      + " ".join(f"{w * 1e6:.1f}" for w in waits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
