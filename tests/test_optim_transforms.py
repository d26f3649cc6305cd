"""Gradient transforms and chain (fastmlp/optim/transforms.py, fastmlp/optim/chaining.py).

The order rules of ``chain`` are checked on allowed and refused orders.  The
effect of every transform on one step of plain SGD (no momentum: the step
is ``p - lr * g'``) is compared, in float64, with the documented formula
written in NumPy: global-norm clipping ``g * min(1, max_norm / (||g|| + 1e-6))``,
value clipping, coupled L2 ``g + c p``, L1 ``g + c sign(p)`` and decoupled
decay ``p (1 - lr c)`` before the step.  ``state_dict``/``load_state_dict``
round-trip each transform.
"""

import numpy as np
import pytest

from fastmlp import optim
from fastmlp.kernels.optim import OPTIMIZER_PARALLEL_MIN_SIZE
from fastmlp.optim import (
    L1,
    L2,
    SGD,
    ClipByGlobalNorm,
    ClipByValue,
    DecoupledWeightDecay,
    chain,
)
from fastmlp.optim.transforms import from_description

LR = 0.1


def _problem(rng, n=13):
    p = rng.standard_normal(n)
    p[3] = 0.0  # sign(0) = 0 for L1
    g = 3.0 * rng.standard_normal(n)
    return p, g


def _step(opt, p, g):
    params = p.copy()
    grad = g.copy()
    opt.step(params, grad)
    np.testing.assert_array_equal(grad, g)  # the gradient is not modified
    return params


# ----------------------------------------------------------------- chain order

@pytest.mark.parametrize("pieces", [
    lambda: [SGD(LR)],
    lambda: [ClipByGlobalNorm(1.0), SGD(LR)],
    lambda: [ClipByGlobalNorm(1.0), ClipByValue(0.5), L2(0.1), L1(0.1), SGD(LR),
             DecoupledWeightDecay(0.01)],
    lambda: [L1(0.1), L2(0.1), SGD(LR)],              # L2 and L1 share a rank
    lambda: [L2(0.1), L2(0.2), SGD(LR)],              # penalties may repeat
    lambda: [SGD(LR), DecoupledWeightDecay(0.1), DecoupledWeightDecay(0.2)],
    lambda: [ClipByValue(1.0), optim.Adam(1e-3)],
])
def test_allowed_orders_pass(pieces):
    pieces = pieces()
    opt = chain(*pieces)
    base = [p for p in pieces if isinstance(p, optim.Optimizer)][0]
    assert type(opt) is type(base) and opt is not base
    assert list(opt.transforms) == [p for p in pieces if p is not base]
    assert base.transforms == ()  # the given optimizer is left alone


@pytest.mark.parametrize("pieces", [
    lambda: [SGD(LR), L2(0.1)],
    lambda: [ClipByValue(1.0), ClipByGlobalNorm(1.0), SGD(LR)],
    lambda: [L2(0.1), ClipByValue(1.0), SGD(LR)],
    lambda: [DecoupledWeightDecay(0.1), SGD(LR)],
    lambda: [L1(0.1), SGD(LR), ClipByValue(1.0)],
])
def test_wrong_orders_are_refused(pieces):
    with pytest.raises(ValueError, match="chain order not supported.*ClipByGlobalNorm, "
                                         "ClipByValue, L2/L1, the optimizer, "
                                         "DecoupledWeightDecay"):
        chain(*pieces())


@pytest.mark.parametrize("make", [lambda: ClipByGlobalNorm(1.0), lambda: ClipByValue(1.0)])
def test_a_clip_twice_is_refused(make):
    with pytest.raises(ValueError, match=f"{type(make()).__name__} appears twice"):
        chain(make(), make(), SGD(LR))


@pytest.mark.parametrize("pieces, count", [([L2(0.1)], 0), ([], 0),
                                           ([SGD(LR), optim.Adam(1e-3)], 2)])
def test_exactly_one_optimizer(pieces, count):
    with pytest.raises(ValueError, match=f"exactly one optimizer, got {count}"):
        chain(*pieces)


def test_non_transform_pieces_are_refused():
    with pytest.raises(TypeError, match="got float"):
        chain(0.5, SGD(LR))


def test_a_clip_already_on_the_chained_optimizer_is_refused():
    # a clip holds one slot of the kernel: a second one would silently win
    with pytest.raises(ValueError, match="appears twice"):
        chain(ClipByValue(1.0), chain(ClipByValue(2.0), SGD(LR)))


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "1"])
@pytest.mark.parametrize("cls", [ClipByGlobalNorm, ClipByValue, L2, L1, DecoupledWeightDecay])
def test_transform_values_must_be_positive_finite(cls, value):
    with pytest.raises(ValueError, match=f"{cls.__name__} value must be a positive finite"):
        cls(value)


def test_needs_full_gradient_only_with_global_norm_clipping():
    assert chain(ClipByGlobalNorm(1.0), SGD(LR)).needs_full_gradient
    assert not chain(ClipByValue(1.0), L2(0.1), SGD(LR)).needs_full_gradient
    assert not SGD(LR).needs_full_gradient


def test_repr_shows_the_chain():
    text = repr(chain(ClipByValue(0.5), L1(0.01), SGD(LR)))
    assert text.startswith("chain(ClipByValue(0.5), L1(0.01), SGD(lr=0.1")


# ------------------------------------------------------ one step, by formula

@pytest.mark.parametrize("n", [13, OPTIMIZER_PARALLEL_MIN_SIZE + 37])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_by_global_norm(n, max_norm, rng):
    p, g = _problem(rng, n)
    norm = np.sqrt(np.sum(g * g))
    scale = min(1.0, max_norm / (norm + 1e-6))
    assert (scale < 1) == (max_norm == 0.5)
    got = _step(chain(ClipByGlobalNorm(max_norm), SGD(LR)), p, g)
    np.testing.assert_allclose(got, p - LR * (g * scale), rtol=1e-12, atol=1e-15)
    assert np.linalg.norm((p - got) / LR) <= max_norm * (1 + 1e-12)


