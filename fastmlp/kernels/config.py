"""Numba compilation settings shared by every kernel.

All kernels are compiled through :func:`jit` so the flags live in one place:

* ``cache=True``: compiled code is written beside the sources (or to
  ``NUMBA_CACHE_DIR``), so a warm start costs ~0.5 s instead of ~10 s.
* ``error_model="numpy"``: float division follows IEEE rules instead of
  raising ``ZeroDivisionError``.  The Python error model puts a zero test in
  front of every division, and that branch alone stops LLVM from vectorising
  an optimizer loop (measured: Adam 3.0 ns/element -> 0.37 ns/element).
* ``fastmath=FASTMATH``: reassociation, contraction into FMA, reciprocal
  approximations and sign-of-zero freedom, *without* ``nnan``/``ninf``:
  with those two LLVM may fold ``x != x`` to false and NaN detection (the
  divergence checks) would silently stop working.
* ``nogil=True``: two models can train in two Python threads at once.

One rule for calls between kernels: never pass a Python literal (``0``,
``True``, a module constant, a tuple of them) where another call site of the
same function passes a variable.  Numba types a literal argument as
``Literal[int](0)`` and compiles a separate specialisation of the callee --
and of everything it calls -- for it; the literals of the single-thread
paths had tripled the cold compile time.  Write ``np.int64(0)`` and
``np.bool_(True)`` instead: plain int64 and bool.
"""

import numba

#: Fast-math flags safe for NaN/inf detection (no 'nnan', no 'ninf').
FASTMATH = frozenset({"reassoc", "contract", "arcp", "nsz", "afn"})

#: Flags for the elementary functions in :mod:`fastmlp.kernels.mathfun`: only
#: FMA contraction.  Reassociation would undo the two-step Cody-Waite range
#: reduction those functions rely on.
STRICT_FASTMATH = frozenset({"contract"})

_BASE = dict(cache=True, error_model="numpy", nogil=True)

#: Options of the functions compiled as pointers (:mod:`fastmlp.kernels.ops`):
#: the same cache, error model and fast-math flags as every kernel.
CFUNC_OPTIONS = dict(cache=True, error_model="numpy", fastmath=set(FASTMATH))


def jit(func=None, *, parallel=False, fastmath=FASTMATH, from_python=False, **options):
    """Compile ``func`` with the project's Numba settings.

    Usable bare (``@jit``) or with options (``@jit(parallel=True)``).
    Kernels are called from other kernels only, unless ``from_python``:
    the others get no CPython or C wrapper (Numba would otherwise generate
    and optimise both for every function; measured: a tenth of the compile
    time of a training step).
    """
    wrappers = {} if from_python else dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)
    settings = dict(_BASE, parallel=parallel, fastmath=set(fastmath), **wrappers, **options)
    if func is None:
        return lambda f: numba.njit(**settings)(f)
    return numba.njit(**settings)(func)
