"""A population's optimizers: one per member, their state in stacked arrays the kernels update.

Member k trains with ``optimizer.member(k)`` -- the optimizer built from its
own values when the optimizer was given a value per member
(:mod:`fastmlp.optim.members`), a fresh copy otherwise.  Each member's
optimizer keeps its state, step count and scalar state as views of row k
of the stacked arrays, so the compiled loop updates all of them in one
call and every member's optimizer stays an ordinary one (its
``state_dict``, or training the member alone afterwards, work as usual).
"""

import numpy as np

from ..engine.population import MemberOptState
from ..optim import Optimizer

__all__ = ["MemberOptimizers"]


class MemberOptimizers:
    """The optimizers of a population's members.

    Parameters
    ----------
    optimizer : Optimizer
        With one value each, or a value per member for ``size`` members.
    size : int

    Raises
    ------
    ValueError
        A method that runs its own iterations (L-BFGS), or values for
        another number of members.
    """

    def __init__(self, optimizer, size):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"a population trains with a first-order optimizer; "
                             f"{type(optimizer).__name__} runs its own iterations over one "
                             "model's objective (train the members one by one with it)")
        if optimizer.n_members not in (None, size):
            raise ValueError(f"{type(optimizer).__name__} has values for {optimizer.n_members} "
                             f"members but the population has {size}")
        self.template = optimizer
        self.members = [optimizer.member(k) for k in range(size)]
        self.kind = optimizer.kind
        self.state = None
        self.count = np.zeros((size, 1), dtype=np.int64)
        self.scalars = np.stack([m.scalar_state for m in self.members])
        self._attach()

    def adopt(self, optimizers, params):
        """Take ``optimizers`` (one per member, e.g. restored from a checkpoint) as the
        members' own, their state, counters and rates kept, in the stacked arrays."""
        if len(optimizers) != self.size:
            raise ValueError(f"{len(optimizers)} optimizers for {self.size} members")
        self.members = list(optimizers)
        self.state = None
        self.count = np.zeros((self.size, 1), dtype=np.int64)
        self.scalars = np.stack([m.scalar_state for m in self.members])
        self._attach()
        self.bind(params)

    @property
    def size(self):
        """The number of members."""
        return len(self.members)

    def _attach(self):
        """Make each member's optimizer keep its counters (and state) in the stacked rows."""
        for k, member in enumerate(self.members):
            self.count[k] = member.step_count
            member.step_count = self.count[k]
            self.scalars[k] = member.scalar_state
            member.scalar_state = self.scalars[k]
            if self.state is not None:
                member.state = self.state[k]

    def bind(self, params):
        """Make sure the stacked state matches ``params`` (K, n_params); return it."""
        if self.state is None or self.state.shape[0] != params.shape[0] \
                or self.state.shape[2] != params.shape[1] or self.state.dtype != params.dtype:
            own = [m.bind(params[k]) for k, m in enumerate(self.members)]
            # members may need different numbers of slots (SGD with and without
            # momentum): each gets the most, using its own first ones
            self.state = np.zeros((len(own), max(s.shape[0] for s in own), params.shape[1]),
                                  dtype=params.dtype)
            for k, state in enumerate(own):
                self.state[k, :state.shape[0]] = state
            self._attach()
        return self.state

    def kernel_args(self, rates=None):
        """The :class:`~fastmlp.engine.population.MemberOptState` the kernels take:
        ``rates`` (K, n_batches) each member's rate for each batch of the call, or None
        (each member's ``lr`` throughout)."""
        hyper = np.stack([m.hyper() for m in self.members])
        rates = np.zeros((self.size, 0)) if rates is None else np.ascontiguousarray(
            rates, dtype=np.float64)
        return MemberOptState(self.state, hyper, self.scalars, self.count, rates)

    def reset(self, members, params):
        """Start the listed members' optimizers afresh (state, step count, scalars) in place."""
        for k in members:
            fresh = self.template.member(k)
            state = fresh.bind(params[k])
            if self.state is not None:
                self.state[k] = 0
                self.state[k, :state.shape[0]] = state
            self.count[k] = 0
            self.scalars[k] = fresh.scalar_state

    @property
    def lrs(self):
        """Each member's learning rate, a list."""
        return [m.lr for m in self.members]

    def state_arrays(self):
        """Copies of (state, count, scalars), for putting back an epoch (:meth:`put_back`)."""
        return (None if self.state is None else self.state.copy(), self.count.copy(),
                self.scalars.copy())

    def put_back(self, saved, members):
        """Restore the listed members' rows of a :meth:`state_arrays` copy."""
        state, count, scalars = saved
        rows = np.asarray(members, dtype=np.int64)
        if state is not None:
            self.state[rows] = state[rows]
        self.count[rows] = count[rows]
        self.scalars[rows] = scalars[rows]
