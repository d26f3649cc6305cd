"""The engines that run a search's trials: threads, loky processes, a Dask cluster, Ray.

Each pool offers the same four operations to the loop of
:mod:`fastmlp.search.backends`: ``submit`` one job -- one trial, or trials
trained together as a population (:mod:`fastmlp.search.populations`) --
(a handle back), ``wait`` until one or more of the given handles end,
``result`` of an ended one (its trials' results rows; :class:`WorkerLost`
when the worker process running it died) and ``close``.  Two attributes tell the loop how to
schedule:

``capacity``
    Trials to keep submitted at a time (None: all of them -- Dask and Ray
    schedule over their workers themselves).
``shared_fate``
    Whether a dying worker fails every trial in flight, not only its own
    (loky: the whole process pool breaks).

The pools import their engine when they are made: none of them is needed
to run a search in this process.
"""

import concurrent.futures
import os
import re
import socket

from ..engine.threads import default_threads
from .populations import run_job

__all__ = ["WorkerLost", "ThreadPool", "LokyPool", "DaskPool", "RayPool"]


class WorkerLost(Exception):
    """The worker process running a trial died (its message: what the engine said)."""


def _lost(engine, exc, explained=True):
    """A :class:`WorkerLost` for ``exc``, an engine's report of a dead worker: its first
    sentence (if ``explained``), or the exit codes loky gives at the end of a long one."""
    text = " ".join(str(exc).split())
    codes = re.search(r"exit codes of the workers are (\{[^}]*\})", text)
    detail = f"exit codes {codes.group(1)}" if codes else text.split(". ")[0]
    return WorkerLost(f"{engine} worker died; {type(exc).__name__}"
                      + (f": {detail}" if explained else ""))


def _check_reachable(address, what, timeout=10.0):
    """Refuse a ``host:port`` (or ``scheme://host:port``) address that takes no
    connection within ``timeout`` seconds; other forms ("auto") pass."""
    match = re.fullmatch(r"(?:\w+://)?\[?([^\]/]+?)\]?:(\d+)/?", address.strip())
    if match is None:
        return
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout).close()
    except OSError as exc:
        raise ValueError(f"cannot reach {what} at {address}: {exc}") from None


def _first_done(futures):
    """The ended ones of ``futures`` (concurrent.futures), waiting for one at least."""
    return list(concurrent.futures.wait(futures,
                                        return_when=concurrent.futures.FIRST_COMPLETED).done)


class ThreadPool:
    """Trials in threads of this process (fastmlp's compiled loop releases the GIL).

    Parameters
    ----------
    n_jobs : int
        Trials at a time (-1: :func:`~fastmlp.engine.threads.default_threads`).
    data : dict
        The training and validation splits.
    setup : Setup
    """

    shared_fate = False  # and a thread cannot die alone

    def __init__(self, n_jobs, data, setup):
        self.capacity = n_jobs if n_jobs > 0 else default_threads()
        self._data, self._setup = data, setup
        self._executor = concurrent.futures.ThreadPoolExecutor(self.capacity)

    def submit(self, job):
        """Start one job (a list of trials, :mod:`fastmlp.search.populations`); its handle."""
        return self._executor.submit(run_job, job, self._data, self._setup)

    def wait(self, handles):
        """The handles among ``handles`` whose trials ended (one at least)."""
        return _first_done(handles)

    def result(self, handle):
        """The results rows of an ended job."""
        return handle.result()

    def close(self, unfinished):
        """Release the threads; trials of ``unfinished`` that have not started never do."""
        self._executor.shutdown(wait=not unfinished, cancel_futures=True)


class LokyPool:
    """Trials in joblib's loky worker processes, reused from one search to the next.

    Large arrays reach the workers as memory maps (joblib's memmapping
    executor), not pickled with every trial.  When a worker dies, loky
    fails every trial in flight and takes no more work: the next trial goes
    to a new executor.  Parameters as :class:`ThreadPool`.
    """

    shared_fate = True

    def __init__(self, n_jobs, data, setup):
        try:
            from joblib import cpu_count
            from joblib.executor import get_memmapping_executor
            from joblib.externals.loky.process_executor import (
                BrokenProcessPool,
                TerminatedWorkerError,
            )
        except ImportError:
            raise ValueError("backend='loky' needs joblib: pip install joblib") from None
        self.capacity = n_jobs if n_jobs > 0 else cpu_count()
        self._death = TerminatedWorkerError
        self._broken = BrokenProcessPool
        self._executor_for = get_memmapping_executor
        self._executor = get_memmapping_executor(self.capacity)
        self._data, self._setup = data, setup

    def submit(self, job):
        """Start one job (a list of trials, :mod:`fastmlp.search.populations`); its handle."""
        try:
            return self._executor.submit(run_job, job, self._data, self._setup)
        except self._broken:  # a worker died: this executor is done, a new one starts
            self._executor = self._executor_for(self.capacity)
            return self._executor.submit(run_job, job, self._data, self._setup)

    def wait(self, handles):
        """The handles among ``handles`` whose trials ended (one at least)."""
        return _first_done(handles)

    def result(self, handle):
        """The results rows of an ended job; :class:`WorkerLost`."""
        try:
            return handle.result()
        except self._death as exc:
            raise _lost("a loky", exc) from exc

    def close(self, unfinished):
        """Keep the workers for the next search, or kill them when trials are
        ``unfinished`` (an interrupted search must not leave them computing)."""
        if unfinished:
            self._executor.terminate(kill_workers=True)


