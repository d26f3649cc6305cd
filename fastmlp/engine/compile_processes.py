"""How many processes may compile the kernels, and whether this process may start any.

The switch: the environment variable ``FASTMLP_COMPILE_PROCESSES`` (a
positive integer; ``1`` keeps every compile in the calling process, as
before; ``auto`` or unset: the default) and, in code,
``with fastmlp.compile_processes(n):``, which wins over the variable.  By
default a compile uses as many processes as the threads the user allowed
(``fastmlp.threads(n)``, ``NUMBA_NUM_THREADS``); never more than the cores
this process may run on.
"""

import contextlib
import os
import sys
import threading

from .threads import available_cpus, get_num_threads

__all__ = ["ENVIRONMENT_VARIABLE", "compile_processes", "environment_processes",
           "allowed_processes", "spawn_refusal", "MPI_ENVIRONMENT"]

#: The environment variable that sets the most processes of a compile.
ENVIRONMENT_VARIABLE = "FASTMLP_COMPILE_PROCESSES"

#: Variables the MPI launchers (MPICH and Intel MPI's Hydra, Open MPI,
#: MVAPICH, PMIx) set in each process of a job: their size.
MPI_ENVIRONMENT = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")

_setting = None
_lock = threading.Lock()


@contextlib.contextmanager
def compile_processes(n):
    """Compile the kernels on at most ``n`` processes inside the block, then restore.

    Parameters
    ----------
    n : int or None
        1 compiles in the calling process only (as before);
        more lets a first run start up to ``n - 1`` worker processes, never
        more than the cores available.  None: the default (the
        ``FASTMLP_COMPILE_PROCESSES`` variable, else the thread count in
        effect).  Process-wide: two threads that set different values race.

    Raises
    ------
    ValueError
        ``n`` is not a positive integer or None.
    """
    global _setting
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"compile_processes takes a positive integer or None, got {n!r}")
    with _lock:
        saved, _setting = _setting, n
    try:
        yield
    finally:
        with _lock:
            _setting = saved


def environment_processes():
    """The ``FASTMLP_COMPILE_PROCESSES`` value: an int, or None when unset or ``auto``.

    Raises
    ------
    ValueError
        The variable holds something else (the message names it and the value).
    """
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text or text.lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be a positive integer (1: compile in "
                         f"the calling process only) or 'auto', got {text!r}")
    return value


def allowed_processes():
    """The most processes a compile may use now: the setting, else the variable, else the
    thread count in effect on this thread (:func:`fastmlp.engine.threads.get_num_threads`:
    within a container's CPU quota) -- and no more than the cores available."""
    with _lock:
        chosen = _setting
    if chosen is None:
        chosen = environment_processes()
    if chosen is None:
        chosen = get_num_threads()
    return max(1, min(chosen, available_cpus()))


def spawn_refusal():
    """Why this process must not start worker processes, or "" when it may.

    An interpreter without a usable ``sys.executable`` (embedded in another
    program, frozen), or a process of an MPI job (forking under an MPI
    library is unsafe with some networks, and every rank would start its own).
    """
    executable = sys.executable or ""
    if getattr(sys, "frozen", False):
        return "a frozen application"
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return f"no usable Python executable (sys.executable={executable!r})"
    name = os.path.basename(executable).lower()
    if "python" not in name and "pypy" not in name:
        return f"sys.executable is not a Python interpreter ({executable!r}): embedded"
    if _under_mpi():
        return "a process of an MPI job"
    return ""


def _under_mpi():
    for variable in MPI_ENVIRONMENT:
        try:
            if int(os.environ.get(variable, "0")) > 1:
                return True
        except ValueError:
            continue
    mpi = sys.modules.get("mpi4py.MPI")  # loaded already: never imported here
    if mpi is not None:
        try:
            return mpi.Is_initialized() and not mpi.Is_finalized() \
                and mpi.COMM_WORLD.Get_size() > 1
        except Exception:  # a broken MPI library: assume the worst
            return True
    return False
