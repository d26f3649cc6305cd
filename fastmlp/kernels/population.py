"""Training a population: K models of one architecture on the same batches, in one call.

A population's members share the architecture, the data and the epoch
order; each has its own parameters, optimizer state and hyper-parameters
(the rows of a :class:`~fastmlp.kernels.structs.Members`).  A call trains
the members the Python side lists on batches ``run.first .. run.end - 1``:
each thread of the team takes the next member nobody has taken, trains it
alone through all of the call's batches with the same compiled loop a
single model runs on one thread (:func:`fastmlp.kernels.team.train_member`,
called through its pointer), and takes another until none is left.

Why a member per thread, and not the whole population per step as one
team: the members of the populations worth training this way are small
(a 64-128-10 network's step is ~20 us), far too small to split between
threads without barriers costing more than the split saves, and every
member's work is independent.  So the threads never wait for each other
inside a call, a member's parameters and moments stay in its core's cache
through the call's batches, and a member's arithmetic is exactly that of
the same model trained alone on one thread -- which is what makes each
member equal to its solo fit.  Nor do the members' first layers become one
product over the shared input (``X_b @ [W_1^1 ... W_1^K]``): measured on
the 64-128-10 shape (batch 32, one core, AVX-512), the 16-member product
ran at 120 GFLOP/s against 113 for one member's, and the weight gradient's
at 97 against 108 -- nothing to pay for members whose weights could then
not be views of one contiguous block.

Which thread trains a member changes nothing in its result: a member runs
on one thread, whatever the team's size, with that thread's own workspace
and gradient buffer (the ``Lanes``).
"""

from collections import namedtuple

import numpy as np
from numba.extending import register_jitable

from . import team as team_passes
from .addresses import unpack_ops
from .config import jit
from .ops import launch, unit
from .sparse import forget_listed
from .structs import Net, OptState, Sums, Work
from .sync import atomic_add, enter_team, leave_team
from .train import passes_for
from .views import unowned

__all__ = ["PopulationTraining", "population_training", "train_population"]

#: What :func:`train_population` calls, compiled for one population's
#: argument types: the team ``member`` (:func:`population_member`), the
#: ``trainer`` it runs each member with (``train_member`` on one thread) and
#: the ``passes`` that one calls (pointers, :mod:`fastmlp.kernels.ops`).
PopulationTraining = namedtuple("PopulationTraining", ["member", "trainer", "passes"])


@register_jitable  # also built on the Python side, to compile for its types
def member_net(net, members, k):
    """Member k's :class:`~fastmlp.kernels.structs.Net` (``net``: the shared layout and
    activation parameters; ``members``: a :class:`~fastmlp.kernels.structs.Members`)."""
    return Net(members.params[k], net.layout, net.act_param, members.layer_f[k],
               members.running[k], net.mpi)


@register_jitable  # also built on the Python side, to compile for its types
def member_optimizer(members, k):
    """Member k's optimizer arrays, an :class:`~fastmlp.kernels.structs.OptState`."""
    return OptState(members.state[k], members.hyper[k], members.scalars[k], members.count[k],
                    members.rates[k])


@register_jitable  # also built on the Python side, to compile for its types
def lane_work(lanes, t):
    """Thread t's workspace, a :class:`~fastmlp.kernels.structs.Work`."""
    return Work(lanes.buf[t], lanes.parts, lanes.rows[t])


@jit
def population_member(t, net, ops, passes, data, run, members, lanes, trainer):
    """Thread t's part of a population's call: the members it claims, each trained alone.

    Shapes: ``net`` a :class:`~fastmlp.kernels.structs.Net` for the layout
    and activation parameters every member shares; ``data`` a
    :class:`~fastmlp.kernels.structs.Data` whose index is the epoch order;
    ``run`` a :class:`~fastmlp.kernels.structs.Run`; ``members`` a
    :class:`~fastmlp.kernels.structs.Members`, ``lanes`` a
    :class:`~fastmlp.kernels.structs.Lanes` (thread t's buffers are row t of
    each); ``trainer`` :func:`~fastmlp.kernels.team.train_member` compiled
    for one member's arrays.  The members are claimed one at a time from
    ``members.order`` (an atomic counter), so a thread that drew cheaper
    members takes more of them.
    """
    work = lane_work(lanes, t)
    grad, sync, stats = lanes.grad[t], lanes.sync[t], lanes.stats[t]
    sums = Sums(stats, lanes.partial[t])
    while True:
        i = atomic_add(members.claimed, 0, 1)
        if i >= members.order.size:
            return
        k = members.order[i]
        # the member's sums build up in the thread's own lane, and reach the
        # member's row once: neighbouring rows belong to members other threads
        # train, and a cache line written by two cores in turn at every batch
        # made the team no faster than one thread
        width = members.stats.shape[2]
        stats[0, :width] = members.stats[k, 0]
        forget_listed(work)  # a sparse input's list of rows: the last member's stamps
        trainer(np.int64(0), member_net(net, members, k), ops, passes, grad, members.reg[k],
                data, run, work, member_optimizer(members, k), sums, np.int64(1), sync,
                members.result[k])
        members.stats[k, 0] = stats[0, :width]


def population_training(net, ops, data, run, members, lanes):
    """The :class:`PopulationTraining` of a population's run: the arguments are those of
    :func:`train_population`.

    The passes and the trainer are those of a single model of the same
    types on one thread: compiled once, shared with such models.
    """
    k, t = members.order[0] if members.order.size else 0, 0
    one = member_net(net, members, k)
    work = lane_work(lanes, t)
    grad, sync, stats = lanes.grad[t], lanes.sync[t], lanes.stats[t]
    passes = passes_for(one, ops, grad, members.reg[k], data, work, stats, 1, sync,
                        members.state[k])
    trainer = unit(team_passes.train_member,
                   (np.int64(0), one, ops, passes, grad, members.reg[k], data, run, work,
                    member_optimizer(members, k), Sums(stats, lanes.partial[t]), np.int64(1),
                    sync, members.result[k]))
    member = unit(population_member, (np.int64(0), net, ops, passes, data, run, members, lanes,
                                      trainer))
    return PopulationTraining(member, trainer, passes)


def train_population(compiled, net, ops, data, run, members, lanes, n_threads):
    """Train the members ``members.order`` on batches ``run.first .. run.end - 1``.

    ``compiled``: the :class:`PopulationTraining` for these argument types;
    the other arguments as in :func:`population_member`.  Member k's
    ``members.result[k, 0]`` is -1 when every batch had a finite loss,
    otherwise the first batch whose loss was NaN or inf (not applied, and the
    member's last batch of the call).  ``n_threads`` threads share the
    members (at most one per member).
    """
    members.claimed[0] = 0
    members.result[members.order] = -1
    n_threads = max(1, min(n_threads, members.order.size))
    launch(_train_population, compiled.member, ops,
           (net, compiled.passes, data, run, members, lanes, compiled.trainer), n_threads)


# Every array goes to the members without its owner (see kernels.train): the
# team's threads would otherwise count references to the same arrays at once.

@jit(from_python=True)
def _train_population(member, functions, t, board, net, passes, data, run, members, lanes,
                      trainer):
    enter_team(board, t)
    member(t, unowned(net), unpack_ops(functions, lanes.grad), passes, unowned(data),
           unowned(run), unowned(members), unowned(lanes), trainer)
    leave_team(board, t)
