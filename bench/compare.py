"""Training throughput of fastmlp against the NumPy baseline (and peers), side by side.

    python bench/compare.py                      # S, M, L; 5 rounds
    python bench/compare.py --workloads S --rounds 3 --threads 1

Every measurement runs in its own process (so one engine's thread pools and
allocator state never affect another), engines are interleaved within each
round and their order alternates between rounds, and each process compiles
or warms up with one untimed epoch before timing ``--epochs`` epochs.  The
table shows medians over rounds of each process's median epoch throughput,
and ratios measured in the same run, which is what to quote on a shared,
noisy machine.

The GEMM ceiling is the throughput training would reach if it did nothing
but its matrix products, each at the speed SciPy's BLAS (the one fastmlp
calls) achieves for that exact shape and transposition, measured in the same
run; "of ceiling" is achieved / ceiling.

scikit-learn, PyTorch and JAX columns appear when those packages are
installed; each is written in its own fastest idiomatic form (see
``bench/peers.py``).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import WORKLOADS  # noqa: E402

CORE_ENGINES = ("fastmlp", "numpy")
PEER_ENGINES = ("sklearn", "torch", "jax")


# ----------------------------------------------------------------- workers
def _fastmlp_epochs(workload, epochs, threads):
    import fastmlp as fm

    X, y = workload.data()
    model = fm.Model(list(workload.sizes), activation="relu", output="softmax", seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=threads)
    trainer.fit(X, y)  # compile / load from cache, warm caches
    times = []
    for _ in range(epochs):
        hist = trainer.fit(X, y)
        times.append(hist["time"][0])
    return times


def _numpy_epochs(workload, epochs, threads):
    import fastmlp as fm
    from baseline_numpy import NumpyMLP

    X, y = workload.data()
    model = fm.Model(list(workload.sizes), activation="relu", output="softmax", seed=0)
    net = NumpyMLP(model.weights, model.biases, lr=1e-3)
    rng = np.random.default_rng(0)
    with fm.threads(threads):
        net.train_epoch(X, y, workload.batch_size, rng.permutation(len(X)))
        times = []
        for _ in range(epochs):
            order = rng.permutation(len(X))
            start = time.perf_counter()
            net.train_epoch(X, y, workload.batch_size, order)
            times.append(time.perf_counter() - start)
    return times


def _gemm_ceiling(workload, threads):
    """Seconds per training step spent in matrix products at BLAS speed."""
    import fastmlp as fm
    from gemm import time_matmul

    total = 0.0
    with fm.threads(threads):
        for kind, m, k, n in workload.matmul_shapes():
            total += time_matmul(kind, m, k, n)
    return total


def _run_worker(args):
    workload = WORKLOADS[args.workload]
    if args.worker == "gemm":
        step = _gemm_ceiling(workload, args.threads)
        print(json.dumps({"samples_per_sec": [workload.batch_size / step]}))
        return
    if args.worker == "fastmlp":
        times = _fastmlp_epochs(workload, args.epochs, args.threads)
    elif args.worker == "numpy":
        times = _numpy_epochs(workload, args.epochs, args.threads)
    else:
        from peers import PEERS
        times = PEERS[args.worker](workload, args.epochs, args.threads)
    print(json.dumps({"samples_per_sec": [workload.n_samples / t for t in times]}))


# ----------------------------------------------------------------- driver
def _available_peers():
    import importlib.util
    modules = {"sklearn": "sklearn", "torch": "torch", "jax": "jax"}
    return [p for p in PEER_ENGINES if importlib.util.find_spec(modules[p]) is not None]


def _measure(engine, workload, epochs, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine, "--workload", workload,
           "--epochs", str(epochs)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} on {workload} failed:\n{proc.stderr[-2000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    return float(np.median(json.loads(line)["samples_per_sec"]))


def compare(workloads, engines, rounds, epochs, threads, out=sys.stdout):
    """Run the rounds; returns {workload: {engine: median samples/s}}."""
    results = {w: {e: [] for e in engines + ["gemm"]} for w in workloads}
    for r in range(rounds):
        order = engines if r % 2 == 0 else engines[::-1]
        for w in workloads:
            for engine in order + ["gemm"]:
                results[w][engine].append(_measure(engine, w, epochs, threads))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    return {w: {e: float(np.median(v)) for e, v in res.items()} for w, res in results.items()}


def format_table(medians, engines):
    lines = []
    head = f"{'workload':34} {'engine':8} {'samples/s':>12} {'vs NumPy':>9} {'of ceiling':>11}"
    lines += [head, "-" * len(head)]
    for w, res in medians.items():
        label = WORKLOADS[w].label
        for engine in engines:
            rate = res[engine]
            lines.append(f"{label:34} {engine:8} {rate:12,.0f} {rate / res['numpy']:8.2f}x "
                         f"{rate / res['gemm']:10.0%}")
            label = ""
        lines.append(f"{'':34} {'ceiling':8} {res['gemm']:12,.0f} "
                     f"{res['gemm'] / res['numpy']:8.2f}x {'':>11}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="S,M,L")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per process")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--no-peers", action="store_true",
                        help="only fastmlp and the NumPy baseline")
    parser.add_argument("--json", help="also write the medians to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _run_worker(args)
        return 0
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; valid: {', '.join(WORKLOADS)}")
    engines = list(CORE_ENGINES) + ([] if args.no_peers else _available_peers())
    print(f"engines: {', '.join(engines)}; {args.rounds} rounds x {args.epochs} timed epochs; "
          f"threads: {args.threads or os.cpu_count()}", file=sys.stderr)
    medians = compare(workloads, engines, args.rounds, args.epochs, args.threads)
    print(format_table(medians, engines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(medians, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
