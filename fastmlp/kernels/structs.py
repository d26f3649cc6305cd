"""The named structures the kernels take: defined here once, built on the Python side.

Numba types a named tuple natively and the kernels read it by field name;
this module has no compiled code.  The configuration's functions
(:class:`~fastmlp.kernels.ops.Ops` and its parts) are in
:mod:`fastmlp.kernels.ops`.
"""

from collections import namedtuple

__all__ = ["FAN_IN", "FAN_OUT", "W_OFFSET", "B_OFFSET", "ACTIVATION", "G_OFFSET", "R_OFFSET",
           "LAYOUT_COLUMNS", "DROPOUT", "DROPCONNECT", "BN_MOMENTUM", "BN_EPS",
           "LAYER_F_COLUMNS", "WORK_PARTS", "WORK_CHUNK", "Net", "Noise", "OptState", "Run",
           "Work", "Data", "Team", "Sums", "Step", "Span", "CSR", "DenseInput", "SparseInput",
           "Members", "Lanes"]

#: The columns of a ``Net.layout`` row (one row per layer)
FAN_IN = 0
FAN_OUT = 1
W_OFFSET = 2
B_OFFSET = 3
ACTIVATION = 4
G_OFFSET = 5
R_OFFSET = 6
LAYOUT_COLUMNS = 8

#: The columns of a ``Net.layer_f`` row (float64, one row per layer)
DROPOUT = 0
DROPCONNECT = 1
BN_MOMENTUM = 2
BN_EPS = 3
LAYER_F_COLUMNS = 4

#: A network over its flat parameter buffer (:mod:`fastmlp.kernels.network`):
#:
#: params (n_params,)
#:     Every weight, bias and batch-norm scale.
#: layout (n_layers, 8) int64
#:     Where each layer lives in ``params``: the columns FAN_IN, FAN_OUT,
#:     W_OFFSET, B_OFFSET, ACTIVATION, G_OFFSET, R_OFFSET above.
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
#: (1,) room for the summed loss.  ``lazy`` (bool): a sparse input's W_0
#: takes the lazy update (:mod:`fastmlp.kernels.sparse`).
Run = namedtuple("Run", ["batch_size", "first", "end", "loss_code", "kind", "seed", "rank",
                         "ranks", "reduced", "lazy"])

#: The parts of a workspace each layer has, in the order of the columns of
#: ``Work.parts`` (read by name through :mod:`fastmlp.kernels.workspace`):
#:
#: out
#:     A_l, the layer's output (rows, fan_out).
#: pre
#:     Z_l, its pre-activation, kept when the backward pass needs it.
#: split
#:     How a team shares the layer: ``ROW_SPLIT`` or ``COLUMN_SPLIT``.
#: bn
#:     Batch normalisation's batch statistics (2, fan_out).
#: dropped
#:     A_l after dropout (the next layer's input in training).
#: masked
#:     W_l after DropConnect (fan_in, fan_out).
#: zhat
#:     Batch normalisation's normalised pre-activation (rows, fan_out).
#: wt
#:     W_l transposed (fan_out, fan_in), for a narrow layer's upstream product.
WORK_PARTS = ("out", "pre", "split", "bn", "dropped", "masked", "zhat", "wt")

#: The per-chunk entries of a workspace, in the order of the columns of the
#: last row of ``Work.parts`` (read by name through
#: :mod:`fastmlp.kernels.workspace`): the most rows a chunk has
#: (``max_rows``); where the gathered inputs and targets start (``inputs``,
#: ``targets``), the sensitivities D0 and D1 (``d0``, ``d1``, ping-pong), the
#: BLAS (alpha, beta) pairs (1, 0) and (1, 1) (``coef``), a zero row as wide
#: as the widest layer (``zeros``).
WORK_CHUNK = ("max_rows", "inputs", "targets", "d0", "d1", "coef", "zeros")

#: A workspace (:mod:`fastmlp.kernels.network`): one flat buffer ``buf`` sized
#: for chunks of at most ``max_rows`` rows, and where each part of it starts
#: (flat offsets into ``buf``, -1 where a part is absent): ``parts``
#: (n_layers + 1, 8) int64, a row per layer (the columns of
#: :data:`WORK_PARTS`) and a last row for the chunk's entries
#: (:data:`WORK_CHUNK`).  ``rows`` (int64): a sparse input's list of the rows
#: of W_0 a batch touches (:mod:`fastmlp.kernels.sparse`; empty otherwise).
#:
#: The kernels hand the workspace from call to call by value, one machine
#: word per array field: it stays three arrays (measured: a structure of 12
#: arrays cost 35 ns more per call than two, 5% of the S workload's step).
Work = namedtuple("Work", ["buf", "parts", "rows"])

