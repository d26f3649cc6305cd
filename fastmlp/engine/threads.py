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
"""

import contextlib
import ctypes
import glob
import os
import threading

import numba

from .._utils.tuning import PARALLEL_MIN_FLOPS
from ..kernels.blas_library import chosen as kernels_blas

__all__ = ["threads", "get_num_threads", "max_threads"]


_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads", "MKL_Get_Max_Threads")
_lock = threading.Lock()
_controllers = None


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
    """Most threads fastmlp can use (Numba's pool size, by default the core count)."""
    return numba.config.NUMBA_NUM_THREADS


def get_num_threads():
    """Threads currently in effect for Numba kernels on this thread."""
    return numba.get_num_threads()


@contextlib.contextmanager
def threads(n):
    """Use ``n`` threads for Numba kernels and BLAS inside the block, then restore.

    Parameters
    ----------
    n : int or None
        1 .. :func:`max_threads`; ``None`` leaves everything as it is.

    Raises
    ------
    ValueError
        ``n`` is not a positive integer or exceeds :func:`max_threads`.
    """
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n!r}")
    if n > max_threads():
        raise ValueError(f"n_threads={n} exceeds the {max_threads()} threads available "
                         "(set NUMBA_NUM_THREADS before starting Python to raise it)")
    with _lock:
        saved_blas = [(lib, _blas_get(lib)) for lib in _blas_controllers()]
        for lib, _ in saved_blas:
            _blas_set(lib, n)
    saved_numba = numba.get_num_threads()  # Numba's setting is per Python thread
    numba.set_num_threads(n)
    try:
        yield
    finally:
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

    Small chunks run on one thread (a team costs tens of microseconds to
    hand work to, :mod:`fastmlp.kernels.workers`); larger ones on Numba's
    thread count in effect (:func:`threads`, ``numba.set_num_threads``).
    """
    if flops_per_chunk < PARALLEL_MIN_FLOPS:
        return 1
    return numba.get_num_threads()


def _kernels_blas():
    """The controller(s) of the BLAS library the kernels call (all, when it is not found)."""
    libs = _blas_controllers()
    name = kernels_blas().exports
    return [lib for lib in libs if lib.exports(name)] or libs


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
