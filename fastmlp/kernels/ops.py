"""The configuration-specific functions of a run, compiled one by one and passed as pointers.

The training and inference kernels are the same for every model: gather,
GEMM, epilogue, loss, backward pass, update, thread team.  What differs
between models -- the activation of each layer, the loss, the optimizer,
batch normalisation, dropout, the penalty -- reaches them as an
:class:`Ops` of function pointers (Numba "first-class functions": compiled
``cfunc`` objects), so

* only the functions a configuration uses are compiled (a relu/softmax/
  cross-entropy/Adam model compiles 4 of the 24 activation functions, 1 of
  the 3 losses, 2 of the 18 optimizer functions and no batch-norm, dropout
  or penalty code), and each is compiled once, at -O3, in its own small
  module;
* the kernels that call them do not contain their code: Numba links the
  whole call tree of a function into it and re-optimises it at every level,
  so code that is called directly is optimised once per level above it
  (7-8 times for the heavy loops before), code called through a pointer once;
* the kernels are compiled once per dtype (and thread variant) and serve
  every configuration.

The same mechanism compiles the members of a thread team and the passes
they call once each (:func:`unit`).  The cost is an indirect call per block
of rows (a few nanoseconds against microseconds of work per block).  This
module has no jitted code of its own: :func:`operations` builds an
:class:`Ops` on the Python side, and the kernels' entry points receive it as
the array of its addresses (:func:`addresses`).

Pointers cross into the kernels as values, so everything compiled stays
valid in Numba's on-disk cache: each function below is cached under its
own signature, the kernels under the (pointer-typed) signature that is the
same for every configuration.
"""

import functools
import threading
from collections import namedtuple

import numba
import numpy as np
from numba import types
from numba.core.types import WrapperAddressProtocol
from numba.extending import typeof_impl

from . import activations, deferred, losses, network, norm, optim
from . import penalty as penalties
from .structs import Net, Noise, Work
from .sync import new_board
from .workers import run_team

__all__ = ["Ops", "Activations", "ActivationTable", "OptimizerOps", "Norm", "Dropout",
           "Penalty", "Passes", "Compiled", "CompiledInfo", "operations", "optimizer_ops",
           "activation_table", "unit", "launch", "ready_team", "fingerprint", "ops_type",
           "addresses", "compiled", "N_ACTIVATIONS"]

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
#:     ``forward[code](Z, b, alpha, Zs, c0)`` and ``backward[code](D, A,
#:     Zs, alpha, c0, c1)`` over a column range of whole rows
#:     (:mod:`fastmlp.kernels.activations`).  Codes the model does not use
#:     hold one of the used functions (never called).
#: loss
#:     ``loss(A, b, T, scale, D, sw, index, p0, stats, out_code)``, the
#:     model's loss rows (:mod:`fastmlp.kernels.losses`).
#: update, constants
#:     The optimizer's ``update(p, g, state, c, lo, hi)`` and ``constants(
#:     hyper, t, lr, sstate, scale)`` (:mod:`fastmlp.kernels.optim`).
#: norm
#:     :class:`Norm`: batch normalisation's functions, or functions that do
#:     nothing for a model without it.
#: dropout
#:     :class:`Dropout`: the masks of dropout and DropConnect, or functions
#:     that do nothing for a model without them.
#: penalty
#:     :class:`Penalty`: the objective's L2/L1 penalty, or functions giving 0.
Ops = namedtuple("Ops", ["forward", "backward", "loss", "update", "constants", "norm", "dropout",
                         "penalty"])

#: :func:`fastmlp.kernels.network.drop_rows` (inverted dropout of a block of
#: rows) and :func:`fastmlp.kernels.network.prepare_dropconnect`.
Dropout = namedtuple("Dropout", ["rows", "weights"])

#: The penalty's value and gradient, each thread's share
#: (:mod:`fastmlp.kernels.penalty`).
Penalty = namedtuple("Penalty", ["value", "gradient"])

