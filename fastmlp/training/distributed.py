"""Data-parallel training over MPI: the ranks of a fit and what they must agree on.

Every rank calls :meth:`fastmlp.Trainer.fit` with the same arguments and
the same data (in memory, or the same memory-mapped file, of which each
rank reads only its rows).  The epoch's order is the same everywhere; each
rank computes the gradient of its share of every batch, and the compiled
loop sums the shares over the ranks once per step
(:mod:`fastmlp.kernels.collective`) before every rank applies the same
step.  This module holds the communicator's side of it: the handles the
compiled loop takes, the checks that the ranks agree (the same data shape,
model, seed and settings at the start of a fit, the same parameters after
every epoch), and the few collectives Python makes (the epoch's loss sums,
rank 0's validation figures, its seeds).

A mistake must never hang the job: every check gathers the values of all
ranks first, so that all of them see the disagreement and raise the same
error.  mpi4py is imported only here, and only when a communicator is given
(``pip install "fastmlp[mpi]"``).
"""

import contextlib
import ctypes
import ctypes.util
import os
import sys
import traceback
import zlib
from collections import namedtuple

import numpy as np

from ..exceptions import DivergenceError, RankMismatchError
from ..kernels import collective as _kc

__all__ = ["Ranks", "NodeGroup", "RankMismatchError", "checksum", "distributed_refusal",
           "fit_facts", "minimize_share", "ObjectiveRows"]


class NodeGroup:
    """Ranks of an MPI job on one machine: ``rank`` and ``size`` among them,
    :meth:`allgather` and :meth:`barrier`."""

    def __init__(self, comm):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()

    def allgather(self, value):
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        return self.comm.allgather(value)

    def barrier(self):
        """Wait until every rank of the group is here."""
        self.comm.Barrier()


def checksum(array):
    """CRC-32 of an array's bytes (parameters, targets): cheap and exact."""
    return zlib.crc32(np.ascontiguousarray(array).view(np.uint8))


