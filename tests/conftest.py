import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import naive  # noqa: E402


def naive_args(model):
    """weights, biases, activation names and parameters of a Model, for tests/naive.py."""
    acts = model.activations
    return model.weights, model.biases, [a.name for a in acts], [a.param for a in acts]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def targets_for(loss, n, k, rng, one_hot=False):
    """Random targets in the form each loss accepts."""
    if loss == "cross_entropy":
        labels = rng.integers(0, k, n)
        if one_hot:
            return np.eye(k)[labels]
        return labels
    if loss == "binary_cross_entropy":
        return (rng.random((n, k)) < 0.5).astype(np.float64)
    return rng.standard_normal((n, k))


__all__ = ["naive", "naive_args", "targets_for"]
