"""Activation epilogue kernels against tests/naive.py, and the registry."""

import numpy as np
import pytest
from naive import activation, activation_derivative

import fastmlp as fm
from fastmlp.activations import get_activation
from fastmlp.kernels.activations import backward_block, forward_block

ELEMENTWISE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus",
               "gelu", "gelu_tanh", "swish"]
TOL = {np.float32: dict(rtol=2e-6, atol=2e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}


def _run_forward(act, Z, b, save):
    out = Z.copy()
    Zs = np.empty_like(Z) if save else np.empty((0, Z.shape[1]), Z.dtype)
    forward_block(act.code, out, b, Z.dtype.type(act.param), Zs, 0)
    return out, Zs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (33, 17)])
def test_forward_matches_naive(name, dtype, shape, rng):
    act = get_activation(name, allow_softmax=True)
    Z = (rng.standard_normal(shape) * 4).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    out, Zs = _run_forward(act, Z, b, save=True)
    pre = Z.astype(np.float64) + b.astype(np.float64)
    np.testing.assert_allclose(out, activation(name, pre, act.param), **TOL[dtype])
    np.testing.assert_allclose(Zs, pre, **TOL[dtype])
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shape", [(1, 1), (4, 9), (31, 16)])
def test_backward_matches_naive(name, dtype, shape, rng):
    act = get_activation(name)
    Z = (rng.standard_normal(shape) * 3).astype(dtype)
    zero_b = np.zeros(shape[1], dtype)
    A, Zs = _run_forward(act, Z, zero_b, save=True)
    up = rng.standard_normal(shape).astype(dtype)
    D = up.copy()
    backward_block(act.code, D, A, Zs, dtype(act.param), 0, shape[1])
    expected = up.astype(np.float64) * activation_derivative(name, Z.astype(np.float64), act.param)
    np.testing.assert_allclose(D, expected, rtol=TOL[dtype]["rtol"] * 10,
                               atol=TOL[dtype]["atol"] * 10)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("c0, c1", [(0, 4), (3, 9), (5, 13), (12, 13)])
def test_a_column_range_acts_as_its_own_block_and_leaves_the_rest(name, c0, c1, rng):
    # a thread of a column-split layer passes whole rows and its columns c0..c1
    act, dtype = get_activation(name), np.float32
    alpha = dtype(act.param)
    Z = (rng.standard_normal((6, 13)) * 3).astype(dtype)
    b = rng.standard_normal(c1 - c0).astype(dtype)
    out, Zs = Z.copy(), np.zeros_like(Z)
    forward_block(act.code, out, b, alpha, Zs, c0)
    part, part_zs = Z[:, c0:c1].copy(), np.zeros((6, c1 - c0), dtype)
    forward_block(act.code, part, b, alpha, part_zs, 0)
    outside = np.ones(13, bool)
    outside[c0:c1] = False
    np.testing.assert_array_equal(out[:, c0:c1], part)
    np.testing.assert_array_equal(Zs[:, c0:c1], part_zs)
    np.testing.assert_array_equal(out[:, outside], Z[:, outside])
    assert not Zs[:, outside].any()
    up = rng.standard_normal(Z.shape).astype(dtype)
    D = up.copy()
    backward_block(act.code, D, out, Zs, alpha, c0, c1)
    part_d = up[:, c0:c1].copy()
    backward_block(act.code, part_d, part, part_zs, alpha, 0, c1 - c0)
    np.testing.assert_array_equal(D[:, c0:c1], part_d)
    np.testing.assert_array_equal(D[:, outside], up[:, outside])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences_of_naive(name):
    # Guards the hand-derived derivatives in naive.py itself.
    z = np.linspace(-4, 4, 81) + 0.0123  # avoid the kink at 0
    h = 1e-6
    fd = (activation(name, z + h, 0.05) - activation(name, z - h, 0.05)) / (2 * h)
    np.testing.assert_allclose(activation_derivative(name, z, 0.05), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_extreme_inputs_stay_finite(name, dtype):
    act = get_activation(name, allow_softmax=True)
    Z = np.array([[-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4]], dtype=dtype)
    out, _ = _run_forward(act, Z, np.zeros(Z.shape[1], dtype), save=False)
    assert np.all(np.isfinite(out)), out
    if name == "softmax":
        np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-6)


def test_registry_names_and_errors():
    assert get_activation("logistic").name == "sigmoid"
    assert get_activation("silu").name == "swish"
    assert get_activation("ReLU").name == "relu"
    assert fm.activations.leaky_relu(0.2).param == 0.2
    assert get_activation("leaky_relu").param == 0.01
    assert get_activation("elu").param == 1.0
    with pytest.raises(ValueError, match="valid names: .*relu.*tanh"):
        get_activation("rectifier")
    with pytest.raises(ValueError, match="output"):
        get_activation("softmax")
    with pytest.raises(ValueError, match="negative_slope"):
        fm.activations.leaky_relu(-0.1)
    with pytest.raises(ValueError, match="alpha"):
        fm.activations.elu(0)
    with pytest.raises(TypeError):
        get_activation(3)