#: Batch normalisation's training and inference forward steps and its
#: backward step (:mod:`fastmlp.kernels.norm`).
Norm = namedtuple("Norm", ["train", "infer", "backward"])

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
    i64 = types.int64
    table = types.Array(types.int64, 2, "C")
    noise = types.NamedUniTuple(i64, 4, Noise)
    handles = types.Array(types.int64, 1, "C")
    net = types.NamedTuple((row, table, row, types.Array(types.float64, 2, "C"), row, handles),
                           Net)
    offsets = types.Array(types.int64, 1, "C")
    work = types.NamedTuple((row, table, offsets), Work)
    # what the losses only read may be the caller's read-only arrays
    # (targets, weights, a memory map); writeable ones convert to these
    targets = types.Array(f, 2, "C", readonly=True)
    weights = types.Array(types.float64, 1, "C", readonly=True)
    index = types.Array(types.int64, 1, "C", readonly=True)
    return {
        "forward": types.void(block, row, f, block, i64),
        "backward": types.void(block, block, block, f, i64, i64),
        "loss": types.float64(block, row, targets, f, block, weights, index, types.int64,
                              f64_row, types.int64),
        "update": types.void(row, row, block, _CONSTANTS, types.int64, types.int64),
        "constants": _CONSTANTS(f64_row, types.int64, types.float64, f64_row, types.float64),
        "norm_train": types.void(row, i64, i64, i64, i64, i64, row, row, types.float64,
                                 types.float64, row, i64, row, i64, row, i64, types.boolean,
                                 handles),
        "norm_infer": types.void(row, i64, i64, i64, i64, i64, row, row, types.float64, row, i64,
                                 row, i64, row, i64),
        "norm_backward": types.void(row, i64, i64, i64, i64, i64, row, i64, row, row, i64, row,
                                    row, types.boolean, types.boolean, handles),
        "drop_rows": types.void(row, i64, i64, i64, i64, i64, i64, i64, types.float64, noise, i64,
                                i64),
        "drop_weights": types.void(net, work, noise, i64, i64),
        "penalty_value": types.float64(row, table, f64_row, i64, i64),
        "penalty_gradient": types.void(row, row, table, f64_row, i64, i64),
    }


class Compiled(WrapperAddressProtocol):
    """A kernel compiled as a C-callable function, as the kernels receive it.

    Numba's protocol for first-class functions (an address and a
    signature), with the Numba type computed once: the kernels are called
    with several dozen of these per call, and typing each anew (as Numba
    does for its own ``cfunc`` objects) measured ~8 us apiece.

    The compilation is put off (:mod:`fastmlp.kernels.deferred`): a
    Compiled is typed by its signature alone, and compiles -- with every
    other pending one, side by side when the engine allows -- the first
    time its address is needed.
    """

    def __init__(self, function, sig):
        self._sig = sig
        self.numba_type = types.FunctionType(sig)
        #: the compilation (:class:`fastmlp.kernels.deferred.Job`)
        self.job = deferred.defer(deferred.Job(deferred.POINTER, function, sig))

    def _ready(self):
        """The ``numba.cfunc`` object, compiled (with everything pending) if need be."""
        job = self.job
        if not job.done:
            deferred.flush()
            job.run()
        return job.result

    @property
    def seconds(self):
        """Seconds it took to compile (or load from the cache) here; None before."""
        return self.job.seconds

    @property
    def address(self):
        """The address of the C-callable function."""
        return self._ready().address

    @property
    def library(self):
        """Numba's code library holding the function (for profilers: bench/phase_profile.py)."""
        return self._ready()._library

    def __wrapper_address__(self):
        return self._ready().address

    def signature(self):
        """The Numba signature it was compiled for."""
        return self._sig


@typeof_impl.register(Compiled)
def _typeof_compiled(value, context):
    return value.numba_type


@typeof_impl.register(Passes)
def _typeof_passes(value, context):
    # Passed on every training call: build its type once per signature pair.
    return _passes_type(value.forward.numba_type, value.backward.numba_type)


@functools.cache
def _passes_type(forward, backward):
    return types.NamedTuple((forward, backward), Passes)


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


def compiled_functions():
    """Every kernel compiled as a pointer so far in this process (bench/phase_profile.py)."""
    with _lock:
        return [found for found in _compiled.values() if found.job.done]


def unit(function, args):
    """Kernel ``function`` compiled for the types of ``args``, as a pointer.

    The entry points of the compiled core call the member function of a
    thread team (and the row loops of predict and evaluate) through such a
    pointer, so that its code is compiled once, at -O3, in its own module,
    and is not linked into -- and optimised again inside -- the parallel
    region that calls it (see the module docstring).
    """
    # Typing every argument through Numba costs ~15 us an array; the
    # properties that decide an array's Numba type are read much faster.
    key = (function, tuple(fingerprint(a) for a in args))
    found = _units.get(key)
    if found is None:
        sig = types.void(*(_type_of(a) for a in args))
        found = _units[key] = _compile(("unit", function.__name__, sig), function, sig)
    return found


_units = {}


