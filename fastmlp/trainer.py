"""The Trainer: mini-batch training of a Model with an optimizer.

The epoch loop itself (gather, forward, loss, backward, update for every
batch) is one compiled call, :func:`fastmlp.kernels.train.train_batches`;
this module prepares its buffers, shuffles, and does what belongs between
epochs: metrics, validation, callbacks, the progress display.
"""

import math
import time

import numpy as np

from ._validation import (check_array, check_lengths, check_positive_int, check_seed)
from .callbacks import ProgressLogger, as_callback, wants_chunks
from .exceptions import DivergenceError
from .kernels import sync as _ksync
from .kernels import train as _kt
from .layout import Workspace
from .losses import encode_targets, loss_code
from .metrics import _total_sum_of_squares, metrics_from_stats
from .optim import Adam, get_optimizer
from .parallel import kernel_threads, single_threaded_blas, threads

__all__ = ["Trainer"]

#: Most rows the compiled loop processes at once; larger batches (full-batch
#: training on big data) are accumulated chunk by chunk.
TRAIN_CHUNK_ROWS = 4096


class Trainer:
    """Trains a :class:`~fastmlp.Model` by mini-batch gradient descent.

    Parameters
    ----------
    model : Model
    optimizer : Optimizer or str, default Adam(lr=1e-3)
        An instance from :mod:`fastmlp.optim` or a name ("adam", "sgd").
    batch_size : int or None, default 32
        Samples per update.  ``None`` or a value >= n_samples is full-batch
        (deterministic) training, 1 is online (stochastic) training.  The last
        batch of an epoch holds the remaining samples (it is not dropped).
    epochs : int, default 10
        Epochs per call to :meth:`fit`.
    shuffle : bool, default True
        Draw a new sample order every epoch.
    seed : int, numpy Generator or None
        Seed of the shuffling.  With the same model seed, trainer seed and
        thread count, training gives bit-identical weights.
    callbacks : sequence of Callback or functions ``f(epoch, logs)``
    verbose : int, default 1
        0 silent, 1 one line per epoch, 2 also a progress bar within epochs.
    n_threads : int or None
        Threads for BLAS and Numba during :meth:`fit` (None: leave as is).

    Attributes
    ----------
    history : dict of lists
        Every epoch since the trainer was made: "loss", "accuracy" or "r2",
        the same prefixed "val_" with validation data, "lr", "time",
        "samples_per_sec".
    epoch : int
        Epochs completed so far.
    """

    def __init__(self, model, optimizer=None, batch_size=32, epochs=10, shuffle=True, seed=None,
                 callbacks=(), verbose=1, n_threads=None):
        self.model = model
        self.optimizer = Adam() if optimizer is None else get_optimizer(optimizer)
        self.batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
        self.epochs = check_positive_int(epochs, "epochs")
        self.shuffle = bool(shuffle)
        self._rng = np.random.default_rng(check_seed(seed))
        self.callbacks = [as_callback(c) for c in callbacks]
        if verbose not in (0, 1, 2, False, True):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        self.verbose = int(verbose)
        if n_threads is not None:
            check_positive_int(n_threads, "n_threads")
        self.n_threads = n_threads
        self.history = {}
        self.epoch = 0
        self._epochs_this_fit = 0

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, validation_data=None, epochs=None):
        """Train for ``epochs`` epochs, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        y : array-like
            Targets in a form the model's loss accepts (see :mod:`fastmlp.losses`).
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch ("val_loss" and "val_" metrics).
        epochs : int, optional
            Overrides the trainer's ``epochs`` for this call.

        Returns
        -------
        dict of lists
            This call's epochs (the same keys as :attr:`history`).

        Raises
        ------
        ValueError, TypeError
            Bad input, before any weight changes.
        DivergenceError
            A loss or parameter became NaN/inf; the weights are restored to the
            end of the last good epoch and the optimizer state is reset.

        Notes
        -----
        An interrupted fit (KeyboardInterrupt, an exception in a callback)
        puts the weights back to the end of the last completed epoch; the
        optimizer keeps its state (finite, a few steps further on).
        """
        model = self.model
        X = check_array(X, model.dtype, model.n_inputs, "X")
        T = encode_targets(y, model.loss, model.n_outputs, model.dtype, "y")
        check_lengths(X, T)
        val = self._check_validation(validation_data)
        val_sst = None
        if val is not None and model.loss == "squared_error":
            val_sst = _total_sum_of_squares(val[1])
        n_epochs = self.epochs if epochs is None else check_positive_int(epochs, "epochs")
        self._epochs_this_fit = n_epochs

        callbacks = list(self.callbacks)
        if self.verbose:
            callbacks.append(ProgressLogger(in_epoch=self.verbose >= 2))
        chunked = any(wants_chunks(c) for c in self.callbacks) or (
            self.verbose >= 2 and callbacks[-1].in_epoch)

        this_fit = {}
        with threads(self.n_threads), single_threaded_blas():
            loop = _EpochLoop(model, self.optimizer, X, T, self.batch_size)
            for cb in callbacks:
                cb.on_train_begin(self)
            for _ in range(n_epochs):
                for cb in callbacks:
                    cb.on_epoch_begin(self, self.epoch)
                order = self._rng.permutation(X.shape[0]) if self.shuffle else loop.identity
                logs, stop = loop.run_epoch(order, self.epoch, chunked, callbacks, self)
                if val is not None:
                    val_metrics = model._evaluate_checked(*val, sst=val_sst)
                    logs.update({f"val_{k}": v for k, v in val_metrics.items()})
                logs["lr"] = self.optimizer.lr
                logs["time"] = loop.last_time
                logs["samples_per_sec"] = X.shape[0] / max(loop.last_time, 1e-12)
                for key, value in logs.items():
                    self.history.setdefault(key, []).append(value)
                    this_fit.setdefault(key, []).append(value)
                self.epoch += 1
                for cb in callbacks:
                    stop = bool(cb.on_epoch_end(self, self.epoch - 1, logs)) or stop
                if stop:
                    break
            for cb in callbacks:
                cb.on_train_end(self, this_fit)
        return this_fit

    def _check_validation(self, validation_data):
        if validation_data is None:
            return None
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val)") from None
        model = self.model
        X_val = check_array(X_val, model.dtype, model.n_inputs, "X_val")
        T_val = encode_targets(y_val, model.loss, model.n_outputs, model.dtype, "y_val")
        check_lengths(X_val, T_val, ("X_val", "y_val"))
        return X_val, T_val


