"""Where trials run: in this process, in threads, in joblib's worker processes, on Dask or Ray.

Each backend yields finished rows as they come (not in submission order),
so the search writes every row as soon as its trial ends.  Workers train
with one thread each (``fastmlp.threads(1)``): ``n_jobs`` trials at a time
share the cores instead of competing for them.

``"threads"`` (the default) runs the trials in threads of this process:
fastmlp's compiled loop releases the GIL, so they run side by side, and
there is no worker process to start nor compiled code to load again in it
(about a second per process).  ``"loky"`` runs them in joblib's worker
processes, which isolates them from each other.
"""

import functools

from .runner import run_trial

__all__ = ["BACKENDS", "run_tasks", "check_backend"]

BACKENDS = ("threads", "loky", "dask", "ray")


def check_backend(backend, n_jobs, scheduler):
    """Refuse a bad backend, job count or scheduler before any trial runs."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid ones: {', '.join(BACKENDS)}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (every core), got {n_jobs!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError("a scheduler address applies to backend='dask' only")


def run_tasks(tasks, data, setup, n_jobs=1, backend="threads", scheduler=None):
    """Run trial tasks; yield each results row as its trial finishes.

    Parameters
    ----------
    tasks : list of dict
        See :func:`fastmlp.search.runner.run_trial`.
    data : dict
        The training and validation splits.
    setup : Setup
    n_jobs : int
        Trials at a time (-1: one per core); 1 with ``backend="threads"`` or
        ``"loky"`` runs them one after another in this thread.
    backend : {"threads", "loky", "dask", "ray"}
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler
        (``"tcp://host:8786"``); without one, ``backend="dask"`` starts a
        local cluster for the search.
    """
    if not tasks:
        return
    if backend in ("threads", "loky") and n_jobs == 1:
        for task in tasks:
            yield run_trial(task, data, setup)
        return
    if backend == "dask":
        yield from _run_on_dask(tasks, data, setup, n_jobs, scheduler)
        return
    yield from _run_with_joblib(tasks, data, setup, n_jobs, backend)


def _run_with_joblib(tasks, data, setup, n_jobs, backend):
    try:
        import joblib
    except ImportError:
        raise ValueError("n_jobs > 1 needs joblib: pip install joblib") from None
    if backend == "ray":
        try:
            from ray.util.joblib import register_ray
        except ImportError:
            raise ValueError("backend='ray' needs ray: pip install 'fastmlp[ray]'") from None
        register_ray()
    one = functools.partial(run_trial, data=data, setup=setup)
    engine = "threading" if backend == "threads" else backend
    with joblib.parallel_config(backend=engine, n_jobs=n_jobs):
        parallel = joblib.Parallel(return_as="generator_unordered")
        yield from parallel(joblib.delayed(one)(task) for task in tasks)


def _run_on_dask(tasks, data, setup, n_jobs, scheduler):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ValueError("backend='dask' needs dask.distributed: "
                         "pip install 'fastmlp[dask]'") from None
    cluster = None
    if scheduler is None:
        workers = None if n_jobs == -1 else n_jobs
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ValueError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
    try:
        # the splits travel to every worker once, not with every trial
        shared = client.scatter(data, broadcast=True)
        futures = [client.submit(run_trial, task, shared, setup, pure=False) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
