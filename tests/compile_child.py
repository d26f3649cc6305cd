"""Runs in a fresh process for tests/test_parallel_compile.py (not a test module).

    python tests/compile_child.py OUT_DIR [--comm]

Trains a small model two epochs and predicts, then writes into OUT_DIR what
it ended with (``params.npy``, ``predicted.npy``) and how its kernels
compiled (``batches.json``: one record per compile batch of
:func:`fastmlp.engine.compile_pool.history`).  The ``fastmlp`` logger's
DEBUG messages go to stderr.  ``--comm``: a data-parallel fit over
``MPI.COMM_WORLD`` (under ``mpiexec``); each rank writes ``rank<r>-`` files.
"""

import json
import logging
import os
import sys

import numpy as np

import fastmlp as fm
from fastmlp.engine import compile_pool


def main(out, distributed=False):
    handler = logging.StreamHandler(sys.stderr)
    logger = logging.getLogger("fastmlp")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    comm, prefix = None, ""
    if distributed:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        prefix = f"rank{comm.Get_rank()}-"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    model = fm.Model([5, 8, 3], activation="relu", dtype="float64", seed=0)
    fm.Trainer(model, fm.optim.Adam(0.01), batch_size=16, epochs=2, seed=0, verbose=0,
               comm=comm).fit(X, y)
    predicted = model.predict(X)
    np.save(os.path.join(out, prefix + "params.npy"), model.params)
    np.save(os.path.join(out, prefix + "predicted.npy"), predicted)
    batches = [{"jobs": [spec.name for spec in report.jobs],
                "missing": [spec.name for spec in report.missing],
                "processes": report.processes, "estimate": report.estimate,
                "seconds": report.seconds, "in_process_reason": report.in_process_reason,
                "results": [[r.name, r.where, r.ok] for r in report.results]}
               for report in compile_pool.history()]
    with open(os.path.join(out, prefix + "batches.json"), "w") as f:
        json.dump(batches, f)


if __name__ == "__main__":
    main(sys.argv[1], "--comm" in sys.argv[2:])