def test_clip_by_value(rng):
    p, g = _problem(rng)
    assert np.abs(g).max() > 1.0  # some elements are clipped
    got = _step(chain(ClipByValue(1.0), SGD(LR)), p, g)
    np.testing.assert_allclose(got, p - LR * np.clip(g, -1.0, 1.0), rtol=1e-12, atol=1e-15)


def test_l2_adds_c_times_p(rng):
    p, g = _problem(rng)
    got = _step(chain(L2(0.3), SGD(LR)), p, g)
    np.testing.assert_allclose(got, p - LR * (g + 0.3 * p), rtol=1e-12, atol=1e-15)


def test_l1_adds_c_times_the_sign_of_p(rng):
    p, g = _problem(rng)
    got = _step(chain(L1(0.3), SGD(LR)), p, g)
    np.testing.assert_allclose(got, p - LR * (g + 0.3 * np.sign(p)), rtol=1e-12, atol=1e-15)
    assert got[3] == pytest.approx(-LR * g[3], rel=1e-15)  # sign(0) = 0


def test_decoupled_weight_decay_shrinks_p_before_the_step(rng):
    p, g = _problem(rng)
    got = _step(chain(SGD(LR), DecoupledWeightDecay(0.5)), p, g)
    np.testing.assert_allclose(got, p * (1 - LR * 0.5) - LR * g, rtol=1e-12, atol=1e-15)


def test_repeated_penalties_add_up(rng):
    p, g = _problem(rng)
    got = _step(chain(L2(0.1), L2(0.2), L1(0.05), L1(0.05), SGD(LR)), p, g)
    expected = p - LR * (g + (0.1 + 0.2) * p + (0.05 + 0.05) * np.sign(p))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    # SGD's own weight_decay is the same coupled L2 and adds to the transform's
    got = _step(chain(L2(0.1), SGD(LR, weight_decay=0.2)), p, g)
    np.testing.assert_allclose(got, p - LR * (g + 0.3 * p), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [13, OPTIMIZER_PARALLEL_MIN_SIZE + 37])
def test_the_transforms_apply_in_the_documented_order(n, rng):
    p, g = _problem(rng, n)
    opt = chain(ClipByGlobalNorm(2.0), ClipByValue(0.05), L1(0.02), SGD(LR),
                DecoupledWeightDecay(0.3))
    got = _step(opt, p, g)
    g1 = g * min(1.0, 2.0 / (np.sqrt(np.sum(g * g)) + 1e-6))     # 1. global norm
    g2 = np.clip(g1, -0.05, 0.05)                                 # 2. value
    decayed = p * (1 - LR * 0.3)                                  # 4. decoupled decay
    g3 = g2 + 0.02 * np.sign(decayed)                             # 3. L1 (sign unchanged)
    np.testing.assert_allclose(got, decayed - LR * g3, rtol=1e-12, atol=1e-15)
    # clipping by value after the norm is not the same as before it
    wrong = decayed - LR * (np.clip(g, -0.05, 0.05) * min(1.0, 2.0 / np.linalg.norm(g))
                            + 0.02 * np.sign(p))
    assert not np.allclose(got, wrong, rtol=1e-9, atol=0)


def test_float32_step_matches_the_formula(rng):
    p, g = _problem(rng)
    p32, g32 = p.astype(np.float32), g.astype(np.float32)
    got = _step(chain(ClipByValue(1.0), L2(0.25), SGD(LR)), p32, g32)
    assert got.dtype == np.float32
    expected = p32.astype(np.float64) - LR * (np.clip(g32, -1, 1) + 0.25 * p32.astype(np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- round trip

@pytest.mark.parametrize("piece", [ClipByGlobalNorm(0.7), ClipByValue(0.2), L2(0.3), L1(0.05)])
def test_state_dict_round_trips_each_transform(piece, rng):
    opt = chain(piece, SGD(LR))
    _round_trip(opt, piece, rng)


def test_state_dict_round_trips_decoupled_decay(rng):
    piece = DecoupledWeightDecay(0.4)
    _round_trip(chain(SGD(LR), piece), piece, rng)


def _round_trip(opt, piece, rng):
    state = opt.state_dict()
    assert state["transforms"] == [(type(piece).__name__, piece.value)]
    fresh = SGD(0.5)
    fresh.load_state_dict(state)
    assert fresh.lr == LR
    assert [(type(t), t.value) for t in fresh.transforms] == [(type(piece), piece.value)]
    p, g = _problem(rng)
    np.testing.assert_array_equal(_step(fresh, p, g), _step(opt, p, g))
    # and loading a state without transforms drops them again
    fresh.load_state_dict(SGD(LR).state_dict())
    assert fresh.transforms == ()
    np.testing.assert_allclose(_step(fresh, p, g), p - LR * g, rtol=1e-15, atol=1e-16)


@pytest.mark.parametrize("cls", [ClipByGlobalNorm, ClipByValue, L2, L1, DecoupledWeightDecay])
def test_from_description_rebuilds_the_transform(cls):
    piece = from_description((cls.__name__, 0.125))
    assert type(piece) is cls and piece.value == 0.125


def test_from_description_refuses_unknown_names():
    with pytest.raises(ValueError, match="unknown gradient transform 'Clip'; valid: "
                                         "ClipByGlobalNorm, ClipByValue, L2, L1, "
                                         "DecoupledWeightDecay"):
        from_description(("Clip", 1.0))
