"""Worker threads that run the members of a thread team side by side.

The multi-threaded kernels run as a team: ``n_threads`` calls of one
compiled member function, one per thread, all at the same time, meeting at
barriers between phases (:mod:`fastmlp.kernels.sync`).  The launchers that
call a member are compiled ``nogil``, so plain Python threads run them in
parallel: :func:`run_team` calls ``task(0)`` on the calling thread and
``task(1) .. task(n_threads - 1)`` on worker threads kept for the purpose.

Why not a Numba parallel region (``prange(n_threads)``), as before:

* compile time -- each parallel launcher cost ~0.8-1.2 s of a cold start
  (the gufunc wrapper and the region's outlined body, per launcher and
  dtype), for a loop that only calls a pointer;
* the barrier needs every member on its own thread at once, which Numba's
  OpenMP layer gave only when the loop's length equalled its thread count
  (static schedule), and TBB or the workqueue layer not at all; here every
  member has its own thread whatever the threading layer.

The price is a handoff to the workers per call.  It goes through counters
in memory, watched without the GIL (:mod:`fastmlp.kernels.sync`): a worker
watches for its next task for ~0.2 ms after each one, then sleeps on a lock;
given a task, it waits for member 0 to enter compiled code before it takes
the GIL to start its own member, and member 0 waits at its end for the
workers to be back in their watch -- so that neither side asks for the GIL
while the other holds it, which costs a sleep and a wake-up (~30 us on this
kind of machine).  Measured with a 34 us member, one worker: 46 us a call,
against 64-80 us when the workers took a semaphore and the GIL as it came.
Small work still runs on one thread without any handoff
(:func:`fastmlp.engine.threads.kernel_threads`).

A worker is never shared by two running teams: a call takes idle workers
or starts new ones, so two Python threads training two models at once each
get a full team and neither waits at a barrier for a thread the other holds.

A team whose members claim their work as they come (a predict's) can do
without a worker that is late -- another program's thread holding the
core it needs: its board makes the workers optional
(:func:`fastmlp.kernels.sync.new_board`), member 0 lets off at its end a
worker that has not taken its task, and :func:`run_team` returns without
waiting for it.  The worker passes over that task when it next looks
(without the GIL); until then it is "behind", and a team with optional
workers goes without it while any other team waits for it.
"""

import os
import threading

import numpy as np

from .sync import (
    BOARD_OPTIONAL,
    BOARD_SLOTS,
    BOARD_WORKERS,
    NO_BOARD,
    SLOT_LET_OFF,
    SPINS_BEFORE_YIELD,
    announce_sleep,
    await_count,
    finish_and_await,
    post_task,
    take_task,
)

__all__ = ["run_team"]

# A worker's handoff counters, each on a cache line of its own: tasks handed
# to it, tasks it finished (or was let off), and whether it sleeps (waits on its
# lock); then the address of the board of the task handed to it (0: none) and its
# member number in that task's team.
_GIVEN, _FINISHED, _ASLEEP, _BOARD_AT, _MEMBER_AT, _COUNTERS = 0, 8, 16, 24, 25, 26

#: Checks an idle worker makes (spinning, then giving its core away between
#: checks) for its next task before it sleeps: a fraction of a millisecond.  A caller making
#: calls back to back (predicting batch after batch) finds it awake -- ~5 us
#: to start where waking a sleeping thread costs ~30-50 us on this kind of
#: machine -- and a worker without work stops using its core soon after.
IDLE_CHECKS = SPINS_BEFORE_YIELD + 256

#: Checks a worker woken from its sleep makes for member 0 to enter compiled
#: code (:func:`fastmlp.kernels.sync.enter_team`) before it takes the GIL
#: to start its own member: taken while the caller still holds it, the GIL
#: would put the worker to sleep until the caller lets it go (~30 us).  (A
#: worker that was watching its counters when the task came makes the same
#: wait, IDLE_CHECKS long, in :func:`~fastmlp.kernels.sync.finish_and_await`.)
ENTRY_CHECKS = SPINS_BEFORE_YIELD + 1024

