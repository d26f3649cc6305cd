"""Every call into the compiled kernels: the thread plan, the buffers, the compiled functions.

:class:`~fastmlp.Model` and :class:`~fastmlp.Trainer` say what to compute;
the engine says how it runs: on how many threads and in blocks of how many
rows (:func:`plan`, the one rule for every pass), in which buffers
(:class:`~fastmlp.engine.layout.Workspace`), with which compiled functions
(:func:`fastmlp.kernels.ops.operations`), over single-threaded BLAS, with
a notice on stderr while a first call compiles.  The named structures the
kernels take (:mod:`fastmlp.kernels.structs`) are built here and nowhere
else.

Layering: this module imports the kernels and the core pieces (layout,
losses, parallel, compiling).  The model and the trainer use it and hand
it their arrays (the optimizer's as an
:class:`~fastmlp.kernels.structs.OptState`); it imports none of them.
"""

import contextlib
import threading
import time
from collections import namedtuple

import numpy as np

from .._utils.sparse import is_sparse, max_row_nnz
from .._utils.tuning import (
    BLAS_ONE_THREAD_MAX_MNK,
    CALL_MAX_BYTES,
    CALL_SECONDS,
    GRADIENT_CALL_FLOPS,
    INFERENCE_TEAM_MIN_FLOPS,
    PLANS_KEPT,
    ROWS_PER_THREAD,
    TRAIN_CHUNK_ROWS,
)
from .._utils.validation import NO_WEIGHTS
from ..kernels import blas as _kb
from ..kernels import inference as _ki
from ..kernels import network as _kn
from ..kernels import ops as _kops
from ..kernels import penalty as _kp
from ..kernels import sync as _ksync
from ..kernels import train as _kt
from ..kernels.collective import MPI_SIZE
from ..kernels.structs import Data, Net, Noise, Run
from ..losses import loss_code
from .compile_pool import batches
from .compiling import COMPILE_SECONDS, first_use
from .guard import ParamGuard
from .inputs import input_density, kernel_input, row_bytes, staged_rows
from .layout import Workspace
from .threads import get_num_threads, kernel_threads, single_threaded_blas

__all__ = ["Engine", "GradientPass", "TrainingLoop", "ThreadPlan", "plan", "INFERENCE",
           "training_noise"]

#: The noise key of an inference pass: no dropout, running batch-norm statistics.
INFERENCE = _kn.INFERENCE

#: The Net's MPI handles outside data-parallel training: never called.
_NO_MPI = np.zeros(MPI_SIZE, dtype=np.int64)

#: The inference speed assumed before a model's first pass (rows per second).
_FIRST_ROWS_PER_SECOND = 1e6

#: How a pass runs: ``n_threads`` threads, blocks of at most ``rows`` rows.
ThreadPlan = namedtuple("ThreadPlan", ["n_threads", "rows"])


