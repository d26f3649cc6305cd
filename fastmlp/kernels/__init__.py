"""Compiled core of fastmlp: Numba kernels over flat arrays and scalars.

Numba caches each compiled function beside its source (or under
``NUMBA_CACHE_DIR``) and checks only that file's time stamp; a kernel that
inlines code from another file would keep running stale machine code after
that file changes (and can crash if a
signature changed).  So the cache is keyed on all kernel sources together
(and Numba's version): when any of them differs from what the cache was
built from, the cache is cleared before anything compiles.
"""

import glob
import hashlib
import os

import numba
from numba.core.caching import UserProvidedCacheLocator


def _cache_directory(here):
    """Where Numba caches this package's kernels: ``NUMBA_CACHE_DIR`` or ``__pycache__``."""
    if numba.config.CACHE_DIR:
        subpath = UserProvidedCacheLocator.get_suitable_cache_subpath(
            os.path.join(here, "__init__.py"))
        return os.path.join(numba.config.CACHE_DIR, subpath)
    return os.path.join(here, "__pycache__")


def _invalidate_stale_cache():
    here = os.path.dirname(os.path.abspath(__file__))
    # Numba's version too: its cache ignores the files of another version, but
    # a process killed between writing an index entry and its data file (a
    # compile worker, fastmlp.engine.compile_pool) would leave an entry that
    # points at another version's data file of the same name
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(glob.glob(os.path.join(here, "*.py"))):
        with open(path, "rb") as f:
            digest.update(f.read())
    stamp = digest.hexdigest()
    cache = _cache_directory(here)
    marker = os.path.join(cache, "fastmlp-kernels.sha256")
    try:
        with open(marker) as f:
            if f.read().strip() == stamp:
                return
    except OSError:
        pass
    try:
        for path in glob.glob(os.path.join(cache, "*.nb[ic]")):
            os.remove(path)
        os.makedirs(cache, exist_ok=True)
        with open(marker, "w") as f:
            f.write(stamp)
    except OSError:
        pass  # read-only install: Numba then uses its user-wide cache directory


_invalidate_stale_cache()