class Ranks:
    """The processes of a data-parallel fit, seen from one of them.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        An intracommunicator; every rank of it trains.

    Attributes
    ----------
    rank, size : int
    handles : ndarray (MPI_SIZE,) int64
        What the compiled loop calls ``MPI_Allreduce`` with (zeros for one
        rank: it never calls).
    """

    def __init__(self, comm):
        try:
            from mpi4py import MPI
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError("data-parallel training needs mpi4py and an MPI library: "
                              'pip install "fastmlp[mpi]"') from exc
        if not isinstance(comm, MPI.Intracomm):
            raise TypeError(f"comm must be an mpi4py intracommunicator (MPI.COMM_WORLD, or "
                            f"one made from it), got {type(comm).__name__}")
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self._node = None
        self.handles = np.zeros(_kc.MPI_SIZE, dtype=np.int64)
        if self.size > 1:
            self.handles[_kc.MPI_ALLREDUCE] = _allreduce_address()
            for slot, handle in ((_kc.MPI_COMM, comm), (_kc.MPI_DOUBLE, MPI.DOUBLE),
                                 (_kc.MPI_FLOAT, MPI.FLOAT), (_kc.MPI_SUM, MPI.SUM)):
                self.handles[slot] = _signed(handle.handle)
            self.handles[_kc.MPI_IN_PLACE] = _signed(int(MPI.IN_PLACE))
            self.handles[_kc.MPI_RANK] = self.rank

    def __repr__(self):
        return f"Ranks(rank {self.rank} of {self.size})"

    def node_group(self):
        """The ranks of this fit on this machine, which share its compile cache: a
        :class:`NodeGroup` (:func:`fastmlp.engine.compile_pool.batches`).

        Made on first use, by every rank at once (MPI's ``Split_type``).
        """
        if self._node is None:
            from mpi4py import MPI

            self._node = NodeGroup(self.comm.Split_type(MPI.COMM_TYPE_SHARED))
        return self._node

    # ------------------------------------------------------------ collectives
    def sum(self, values):
        """``values`` (a float64 array) summed over the ranks, a new array on every rank."""
        values = np.ascontiguousarray(values, dtype=np.float64)
        if self.size == 1:
            return values.copy()
        from mpi4py import MPI

        out = np.empty_like(values)
        self.comm.Allreduce(values, out, op=MPI.SUM)
        return out

    def sum_into(self, loss, grad):
        """Data-parallel L-BFGS: ``loss`` and ``grad`` (in place) summed over the ranks, in
        one all-reduce; returns the summed loss."""
        if self.size == 1:
            return loss
        summed = self.sum(np.concatenate(([loss], grad)))
        grad[...] = summed[1:]
        return float(summed[0])

    def from_root(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        return value if self.size == 1 else self.comm.bcast(value, root=0)

    def share(self, n):
        """Bounds ``(lo, hi)`` of this rank's contiguous share of ``n`` items -- the split
        of the compiled loop (``kernels.shares.share``, which has no Python entry)."""
        return n * self.rank // self.size, n * (self.rank + 1) // self.size

    def share_positions(self, n_rows, batch_size):
        """Positions, within ``n_rows`` consecutive rows cut in batches of ``batch_size``,
        of this rank's share of every batch -- the rows its compiled loop reads."""
        positions = []
        for start in range(0, n_rows, batch_size):
            lo, hi = self.share(min(batch_size, n_rows - start))
            positions.append(np.arange(start + lo, start + hi))
        return np.concatenate(positions) if positions else np.empty(0, dtype=np.int64)

    # ------------------------------------------------------------ agreement
    def check_same(self, facts, when):
        """Raise :class:`RankMismatchError` on every rank unless all ranks have the same
        ``facts`` (a dict of short, comparable values); ``when`` goes in the message."""
        everyone = [facts] if self.size == 1 else self.comm.allgather(facts)
        problems = []
        for key in facts:
            values = [f.get(key) for f in everyone]
            if any(v != values[0] for v in values):
                ranks = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
                problems.append(f"{key} ({ranks})")
        if problems:
            raise RankMismatchError(
                f"the {self.size} ranks disagree {when}: " + "; ".join(problems)
                + ". Every rank must call fit with the same data, model, seed and settings.")

    @contextlib.contextmanager
    def failing_together(self, what):
        """Run the block on every rank; if it raises on any, raise on all of them.

        The ranks that failed raise their own error; the others a
        :class:`RankMismatchError` naming the rank that failed and why.
        """
        error = None
        try:
            yield
        except (ValueError, TypeError) as exc:
            error = exc
        if self.size > 1:
            reports = self.comm.allgather(None if error is None else
                                          f"{type(error).__name__}: {error}")
            failed = [(rank, report) for rank, report in enumerate(reports) if report]
            if failed and error is None:
                rank, report = failed[0]
                raise RankMismatchError(f"rank {rank} failed {what}: {report}")
        if error is not None:
            error.raised_on_every_rank = True  # the others raise with it: no need to abort
            raise error

    def check_shares(self, n_rows, batch_size, batch_norm):
        """Batch normalisation sums its statistics over the ranks in every batch, so every
        rank needs a row of every batch: raise ValueError (on every rank alike) if not."""
        if not batch_norm or self.size == 1:
            return
        batch = n_rows if batch_size is None else min(batch_size, n_rows)
        last = n_rows % batch or batch
        if min(batch, last) < self.size:  # the same on every rank (after check_same)
            raise _on_every_rank(ValueError(
                f"with batch normalisation every rank needs a row of every batch, but "
                f"batch_size={batch_size} on {n_rows} samples leaves a batch of "
                f"{min(batch, last)} for {self.size} ranks; choose another batch_size"))

    @contextlib.contextmanager
    def ending_the_job_on_failure(self):
        """Run a fit; an error that escapes it on this rank alone ends the whole job.

        The other ranks would otherwise wait for this one in their next
        collective (the all-reduce of a batch's gradient) forever.  The
        error is printed to stderr with this rank's number, then
        ``comm.Abort`` stops every process of the job (mpiexec returns the
        exit code 1).  Errors that every rank raises together -- a
        divergence (the loss is summed over the ranks before it is checked),
        a :class:`RankMismatchError`, bad input (checked together, marked
        ``raised_on_every_rank``) -- are raised as they are.  An aborted
        MPICH job leaves its shared-memory files (``/dev/shm/mpich_shm_*``)
        behind: this rank unlinks those it maps before it aborts (the memory
        lives on until the processes end).
        """
        try:
            yield
        except (DivergenceError, RankMismatchError):
            raise
        except BaseException as exc:
            if self.size == 1 or getattr(exc, "raised_on_every_rank", False):
                raise
            print(f"fastmlp: rank {self.rank} of {self.size} failed in a data-parallel fit: "
                  f"{type(exc).__name__}: {exc}\n"
                  + "".join(traceback.format_exception(exc)).rstrip()
                  + "\nfastmlp: ending the whole job (comm.Abort) so that the other ranks "
                  "do not wait for this one", file=sys.stderr, flush=True)
            _unlink_shared_memory_files()
            self.comm.Abort(1)
            raise  # (Abort does not return)

    def check_parameters(self, params, when):
        """Fail loudly if the ranks' parameters are no longer bit-identical."""
        self.check_same({"parameter checksum": checksum(params)}, when)


def _on_every_rank(error):
    """``error``, marked as one that every rank raises alike (see
    :meth:`Ranks.ending_the_job_on_failure`)."""
    error.raised_on_every_rank = True
    return error


def _unlink_shared_memory_files():
    """Unlink the MPI library's shared-memory files this process maps (Linux ``/dev/shm``):
    an aborted job would leave them behind."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/dev/shm/mpi" in line}
    except OSError:
        return
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _signed(handle):
    """An MPI handle (a C int or a pointer, as mpi4py gives it) as a signed 64-bit value."""
    handle = int(handle)
    return handle - (1 << 64) if handle >= 1 << 63 else handle


def _allreduce_address():
    """The address of ``MPI_Allreduce`` in the MPI library mpi4py loaded."""
    for path in _loaded_mpi_libraries():
        try:
            function = ctypes.CDLL(path).MPI_Allreduce
        except (OSError, AttributeError):
            continue
        return ctypes.cast(function, ctypes.c_void_p).value
    raise RuntimeError("could not find MPI_Allreduce in the MPI library mpi4py uses; "
                       "data-parallel training needs it (Linux: a libmpi*.so mapped in)")


def _loaded_mpi_libraries():
    """Paths of the MPI libraries mapped into this process (after mpi4py's import)."""
    found = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1] if "/" in line else ""
                name = os.path.basename(path)
                if name.startswith(("libmpi.", "libmpich.", "libmpi_")) and path not in found:
                    found.append(path)
    except OSError:  # not Linux: ask the loader
        pass
    for name in ("mpi", "mpich"):
        path = ctypes.util.find_library(name)
        if path and path not in found:
            found.append(path)
    return found


def distributed_refusal(trainer):
    """Why ``trainer`` cannot train data-parallel, or "" when it can."""
    if any(trainer.model.batch_norm) and trainer.optimizer.minimizes:
        return ("batch normalisation with a full-batch minimizer does not train "
                "data-parallel (its statistics over the whole set are not summed over the "
                "ranks); use a mini-batch optimizer")
    if any(getattr(cb, "inside_epochs", False) for cb in trainer.callbacks):
        return ("data-parallel training writes checkpoints between epochs only: use "
                "checkpoint_every in epochs (a mid-epoch checkpoint would miss the other "
                "ranks' loss sums)")
    return ""


def fit_facts(trainer, X, T, sw, val, n_epochs):
    """What the ranks of a fit must agree on: data shapes and targets, the model and
    its parameters, the settings and the progress (seeds and generator state included)."""
    model = trainer.model
    state = trainer.state_dict()
    facts = {key: state[key] for key in ("epoch", "steps", "mask_seed", "split_seed",
                                         "batch_size", "shuffle", "n_threads")}
    facts["shuffling generator checksum"] = zlib.crc32(repr(state["rng"]).encode())
    facts.update({
        "training data shape": tuple(X.shape), "input dtype": str(X.dtype),
        "targets checksum": checksum(T),
        "sample weights checksum": checksum(sw) if sw.size else None,
        "validation rows": None if val is None else val.X.shape[0],
        "epochs": n_epochs,
        "model": (tuple(model.layer_sizes), model.loss, str(model.dtype)),
        "parameter checksum": checksum(model.params),
        "optimizer": repr(trainer.optimizer),
        "schedule": repr(trainer.schedule),
    })
    return facts


#: The rows a full-batch objective (L-BFGS) evaluates on this rank, prepared, and
#: the total weight of the whole training set (0: the rows' own, one process).
ObjectiveRows = namedtuple("ObjectiveRows", ["X", "T", "sw", "weight"])


def minimize_share(X, T, sw, ranks, prepare=None):
    """This rank's contiguous share of the training rows for a full-batch objective.

    Each rank evaluates its share over the whole set's weight and the sums
    are added up (:meth:`Ranks.sum_into`): one all-reduce per function
    evaluation.  ``prepare`` (a large input read in place) prepares the
    share -- all of X in one process, where one pass is one call anyway.
    """
    weight = 0.0
    if ranks is not None and ranks.size > 1:
        n = X.shape[0]
        weight = float(sw.sum()) if sw.size else float(n)
        lo, hi = ranks.share(n)
        X, T, sw = X[lo:hi], T[lo:hi], sw[lo:hi] if sw.size else sw
    if prepare is not None:
        X = prepare(X[:])
    return ObjectiveRows(X, T, sw, weight)
