"""Thread control for both pools fastmlp uses: Numba's and the BLAS library's.

The matrix products run in the BLAS library NumPy or SciPy ships (the
newer OpenBLAS of the two, :mod:`fastmlp.kernels.blas_library`); the
kernels split their work over as many threads as Numba's thread count in
effect (a team of worker threads, :mod:`fastmlp.kernels.workers`).  :func:`threads` sets both, and
NumPy's own BLAS too, and puts everything back on exit::

    with fastmlp.threads(1):
        trainer.fit(X, y)          # single-threaded, bit-reproducible

Only OpenBLAS (the library in the SciPy and NumPy wheels) and MKL are
recognised directly; with another BLAS, ``threadpoolctl`` is used when it is
installed.  The BLAS thread count is process-wide, so two Python threads
that both enter :func:`threads` with different counts race for it.

When no count is set, fastmlp uses :func:`default_threads`: the CPUs the
process may run on (its affinity), lowered to a container's CPU quota
where the cgroup file system states one (``cpu.max`` of cgroup v2,
``cpu.cfs_quota_us / cpu.cfs_period_us`` of v1), at least 1 -- a 4-CPU
quota on a 96-core host trains on 4 threads, not 96.  The kernels' teams
never exceed it (:func:`get_num_threads`), and ``threads(None)`` -- what
every fit enters without ``n_threads`` -- lowers Numba's count and the BLAS
pools to it for the block.  An explicit count overrides it:
``fastmlp.threads(n)``, ``Trainer(n_threads=n)``, or ``NUMBA_NUM_THREADS``
in the environment (then the default is Numba's pool size).
"""

import contextlib
import ctypes
import functools
import glob
import math
import os
import threading

import numba

from .._utils.tuning import PARALLEL_MIN_FLOPS
from ..kernels.blas_library import chosen as kernels_blas

__all__ = ["threads", "get_num_threads", "max_threads", "default_threads",
           "default_thread_count", "available_cpus", "cpu_quota"]

#: Where the cgroup file systems are mounted, and the file listing this
#: process's own cgroups; module-level so tests can point them at stub files.
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_SELF_CGROUP = "/proc/self/cgroup"
#: The directories a cgroup v1 ``cpu`` controller is mounted at, under CGROUP_ROOT.
_V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads", "MKL_Get_Max_Threads")
_lock = threading.Lock()
_controllers = None
_kernels_controllers = None  # _kernels_blas()


class _BlasLibrary:
    """get/set of one BLAS shared library's thread count through ctypes."""

    def __init__(self, path, lib, getter, setter):
        self.path = path
        self._lib = lib
        self._get = getattr(lib, getter)
        self._get.restype = ctypes.c_int
        self._get.argtypes = []
        self._set = getattr(lib, setter)
        self._set.restype = None
        self._set.argtypes = [ctypes.c_int]

    def get(self):
        return int(self._get())

    def set(self, n):
        self._set(int(n))

    def exports(self, name):
        """Whether the library defines the function ``name``."""
        return hasattr(self._lib, name)


def _candidate_paths():
    import numpy
    import scipy
    import scipy.linalg.cython_blas  # noqa: F401  (loads SciPy's BLAS: Numba's np.dot's)

    paths = []
    for pkg in (numpy, scipy):
        root = os.path.dirname(os.path.dirname(pkg.__file__))
        for sub in (f"{pkg.__name__}.libs", os.path.join(pkg.__name__, ".dylibs")):
            paths += glob.glob(os.path.join(root, sub, "*"))
    try:
        with open("/proc/self/maps") as maps:
            paths += [line.split()[-1] for line in maps if ".so" in line]
    except OSError:
        pass
    keep = []
    for p in paths:
        name = os.path.basename(p).lower()
        if ("openblas" in name or "mkl_rt" in name) and p not in keep:
            keep.append(p)
    return keep


def _blas_controllers():
    global _controllers
    if _controllers is not None:
        return _controllers
    found = []
    for path in _candidate_paths():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        getter = next((g for g in _GETTERS if hasattr(lib, g)), None)
        setter = next((s for s in _SETTERS if hasattr(lib, s)), None)
        if getter and setter:
            found.append(_BlasLibrary(path, lib, getter, setter))
    if not found:
        found = _threadpoolctl_controllers()
    _controllers = found
    return found


def _threadpoolctl_controllers():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return []

    class _Pool:
        def __init__(self, controller):
            self.path = controller.filepath
            self._c = controller
            try:  # opened once: exports() runs on every kernel section's entry
                self._lib = ctypes.CDLL(self.path)
            except OSError:
                self._lib = None

        def get(self):
            return self._c.num_threads

        def set(self, n):
            self._c.set_num_threads(int(n))

        def exports(self, name):
            return self._lib is not None and hasattr(self._lib, name)

    return [_Pool(c) for c in ThreadpoolController().select(user_api="blas").lib_controllers]


