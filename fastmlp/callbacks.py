"""Callbacks: code that runs between epochs (or chunks of batches) of a fit.

A callback subclasses :class:`Callback` and overrides the hooks it needs.
``on_epoch_end`` and ``on_chunk_end`` may return True to stop training.
A plain function ``f(epoch, logs)`` passed in ``callbacks`` is called as
``on_epoch_end``.  ``on_chunk_end`` runs each time the compiled loop hands
control back inside an epoch (about twice a second); a callback that
overrides it also gets control at least ``chunks_per_epoch`` times per
epoch.

Divergence: by default a NaN or infinite loss (or parameters) makes
:meth:`fastmlp.Trainer.fit` raise :class:`fastmlp.DivergenceError`, naming
the epoch and likely causes, after putting back the weights of the last good
epoch.  The trainer consults callbacks through the ``on_divergence(trainer,
error)`` hook: a callback that returns True takes responsibility for the
error.  With a :class:`TerminateOnNaN` among the callbacks, ``fit`` instead
returns normally with that same state: the weights and history of the last
completed epoch; the error is kept on the callback for inspection.
"""

import math
import sys
import time

import numpy as np

from ._utils.tuning import PROGRESS_AFTER

__all__ = ["Callback", "ProgressLogger", "EarlyStopping", "TerminateOnNaN"]


class Callback:
    """Base class; every hook does nothing by default."""

    #: How many times per epoch ``on_chunk_end`` wants control.
    chunks_per_epoch = 20
    #: Or every this many batches of an epoch (None: no such wish).
    chunk_batches = None

    def on_train_begin(self, trainer):
        """Called once at the start of :meth:`Trainer.fit`."""

    def on_epoch_begin(self, trainer, epoch):
        """Called before each epoch (``epoch`` counts from 0 over the trainer's life)."""

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        """Called after each chunk of batches; return True to stop after this epoch."""

    def on_epoch_end(self, trainer, epoch, logs):
        """Called after each epoch with its metrics; return True to stop."""

    def on_train_end(self, trainer, history):
        """Called once when :meth:`Trainer.fit` ends (also after an early stop)."""

    def on_divergence(self, trainer, error):
        """Called when the loss or weights became NaN/inf (``error``: DivergenceError).

        The weights are already those of the last good epoch.  Return True
        to end the fit quietly instead of raising (see
        :class:`fastmlp.TerminateOnNaN`).
        """
        return False


def wants_chunks(callback):
    """Whether a callback overrides :meth:`Callback.on_chunk_end`."""
    return type(callback).on_chunk_end is not Callback.on_chunk_end


class _FunctionCallback(Callback):
    def __init__(self, func):
        self.func = func

    def on_epoch_end(self, trainer, epoch, logs):
        return self.func(epoch, logs)


def as_callback(obj):
    """A Callback from a Callback or a function ``f(epoch, logs)``."""
    if isinstance(obj, Callback):
        return obj
    if callable(obj):
        return _FunctionCallback(obj)
    raise TypeError(f"callbacks must be Callback instances or functions f(epoch, logs), "
                    f"got {type(obj).__name__}")


