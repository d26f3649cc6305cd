"""The configuration-specific functions of a run, compiled one by one and passed as pointers.

The training and inference kernels are the same for every model: gather,
GEMM, epilogue, loss, backward pass, update, thread team.  What differs
between models -- the activation of each layer, the loss, the optimizer --
reaches them as an :class:`Ops` of function pointers (Numba "first-class
functions": compiled ``cfunc`` objects), so

* only the functions a configuration uses are compiled (a relu/Adam/
  cross-entropy model compiles 2 of the 24 activation functions, 1 of the 3
  losses and 2 of the 18 optimizer functions), and each is compiled once,
  at -O3, in its own small module;
* the kernels that call them do not contain their code: Numba links the
  whole call tree of a function into it and re-optimises it at every level,
  so code that is called directly is optimised once per level above it
  (7-8 times for the heavy loops before), code called through a pointer once;
* the kernels are compiled once per dtype (and thread variant) and serve
  every configuration.

The cost is an indirect call per block of rows (a few nanoseconds against
microseconds of work per block).  This module has no jitted code of its
own: :func:`operations` builds an :class:`Ops` on the Python side.

Pointers cross into the kernels as values, so everything compiled stays
valid in Numba's on-disk cache: each function below is cached under its
own signature, the kernels under the (pointer-typed) signature that is the
same for every configuration.
"""

import threading
from collections import namedtuple

import numba
from numba import types
from numba.core.types import WrapperAddressProtocol
from numba.extending import typeof_impl

from . import activations, losses, optim
from .config import CFUNC_OPTIONS

__all__ = ["Ops", "Passes", "Compiled", "Activations", "ActivationTable", "OptimizerOps", "operations", "optimizer_ops",
           "activation_table", "unit", "compiled", "N_ACTIVATIONS"]

#: Number of activation codes (the length of the forward and backward tables).
N_ACTIVATIONS = len(activations.FORWARD)

#: A function per activation code, by the activation's name.  (A named
#: tuple: Numba types it without the "experimental first-class function"
#: warning it gives plain tuples of functions, and indexes it by code.)
ActivationTable = namedtuple("ActivationTable", activations.NAMES)

#: What a configuration contributes to the kernels.
#:
#: forward, backward
#:     :class:`ActivationTable` of pointers, indexed by activation code:
#:     ``forward[code](Z, b, alpha, Zs)`` and ``backward[code](D, A, Zs,
#:     alpha)`` (:mod:`fastmlp.kernels.activations`).  Codes the model does
#:     not use hold one of the used functions (never called).
#: loss
#:     ``loss(A, b, T, scale, D, sw, index, p0, stats, out_code)``, the
#:     model's loss rows (:mod:`fastmlp.kernels.losses`).
#: update, constants
#:     The optimizer's ``update(p, g, state, c, lo, hi)`` and ``constants(
#:     hyper, t, lr, sstate, scale)`` (:mod:`fastmlp.kernels.optim`).
Ops = namedtuple("Ops", ["forward", "backward", "loss", "update", "constants"])

#: The forward and backward pass of one chunk of a training batch (thread
#: team members), as pointers: :func:`fastmlp.kernels.team.forward` and
#: :func:`fastmlp.kernels.team.backward`, compiled once each instead of
#: inside every function that calls them (see :func:`unit`).
Passes = namedtuple("Passes", ["forward", "backward"])

#: The forward and backward tables of :class:`Ops`.
Activations = namedtuple("Activations", ["forward", "backward"])

#: An optimizer's two functions (see :class:`Ops`).
OptimizerOps = namedtuple("OptimizerOps", ["update", "constants"])

_CONSTANTS = types.UniTuple(types.float64, 16)


def _signatures(dtype):
    """The Numba signature of each kind of function, for float ``dtype``."""
    f = types.float32 if dtype == "float32" else types.float64
    block = types.Array(f, 2, "C")
    row = types.Array(f, 1, "C")
    f64_row = types.Array(types.float64, 1, "C")
    # what the losses only read may be the caller's read-only arrays
    # (targets, weights, a memory map); writeable ones convert to these
    targets = types.Array(f, 2, "C", readonly=True)
    weights = types.Array(types.float64, 1, "C", readonly=True)
    index = types.Array(types.int64, 1, "C", readonly=True)
    return {
        "forward": types.void(block, row, f, block),
        "backward": types.void(block, block, block, f),
        "loss": types.float64(block, row, targets, f, block, weights, index, types.int64,
                              f64_row, types.int64),
        "update": types.void(row, row, block, _CONSTANTS, types.int64, types.int64),
        "constants": _CONSTANTS(f64_row, types.int64, types.float64, f64_row, types.float64),
    }