def launch(launcher, member, ops, args, n_threads):
    """Run a team of ``n_threads`` members: ``launcher(member, addresses(ops), t, board, *args)``
    each.

    ``member`` is the pointer (:func:`unit`) the launcher calls, with the
    member number ``t`` (int64) and ``ops`` rebuilt from its addresses; the
    calls run at once, one per thread (:func:`fastmlp.kernels.workers.run_team`).
    The launcher marks the team's ``board`` at its start and end
    (:func:`fastmlp.kernels.sync.enter_team`, :func:`~fastmlp.kernels.sync.leave_team`).
    With a team, the launcher is compiled (or loaded) first, on this thread
    -- a member that stopped on a compile error would leave the others at a
    barrier -- and so is it whenever something else is pending, to compile
    with it (:mod:`fastmlp.kernels.deferred`).  (Otherwise one thread
    compiles it, if need be, in the call itself.)
    """
    if n_threads > 1 or deferred.has_pending():
        ready_team(launcher, member, args)
    functions = addresses(ops)
    board = new_board()
    run_team(lambda t: launcher(member, functions, np.int64(t), board, *args), n_threads, board)


def ready_team(launcher, member, args):
    """Compile (or load) ``launcher`` for the arguments :func:`launch` would give it, on
    this thread, without running it; nothing once done for their types."""
    key = (launcher, fingerprint(member), fingerprint(args))
    ready_launcher(launcher, key, lambda: (member.numba_type, _ADDRESSES_TYPE, types.int64,
                                           _ADDRESSES_TYPE) + tuple(_type_of(a) for a in args))


def ready_launcher(launcher, key, signature):
    """Compile (or load) ``launcher`` for ``signature()`` on this thread, once per ``key``.

    Before a team runs it: a member that stopped on a compile error would
    leave the others at a barrier.  Whatever else is pending compiles with
    it, side by side (:mod:`fastmlp.kernels.deferred`).  ``key``: hashable,
    standing for the signature (computing that costs microseconds a call).
    """
    if key in _launchers_ready:
        return
    sig = signature()
    job = deferred.defer(deferred.Job(deferred.OVERLOAD, launcher, sig,
                                      done=sig in launcher.overloads))
    deferred.flush()
    job.run()
    _launchers_ready.add(key)


#: The Numba type of :func:`addresses`' arrays.
_ADDRESSES_TYPE = types.Array(types.int64, 1, "C")
_launchers_ready = set()


#: The flags of an array that its Numba type depends on (layout, read-only,
#: alignment): NumPy's C_CONTIGUOUS, F_CONTIGUOUS, ALIGNED and WRITEABLE bits
#: of ``ndarray.flags.num``, read in one attribute access.
_TYPE_FLAGS = 0x1 | 0x2 | 0x100 | 0x400


def fingerprint(value):
    """What decides the Numba type of a kernel argument (arrays, tuples, scalars, functions).

    Hashable; two values with equal fingerprints have the same Numba type,
    and a fingerprint costs a tenth of that type (~0.2 us an array).
    """
    kind = type(value)
    if kind is np.ndarray:
        return (value.dtype.num, value.ndim, value.flags.num & _TYPE_FLAGS)
    if issubclass(kind, tuple) and kind is not Ops:
        return (kind, tuple(map(fingerprint, value)))
    if isinstance(value, np.ndarray):  # a subclass (a memory map): typed as an array
        return (value.dtype.num, value.ndim, value.flags.num & _TYPE_FLAGS)
    if isinstance(value, Ops):
        return ("ops", _dtype_of(value))
    if isinstance(value, Compiled):
        # the object itself: each (function, signature) is compiled once
        # (:func:`_compile`), and it hashes by identity -- hashing a Numba
        # signature walks its whole type tree, ~10 us a call
        return value
    return type(value)


def _dtype_of(ops):
    """The float dtype an :class:`Ops` was built for (that of its loss's output block)."""
    return ops.loss.signature().args[0].dtype.name


def _type_of(value):
    # an Ops holds ~30 functions: typing it costs ~100 us, its type is known
    if isinstance(value, Ops):
        return ops_type(_dtype_of(value))
    return numba.typeof(value)


@functools.cache
def ops_type(dtype):
    """The Numba type of every :class:`Ops` of float ``dtype`` (what ``numba.typeof`` gives)."""
    sigs = _signatures(str(dtype))

    def group(cls, kinds):
        return types.BaseTuple.from_types([types.FunctionType(sigs[k]) for k in kinds], cls)

    table = {kind: group(ActivationTable, [kind] * N_ACTIVATIONS)
             for kind in ("forward", "backward")}
    return types.BaseTuple.from_types(
        [table["forward"], table["backward"], types.FunctionType(sigs["loss"]),
         types.FunctionType(sigs["update"]), types.FunctionType(sigs["constants"]),
         group(Norm, ["norm_train", "norm_infer", "norm_backward"]),
         group(Dropout, ["drop_rows", "drop_weights"]),
         group(Penalty, ["penalty_value", "penalty_gradient"])], Ops)


