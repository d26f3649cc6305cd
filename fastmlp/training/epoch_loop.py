"""One fit's epochs in the compiled loop: calls of bounded length, recovery, an epoch in progress.

Python enters the compiled loop once per call; a call trains a run of
batches.  Calls are sized from the speed of the previous one to last about
:data:`~fastmlp._utils.tuning.CALL_SECONDS`, so that however long an epoch
is, Ctrl-C, the progress display and mid-epoch checkpoints get control back
within about that much time; at a few hundred microseconds per call that
costs well under 1% of the throughput.  Results do not depend on where
the calls are cut: the shuffling order, the dropout masks (keyed on the
optimizer's step) and every update are the same.

What an interrupted epoch leaves (see :class:`EpochLoop.run_epoch`):

* a ``KeyboardInterrupt`` keeps the weights and optimizer state after the
  last completed batch (the compiled loop never stops inside one);
* any other exception, and a divergence, put back the weights of the
  epoch's start.
"""

import math
import time
from collections import namedtuple

import numpy as np

from .._utils.tuning import CALL_SECONDS
from ..archive.generator_state import decode_generator
from ..callbacks import wants_chunks
from ..exceptions import DivergenceError
from ..metrics import metrics_from_stats, total_sum_of_squares

__all__ = ["EpochLoop", "EpochProgress", "CallPacing", "ResumedEpoch", "resumed_epoch"]

#: An epoch in progress: ``batches_done`` of its batches are applied, ``stats``
#: (n_threads, 3 + n_outputs) float64 holds their loss and metric sums, and
#: the epoch runs over ``n_samples`` rows.
EpochProgress = namedtuple("EpochProgress", ["batches_done", "stats", "n_samples"])


