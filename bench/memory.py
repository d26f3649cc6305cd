"""Memory of an L training run: peak RSS against the NumPy baseline, and growth per epoch.

    python bench/memory.py [--workload L] [--epochs 8]
    python bench/memory.py --large [...]   (data larger than memory: bench/memory_large.py)

Each engine trains in its own process; both import fastmlp (the baseline
takes its initial weights from it), so the interpreter, NumPy, SciPy and
Numba's modules are in both.  Reported per engine: RSS when ready to train
(data and model built; for fastmlp also Numba's JIT started and the kernels
loaded, by a one-epoch fit of a tiny model), the Numba runtime's share of
that, peak RSS (``ru_maxrss``), what training adds on top of "ready", and
the RSS growth from epoch 2 to the last, which must be 0.
"""

import argparse
import json
import os
import resource
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _rss_mb():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(engine, workload_name, epochs):
    import numpy as np
    from workloads import WORKLOADS

    import fastmlp as fm

    workload = WORKLOADS[workload_name]
    X, y = workload.data()
    model = fm.Model(list(workload.sizes), activation="relu", output="softmax", seed=0)
    runtime = 0.0
    if engine == "fastmlp":  # start the JIT and load the kernels, on a tiny model
        start = _rss_mb()
        tiny = fm.Model([2, 2, 2], seed=0)
        fm.Trainer(tiny, batch_size=2, epochs=1, verbose=0).fit(np.zeros((4, 2), np.float32),
                                                                np.arange(4) % 2)
        runtime = _rss_mb() - start
    before = _rss_mb()
    per_epoch = []
    if engine == "fastmlp":
        trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size,
                             epochs=1, seed=0, verbose=0)
        for _ in range(epochs):
            trainer.fit(X, y)
            per_epoch.append(_rss_mb())
    else:
        from baseline_numpy import NumpyMLP
        net = NumpyMLP(model.weights, model.biases, lr=1e-3)
        del model
        rng = np.random.default_rng(0)
        for _ in range(epochs):
            net.train_epoch(X, y, workload.batch_size, rng.permutation(len(X)))
            per_epoch.append(_rss_mb())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before": before, "runtime": runtime, "peak": peak,
                      "per_epoch": per_epoch}))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--large" in argv:
        from memory_large import main as large

        large([a for a in argv if a != "--large"])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="L")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.workload, args.epochs)
        return 0
    print(f"{'engine':8} {'ready MB':>9} {'(Numba JIT)':>12} {'peak MB':>8} "
          f"{'training adds':>14} {'growth epoch 2..last':>21}")
    for engine in ("fastmlp", "numpy"):
        out = subprocess.run([sys.executable, __file__, "--worker", engine, "--workload",
                              args.workload, "--epochs", str(args.epochs)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        growth = r["per_epoch"][-1] - r["per_epoch"][min(1, len(r["per_epoch"]) - 1)]
        print(f"{engine:8} {r['before']:9.1f} {r['runtime']:12.1f} {r['peak']:8.1f} "
              f"{r['peak'] - r['before']:14.1f} {growth:21.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
