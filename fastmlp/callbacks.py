"""Callbacks: code that runs between epochs (or chunks of batches) of a fit.

A callback subclasses :class:`Callback` and overrides the hooks it needs.
``on_epoch_end`` and ``on_chunk_end`` may return True to stop training.
A plain function ``f(epoch, logs)`` passed in ``callbacks`` is called as
``on_epoch_end``.  Overriding ``on_chunk_end`` makes the trainer hand back
control about ``chunks_per_epoch`` times per epoch instead of once.
"""

import sys

from .optim import LBFGS

__all__ = ["Callback", "ProgressLogger"]


class Callback:
    """Base class; every hook does nothing by default."""

    #: How many times per epoch ``on_chunk_end`` wants control.
    chunks_per_epoch = 20

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

    With ``in_epoch=True`` (``verbose=2``) it also redraws a progress bar
    inside long epochs when the stream is a terminal.
    """

    def __init__(self, stream=None, in_epoch=False):
        self.stream = stream if stream is not None else sys.stdout
        self.in_epoch = in_epoch and getattr(self.stream, "isatty", lambda: False)()
        self._total_epochs = None

    def on_train_begin(self, trainer):
        self._first = trainer.epoch
        self._total_epochs = trainer._epochs_this_fit

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        if self.in_epoch:
            width = 30
            filled = int(width * batches_done / n_batches)
            self.stream.write(f"\rEpoch {epoch - self._first + 1}/{self._total_epochs} "
                              f"[{'=' * filled}{'.' * (width - filled)}] "
                              f"{batches_done}/{n_batches}")
            self.stream.flush()

    def on_epoch_end(self, trainer, epoch, logs):
        unit = "Iteration" if isinstance(trainer.optimizer, LBFGS) else "Epoch"
        parts = [f"{unit} {epoch - self._first + 1}/{self._total_epochs}"]
        for key, value in logs.items():
            if key in ("time", "samples_per_sec", "lr") or isinstance(value, bool):
                continue
            parts.append(f"{key} {value:.4f}")
        if "lr" in logs:
            parts.append(f"lr {logs['lr']:.3g}")
        if logs.get("rejected"):
            parts.append("(rejected)")
        parts.append(f"{logs['samples_per_sec']:,.0f} samples/s")
        parts.append(f"{logs['time']:.2f} s")
        prefix = "\r" if self.in_epoch else ""
        self.stream.write(prefix + "  ".join(parts) + "\n")
        self.stream.flush()
