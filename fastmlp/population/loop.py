"""A population fit's epochs: calls of bounded length, members that diverge, an epoch in progress.

As for one model (:mod:`fastmlp.training.epoch_loop`), Python enters the
compiled loop once per call, each call about
:data:`~fastmlp._utils.tuning.CALL_SECONDS` long, so Ctrl-C, the progress
display and mid-epoch checkpoints get control back within about that long;
a call trains every member it lists on the same batches.

A member whose loss or parameters become NaN or infinite is put back as it
was at the epoch's start, its optimizer starts afresh, and it trains no
more in this fit (it is *diverged*); the other members go on.  A
``KeyboardInterrupt`` keeps every member's weights and optimizer state
after the last batch the call completed (the members stop at the same
batch); any other exception puts back the weights of the epoch's start.
"""

import time

import numpy as np

from ..callbacks import wants_chunks
from ..engine.population import PopulationLoop
from ..metrics import metrics_from_stats, total_sum_of_squares
from ..training.epoch_loop import CallPacing, EpochProgress

__all__ = ["PopulationEpochs"]


class PopulationEpochs:
    """Buffers for one population fit and its calls into the compiled loop, epoch by epoch.

    Parameters
    ----------
    population : Population
    optimizers : MemberOptimizers
    X, T, sw : ndarray
        Prepared inputs, encoded targets, sample weights (or empty).
    batch_size : int or None
    mask_seed : int
    keep_state : bool
        Also keep the optimizers' state at each epoch's start (an epoch a
        bold driver rejects is put back per member).
    staged : bool
        X is read where it is and prepared call by call.
    lazy : bool
        A sparse X: the lazy update of the first layer's weights.
    """

    def __init__(self, population, optimizers, X, T, sw, batch_size, mask_seed, keep_state=False,
                 staged=False, lazy=False):
        n = X.shape[0]
        self.population, self.optimizers = population, optimizers
        self.T, self.sw = T, sw
        self.n_samples = n
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.n_batches = -(-n // self.batch_size)
        self.loop = PopulationLoop(population.engines, population.arrays, X, T, sw,
                                   self.batch_size, optimizers.kind,
                                   type(optimizers.template).__name__.lower(), mask_seed,
                                   population.prepare_rows if staged else None, lazy)
        self.pacing = CallPacing(self.n_batches, self.loop.most_batches_per_call)
        self.sst = None if population.loss != "squared_error" else total_sum_of_squares(T, sw)
        self.last_time = 0.0
        self.snapshot = None
        self.keep_state = keep_state
        self.state_snapshot = None
        self._first_step = None  # each member's step count when the epoch began
        self._training = np.zeros(0, dtype=np.int64)
        optimizers.bind(population.params)
        self.loop.prepare(optimizers.kernel_args())  # compile (or load) before timing

    # ------------------------------------------------------------ progress
    def batches_done(self):
        """Batches of the running epoch the members in training have applied (0 outside one)."""
        if self._first_step is None or not self._training.size:
            return 0
        k = self._training[0]
        return int(self.optimizers.count[k, 0] - self._first_step[k])

    def progress(self):
        """The :class:`~fastmlp.training.epoch_loop.EpochProgress` of the running epoch
        (its stats: (K, 1, width) per member), or None outside one or before its first batch."""
        done = self.batches_done()
        if not 0 < done < self.n_batches:
            return None
        return EpochProgress(done, self.loop.stats.copy(), self.n_samples)

    def restore(self, members):
        """Put back the listed members' parameters (and optimizer state, if kept) of the
        epoch's start."""
        self.population.restore(self.snapshot, members)
        if self.state_snapshot is not None:
            self.optimizers.put_back(self.state_snapshot, members)

    # -------------------------------------------------------------- an epoch
    def run_epoch(self, order, rates, members, callbacks, trainer, resume=None):
        """Train the listed members one epoch (from batch ``resume.batches_done`` when
        resuming one).

        ``rates``: (K, n_batches) each member's rate for each batch, or None.
        Returns ``(logs, diverged, stop)``: each member's metrics (a dict of
        lists, None for a member not trained), the members that diverged in
        this epoch (put back, see the module docstring) with the reason, and
        whether a chunk callback asked to stop.

        Raises
        ------
        KeyboardInterrupt
            Every member's weights and optimizer state stay as after the last
            completed call.
        """
        pop, opt = self.population, self.optimizers
        training = np.asarray(members, dtype=np.int64)
        self.snapshot = pop.snapshot(into=self.snapshot)
        if self.keep_state:
            self.state_snapshot = opt.state_arrays()
        first = 0
        self.loop.stats[:] = 0
        if resume is not None:
            first = resume.batches_done
            self.loop.stats[...] = np.asarray(resume.stats).reshape(self.loop.stats.shape)
        self._first_step = opt.count[:, 0] - first
        chunk_callbacks = [cb for cb in callbacks if wants_chunks(cb)]
        spacing = self.pacing.spacing(chunk_callbacks)
        diverged, stop = {}, False
        start = time.perf_counter()
        self._training = training
        try:
            while first < self.n_batches and training.size:
                end = self.pacing.next_end(first, spacing)
                began = time.perf_counter()
                call_rates = None if rates is None else rates[:, first:end]
                result = self.loop.run(order, opt.kernel_args(call_rates), first, end, training)
                self.pacing.learn_speed(end - first, time.perf_counter() - began)
                bad = training[result[training] >= 0]
                for k in bad:
                    diverged[int(k)] = (f"the loss became NaN or infinite (batch "
                                        f"{int(result[k]) + 1} of {self.n_batches})")
                training = self._drop(training, bad)
                first = end
                for cb in chunk_callbacks:
                    stop = bool(cb.on_chunk_end(trainer, trainer.epoch, end,
                                                self.n_batches)) or stop
            bad = training[~np.isfinite(pop.params[training]).all(axis=1)]
            for k in bad:
                diverged[int(k)] = "its parameters became NaN or infinite"
            training = self._drop(training, bad)
        except KeyboardInterrupt:
            raise  # every member keeps the batches done (see the module docstring)
        except BaseException:
            pop.restore(self.snapshot)
            raise
        finally:
            self.last_time = time.perf_counter() - start
        self._first_step = None
        logs = self._member_logs(training)
        return logs, diverged, stop

    def _drop(self, training, bad):
        """``training`` without the members in ``bad``, which are put back and reset."""
        if not bad.size:
            return training
        self.population.restore(self.snapshot, bad)
        self.optimizers.reset(bad, self.population.params)
        self._training = training[~np.isin(training, bad)]
        return self._training

    def _member_logs(self, trained):
        """Each member's metrics of the epoch: a dict of K-lists (None: not trained)."""
        size = self.population.size
        logs = {}
        for k in trained:
            metrics = metrics_from_stats(self.loop.stats[k, 0], self.population.loss, self.T,
                                         self.sst, self.sw)
            for key, value in metrics.items():
                logs.setdefault(key, [None] * size)[k] = float(value)
        if not logs:  # nobody trained: the keys still, all None
            for key in metrics_from_stats(self.loop.stats[0, 0], self.population.loss, self.T,
                                          self.sst, self.sw):
                logs[key] = [None] * size
        return logs
