"""Optimizer base class: hyper-parameters, flat state buffers, the step call."""

import copy

import numba
import numpy as np

from .._utils.validation import check_nonnegative_float, check_positive_float
from ..engine.guard import writing_to
from ..kernels import ops as _ops
from ..kernels import optim as _k
from ..kernels.structs import OptState
from .members import accepting_member_values
from .solver import Solver
from .transforms import from_description

__all__ = ["Optimizer"]


class Optimizer(Solver):
    """Base class of the per-element optimizers.

    An optimizer owns its state: ``n_slots`` flat buffers of the parameter
    buffer's length and dtype (velocity, moments, ...), stored as the rows of
    one (n_slots, n_params) array, a small float64 scalar state and the step
    counter.  The state is created on the first :meth:`step` for that
    buffer's size and dtype.

    Subclasses set ``kind`` (the kernel code) and the attributes named by
    ``kernels.optim.CORE_HYPER[kind]``; gradient transforms (clipping,
    penalties, decoupled decay) come from ``transforms`` (see
    :func:`fastmlp.optim.chain`) and from the subclass's own
    ``weight_decay`` argument, reported by :meth:`_coupled_decay` and
    :meth:`_decoupled_decay`.
    """

    kind = None
    #: Settings besides ``hyper_names`` and ``weight_decay`` that :meth:`state_dict`
    #: records, :meth:`load_state_dict` accepts and ``repr`` shows.
    _extra_settings = ()
    #: Given values per member of a population (:mod:`fastmlp.optim.members`):
    #: each member's constructor arguments, and the names that vary (None: one value each)
    member_arguments = None
    per_member = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # every numeric hyper-parameter may vary per member
            cls.__init__ = accepting_member_values(cls.__init__)

    def __init__(self):
        self.state = None
        self.step_count = np.zeros(1, dtype=np.int64)
        self.scalar_state = self._initial_scalar_state()
        self.transforms = ()

    # ------------------------------------------------------------ populations
    @property
    def n_members(self):
        """The population size its values per member are for (None: one value each)."""
        return None if self.member_arguments is None else len(self.member_arguments)

    def member(self, i):
        """Member ``i``'s optimizer: a new one of this class with that member's values (and
        this one's transforms, without state); with one value each, a fresh copy."""
        if self.member_arguments is None:
            one = self.copy()
            one.reset()
            return one
        one = type(self)(**self.member_arguments[i])
        one.transforms = self.transforms
        return one

    def check_single(self, what="a Model"):
        """Raise ValueError when the optimizer has values per member (for a population)."""
        if self.member_arguments is not None:
            raise ValueError(f"{type(self).__name__} has {self.n_members} values per member "
                             f"({', '.join(self.per_member)}): it trains a fastmlp.Population "
                             f"of that size, not {what}; give one value each")

    # ------------------------------------------------------- subclass hooks
    @property
    def n_slots(self):
        """Number of state buffers this configuration needs."""
        raise NotImplementedError

    @property
    def hyper_names(self):
        """Names of the optimizer's own hyper-parameters, in kernel order."""
        return _k.CORE_HYPER[self.kind]

    def _coupled_decay(self):
        return getattr(self, "weight_decay", 0.0)

    def _decoupled_decay(self):
        return 0.0

    def _initial_scalar_state(self):
        return np.zeros(_k.SCALAR_STATE)

    def _fill_initial_state(self, state):
        """Set the starting values of a new state, zeros on entry (they stay zero here)."""

    # ------------------------------------------------------------- kernel view
    def hyper(self):
        """The float64 hyper-parameter array the kernels read."""
        self.check_single()
        h = np.zeros(_k.HYPER_SIZE)
        for i, name in enumerate(self.hyper_names):
            h[i] = float(getattr(self, name))
        h[_k.L2] = self._coupled_decay()
        h[_k.DECOUPLED] = self._decoupled_decay()
        for piece in self.transforms:
            piece.apply(h)
        return h

    def kernel_args(self, lrs=None):
        """The :class:`~fastmlp.kernels.structs.OptState` the kernels take (state bound)."""
        lrs = np.empty(0) if lrs is None else np.ascontiguousarray(lrs, dtype=np.float64)
        return OptState(self.state, self.hyper(), self.scalar_state, self.step_count, lrs)

    @property
    def needs_full_gradient(self):
        """Whether a transform needs the whole gradient before any update."""
        return any(getattr(p, "global_", False) for p in self.transforms)

    # ------------------------------------------------------------- learning rate
    @property
    def lr(self):
        """Learning rate (schedules set it between epochs).

        Setting it to 0 is allowed -- where a schedule that anneals to 0 leaves
        it, and what a checkpoint taken there restores; a step at rate 0
        changes no parameter -- but a new optimizer needs a positive rate
        (:meth:`_initial_lr`).  Negative and non-finite rates are refused.
        """
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_nonnegative_float(value, "lr")

    @staticmethod
    def _initial_lr(value):
        """The ``lr`` a constructor was given, checked: positive (0 would train nothing)."""
        return check_positive_float(value, "lr")

    # ------------------------------------------------------------- state
    def bind(self, params):
        """Make sure the state matches ``params`` (size and dtype); return it."""
        n_slots = self.n_slots
        if (self.state is None or self.state.shape[1] != params.size
                or self.state.dtype != params.dtype or self.state.shape[0] < n_slots):
            if self.state is not None and self.step_count[0] > 0 and (
                    self.state.shape[1] != params.size or self.state.dtype != params.dtype):
                raise ValueError(
                    f"{type(self).__name__} has state for {self.state.shape[1]} "
                    f"{self.state.dtype.name} parameters and was given {params.size} "
                    f"{params.dtype.name} parameters; call reset() to reuse it")
            self.state = self._new_state(params)
        return self.state

    def _new_state(self, params):
        state = np.zeros((self.n_slots, params.size), dtype=params.dtype)
        self._fill_initial_state(state)
        return state

    def reset(self):
        """Forget the state and the step count."""
        self.state = None
        self.step_count[0] = 0
        self.scalar_state[...] = self._initial_scalar_state()

    def step(self, params, grad):
        """Update ``params`` in place from ``grad`` (one parallel per-element kernel).

        Parameters
        ----------
        params : ndarray (n,)
            Flat, C-contiguous, writeable float32 or float64 buffer.
        grad : ndarray (n,)
            Gradient of the same shape and dtype; it is not modified.

        Raises
        ------
        ConcurrentFitError
            ``params`` are a model's that another thread is training.
        """
        _check_flat_pair(params, grad)
        state = self.bind(params)
        kernels = _ops.optimizer_ops(params.dtype.name, self.kind)
        # a model's parameters: refused while another thread trains it, and
        # its predicts see the step whole (fastmlp.engine.guard)
        with writing_to(params, "an optimizer step on its parameters"):
            _k.step_parallel(kernels.update, kernels.constants, self.kind, params, grad, state,
                             self.hyper(), self.step_count, self.scalar_state, self.lr,
                             4 * numba.get_num_threads())

    def state_dict(self):
        """The optimizer's hyper-parameters, transforms, step count and state (copies)."""
        return {
            "name": type(self).__name__,
            "hyper": {name: float(getattr(self, name)) for name in self._all_names()},
            "transforms": [(type(p).__name__, p.value) for p in self.transforms],
            "step": int(self.step_count[0]),
            "scalar_state": self.scalar_state.copy(),
            "state": None if self.state is None else self.state.copy(),
            "members": None if self.member_arguments is None else {
                "arguments": [dict(a) for a in self.member_arguments],
                "varying": list(self.per_member)},
        }

    def _all_names(self):
        decay = ("weight_decay",) if hasattr(self, "weight_decay") else ()
        return tuple(self.hyper_names) + decay + self._extra_settings

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (same optimizer class)."""
        if state_dict.get("name") != type(self).__name__:
            raise ValueError(f"state_dict is for {state_dict.get('name')!r}, "
                             f"not {type(self).__name__!r}")
        for name, value in state_dict["hyper"].items():
            if name not in self._all_names():
                raise ValueError(f"unknown hyper-parameter {name!r} for {type(self).__name__}")
            setattr(self, name, type(getattr(self, name))(value))
        self.transforms = tuple(from_description(d) for d in state_dict.get("transforms", ()))
        state = state_dict["state"]
        self.state = None if state is None else np.array(state, copy=True)
        self.step_count[0] = int(state_dict["step"])
        self.scalar_state[...] = state_dict.get("scalar_state", self._initial_scalar_state())
        members = state_dict.get("members")  # values per member of a population
        if members is not None:
            for arguments in members["arguments"]:
                type(self)(**arguments)  # each member's values checked as the constructor does
            self.member_arguments = [dict(a) for a in members["arguments"]]
            self.per_member = tuple(members["varying"])

    def copy(self):
        """An independent optimizer with the same settings and state."""
        clone = copy.copy(self)
        clone.state = None if self.state is None else self.state.copy()
        clone.step_count = self.step_count.copy()
        clone.scalar_state = self.scalar_state.copy()
        return clone

    def __repr__(self):
        members = [self.member(i) for i in range(self.n_members or 0)]

        def shown(name):  # a list where the members' values differ
            values = [getattr(m, name) for m in members]
            return values if len(set(values)) > 1 else getattr(self, name)

        args = ", ".join(f"{n}={shown(n)!r}" for n in self._all_names())
        text = f"{type(self).__name__}({args})"
        if self.transforms:
            pieces = ", ".join(repr(p) for p in self.transforms)
            text = f"chain({pieces}, {text})"
        return text


def _check_flat_pair(params, grad):
    for name, arr in (("params", params), ("grad", grad)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or not arr.flags.c_contiguous:
            raise ValueError(f"{name} must be a 1-D C-contiguous ndarray")
        if arr.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name} must be float32 or float64, got {arr.dtype}")
    if not params.flags.writeable:
        raise ValueError("params must be writeable (it is updated in place)")
    if params.shape != grad.shape or params.dtype != grad.dtype:
        raise ValueError(f"params and grad must match: {params.shape} {params.dtype} vs "
                         f"{grad.shape} {grad.dtype}")