#: Checks the caller makes between looks for a Ctrl-C while it waits for the workers.
FINISH_CHECKS = SPINS_BEFORE_YIELD + 4096


class _Worker:
    """A daemon thread that runs one task at a time, handed over by :meth:`start`.

    The handoff goes through counters (:mod:`fastmlp.kernels.sync`) that
    the worker watches for a while after each task, then through a lock it
    sleeps on.
    """

    def __init__(self):
        self._task = None
        self._member_no = 0
        self._board = NO_BOARD
        self._error = None
        self._given = 0
        self._behind = False  # let off a task it may not have seen yet (see ready())
        self._counters = np.zeros(_COUNTERS, dtype=np.int64)
        self._wake = threading.Lock()
        self._wake.acquire()
        threading.Thread(target=self._serve, name="fastmlp-team-member", daemon=True).start()

    def _serve(self):
        counters = self._counters
        done = 0
        board = NO_BOARD
        while True:
            # (the wait for member 0 to enter compiled code is made in there, by the
            # board's address, when the task came while it watched; so are the tasks
            # that member 0 let off before this worker took them)
            next_task = finish_and_await(counters, _FINISHED, done, board, _GIVEN, IDLE_CHECKS,
                                         _BOARD_AT, _MEMBER_AT)
            if next_task <= 0:
                done = -next_task
                self._sleep(done)
                if not take_task(self._board, self._member_no, ENTRY_CHECKS):
                    done, board = done + 1, NO_BOARD  # let off: not one of its team's leavers
                    continue
                next_task = done + 1
            done = next_task
            task, member_no, board = self._task, self._member_no, self._board
            try:
                task(member_no)
            except BaseException as error:  # handed to the caller by wait()
                self._error = error
            # let go of the task's arrays (the caller hands the next one only after
            # it has seen this one finished, below)
            task = self._task = None

    def _sleep(self, done):
        """Wait on the lock for task ``done + 1``, the caller told to wake us."""
        if announce_sleep(self._counters, _ASLEEP, _GIVEN, done + 1):
            self._wake.acquire()

    def start(self, task, member_no, board):
        """Hand over ``task(member_no)`` of the team of ``board`` (or :data:`NO_BOARD`)."""
        self._error = None
        self._task = task
        self._member_no = member_no
        self._board = board
        self._given += 1
        # the worker finds the board by its address, without the GIL (kept alive by
        # self._board)
        if post_task(self._counters, _GIVEN, self._given, _ASLEEP, _BOARD_AT, board, _MEMBER_AT,
                     member_no):
            self._wake.release()

    def ready(self):
        """Whether the worker is done with every task handed to it (run or let off).

        Only a worker let off its last task (:meth:`let_off`) can be behind:
        the others are handed a task after the caller saw the last one finished.
        """
        if self._behind:
            self._behind = self._counters[_FINISHED] < self._given
        return not self._behind

    def let_off(self):
        """Its task's member 0 let it off (:func:`fastmlp.kernels.sync.leave_team`): the
        task will not run; its arguments are let go of now."""
        self._task = None
        self._behind = True

    def wait(self):
        """Block until the task has returned; its exception, or None."""
        # Through the compiled wait even when the counter says the task is done: it lets
        # go of the GIL, and the next call's worker then started its member 2.5 us after
        # member 0 where a check from Python first made it 5.4 (lag of a team predict,
        # digits shape, 64 rows, Zen 4).
        while not await_count(self._counters, _FINISHED, self._given, FINISH_CHECKS):
            pass  # back in Python now and then: a Ctrl-C surfaces here
        return self._error


_idle = []
_idle_lock = threading.Lock()


def _forget_idle():
    """In a child forked from this process: the workers' threads stayed in the parent."""
    _idle.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_idle)


