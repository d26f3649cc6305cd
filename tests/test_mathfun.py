"""The vectorisable exp/expm1 against float128/float64 references, in ulps."""

import numpy as np
import pytest

from fastmlp.kernels.config import jit
from fastmlp.kernels.mathfun import exp, expm1


@jit(from_python=True)
def _apply_exp(a, out):
    for i in range(a.size):
        out[i] = exp(a[i])


@jit(from_python=True)
def _apply_expm1(a, out):
    for i in range(a.size):
        out[i] = expm1(a[i])


def _inputs(dtype):
    lim = 88.0 if dtype == np.float32 else 708.0
    parts = [np.linspace(-lim, lim, 400_001), np.linspace(-2, 2, 100_001),
             np.geomspace(1e-30, 1, 2000), -np.geomspace(1e-30, 1, 2000)]
    return np.concatenate(parts).astype(dtype)


def _max_ulp(got, ref, dtype):
    tiny = np.finfo(dtype).tiny
    ok = np.isfinite(ref.astype(dtype)) & (np.abs(ref) > 4 * tiny)
    spacing = np.spacing(np.abs(ref[ok]).astype(dtype)).astype(np.longdouble)
    return float(np.max(np.abs(got[ok].astype(np.longdouble) - ref[ok]) / spacing))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kernel, reference, bound",
                         [("exp", _apply_exp, np.exp, 1.0),
                          ("expm1", _apply_expm1, np.expm1, 2.0)])
def test_accuracy_in_ulps(dtype, name, kernel, reference, bound):
    x = _inputs(dtype)
    out = np.empty_like(x)
    kernel(x, out)
    with np.errstate(over="ignore"):
        ref = reference(x.astype(np.longdouble))
    assert _max_ulp(out, ref, dtype) <= bound
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, -0.0], dtype=dtype)
    out = np.empty_like(x)
    _apply_exp(x, out)
    assert np.isnan(out[0])
    assert out[1] == np.inf and out[3] == np.inf
    assert out[2] == 0 and out[4] == 0
    assert out[5] == 1 and out[6] == 1
    _apply_expm1(x, out)
    assert np.isnan(out[0])
    assert out[1] == np.inf and out[3] == np.inf
    assert out[2] == -1 and out[4] == -1
    assert out[5] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_largest_finite_results(dtype):
    # Just below overflow 2^n alone overflows; the split product must not.
    hi = 88.7 if dtype == np.float32 else 709.7
    x = np.array([hi], dtype=dtype)
    out = np.empty_like(x)
    _apply_exp(x, out)
    assert np.isfinite(out[0])
    np.testing.assert_allclose(out[0], np.exp(np.float64(x[0])), rtol=4 * np.finfo(dtype).eps)
    _apply_expm1(x, out)
    assert np.isfinite(out[0])
