"""A notice while the kernels compile on first use.

fastmlp's kernels are compiled by Numba the first time a configuration
(dtype, thread variant, activations, loss, optimizer) runs, then loaded
from Numba's on-disk cache (``NUMBA_CACHE_DIR``, or ``__pycache__`` beside
the kernel sources) in later processes.  :func:`first_use` prints one line
to stderr when that first call compiles -- a cache hit never does: at once,
with the processes and the estimate of the compile
(:func:`announce`, from :mod:`fastmlp.engine.compile_pool`), or, for a
call that takes long for another reason, after ``COMPILE_NOTICE_AFTER``
seconds.  :mod:`fastmlp.warmup` compiles the common configurations ahead
of time.
"""

import contextlib
import sys
import threading

from .._utils.tuning import COMPILE_NOTICE_AFTER

__all__ = ["first_use", "silenced", "announce", "COMPILE_SECONDS"]


#: Typical first-run compile time of each kind of pass on the 2-core dev
#: machine (the kernels of a kind are shared by every configuration of a
#: dtype; another activation, loss or optimizer adds well under a second):
#: the notice's figure when no compile announced its own estimate.
COMPILE_SECONDS = {"training": 12, "gradients": 10, "evaluation": 3, "prediction": 2}

_seen = set()
_lock = threading.Lock()
_local = threading.local()  # the notices of the first uses open on this thread


@contextlib.contextmanager
def silenced():
    """No notices inside the block, from any thread (``fastmlp warmup`` prints its own lines)."""
    global _silenced
    with _lock:
        _silenced += 1
    try:
        yield
    finally:
        with _lock:
            _silenced -= 1


_silenced = 0


_SINGULAR = {"processes": "process", "ranks": "rank"}


class _Notice:
    """The one line a first use may print (by its timer, or by :func:`announce`)."""

    def __init__(self, description, seconds, stream):
        self.description = description
        self.seconds = seconds
        self.stream = stream
        #: the compile's processes and their kind, once announced
        self.processes, self.what = None, "processes"
        self.printed = False
        self._lock = threading.Lock()

    def print(self):
        with self._lock:
            if self.printed or _silenced:
                return
            self.printed = True
        described = self.description
        described = described() if callable(described) else described
        where = ""
        if self.processes is not None:
            unit = self.what if self.processes > 1 else _SINGULAR[self.what]
            where = f" on {self.processes} {unit}"
        print(f"compiling fastmlp kernels for {described}{where} -- first run only, "
              f"about {max(1, round(self.seconds)):.0f} s", file=self.stream, flush=True)


@contextlib.contextmanager
def first_use(key, description, seconds, stream=None):
    """Announce on ``stream`` (stderr) if the first call for ``key`` compiles.

    Parameters
    ----------
    key : hashable
        What identifies one compiled configuration; later uses of the same
        key in this process pass silently at no cost.
    description : str or callable
        The configuration in words, e.g. ``"float32 relu/softmax/adam"``, or
        a function returning them (called only when the line is printed).
    seconds : float
        Typical compile time on a 2-core machine, for the message when no
        compile inside announces its own (:func:`announce`).
    stream : file, optional
        Where the line goes (default ``sys.stderr``).
    """
    with _lock:
        known = key in _seen
    if known:
        yield
        return
    notice = _Notice(description, seconds, sys.stderr if stream is None else stream)
    timer = threading.Timer(COMPILE_NOTICE_AFTER, notice.print)
    timer.daemon = True
    timer.start()
    notices = getattr(_local, "notices", None)
    if notices is None:
        notices = _local.notices = []
    notices.append(notice)
    try:
        yield
    finally:
        timer.cancel()
        notices.pop()
    with _lock:
        _seen.add(key)


def announce(processes, seconds, what="processes"):
    """A compile starts, on ``processes`` processes (or MPI ranks: ``what="ranks"``), for
    about ``seconds`` s: the notice of the innermost first use open on this thread says
    so -- at once when that is ``COMPILE_NOTICE_AFTER`` or more, else if its timer fires.
    Does nothing outside a first use, or once its notice is printed."""
    notices = getattr(_local, "notices", None)
    if notices:
        notice = notices[-1]
        notice.processes, notice.seconds, notice.what = processes, seconds, what
        if seconds >= COMPILE_NOTICE_AFTER:
            notice.print()
