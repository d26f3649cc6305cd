"""Where a cold start spends its compile time: per kernel, in one fresh process.

Trains one epoch of a workload and predicts, with an empty Numba cache,
and prints the seconds of the fit and the predict, the kernels compiled as
pointers (:mod:`fastmlp.kernels.ops`, each with its time) and the Numba
dispatchers compiled on the way, with their exclusive and inclusive times
(from Numba's ``numba:compile`` events).  Every kernel compiles in this
process, one after another (``FASTMLP_COMPILE_PROCESSES=1``), unless
``--parallel``.

Then the critical path of the parallel compile: the jobs of each compile
batch (:func:`fastmlp.engine.compile_pool.history`) with their CPU seconds
here, in the form of ``fastmlp.engine.compile_estimate.REFERENCE_SECONDS``;
with ``--standalone``, each job compiled again alone, in a new worker
process with an empty cache (what a job costs a worker that meets none of
the functions it calls in the cache), and the model of a batch's cold
compile on P processes: at least the longest job alone (the critical path,
which more cores do not shorten) and at least the jobs' total over P, plus
a worker's start.  Usage::

    python bench/compile_profile.py [b|a|c] [--top 25] [--parallel] [--standalone]

``b``: 784-256-256-10 ReLU, Adam, batch 128, float32, all cores (the case
of ``bench/cold_start.py``); ``c`` the same in float64; ``a`` the digits
shape of the README's main job (64-256-128-10, batch 32).  Run it in a
fresh process: what is already compiled is not measured.
"""

import argparse
import collections
import os
import shutil
import sys
import tempfile
import time

SHAPES = {"a": ([64, 256, 128, 10], 1293, 32, "float32"),
          "b": ([784, 256, 256, 10], 4096, 128, "float32"),
          "c": ([784, 256, 256, 10], 4096, 128, "float64")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default="b", choices=sorted(SHAPES))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--parallel", action="store_true",
                        help="compile on all cores (default: one process, one job at a time)")
    parser.add_argument("--standalone", action="store_true",
                        help="also compile each job alone in a fresh process (the critical path)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="fastmlp-profile-"))
    if not args.parallel:
        os.environ["FASTMLP_COMPILE_PROCESSES"] = "1"
    start = time.perf_counter()

    from numba.core import event

    records = []

    class Recorder(event.Listener):
        def on_start(self, ev):
            records.append((True, ev.data, time.perf_counter()))

        def on_end(self, ev):
            records.append((False, ev.data, time.perf_counter()))

    event.register("numba:compile", Recorder())

    import numpy as np

    import fastmlp as fm
    from fastmlp.kernels import ops

    sizes, n, batch, dtype = SHAPES[args.case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    imported = time.perf_counter()
    model = fm.Model(sizes, activation="relu", dtype=dtype, seed=0)
    fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=batch, epochs=1, seed=0,
               verbose=0).fit(X, y)
    fitted = time.perf_counter()
    model.predict(X[:256])
    done = time.perf_counter()
    pointer_times = [(info.seconds, info.name) for info in ops.compiled()]
    print(f"case {args.case}: import {imported - start:.1f} s, fit {fitted - imported:.1f} s, "
          f"predict {done - fitted:.1f} s, total {done - start:.1f} s")
    print(f"\npointers: {sum(t for t, _ in pointer_times):.1f} s")
    for seconds, name in sorted(pointer_times, reverse=True)[:args.top]:
        print(f"  {seconds:6.2f} s  {name}")
    exclusive = collections.Counter()
    inclusive = collections.Counter()
    count = collections.Counter()
    stack = []
    for starting, data, when in records:
        name = data["dispatcher"].py_func.__qualname__
        if starting:
            stack.append([name, when, 0.0])
            continue
        name, began, children = stack.pop()
        exclusive[name] += when - began - children
        inclusive[name] += when - began
        count[name] += 1
        if stack:
            stack[-1][2] += when - began
    print(f"\ndispatchers ({len(count)} functions, {sum(count.values())} compilations; "
          "exclusive / inclusive seconds):")
    for name, seconds in exclusive.most_common(args.top):
        print(f"  {seconds:6.2f} {inclusive[name]:6.2f}  x{count[name]}  {name}")
    from fastmlp.engine import compile_pool

    batches = compile_pool.history()
    for line in batch_lines(batches):
        print(line)
    if args.standalone:
        alone = standalone_seconds([spec for batch in batches for spec in batch.missing])
        for line in model_lines(batches, alone):
            print(line)


def batch_lines(batches):
    """Each compile batch: its processes, estimate and seconds, then its jobs' CPU seconds
    (as ``name: seconds`` pairs, the form of the estimate's table)."""
    lines = []
    for number, batch in enumerate(batches, 1):
        lines.append(f"\nbatch {number}: {len(batch.missing)} of {len(batch.jobs)} jobs "
                     f"compiled on {batch.processes} process(es), estimate "
                     f"{batch.estimate:.1f} s, took {batch.seconds:.1f} s"
                     + (f" ({batch.in_process_reason})" if batch.in_process_reason else ""))
        for result in sorted(batch.results, key=lambda r: -r.cpu_seconds):
            lines.append(f"  {result.cpu_seconds:6.2f} s CPU {result.seconds:6.2f} s  "
                         f"{result.where:<7} {result.name}")
        lines.append("  " + ", ".join(f'"{r.name}": {r.cpu_seconds:.2f}'
                                      for r in sorted(batch.results,
                                                      key=lambda r: -r.cpu_seconds)))
    return lines


def standalone_seconds(specs):
    """Seconds to compile each job alone: a new worker process, an empty cache each."""
    from fastmlp.engine import compile_pool

    seconds = []
    for spec in specs:
        cache = tempfile.mkdtemp(prefix="fastmlp-alone-")
        try:
            seconds.append((spec.name, compile_pool.compile_alone(spec, cache).seconds))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return seconds


def model_lines(batches, alone, processes=(1, 2, 4, 8, 16)):
    """The critical path and the bound of each batch's cold compile on P processes.

    ``alone``: (name, seconds) of every missing job of every batch, in order.
    """
    from fastmlp.engine.compile_estimate import WORKER_START_SECONDS

    lines, at = ["\njobs compiled alone (a fresh process, an empty cache):"], 0
    for number, batch in enumerate(batches, 1):
        mine = alone[at:at + len(batch.missing)]
        at += len(batch.missing)
        if not mine:
            continue
        longest = max(mine, key=lambda pair: pair[1])
        total = sum(seconds for _, seconds in mine)
        serial = sum(r.seconds for r in batch.results)
        lines.append(f"batch {number}: critical path {longest[0]} {longest[1]:.1f} s; "
                     f"{total:.1f} s alone in all ({serial:.1f} s in this process)")
        for p in processes:
            # one process: what it took here; more: every worker starts, then shares
            bound = serial if p == 1 else max(longest[1], total / p) + WORKER_START_SECONDS
            lines.append(f"  P={p:<3} at least {bound:.1f} s")
    return lines


if __name__ == "__main__":
    sys.exit(main())