def max_threads():
    """Most threads fastmlp can use (Numba's pool size, by default the core count).

    ``fastmlp.threads(n)`` accepts any ``n`` up to it, above
    :func:`default_threads` too.
    """
    return numba.config.NUMBA_NUM_THREADS


def get_num_threads():
    """Threads the kernels use on this thread now.

    Inside ``fastmlp.threads(n)``: ``n``.  Otherwise Numba's count on this
    thread (``numba.set_num_threads`` can lower it), at most
    :func:`default_threads`.
    """
    if _explicit_count() is not None:
        return numba.get_num_threads()
    return min(numba.get_num_threads(), default_threads())


# ------------------------------------------------------------ the default count
@functools.lru_cache(maxsize=1)
def default_threads():
    """The thread count fastmlp uses when none is set (computed once per process).

    ``min(available CPUs, ceil(cgroup CPU quota))`` when a quota is set, else
    the available CPUs (:func:`available_cpus`, :func:`cpu_quota`); at least 1
    and at most :func:`max_threads`.  With ``NUMBA_NUM_THREADS`` in the
    environment (an explicit choice), Numba's pool size.
    """
    if "NUMBA_NUM_THREADS" in os.environ:
        return max_threads()
    return default_thread_count(available_cpus(), cpu_quota(), max_threads())


def default_thread_count(cpus, quota, limit):
    """The rule: ``cpus``, lowered to ``ceil(quota)`` if a quota is given, within 1 .. limit."""
    n = cpus if quota is None else min(cpus, math.ceil(quota))
    return max(1, min(n, limit))


def available_cpus():
    """CPUs this process may run on: its affinity mask (the CPU count where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity on macOS and Windows
        return max(1, os.cpu_count() or 1)


def cpu_quota(cgroup_root=None, proc_cgroup=None):
    """The CPUs a cgroup CPU quota grants this process (quota / period), or None.

    Reads cgroup v2's ``cpu.max`` ("max 100000": no quota) and cgroup v1's
    ``cpu.cfs_quota_us`` (-1: no quota) over ``cpu.cfs_period_us``, in the
    process's own cgroup (from ``/proc/self/cgroup``) and each cgroup above
    it up to the mount's root (a parent's quota binds its children; inside a
    container the listed path may not exist, and the root is the
    container's own cgroup).  The smallest quota found wins.  Missing or
    unreadable files and contents that do not parse are ignored.

    Parameters
    ----------
    cgroup_root : str, optional
        Where the cgroup file systems are mounted (default :data:`CGROUP_ROOT`).
    proc_cgroup : str, optional
        The file listing the process's cgroups (default :data:`PROC_SELF_CGROUP`).

    Returns
    -------
    float or None
    """
    root = CGROUP_ROOT if cgroup_root is None else cgroup_root
    own = _own_cgroups(PROC_SELF_CGROUP if proc_cgroup is None else proc_cgroup)
    limits = [_v2_limit(d) for d in _up_to_root(root, own.get("v2", ""))]
    for mount in _V1_CPU_MOUNTS:
        limits += [_v1_limit(d) for d in _up_to_root(os.path.join(root, mount),
                                                      own.get("v1", ""))]
    limits = [q for q in limits if q is not None]
    return min(limits) if limits else None


def _own_cgroups(path):
    """{"v2": path, "v1": path of the cpu controller} from a /proc/<pid>/cgroup file."""
    found = {}
    for line in (_read_text(path) or "").splitlines():
        fields = line.split(":", 2)  # hierarchy-ID:controller-list:cgroup-path
        if len(fields) != 3 or not fields[2].startswith("/"):
            continue
        if fields[0] == "0" and fields[1] == "":
            found["v2"] = fields[2]
        elif "cpu" in fields[1].split(","):
            found["v1"] = fields[2]
    return found


def _up_to_root(base, cgroup_path):
    """``base``/cgroup_path and each directory above it, up to ``base`` itself."""
    parts = [p for p in cgroup_path.split("/") if p]
    if any(p in (".", "..") for p in parts):  # never read outside the mount
        parts = []
    return [os.path.join(base, *parts[:k]) for k in range(len(parts), -1, -1)]


def _v2_limit(directory):
    fields = (_read_text(os.path.join(directory, "cpu.max")) or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_limit(directory):
    quota = _read_text(os.path.join(directory, "cpu.cfs_quota_us"))
    period = _read_text(os.path.join(directory, "cpu.cfs_period_us"))
    if quota is None or period is None:
        return None
    return _ratio(quota.strip(), period.strip())


def _ratio(quota, period):
    """quota / period for two positive integers given as text, else None (-1: no quota)."""
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _read_text(path):
    """The start of a small text file (undecodable bytes replaced), or None if unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read(65536)
    except OSError:
        return None


