"""Unowned views of flat buffers (fastmlp.kernels.views) against NumPy's slicing."""

from collections import namedtuple

import numba
import numpy as np
import pytest

from fastmlp.kernels.views import block_view, element_pointer, flat_view, unowned

Pair = namedtuple("Pair", ["values", "inner"])


@numba.njit
def _views(buf, offset, rows, width):
    block = block_view(buf, offset, rows, width)
    vector = flat_view(buf, offset, rows * width)
    return block.copy(), vector.copy(), block.strides, block.flags.c_contiguous


@numba.njit
def _write_through(buf, offset, rows, width, value):
    block_view(buf, offset, rows, width)[rows - 1, width - 1] = value
    flat_view(buf, offset, 1)[0] = -value


@numba.njit
def _pointed(buf, offset):
    return element_pointer(buf, offset)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_views_are_numpys_slices_of_the_flat_buffer(dtype):
    flat = np.arange(40, dtype=dtype)
    for buf in (flat, flat.reshape(8, 5)):  # a 2-D buffer is counted flat
        block, vector, strides, contiguous = _views(buf, 7, 3, 4)
        np.testing.assert_array_equal(block, flat[7:19].reshape(3, 4))
        np.testing.assert_array_equal(vector, flat[7:19])
        assert strides == (4 * flat.itemsize, flat.itemsize) and contiguous
        assert _pointed(buf, 13) == flat[13]


def test_views_write_into_the_buffer_and_may_be_empty():
    buf = np.zeros(30)
    _write_through(buf, 5, 2, 3, 9.0)
    assert buf[5 + 1 * 3 + 2] == 9.0 and buf[5] == -9.0 and np.count_nonzero(buf) == 2
    block, vector, _, _ = _views(buf, 0, 0, 6)
    assert block.shape == (0, 6) and vector.shape == (0,)


def test_views_refuse_arrays_that_are_not_c_contiguous():
    with pytest.raises(numba.TypingError):
        _views(np.zeros((6, 5))[:, ::2], 0, 1, 2)


@numba.njit
def _through_unowned(pair, matrix):
    free, free_matrix = unowned(pair), unowned(matrix)
    free.values[0] = 42.0  # writes reach the caller's arrays
    free.inner[1][2] = -1.0
    row = free_matrix[1]  # a view of an unowned array
    row[0] = 7.0
    return (free.values.sum(), free.inner[0], free.inner[1].shape[0], free_matrix.shape,
            free_matrix.strides, row.sum())


def test_unowned_keeps_every_array_and_scalar_of_a_nested_tuple():
    values, counts = np.arange(4.0), np.zeros(3)
    matrix = np.arange(12.0).reshape(3, 4)[:, :3]  # not contiguous: any layout
    total, scalar, size, shape, strides, row = _through_unowned(Pair(values, (5, counts)),
                                                                matrix)
    assert values[0] == 42.0 and counts[2] == -1.0 and matrix[1, 0] == 7.0
    assert total == 42.0 + 1 + 2 + 3 and scalar == 5 and size == 3
    assert shape == matrix.shape and strides == matrix.strides and row == 7.0 + 5 + 6