class DaskPool:
    """Trials on a Dask cluster: a local one of ``n_jobs`` one-thread worker processes,
    or the cluster of the scheduler at ``scheduler``.

    The splits travel to every worker once, not with every trial, under a
    key of their own (two searches on one scheduler never share them).
    Trials are submitted as the workers have threads for them, so that a
    dying worker fails no trial queued behind its own.  The local cluster's
    scheduler reports a trial whose worker died at once (``KilledWorker``,
    no retry of its own) so that the search's one retry is the only one,
    and gives each worker one trial at a time (``worker-saturation`` 1); a
    running scheduler keeps its own settings.  A dying worker can take with
    it the splits (when no other worker holds them) or a finished trial's
    row: such trials are lost too, and the splits are sent again before the
    next trial.
    """

    shared_fate = False

    #: The local cluster's scheduler settings.
    LOCAL_SCHEDULER = {"distributed.scheduler.allowed-failures": 0,
                       "distributed.scheduler.worker-saturation": 1.0}

    def __init__(self, n_jobs, data, setup, scheduler=None):
        try:
            import dask
            from distributed import Client, KilledWorker, LocalCluster, wait
        except ImportError:
            raise ValueError("backend='dask' needs dask.distributed: "
                             "pip install 'fastmlp[dask]'") from None
        self._wait, self._killed = wait, KilledWorker
        self._data, self._setup = data, setup
        self._cluster = None
        if scheduler is None:
            workers = None if n_jobs == -1 else n_jobs
            with dask.config.set(self.LOCAL_SCHEDULER):
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None)
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(scheduler, timeout=30)
            except OSError as exc:
                raise ValueError(f"cannot reach the dask scheduler at {scheduler}: "
                                 f"{exc}") from None
        self._shared = None

    @property
    def capacity(self):
        """The threads of the cluster's workers now (one at least)."""
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, job):
        """Start one job (a list of trials, :mod:`fastmlp.search.populations`); its handle."""
        if self._shared is None:  # the first trial, or the first since a worker died
            self._shared = self._client.scatter([self._data], broadcast=True, hash=False)[0]
        return self._client.submit(run_job, job, self._shared, self._setup, pure=False)

    def wait(self, handles):
        """The handles among ``handles`` whose trials ended (one at least)."""
        try:
            self._wait(handles, return_when="FIRST_COMPLETED")
        except concurrent.futures.CancelledError:  # one was: it has ended too
            pass
        return [handle for handle in handles if handle.done()]

    def result(self, handle):
        """The results rows of an ended job; :class:`WorkerLost`."""
        try:
            return handle.result()
        except self._killed as exc:
            self._shared = None
            raise _lost("a Dask", exc, explained=False) from exc  # its text: the task key
        except concurrent.futures.CancelledError as exc:  # its splits or row died
            self._shared = None
            raise WorkerLost(f"a Dask worker died with the trial's splits or row "
                             f"({type(exc).__name__})") from exc

    def close(self, unfinished):
        """Cancel ``unfinished`` trials; close the client and the local cluster."""
        try:
            if unfinished:
                self._client.cancel(list(unfinished))
        finally:
            self._client.close()
            if self._cluster is not None:
                self._cluster.close()


class RayPool:
    """Trials as Ray tasks, one CPU each.

    Uses the Ray instance this process is connected to (``ray.init`` called
    before the search), else connects to the cluster at ``address`` (or the
    one ``RAY_ADDRESS`` names), else starts a local instance of ``n_jobs``
    CPUs (-1: every core) for the search.  The splits go into Ray's object
    store once.  Ray retries no task itself (``max_retries=0``): the
    search's one retry is the only one.
    """

    shared_fate = False
    capacity = None

    def __init__(self, n_jobs, data, setup, address=None):
        try:
            import ray
            from ray.exceptions import NodeDiedError, OutOfMemoryError, WorkerCrashedError
        except ImportError:
            raise ValueError("backend='ray' needs ray: pip install 'fastmlp[ray]'") from None
        self._deaths = (WorkerCrashedError, NodeDiedError, OutOfMemoryError)
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            if address is None and not os.environ.get("RAY_ADDRESS"):
                ray.init(address="local", num_cpus=None if n_jobs == -1 else n_jobs,
                         include_dashboard=False)
            else:
                where = address or os.environ["RAY_ADDRESS"]
                _check_reachable(where, "the Ray cluster")  # ray.init would wait minutes
                try:
                    ray.init(address=address)
                except ConnectionError as exc:
                    raise ValueError(f"cannot reach the Ray cluster at {where}: {exc}") from None
        try:
            self._trial = ray.remote(num_cpus=1, max_retries=0)(run_job)
            self._shared = ray.put(data)
        except BaseException:
            self.close(())
            raise
        self._setup = setup

    def submit(self, job):
        """Start one job (a list of trials, :mod:`fastmlp.search.populations`); its handle."""
        return self._trial.remote(job, self._shared, self._setup)

    def wait(self, handles):
        """The handles among ``handles`` whose trials ended (one at least)."""
        return self._ray.wait(list(handles), num_returns=1)[0]

    def result(self, handle):
        """The results rows of an ended job; :class:`WorkerLost`."""
        try:
            return self._ray.get(handle)
        except self._deaths as exc:
            raise _lost("a Ray", exc) from exc

    def close(self, unfinished):
        """Cancel ``unfinished`` trials; shut down the Ray instance started here."""
        try:
            for handle in unfinished:
                self._ray.cancel(handle, force=True)
        finally:
            if self._started:
                self._ray.shutdown()
