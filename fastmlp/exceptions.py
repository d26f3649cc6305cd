"""Exceptions and warnings raised by fastmlp."""

__all__ = ["DivergenceError", "ConvergenceWarning", "RankMismatchError"]


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