#: A sparse input in compressed sparse rows (scipy's CSR arrays, read where
#: they are): row i's non-zeros are ``data[indptr[i]:indptr[i + 1]]`` in the
#: columns ``indices[indptr[i]:indptr[i + 1]]``; ``shape`` (n_rows, n_cols)
#: int64.  ``data`` float32 or float64, ``indices`` and ``indptr`` int32 or
#: int64, each C-contiguous.
CSR = namedtuple("CSR", ["data", "indices", "indptr", "shape"])

#: The rows of a dense chunk as layer 0 reads them (built inside the
#: kernels): row r at ``flat[offset + r * n_in ...]`` -- X itself or the
#: rows gathered into the workspace.
DenseInput = namedtuple("DenseInput", ["flat", "offset"])

#: The rows of a chunk of a sparse X (a :class:`CSR`), read in place (built
#: inside the kernels): row r is row ``index[c0 + r]`` of X, or row
#: ``c0 + r`` when ``index`` is empty.  Only what a sparse chunk needs
#: travels: the kernels pass the input to every layer's call, by value.
SparseInput = namedtuple("SparseInput", ["X", "index", "c0"])

#: The rows a pass reads: inputs ``X`` (n, n_in) or a :class:`CSR`, targets ``T`` (n, n_out),
#: sample weights ``sw`` (n,) float64 or empty, and ``index`` (int64): the
#: row of X and T at each position of the pass (empty: positions are rows).
Data = namedtuple("Data", ["X", "T", "sw", "index"])

#: A member of a thread team: thread ``t`` of ``n_threads``, meeting the
#: others at the barrier whose state is ``sync`` (:mod:`fastmlp.kernels.sync`).
Team = namedtuple("Team", ["t", "n_threads", "sync"])

#: What a team accumulates: loss and metric sums per thread, ``stats``
#: (n_threads, 3 + n_out) float64 (:mod:`fastmlp.kernels.losses`), and each
#: thread's share of the loss, ``partial`` (n_threads,) float64.
Sums = namedtuple("Sums", ["stats", "partial"])

#: The optimizer step fused into a backward pass: whether it is (``fused``),
#: whether a sparse input's W_0 takes the lazy update (``lazy``: the rows its
#: batch touched only, :mod:`fastmlp.kernels.sparse`), the optimizer's state
#: slots ``state`` (slots, n_params) and the step's ``constants``
#: (:mod:`fastmlp.kernels.optim`).
Step = namedtuple("Step", ["fused", "lazy", "state", "constants"])

#: The positions ``start .. stop`` of a batch (or of one rank's share of it),
#: ``weight``, the denominator of their mean loss (float64), and
#: ``accumulate`` (bool): their gradient adds to what the buffer holds -- the
#: positions are one call of a pass cut into several (a long L-BFGS
#: evaluation), not its first.
Span = namedtuple("Span", ["start", "stop", "weight", "accumulate"])


#: The members of a population (:mod:`fastmlp.kernels.population`): K models
#: of one architecture, member k's arrays the k-th entry of each field --
#: ``params`` (K, n_params), ``running`` (K, n_running), ``layer_f`` (K,
#: n_layers, 4) float64, ``reg`` (K, 3) float64 (each a row of the
#: :class:`Net` and the penalties of a model); its optimizer's ``state`` (K,
#: slots, n_params), ``hyper`` (K, HYPER_SIZE) and ``scalars`` (K,
#: SCALAR_STATE) float64, ``count`` (K, 1) int64 and ``rates`` (K,
#: n_batches) float64, or (K, 0) (each a row of an :class:`OptState`);
#: ``stats`` (K, 1, 3 + n_out) float64 its loss and metric sums, ``result``
#: (K, 1) int64 what :func:`~fastmlp.kernels.team.train_member` returns for
#: it.  ``order`` (int64) lists the members to train, ``claimed`` (1,) int64
#: counts those the threads have taken.
Members = namedtuple("Members", ["params", "running", "layer_f", "reg", "state", "hyper",
                                 "scalars", "count", "rates", "stats", "result", "order",
                                 "claimed"])

#: What each thread of a population's team has to itself, thread t's the
#: t-th entry of each field: a gradient buffer ``grad`` (n_threads,
#: n_params), a workspace ``buf`` (n_threads, size) and sparse row list
#: ``rows`` (n_threads, size) laid out as ``parts`` says (one table for all:
#: a :class:`Work` each), the loss and metric sums of the member it trains
#: ``stats`` (n_threads, 1, width >= 3 + n_out) and its loss share
#: ``partial`` (n_threads, width) float64 (each thread's row on cache lines of
#: its own: ``width`` >= 16), and a barrier state ``sync`` (n_threads,
#: STATE_SIZE) int64 for a team of one.
Lanes = namedtuple("Lanes", ["grad", "buf", "parts", "rows", "stats", "partial", "sync"])
