"""Training throughput of fastmlp against the NumPy baseline (and peers), side by side.

    python bench/compare.py                      # everything; 5 rounds
    python bench/compare.py --sections training --workloads S --rounds 3

Sections: ``training`` (samples/s per engine, ratios, GEMM ceiling),
``threads`` (fastmlp on all cores vs one, M and L, beside the bound's own
speed-up: how far the products and the update scale at their fastest),
``float64`` (float64 vs float32 training time, L), ``inference``
(``predict`` on a large batch vs a NumPy forward pass), ``startup`` (wall
time of a warm-cache ``fastmlp train --epochs 1``, an upper bound of the
time to its first epoch).  A summary checks each against the performance
targets.

Every measurement runs in its own process (so one engine's thread pools and
allocator state never affect another), engines are interleaved within each
round and their order alternates between rounds, and each process compiles
or warms up with one untimed epoch before timing ``--epochs`` epochs.  The
table shows medians over rounds of each process's median epoch throughput,
and ratios measured in the same run, which is what to quote on a shared,
noisy machine.

The GEMM ceiling is the throughput training would reach if it did nothing
but its matrix products, each at the speed of the fastest BLAS on the
machine for that exact shape and transposition -- the better of SciPy's
(the one Numba's ``np.dot`` calls) and NumPy's (``np.matmul``: its own
OpenBLAS build; fastmlp's kernels call the newer of the two), both on every
core -- measured in the same run; "of ceiling" is achieved / ceiling.  The
``bound`` row is what no implementation that multiplies with
this machine's BLAS and updates the parameters in a pass of their own can
beat: every product at its fastest (the ceiling's call, or split over the
cores as fastmlp's team splits it -- each core its share on single-threaded
BLAS, timed without the barrier that ends it), then the fastest Adam update
of the same parameters available here (fastmlp's or PyTorch's, timed alone,
each call's fixed cost taken off), before any epilogue, gather or barrier;
the products at their fastest sample and from the fastest process of the
rounds, so that a slow moment of a shared machine does not lower the
bound.  The inference section also times the NumPy forward pass's matrix
products alone: the most any predict can gain on it without a faster GEMM.  The
targets summary gives, for each target missed, the most reachable value (the
ratio with that bound in fastmlp's place) and says when it is below the
goal: out of reach on this machine, shown in the same run.

``--jax-python`` runs the JAX peer with another interpreter (JAX kept in its
own environment).

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
def _fastmlp_epochs(workload, epochs, threads, dtype="float32"):
    import fastmlp as fm

    X, y = workload.data(dtype=dtype)
    model = fm.Model(list(workload.sizes), activation="relu", output="softmax", seed=0,
                     dtype=dtype)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=threads)
    trainer.fit(X, y)  # compile / load from cache, warm caches
    times = []
    for _ in range(epochs):
        hist = trainer.fit(X, y)
        times.append(hist["time"][0])
    return times


def _numpy_epochs(workload, epochs, threads):
    from baseline_numpy import NumpyMLP

    import fastmlp as fm

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


#: rows of the one large batch given to predict
PREDICT_ROWS = {"S": 262144, "M": 32768, "L": 8192}


def _predict_seconds(engine, workload, epochs, threads):
    """Seconds of ``epochs`` timed predictions of one large batch (after one warm-up)."""
    import fastmlp as fm

    rng = np.random.default_rng(0)
    X = rng.standard_normal((PREDICT_ROWS[workload.name], workload.sizes[0])).astype(np.float32)
    model = fm.Model(list(workload.sizes), activation="relu", output="softmax", seed=0)
    if engine == "fastmlp":
        run = model.predict
    else:
        from baseline_numpy import numpy_forward
        W, b = [w.copy() for w in model.weights], [v.copy() for v in model.biases]

        def run(X):
            return numpy_forward(W, b, X)
    times = []
    with fm.threads(threads):
        run(X)
        for _ in range(epochs):
            start = time.perf_counter()
            run(X)
            times.append(time.perf_counter() - start)
    return X.shape[0], times


def _products_seconds(workload, threads, team_split):
    """Seconds per training step spent in matrix products, each the fastest way measured:
    one multi-threaded call of SciPy's or NumPy's BLAS -- and, with ``team_split``, the
    product split over the cores as fastmlp's thread team splits it, each core its share on
    single-threaded BLAS, without the barrier that ends it (``bench/gemm_split.py``).

    Without ``team_split`` (the GEMM ceiling) each way counts its median sample; with it (the
    bound's products) its fastest, so that a slow moment of the machine never lowers the
    bound."""
    from gemm import time_matmul
    from gemm_split import team_seconds

    import fastmlp as fm

    cores = threads or os.cpu_count()
    total = 0.0
    with fm.threads(threads):
        for kind, m, k, n in workload.matmul_shapes():
            ways = [time_matmul(kind, m, k, n, blas="scipy", fastest=team_split),
                    time_matmul(kind, m, k, n, blas="numpy", fastest=team_split)]
            if team_split:
                ways.append(team_seconds(kind, m, k, n, cores, fastest=True))
            total += min(ways)
    return total


def _gemm_ceiling(workload, threads):
    """Seconds per training step spent in matrix products, each at the faster BLAS."""
    return _products_seconds(workload, threads, team_split=False)


def _fastest_products(workload, threads):
    """Seconds per training step of the matrix products, each run the fastest way measured
    here, the team's split included -- optimistic on purpose: a bound must not be beaten."""
    return _products_seconds(workload, threads, team_split=True)


def _n_params(workload):
    return sum(a * b + b for a, b in zip(workload.sizes[:-1], workload.sizes[1:]))


def _step_seconds(step, samples=9, target=0.05):
    """Median seconds of one call of ``step`` (repeated to last ~``target`` s per sample)."""
    step()
    start = time.perf_counter()
    step()
    reps = max(1, int(target / max(time.perf_counter() - start, 1e-7)))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(reps):
            step()
        times.append((time.perf_counter() - start) / reps)
    return float(np.median(times))


def _update_seconds(workload, threads):
    """Seconds of the fastest Adam update of the workload's parameters available here.

    fastmlp's (``Optimizer.step``, every thread) and, when installed,
    PyTorch's (``torch.optim.Adam``, fused, else foreach) on one flat float32
    buffer; each call's fixed cost -- the same call on 16 parameters -- is
    taken off, so that what is left is the update's own work, the part no
    implementation can skip: a lower estimate.  Both calls are timed at their
    median sample (and the rounds keep the median process): a difference of
    fastest ones cancelled S's update (9,610 parameters, ~1-3 us) altogether.
    """
    import fastmlp as fm

    rng = np.random.default_rng(0)

    def fastmlp_step(size):
        params = rng.standard_normal(size).astype(np.float32)
        grad = rng.standard_normal(size).astype(np.float32) * 1e-3
        opt = fm.optim.Adam(1e-3)
        return lambda: opt.step(params, grad)

    def torch_step(size):
        import torch

        param = torch.nn.Parameter(torch.from_numpy(rng.standard_normal(size).astype(np.float32)))
        param.grad = torch.from_numpy(rng.standard_normal(size).astype(np.float32) * 1e-3)
        try:
            opt = torch.optim.Adam([param], lr=1e-3, fused=True)
            opt.step()
        except (RuntimeError, TypeError):  # no fused CPU Adam in this PyTorch
            opt = torch.optim.Adam([param], lr=1e-3, foreach=True)
        return opt.step

    makers = [fastmlp_step]
    if "torch" in _available_peers():
        import torch

        torch.set_num_threads(threads or os.cpu_count())
        makers.append(torch_step)
    n = _n_params(workload)
    with fm.threads(threads):
        return min(max(_step_seconds(make(n)) - _step_seconds(make(16)), 1e-9)
                   for make in makers)


def _forward_gemm_seconds(workload, epochs, threads):
    """Seconds of the NumPy forward pass's matrix products alone on the predict batch."""
    import fastmlp as fm

    rng = np.random.default_rng(0)
    rows = PREDICT_ROWS[workload.name]
    sizes = workload.sizes
    Ws = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    ins = [rng.standard_normal((rows, a)).astype(np.float32) for a in sizes[:-1]]
    outs = [np.empty((rows, b), np.float32) for b in sizes[1:]]

    def run():
        for a, W, out in zip(ins, Ws, outs):
            np.matmul(a, W, out=out)
    times = []
    with fm.threads(threads):
        run()
        for _ in range(epochs):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return rows, times


def _run_worker(args):
    workload = WORKLOADS[args.workload]
    if args.worker == "gemm":
        step = _gemm_ceiling(workload, args.threads)
        print(json.dumps({"samples_per_sec": [workload.batch_size / step]}))
        return
    if args.worker == "products":
        step = _fastest_products(workload, args.threads)
        print(json.dumps({"samples_per_sec": [workload.batch_size / step]}))
        return
    if args.worker == "update":
        step = _update_seconds(workload, args.threads)
        print(json.dumps({"samples_per_sec": [workload.batch_size / step]}))
        return
    if args.worker == "gemm-predict":
        rows, times = _forward_gemm_seconds(workload, args.epochs, args.threads)
        print(json.dumps({"samples_per_sec": [rows / t for t in times]}))
        return
    if args.worker.endswith("-predict"):
        rows, times = _predict_seconds(args.worker[:-len("-predict")], workload, args.epochs,
                                       args.threads)
        print(json.dumps({"samples_per_sec": [rows / t for t in times]}))
        return
    if args.worker == "fastmlp":
        times = _fastmlp_epochs(workload, args.epochs, args.threads, args.dtype)
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


#: The interpreter of each engine (``--jax-python`` may give JAX its own).
PYTHON = {}


def _measure(engine, workload, epochs, threads, dtype="float32"):
    cmd = [PYTHON.get(engine, sys.executable), os.path.abspath(__file__), "--worker", engine,
           "--workload", workload, "--epochs", str(epochs), "--dtype", dtype]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine} on {workload} failed:\n{proc.stderr[-2000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    return float(np.median(json.loads(line)["samples_per_sec"]))


#: The bound's products (:func:`_bound`) come from the fastest process over the rounds
#: (and their fastest sample within one), so that a slow moment of a shared machine does
#: not lower the bound.  The update stays at its median: it is a difference of two timed
#: calls, and on S (~1-3 us of work) the fastest of the rounds' differences was 0.
FASTEST = ("products",)


def _rounds(jobs, rounds, label):
    """Run (key, engine, workload, epochs, threads, dtype) jobs interleaved; per key the
    median over the rounds, or the fastest for the bound's products (:data:`FASTEST`)."""
    results = {job[0]: [] for job in jobs}
    engines = {job[0]: job[1] for job in jobs}
    for r in range(rounds):
        for key, *spec in (jobs if r % 2 == 0 else jobs[::-1]):
            results[key].append(_measure(*spec))
        print(f"{label}: round {r + 1}/{rounds} done", file=sys.stderr)
    return {key: float(np.max(v) if engines[key] in FASTEST else np.median(v))
            for key, v in results.items()}


#: What the training section measures besides the engines, as samples/s: the GEMM
#: ceiling, the products at their fastest (team split included), the fastest Adam update.
LIMITS = ["gemm", "products", "update"]


def training(workloads, engines, rounds, epochs, threads):
    jobs = [((w, e), e, w, epochs, threads, "float32") for w in workloads
            for e in engines + LIMITS]
    med = _rounds(jobs, rounds, "training")
    result = {w: {e: med[(w, e)] for e in engines + LIMITS} for w in workloads}
    for res in result.values():
        res["bound"] = _bound(res)
    return result


def _bound(res):
    """Samples/s of the products at their fastest followed by the fastest update: the most
    an implementation that multiplies with this machine's BLAS and updates the parameters
    in a pass of their own can reach (the epilogues, gathers and barriers not even counted)."""
    return 1.0 / (1.0 / res["products"] + 1.0 / res["update"])


def format_training(medians, engines):
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
        batch = WORKLOADS[w].batch_size
        lines.append(f"{'':34} {'bound':8} {res['bound']:12,.0f} "
                     f"{res['bound'] / res['numpy']:8.2f}x {res['bound'] / res['gemm']:10.1%}"
                     f"   (products at their fastest {batch / res['products'] * 1e6:,.0f} us, "
                     f"then the fastest Adam update {batch / res['update'] * 1e6:,.0f} us "
                     f"a step)")
    return "\n".join(lines)


def threads_scaling(rounds, epochs, threads):
    """fastmlp on one thread and on ``threads`` (all cores), M and L, and the bound
    (:func:`_bound`) on each: how far the work itself scales, at its fastest."""
    many = threads or os.cpu_count()
    engines = ["fastmlp", "products", "update"]
    jobs = [((w, e, n), e, w, epochs, n, "float32") for w in ("M", "L") for n in (1, many)
            for e in engines]
    med = _rounds(jobs, rounds, "threads")
    result = {}
    for w in ("M", "L"):
        one = {e: med[(w, e, 1)] for e in engines}
        all_cores = {e: med[(w, e, many)] for e in engines}
        result[w] = {"threads": many, "one": one["fastmlp"], "many": all_cores["fastmlp"],
                     "bound_one": _bound(one), "bound_many": _bound(all_cores)}
    return result


def float64_cost(rounds, epochs, threads):
    jobs = [(dt, "fastmlp", "L", epochs, threads, dt) for dt in ("float32", "float64")]
    med = _rounds(jobs, rounds, "float64")
    return med["float32"], med["float64"]


def inference(rounds, epochs, threads):
    jobs = [((w, e), f"{e}-predict", w, epochs, threads, "float32") for w in ("S", "M", "L")
            for e in ("fastmlp", "numpy", "gemm")]
    med = _rounds(jobs, rounds, "inference")
    return {w: (med[(w, "fastmlp")], med[(w, "numpy")], med[(w, "gemm")])
            for w in ("S", "M", "L")}


def startup(rounds):
    cmd = [sys.executable, "-m", "fastmlp", "train", "--epochs", "1", "--quiet"]
    subprocess.run(cmd, capture_output=True, check=True)  # warm the cache
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


#: The performance targets of training (issue "Performance II"): the least
#: ratio of fastmlp's samples/s to each engine's (NumPy, peers), and the
#: least share of the GEMM ceiling, per workload.
TARGETS = {
    "S": {"numpy": 5.0, "jax": 1.5, "ceiling": 0.70},
    "M": {"numpy": 1.9, "jax": 1.25, "ceiling": 0.90},
    "L": {"numpy": 1.2, "jax": 1.05, "torch": 1.3, "ceiling": 0.95},
}


def _training_checks(med, workloads):
    """(name, value, met, reachable) of every training target whose engines were measured.

    ``reachable``: the same ratio with fastmlp replaced by the bound (:func:`_bound`) --
    below the goal, the target is out of reach of any implementation of that kind here.
    """
    checks = []
    for w in workloads:
        res = med[w]
        for other, goal in TARGETS[w].items():
            if other == "ceiling":
                name = f"{w}: >= {goal:.0%} of the GEMM ceiling"
                reference = res["gemm"]
            elif other in res:
                name = f"{w}: fastmlp/{other} >= {goal}"
                reference = res[other]
            else:
                continue
            value = res["fastmlp"] / reference
            checks.append((name, value, value >= goal, res["bound"] / reference))
    return checks


def _threads_checks(res):
    """(name, value, met, reachable) of the speed-up targets (:func:`threads_scaling`'s result).

    ``reachable``: the bound's own speed-up -- what an implementation running at the
    bound on one core and on all of them shows; below the goal, the products and the
    update themselves do not scale that far here.
    """
    checks = []
    for w, r in res.items():
        speedup = r["many"] / r["one"]
        checks.append((f"{w}: {r['threads']} threads >= 1.85x one thread", speedup,
                       speedup >= 1.85, r["bound_many"] / r["bound_one"]))
    return checks


def _goal(name):
    """The number a target's name states (its goal), e.g. 1.3 of "L: fastmlp/torch >= 1.3"."""
    text = name.split(">=")[-1].split()[0].rstrip("x")
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="training,threads,float64,inference,startup")
    parser.add_argument("--workloads", default="S,M,L", help="for the training section")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per process")
    parser.add_argument("--threads", type=int, default=None, help="default: all cores")
    parser.add_argument("--no-peers", action="store_true",
                        help="only fastmlp and the NumPy baseline")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--jax-python", help="interpreter with JAX installed (default: this one)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _run_worker(args)
        return 0
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}; valid: {', '.join(WORKLOADS)}")
    peers = [] if args.no_peers else _available_peers()
    if args.jax_python and not args.no_peers:
        PYTHON["jax"] = args.jax_python
        peers = [p for p in PEER_ENGINES if p in peers or p == "jax"]
    engines = list(CORE_ENGINES) + peers
    print(f"engines: {', '.join(engines)}; {args.rounds} rounds x {args.epochs} timed epochs; "
          f"threads: {args.threads or os.cpu_count()}", file=sys.stderr)
    report, checks = {}, []
    if "training" in sections:
        med = training(workloads, engines, args.rounds, args.epochs, args.threads)
        report["training"] = med
        print(format_training(med, engines) + "\n")
        checks += _training_checks(med, workloads)
    if "threads" in sections:
        res = threads_scaling(args.rounds, args.epochs, args.threads)
        report["threads"] = res
        for w, r in res.items():
            print(f"threads  {w}: 1 thread {r['one']:,.0f}/s, {r['threads']} threads "
                  f"{r['many']:,.0f}/s, speed-up {r['many'] / r['one']:.2f}x; the bound "
                  f"{r['bound_one']:,.0f}/s and {r['bound_many']:,.0f}/s, speed-up "
                  f"{r['bound_many'] / r['bound_one']:.2f}x")
        checks += _threads_checks(res)
        print()
    if "float64" in sections:
        f32, f64 = float64_cost(args.rounds, args.epochs, args.threads)
        report["float64"] = (f32, f64)
        print(f"float64  L: float32 {f32:,.0f}/s, float64 {f64:,.0f}/s, "
              f"time ratio {f32 / f64:.2f}\n")
        checks.append(("L: float64 time <= 2.2x float32", f32 / f64, f32 / f64 <= 2.2, None))
    if "inference" in sections:
        res = inference(args.rounds, args.epochs, args.threads)
        report["inference"] = res
        for w, (ours, base, gemm) in res.items():
            print(f"predict  {w} ({PREDICT_ROWS[w]} rows): fastmlp {ours:,.0f}/s, NumPy forward "
                  f"{base:,.0f}/s, ratio {ours / base:.2f}x; its GEMMs alone {gemm:,.0f}/s "
                  f"(the most without a faster GEMM: {gemm / base:.2f}x)")
            if w in ("S", "M"):
                checks.append((f"{w}: predict >= 1.5x NumPy forward", ours / base,
                               ours / base >= 1.5, gemm / base))
        print()
    if "startup" in sections:
        seconds = startup(args.rounds)
        report["startup"] = seconds
        print(f"startup  warm-cache `fastmlp train --epochs 1`: {seconds:.2f} s wall\n")
        checks.append(("warm start to first epoch <= 2 s", seconds, seconds <= 2.0, None))
    if checks:
        print("targets")
        for name, value, ok, most in checks:
            reach = ""
            if not ok and most is not None:
                reach = (f"  the most reachable: {most:.2f}" + (" -- out of reach here"
                         if most < _goal(name) else ""))
            print(f"  {'met ' if ok else 'MISS'}  {name:40} ({value:.2f}){reach}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
