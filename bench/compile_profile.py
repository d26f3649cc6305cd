"""Where a cold start spends its compile time: per kernel, in one fresh process.

Trains one epoch of a workload and predicts, with an empty Numba cache,
and prints the seconds of the fit and the predict, the kernels compiled as
pointers (:mod:`fastmlp.kernels.ops`, each with its time) and the Numba
dispatchers compiled on the way, with their exclusive and inclusive times
(from Numba's ``numba:compile`` events).  Usage::

    python bench/compile_profile.py [b|a|c] [--top 25]

``b``: 784-256-256-10 ReLU, Adam, batch 128, float32, all cores (the case
of ``bench/cold_start.py``); ``c`` the same in float64; ``a`` the digits
shape of the README's main job (64-256-128-10, batch 32).  Run it in a
fresh process: what is already compiled is not measured.
"""

import argparse
import collections
import os
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
    args = parser.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="fastmlp-profile-"))
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


if __name__ == "__main__":
    sys.exit(main())
