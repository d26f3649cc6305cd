"""Compilations put off until their results are needed, so that they can run side by side.

A function compiled as a pointer (:class:`fastmlp.kernels.ops.Compiled`)
or a launcher's overload (:func:`fastmlp.kernels.ops.launch`) is not
compiled when it is asked for: it becomes a :class:`Job`, pending here.
The first time one of them is needed (an address, a call), :func:`flush`
hands every pending job to the batch compiler in effect on this thread
(:func:`batch_compiler`; the engine's compiles them in worker processes,
see :mod:`fastmlp.engine.compile_pool`), then compiles -- or loads from
Numba's on-disk cache -- each one here.  Without a batch compiler they
compile here, one after another, as they always did.

Every job compiles alone: the pointers it calls are typed by their
signatures only (:class:`~fastmlp.kernels.ops.Compiled` types them without
compiling them), so a configuration's jobs do not wait for one another and
can compile in any order, in any process.  Another process compiles a
job from its :class:`JobSpec` (:func:`compile_spec`): the function's
module and name and the signature, which pickle.
"""

import contextlib
import functools
import importlib
import threading
import time
from collections import namedtuple

from numba.core import sigutils
from numba.core.ccallback import CFunc

from .config import CFUNC_OPTIONS

__all__ = ["Job", "JobSpec", "POINTER", "OVERLOAD", "defer", "flush", "pending", "has_pending",
           "batch_compiler", "compile_function", "compile_spec", "function_of"]

#: A job's kind: a C-callable function (``numba.cfunc``), which the kernels
#: call through its address.
POINTER = "pointer"
#: A job's kind: one more overload (signature) of a dispatcher called from Python.
OVERLOAD = "overload"

class JobSpec(namedtuple("JobSpec", ["kind", "module", "qualname", "sig"])):
    """What another process needs to compile a job: its kind, the function's module and
    qualified name, and the Numba signature (a ``Signature`` for a pointer, a tuple of
    argument types for an overload)."""

    __slots__ = ()

    @property
    def name(self):
        """The kernel function's name."""
        return self.qualname.rsplit(".", 1)[-1]


class _NotCached(Exception):
    """A load-only compile found nothing in the cache."""


class _CFunc(CFunc):
    """Numba's ``cfunc`` object, which can be told to load from the cache only.

    What ``numba.cfunc(sig, cache=True, ...)`` makes and compiles; with
    ``load_only`` a cache miss raises :class:`_NotCached` where Numba would
    compile.  So a warm start loads each function once, as before, and
    finds out on the way that nothing is missing.
    """

    load_only = False

    def _compile_uncached(self):
        if self.load_only:
            raise _NotCached
        return super()._compile_uncached()


_CFUNC_OPTIONS = {k: v for k, v in CFUNC_OPTIONS.items() if k != "cache"}


def compile_function(kind, function, sig, load_only=False):
    """Compile (or load from the cache) ``function`` (a Numba dispatcher) for ``sig``.

    Returns the ``numba.cfunc`` object of a :data:`POINTER`; an
    :data:`OVERLOAD` is added to the dispatcher itself (returns None).
    ``load_only`` (a pointer): return None instead of compiling when the
    cache does not hold it.
    """
    if kind == POINTER:
        compiled = _CFunc(function.py_func, sigutils.normalize_signature(sig), locals={},
                          options=dict(_CFUNC_OPTIONS))
        compiled.enable_caching()
        compiled.load_only = load_only
        try:
            compiled.compile()
        except _NotCached:
            return None
        return compiled
    function.compile(sig)
    return None


def function_of(spec):
    """The Numba dispatcher a :class:`JobSpec` names (imports its module)."""
    module = importlib.import_module(spec.module)
    return functools.reduce(getattr, spec.qualname.split("."), module)


def compile_spec(spec):
    """Compile (or load) the job ``spec`` describes in this process: into the cache."""
    compile_function(spec.kind, function_of(spec), spec.sig)


class Job:
    """One compilation: a kernel function for one signature.

    Parameters
    ----------
    kind : {POINTER, OVERLOAD}
    function : numba dispatcher
        A kernel (:func:`fastmlp.kernels.config.jit`).
    sig : numba signature
        As :func:`compile_function` takes it.
    done : bool, default False
        Already compiled (an overload the dispatcher has): nothing to do.
    """

    def __init__(self, kind, function, sig, done=False):
        self.kind = kind
        self.function = function
        self.sig = sig
        #: the ``numba.cfunc`` of a pointer once compiled
        self.result = None
        #: whether it has been compiled (or loaded) in this process
        self.done = done
        #: seconds it took here, and seconds of CPU time (None before)
        self.seconds = self.cpu_seconds = None
        self._lock = threading.Lock()

    @property
    def name(self):
        """The kernel function's name."""
        return self.function.py_func.__name__

    @property
    def spec(self):
        """The :class:`JobSpec` another process compiles it from."""
        py_func = self.function.py_func
        return JobSpec(self.kind, py_func.__module__, py_func.__qualname__, self.sig)

    def run(self):
        """Compile it here, or load it from the cache, once; later calls return at once."""
        if not self.done:
            self._compile(load_only=False)

    def load(self):
        """Load a pointer from the cache if it is there, without compiling it: whether
        it is done.  (False for an overload not compiled yet, and where the cache cannot
        be read: :meth:`run` then compiles, or raises what goes wrong.)"""
        if not self.done and self.kind == POINTER:
            try:
                self._compile(load_only=True)
            except Exception:  # no cache, a damaged entry: left to run()
                return False
        return self.done

    def _compile(self, load_only):
        with self._lock:
            if self.done:
                return
            start, cpu = time.perf_counter(), time.process_time()
            result = compile_function(self.kind, self.function, self.sig, load_only)
            if load_only and result is None:
                return
            self.result = result
            self.seconds = time.perf_counter() - start
            self.cpu_seconds = time.process_time() - cpu
            self.done = True

    def __repr__(self):
        return f"Job({self.kind}, {self.name}, {self.sig})"


_pending = []
_lock = threading.Lock()
_local = threading.local()


def defer(job):
    """Put ``job`` off until something pending is needed (:func:`flush`); returns it."""
    if not job.done:
        with _lock:
            _pending.append(job)
    return job


def pending():
    """The jobs waiting for a :func:`flush`, oldest first (a copy)."""
    with _lock:
        return list(_pending)


def has_pending():
    """Whether any job waits for a :func:`flush` (a glance, without the lock)."""
    return bool(_pending)


def flush():
    """Compile (or load) every pending job: the batch compiler's way, then here.

    The batch compiler in effect on this thread (:func:`batch_compiler`)
    gets the list first -- it may fill the cache from other processes or
    compile some of the jobs itself -- and then every job is compiled or
    loaded here (:meth:`Job.run`), in the order they were made.  A job whose
    compile fails raises here, as it would have without the deferral.
    """
    with _lock:
        jobs = list(_pending)
        _pending.clear()
    if not jobs:
        return
    compile_batch = getattr(_local, "compiler", None)
    if compile_batch is not None:
        compile_batch(jobs)
    for job in jobs:
        job.run()


@contextlib.contextmanager
def batch_compiler(compile_batch):
    """Inside the block, :func:`flush` on this thread hands its jobs to ``compile_batch``.

    ``compile_batch(jobs)`` gets the list of pending :class:`Job` objects;
    whatever it leaves undone, :func:`flush` compiles here.  Blocks nest:
    the innermost compiler is in effect, the previous one comes back on exit.
    """
    previous = getattr(_local, "compiler", None)
    _local.compiler = compile_batch
    try:
        yield
    finally:
        _local.compiler = previous
