"""Optimizers: exact one- and multi-step formulas against NumPy transcriptions."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.kernels import optim as kopt
from naive import adam_step, sgd_step

SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.05, momentum=0.8, nesterov=True), dict(lr=0.02, weight_decay=0.01),
             dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)]
ADAM_CASES = [dict(), dict(lr=0.01, betas=(0.8, 0.99)), dict(lr=3e-3, eps=1e-6, weight_decay=0.05),
              dict(lr=1e-3, amsgrad=True), dict(lr=2e-3, betas=(0.0, 0.5), amsgrad=True)]


def _gradients(rng, n, steps):
    return [rng.standard_normal(n) * 10 ** rng.uniform(-3, 1) for _ in range(steps)]


@pytest.mark.parametrize("kwargs", SGD_CASES)
@pytest.mark.parametrize("steps", [1, 50])
def test_sgd_matches_transcription(kwargs, steps, rng):
    p = rng.standard_normal(1000)
    ref, buf = p.copy(), None
    opt = fm.optim.SGD(**kwargs)
    for t, g in enumerate(_gradients(rng, p.size, steps), start=1):
        opt.step(p, g)
        ref, buf = sgd_step(ref, g, buf, t, **kwargs)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-13)
    assert opt.step_count[0] == steps


@pytest.mark.parametrize("kwargs", ADAM_CASES)
@pytest.mark.parametrize("steps", [1, 100])
def test_adam_matches_transcription(kwargs, steps, rng):
    p = rng.standard_normal(1000)
    ref, m, v, vmax = p.copy(), np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    opt = fm.optim.Adam(**kwargs)
    for t, g in enumerate(_gradients(rng, p.size, steps), start=1):
        opt.step(p, g)
        ref, m, v, vmax = adam_step(ref, g, m, v, vmax, t, **kwargs)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(opt.state[0], m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.state[1], v, rtol=1e-12, atol=1e-18)


def test_adam_first_step_closed_form(rng):
    # Step 1: mhat = g, vhat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
    p = rng.standard_normal(100)
    g = rng.standard_normal(100)
    expected = p - 0.01 * g / (np.abs(g) + 1e-8)
    fm.optim.Adam(lr=0.01).step(p, g)
    np.testing.assert_allclose(p, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("opt_factory", [lambda: fm.optim.SGD(0.01, momentum=0.9, nesterov=True),
                                         lambda: fm.optim.Adam(1e-3, amsgrad=True)])
def test_parallel_step_equals_serial_step(opt_factory, rng):
    # The parallel kernel (opt.step) and the serial one (inside the training loop)
    # must give the same bits: the update is per element.
    n = 3 * kopt.PARALLEL_MIN_SIZE + 17
    p1 = rng.standard_normal(n).astype(np.float32)
    p2 = p1.copy()
    a, b = opt_factory(), opt_factory()
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        a.step(p1, g)
        kopt.step(b.kind, p2, g, b.bind(p2), b.hyper(), b.step_count)
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    p = rng.standard_normal(10).astype(dtype)
    opt = fm.optim.Adam()
    opt.step(p, np.ones(10, dtype))
    assert p.dtype == dtype and opt.state.dtype == dtype


def test_state_dict_round_trip(rng):
    p = rng.standard_normal(50)
    opt = fm.optim.Adam(lr=0.01, amsgrad=True)
    for _ in range(3):
        opt.step(p, rng.standard_normal(50))
    saved, p_saved = opt.state_dict(), p.copy()
    g = rng.standard_normal(50)
    opt.step(p, g)
    after = p.copy()
    other = fm.optim.Adam()
    other.load_state_dict(saved)
    assert other.amsgrad and other.lr == 0.01 and other.step_count[0] == 3
    other.step(p_saved, g)
    np.testing.assert_array_equal(p_saved, after)
    with pytest.raises(ValueError, match="SGD"):
        fm.optim.SGD().load_state_dict(saved)


@pytest.mark.parametrize("factory, message", [
    (lambda: fm.optim.SGD(lr=0), "lr"), (lambda: fm.optim.SGD(lr=-1), "lr"),
    (lambda: fm.optim.SGD(momentum=-0.1), "momentum"), (lambda: fm.optim.SGD(momentum=1.0), "momentum"),
    (lambda: fm.optim.SGD(nesterov=True), "nesterov"), (lambda: fm.optim.Adam(lr=float("nan")), "lr"),
    (lambda: fm.optim.Adam(betas=(1.0, 0.9)), r"betas\[0\]"), (lambda: fm.optim.Adam(betas=(0.9, -1)), r"betas\[1\]"),
    (lambda: fm.optim.Adam(betas=0.9), "pair"), (lambda: fm.optim.Adam(eps=0), "eps"),
    (lambda: fm.optim.Adam(weight_decay=-1), "weight_decay"),
    (lambda: fm.optim.get_optimizer("adamax2"), "valid names: adam, sgd"),
])
def test_bad_hyperparameters(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_buffers():
    opt = fm.optim.SGD(0.1)
    with pytest.raises(ValueError, match="match"):
        opt.step(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="float32 or float64"):
        opt.step(np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ValueError, match="1-D"):
        opt.step(np.zeros((3, 2)), np.zeros((3, 2)))
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        opt.step(frozen, np.zeros(3))


def test_matches_torch_when_installed(rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal(200)
    grads = _gradients(rng, 200, 30)
    for ours, theirs in [
        (fm.optim.Adam(lr=0.01, weight_decay=0.01, amsgrad=True),
         lambda w: torch.optim.Adam([w], lr=0.01, weight_decay=0.01, amsgrad=True)),
        (fm.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
         lambda w: torch.optim.SGD([w], lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        (fm.optim.SGD(lr=0.05, momentum=0.5, dampening=0.2),
         lambda w: torch.optim.SGD([w], lr=0.05, momentum=0.5, dampening=0.2)),
    ]:
        p = p0.copy()
        w = torch.tensor(p0.copy(), requires_grad=True)
        topt = theirs(w)
        for g in grads:
            ours.step(p, g)
            w.grad = torch.tensor(g)
            topt.step()
        np.testing.assert_allclose(p, w.detach().numpy(), rtol=1e-12, atol=1e-14)
