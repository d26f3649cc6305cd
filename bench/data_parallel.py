"""Data-parallel training on localhost: 1 rank x 2 threads against 2 ranks x 1 thread.

    python bench/data_parallel.py [--workloads S,M,L] [--rounds 3] [--epochs 3]

For each workload (bench/workloads.py: Adam, float32) it launches, in turns,
one process training with a team of 2 threads, and ``mpiexec -n 2`` ranks
training with 1 thread each (the gradients summed over the ranks once per
step, from the compiled loop).  Each launch warms up (compiles or loads the
kernels, one epoch) and reports the median samples/s of ``--epochs``
epochs; the table gives the medians over the rounds and their ratio.  The
2-rank launch also times the all-reduce alone -- ``MPI_Allreduce`` of the
parameter count, median of 50, both ranks at once -- and reports its share
of the epoch: steps per epoch x all-reduce time / epoch time.

Needs ``pip install "fastmlp[mpi]"`` (mpiexec on PATH or beside python).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _worker(workload_name, epochs, distributed):
    import numpy as np
    from workloads import WORKLOADS

    import fastmlp as fm

    comm = None
    if distributed:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    workload = WORKLOADS[workload_name]
    X, y = workload.data()
    model = fm.Model(list(workload.sizes), seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=workload.batch_size, epochs=1,
                         seed=0, verbose=0, n_threads=1 if distributed else 2, comm=comm)
    trainer.fit(X, y)  # warm-up
    speeds = [trainer.fit(X, y)["samples_per_sec"][0] for _ in range(epochs)]
    result = {"samples_per_sec": statistics.median(speeds)}
    if comm is not None:
        from mpi4py import MPI

        buffer = np.zeros(model.n_params, dtype=np.float32)
        times = []
        for _ in range(60):
            comm.Barrier()
            start = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(time.perf_counter() - start)
        allreduce = statistics.median(times[10:])
        steps = -(-X.shape[0] // workload.batch_size)
        epoch = X.shape[0] / result["samples_per_sec"]
        result.update(allreduce_us=allreduce * 1e6, allreduce_share=steps * allreduce / epoch)
        if comm.rank != 0:
            return
    print(json.dumps(result))


def _launch(workload, epochs, distributed):
    command = [sys.executable, __file__, "--worker", workload, "--epochs", str(epochs)]
    if distributed:
        mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                               + os.environ.get("PATH", ""))
        if mpiexec is None:
            sys.exit('no mpiexec: pip install "fastmlp[mpi]"')
        command = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", *command[1:],
                   "--distributed"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="S,M,L")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.epochs, args.distributed)
        return 0
    from workloads import WORKLOADS

    print(f"{'workload':34} {'1 rank x 2 thr':>15} {'2 ranks x 1 thr':>16} {'ratio':>6} "
          f"{'all-reduce':>11} {'of epoch':>9}")
    for name in args.workloads.split(","):
        single, ranks = [], []
        for _ in range(args.rounds):  # interleaved: drift hits both alike
            single.append(_launch(name, args.epochs, False))
            ranks.append(_launch(name, args.epochs, True))
        one = statistics.median(r["samples_per_sec"] for r in single)
        two = statistics.median(r["samples_per_sec"] for r in ranks)
        allreduce = statistics.median(r["allreduce_us"] for r in ranks)
        share = statistics.median(r["allreduce_share"] for r in ranks)
        print(f"{WORKLOADS[name].label:34} {one:13,.0f}/s {two:14,.0f}/s {two / one:6.2f} "
              f"{allreduce:9,.0f}us {share:8.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
