"""The calls that train a population: its buffers, its thread team, the compiled loop.

A population (:class:`fastmlp.Population`) is K models of one architecture
whose arrays are rows of stacked buffers (:class:`MemberArrays`).  The
kernels train the members a call lists on the same batches, a thread per
member at a time (:mod:`fastmlp.kernels.population`); this module owns
what those calls need -- a workspace and a gradient buffer per thread, the
members' loss sums -- and builds the named structures the kernels take.

Layering: like :mod:`fastmlp.engine.calls`, it imports the kernels and the
engine's pieces, and none of the model, population or trainer modules.
"""

import contextlib
from collections import namedtuple

import numpy as np

from .._utils.sparse import is_sparse, max_row_nnz
from .._utils.tuning import CALL_MAX_BYTES, TRAIN_CHUNK_ROWS
from ..kernels import network as _kn
from ..kernels import penalty as _kp
from ..kernels import population as _kpop
from ..kernels import sync as _ksync
from ..kernels.collective import MPI_SIZE
from ..kernels.structs import Data, Lanes, Members, Net, Run
from ..losses import loss_code
from .inputs import kernel_input, staged_rows
from .layout import Workspace
from .threads import kernel_threads

__all__ = ["MemberArrays", "MemberOptState", "PopulationLoop"]

#: A population's model arrays, member k's the k-th row of each:
#: ``params`` (K, n_params) and ``running`` (K, n_running) in the models'
#: dtype, ``layer_f`` (K, n_layers, 4) and ``reg`` (K, 3) float64 (see
#: :class:`~fastmlp.engine.Engine`).
MemberArrays = namedtuple("MemberArrays", ["params", "running", "layer_f", "reg"])

#: A population's optimizer arrays, member k's the k-th row of each: ``state``
#: (K, slots, n_params), ``hyper`` (K, HYPER_SIZE), ``scalars`` (K,
#: SCALAR_STATE), ``count`` (K, 1) int64, ``rates`` (K, n_batches) -- each
#: batch's learning rate -- or (K, 0) (see :class:`~fastmlp.kernels.structs.OptState`).
MemberOptState = namedtuple("MemberOptState", ["state", "hyper", "scalars", "count", "rates"])

#: The Net's MPI handles: a population trains in one process.
_NO_MPI = np.zeros(MPI_SIZE, dtype=np.int64)


