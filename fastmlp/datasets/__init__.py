"""Datasets shipped with fastmlp."""

import os

import numpy as np

__all__ = ["load_digits"]

_DATA = os.path.join(os.path.dirname(__file__), "data")


def load_digits():
    """The UCI optical digits: 1,797 8x8 images of handwritten digits 0-9.

    Returns
    -------
    X : ndarray of shape (1797, 64), float64
        Pixel counts 0..16, row-major 8x8.
    y : ndarray of shape (1797,), int64
        Digit labels 0..9 (about 180 per class).

    Notes
    -----
    E. Alpaydin and C. Kaynak (1998), Optical Recognition of Handwritten
    Digits, UCI Machine Learning Repository, https://doi.org/10.24432/C50P49,
    licensed CC BY 4.0 (see ``data/DIGITS_LICENSE.txt`` in this package).
    """
    with np.load(os.path.join(_DATA, "digits.npz"), allow_pickle=False) as data:
        return data["X"].astype(np.float64), data["y"].astype(np.int64)
