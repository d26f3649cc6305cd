"""The Trainer's settings checked, each with a message that names it and what it takes.

What :class:`fastmlp.Trainer`'s constructor refuses before it builds
anything, and the seeds it derives; no state of its own.
"""

import numpy as np

from .._utils.validation import check_positive_int
from ..data.shuffling import SHUFFLES
from ..engine.threads import max_threads

__all__ = ["SPARSE_UPDATES", "check_batch_size", "check_shuffle", "check_validation_fraction",
           "check_diagnostics", "check_verbose", "check_n_threads", "check_takes_schedule",
           "check_sparse_update", "mask_seed"]

#: The values of ``Trainer(sparse_update=...)``.
SPARSE_UPDATES = ("exact", "lazy")


def check_batch_size(batch_size, optimizer, default):
    """The batch size for ``optimizer``: ``default`` stands for "not given" (32, or None --
    the full batch -- for a method that minimizes on its own)."""
    minimizes = optimizer.minimizes
    if batch_size is default:
        batch_size = None if minimizes else 32
    elif minimizes and batch_size is not None:
        raise ValueError(f"{type(optimizer).__name__} is a full-batch method: use "
                         "batch_size=None (every iteration evaluates the whole training set)")
    return check_positive_int(batch_size, "batch_size", allow_none=True)


def check_shuffle(shuffle):
    """True, False or "blocks"."""
    if isinstance(shuffle, (bool, np.bool_)):
        return bool(shuffle)
    if not isinstance(shuffle, str) or shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be True, False or 'blocks', got {shuffle!r}")
    return shuffle


def check_validation_fraction(fraction):
    """None, or a float in (0, 1)."""
    if fraction is not None and not (isinstance(fraction, float) and 0 < fraction < 1):
        raise ValueError(f"validation_fraction must be a float in (0, 1) or None, got "
                         f"{fraction!r}")
    return fraction


def check_diagnostics(diagnostics):
    """True, False or a sample size."""
    if not isinstance(diagnostics, (bool, np.bool_)):
        check_positive_int(diagnostics, "diagnostics (True, False or a sample size)")
    return diagnostics


def check_verbose(verbose):
    """0, 1 or 2, as an int."""
    if verbose not in (0, 1, 2, False, True):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def check_n_threads(n_threads):
    """None (leave as is), or a thread count this machine offers."""
    if n_threads is not None:
        check_positive_int(n_threads, "n_threads")
        if n_threads > max_threads():
            raise ValueError(f"n_threads={n_threads} exceeds the {max_threads()} threads "
                             "this machine offers (fastmlp.max_threads())")
    return n_threads


def check_takes_schedule(optimizer, schedule):
    """Refuse a schedule for a method that picks its own steps (L-BFGS)."""
    if not optimizer.takes_schedule and schedule is not None:
        raise ValueError(f"{type(optimizer).__name__} picks its own steps; it takes no "
                         "learning-rate schedule")


def check_sparse_update(value):
    """One of :data:`SPARSE_UPDATES`."""
    if value not in SPARSE_UPDATES:
        raise ValueError(f"sparse_update must be one of {', '.join(SPARSE_UPDATES)}, got "
                         f"{value!r}")
    return value


def mask_seed(seed):
    """The key of the dropout/DropConnect masks, derived from the trainer's seed.

    Masks are a function of (this key, step number) rather than draws from
    the shuffling generator, so they do not depend on the thread count or on
    how an epoch is cut into chunks; a separate stream of the seed keeps the
    shuffling order the same with and without dropout.
    """
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(1 << 62))
    entropy = [seed, 0x6D61736B] if seed is not None else None  # "mask"
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(2))
