"""Per-phase profile of training: where a step's time goes, by sampling (Linux ``perf``).

    python bench/phase_profile.py [--workloads M,L] [--epochs 6] [--threads N]

For each workload (bench/workloads.py: Adam, float32) it compiles the
kernels in this process (into a fresh Numba cache directory and without the
parallel compile's worker processes, so that every compiled function can be
located), writes a ``/tmp/perf-<pid>.map`` naming
them, trains one warm-up epoch, then samples the process with ``perf
record`` while it trains ``--epochs`` epochs in one fit, and sums the
samples by phase:

* GEMM: the BLAS kernels and their packing (forward and backward products);
* optimizer: the per-element update;
* epilogues: bias, activation, batch norm, loss, softmax, accuracy;
* gather: the batch's rows gathered and prefetched;
* barrier wait: a team thread yielding at a barrier -- its spinning is
  mostly not here: the barrier is inlined into the team's passes, so it is
  counted in their lines (``team.forward``, ``team.backward``);
  ``bench/scaling.py``'s ``waited`` column times it;
* reference counts: Numba's array reference counting;
* other compiled code (row loops, bias gradients), Python, idle BLAS
  pool threads (spinning after NumPy/SciPy calls elsewhere) and the rest.

Shares are of the samples of the training process on all its threads;
the idle-BLAS line is time other threads burn, not the step's.  Needs
``perf`` (and ``perf_event_paranoid`` letting you sample your own process).
"""

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

#: (phase, pattern over the symbol) in order: the first match wins
PHASES = [
    ("GEMM", r"gemm|_incopy|_oncopy|_itcopy|_otcopy|_beta_"),
    ("idle BLAS pool threads", r"blas_thread_server"),
    ("optimizer", r"_range|update_share|advance_scalars|clip_scale|sum_of_squares"),
    ("barrier wait", r"barrier|sched_yield|spin_pause"),
    ("gather", r"gather|prefetch"),
    ("epilogues", r"forward|backward_rows|_backward|softmax|cross_entropy|squared_error|"
                  r"argmax|logistic|norm|bias|activate|loss|log"),
    ("reference counts", r"NRT_"),
    ("Python", r"^_?Py|^PyObject|gc_collect|visit_|dict|unicode|frame|tupledealloc"),
]


def _worker(workload_name, epochs, n_threads, out):
    import numpy as np
    from workloads import WORKLOADS

    import fastmlp as fm

    workload = WORKLOADS[workload_name]
    X, y = workload.data()
    model = fm.Model(list(workload.sizes), seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=n_threads)
    trainer.fit(X, y)  # compiles in this process: its functions can be located
    _write_perf_map()
    perf = subprocess.Popen(["perf", "record", "-q", "-F", "2000", "-p", str(os.getpid()),
                             "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # perf attached
    history = trainer.fit(X, y, epochs=epochs)
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=60)
    print(f"samples/s {np.median(history['samples_per_sec']):.0f}")


def _write_perf_map():
    """Name every function of the kernels compiled in this process for perf."""
    from fastmlp.kernels import inference, ops, train

    libraries = [c.library for c in ops.compiled_functions()]
    for module in (train, inference):
        for attr in dir(module):
            dispatcher = getattr(module, attr)
            if hasattr(dispatcher, "overloads"):
                libraries += [cres.library for cres in dispatcher.overloads.values()]
    entries = {}
    for library in libraries:
        module = getattr(library, "_final_module", None)  # absent when loaded from a cache
        if module is None:
            continue
        for function in module.functions:
            if function.is_declaration:
                continue
            address = library.get_pointer_to_function(function.name)
            if address:
                entries[address] = _readable(function.name)
    addresses = sorted(entries)
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as f:
        for i, address in enumerate(addresses):
            size = (addresses[i + 1] - address) if i + 1 < len(addresses) else 1 << 16
            f.write(f"{address:x} {min(size, 1 << 18):x} {entries[address]}\n")


def _readable(mangled):
    """``fastmlp.kernels.network.gather`` from a mangled name (``_ZN7fastmlp7kernels...``)."""
    if not mangled.startswith("_ZN"):
        return mangled
    names, at = [], 3
    while at < len(mangled) and mangled[at].isdigit():
        digits = re.match(r"\d+", mangled[at:]).group()
        at += len(digits)
        names.append(mangled[at:at + int(digits)])
        at += int(digits)
    return ".".join(names) or mangled


def _phases(perf_data):
    """(share per phase, [(share, symbol)] per phase) of a perf recording."""
    report = subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--sort",
                             "symbol", "--stdio"], capture_output=True, text=True).stdout
    shares, symbols = collections.Counter(), collections.defaultdict(list)
    for line in report.splitlines():
        match = re.match(r"\s*([\d.]+)%\s+\[.\]\s+(.+?)\s*$", line)
        if not match:
            continue
        share, symbol = float(match.group(1)), match.group(2)
        phase = next((name for name, pattern in PHASES if re.search(pattern, symbol)),
                     "other compiled code" if symbol.startswith("fastmlp") else "other")
        shares[phase] += share
        symbols[phase].append((share, symbol))
    return shares, symbols


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="M,L")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--top", type=int, default=0,
                        help="also list the N heaviest symbols of each phase")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.epochs, args.threads, args.out)
        return 0
    if shutil.which("perf") is None:
        sys.exit("needs Linux perf")
    for name in args.workloads.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "perf.data")
            # compiled here, not in the parallel compile's worker processes: what a
            # worker compiled is loaded from the cache, without the code that names it
            env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba"),
                       FASTMLP_COMPILE_PROCESSES="1")
            cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs),
                   "--out", out] + (["--threads", str(args.threads)] if args.threads else [])
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(done.stderr[-2000:])
            speed = done.stdout.strip().splitlines()[-1]
            shares, symbols = _phases(out)
        print(f"\n{name}: {speed} while sampled; share of the process's samples")
        for phase, share in shares.most_common():
            print(f"  {phase:26} {share:5.1f}%")
            for part, symbol in sorted(symbols[phase], reverse=True)[:args.top]:
                print(f"      {part:5.1f}% {symbol[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