class _EpochLoop:
    """Buffers for one fit and the call into the compiled loop, epoch by epoch."""

    def __init__(self, model, optimizer, X, T, batch_size):
        n = X.shape[0]
        self.model, self.optimizer, self.X, self.T = model, optimizer, X, T
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.n_batches = math.ceil(n / self.batch_size)
        rows = min(self.batch_size, TRAIN_CHUNK_ROWS)
        sizes = model.layer_sizes
        flops = 6 * rows * sum(a * b for a, b in zip(sizes, sizes[1:]))
        self.n_threads = kernel_threads(flops)
        self.ws = Workspace(model.layout, rows, model.dtype, training=True,
                            n_threads=self.n_threads)
        self.grad = np.zeros_like(model.params)
        self.stats = np.zeros((self.n_threads, 3 + model.n_outputs))
        self.sync = _ksync.new_state()
        self.run = np.zeros(_kt.RUN_FIELDS, dtype=np.int64)
        self.run[_kt.RUN_BATCH_SIZE] = self.batch_size
        self.run[_kt.RUN_LOSS] = loss_code(model.loss)
        self.run[_kt.RUN_OPTIMIZER] = optimizer.kind
        self.identity = np.arange(n, dtype=np.int64)
        self.sst = None if model.loss != "squared_error" else _total_sum_of_squares(T)
        self.last_time = 0.0
        self.snapshot = None
        self._compile()

    def _call(self, order, state, hyper):
        opt = self.optimizer
        return _kt.train_batches(self.model.params, self.grad, self.model.layout.table,
                                 self.model._act_param, self.X, self.T, order, self.run,
                                 self.ws.buffer, self.ws.table, state, hyper, opt.step_count,
                                 self.stats, self.n_threads, self.sync)

    def _compile(self):
        """Compile (or load from cache) the loop before any epoch is timed."""
        self.run[_kt.RUN_FIRST_BATCH] = self.run[_kt.RUN_END_BATCH] = 0
        opt = self.optimizer
        self._call(self.identity, opt.bind(self.model.params), opt.hyper())

    def _chunks(self, chunked, callbacks):
        if not chunked:
            return [(0, self.n_batches)]
        per_epoch = max(getattr(c, "chunks_per_epoch", 1) for c in callbacks)
        step = max(1, self.n_batches // max(1, per_epoch))
        return [(b, min(self.n_batches, b + step)) for b in range(0, self.n_batches, step)]

    def run_epoch(self, order, epoch, chunked, callbacks, trainer):
        """Train one epoch; returns (logs, stop_requested)."""
        model, opt = self.model, self.optimizer
        state = opt.bind(model.params)
        hyper = opt.hyper()
        # Only the parameters are kept (memory: one buffer, not 1 + optimizer slots).
        if self.snapshot is None:
            self.snapshot = np.empty_like(model.params)
        self.snapshot[...] = model.params
        self.stats[:] = 0
        stop = False
        start = time.perf_counter()
        try:
            for first, end in self._chunks(chunked, callbacks):
                self.run[_kt.RUN_FIRST_BATCH] = first
                self.run[_kt.RUN_END_BATCH] = end
                bad = self._call(order, state, hyper)
                if bad >= 0:
                    opt.reset()  # its moments hold the blow-up; start them afresh
                    raise DivergenceError(
                        f"the loss became NaN or infinite in epoch {epoch + 1} (batch {bad + 1} "
                        f"of {self.n_batches}); the weights were restored to the end of the "
                        "previous epoch. Likely causes: a learning rate too high for this "
                        "problem, or unscaled inputs (standardise the features).")
                if chunked:
                    for cb in callbacks:
                        stop = bool(cb.on_chunk_end(trainer, epoch, end, self.n_batches)) or stop
            if not np.isfinite(model.params).all():
                opt.reset()
                raise DivergenceError(
                    f"parameters became NaN or infinite in epoch {epoch + 1}; the weights "
                    "were restored to the end of the previous epoch. Likely causes: a "
                    "learning rate too high, or unscaled inputs.")
        except BaseException:
            model.params[...] = self.snapshot
            raise
        self.last_time = time.perf_counter() - start
        return metrics_from_stats(self.stats.sum(axis=0), model.loss, self.T, self.sst), stop
