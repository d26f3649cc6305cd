"""The first run on all cores: a configuration's kernels compiled in parallel processes.

Numba compiles one function at a time in a process (its compiler holds a
process-wide lock), but the kernels of a configuration are compiled as
separate units linked by address (:mod:`fastmlp.kernels.ops`) and do not
need one another to compile (:mod:`fastmlp.kernels.deferred`).  So when
the jobs a call needs are missing from Numba's on-disk cache,
:func:`compile_batch` shares them between this process and worker
processes (:mod:`fastmlp.engine.compile_worker`), the longest first, each
to the process free first (:mod:`fastmlp.engine.compile_estimate`); the
workers write their results to the cache, and this process loads them.
Results are those of compiling here: the same compiler, the same code.

How many processes: at most the cores this process may run on, and the
threads the user allowed (``fastmlp.threads(n)``, ``NUMBA_NUM_THREADS``),
unless ``FASTMLP_COMPILE_PROCESSES`` or :func:`compile_processes` says
otherwise (1: compile here, as before); never more than pay for their
start-up.  Everything compiles here instead when workers cannot help or
cannot be started: a warm cache (checked first, file by file, before any
process starts), a cache that cannot be told or written
(:mod:`fastmlp.kernels.cache_probe`), an interpreter without a usable
``sys.executable`` (embedded, frozen), or a process of an MPI job (where
the ranks of a node share the jobs of a data-parallel fit instead, and meet
at a barrier: :func:`batches`).  A worker that fails or dies costs only
time: its job goes back to the others or to this process, and its error
goes to the ``fastmlp`` logger at DEBUG level.
"""

import collections
import contextlib
import logging
import os
import threading
import time
from collections import namedtuple

from ..kernels import deferred
from ..kernels.cache_probe import cached
from . import compile_estimate, compiling
from .compile_processes import allowed_processes, spawn_refusal
from .compile_workers import WorkerFailure, WorkerProcess, acquire, idle_count, release

__all__ = ["compile_batch", "batches", "history", "compile_alone", "BatchReport", "JobResult"]

logger = logging.getLogger("fastmlp")

#: What a batch of jobs cost: the jobs and those missing from the cache (each
#: a :class:`~fastmlp.kernels.deferred.JobSpec`), the processes they were
#: compiled on, the estimate announced, the seconds the batch took, why it
#: stayed in this process (or ""), a :class:`JobResult` for every job
#: compiled by the batch itself, and the seconds each worker took to start.
BatchReport = namedtuple("BatchReport", ["jobs", "missing", "processes", "estimate", "seconds",
                                         "in_process_reason", "results", "worker_starts"])

#: One job of a batch: the kernel's name, where it compiled ("here", "worker",
#: "rank <r>") and in which process (its id), the seconds and CPU seconds it
#: took there, and whether it compiled.
JobResult = namedtuple("JobResult", ["name", "where", "process", "seconds", "cpu_seconds",
                                     "ok"])

_history = []
_history_lock = threading.Lock()


def history():
    """A :class:`BatchReport` for every batch that compiled something in this process."""
    with _history_lock:
        return list(_history)


def _record(report):
    with _history_lock:
        _history.append(report)


def compile_batch(jobs):
    """Compile the missing ``jobs`` (:class:`~fastmlp.kernels.deferred.Job`) side by side.

    The batch compiler of the engine's calls (:func:`batches`): what it
    leaves undone, :func:`fastmlp.kernels.deferred.flush` compiles or loads
    here afterwards.  Announces the compile (:func:`fastmlp.engine.compiling.announce`).
    """
    start = time.perf_counter()
    missing, unknown = _missing(jobs)
    if not missing:
        return
    reason = spawn_refusal() or ("the cache cannot be read" if unknown else "")
    most = 1 if reason else allowed_processes()
    if most <= 1 and not reason:
        reason = "one process allowed"
    speed = compile_estimate.machine_speed()
    costs = [compile_estimate.job_seconds(job.name, speed) for job in missing]
    plan = compile_estimate.best_schedule(costs, min(most, len(missing)),
                                          compile_estimate.WORKER_START_SECONDS * speed,
                                          ready=idle_count())
    if plan.processes == 1 and not reason:
        reason = "workers would not pay for their start"
    compiling.announce(plan.processes, plan.seconds)
    results, starts = [], []
    if plan.processes > 1:
        results, starts = _run_pool([missing[i] for i in _longest_first(costs)],
                                    plan.processes - 1)
    else:
        for job in missing:
            job.run()
            results.append(_here(job))
    _record(BatchReport([job.spec for job in jobs], [job.spec for job in missing],
                        plan.processes, plan.seconds, time.perf_counter() - start, reason,
                        results, starts))


def _here(job):
    """The :class:`JobResult` of a job compiled (or loaded) in this process."""
    return JobResult(job.name, "here", os.getpid(), job.seconds, job.cpu_seconds, True)


def _missing(jobs):
    """(jobs not in the cache, whether the cache could not be read for some).

    A pointer found in the cache is loaded on the way (what the caller would
    do next): a warm start reads each cache entry once, as without workers.
    """
    missing, unknown = [], False
    for job in jobs:
        if job.done or job.load():
            continue
        found = cached(job)  # (an overload; a pointer's cache that could not be read)
        if found is None:
            unknown = True
        if not found:
            missing.append(job)
    return missing, unknown


def _longest_first(costs):
    return sorted(range(len(costs)), key=lambda j: -costs[j])


