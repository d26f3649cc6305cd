"""Checks of :class:`~fastmlp.Model`'s constructor arguments: layer sizes and the
per-layer settings given as one value or one per layer."""

import numbers

import numpy as np

from ._validation import check_unit_interval

__all__ = ["check_sizes", "dropout_rates", "per_layer"]


def per_layer(value, n, what, check, hidden_only=True):
    """One checked value per layer from a scalar or a sequence of ``n``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != n:
            layers = "hidden layers" if hidden_only else "weight layers"
            raise ValueError(f"{what} lists {len(value)} values but the model has {n} {layers}")
        return [check(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return [check(value, what)] * n


def dropout_rates(dropout, n_layers):
    """Rate on each weight layer's input: a float means the hidden outputs only."""
    if isinstance(dropout, (list, tuple, np.ndarray)):
        if len(dropout) != n_layers:
            raise ValueError(f"dropout lists {len(dropout)} rates; give one per weight layer's "
                             f"input ([input, hidden_1, ...]): {n_layers}")
        return [check_unit_interval(v, f"dropout[{i}]") for i, v in enumerate(dropout)]
    return [0.0] + [check_unit_interval(dropout, "dropout")] * (n_layers - 1)


def check_sizes(layer_sizes):
    """``layer_sizes`` as a list of positive ints, or a clear error."""
    try:
        sizes = list(layer_sizes)
    except TypeError:
        raise TypeError("layer_sizes must be a sequence of positive integers such as "
                        f"[64, 128, 10], got {layer_sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"layer_sizes must be positive integers, got {sizes}")
    return [int(s) for s in sizes]
