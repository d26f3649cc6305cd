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

The same atomics hand a team's work to its worker threads
(:mod:`fastmlp.kernels.workers`): :func:`await_count` and
:func:`finish_and_await` watch counters without the GIL, :func:`post_task`
posts a task, and a team's board (:func:`new_board`) says when member 0
has entered compiled code (:func:`enter_team`) and when the workers are
back in their watch (:func:`leave_team`) -- and, when the team can do
without its workers, which of them took their task (:func:`take_task`)
and which member 0 let off.

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

#: The entries of a team's board (:func:`new_board`): whether member 0 entered
#: compiled code, how many workers left theirs, how many there are -- each on a
#: cache line of its own; then, on a board whose workers are optional, a slot
#: per worker from BOARD_SLOTS on (:data:`SLOT_PENDING`, :data:`SLOT_STARTED`
#: or :data:`SLOT_LET_OFF`).
BOARD_ENTERED, BOARD_LEFT, BOARD_WORKERS, BOARD_OPTIONAL, BOARD_SIZE = 0, 8, 16, 17, 18
BOARD_SLOTS = 24

#: A worker's slot on a board with optional workers (:func:`new_board`): its
#: task not taken yet, taken by the worker (:func:`take_task`), or given up by
#: member 0 (:func:`leave_team`) -- whichever of the two comes first decides.
SLOT_PENDING, SLOT_STARTED, SLOT_LET_OFF = 0, 1, -1


def _pointer(context, builder, arr_type, arr, index):
    ary = context.make_array(arr_type)(context, builder, arr)
    return cgutils.get_item_pointer(context, builder, arr_type, ary, [index], wraparound=False)


def _pointer_at(context, builder, signature, args):
    # element args[1] of the int64 array whose data starts at address args[0]
    base = builder.inttoptr(context.cast(builder, args[0], signature.args[0], types.int64),
                            ir.IntType(64).as_pointer())
    return builder.gep(base, [context.cast(builder, args[1], signature.args[1], types.intp)])


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
def atomic_load_at(typingctx, address, index):
    """Element ``index`` of the int64 array whose data starts at ``address`` (an int64),
    read atomically (sequentially consistent).  For an array known only by its address
    (:func:`finish_and_await`): the caller keeps it alive."""
    if not (isinstance(address, types.Integer) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer_at(context, builder, signature, args), "seq_cst", 8)

    return types.int64(address, index), codegen