class _ExplicitCount(threading.local):
    """Whether (and to what) fastmlp.threads(n) set the count on this Python thread."""

    # A class default (None: not set), where a missing attribute would make each look
    # raise and catch an AttributeError (~0.4 us, and a predict asks on every call).
    n = None


_explicit = _ExplicitCount()


def _explicit_count():
    return _explicit.n


@contextlib.contextmanager
def threads(n):
    """Use ``n`` threads for Numba kernels and BLAS inside the block, then restore.

    Parameters
    ----------
    n : int or None
        1 .. :func:`max_threads` (an explicit count: it overrides
        :func:`default_threads`).  ``None``: inside an explicit
        ``threads(n)``, nothing changes; otherwise Numba's count on this
        thread and the BLAS pools are lowered to :func:`default_threads`
        where they exceed it (never raised).

    Raises
    ------
    ValueError
        ``n`` is not a positive integer or exceeds :func:`max_threads`.
    """
    if n is None:
        if _explicit_count() is not None:
            yield
        else:
            with _pools_at(default_threads(), lower_only=True):
                yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n!r}")
    if n > max_threads():
        raise ValueError(f"n_threads={n} exceeds the {max_threads()} threads available "
                         "(set NUMBA_NUM_THREADS before starting Python to raise it)")
    previous = _explicit_count()
    _explicit.n = n
    try:
        with _pools_at(n, lower_only=False):
            yield
    finally:
        _explicit.n = previous


@contextlib.contextmanager
def _pools_at(n, lower_only):
    """Numba's count on this thread and every BLAS pool at ``n`` (``lower_only``: those
    above it) inside the block; what was changed is put back on exit."""
    with _lock:
        saved_blas = [(lib, _blas_get(lib)) for lib in _blas_controllers()]
        saved_blas = [(lib, count) for lib, count in saved_blas
                      if not (lower_only and count <= n)]
        for lib, _ in saved_blas:
            _blas_set(lib, n)
    saved_numba = numba.get_num_threads()  # Numba's setting is per Python thread
    set_numba = not (lower_only and saved_numba <= n)
    if set_numba:
        numba.set_num_threads(n)
    try:
        yield
    finally:
        if set_numba:
            numba.set_num_threads(saved_numba)
        with _lock:
            for lib, count in saved_blas:
                _blas_set(lib, count)


# While kernels run, the BLAS they call must stay single-threaded.  Requests
# from threads() that arrive meanwhile (another Python thread) are recorded
# in _deferred and applied when the last kernel section ends.
_kernel_sections = 0
_deferred = {}


def _blas_get(lib):
    return _deferred[lib] if (_kernel_sections and lib in _deferred) else lib.get()


def _blas_set(lib, n):
    if _kernel_sections and lib in _deferred:
        _deferred[lib] = n
    else:
        lib.set(n)


def kernel_threads(flops_per_chunk):
    """Threads the kernels should split a chunk over, given its work.

    Small chunks run on one thread (a team costs ~10 us to hand work to,
    :mod:`fastmlp.kernels.workers`); larger ones on the count
    in effect (:func:`get_num_threads`: :func:`threads`, or Numba's count
    within :func:`default_threads`).
    """
    if flops_per_chunk < PARALLEL_MIN_FLOPS:
        return 1
    return get_num_threads()


def _kernels_blas():
    """The controller(s) of the BLAS library the kernels call (all, when it is not found).

    Found once: every small predict switches them (asking each library for
    the symbol again cost ~2.6 us a call, half of the switch).
    """
    global _kernels_controllers
    if _kernels_controllers is None:
        libs = _blas_controllers()
        name = kernels_blas().exports
        _kernels_controllers = [lib for lib in libs if lib.exports(name)] or libs
    return _kernels_controllers


@contextlib.contextmanager
def single_threaded_blas():
    """Run the kernels' BLAS calls single-threaded inside the block, then restore.

    The kernels split work over Numba's threads themselves, each thread
    making its own BLAS calls; a multi-threaded BLAS underneath would
    oversubscribe the cores (measured: 10x slower).  Nested and concurrent
    uses are counted: the first one in sets 1 thread, the last one out
    restores the count (including any :func:`threads` change made meanwhile).
    """
    global _kernel_sections
    with _lock:
        if _kernel_sections == 0:
            for lib in _kernels_blas():
                _deferred[lib] = lib.get()
                lib.set(1)
        _kernel_sections += 1
    try:
        yield
    finally:
        with _lock:
            _kernel_sections -= 1
            if _kernel_sections == 0:
                for lib, count in _deferred.items():
                    lib.set(count)
                _deferred.clear()