def run_team(task, n_threads, board=None):
    """Run ``task(member_no)`` for member_no = 0 .. n_threads-1, each on its own thread, at once.

    Member 0 runs on the calling thread.  Returns when every member has
    returned (or, on a board with optional workers, was let off); an
    exception raised by a member is raised here (after all members have
    finished).

    Parameters
    ----------
    task : callable
        Called with the member number (an int).  For a team that meets at
        barriers, every member must reach each of them: call only kernels
        that are compiled already (so that no member stops on a compile
        error while the others wait for it).
    n_threads : int
        Team size, >= 1.  One thread runs ``task(0)`` directly.
    board : ndarray, optional
        From :func:`fastmlp.kernels.sync.new_board`, when the members are
        compiled launchers that mark it (:func:`~fastmlp.kernels.sync.enter_team`
        at their start, :func:`~fastmlp.kernels.sync.leave_team` at their end):
        each handoff of the GIL between the caller and the workers then
        finds it free.  A board with optional workers: the call returns
        without the workers member 0 let off (their tasks never run), and
        the team may have fewer members than ``n_threads`` (none of the
        idle workers left behind by such a call is waited for).
    """
    if n_threads <= 1:
        task(0)
        return
    if board is None:
        board = NO_BOARD
    optional = board.size > 0 and board[BOARD_OPTIONAL] != 0
    crew = _take_crew(n_threads - 1, optional)
    if board.size > 0:
        board[BOARD_WORKERS] = len(crew)
    for member_no, worker in enumerate(crew, start=1):
        worker.start(task, member_no, board)
    error = None
    try:
        task(0)
    except BaseException as raised:
        error = raised
    waited = crew
    if optional:
        waited = []
        for member_no, worker in enumerate(crew, start=1):
            if board[BOARD_SLOTS + member_no - 1] == SLOT_LET_OFF:
                worker.let_off()  # back among the idle, ready once it has seen so
            else:
                waited.append(worker)
    errors = [_wait_through_interrupts(worker) for worker in waited]
    with _idle_lock:
        _idle.extend(crew)
    if error is None and not any(errors):
        return
    interrupt = next((e for e in errors if isinstance(e, KeyboardInterrupt)), None)
    error = error or interrupt or next((e for e in errors if e is not None), None)
    if error is not None:
        raise error


def optional_worker_ready():
    """Whether a team with optional workers (:func:`run_team`) would have one now.

    Not when every idle worker is still on its way to a task it was let off:
    another program's thread holds the core it needs (the caller then does
    best to work alone, in its own way).
    """
    for worker in _idle:  # (another team may take some meanwhile: harmless)
        if worker.ready():
            return True
    return not _idle


def _take_crew(n_workers, optional):
    """``n_workers`` workers for a team, from the idle ones first, new ones for the rest.

    An idle worker may still be on its way to a task it was let off (it
    has not had its core since): a team whose workers are ``optional``
    goes without it (without a new thread either: the core it waits for
    is busy), any other team waits for it.
    """
    with _idle_lock:
        cut = max(0, len(_idle) - n_workers)
        crew = _idle[cut:]
        del _idle[cut:]
    late = [worker for worker in crew if not worker.ready()]
    if not late:
        while len(crew) < n_workers:
            crew.append(_Worker())
        return crew
    if optional:
        # (from the one look above: a worker that became ready since is in ``late``, and
        # must not be handed out while it also goes back among the idle ones)
        crew = [worker for worker in crew if worker not in late]
        with _idle_lock:
            _idle.extend(late)
        return crew
    try:
        for worker in late:
            worker.wait()
    except BaseException:  # Ctrl-C meanwhile: the workers stay the pool's
        with _idle_lock:
            _idle.extend(crew)
        raise
    return crew + [_Worker() for _ in range(n_workers - len(crew))]


def _wait_through_interrupts(worker):
    """:meth:`_Worker.wait`, finished even when Ctrl-C arrives meanwhile.

    The members of a team finish together (they meet at barriers), so the
    wait is short; a worker given back to the pool while still running
    would be handed a second task.  The interrupt is returned, to be raised
    once the whole team is back.
    """
    interrupt = None
    while True:
        try:
            error = worker.wait()
            return interrupt or error
        except KeyboardInterrupt as raised:
            interrupt = raised