@intrinsic
def atomic_swap_if_at(typingctx, address, index, expected, value):
    """:func:`atomic_swap_if` on the int64 array whose data starts at ``address`` (kept
    alive by the caller, see :func:`atomic_load_at`)."""
    if not all(isinstance(a, types.Integer) for a in (address, index, expected, value)):
        return None

    def codegen(context, builder, signature, args):
        old = context.cast(builder, args[2], signature.args[2], types.int64)
        new = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(_pointer_at(context, builder, signature, args), old, new,
                               "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(address, index, expected, value), codegen


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


@intrinsic
def atomic_swap_if(typingctx, arr, index, expected, value):
    """arr[index] = value if it holds ``expected``, atomically; whether it did."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        old = context.cast(builder, args[2], signature.args[2], types.int64)
        new = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(ptr, old, new, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(arr, index, expected, value), codegen


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


@jit(from_python=True)
def await_count(counts, index, target, checks):
    """Wait until ``counts[index] >= target``, for at most ``checks`` checks; whether it came.

    The first :data:`SPINS_BEFORE_YIELD` checks spin; the later ones give
    the core away between checks.  Compiled without the GIL: the threads
    of a team hand work to each other through it (:mod:`fastmlp.kernels.workers`).
    """
    return _await_at(counts.ctypes.data, index, target, checks)


@jit
def _await_at(address, index, target, checks):
    # await_count on the int64 array whose data starts at ``address`` (kept alive by
    # the caller): a worker knows the board of its next task by its address alone
    for check in range(checks):
        if atomic_load_at(address, index) >= target:
            return True
        spin_pause()
        if check > SPINS_BEFORE_YIELD:
            _sched_yield()
    return atomic_load_at(address, index) >= target


@jit(from_python=True)
def finish_and_await(counts, finished, done, board, index, checks, board_at, member_at):
    """A worker's handoff: ``counts[finished] = done``, and the team's ``board`` told that it
    left, then :func:`await_count` ``(counts, index, done + 1, checks)`` for the next
    task, then (at most ``checks`` checks) for member 0 of the next task's team to
    enter compiled code, and the task taken (:func:`take_task`).  Returns the number of
    the task to run, or minus the number of tasks done when none came in time.

    Both posts are made without the GIL: the thread that waits for them to
    take the GIL next finds it free (it would otherwise sleep until the
    poster let it go, ~30 us).  ``board``: :func:`new_board`, or empty.
    The next task's board is found by its address, at ``counts[board_at]``
    (0: none): its caller holds the GIL until member 0 enters compiled code,
    and a worker that came back to Python before that would sleep until
    then, for ~15 us more on a virtual machine's idle core (the worker,
    once back in Python, could no longer wait without the GIL).  A task
    that member 0 let off (its team's work done without this worker) is
    counted done here, and the watch goes on, still without the GIL.
    """
    if board.size > 0:  # first: a caller that sees it finished sees it left
        atomic_add(board, BOARD_LEFT, 1)
    while True:
        atomic_store(counts, finished, done)
        if not await_count(counts, index, done + 1, checks):
            return -done
        address = atomic_load(counts, board_at)
        if address == 0:
            return done + 1
        _await_at(address, BOARD_ENTERED, 1, checks)
        if _take_at(address, atomic_load(counts, member_at)):
            return done + 1
        done += 1


@jit(from_python=True)
def take_task(board, member_no, checks):
    """A worker woken for its task on ``board``: wait (at most ``checks`` checks) for
    member 0 to enter compiled code, then take the task; whether it is the worker's to run.

    False only on a board with optional workers (:func:`new_board`) whose
    member 0 has let this worker off (:func:`leave_team`) first.
    """
    if board.size == 0:
        return True
    address = board.ctypes.data
    _await_at(address, BOARD_ENTERED, 1, checks)
    return _take_at(address, member_no)


@jit
def _take_at(address, member_no):
    # take_task on the board at ``address``: the slot's swap decides between the worker
    # and member 0's leave_team, whichever comes first
    if atomic_load_at(address, BOARD_OPTIONAL) == 0:
        return True
    return atomic_swap_if_at(address, BOARD_SLOTS + member_no - 1, SLOT_PENDING, SLOT_STARTED)


@jit(from_python=True, nogil=False)
def post_task(counts, index, value, flag, board_at, board, member_at, member_no):
    """``counts[index] = value``, then take down ``counts[flag]`` if it is up: whether it was.

    The poster of a worker's task (:mod:`fastmlp.kernels.workers`): the
    flag says that the waiting worker went to sleep and must be woken.
    First stores at ``counts[board_at]`` the address of the task's team
    ``board`` (0 for an empty one), where the worker looks for it without
    the GIL (:func:`finish_and_await`; read from Python, as
    ``board.ctypes.data``, an array's address costs ~1 us, a tenth of a
    small team's handoff), and at ``counts[member_at]`` the worker's member
    number.  Holds the GIL (it is short), so that the thread it wakes
    cannot take it meanwhile.
    """
    atomic_store(counts, board_at, np.int64(board.ctypes.data) if board.size > 0 else 0)
    atomic_store(counts, member_at, member_no)
    atomic_store(counts, index, value)
    return atomic_swap_if(counts, flag, 1, 0)


@jit(from_python=True)
def announce_sleep(counts, flag, index, target):
    """A waiter about to sleep: put ``counts[flag]`` up; whether it must now wait to be woken.

    False when ``counts[index] >= target`` came meanwhile and the flag could
    still be taken down here (no wake-up will come); True otherwise -- the
    poster (:func:`post_task`) took the flag down and wakes it, or will.
    """
    atomic_store(counts, flag, 1)
    if atomic_load(counts, index) >= target and atomic_swap_if(counts, flag, 1, 0):
        return False
    return True


#: Checks member 0 makes at its end (:func:`leave_team`) for the workers to
#: be back in their wait for the next task before it returns itself.
LEAVE_CHECKS = SPINS_BEFORE_YIELD + 1024


#: The board of a call that is not a team's: :func:`enter_team` and
#: :func:`leave_team` do nothing with it.
NO_BOARD = np.zeros(0, dtype=np.int64)


def new_board(optional_workers=0):
    """A fresh board for a team (:func:`enter_team`, :func:`leave_team`); the caller that
    hands out the work sets its number of workers (:func:`fastmlp.kernels.workers.run_team`).

    ``optional_workers`` > 0: room for that many workers that the team can
    do without -- members whose work any other member takes when they are
    late, such as a predict's, which claim rows as they come.  Member 0
    lets off, at its end, each worker that has not taken its task yet
    (:func:`leave_team`), and returns without waiting for it.
    """
    if optional_workers <= 0:
        return np.zeros(BOARD_SIZE, dtype=np.int64)
    board = np.zeros(BOARD_SLOTS + optional_workers, dtype=np.int64)
    board[BOARD_OPTIONAL] = 1
    return board


@jit
def enter_team(board, t):
    """Member 0 of a team tells the workers it runs compiled code (without the GIL) now:
    they take the GIL to start their own members when it is free
    (:mod:`fastmlp.kernels.workers`)."""
    if t == 0 and board.size > 0:
        atomic_store(board, BOARD_ENTERED, 1)


@jit
def leave_team(board, t):
    """Member 0 of a team, at its end, waits (a while) for the workers to be back in their
    wait for the next task: it would otherwise take the GIL back first, and they
    would sleep until it let it go, ~30 us (:mod:`fastmlp.kernels.workers`).

    On a board with optional workers (:func:`new_board`), it first lets off
    every worker that has not taken its task, and waits for the others only.
    """
    if t != 0 or board.size == 0:
        return
    started = board[BOARD_WORKERS]
    if board[BOARD_OPTIONAL] != 0:
        started = 0
        for slot in range(BOARD_SLOTS, BOARD_SLOTS + board[BOARD_WORKERS]):
            if not atomic_swap_if(board, slot, SLOT_PENDING, SLOT_LET_OFF):
                started += 1
    await_count(board, BOARD_LEFT, started, LEAVE_CHECKS)


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
