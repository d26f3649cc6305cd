"""A notice while the kernels compile on first use.

fastmlp's kernels are compiled by Numba the first time a configuration
(dtype, thread variant, activations, loss, optimizer) runs, then loaded
from Numba's on-disk cache (``NUMBA_CACHE_DIR``, or ``__pycache__`` beside
the kernel sources) in later processes.  :func:`first_use` prints one line
to stderr when that first call takes long -- a cache hit never does.
:mod:`fastmlp.warmup` compiles the common configurations ahead of time.
"""

import contextlib
import sys
import threading

from .._utils.tuning import COMPILE_NOTICE_AFTER

__all__ = ["first_use", "silenced", "COMPILE_SECONDS"]


#: Typical first-run compile time of each kind of pass on the 2-core dev
#: machine (the kernels of a kind are shared by every configuration of a
#: dtype; another activation, loss or optimizer adds well under a second).
COMPILE_SECONDS = {"training": 12, "gradients": 10, "evaluation": 3, "prediction": 2}

_seen = set()
_lock = threading.Lock()


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
        Typical compile time on a 2-core machine, for the message.
    stream : file, optional
        Where the line goes (default ``sys.stderr``).
    """
    with _lock:
        known = key in _seen
    if known:
        yield
        return
    out = sys.stderr if stream is None else stream

    def announce():
        if _silenced:
            return
        what = description() if callable(description) else description
        print(f"compiling fastmlp kernels for {what} -- first run only, "
              f"about {seconds:.0f} s", file=out, flush=True)

    timer = threading.Timer(COMPILE_NOTICE_AFTER, announce)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    with _lock:
        _seen.add(key)
