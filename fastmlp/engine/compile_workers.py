"""The worker processes of a parallel compile, seen from the process that started them.

:class:`WorkerProcess` starts ``python -c`` running
:func:`fastmlp.engine.compile_worker.main` with this fastmlp first on its
path, sends it :class:`~fastmlp.kernels.deferred.JobSpec` objects and
reads the answers (the protocol: :mod:`fastmlp.engine.compile_worker`).
Anything that goes wrong -- the process cannot start, imports another
fastmlp, dies, or takes far longer than the job should -- raises
:class:`WorkerFailure` with what is known (the exit status, the end of its
stderr).

A worker that served a batch well waits ``IDLE_SECONDS`` for the next one
(:func:`release`, :func:`acquire`): a fit's evaluation or prediction, or
``fastmlp warmup``'s next configuration, then finds it started.  Idle
workers end when that time is up, or when this process exits (their input
ends); a child this process forks forgets them (their pipes are the
parent's).
"""

import atexit
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time

import numba

__all__ = ["WorkerProcess", "WorkerFailure", "PACKAGE_ROOT", "READY_TIMEOUT", "IDLE_SECONDS",
           "acquire", "release", "idle_count", "stop_idle"]

logger = logging.getLogger("fastmlp")

#: The directory that holds this ``fastmlp`` package: first on the workers' path.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Seconds a worker may take to start (import fastmlp) before it is given up.
READY_TIMEOUT = 120.0

#: Seconds a worker waits for another batch before it ends (memory: a worker
#: holds Numba and what it compiled, ~0.2 GB).
IDLE_SECONDS = 10.0

#: A job may take this many times its estimate, plus READY_TIMEOUT, before
#: its worker is given up (a hung compiler must not hang the caller).
_TIMEOUT_FACTOR = 20.0

_BOOT = ("import sys; sys.path.insert(0, {root!r}); "
         "from fastmlp.engine.compile_worker import main; main()")


class WorkerFailure(Exception):
    """A worker process that cannot go on (see the module docstring)."""


