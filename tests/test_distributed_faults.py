"""A data-parallel fit never hangs: an error on one rank ends the whole MPI job.

The ranks run a plain ``python`` script under ``mpiexec -n 2`` (not
``python -m mpi4py``, which would abort on an uncaught error by itself):
one rank fails -- in a callback, or reading its rows -- while the other is
inside the compiled loop, waiting for it in the all-reduce of a batch's
gradient.  The job must end within seconds, with the failing rank's error
and its rank on stderr.  A divergence, which every rank sees alike, ends
every rank with its own DivergenceError.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("mpi4py", reason="data-parallel training needs fastmlp[mpi]")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
if MPIEXEC is None:
    pytest.skip("no mpiexec (pip install 'fastmlp[mpi]' brings MPICH's)",
                allow_module_level=True)

WORKER = r'''
import sys
import numpy as np
from mpi4py import MPI
import fastmlp as fm

comm = MPI.COMM_WORLD
case, out = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(0)
X = rng.standard_normal((20_000, 32)).astype(np.float32)
y = (X[:, 0] + X[:, 1] > 0).astype(int)


class FailOnRankOne(fm.Callback):
    chunk_batches = 5

    def on_chunk_end(self, trainer, epoch, done, total):
        if comm.rank == 1 and epoch == 1:
            raise RuntimeError("a callback failed on this rank")


model = fm.Model([32, 64, 2], seed=0)
callbacks = [FailOnRankOne()] if case == "callback" else []
if case == "reading":
    # rows read call by call from a memory map with standardisation; rank 1's
    # reading fails in the second epoch
    path = out + "/X.npy"
    if comm.rank == 0:
        np.save(path, X)
    comm.Barrier()
    X = np.load(path, mmap_mode="r")
    model = fm.Model([32, 64, 2], seed=0, preprocessing="standardize")
    calls = []

    def failing_prepare(rows, scratch=False, _prepare=model.prepare_rows):
        calls.append(1)
        if comm.rank == 1 and len(calls) > 2:
            raise OSError("reading the rows failed on this rank")
        return _prepare(rows, scratch)

    model.prepare_rows = failing_prepare
    import fastmlp._utils.validation
    fastmlp._utils.validation.INPUT_COPY_MAX_BYTES = 0  # read in place
lr = 1e30 if case == "divergence" else 1e-3
trainer = fm.Trainer(model, fm.optim.SGD(lr), batch_size=64, epochs=4, seed=0, verbose=0,
                     callbacks=callbacks, comm=comm)
try:
    trainer.fit(X, y)
except fm.DivergenceError as exc:
    print(f"rank {comm.rank}: DivergenceError: {exc}", flush=True)
    sys.exit(3)
print(f"rank {comm.rank} finished", flush=True)
'''


def _run(case, tmp_path, timeout=120):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    start = time.perf_counter()
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script), case,
                           str(tmp_path)], capture_output=True, text=True, timeout=timeout)
    return done, time.perf_counter() - start


@pytest.mark.parametrize("case, message", [
    ("callback", "RuntimeError: a callback failed on this rank"),
    ("reading", "OSError: reading the rows failed on this rank"),
])
def test_an_error_on_one_rank_ends_the_whole_job_within_seconds(tmp_path, case, message):
    shared = _shared_memory_files()
    done, seconds = _run(case, tmp_path)
    assert done.returncode != 0
    assert "fastmlp: rank 1 of 2 failed in a data-parallel fit" in done.stderr, done.stderr
    assert message in done.stderr
    assert "finished" not in done.stdout
    assert seconds < 30, f"the job took {seconds:.1f} s to end"
    # the aborted job's shared memory is not left behind in /dev/shm
    assert _shared_memory_files() <= shared


def _shared_memory_files():
    if not os.path.isdir("/dev/shm"):
        return set()
    return {name for name in os.listdir("/dev/shm") if name.startswith("mpi")}


def test_a_divergence_ends_every_rank_with_its_own_error(tmp_path):
    done, seconds = _run("divergence", tmp_path)
    assert done.returncode != 0
    for rank in (0, 1):
        assert f"rank {rank}: DivergenceError" in done.stdout, done.stdout + done.stderr
    assert "failed in a data-parallel fit" not in done.stderr  # no abort was needed
    assert seconds < 30
