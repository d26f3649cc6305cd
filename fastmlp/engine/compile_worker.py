"""A worker process of a parallel compile: compiles the jobs it is sent into Numba's cache.

Started by :mod:`fastmlp.engine.compile_workers` as ``python -c`` with this
package's directory first on ``sys.path`` (so that it compiles the same
fastmlp as its parent).  The protocol, pickles over the worker's stdin and
stdout: the worker first writes a :class:`Hello` (which fastmlp it
imported), then for every :class:`~fastmlp.kernels.deferred.JobSpec` it
reads, compiles it (:func:`~fastmlp.kernels.deferred.compile_spec`: Numba
writes the result to the cache) and writes a :class:`Done`.  It ends at the
end of its input.  Anything printed goes to stderr: stdout carries the
protocol only.

``FASTMLP_TEST_COMPILE_FAULT=<how>:<function name>`` (tests only) makes the
worker fail on that function: ``raise`` raises an error instead of
compiling it; ``kill`` kills the worker with SIGKILL while Numba saves its
cache entry -- after the index is written, before the data file is.
"""

import os
import pickle
import signal
import sys
import time
import traceback
from collections import namedtuple

from numba.core.caching import IndexDataCacheFile

from ..kernels.deferred import compile_spec

__all__ = ["Hello", "Done", "main", "FAULT_VARIABLE"]

#: The worker's first message: the fastmlp package it imported and its process id.
Hello = namedtuple("Hello", ["package", "pid"])

#: The worker's answer to a job: the spec, whether it compiled, the seconds
#: it took and its CPU seconds, and the error's traceback (empty when it compiled).
Done = namedtuple("Done", ["spec", "ok", "seconds", "cpu_seconds", "error"])

#: The environment variable of the fault hook (tests).
FAULT_VARIABLE = "FASTMLP_TEST_COMPILE_FAULT"


def main():
    """Serve jobs from stdin until it ends (the worker's entry point)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints: to stderr
    source = sys.stdin.buffer
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    _send(out, Hello(package, os.getpid()))
    how, _, target = os.environ.get(FAULT_VARIABLE, "").partition(":")
    while True:
        try:
            spec = pickle.load(source)
        except EOFError:
            return
        start, cpu = time.perf_counter(), time.process_time()
        try:
            if spec.name == target:
                _fail(how, target)
            compile_spec(spec)
            error = ""
        except Exception:  # reported to the parent, which compiles the job itself
            error = traceback.format_exc()
        _send(out, Done(spec, not error, time.perf_counter() - start,
                        time.process_time() - cpu, error))


def _send(out, message):
    pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _fail(how, target):
    """The fault hook: fail the job of function ``target`` the way ``how`` says."""
    if how == "raise":
        raise RuntimeError(f"{FAULT_VARIABLE} asked this job to fail")
    if how == "kill":
        save_data = IndexDataCacheFile._save_data

        def killed(cache_file, name, data):
            # the function's own entry (index files: <module>.<qualname>-<line>...),
            # not one of its callees'
            if f".{target}-" in cache_file._index_name:
                os.kill(os.getpid(), signal.SIGKILL)
            save_data(cache_file, name, data)

        IndexDataCacheFile._save_data = killed
