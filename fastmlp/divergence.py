"""Stopping quietly when training diverges.

By default a NaN or infinite loss (or parameters) makes
:meth:`fastmlp.Trainer.fit` raise :class:`fastmlp.DivergenceError`, naming
the epoch and likely causes, after putting back the weights of the last good
epoch.  With a :class:`TerminateOnNaN` among the callbacks, ``fit`` instead
returns normally with that same state: the weights and history of the last
completed epoch.  The error is kept on the callback for inspection.

The trainer consults callbacks through the ``on_divergence(trainer, error)``
hook: a callback that returns True takes responsibility for the error.
"""

from .callbacks import Callback

__all__ = ["TerminateOnNaN"]


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
