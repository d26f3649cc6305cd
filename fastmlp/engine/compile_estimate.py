"""How long a compile will take, and how to share its jobs between processes.

The CPU seconds each kernel function takes to compile were measured on the
2-core dev machine (:data:`REFERENCE_SECONDS`: a fresh process compiling a
fit, its evaluation and prediction one job after another, as
``FASTMLP_COMPILE_PROCESSES=1`` does).  On another machine every compile
takes longer or shorter by about the same factor: :func:`machine_speed`
times a small piece of pure Python (what most of Numba's compile time is)
against the same piece on the dev machine.  (A machine busy with other work
takes longer: the estimate counts on a core for each process.)
:func:`schedule` hands the jobs, the longest first, to whichever
process is free first -- the worker processes start a little after the
calling one -- and the last one to finish gives the estimate.  The longest
job bounds it however many processes there are (the critical path).

A job compiled in a worker costs a little more than in one process
(~10% for a fit: the kernels share some of the functions they call, and
each process compiles those it meets first), which the estimate leaves out.
"""

import functools
import heapq
import time
from collections import namedtuple

__all__ = ["REFERENCE_SECONDS", "DEFAULT_SECONDS", "WORKER_START_SECONDS", "Schedule",
           "job_seconds", "machine_speed", "schedule", "best_schedule"]

#: CPU seconds to compile each kernel function on the 2-core dev machine
#: (AMD EPYC, Numba 0.68.1, float32; float64 within ~10%), in a process
#: that compiles a whole configuration; jobs are named by the function.
REFERENCE_SECONDS = {
    # the passes and thread-team members (fastmlp.kernels.team, .inference)
    "backward": 3.6, "train_member": 3.2, "forward": 2.6, "evaluate_member": 0.95,
    "predict_member": 0.65, "loss_grad_member": 0.5,
    # the entry points called from Python (fastmlp.kernels.train, .inference)
    "_train": 0.55, "_evaluate": 0.45, "_loss_grad": 0.35, "_predict_team": 0.3,
    "_predict_here": 0.35,
    # a configuration's functions (fastmlp.kernels.ops)
    "cross_entropy_rows": 0.7, "binary_cross_entropy_rows": 0.3, "squared_error_rows": 0.25,
    "adam_range": 0.6, "sgd_range": 0.35, "relu_forward": 0.5, "softmax_forward": 0.5,
    "tanh_forward": 0.3, "sigmoid_forward": 0.2, "adam_constants": 0.15,
}

#: CPU seconds of a kernel function not in :data:`REFERENCE_SECONDS` (an
#: activation's derivative, an optimizer's constants, a stand-in that does
#: nothing: mostly well under this).
DEFAULT_SECONDS = 0.1

#: Seconds before a worker process takes its first job on the dev machine
#: (Python, NumPy, SciPy, Numba and fastmlp imported, Numba's compiler set up).
WORKER_START_SECONDS = 1.0

#: Seconds of :func:`_probe_work` on the dev machine (the fastest of 5).
_REFERENCE_PROBE_SECONDS = 0.00135

#: A plan of jobs over processes: the jobs (indices into the costs) each
#: process compiles, in order, and the seconds until the last one ends.
Schedule = namedtuple("Schedule", ["processes", "assignment", "seconds"])


def job_seconds(name, speed=1.0):
    """The estimated seconds to compile the job of kernel function ``name`` alone."""
    return REFERENCE_SECONDS.get(name, DEFAULT_SECONDS) * speed


def _probe_work():
    """A few milliseconds of the dictionary, attribute and call work a compiler does."""
    table = {}
    total = 0
    for i in range(6000):
        key = ("v", i % 251)
        table[key] = table.get(key, 0) + len(str(i))
        total += table[key] & 7
    return total


@functools.cache
def machine_speed():
    """This machine's compile time relative to the dev machine (2.0: twice as long).

    Timed once per process (the fastest of 5 runs, under 10 ms in all): the
    speed of a core, whatever else runs.
    """
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        _probe_work()
        best = min(best, time.perf_counter() - start)
    return max(0.2, min(10.0, best / _REFERENCE_PROBE_SECONDS))


def schedule(costs, processes, start_delay=WORKER_START_SECONDS, ready=0):
    """Share jobs of ``costs`` seconds between ``processes`` processes: the longest first,
    each to the process free first.

    The calling process is free at once, and so are ``ready`` workers (started
    for an earlier batch); the other workers after ``start_delay`` seconds.
    Returns a :class:`Schedule`; its ``seconds`` is when the last job ends.
    """
    free = [(0.0 if p <= ready else start_delay, p) for p in range(processes)]
    heapq.heapify(free)
    assignment = [[] for _ in range(processes)]
    end = 0.0
    for job in sorted(range(len(costs)), key=lambda j: -costs[j]):
        at, process = heapq.heappop(free)
        at += costs[job]
        assignment[process].append(job)
        end = max(end, at)
        heapq.heappush(free, (at, process))
    return Schedule(processes, assignment, end)


def best_schedule(costs, most, start_delay=WORKER_START_SECONDS, ready=0):
    """The :func:`schedule` of ``costs`` over 1 .. ``most`` processes that ends first
    (the fewest processes among equals): more processes than pay for their start-up
    are not started.  ``ready``: workers already started."""
    best = schedule(costs, 1, start_delay)
    for processes in range(2, max(1, most) + 1):
        plan = schedule(costs, processes, start_delay, ready)
        if plan.seconds < best.seconds - 1e-9:
            best = plan
    return best