def _run_pool(jobs, n_workers):
    """Compile ``jobs`` (the longest first) here and on ``n_workers`` worker processes.

    Each process takes the next job when it is free; a job a worker failed
    goes back to the queue (once), for this process to compile.
    """
    queue = collections.deque(jobs)
    lock = threading.Lock()
    results = []
    failed_once = set()

    def take():
        with lock:
            return queue.popleft() if queue else None

    def give_back(job):
        with lock:
            if id(job) not in failed_once:
                failed_once.add(id(job))
                queue.appendleft(job)

    workers = acquire(n_workers)
    threads = [threading.Thread(target=_serve, args=(w, take, give_back, results),
                                name="fastmlp-compile-worker", daemon=True) for w in workers]
    try:
        for thread in threads:
            thread.start()
        while True:
            job = take()
            if job is None:
                break
            job.run()
            results.append(_here(job))
        for thread in threads:
            thread.join()
        # a job given back after this process had finished the queue
        for job in list(queue):
            job.run()
            results.append(_here(job))
    except BaseException:  # an error here, Ctrl-C: the workers' jobs are not awaited
        for worker in workers:
            worker.stop(kill=True)
        raise
    for worker in workers:
        release(worker)  # for the next batch, a while
    return results, [w.ready_after for w in workers if w.ready_after is not None]


def _serve(worker, take, give_back, results):
    """Feed ``worker`` jobs until none is left or it fails (in its own thread)."""
    job = None
    try:
        worker.wait_ready()
        while True:
            job = take()
            if job is None:
                return
            done = worker.compile(job.spec, compile_estimate.job_seconds(job.name))
            results.append(JobResult(job.name, "worker", worker.pid, done.seconds,
                                     done.cpu_seconds, done.ok))
            if not done.ok:
                logger.debug("fastmlp: a compile worker could not compile %s; compiling it "
                             "here:\n%s", job.name, done.error)
                give_back(job)
            job = None
    except WorkerFailure as failure:
        worker.failed = True
        logger.debug("fastmlp: compile worker %s failed%s; compiling its jobs here: %s",
                     worker.pid, f" on {job.name}" if job is not None else "", failure)
        if job is not None:
            give_back(job)


def compile_alone(spec, cache_dir):
    """Compile the job ``spec`` alone in a new worker process whose Numba cache is
    ``cache_dir`` (empty: nothing of it compiled before); its
    :class:`~fastmlp.engine.compile_worker.Done` (the seconds, not counting the start).

    What a job costs a worker that meets none of the functions it calls in
    the cache: the longest such job is the critical path of a parallel
    compile (``bench/compile_profile.py --standalone``).
    """
    worker = WorkerProcess(cache_dir)
    try:
        worker.wait_ready()
        return worker.compile(spec, compile_estimate.job_seconds(spec.name))
    finally:
        worker.stop()


@contextlib.contextmanager
def batches(ranks=None):
    """Inside the block, pending kernels compile as :func:`compile_batch` says.

    ``ranks`` (:class:`fastmlp.training.distributed.Ranks`): a data-parallel
    fit, whose every rank enters the block at the same point.  The ranks on
    one machine then share the jobs of the block's first batch: each
    compiles its share into the cache, they meet at a barrier, and each
    loads the rest -- exactly one exchange per rank and block, even for a
    rank that has nothing left to compile.
    """
    if ranks is None or ranks.size == 1:
        with deferred.batch_compiler(compile_batch):
            yield
        return
    exchange = _NodeExchange(ranks)
    with deferred.batch_compiler(exchange.compile_batch):
        yield
    exchange.finish()


class _NodeExchange:
    """The ranks of a node sharing the jobs of one batch (see :func:`batches`)."""

    def __init__(self, ranks):
        self.ranks = ranks
        self.exchanged = False

    def compile_batch(self, jobs):
        if self.exchanged:  # later batches: each rank alone, in-process
            for job in jobs:
                job.run()
            return
        self.exchanged = True
        self._exchange(jobs)

    def finish(self):
        """Take part in the exchange with nothing, if no batch has."""
        if not self.exchanged:
            self.exchanged = True
            self._exchange([])

    def _exchange(self, jobs):
        start = time.perf_counter()
        group = self.ranks.node_group()
        missing, _ = _missing(jobs)
        mine = {job.spec: job for job in missing}
        union = list(dict.fromkeys(spec for specs in group.allgather(list(mine))
                                   for spec in specs))
        if not union:
            return
        # the same plan on every rank: from the reference costs alone (this machine's
        # speed, measured by each rank, only scales the estimate)
        plan = compile_estimate.schedule([compile_estimate.job_seconds(spec.name)
                                          for spec in union], group.size, start_delay=0.0)
        estimate = plan.seconds * compile_estimate.machine_speed()
        if group.rank == 0:
            compiling.announce(group.size, estimate, "ranks")
        results = []
        for index in plan.assignment[group.rank]:
            spec = union[index]
            began, cpu = time.perf_counter(), time.process_time()
            try:
                job = mine.get(spec)
                if job is not None:
                    job.run()
                else:  # another rank's job: into the cache only
                    deferred.compile_spec(spec)
                ok = True
            except Exception:  # every rank compiles it after the barrier, and raises there
                logger.debug("fastmlp: rank %d could not compile %s", self.ranks.rank,
                             spec.name, exc_info=True)
                ok = False
            results.append(JobResult(spec.name, f"rank {self.ranks.rank}", os.getpid(),
                                     time.perf_counter() - began, time.process_time() - cpu,
                                     ok))
        group.barrier()
        _record(BatchReport([job.spec for job in jobs], union,
                            group.size, estimate, time.perf_counter() - start,
                            "the ranks of an MPI job share the jobs", results, []))