class WorkerProcess:
    """A compile worker: started at once, ready after its imports (:meth:`wait_ready`).

    ``cache_dir``: the worker's ``NUMBA_CACHE_DIR`` instead of this process's
    (measurements: a job compiled alone, bench/compile_profile.py).
    """

    def __init__(self, cache_dir=None):
        env = _environment()
        if cache_dir is not None:
            env["NUMBA_CACHE_DIR"] = cache_dir
        #: what the worker compiles for: the cache and optimisation level it was given
        self.setting = _setting(env)
        self._stderr = tempfile.TemporaryFile()
        self._started = time.perf_counter()
        #: seconds from its start to its hello (None before: :meth:`wait_ready`)
        self.ready_after = None
        #: set once it has failed (it is not kept for another batch)
        self.failed = False
        self.idle_since = None
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOT.format(root=PACKAGE_ROOT)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self._stopped = False
        self._lock = threading.Lock()

    def alive(self):
        """Whether it runs and has not been stopped."""
        return not self._stopped and self._process.poll() is None

    @property
    def pid(self):
        """The worker's process id."""
        return self._process.pid

    def wait_ready(self):
        """Wait for the worker's hello (at once if it came); raise :class:`WorkerFailure` if
        it imported another fastmlp than this one, or does not answer."""
        if self.ready_after is not None:
            return
        hello = self._receive(READY_TIMEOUT)
        self.ready_after = time.perf_counter() - self._started
        if os.path.realpath(hello.package) != os.path.realpath(PACKAGE_ROOT):
            raise WorkerFailure(f"the worker imported fastmlp from {hello.package}, "
                                f"not {PACKAGE_ROOT}")

    def compile(self, spec, estimate):
        """Have the worker compile ``spec``; its :class:`~fastmlp.engine.compile_worker.Done`."""
        try:
            pickle.dump(spec, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
        except (OSError, ValueError) as exc:
            raise WorkerFailure(self._describe(f"cannot send it a job ({exc})")) from None
        return self._receive(READY_TIMEOUT + _TIMEOUT_FACTOR * estimate)

    def _receive(self, timeout):
        """The worker's next message; the worker is killed if none comes in ``timeout`` s."""
        watchdog = threading.Timer(timeout, self._kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            return pickle.load(self._process.stdout)
        except Exception as exc:  # EOF (it died), a broken pipe, a garbled message
            raise WorkerFailure(self._describe(f"no answer ({type(exc).__name__})")) from None
        finally:
            watchdog.cancel()

    def _kill(self):
        try:
            self._process.kill()
        except OSError:
            pass

    def _describe(self, what):
        """``what`` with the worker's exit status and the end of its stderr."""
        try:
            status = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = "still running"
        try:
            self._stderr.seek(0)
            tail = self._stderr.read()[-3000:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):  # closed: the worker was stopped meanwhile
            tail = ""
        return f"{what}; exit status {status}" + (f"; its stderr:\n{tail}" if tail else "")

    def stop(self, kill=False):
        """End the worker: it exits at the end of its input (killed if it does not soon),
        or at once with ``kill``."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if kill:
            self._kill()
        try:
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill()
            self._process.wait()
        self._process.stdout.close()
        self._stderr.close()

    def abandon(self):
        """Close this process's ends of its pipes, nothing else (a forked child's copy)."""
        self._stopped = True
        for stream in (self._process.stdin, self._process.stdout, self._stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


_idle = []
_idle_lock = threading.Lock()


def acquire(n):
    """Up to ``n`` workers for a batch: idle ones first, then new ones (a failure to start
    one goes to the debug log: the caller compiles more itself)."""
    setting = _setting(_environment())
    taken, spare = [], []
    with _idle_lock:
        while _idle and len(taken) < n:
            worker = _idle.pop()
            (taken if worker.alive() and worker.setting == setting else spare).append(worker)
    for worker in spare:
        worker.stop()
    while len(taken) < n:
        try:
            taken.append(WorkerProcess())
        except OSError as exc:
            logger.debug("fastmlp: cannot start a compile worker (%s); compiling here", exc)
            break
    return taken


def idle_count():
    """Workers waiting for a batch (started: they take a job at once)."""
    with _idle_lock:
        return sum(worker.alive() for worker in _idle)


def release(worker):
    """Keep ``worker`` (ready, not failed) for the next batch for ``IDLE_SECONDS``, or stop
    it."""
    if worker.failed or worker.ready_after is None or not worker.alive():
        worker.stop()
        return
    worker.idle_since = time.monotonic()
    with _idle_lock:
        _idle.append(worker)
    timer = threading.Timer(IDLE_SECONDS, _reap)
    timer.daemon = True
    timer.start()


def _reap():
    """Stop the workers idle for ``IDLE_SECONDS``."""
    now = time.monotonic()
    with _idle_lock:
        old = [w for w in _idle if now - w.idle_since >= IDLE_SECONDS - 0.01]
        _idle[:] = [w for w in _idle if w not in old]
    for worker in old:
        worker.stop()


def _take_idle():
    # every idle worker, no longer listed as idle
    with _idle_lock:
        idle = list(_idle)
        _idle.clear()
    return idle


def stop_idle():
    """Stop every idle worker now."""
    for worker in _take_idle():
        worker.stop()


def _leave_idle():
    # at exit: each idle worker ends at the end of its input, without a wait here
    for worker in _take_idle():
        worker.abandon()


def _forget_idle():
    # in a child forked from this process: the workers are the parent's
    global _idle, _idle_lock
    abandoned, _idle, _idle_lock = _idle, [], threading.Lock()
    for worker in abandoned:
        worker.abandon()


atexit.register(_leave_idle)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_idle)


def _setting(env):
    """What a worker's compiles depend on beyond its code: its cache and optimisation."""
    return env.get("NUMBA_CACHE_DIR", ""), env.get("NUMBA_OPT", "")


def _environment():
    """The workers' environment: this one's, with the cache and optimisation level Numba
    uses here (which code may have set), and one BLAS thread (they run no products)."""
    env = dict(os.environ)
    if numba.config.CACHE_DIR:
        env["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR
    opt = numba.config.OPT
    env["NUMBA_OPT"] = "max" if getattr(opt, "is_opt_max", False) else str(int(opt))
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        env[variable] = "1"
    return env