def plan(layer_sizes, n_rows, training=False, density=1.0):
    """The threads and block size of a pass over ``n_rows`` rows: one rule for every pass.

    Parameters
    ----------
    layer_sizes : sequence of int
    n_rows : int
        Rows of the pass (inference), or of one training chunk (a batch).
    training : bool, default False
        Inference passes (predict, evaluate, loss_and_grad) run in blocks of
        ``ROWS_PER_THREAD`` rows per thread, with threads when a block's
        forward work (2 flops per weight and row) reaches
        ``INFERENCE_TEAM_MIN_FLOPS``.  A
        training chunk runs as one block of ``n_rows`` rows, with threads
        when its forward and backward work (6 flops per weight and row, over
        at most ``TRAIN_CHUNK_ROWS`` rows) is.  The thresholds:
        :mod:`fastmlp._utils.tuning`.
    density : float, default 1
        The share of a row's inputs that are stored (a sparse input's
        non-zeros): the first layer's work is that share of its weights.

    Returns
    -------
    ThreadPlan
    """
    pairs = list(zip(layer_sizes, layer_sizes[1:]))
    weights = density * pairs[0][0] * pairs[0][1] + sum(a * b for a, b in pairs[1:])
    if training:
        return ThreadPlan(kernel_threads(6 * min(n_rows, TRAIN_CHUNK_ROWS) * weights), n_rows)
    flops = 2 * n_rows * weights
    block_flops = min(flops, flops // max(n_rows, 1) * ROWS_PER_THREAD)
    # a team repays its hand-over only on more inference work than a training step's
    n_threads = 1 if block_flops < INFERENCE_TEAM_MIN_FLOPS else kernel_threads(block_flops)
    return ThreadPlan(n_threads, max(1, min(n_rows, ROWS_PER_THREAD * n_threads)))


def _most_rows_on_one_blas_thread(sizes, dtype):
    """The most rows (up to ROWS_PER_THREAD) whose forward products BLAS runs on the
    calling thread whatever its thread count: each layer's product takes the tiles
    (:func:`fastmlp.kernels.blas.uses_tiles`: no BLAS at all) or stays within
    BLAS_ONE_THREAD_MAX_MNK.  A predict of at most that many rows (per claim of a
    team's member) needs no switch of BLAS to one thread."""
    itemsize = np.dtype(dtype).itemsize
    layers = list(zip(sizes, sizes[1:]))

    return _last_rows_where(lambda rows: all(
        _kb.uses_tiles(False, rows, fan_out, fan_in, itemsize)
        or rows * fan_in * fan_out <= BLAS_ONE_THREAD_MAX_MNK for fan_in, fan_out in layers))


def _last_rows_where(holds):
    """The most rows (0 .. ROWS_PER_THREAD) for which ``holds(rows)`` is true, when it is
    true up to some count and false after it: a bisection (scanning down from
    ROWS_PER_THREAD took ~1.9 ms for a 784-256-256-10 model, on every model built: a
    population's members, a search's trials)."""
    lo, hi = 0, ROWS_PER_THREAD  # holds(lo) (0: vacuously); find the last that does
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if holds(mid) else (lo, mid - 1)
    return lo


def training_noise(seed=0, update_running=False):
    """The noise key of a training-mode pass (masks from ``seed``, batch statistics).

    ``update_running``: also fold the batch statistics into the running ones.
    """
    mode = _kn.TRAINING_UPDATE if update_running else _kn.TRAINING
    return Noise(np.int64(seed), np.int64(0), np.int64(mode), np.int64(0))


def _most_rows_on_one_thread(layer_sizes):
    """The most rows (up to ROWS_PER_THREAD) a predict's :func:`plan` runs on one thread;
    0 if none (the plan's thread count never falls as rows grow)."""
    return _last_rows_where(lambda rows: plan(layer_sizes, rows).n_threads == 1)


class Engine:
    """The compiled side of one model: what the kernels need of it, and every call.

    Holds references to the model's arrays, which the model changes in
    place only (a copy of the model gets its own engine).

    Parameters
    ----------
    layout : ParamLayout
    dtype : numpy dtype
    loss : str
    params, running_stats : ndarray
        The model's parameter buffer and batch-norm running statistics.
    act_param : ndarray (n_layers,)
        Each layer's activation parameter, in ``dtype``.
    layer_f : ndarray (n_layers, 4) float64
        Per-layer dropout and DropConnect rates, batch-norm momentum and eps
        (columns of :mod:`fastmlp.kernels.network`).
    reg : ndarray (3,) float64
        The penalties (:mod:`fastmlp.kernels.penalty`).
    """

    def __init__(self, layout, dtype, loss, params, running_stats, act_param, layer_f, reg):
        self.layout = layout
        self.dtype = dtype
        self.loss = loss
        self.params = params
        self.running_stats = running_stats
        self.act_param = act_param
        self.layer_f = layer_f
        self.reg = reg
        #: who may change ``params`` and when (:mod:`fastmlp.engine.guard`)
        self.guard = ParamGuard(params)
        # What a predict needs that depends only on the model, made once: its
        # arrays, the inference functions (no loss, no backward: the same for
        # any penalty or dropout), the compiled member per kind of input, and a
        # workspace per thread.
        self._inference_net = self.net()
        # the functions and their addresses, compiled on first use
        self._inference, self._inference_addresses, self._evaluation = None, None, None
        self._predict_units, self._evaluate_units = {}, {}
        #: the members whose team launcher is compiled (a predict with threads ran them)
        self._team_ready = set()
        self._plans = {}  # (rows, density, threads) -> ThreadPlan of a predict
        self._threads_own = threading.local()
        #: the most rows a predict runs as one block on the calling thread (the plan's),
        #: and the most whose products BLAS itself runs on one thread
        self._direct_rows = _most_rows_on_one_thread(layout.sizes)
        self._blas_alone_rows = _most_rows_on_one_blas_thread(layout.sizes, dtype)
        # inference speed of the last call (rows/s), to size the next calls;
        # optimistic at first: a first call of ordinary size runs whole
        self._rows_per_second = _FIRST_ROWS_PER_SECOND

    # ------------------------------------------------------ what the kernels take
    @property
    def n_outputs(self):
        """Width of the output layer."""
        return self.layout.sizes[-1]

    @property
    def batch_norm(self):
        """Whether any layer has batch normalisation."""
        return any(self.layout.batch_norm)

    @property
    def stochastic(self):
        """Whether training draws random masks (dropout or DropConnect)."""
        return bool(self.layer_f[:, _kn.DROPOUT].any() or self.layer_f[:, _kn.DROPCONNECT].any())

    @property
    def needs_whole_batch(self):
        """Batch norm and DropConnect gradients need a training batch in one chunk."""
        return self.batch_norm or bool((self.layer_f[:, _kn.DROPCONNECT] > 0).any())

    def net(self, params=None, layer_f=None, mpi=None):
        """The :class:`~fastmlp.kernels.structs.Net`: the model's, or at other ``params``
        (``mpi``: the handles of data-parallel training, see :class:`TrainingLoop`)."""
        return Net(self.params if params is None else params, self.layout.table, self.act_param,
                   self.layer_f if layer_f is None else layer_f, self.running_stats,
                   _NO_MPI if mpi is None else mpi)

    def ops(self, optimizer_kind=None, inference=False, dropout=None, penalty=None):
        """The configuration's compiled functions (:class:`fastmlp.kernels.ops.Ops`).

        ``inference``: for prediction only (no loss, no backward functions).
        ``dropout``, ``penalty``: with (or without) the dropout and penalty
        functions, whatever this model's own rates (a population's members
        share the functions any of them needs).
        """
        if dropout is None:
            dropout = self.stochastic
        if penalty is None:
            penalty = bool(self.reg[_kp.L2] or self.reg[_kp.L1])
        return _kops.operations(self.dtype.name, self.layout.activation_codes,
                                None if inference else loss_code(self.loss), optimizer_kind,
                                batch_norm=self.batch_norm, dropout=dropout, penalty=penalty,
                                backward=not inference)

    def inference_ops(self):
        """The :meth:`ops` of a predict (for inference): made at the first predict, kept (a
        penalty set later concerns training only)."""
        if self._inference is None:
            self._inference = self.ops(inference=True)
        return self._inference

    def inference_addresses(self):
        """The addresses of :meth:`inference_ops` (compiles them, and what else is pending)."""
        if self._inference_addresses is None:
            self._inference_addresses = _kops.addresses(self.inference_ops())
        return self._inference_addresses

    def evaluation_ops(self):
        """The functions of an evaluation (with the loss), made at the first one and kept."""
        if self._evaluation is None:
            self._evaluation = self.ops()
        return self._evaluation

    @contextlib.contextmanager
    def first_use(self, what, n_threads, optimizer=None, ranks=None):
        """Run a call of the kernels for ``what``: the functions it is the first to need
        compile side by side (:func:`fastmlp.engine.compile_pool.batches`; ``ranks``: a
        data-parallel fit's, whose every rank makes the call), and a notice says so
        (:func:`fastmlp.engine.compiling.first_use`)."""
        codes = self.layout.activation_codes
        key = (what, self.dtype, codes, self.loss, optimizer, n_threads > 1)

        def describe():
            names = "/".join(dict.fromkeys(a.name for a in self.layout.activations))
            opt = f"/{optimizer}" if optimizer else ""
            variant = "threads" if n_threads > 1 else "one thread"
            return f"{self.dtype.name} {names}{opt} {what} ({variant})"

        with first_use(key, describe, COMPILE_SECONDS[what]), batches(ranks):
            yield

    def workspace(self, rows, n_threads, training, touched_rows=0, sparse=False):
        """Buffers for a gradient pass over chunks of ``rows`` rows (``training``: with masks;
        ``sparse``: for a sparse input, read in place, with room for the list of the
        ``touched_rows`` rows of W_0 a training batch touches, see
        :class:`~fastmlp.engine.layout.Workspace`)."""
        return Workspace(self.layout, rows, self.dtype, training=True, n_threads=n_threads,
                         layer_f=self.layer_f if training else None, touched_rows=touched_rows,
                         gather_inputs=not sparse)

    # ------------------------------------------------------------------ passes
    def predict(self, X, prepare=None):
        """The network's output for the checked inputs X (n, n_inputs), a new array.

        ``prepare(rows)``, when given, turns each block of rows into the
        kernels' input (the model's dtype and preprocessing), so that X is
        never converted whole.
        """
        n = X.shape[0]
        if n <= self._direct_rows and isinstance(X, np.ndarray):
            # a small dense predict: one block on this thread, nothing else to decide
            part = X if prepare is None else prepare(X)
            member = self._predict_units.get(_kops.fingerprint(part))
            if member is not None:  # (a first use compiles below, with its notice)
                out = np.empty((n, self.n_outputs), dtype=self.dtype)
                work = self._thread_workspace("predict", n).work
                with self._blas_on_one_thread(n):
                    _ki.predict_here(self._inference_net, self.inference_addresses(), part,
                                     out, work, member)
                return out
        out = np.empty((n, self.n_outputs), dtype=self.dtype)
        n_threads, block = self._inference_plan(n, input_density(X))
        net, ops = self._inference_net, self.inference_ops()
        ws = self._thread_workspace("predict", block)
        if n <= block and isinstance(X, np.ndarray):
            # one block for the team: one call, nothing to cut, the team's launcher ready
            part = X if prepare is None else prepare(X)
            member = self._predict_units.get(_kops.fingerprint(part))
            if member is not None and member in self._team_ready:
                with self._blas_on_one_thread(n, n_threads):
                    _ki.predict(net, ops, part, out, ws.work, n_threads, member)
                return out

        def rows(start, stop):
            part = X[start:stop] if prepare is None else prepare(X[start:stop])
            part = kernel_input(part)
            key = _kops.fingerprint(part)
            member = self._predict_units.get(key)
            if member is None:
                member = self._predict_units[key] = _ki.predict_unit(net, ops, part, out, ws.work)
                if n_threads == 1:  # its entry point compiles with it, not after it
                    _ki.defer_predict_here(net, part, out, ws.work)
            if n_threads == 1:
                _ki.predict_here(net, self.inference_addresses(), part, out[start:stop], ws.work,
                                 member)
            else:
                _ki.predict(net, ops, part, out[start:stop], ws.work, n_threads, member)
                self._team_ready.add(member)

        with self.first_use("prediction", n_threads):
            with single_threaded_blas():
                self._in_calls(X, block, rows)
        return out

    def _inference_plan(self, n_rows, density):
        """:func:`plan` of an inference pass over ``n_rows`` rows, kept per row count, input
        density and thread count: a predict asks on every call (~3.6 us; ~1 us kept)."""
        key = (n_rows, density, get_num_threads())
        found = self._plans.get(key)
        if found is None:
            if len(self._plans) >= PLANS_KEPT:
                self._plans.clear()
            found = self._plans[key] = plan(self.layout.sizes, n_rows, density=density)
        return found

    def _blas_on_one_thread(self, rows, n_threads=1):
        """The context a predict of ``rows`` rows on ``n_threads`` threads runs in: BLAS
        switched to one thread, unless it keeps the products on the calling thread anyway
        (its own threads would fight the team's spin; switching BLAS back to its count
        wakes those threads, which then spin and take the team's cores).  A team's
        threads make products of a piece's rows
        (:func:`fastmlp.kernels.inference.claimed_rows`)."""
        if rows <= self._blas_alone_rows or (
                n_threads > 1 and _ki.claimed_rows(rows, n_threads) <= self._blas_alone_rows):
            return contextlib.nullcontext()
        return single_threaded_blas()

    def _thread_workspace(self, what, rows, training=False):
        """This thread's workspace for ``what`` (predict, evaluate), of at least ``rows``
        rows: made once per thread and grown when a larger block comes (concurrent passes
        each use their own).  ``training``: with the loss's buffers."""
        ws = getattr(self._threads_own, what, None)
        if ws is None or ws.max_rows < rows:
            # an evaluation reads its input rows in place: no room to gather them
            ws = Workspace(self.layout, rows, self.dtype, training=training, gather_inputs=False)
            setattr(self._threads_own, what, ws)
        return ws

    def evaluate(self, X, T, sw=NO_WEIGHTS, prepare=None):
        """Loss and metric sums of X against T (see :mod:`fastmlp.kernels.losses`): (3 + n_out,).

        ``prepare``: as for :meth:`predict`.
        """
        n_threads, block = self._inference_plan(X.shape[0], input_density(X))
        ws = self._thread_workspace("evaluate", block, training=True)
        stats = np.zeros((n_threads, 3 + self.n_outputs))
        net, ops, code = self._inference_net, self.evaluation_ops(), loss_code(self.loss)

        def rows(start, stop):
            weights = sw[start:stop] if sw.size else sw
            part = X[start:stop] if prepare is None else prepare(X[start:stop])
            part, targets = kernel_input(part), T[start:stop]
            key = _kops.fingerprint((part, targets, weights))
            member = self._evaluate_units.get(key)
            if member is None:
                member = self._evaluate_units[key] = _ki.evaluate_unit(
                    net, ops, part, targets, weights, ws.work, stats)
            _ki.evaluate(net, ops, code, part, targets, weights, ws.work, stats, n_threads,
                         member)

        with single_threaded_blas(), self.first_use("evaluation", n_threads):
            self._in_calls(X, block, rows)
        return stats.sum(axis=0)

    def _in_calls(self, X, block, run):
        """``run(start, stop)`` over the rows of X in calls of about CALL_SECONDS each.

        So that Ctrl-C is felt within about that long on a huge input, and a
        call converts at most CALL_MAX_BYTES of it.  The calls cover whole
        blocks of ``block`` rows (the kernels' own blocks), so the rows meet
        the threads and the sums add up exactly as in one call: the result
        does not depend on the cuts.
        """
        n_rows = X.shape[0]
        most = max(1, CALL_MAX_BYTES // max(1, row_bytes(X)) // block)
        start = 0
        while start < n_rows:
            blocks = min(most, max(1, int(self._rows_per_second * CALL_SECONDS) // block))
            stop = min(n_rows, start + blocks * block)
            began = time.perf_counter()
            run(start, stop)
            seconds = time.perf_counter() - began
            if seconds > 0:
                self._rows_per_second = (stop - start) / seconds
            start = stop

    def loss_and_grad(self, X, T, grad, noise=INFERENCE, sw=NO_WEIGHTS):
        """The objective over all of X (one batch) and its gradient into ``grad``."""
        n_threads, rows = self._inference_plan(X.shape[0], input_density(X))
        training = noise.mode != 0
        if training and self.needs_whole_batch:
            rows = X.shape[0]
        return GradientPass(self, rows, n_threads, training, is_sparse(X))(self.params, grad, X,
                                                                            T, sw, noise)

    def gradient_pass(self, rows, n_threads, training, sparse=False):
        """A :class:`GradientPass` with its buffers, for repeated passes (L-BFGS)."""
        return GradientPass(self, rows, n_threads, training, sparse)

    def training_loop(self, X, T, sw, batch_size, optimizer_kind, optimizer_name, mask_seed,
                      prepare=None, ranks=None, lazy=False):
        """A :class:`TrainingLoop` over (X, T, sw) in batches of ``batch_size`` rows."""
        return TrainingLoop(self, X, T, sw, batch_size, optimizer_kind, optimizer_name,
                            mask_seed, prepare, ranks, lazy)


class GradientPass:
    """The objective and its gradient over a set of rows, with buffers kept between calls.

    Parameters
    ----------
    engine : Engine
    rows : int
        Most rows per chunk (all of them when a training pass needs the
        whole batch at once).
    n_threads : int
    training : bool
        Whether the passes run in training mode (masks, batch statistics).
    sparse : bool, default False
        The passes read a sparse input (in place: no room to gather rows).
    """

    def __init__(self, engine, rows, n_threads, training, sparse=False):
        self.engine = engine
        self.n_threads = n_threads
        self.training = training
        self.rows = rows
        self.workspace = engine.workspace(rows, n_threads, training, sparse=sparse)
        self.stats = np.zeros((n_threads, 3 + engine.n_outputs))
        # the chunks of a call: about GRADIENT_CALL_FLOPS of work, fixed by the
        # model's size (not by timing, so that the results do not depend on it)
        weights = sum(a * b for a, b in zip(engine.layout.sizes, engine.layout.sizes[1:]))
        self._call_rows = rows * max(1, GRADIENT_CALL_FLOPS // (6 * weights * rows))

    def __call__(self, params, grad, X, T, sw=NO_WEIGHTS, noise=INFERENCE, layer_f=None,
                 weight=0.0, penalized=True):
        """Objective (mean loss + penalty) at ``params`` over X, T; its gradient into ``grad``.

        ``params`` is the model's buffer or a stand-in of the same layout
        (an optimizer's trial point); ``layer_f`` replaces the model's
        per-layer settings for this pass.  NaN or inf is returned as it is.
        Data-parallel passes: ``weight`` (when positive) divides the loss
        sums instead of the rows' own total weight, and ``penalized=False``
        leaves the penalty out (another rank adds it).

        A pass over many rows runs as calls of about GRADIENT_CALL_FLOPS of
        work each (whole chunks of rows), so that Ctrl-C is felt within about
        half a second even in a long L-BFGS evaluation; the gradient of a
        call adds to those of the calls before it, and the chunks are the
        ones a single call would take.  A training-mode pass that needs the
        whole batch at once (batch normalisation) is one call.
        """
        engine = self.engine
        self.stats[:] = 0
        if is_sparse(X):
            # read in place, its dropout applied in the product; the scatter of
            # the first layer's gradient adds into a block it expects at zero
            index = np.empty(0, dtype=np.int64)
            grad[engine.layout.weight_slice(0)] = 0
        else:
            # the input's dropout is applied where the rows are gathered, and
            # rows of another dtype are converted there
            dropout = noise.mode != 0 and engine.layer_f[0, _kn.DROPOUT] > 0
            gather = dropout or X.dtype != engine.dtype
            index = np.arange(X.shape[0]) if gather else np.empty(0, dtype=np.int64)
        n = X.shape[0]
        if weight <= 0.0 and n > self.rows:  # one denominator for every call
            total = float(sw.sum()) if sw.size else float(n)
            weight = total if total > 0.0 else 1.0
        net, ops, code = engine.net(params, layer_f), engine.ops(), loss_code(engine.loss)
        data = Data(kernel_input(X), T, sw, index)
        sync = _ksync.new_state()
        no_penalty = np.zeros_like(engine.reg)
        loss, start = 0.0, 0
        with single_threaded_blas(), engine.first_use("gradients", self.n_threads):
            while start < n:
                stop = n if self.rows >= n else min(n, start + self._call_rows)
                loss += _kt.loss_grad(net, ops, grad,
                                      engine.reg if penalized and start == 0 else no_penalty,
                                      code, data, start, stop, self.workspace.work, self.stats,
                                      self.n_threads, sync, noise, weight,
                                      accumulate=start > 0)
                if not np.isfinite(loss):
                    break
                start = stop
        return float(loss)

    def update_running_statistics(self, X, T, sw=NO_WEIGHTS):
        """Set batch norm's running statistics to those of all of X (one training pass).

        Momentum 1: the running mean and variance become the batch's mean
        and unbiased variance -- what a full-batch method ends with.
        """
        layer_f = self.engine.layer_f.copy()
        layer_f[:, _kn.BN_MOMENTUM] = 1.0
        params = self.engine.params
        self(params, np.empty_like(params), X, T, sw, training_noise(update_running=True),
             layer_f)


class TrainingLoop:
    """The compiled training loop over one fit's data: its buffers and the calls.

    Python enters it once per call of :meth:`run` (an epoch or a chunk of
    one); the batches, the optimizer steps and the masks run inside.

    Parameters
    ----------
    engine : Engine
    X, T : ndarray
        Checked (preprocessed) inputs and encoded targets.
    sw : ndarray
        float64 sample weights, or empty.
    batch_size : int
        Rows per batch (at most the number of rows).
    optimizer_kind : int
        The optimizer's kernel code (:mod:`fastmlp.kernels.optim`).
    optimizer_name : str
        For the first-compile notice.
    mask_seed : int
        Key of the dropout and DropConnect masks.
    prepare : callable, optional
        Given: X is read where it is (a large array, a memory map, a
        :class:`~fastmlp.rows.RowSubset`) and each call gathers its batches'
        rows in epoch order, and ``prepare(rows)`` converts and preprocesses
        them (the model's :meth:`~fastmlp.Model.prepare_rows`) -- the data
        are never transformed whole.  A call then covers at most
        CALL_MAX_BYTES of rows (:attr:`most_batches_per_call`).  The
        results are those of preparing X first: the masks are keyed on a
        row's place in its batch, not on where it is stored.
    ranks : Ranks, optional
        Data-parallel training (:class:`fastmlp.training.distributed.Ranks`):
        this process computes its share of every batch (``ranks.rank`` of
        ``ranks.size``) and the compiled loop sums the gradients over the
        ranks before each step; only rank 0 adds the penalty.
    lazy : bool, default False
        A sparse X: update only the rows of the first layer's weights that
        each batch's non-zeros pick (:mod:`fastmlp.kernels.sparse`), instead
        of all of them.
    """

    def __init__(self, engine, X, T, sw, batch_size, optimizer_kind, optimizer_name, mask_seed,
                 prepare=None, ranks=None, lazy=False):
        self.engine, self.X, self.T, self.sw = engine, X, T, sw
        self.prepare_rows = prepare
        self.ranks = ranks
        self.batch_size = batch_size
        #: the most batches a call takes (its staged rows' bound, when staging)
        row_size = X.shape[1] * max(X.itemsize, engine.dtype.itemsize) if prepare else 1
        self.most_batches_per_call = max(
            1, CALL_MAX_BYTES // (batch_size * row_size)) if prepare else None
        self.optimizer_kind = optimizer_kind
        self.optimizer_name = optimizer_name
        rows = batch_size if engine.needs_whole_batch else min(batch_size, TRAIN_CHUNK_ROWS)
        self.n_threads = plan(engine.layout.sizes, rows, training=True,
                              density=input_density(X)).n_threads
        distributed = ranks is not None and ranks.size > 1
        if distributed and engine.batch_norm:
            # batch norm sums its statistics over the ranks from one thread
            # (kernels.norm): one rank per core instead of a team
            self.n_threads = 1
        self._mpi = ranks.handles if distributed else None
        # a sparse X: room to list the rows of W_0 a batch touches
        touched = min(X.shape[1], X.nnz, batch_size * max_row_nnz(X)) if is_sparse(X) else 0
        self.workspace = engine.workspace(rows, self.n_threads, training=True,
                                          touched_rows=touched, sparse=is_sparse(X))
        self._X = kernel_input(X)
        self.grad = np.zeros_like(engine.params)
        #: loss and metric sums of the batches run since the last reset, per thread
        self.stats = np.zeros((self.n_threads, 3 + engine.n_outputs))
        self._sync = _ksync.new_state()
        self._run = Run(batch_size=np.int64(batch_size), first=np.int64(0), end=np.int64(0),
                        loss_code=np.int64(loss_code(engine.loss)),
                        kind=np.int64(optimizer_kind), seed=np.int64(mask_seed),
                        rank=np.int64(0 if ranks is None else ranks.rank),
                        ranks=np.int64(1 if ranks is None else ranks.size),
                        reduced=np.zeros(1), lazy=np.bool_(lazy and is_sparse(X)))
        self._no_penalty = np.zeros_like(engine.reg)
        self._compiled = None  # the kernels' Training for these arrays, on the first call

    @property
    def barriers_passed(self):
        """Barriers the loop's thread team has met so far (0 with one thread): a
        measurement of the team's synchronisation (bench/scaling.py)."""
        return _ksync.barriers_passed(self._sync)

    def time_barrier_waits(self, period):
        """Time the team's waits at each of the ``period`` barriers of a batch from now on
        (:func:`fastmlp.kernels.sync.time_waits`; 0 stops); for measurements."""
        _ksync.time_waits(self._sync, period)

    def barrier_waits(self):
        """Seconds waited at each barrier of a batch since :meth:`time_barrier_waits`,
        summed over the threads and the batches run."""
        return _ksync.waits(self._sync) / _ksync.counter_ticks_per_second()

    def prepare(self, opt_state):
        """Compile (or load from the cache) the loop's kernels, with a notice if it compiles.

        Runs no batch; ``opt_state`` is the optimizer's
        :class:`~fastmlp.kernels.structs.OptState` as :meth:`run` will get it.
        """
        order = np.arange(self.X.shape[0], dtype=np.int64)
        with self.engine.first_use("training", self.n_threads, self.optimizer_name,
                                   self.ranks if self._mpi is not None else None):
            args = self._arguments(order, opt_state, 0, 0)
            self._compiled = _kt.training(*args)
            _kt.ready(self._compiled, *args)

    def run(self, order, opt_state, first, end):
        """Train on batches ``first .. end-1`` of the epoch order ``order``.

        Returns -1 when every batch had a finite loss; otherwise the index
        of the first batch whose loss was NaN or inf, which was not applied.
        """
        args = self._arguments(order, opt_state, first, end)
        if self._compiled is None:
            self._compiled = _kt.training(*args)
        with self.engine.guard.writing():
            return _kt.train_batches(self._compiled, *args)

    def _arguments(self, order, opt_state, first, end):
        """The arguments of :func:`fastmlp.kernels.train.train_batches` for batches
        ``first .. end-1`` of ``order`` (after the :class:`~fastmlp.kernels.train.Training`)."""
        engine = self.engine
        X, T, sw = self._X, self.T, self.sw
        if self.prepare_rows is not None:
            X, T, sw, order = self._staged(order, first, end)
            first, end = 0, end - first  # the rates are the call's already
        run = self._run._replace(first=np.int64(first), end=np.int64(end))
        # the model's functions as they are now (a callback may have set a penalty)
        ops = engine.ops(self.optimizer_kind)
        # the penalty is added once, by rank 0, to the gradient summed over the ranks
        reg = engine.reg if self.ranks is None or self.ranks.rank == 0 else self._no_penalty
        return (engine.net(mpi=self._mpi), ops, self.grad, reg, Data(X, T, sw, order), run,
                self.workspace.work, opt_state, self.stats, self.n_threads, self._sync)

    def _staged(self, order, first, end):
        """(X, T, sw, order) of batches ``first .. end-1`` alone, gathered and prepared.

        With several ranks, only this rank's shares of the batches are read
        and prepared: the other rows of the block are left as they are (the
        kernels do not read them).
        """
        rows = order[first * self.batch_size:end * self.batch_size]
        if self._mpi is None or not rows.size:  # one process (or the compile-only call)
            return staged_rows(self.X, self.T, self.sw, rows, self.prepare_rows,
                               self.engine.dtype)
        mine = self.ranks.share_positions(rows.size, self.batch_size)
        X = np.empty((rows.size, self.X.shape[1]), dtype=self.engine.dtype)
        X[mine] = self.prepare_rows(self.X[rows[mine]], scratch=True)
        sw = self.sw[rows] if self.sw.size else self.sw
        return X, self.T[rows], sw, np.arange(rows.size, dtype=np.int64)