class PopulationLoop:
    """The compiled training loop of a population over one fit's data.

    Python enters it once per call of :meth:`run` (an epoch or a chunk of
    one); the members' batches, steps and masks run inside.

    Parameters
    ----------
    engines : sequence of Engine
        The members' engines (their layout, dtype, loss and activation
        parameters are the same; each one's guard covers its member's row).
    arrays : MemberArrays
    X, T, sw : ndarray
        Checked (preprocessed) inputs, encoded targets, float64 sample
        weights or empty -- shared by every member.
    batch_size : int
    optimizer_kind : int
    optimizer_name : str
    mask_seed : int
        Key of the dropout and DropConnect masks (the same for every member,
        as for each member trained alone with the same trainer seed).
    prepare : callable, optional
        X is read where it is and each call's batches prepared (see
        :class:`~fastmlp.engine.TrainingLoop`).
    lazy : bool, default False
        A sparse X: the lazy update of the first layer's weights.
    """

    def __init__(self, engines, arrays, X, T, sw, batch_size, optimizer_kind, optimizer_name,
                 mask_seed, prepare=None, lazy=False):
        self.engines = list(engines)
        self.arrays = arrays
        self.X, self.T, self.sw = X, T, sw
        self.prepare_rows = prepare
        self.batch_size = batch_size
        self.optimizer_kind = optimizer_kind
        self.optimizer_name = optimizer_name
        engine = self.engines[0]
        n_members, n_params = arrays.params.shape
        row_size = X.shape[1] * max(X.itemsize, engine.dtype.itemsize) if prepare else 1
        #: the most batches a call takes (its staged rows' bound, when staging)
        self.most_batches_per_call = max(
            1, CALL_MAX_BYTES // (batch_size * row_size)) if prepare else None
        # every member's needs: the workspace has room for the dropout and
        # DropConnect of any of them (a member without either passes through
        # them unchanged, as its rates are 0)
        self._any_layer_f = arrays.layer_f.max(axis=0)
        whole = engine.batch_norm or bool((self._any_layer_f[:, _kn.DROPCONNECT] > 0).any())
        rows = batch_size if whole else min(batch_size, TRAIN_CHUNK_ROWS)
        #: threads sharing the members (a member runs on one thread)
        self.n_threads = max(1, min(kernel_threads(float("inf")), n_members))
        touched = min(X.shape[1], X.nnz, batch_size * max_row_nnz(X)) if is_sparse(X) else 0
        ws = Workspace(engine.layout, rows, engine.dtype, training=True, n_threads=1,
                       layer_f=self._any_layer_f, touched_rows=touched,
                       gather_inputs=not is_sparse(X))
        n = self.n_threads
        self.lanes = Lanes(grad=np.zeros((n, n_params), dtype=engine.dtype),
                           buf=np.tile(ws.buffer, (n, 1)), parts=ws.work.parts,
                           rows=np.tile(ws.work.rows, (n, 1)),
                           # rows of whole cache lines: each is written at every batch
                           stats=np.zeros((n, 1, max(16, 3 + engine.n_outputs))),
                           partial=np.zeros((n, 16)),
                           sync=np.zeros((n, _ksync.STATE_SIZE), dtype=np.int64))
        self._X = kernel_input(X)
        #: each member's loss and metric sums of the batches run since the last reset
        self.stats = np.zeros((n_members, 1, 3 + engine.n_outputs))
        #: each member's result of the last call (-1, or its first non-finite batch)
        self.result = np.full((n_members, 1), -1, dtype=np.int64)
        self._claimed = np.zeros(1, dtype=np.int64)
        self._run = Run(batch_size=np.int64(batch_size), first=np.int64(0), end=np.int64(0),
                        loss_code=np.int64(loss_code(engine.loss)),
                        kind=np.int64(optimizer_kind), seed=np.int64(mask_seed),
                        rank=np.int64(0), ranks=np.int64(1), reduced=np.zeros(1),
                        lazy=np.bool_(lazy and is_sparse(X)))
        self._compiled = None  # the kernels' PopulationTraining, on the first call

    def _ops(self):
        """The functions every member needs: a member's own, with the dropout and
        penalty functions when any member uses them (as set now: a callback may change
        a penalty between calls)."""
        arrays = self.arrays
        stochastic = bool((arrays.layer_f[:, :, _kn.DROPOUT] > 0).any()
                          or (arrays.layer_f[:, :, _kn.DROPCONNECT] > 0).any())
        penalty = bool((arrays.reg[:, _kp.L2] > 0).any() or (arrays.reg[:, _kp.L1] > 0).any())
        return self.engines[0].ops(self.optimizer_kind, dropout=stochastic, penalty=penalty)

    def prepare(self, opt_state):
        """Compile (or load from the cache) the loop's kernels, with a notice if it compiles;
        runs no batch (``opt_state``: a :class:`MemberOptState` as :meth:`run` gets it)."""
        order = np.arange(self.X.shape[0], dtype=np.int64)
        with self.engines[0].first_use("training", 1, self.optimizer_name):
            self.run(order, opt_state, 0, 0, np.arange(1, dtype=np.int64))

    def run(self, order, opt_state, first, end, members):
        """Train members ``members`` (int64 indices) on batches ``first .. end-1`` of the
        epoch order ``order``.

        Returns each member's result, (K,) int64: -1 when every batch had a
        finite loss, otherwise the index of the member's first batch whose
        loss was NaN or inf (not applied; the member stopped there).
        Members not listed keep -1 and are left untouched.
        """
        X, T, sw = self._X, self.T, self.sw
        if self.prepare_rows is not None:
            rows = order[first * self.batch_size:end * self.batch_size]
            X, T, sw, order = staged_rows(self.X, T, sw, rows, self.prepare_rows,
                                          self.engines[0].dtype)
            first, end = 0, end - first  # the rates are the call's already
        run = self._run._replace(first=np.int64(first), end=np.int64(end))
        arrays = self.arrays
        kernel_members = Members(arrays.params, arrays.running, arrays.layer_f, arrays.reg,
                                 opt_state.state, opt_state.hyper, opt_state.scalars,
                                 opt_state.count, opt_state.rates, self.stats, self.result,
                                 np.ascontiguousarray(members, dtype=np.int64), self._claimed)
        engine = self.engines[0]
        # the shared fields (layout, activation parameters); each member's
        # arrays replace the rest in the kernels
        net = Net(arrays.params[0], engine.layout.table, engine.act_param, arrays.layer_f[0],
                  arrays.running[0], _NO_MPI)
        ops = self._ops()
        data = Data(X, T, sw, order)
        if self._compiled is None:
            self._compiled = _kpop.population_training(net, ops, data, run, kernel_members,
                                                       self.lanes)
        with contextlib.ExitStack() as writing:
            for e in self.engines:
                writing.enter_context(e.guard.writing())
            _kpop.train_population(self._compiled, net, ops, data, run, kernel_members,
                                   self.lanes, self.n_threads)
        return self.result[:, 0].copy()
