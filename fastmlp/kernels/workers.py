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

The price is a handoff to the workers per call (tens of microseconds);
the training loop enters Python about twice a second at most
(:mod:`fastmlp.epoch_loop`), and small work runs on one thread without any
handoff (:func:`fastmlp.parallel.kernel_threads`).

A worker is never shared by two running teams: a call takes idle workers
or starts new ones, so two Python threads training two models at once each
get a full team and neither waits at a barrier for a thread the other holds.
"""

import threading

__all__ = ["run_team"]


class _Worker:
    """A daemon thread that runs one task at a time, handed over by :meth:`start`."""

    def __init__(self):
        self._task = None
        self._member_no = 0
        self._error = None
        self._given = threading.Semaphore(0)
        self._finished = threading.Semaphore(0)
        threading.Thread(target=self._serve, name="fastmlp-team-member", daemon=True).start()

    def _serve(self):
        while True:
            self._given.acquire()
            try:
                self._task(self._member_no)
            except BaseException as error:  # handed to the caller by wait()
                self._error = error
            self._task = None
            self._finished.release()

    def start(self, task, member_no):
        self._error = None
        self._task = task
        self._member_no = member_no
        self._given.release()

    def wait(self):
        """Block until the task has returned; its exception, or None."""
        self._finished.acquire()
        return self._error


_idle = []
_idle_lock = threading.Lock()


def run_team(task, n_threads):
    """Run ``task(member_no)`` for member_no = 0 .. n_threads-1, each on its own thread, at once.

    Member 0 runs on the calling thread.  Returns when every member has
    returned; an exception raised by a member is raised here (after all
    members have finished).

    Parameters
    ----------
    task : callable
        Called with the member number (an int).  For a team that meets at
        barriers, every member must reach each of them: call only kernels
        that are compiled already (so that no member stops on a compile
        error while the others wait for it).
    n_threads : int
        Team size, >= 1.  One thread runs ``task(0)`` directly.
    """
    if n_threads <= 1:
        task(0)
        return
    with _idle_lock:
        taken = [_idle.pop() for _ in range(min(len(_idle), n_threads - 1))]
    crew = taken + [_Worker() for _ in range(n_threads - 1 - len(taken))]
    for member_no, worker in enumerate(crew, start=1):
        worker.start(task, member_no)
    error = None
    try:
        task(0)
    except BaseException as raised:
        error = raised
    errors = [_wait_through_interrupts(worker) for worker in crew]
    with _idle_lock:
        _idle.extend(crew)
    interrupt = next((e for e in errors if isinstance(e, KeyboardInterrupt)), None)
    error = error or interrupt or next((e for e in errors if e is not None), None)
    if error is not None:
        raise error


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