def addresses(ops):
    """The addresses of an :class:`Ops`' functions, field after field, as an int64 array.

    How the kernels' entry points receive them (rebuilt inside by
    :func:`fastmlp.kernels.addresses.unpack_ops`): Numba types and unboxes
    an array in nanoseconds, a tuple of ~30 functions in ~170 us a call.
    """
    found = _addresses.get(ops)
    if found is None:
        found = _addresses[ops] = np.array([f.address for f in _flatten(ops)], dtype=np.int64)
    return found


_addresses = {}


def _flatten(value):
    if isinstance(value, tuple):
        return [f for item in value for f in _flatten(item)]
    return [value]


#: One function compiled as a pointer: kind ("forward", "loss", "unit", ...),
#: kernel name, dtype or signature, and seconds to compile or load it.
CompiledInfo = namedtuple("CompiledInfo", ["kind", "name", "signature", "seconds"])


def compiled():
    """A :class:`CompiledInfo` for every function compiled (or loaded) in this process."""
    with _lock:
        return sorted(CompiledInfo(key[0], key[1], str(key[2]), found.seconds)
                      for key, found in _compiled.items() if found.job.done)


def activation_table(dtype, codes, backward=True):
    """The :class:`Activations` of the activation ``codes`` a model uses.

    Without ``backward`` (prediction), the backward table holds a function
    that does nothing.
    """
    codes = sorted(set(int(c) for c in codes))
    forward = {c: _pointer("forward", dtype, activations.FORWARD[c]) for c in codes}
    backward = {c: _pointer("backward", dtype, activations.BACKWARD[c] if backward else
                            activations.identity_backward) for c in codes}
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


def operations(dtype, activation_codes, loss_code=None, optimizer_kind=None, batch_norm=False,
               dropout=False, penalty=False, backward=True):
    """The :class:`Ops` of a configuration, compiling (or loading) what it needs.

    Parameters
    ----------
    dtype : {"float32", "float64"}
    activation_codes : iterable of int
        The activation code of every layer (hidden layers and output).
    loss_code : int or None
        :mod:`fastmlp.kernels.losses` code; None for prediction.
    optimizer_kind : int or None
        :mod:`fastmlp.kernels.optim` code; None for passes that update
        nothing (gradients, evaluation).
    batch_norm, dropout, penalty : bool
        Whether any layer normalises its batch; drops units or weights; the
        objective has an L2/L1 penalty.
    backward : bool
        False for prediction: no backward functions.
    """
    key = (str(dtype), tuple(activation_codes), loss_code, optimizer_kind, bool(batch_norm),
           bool(dropout), bool(penalty), bool(backward))
    found = _operations.get(key)
    if found is None:
        found = _operations[key] = _build(*key)
    return found


_operations = {}


def _build(dtype, codes, loss_code, optimizer_kind, batch_norm, dropout, penalty, backward):
    acts = activation_table(dtype, codes, backward)
    optimizer = optimizer_ops(dtype, optimizer_kind)
    loss = losses.no_loss if loss_code is None else losses.ROWS[loss_code]
    if batch_norm:
        normalise = (norm.forward_train, norm.forward_infer, norm.backward)
    else:
        normalise = (norm.no_forward_train, norm.no_forward_infer, norm.no_backward)
    if dropout:
        drop = (network.drop_rows, network.prepare_dropconnect)
    else:
        drop = (network.no_drop_rows, network.no_prepare_dropconnect)
    if penalty:
        penalise = (penalties.value_share, penalties.add_gradient_share)
    else:
        penalise = (penalties.no_value_share, penalties.no_gradient_share)
    return Ops(acts.forward, acts.backward, _pointer("loss", dtype, loss),
               optimizer.update, optimizer.constants,
               Norm(*_pointers(("norm_train", "norm_infer", "norm_backward"), dtype, normalise)),
               Dropout(*_pointers(("drop_rows", "drop_weights"), dtype, drop)),
               Penalty(*_pointers(("penalty_value", "penalty_gradient"), dtype, penalise)))


def _pointers(kinds, dtype, functions):
    return [_pointer(kind, dtype, f) for kind, f in zip(kinds, functions)]


