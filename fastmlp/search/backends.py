"""Where trials run: in this process, in threads, in joblib's worker processes, on Dask or Ray.

Each backend yields finished rows as they come (not in submission order),
so the search writes every row as soon as its trial ends.  Workers train
with one thread each (``fastmlp.threads(1)``): ``n_jobs`` trials at a time
share the cores instead of competing for them.

``"threads"`` (the default) runs the trials in threads of this process:
fastmlp's compiled loop releases the GIL, so they run side by side, and
there is no worker process to start nor compiled code to load again in it
(about a second per process).  ``"loky"`` runs them in joblib's worker
processes, which isolates them from each other; ``"dask"`` on a Dask
cluster and ``"ray"`` as Ray tasks (:mod:`fastmlp.search.pools`).

A worker process that dies in the middle of a trial (killed for its memory,
a crash, a lost machine) costs that trial, not the search: the trial runs
once more, and if its worker dies again its row says so (status "lost:
...", see :func:`fastmlp.search.runner.lost_row`) while the other trials
go on.  With loky a dying worker breaks the whole process pool and fails
every trial in flight; each of those runs again alone, so that a second
death is that trial's own.
"""

from collections import deque

from ..engine.threads import default_threads
from .pools import DaskPool, LokyPool, RayPool, ThreadPool, WorkerLost
from .populations import jobs, run_job
from .runner import lost_row

__all__ = ["BACKENDS", "RUNS", "run_tasks", "run_on_pool", "check_backend"]

BACKENDS = ("threads", "loky", "dask", "ray")

#: Times a trial runs when its worker dies in it: once more after the first death.
RUNS = 2


def check_backend(backend, n_jobs, scheduler):
    """Refuse a bad backend, job count or scheduler before any trial runs."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid ones: {', '.join(BACKENDS)}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
    if scheduler is not None and backend not in ("dask", "ray"):
        raise ValueError("a scheduler address applies to backend='dask' or 'ray' only")


def run_tasks(tasks, data, setup, n_jobs=1, backend="threads", scheduler=None,
              populations=True):
    """Run trial tasks; yield each results row as its trial finishes.

    Parameters
    ----------
    tasks : list of dict
        See :func:`fastmlp.search.runner.run_trial`.
    data : dict
        The training and validation splits.
    setup : Setup
    n_jobs : int
        Trials at a time (-1: one per core this process may use, within a
        container's CPU quota: :func:`fastmlp.engine.threads.default_threads`);
        1 with ``backend="threads"`` or ``"loky"`` runs them one after another
        in this thread.  With Dask or
        Ray: the workers (CPUs) of the local cluster started for the search.
    backend : {"threads", "loky", "dask", "ray"}
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler
        (``"tcp://host:8786"``) or Ray cluster (``"host:6379"``); without
        one, ``backend="dask"`` starts a local cluster for the search and
        ``backend="ray"`` uses the Ray instance this process is connected
        to, else starts a local one.
    populations : bool, default True
        Train the trials that can share a population as one
        (:mod:`fastmlp.search.populations`): the same rows, sooner.
    """
    if not tasks:
        return
    workers = default_threads() if n_jobs == -1 else n_jobs
    work = jobs(tasks, workers, populations)
    if backend in ("threads", "loky") and n_jobs == 1:
        for job in work:
            yield from run_job(job, data, setup)
        return
    if backend == "threads":
        pool = ThreadPool(n_jobs, data, setup)
    elif backend == "loky":
        pool = LokyPool(n_jobs, data, setup)
    elif backend == "dask":
        pool = DaskPool(n_jobs, data, setup, scheduler)
    else:
        pool = RayPool(n_jobs, data, setup, scheduler)
    running = {}
    try:
        yield from run_on_pool(pool, work, running)
    finally:
        pool.close(list(running))


def run_on_pool(pool, work, running):
    """Rows of the jobs ``work`` run on ``pool``, as they end; a job whose worker died runs
    again.

    Parameters
    ----------
    pool : ThreadPool, LokyPool, DaskPool or RayPool
        Or any object with their ``submit``, ``wait``, ``result``,
        ``capacity`` and ``shared_fate`` (see :mod:`fastmlp.search.pools`).
    work : list of list of dict
        Jobs: trials run together (see :func:`fastmlp.search.populations.jobs`).
    running : dict
        Empty; filled with handle -> index in ``work`` of the jobs in
        flight, for the caller to cancel should this generator stop early.

    Yields
    ------
    dict
        Each trial's row as its job ends; the trials of a job whose worker
        died :data:`RUNS` times: :func:`fastmlp.search.runner.lost_row`.
    """
    waiting = deque(range(len(work)))
    again = deque()  # jobs whose worker died, to run once more
    deaths = [0] * len(work)
    while waiting or again or running:
        _submit_more(pool, work, running, waiting, again)
        for handle in pool.wait(list(running)):
            number = running.pop(handle)
            try:
                rows = pool.result(handle)
            except WorkerLost as death:
                deaths[number] += 1
                if deaths[number] < RUNS:
                    again.append(number)
                else:
                    for task in work[number]:
                        yield lost_row(task, deaths[number], str(death))
                continue
            yield from rows


def _submit_more(pool, work, running, waiting, again):
    """Fill the pool up to its capacity, jobs to run again first."""
    if again and pool.shared_fate:
        # the death failed every job in flight: run each of them again alone, so that
        # only the job that kills its worker can be lost
        if not running:
            number = again.popleft()
            running[pool.submit(work[number])] = number
        return
    while (again or waiting) and (pool.capacity is None or len(running) < pool.capacity):
        number = (again or waiting).popleft()
        running[pool.submit(work[number])] = number
