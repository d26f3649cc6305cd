"""Exceptions and warnings raised by fastmlp."""

__all__ = ["DivergenceError", "ConvergenceWarning", "RankMismatchError", "ConcurrentFitError"]


class DivergenceError(FloatingPointError):
    """Training produced a NaN or infinite loss or parameters.

    Raised after the weights (and optimizer state) were put back to their
    values at the end of the last good epoch, so the model stays usable.
    """


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration or evaluation limit."""


class RankMismatchError(ValueError):
    """The ranks of a data-parallel fit disagree, or one of them failed: raised on every
    rank alike (see :mod:`fastmlp.distributed`)."""


class ConcurrentFitError(RuntimeError):
    """A model was asked to train (or take an optimizer step) while another thread trains it.

    Raised in the second caller, before anything changes; the first fit goes
    on unaffected.  One fit of a model at a time: wait for the other to end,
    or train a copy (:meth:`fastmlp.Model.copy`).
    """