class Compiled(WrapperAddressProtocol):
    """A kernel compiled as a C-callable function, as the kernels receive it.

    Numba's protocol for first-class functions (an address and a
    signature), with the Numba type computed once: the kernels are called
    with several dozen of these per call, and typing each anew (as Numba
    does for its own ``cfunc`` objects) measured ~8 us apiece.
    """

    def __init__(self, function, sig):
        self._cfunc = numba.cfunc(sig, **CFUNC_OPTIONS)(function.py_func)
        self._sig = sig
        self.numba_type = types.FunctionType(sig)

    def __wrapper_address__(self):
        return self._cfunc.address

    def signature(self):
        return self._sig


@typeof_impl.register(Compiled)
def _typeof_compiled(value, context):
    return value.numba_type


_compiled = {}
_lock = threading.Lock()


def _compile(key, function, sig):
    with _lock:
        found = _compiled.get(key)
        if found is None:
            found = Compiled(function, sig)
            _compiled[key] = found
    return found


def _pointer(kind, dtype, function):
    """Kernel ``function`` (a Numba dispatcher) compiled as a :class:`Compiled` for ``dtype``."""
    if kind == "constants":
        dtype = "float64"  # scalars only: one function serves both dtypes
    return _compile((kind, function.__name__, dtype), function, _signatures(dtype)[kind])


def unit(function, args):
    """Kernel ``function`` compiled for the types of ``args``, as a pointer.

    The entry points of the compiled core call the member function of a
    thread team (and the row loops of predict and evaluate) through such a
    pointer, so that its code is compiled once, at -O3, in its own module,
    and is not linked into -- and optimised again inside -- the parallel
    region that calls it (see the module docstring).
    """
    sig = types.void(*(numba.typeof(a) for a in args))
    return _compile(("unit", function.__name__, sig), function, sig)


def compiled():
    """(kind, function name, dtype or signature) of every function compiled so far."""
    with _lock:
        return sorted((key[0], key[1], str(key[2])) for key in _compiled)


def activation_table(dtype, codes):
    """The :class:`Activations` of the activation ``codes`` a model uses."""
    codes = sorted(set(int(c) for c in codes))
    forward = {c: _pointer("forward", dtype, activations.FORWARD[c]) for c in codes}
    backward = {c: _pointer("backward", dtype, activations.BACKWARD[c]) for c in codes}
    filler = codes[0]
    return Activations(
        ActivationTable(*(forward.get(c, forward[filler]) for c in range(N_ACTIVATIONS))),
        ActivationTable(*(backward.get(c, backward[filler]) for c in range(N_ACTIVATIONS))))


def optimizer_ops(dtype, kind):
    """The :class:`OptimizerOps` of optimizer ``kind`` (:mod:`fastmlp.kernels.optim` code).

    ``kind`` None gives functions that update nothing, for passes that only
    compute gradients.
    """
    update = optim.no_update if kind is None else optim.RANGES[kind]
    constants = optim.no_constants if kind is None else optim.CONSTANTS[kind]
    return OptimizerOps(_pointer("update", str(dtype), update),
                        _pointer("constants", str(dtype), constants))


def operations(dtype, activation_codes, loss_code, optimizer_kind=None):
    """The :class:`Ops` of a configuration, compiling (or loading) what it needs.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    activation_codes : iterable of int
        The activation code of every layer (hidden layers and output).
    loss_code : int
        :mod:`fastmlp.kernels.losses` code.
    optimizer_kind : int or None
        :mod:`fastmlp.kernels.optim` code; None for passes that update
        nothing (gradients, evaluation).
    """
    dtype = str(dtype)
    acts = activation_table(dtype, activation_codes)
    optimizer = optimizer_ops(dtype, optimizer_kind)
    return Ops(acts.forward, acts.backward, _pointer("loss", dtype, losses.ROWS[loss_code]),
               optimizer.update, optimizer.constants)