class CallPacing:
    """Where each call of an epoch's batches ends: about CALL_SECONDS of work, learned
    from the speed of the calls before, or a callback's chunk boundary.

    Parameters
    ----------
    n_batches : int
        Batches per epoch.
    most : int or None
        The most batches a call may take (staged rows' bound), None for no bound.
    """

    def __init__(self, n_batches, most=None):
        self.n_batches = n_batches
        self.most = most
        #: batches per call, learned from the speed of each call (one to start)
        self.batches_per_call = 1

    def next_end(self, first, spacing):
        """Where the call starting at batch ``first`` ends: its time budget, or a callback's
        chunk boundary (every ``spacing`` batches), whichever comes first."""
        end = min(self.n_batches, first + self.batches_per_call,
                  first + (self.most or self.n_batches))
        if spacing:
            end = min(end, (first // spacing + 1) * spacing)
        return end

    def spacing(self, chunk_callbacks):
        """Batches between the chunk boundaries the callbacks ask for (None: none)."""
        wishes = [max(1, self.n_batches // cb.chunks_per_epoch) for cb in chunk_callbacks
                  if getattr(cb, "chunks_per_epoch", 1) > 1]
        wishes += [cb.chunk_batches for cb in chunk_callbacks
                   if getattr(cb, "chunk_batches", None)]
        return min(wishes, default=None)

    def learn_speed(self, batches, seconds):
        """Size the next calls from this one's ``batches`` in ``seconds``."""
        if seconds > 0:
            self.batches_per_call = max(1, min(self.n_batches,
                                               int(batches / seconds * CALL_SECONDS)))


class EpochLoop:
    """Buffers for one fit and the calls into the compiled loop, epoch by epoch.

    Parameters
    ----------
    model : Model
    optimizer : Optimizer
    X, T, sw : ndarray
        Prepared inputs, encoded targets, sample weights (or empty).
    batch_size : int or None
        None: the full batch.
    mask_seed : int
        Key of the dropout and DropConnect masks.
    keep_state : bool
        Also keep the optimizer's state at the start of each epoch, for
        :meth:`restore` (an epoch the bold driver rejects).
    staged : bool
        X is read where it is and prepared call by call (see
        :class:`~fastmlp.engine.TrainingLoop`).
    ranks : Ranks, optional
        Data-parallel training (:mod:`fastmlp.training.distributed`): the
        epoch's loss sums are added up over the ranks, and their parameters
        checked to be identical after every epoch.
    lazy : bool, default False
        A sparse X: the lazy update of the first layer's weights (see
        :class:`~fastmlp.Trainer`'s ``sparse_update``).
    """

    def __init__(self, model, optimizer, X, T, sw, batch_size, mask_seed, keep_state=False,
                 staged=False, ranks=None, lazy=False):
        n = X.shape[0]
        self.model, self.optimizer, self.T, self.sw = model, optimizer, T, sw
        self.n_samples = n
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.n_batches = math.ceil(n / self.batch_size)
        self.loop = model.engine.training_loop(X, T, sw, self.batch_size, optimizer.kind,
                                               type(optimizer).__name__.lower(), mask_seed,
                                               model.prepare_rows if staged else None, ranks,
                                               lazy)
        self.ranks = ranks
        self.identity = np.arange(n, dtype=np.int64)
        self.sst = None if model.loss != "squared_error" else total_sum_of_squares(T, sw)
        self.last_time = 0.0
        self.pacing = CallPacing(self.n_batches, self.loop.most_batches_per_call)
        # The model at the start of the epoch (recovery); the optimizer's
        # state too when an epoch may be rejected (bold driver).
        self.snapshot = None
        self.keep_state = keep_state
        self.state_snapshot = None
        self._first_step = None  # the optimizer's step count when the epoch began
        optimizer.bind(model.params)
        # compile (or load from cache) before timing
        self.loop.prepare(optimizer.kernel_args(None))

    # ------------------------------------------------------------ progress
    def batches_done(self):
        """Batches of the running epoch applied so far (0 outside an epoch).

        Read off the optimizer's step counter, which the compiled loop
        advances with every batch it applies: exact even when an interrupt
        arrives right after a call.
        """
        if self._first_step is None:
            return 0
        return int(self.optimizer.step_count[0]) - self._first_step

    def progress(self):
        """The :class:`EpochProgress` of the running epoch, or None outside one (or before
        its first batch)."""
        done = self.batches_done()
        if not 0 < done < self.n_batches:
            return None
        return EpochProgress(done, self.loop.stats.copy(), self.n_samples)

    # ------------------------------------------------------------ the calls
    def _call(self, order, rates, first, end):
        lrs = None if rates is None else rates[first:end]
        return self.loop.run(order, self.optimizer.kernel_args(lrs), first, end)

    def restore(self):
        """Put back the parameters (and optimizer state, if kept) of the epoch's start."""
        self.model.restore(self.snapshot)
        if self.state_snapshot is not None:
            state, count, scalars = self.state_snapshot
            self.optimizer.state[...] = state
            self.optimizer.step_count[...] = count
            self.optimizer.scalar_state[...] = scalars

    def run_epoch(self, order, rates, epoch, callbacks, trainer, resume=None):
        """Train one epoch (from batch ``resume.batches_done`` when resuming one).

        Callbacks that want chunks get :meth:`~fastmlp.Callback.on_chunk_end`
        after every call.  Returns ``(logs, stop_requested)``.

        Raises
        ------
        DivergenceError
            A NaN or infinite loss or parameter; the epoch's start is put back.
        KeyboardInterrupt
            The weights and optimizer state stay as after the last completed
            batch (:meth:`batches_done` counts them).
        """
        model, opt = self.model, self.optimizer
        state = opt.bind(model.params)
        self.snapshot = model.snapshot(into=self.snapshot)
        if self.keep_state:
            self.state_snapshot = (state.copy(), opt.step_count.copy(), opt.scalar_state.copy())
        first = 0
        self.loop.stats[:] = 0
        if resume is not None:
            first = resume.batches_done
            self._restore_stats(resume.stats)
        self._first_step = int(opt.step_count[0]) - first
        chunk_callbacks = [cb for cb in callbacks if wants_chunks(cb)]
        spacing = self.pacing.spacing(chunk_callbacks)
        stop = False
        start = time.perf_counter()
        try:
            while first < self.n_batches:
                end = self.pacing.next_end(first, spacing)
                began = time.perf_counter()
                bad = self._call(order, rates, first, end)
                self.pacing.learn_speed(end - first, time.perf_counter() - began)
                if bad >= 0:
                    self._diverged(f"the loss became NaN or infinite in epoch {epoch + 1} "
                                   f"(batch {bad + 1} of {self.n_batches})")
                first = end
                for cb in chunk_callbacks:
                    stop = bool(cb.on_chunk_end(trainer, epoch, end, self.n_batches)) or stop
            if not np.isfinite(model.params).all():
                self._diverged(f"parameters became NaN or infinite in epoch {epoch + 1}")
        except KeyboardInterrupt:
            raise  # the model keeps the batches done (see the module docstring)
        except BaseException:
            model.restore(self.snapshot)
            raise
        finally:
            self.last_time = time.perf_counter() - start
        self._first_step = None
        stats = self.loop.stats.sum(axis=0)
        if self.ranks is not None:
            stats = self.ranks.sum(stats)
            self.ranks.check_parameters(model.params, f"after epoch {epoch + 1}")
        return metrics_from_stats(stats, model.loss, self.T, self.sst, self.sw), stop

    def _restore_stats(self, stats):
        """The loss sums of a resumed epoch's first batches (one row per thread; added to
        row 0 when the thread count differs)."""
        stats = np.asarray(stats, dtype=np.float64)
        if stats.shape == self.loop.stats.shape:
            self.loop.stats[...] = stats
        else:
            self.loop.stats[0] = stats.reshape(-1, self.loop.stats.shape[1]).sum(axis=0)

    def _diverged(self, what):
        self.optimizer.reset()  # its moments hold the blow-up; start them afresh
        raise DivergenceError(f"{what}; the weights were restored to the end of the previous "
                              "epoch. Likely causes: a learning rate too high for this "
                              "problem, or unscaled inputs (standardise the features).")


#: An epoch to finish (from a mid-epoch checkpoint): its :class:`EpochProgress`
#: and the shuffling generator as it was when the epoch began.
ResumedEpoch = namedtuple("ResumedEpoch", ["progress", "rng"])


def resumed_epoch(saved, stats_ndim=2):
    """The :class:`ResumedEpoch` of a state_dict's ``epoch_progress`` (None for none);
    its loss sums a table of ``stats_ndim`` dimensions (a population's: 3)."""
    if saved is None:
        return None
    done, n_samples, stats = saved["batches_done"], saved["n_samples"], saved["stats"]
    for key, value in (("batches_done", done), ("n_samples", n_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"epoch_progress {key} must be a positive integer, got {value!r}")
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != stats_ndim or not np.isfinite(stats).all():
        raise ValueError("epoch_progress stats must be a finite table")
    return ResumedEpoch(EpochProgress(done, stats, n_samples), decode_generator(saved["rng"]))