class ProgressLogger(Callback):
    """Prints one line per epoch: loss, metrics, learning rate, samples/s.

    On a terminal, an epoch that runs longer than a second also shows its
    progress in place -- batches done, samples/s, elapsed time and the
    estimated time left -- with ``tqdm`` when it is installed, a plain line
    otherwise (``always_in_epoch``: from the first batch).  When the stream
    is not a terminal nothing is redrawn.

    Parameters
    ----------
    stream : file, default sys.stdout
    in_epoch : bool, default True
        Show progress inside long epochs (on a terminal).
    always_in_epoch : bool, default False
        Inside every epoch, however short.
    """

    #: Calls are cut by time already (about twice a second): no extra cuts.
    chunks_per_epoch = 1

    def __init__(self, stream=None, in_epoch=True, always_in_epoch=False):
        self.stream = stream if stream is not None else sys.stdout
        self.in_epoch = in_epoch and getattr(self.stream, "isatty", lambda: False)()
        self.after = 0.0 if always_in_epoch else PROGRESS_AFTER
        self._total_epochs = None
        self._bar = None

    def on_train_begin(self, trainer):
        self._first = trainer.epoch
        self._total_epochs = trainer.fit_epochs

    def on_epoch_begin(self, trainer, epoch):
        self._epoch_start = time.perf_counter()

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        elapsed = time.perf_counter() - self._epoch_start
        if not self.in_epoch or elapsed < self.after:
            return
        if self._bar is None:
            self._bar = _InEpochProgress(self.stream, f"Epoch {epoch - self._first + 1}/"
                                                      f"{self._total_epochs}", n_batches)
        rate = batches_done / n_batches * trainer.samples_per_epoch / max(elapsed, 1e-12)
        self._bar.update(batches_done, rate, elapsed)

    def on_epoch_end(self, trainer, epoch, logs):
        self._close_bar()
        unit = "Iteration" if trainer.optimizer.minimizes else "Epoch"
        parts = [f"{unit} {epoch - self._first + 1}/{self._total_epochs}"]
        for key, value in logs.items():
            if key in ("time", "samples_per_sec", "lr") or isinstance(value, (bool, list)):
                continue  # per-layer diagnostics are lists: for the history, not the line
            parts.append(f"{key} {value:.4f}")
        if "lr" in logs:
            parts.append(f"lr {logs['lr']:.3g}")
        if logs.get("rejected"):
            parts.append("(rejected)")
        parts.append(f"{logs['samples_per_sec']:,.0f} samples/s")
        parts.append(f"{logs['time']:.2f} s")
        self.stream.write("  ".join(parts) + "\n")
        self.stream.flush()

    def on_train_end(self, trainer, history):
        self._close_bar()

    def _close_bar(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _InEpochProgress:
    """A progress line redrawn in place: tqdm's bar when installed, a plain line otherwise."""

    def __init__(self, stream, label, n_batches):
        self.stream, self.label, self.n_batches = stream, label, n_batches
        try:
            from tqdm import tqdm  # optional: its bar when the user has it
        except ImportError:
            self._tqdm = None
        else:
            self._tqdm = tqdm(total=n_batches, desc=label, unit="batch", file=stream,
                              leave=False, dynamic_ncols=True)

    def update(self, batches_done, samples_per_sec, elapsed):
        left = elapsed * (self.n_batches - batches_done) / max(batches_done, 1)
        if self._tqdm is not None:
            self._tqdm.update(batches_done - self._tqdm.n)
            self._tqdm.set_postfix_str(f"{samples_per_sec:,.0f} samples/s", refresh=True)
            return
        width = 30
        filled = int(width * batches_done / self.n_batches)
        self.stream.write(f"\r{self.label} [{'=' * filled}{'.' * (width - filled)}] "
                          f"{batches_done}/{self.n_batches} batches  "
                          f"{samples_per_sec:,.0f} samples/s  {elapsed:.0f} s elapsed, "
                          f"{left:.0f} s left\x1b[K")
        self.stream.flush()

    def close(self):
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self.stream.write("\r\x1b[K")  # the epoch's line takes its place
            self.stream.flush()


class EarlyStopping(Callback):
    """Stop when a monitored metric stops improving; keep the best weights.

    The lecture notes' early stopping: watch the validation error while
    training and keep the parameters where it was lowest.  Keras'
    ``EarlyStopping`` semantics: after every epoch the monitored value
    counts as an improvement when it beats the best so far by more than
    ``min_delta``; ``patience`` epochs in a row without one stop the fit.
    With ``restore_best_weights`` the model ends the fit with the
    parameters (and batch-normalisation running statistics) of its best
    epoch, bit for bit -- whether the fit stopped early or ran all its
    epochs (Keras restores only on an early stop).

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch's logs: "val_loss", "val_accuracy", "val_r2",
        or a training one such as "loss" (validation keys need
        ``validation_data`` or ``Trainer(validation_fraction=...)``).
    patience : int, default 10
        Epochs in a row without improvement that stop the fit (0 acts as 1).
    min_delta : float, default 0
        Smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better; "auto" picks "max" for accuracy
        and R^2 and "min" otherwise.
    restore_best_weights : bool, default True
    baseline : float, optional
        A value the monitored metric must beat to count as an improvement
        at all.
    start_from_epoch : int, default 0
        Epochs of warm-up (counted in this fit) before monitoring begins.

    Attributes
    ----------
    best : float
        Best monitored value seen.
    best_epoch : int or None
        Trainer epoch (from 0) at which it was seen.
    stopped_epoch : int or None
        Trainer epoch after which the fit was stopped (None: it was not).
    """

    def __init__(self, monitor="val_loss", patience=10, min_delta=0.0, mode="auto",
                 restore_best_weights=True, baseline=None, start_from_epoch=0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a log key such as 'val_loss', got {monitor!r}")
        for name, value in (("patience", patience), ("start_from_epoch", start_from_epoch)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta)):
            raise ValueError(f"min_delta must be a finite number, got {min_delta!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if mode == "auto":
            mode = "max" if monitor.endswith(("accuracy", "r2")) else "min"
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = bool(restore_best_weights)
        self.baseline = None if baseline is None else float(baseline)
        self.start_from_epoch = start_from_epoch
        self.best, self.best_epoch, self.stopped_epoch = None, None, None

    def _sign(self):
        return 1.0 if self.mode == "min" else -1.0

    def on_train_begin(self, trainer):
        if self.monitor.startswith("val_") and not getattr(trainer, "validating", True):
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which needs validation "
                             "data: pass validation_data to fit or set "
                             "Trainer(validation_fraction=...)")
        sign = self._sign()
        self.best = sign * math.inf if self.baseline is None else self.baseline
        self.best_epoch, self.stopped_epoch = None, None
        self._wait = 0
        self._first = trainer.epoch
        self._best = None  # the model's state at the best epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which is not among "
                             f"this epoch's logs: {sorted(logs)}")
        if epoch - self._first < self.start_from_epoch:
            return False
        current = float(logs[self.monitor])
        sign = self._sign()
        if np.isfinite(current) and sign * (self.best - current) > self.min_delta:
            self.best, self.best_epoch, self._wait = current, epoch, 0
            if self.restore_best_weights:
                self._best = trainer.model.snapshot(into=self._best)
            return False
        self._wait += 1
        if self._wait >= max(self.patience, 1):
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, trainer, history):
        if self.restore_best_weights and self._best is not None:
            trainer.model.restore(self._best)


class TerminateOnNaN(Callback):
    """Stop training quietly, instead of raising, when the loss becomes NaN or inf.

    Attributes
    ----------
    error : DivergenceError or None
        What stopped the last fit (None if it ran to the end).
    stopped_epoch : int or None
        The trainer's epoch count when it stopped: the epochs completed, whose
        weights the model keeps.

    Examples
    --------
    >>> guard = fm.TerminateOnNaN()                                    # doctest: +SKIP
    >>> fm.Trainer(model, callbacks=[guard]).fit(X, y)                # doctest: +SKIP
    >>> guard.error is None  # False if training stopped early       # doctest: +SKIP
    """

    def __init__(self):
        self.error = None
        self.stopped_epoch = None

    def on_train_begin(self, trainer):
        self.error = None
        self.stopped_epoch = None

    def on_divergence(self, trainer, error):
        """Record ``error`` and tell the trainer to stop without raising it."""
        self.error = error
        self.stopped_epoch = trainer.epoch
        if trainer.verbose:
            print(f"TerminateOnNaN: training stopped: {error}")
        return True

    def __repr__(self):
        return "TerminateOnNaN()"
