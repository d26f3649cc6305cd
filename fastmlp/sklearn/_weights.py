"""scikit-learn's initial weights, drawn without a network-sized temporary.

The estimators start from the weights scikit-learn's MLP draws for the same
``random_state`` (Glorot-uniform from a ``RandomState``, layer by layer).  A
first layer of 200,000 inputs x 128 units is 25.6M weights: drawn in one
call they pass through a 205 MB float64 array (and the model's own
initialisation before it would draw them once more), about 0.5 s of a fit
that takes 2-4 s on sparse text data.
"""

import numpy as np

from ..initializers import Initializer

# RandomState.uniform draws doubles one after another: drawn in blocks of rows
# they are the values (and leave the generator in the state) of one call.
_BLOCK_VALUES = 1 << 16


class DrawnByEstimator(Initializer):
    """No values of its own: the estimator overwrites every weight right after (so the
    model's constructor only writes zeros, from a broadcast view that costs no memory)."""

    def sample(self, rng, fan_in, fan_out):
        return np.broadcast_to(np.float64(0.0), (fan_in, fan_out))

    def __repr__(self):
        return "DrawnByEstimator()"


def fill_uniform(rs, bound, W):
    """Fill W in place with ``rs.uniform(-bound, bound, W.shape)``, a block of rows at a time.

    Parameters
    ----------
    rs : numpy.random.RandomState
    bound : float
    W : ndarray of shape (fan_in, fan_out)
        C-contiguous; float32 values are the float64 draws rounded, as an
        assignment of the one-call draw would round them.
    """
    rows = max(1, _BLOCK_VALUES // max(1, W.shape[1]))
    for r0 in range(0, W.shape[0], rows):
        block = W[r0:r0 + rows]
        block[...] = rs.uniform(-bound, bound, block.shape)
