"""Entry points of the compiled training loop and of the gradient pass.

Per batch: gather the rows named by ``order`` -> forward (GEMM + epilogue)
-> loss and output sensitivity -> backward -> optimizer update in place.
Python enters once per call (an epoch, or a chunk of one when a callback or
the progress display wants control back), never once per batch.

With more than one thread the work runs as a team: every thread runs the
same member function for the whole call, the threads meeting at barriers
between phases (:mod:`fastmlp.kernels.team`), which costs ~0.2 us per
phase against ~1.5 us for a parallel-region launch.  The members run on
the calling thread and on worker threads (:mod:`fastmlp.kernels.workers`);
one thread runs the same code without the handoff.
"""

from collections import namedtuple

import numpy as np

from . import team as team_passes
from .addresses import unpack_ops
from .config import jit
from .ops import Passes, addresses, fingerprint, launch, ready_team, unit
from .structs import Noise, Step, Sums, Team
from .sync import enter_team, leave_team
from .team import loss_grad_member, train_member
from .views import unowned

#: What :func:`train_batches` calls, compiled for one run's argument types:
#: the team member and the passes it calls (pointers, :mod:`fastmlp.kernels.ops`).
Training = namedtuple("Training", ["member", "passes"])


def training(net, ops, grad, reg, data, run, work, opt, stats, n_threads, sync):
    """The :class:`Training` of a run: the arguments are those of :func:`train_batches`.

    Compiles (or loads from the cache) what is missing; the result serves
    every later call with arguments of the same types, and saves retyping
    them (~1 ms) on every call.  Kept per argument types: a fit after the
    first of its kind finds it in one fingerprint of its arguments (~10 us,
    where looking up its three functions took ~50).
    """
    key = fingerprint((net, ops, grad, reg, data, run, work, opt, stats, n_threads, sync))
    found = _trainings.get(key)
    if found is None:
        passes = passes_for(net, ops, grad, reg, data, work, stats, n_threads, sync, opt.state)
        rest = _typed_rest(passes, grad, reg, data, run, work, opt, stats, n_threads, sync)
        found = _trainings[key] = Training(unit(train_member, (np.int64(0), net, ops) + rest),
                                           passes)
    return found


_trainings = {}


def ready(compiled, net, ops, grad, reg, data, run, work, opt, stats, n_threads, sync):
    """Compile (or load) everything :func:`train_batches` calls with these arguments (the
    same), ``compiled`` their :class:`Training`, without training."""
    rest = _typed_rest(compiled.passes, grad, reg, data, run, work, opt, stats, n_threads, sync)
    # the launcher first: everything pending (the member, the passes, the functions)
    # compiles with it, side by side (kernels.deferred); then nothing is left for these
    ready_team(_train, compiled.member, (net,) + rest)
    addresses(ops)


def train_batches(compiled, net, ops, grad, reg, data, run, work, opt, stats, n_threads, sync):
    """Train on batches ``run.first .. run.end-1`` of the epoch order ``data.index``.

    Shapes: ``net`` a :class:`~fastmlp.kernels.structs.Net`;
    ``ops`` the configuration's functions (:class:`fastmlp.kernels.ops.Ops`);
    grad (n_params,); ``reg`` the penalties (:mod:`fastmlp.kernels.penalty`);
    ``data`` a :class:`~fastmlp.kernels.structs.Data`: X (n, n_in), T (n,
    n_out), sw (n,) float64 sample weights or empty
    (:mod:`fastmlp.kernels.losses`), and as its index the epoch order, (n,)
    int64, a permutation of the rows (batch b is order[b*bs : (b+1)*bs], the
    last one possibly shorter); ``compiled`` the :class:`Training` for these
    argument types; ``run`` a :class:`~fastmlp.kernels.structs.Run`;
    ``work`` a :class:`~fastmlp.kernels.structs.Work`; ``opt`` the
    optimizer's arrays, an :class:`~fastmlp.kernels.structs.OptState`;
    stats (n_threads, 3 + n_out) float64 as in :mod:`fastmlp.kernels.losses`;
    ``sync`` a barrier state (:func:`fastmlp.kernels.sync.new_state`).

    Returns -1 when every batch had a finite loss; otherwise the index of the
    first batch whose loss was NaN or inf, which was not applied.
    """
    # Arrays the team shares are made here and passed in (the members only
    # write into them).
    result = np.full(1, -1, dtype=np.int64)
    sums = Sums(stats, np.zeros(n_threads))
    rest = _member_rest(compiled.passes, grad, reg, data, run, work, opt, sums, n_threads, sync,
                        result)
    launch(_train, compiled.member, ops, (net,) + rest, n_threads)
    return int(result[0])


def _member_rest(passes, grad, reg, data, run, work, opt, sums, n_threads, sync, result):
    """:func:`~fastmlp.kernels.team.train_member`'s arguments after ``t, net, ops``, in order."""
    return (passes, grad, reg, data, run, work, opt, sums, n_threads, sync, result)


