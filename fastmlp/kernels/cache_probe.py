"""Whether Numba's on-disk cache holds a compilation, read without loading it.

Before starting processes to compile a configuration, the engine asks
which of its jobs are missing from the cache (:func:`cached`): a warm start
then costs a read of each function's small index file, and starts nothing.

Numba has no public call for this.  What it does on a load, in
``numba/core/caching.py``: a function's index file (``<module>.<name>-<line>.pyXY.nbi``
in the cache directory its locator picks: ``NUMBA_CACHE_DIR``, a writable
``__pycache__`` beside the source, or a per-user directory) maps a key --
the signature, the CPU and its features, hashes of the function's bytecode
and closure -- to a data file; an index whose source stamp (a hash of the
source file) or Numba version differs counts as empty.  :func:`cached`
follows the same steps through Numba's own objects, so the answer agrees
with the load that follows; where those objects are not as expected (another
Numba), it answers None: "cannot tell", and the caller compiles in-process.

Numba writes each index and data file to a temporary name and renames it
into place (``IndexDataCacheFile._open_for_write``): a process killed
while writing leaves no partial file under the real name.  It writes the
index before the data, so a process killed between the two leaves an index
entry without its data file: the load treats that as a miss (and so does
:func:`cached`), and the next compile writes the data.
"""

import functools
import os

from numba.core.caching import FunctionCache
from numba.core.registry import cpu_target

from .deferred import POINTER

__all__ = ["cached", "cache_directory"]


@functools.cache
def _cache_of(py_func):
    # Numba's cache object of a function: its locator (the directory) and
    # index file; RuntimeError when no directory is writable
    return FunctionCache(py_func)


def cache_directory(function):
    """The directory Numba caches ``function`` (a dispatcher) in, or None if there is none.

    None: no writable place (``NUMBA_CACHE_DIR``, ``__pycache__``, the user's
    cache directory), where Numba can compile but not cache.
    """
    try:
        return _cache_of(function.py_func).cache_path
    except (RuntimeError, OSError):
        return None


def cached(job):
    """Whether the cache holds ``job`` (a :class:`~fastmlp.kernels.deferred.Job`): True,
    False, or None when that cannot be told (no usable cache, another Numba)."""
    try:
        cache = _cache_of(job.function.py_func)
        # the key the load will look for: a pointer is cached under its
        # Signature, an overload under the argument types as given
        sig = job.sig if job.kind == POINTER else tuple(job.sig)
        key = cache._index_key(sig, cpu_target.target_context.codegen())
        entries = cache._cache_file._load_index()
        name = entries.get(key)
        return name is not None and os.path.exists(cache._cache_file._data_path(name))
    except Exception:  # no usable cache, a damaged index, another Numba: cannot tell
        return None
