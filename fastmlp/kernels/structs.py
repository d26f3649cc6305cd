"""The named structures the kernels take: defined here once, built on the Python side.

Numba types a named tuple natively and the kernels read it by field name;
this module has no compiled code.  The configuration's functions
(:class:`~fastmlp.kernels.ops.Ops` and its parts) are in
:mod:`fastmlp.kernels.ops`.
"""

from collections import namedtuple

__all__ = ["Net", "Noise", "OptState", "Run"]

#: A network over its flat parameter buffer (:mod:`fastmlp.kernels.network`):
#:
#: params (n_params,)
#:     Every weight, bias and batch-norm scale.
#: layout (n_layers, 8) int64
#:     Where each layer lives in ``params``: the columns FAN_IN, FAN_OUT,
#:     W_OFFSET, B_OFFSET, ACTIVATION, G_OFFSET, R_OFFSET of
#:     :mod:`fastmlp.kernels.network`.
#: act_param (n_layers,)
#:     Each layer's activation parameter (leaky slope, ELU alpha), params' dtype.
#: layer_f (n_layers, 4) float64
#:     Per layer: input dropout rate, DropConnect rate, batch-norm momentum and eps.
#: running (n_running,)
#:     Batch normalisation's running means and variances.
#: mpi (MPI_SIZE,) int64
#:     Data-parallel training: the handles of :mod:`fastmlp.kernels.collective`,
#:     with which batch normalisation sums its statistics over the ranks
#:     (zeros otherwise).
Net = namedtuple("Net", ["params", "layout", "act_param", "layer_f", "running", "mpi"])

#: What keys the dropout and DropConnect masks and selects the mode of a pass
#: (int64 each): the mask ``seed``, the optimizer ``step``, ``mode`` (0
#: inference: no masks, running batch-norm statistics; 1 training; 2 training
#: that also updates the running statistics) and ``row0``, the position of a
#: chunk's first row in its batch.
Noise = namedtuple("Noise", ["seed", "step", "mode", "row0"])

#: An optimizer's arrays as the training loop takes them
#: (:mod:`fastmlp.kernels.optim`): ``state`` (slots, n_params), ``hyper``
#: float64 (HYPER_SIZE,), ``scalars`` float64 (SCALAR_STATE,), ``count``
#: int64 (1,) the steps taken, ``rates`` float64 the learning rate of each
#: batch of the call, or empty for ``hyper[0]`` throughout.
OptState = namedtuple("OptState", ["state", "hyper", "scalars", "count", "rates"])

#: What a call of the training loop runs: batches ``first`` .. ``end - 1`` of
#: ``batch_size`` rows of the epoch's order, with the loss of code
#: ``loss_code`` (:mod:`fastmlp.kernels.losses`), the optimizer of kind
#: ``kind`` (:mod:`fastmlp.kernels.optim`) and the dropout/DropConnect mask
#: ``seed`` (int64 each).  Data-parallel training: this process is rank
#: ``rank`` of ``ranks`` (0 of 1 otherwise) and computes its share of every
#: batch (summed over the ranks through ``Net.mpi``); ``reduced`` float64
#: (1,) room for the summed loss.
Run = namedtuple("Run", ["batch_size", "first", "end", "loss_code", "kind", "seed", "rank",
                         "ranks", "reduced"])
