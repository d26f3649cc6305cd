"""fastmlp.kernels.finite.all_finite against NumPy's isfinite, and the checks that use it."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.kernels.finite import all_finite


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (37,), (1, 1), (64, 64), (3, 1000), (1000, 3)])
def test_all_finite_agrees_with_numpy_wherever_the_bad_value_is(dtype, shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    assert all_finite(a) == bool(np.isfinite(a).all()) is True
    for bad in (np.nan, np.inf, -np.inf):
        for flat_index in {0, a.size // 2, a.size - 1}:
            b = a.copy()
            b.flat[flat_index] = bad
            assert all_finite(b) is False, (bad, flat_index)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_takes_the_largest_and_smallest_finite_values(dtype):
    # 0 * x stays 0 for every finite x: an overflow of the values' sum would be a false alarm
    info = np.finfo(dtype)
    a = np.array([[info.max, info.max], [-info.max, info.tiny]], dtype=dtype)
    assert all_finite(a)
    assert all_finite(np.zeros((0, 4), dtype=dtype))


def test_predict_names_the_first_non_finite_input():
    model = fm.Model([4, 3, 2], seed=0)
    X = np.ones((5, 4), dtype=np.float32)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"row 3, column 2"):
        model.predict(X)


def test_predict_reports_an_output_that_overflows():
    model = fm.Model([2, 3, 1], output="linear", loss="squared_error", seed=0)
    model.params[:] = np.float32(3e38)  # every product overflows float32
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        model.predict(np.ones((2, 2), dtype=np.float32))
