"""Optimizer base class: hyper-parameters, flat state buffers, the step call."""

import numba
import numpy as np

from ..kernels import optim as _k

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of the per-element optimizers.

    An optimizer owns its state: ``n_slots`` flat buffers of the parameter
    buffer's length and dtype (velocity, moments, ...), stored as the rows of
    one (n_slots, n_params) array, plus the step counter.  The state is
    created on the first :meth:`step` for that buffer's size and dtype.

    Subclasses set ``kind`` (the kernel code), ``hyper_names`` (the order of
    the float64 hyper-parameter array the kernel reads) and ``n_slots``.
    """

    kind = None
    hyper_names = ()

    def __init__(self):
        self.state = None
        self.step_count = np.zeros(1, dtype=np.int64)

    # ------------------------------------------------------- subclass hooks
    @property
    def n_slots(self):
        """Number of state buffers this configuration needs."""
        raise NotImplementedError

    def hyper(self):
        """The float64 hyper-parameter array the kernel reads."""
        return np.array([float(getattr(self, name)) for name in self.hyper_names])

    # ------------------------------------------------------------- learning rate
    @property
    def lr(self):
        """Learning rate (schedules set it between epochs)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        from .._validation import check_positive_float
        self._lr = check_positive_float(value, "lr")

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
            self.state = np.zeros((n_slots, params.size), dtype=params.dtype)
        return self.state

    def reset(self):
        """Forget the state and the step count."""
        self.state = None
        self.step_count[0] = 0

    def step(self, params, grad):
        """Update ``params`` in place from ``grad`` (one parallel per-element kernel).

        Parameters
        ----------
        params : ndarray (n,)
            Flat, C-contiguous, writeable float32 or float64 buffer.
        grad : ndarray (n,)
            Gradient of the same shape and dtype.
        """
        _check_flat_pair(params, grad)
        state = self.bind(params)
        _k.step_parallel(self.kind, params, grad, state, self.hyper(), self.step_count,
                         4 * numba.get_num_threads())

    def state_dict(self):
        """The optimizer's hyper-parameters, step count and state (copies)."""
        return {
            "name": type(self).__name__,
            "hyper": {name: float(getattr(self, name)) for name in self.hyper_names},
            "step": int(self.step_count[0]),
            "state": None if self.state is None else self.state.copy(),
        }

    def load_state_dict(self, state_dict):
        """Restore what :meth:`state_dict` returned (same optimizer class)."""
        if state_dict.get("name") != type(self).__name__:
            raise ValueError(f"state_dict is for {state_dict.get('name')!r}, "
                             f"not {type(self).__name__!r}")
        for name, value in state_dict["hyper"].items():
            if name not in self.hyper_names:
                raise ValueError(f"unknown hyper-parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        state = state_dict["state"]
        self.state = None if state is None else np.array(state, copy=True)
        self.step_count[0] = int(state_dict["step"])

    def __repr__(self):
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.hyper_names)
        return f"{type(self).__name__}({args})"


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
