"""A spinning barrier for the threads of a team.

Launching a Numba parallel region costs ~1.5 us; a training step of a small
network has half a dozen phases that must not overlap (forward, then each
layer's backward), and at 20-30 us per step those launches cost a quarter of
the time.  Instead, a whole run of batches executes as a team: each thread
runs the same member function from start to end
(:mod:`fastmlp.kernels.workers`), and the threads wait for each other
between phases at a barrier built on LLVM atomics (~0.1-0.3 us).  It needs
every member running at the same time on its own thread, which the workers
guarantee.

``state`` is an int64 array of :data:`STATE_SIZE` elements: the arrival
counter and the generation, each on its own cache line, then what a
measurement of the waits needs (:func:`time_waits`): off unless a benchmark
turns it on, and then a cycle count per barrier.
"""

import platform
import sys
import time

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import jit

#: Spins (~50 us) before a thread waiting at a team barrier starts giving its
#: core away between checks.  With more runnable threads than cores (two
#: models training in two Python threads) a pure spin burns whole time
#: slices: measured 4x slower with 65536 spins, no slower than one after
#: another with 1024.
SPINS_BEFORE_YIELD = 1 << 10

_COUNT = 0
_GENERATION = 8  # a cache line apart from the counter
_PERIOD = 16  # barriers per batch when the waits are timed, 0 otherwise
_WAITS = 17  # cycles waited at each of the PERIOD barriers of a batch, summed
MAX_PERIOD = 47
STATE_SIZE = _WAITS + MAX_PERIOD


def _pointer(context, builder, arr_type, arr, index):
    ary = context.make_array(arr_type)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, arr_type, ary, [index], wraparound=False)


@intrinsic
def atomic_add(typingctx, arr, index, value):
    """arr[index] += value atomically (sequentially consistent); returns the old value."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(arr, index, value), codegen


@intrinsic
def atomic_load(typingctx, arr, index):
    """arr[index] read atomically (sequentially consistent)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return types.int64(arr, index), codegen


@intrinsic
def atomic_store(typingctx, arr, index, value):
    """arr[index] = value atomically (sequentially consistent)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(val, ptr, "seq_cst", 8)
        return context.get_dummy_value()

    return types.none(arr, index, value), codegen


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@intrinsic
def spin_pause(typingctx):
    """A CPU hint that this is a spin-wait loop (x86 ``pause``; nothing elsewhere).

    (An LLVM intrinsic rather than inline assembly: Numba's JIT has no
    assembly parser.)
    """

    def codegen(context, builder, signature, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module,
                                                ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def cycle_counter(typingctx):
    """The CPU's cycle counter (x86 time-stamp counter; 0 where LLVM has none): for
    measuring waits, in ticks of :func:`counter_ticks_per_second`."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


if sys.platform == "win32":
    @jit
    def _sched_yield():
        return 0
else:
    _sched_yield = types.ExternalFunction("sched_yield", types.intc())



@jit
def barrier(state, n_threads):
    """Wait until ``n_threads`` threads have arrived; the last one releases them all.

    Writes made before the barrier by any thread are visible after it to
    all (the atomics are sequentially consistent).  A thread that has waited
    long (more threads than free cores) yields its core between checks.
    When a benchmark times the waits (:func:`time_waits`), each thread adds
    the cycles it spent here to the barrier's place in the batch.
    """
    if n_threads == 1:
        return
    period = state[_PERIOD]  # set before the team starts, never while it runs
    started = cycle_counter() if period > 0 else 0
    generation = atomic_load(state, _GENERATION)
    if atomic_add(state, _COUNT, 1) == n_threads - 1:
        atomic_store(state, _COUNT, 0)
        atomic_add(state, _GENERATION, 1)
    else:
        spins = 0
        while atomic_load(state, _GENERATION) == generation:
            spin_pause()
            spins += 1
            if spins > SPINS_BEFORE_YIELD:
                _sched_yield()
    if period > 0:
        atomic_add(state, _WAITS + generation % period, cycle_counter() - started)


def new_state():
    """A fresh barrier state array."""
    return np.zeros(STATE_SIZE, dtype=np.int64)


def time_waits(state, period):
    """From now on, add up the cycles every thread waits at each barrier of a batch.

    ``period``: the barriers of one batch (1 .. :data:`MAX_PERIOD`, e.g. from
    :func:`barriers_passed` over some batches; 0 stops the timing).  Barrier
    number g of the state counts towards place ``g % period``: set it before
    a run starts at a batch's first barrier.  For measurements only
    (bench/scaling.py): a timed barrier reads the cycle counter twice.
    """
    if not 0 <= period <= MAX_PERIOD:
        raise ValueError(f"period={period}: 0 .. {MAX_PERIOD} barriers per batch")
    state[_WAITS:] = 0
    state[_PERIOD] = period


def waits(state):
    """Cycles waited at each barrier place of a batch since :func:`time_waits` (all threads)."""
    return state[_WAITS:_WAITS + state[_PERIOD]].copy()


@jit(from_python=True)
def _read_counter():
    return cycle_counter()


def counter_ticks_per_second(seconds=0.05):
    """The rate of :func:`cycle_counter`, measured against the wall clock over ``seconds``."""
    _read_counter()
    wall, ticks = time.perf_counter(), _read_counter()
    time.sleep(seconds)
    return (_read_counter() - ticks) / (time.perf_counter() - wall)


def barriers_passed(state):
    """How many barriers (of more than one thread) a state has let through: its generation.

    For measurements (bench/scaling.py counts the barriers of a batch).
    """
    return int(state[_GENERATION])