def _typed_rest(passes, grad, reg, data, run, work, opt, stats, n_threads, sync):
    """:func:`_member_rest` for compiling: fresh arrays of the right types stand for the
    team's partial sums and result, which :func:`train_batches` makes per call."""
    return _member_rest(passes, grad, reg, data, run, work, opt,
                        Sums(stats, np.zeros(n_threads)), n_threads, sync,
                        np.zeros(1, dtype=np.int64))


def passes_for(net, ops, grad, reg, data, work, stats, n_threads, sync, state):
    """The :class:`~fastmlp.kernels.ops.Passes` a member's batches call, compiled for these types.

    The arguments are those of the member; the passes' other arguments
    (row counts, the scale, the noise key, the step's constants) have fixed
    types, stood for here by zeros.
    """
    key = fingerprint((net, ops, grad, reg, data, work, stats, n_threads, sync, state))
    found = _passes.get(key)
    if found is None:
        found = _passes[key] = _compiled_passes(net, ops, grad, reg, data, work, stats, n_threads,
                                                sync, state)
    return found


_passes = {}


def _compiled_passes(net, ops, grad, reg, data, work, stats, n_threads, sync, state):
    # (passes_for's work, the first time for these types)
    zero = np.int64(0)
    noise = Noise(zero, zero, zero, zero)
    team = Team(zero, np.int64(n_threads), sync)
    forward = unit(team_passes.forward, (net, ops, zero, data, zero, zero, work,
                                         work.buf.dtype.type(0), stats, team, noise))
    step = Step(np.bool_(False), np.bool_(False), state, (0.0,) * 16)
    backward = unit(team_passes.backward, (net, ops, grad, reg, data, zero, zero, work, team,
                                           np.bool_(False), step, noise))
    return Passes(forward, backward)


# The member runs through a pointer (:func:`fastmlp.kernels.ops.unit`), compiled
# once: the launcher that calls it stays small, instead of re-optimising the
# whole training step again.  The configuration's functions arrive as
# addresses (:func:`fastmlp.kernels.ops.addresses`), rebuilt where they are used.
# The member gets every array without its owner (:func:`~fastmlp.kernels.views.unowned`):
# the team's threads would otherwise count references to the same arrays at
# once, in every kernel call; the Python caller holds them until the team returns.

@jit(from_python=True)
def _train(member, functions, t, board, net, passes, grad, reg, data, run, work, opt, sums,
           n_threads, sync, result):
    enter_team(board, t)
    member(t, unowned(net), unpack_ops(functions, grad), passes, unowned(grad), unowned(reg),
           unowned(data), unowned(run), unowned(work), unowned(opt), unowned(sums), n_threads,
           unowned(sync), unowned(result))
    leave_team(board, t)


def loss_grad(net, ops, grad, reg, loss_code, data, start, stop, work, stats, n_threads, sync,
              noise, weight=0.0, accumulate=False):
    """The objective (mean loss + penalty ``reg``) and its gradient over positions start..stop.

    Rows are processed in chunks of ``chunk_rows(work)`` rows.  ``data`` a
    :class:`~fastmlp.kernels.structs.Data` (its ``index`` maps positions to
    rows of X and T; empty: positions are rows); ``stats`` (n_threads, 3 +
    n_out) float64 is accumulated; ``noise`` = (seed, 0, mode, 0) (mode 0:
    dropout off, batch norm on its running statistics; 1: training mode).
    The gradient of the objective is written to ``grad`` (chunks after the
    first are added in by BLAS with beta = 1).  A NaN or infinite loss is
    returned without a gradient.  ``weight``, when positive, is the mean's
    denominator instead of the rows' total weight (data-parallel L-BFGS:
    these rows are one rank's share of a training set of that weight, or a
    pass cut into calls: these rows are one call's).  ``accumulate``: add the
    gradient to what ``grad`` holds (a call of a pass cut into several, after
    the first).
    """
    result = np.zeros(1)
    passes = passes_for(net, ops, grad, reg, data, work, stats, n_threads, sync,
                        grad[:0].reshape(0, 0))
    rest = (passes, grad, reg, np.int64(loss_code), data, np.int64(start), np.int64(stop), work,
            Sums(stats, np.zeros(n_threads)), n_threads, sync, result,
            Noise(*(np.int64(v) for v in noise)), np.float64(weight), np.bool_(accumulate))
    member = unit(loss_grad_member, (np.int64(0), net, ops) + rest)
    launch(_loss_grad, member, ops, (net,) + rest, n_threads)
    return float(result[0])


@jit(from_python=True)
def _loss_grad(member, functions, t, board, net, passes, grad, reg, loss_code, data, start, stop,
               work, sums, n_threads, sync, result, noise, weight, accumulate):
    enter_team(board, t)
    member(t, unowned(net), unpack_ops(functions, grad), passes, unowned(grad), unowned(reg),
           loss_code, unowned(data), start, stop, unowned(work), unowned(sums), n_threads,
           unowned(sync), unowned(result), noise, weight, accumulate)
    leave_team(board, t)
