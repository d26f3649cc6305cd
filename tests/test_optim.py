"""Optimizers: exact one- and multi-step formulas against NumPy transcriptions (and torch)."""

import naive
import numpy as np
import pytest

import fastmlp as fm
from fastmlp.kernels import ops as kops
from fastmlp.kernels import optim as kopt
from fastmlp.kernels.optim import OPTIMIZER_PARALLEL_MIN_SIZE

O = fm.optim

# (factory of our optimizer, transcription, keyword arguments of both)
CASES = [
    ("sgd", O.SGD, "sgd", dict(lr=0.1)),
    ("sgd-momentum", O.SGD, "sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd-dampening", O.SGD, "sgd", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("sgd-nesterov", O.SGD, "sgd", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("sgd-decay", O.SGD, "sgd", dict(lr=0.02, weight_decay=0.01)),
    ("adam", O.Adam, "adam", dict()),
    ("adam-options", O.Adam, "adam",
     dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("amsgrad", O.Adam, "adam", dict(lr=2e-3, betas=(0.0, 0.5), amsgrad=True)),
    ("adamw", O.AdamW, naive.adamw_step, dict(lr=1e-2, weight_decay=0.1)),
    ("adamw-amsgrad", O.AdamW, naive.adamw_step, dict(lr=1e-2, amsgrad=True)),
    ("adagrad", O.Adagrad, naive.adagrad_step, dict(lr=0.05)),
    ("adagrad-options", O.Adagrad, naive.adagrad_step,
     dict(lr=0.05, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1, eps=1e-6)),
    ("rmsprop", O.RMSprop, naive.rmsprop_step, dict(lr=1e-3)),
    ("rmsprop-centered", O.RMSprop, naive.rmsprop_step, dict(lr=1e-3, centered=True)),
    ("rmsprop-momentum", O.RMSprop, naive.rmsprop_step, dict(lr=1e-3, momentum=0.9,
                                                             weight_decay=0.01)),
    ("rmsprop-both", O.RMSprop, naive.rmsprop_step, dict(lr=1e-3, momentum=0.5, centered=True,
                                                         alpha=0.9)),
    ("adadelta", O.Adadelta, naive.adadelta_step, dict()),
    ("adadelta-options", O.Adadelta, naive.adadelta_step, dict(lr=0.5, rho=0.8, eps=1e-4,
                                                               weight_decay=0.01)),
    ("adamax", O.Adamax, naive.adamax_step, dict()),
    ("adamax-options", O.Adamax, naive.adamax_step, dict(lr=0.01, betas=(0.5, 0.9),
                                                         weight_decay=0.01)),
    ("nadam", O.NAdam, naive.nadam_step, dict()),
    ("nadam-options", O.NAdam, naive.nadam_step, dict(lr=0.01, momentum_decay=0.01,
                                                      weight_decay=0.01)),
    ("nadam-decoupled", O.NAdam, naive.nadam_step, dict(weight_decay=0.1,
                                                        decoupled_weight_decay=True)),
    ("radam", O.RAdam, naive.radam_step, dict()),
    ("radam-options", O.RAdam, naive.radam_step, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1,
                                                      decoupled_weight_decay=True)),
    ("rprop", O.Rprop, naive.rprop_step, dict()),
    ("rprop-options", O.Rprop, naive.rprop_step, dict(lr=0.1, etas=(0.3, 1.5),
                                                      step_sizes=(1e-3, 0.2))),
]


def _gradients(rng, n, steps):
    return [rng.standard_normal(n) * 10 ** rng.uniform(-3, 1) for _ in range(steps)]


def _reference(kind, kwargs):
    """A stepping function ``f(p, g, t) -> p`` for the transcription ``kind``."""
    if kind == "sgd":
        buf = [None]

        def f(p, g, t):
            out, buf[0] = naive.sgd_step(p, g, buf[0], t, **kwargs)
            return out
        return f
    if kind == "adam":
        m = {}

        def f(p, g, t):
            for k in ("m", "v", "x"):
                m.setdefault(k, np.zeros_like(p))
            out, m["m"], m["v"], m["x"] = naive.adam_step(p, g, m["m"], m["v"], m["x"], t,
                                                          **kwargs)
            return out
        return f
    state = {}
    return lambda p, g, t: kind(p, g, state, t, **kwargs)


@pytest.mark.parametrize("name, cls, kind, kwargs", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("steps", [1, 60])
def test_matches_transcription(name, cls, kind, kwargs, steps, rng):
    p = rng.standard_normal(1000)
    ref = p.copy()
    opt = cls(**kwargs)
    reference = _reference(kind, kwargs)
    for t, g in enumerate(_gradients(rng, p.size, steps), start=1):
        opt.step(p, g)
        ref = reference(ref, g, t)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-13)
    assert opt.step_count[0] == steps


@pytest.mark.parametrize("piece, transform", [
    (O.ClipByValue(0.05), lambda g, p: np.clip(g, -0.05, 0.05)),
    (O.ClipByGlobalNorm(2.0), lambda g, p: naive.clip_by_global_norm(g, 2.0)),
    (O.L2(0.1), lambda g, p: g + 0.1 * p),
    (O.L1(0.01), lambda g, p: g + 0.01 * np.sign(p)),
])
@pytest.mark.parametrize("base", ["sgd", "adam"])
def test_transforms_apply_before_the_rule(piece, transform, base, rng):
    p = rng.standard_normal(300)
    ref = p.copy()
    kwargs = dict(lr=0.05, momentum=0.5) if base == "sgd" else dict(lr=0.01)
    opt = O.chain(piece, O.SGD(**kwargs) if base == "sgd" else O.Adam(**kwargs))
    reference = _reference(base, kwargs)
    for t, g in enumerate(_gradients(rng, p.size, 20), start=1):
        ref = reference(ref, transform(g, ref), t)
        opt.step(p, g)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-13)


def test_chain_of_several_pieces_and_decoupled_decay(rng):
    p = rng.standard_normal(200)
    ref = p.copy()
    opt = O.chain(O.ClipByGlobalNorm(1.0), O.ClipByValue(0.1), O.L2(0.01), O.SGD(lr=0.1),
                  O.DecoupledWeightDecay(0.5))
    for g in _gradients(rng, p.size, 10):
        step = np.clip(naive.clip_by_global_norm(g, 1.0), -0.1, 0.1)
        ref = ref * (1 - 0.1 * 0.5)
        ref = ref - 0.1 * (step + 0.01 * ref)
        opt.step(p, g)
    np.testing.assert_allclose(p, ref, rtol=1e-12, atol=1e-13)
    assert "ClipByGlobalNorm(1)" in repr(opt)


def test_chain_errors():
    with pytest.raises(ValueError, match="exactly one optimizer"):
        O.chain(O.L2(0.1))
    with pytest.raises(ValueError, match="order"):
        O.chain(O.Adam(), O.ClipByValue(1.0))
    with pytest.raises(ValueError, match="twice"):
        O.chain(O.ClipByValue(1.0), O.ClipByValue(2.0), O.Adam())
    with pytest.raises(TypeError):
        O.chain("clip", O.Adam())
    with pytest.raises(ValueError, match="positive"):
        O.ClipByGlobalNorm(0)


def test_step_does_not_modify_the_gradient(rng):
    p, g = rng.standard_normal(50), rng.standard_normal(50)
    kept = g.copy()
    O.chain(O.ClipByValue(0.1), O.L2(0.5), O.SGD(0.1)).step(p, g)
    np.testing.assert_array_equal(g, kept)


def test_adam_first_step_closed_form(rng):
    # Step 1: mhat = g, vhat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
    p = rng.standard_normal(100)
    g = rng.standard_normal(100)
    expected = p - 0.01 * g / (np.abs(g) + 1e-8)
    O.Adam(lr=0.01).step(p, g)
    np.testing.assert_allclose(p, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name, cls, kind, kwargs", CASES[::3], ids=[c[0] for c in CASES[::3]])
def test_parallel_step_equals_serial_step(name, cls, kind, kwargs, rng):
    # The parallel kernel (opt.step) and the serial one must give the same bits.
    n = 3 * OPTIMIZER_PARALLEL_MIN_SIZE + 17
    p1 = rng.standard_normal(n).astype(np.float32)
    p2 = p1.copy()
    a, b = cls(**kwargs), cls(**kwargs)
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        a.step(p1, g)
        fns = kops.optimizer_ops("float32", b.kind)
        kopt.step(fns.update, fns.constants, b.kind, p2, g, b.bind(p2), b.hyper(), b.step_count,
                  b.scalar_state, b.lr)
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    p = rng.standard_normal(10).astype(dtype)
    opt = O.NAdam()
    opt.step(p, np.ones(10, dtype))
    assert p.dtype == dtype and opt.state.dtype == dtype


@pytest.mark.parametrize("factory", [lambda: O.Adam(lr=0.01, amsgrad=True),
                                     lambda: O.chain(O.L1(0.01), O.NAdam()),
                                     lambda: O.RMSprop(centered=True, momentum=0.5)])
def test_state_dict_round_trip(factory, rng):
    p = rng.standard_normal(50)
    opt = factory()
    for _ in range(3):
        opt.step(p, rng.standard_normal(50))
    saved, p_saved = opt.state_dict(), p.copy()
    g = rng.standard_normal(50)
    opt.step(p, g)
    other = type(opt)()
    other.load_state_dict(saved)
    other.step(p_saved, g)
    np.testing.assert_array_equal(p_saved, p)
    with pytest.raises(ValueError, match="SGD"):
        O.SGD().load_state_dict(saved)


@pytest.mark.parametrize("factory, message", [
    (lambda: O.SGD(lr=0), "lr"), (lambda: O.SGD(lr=-1), "lr"),
    (lambda: O.SGD(momentum=-0.1), "momentum"), (lambda: O.SGD(momentum=1.0), "momentum"),
    (lambda: O.SGD(nesterov=True), "nesterov"), (lambda: O.Adam(lr=float("nan")), "lr"),
    (lambda: O.Adam(betas=(1.0, 0.9)), r"betas\[0\]"),
    (lambda: O.Adam(betas=(0.9, -1)), r"betas\[1\]"),
    (lambda: O.Adam(betas=0.9), "pair"), (lambda: O.Adam(eps=0), "eps"),
    (lambda: O.Adam(weight_decay=-1), "weight_decay"), (lambda: O.RMSprop(alpha=1.5), "alpha"),
    (lambda: O.Adadelta(rho=1.0), "rho"), (lambda: O.Rprop(etas=(1.5, 1.2)), "eta_minus"),
    (lambda: O.Rprop(step_sizes=(1.0, 0.1)), "min <= max"),
    (lambda: O.Adagrad(eps=-1e-10), "eps"), (lambda: O.LBFGS(max_iter=0), "max_iter"),
    (lambda: O.get_optimizer("adamax2"), "valid names: adadelta, adagrad, adam"),
])
def test_bad_hyperparameters(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_bad_buffers():
    opt = O.SGD(0.1)
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


def test_lecture_spellings_are_aliases():
    assert O.AdaGrad is O.Adagrad and O.RMSProp is O.RMSprop
    assert O.AdaDelta is O.Adadelta and O.AdaMax is O.Adamax
    assert isinstance(O.get_optimizer("RMSprop", lr=0.1), O.RMSprop)


# ------------------------------------------------------------ convergence
def _quadratic(x):
    scales = np.array([1.0, 10.0, 100.0])
    return 0.5 * np.sum(scales * x ** 2), scales * x


def _rosenbrock(x):
    a, b = x
    value = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    grad = np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
    return value, grad


# (optimizer, steps, required reduction); Adadelta's step starts at sqrt(eps) and
# then oscillates on these problems: it only gets to a fifth.
CONVERGENCE = [
    (lambda: O.SGD(lr=0.005), 2000, 0.1), (lambda: O.SGD(lr=0.002, momentum=0.9), 2000, 0.1),
    (lambda: O.SGD(lr=0.002, momentum=0.9, nesterov=True), 2000, 0.1),
    (lambda: O.Adam(lr=0.05), 2000, 0.1), (lambda: O.AdamW(lr=0.05, weight_decay=1e-4), 2000, 0.1),
    (lambda: O.Adamax(lr=0.05), 2000, 0.1), (lambda: O.NAdam(lr=0.05), 2000, 0.1),
    (lambda: O.RAdam(lr=0.005), 2000, 0.1), (lambda: O.Adagrad(lr=0.5), 2000, 0.1),
    (lambda: O.RMSprop(lr=0.01), 2000, 0.1),
    (lambda: O.RMSprop(lr=0.005, centered=True, momentum=0.5), 2000, 0.1),
    (lambda: O.Adadelta(lr=10.0), 3000, 0.2), (lambda: O.Rprop(lr=0.01), 2000, 0.1),
]


@pytest.mark.parametrize("factory, steps, reduction", CONVERGENCE)
@pytest.mark.parametrize("problem, start", [(_quadratic, np.array([1.0, -2.0, 0.5])),
                                            (_rosenbrock, np.array([-1.2, 1.0]))])
def test_every_optimizer_reduces_the_loss(factory, steps, reduction, problem, start):
    opt = factory()
    x = start.copy()
    first, _ = problem(x)
    for _ in range(steps):
        _, g = problem(x)
        opt.step(x, g)
    last, _ = problem(x)
    assert np.isfinite(last) and last < reduction * first, (first, last)


# ------------------------------------------------------------ against torch
TORCH_CASES = [
    (lambda: O.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
     "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    (lambda: O.SGD(lr=0.05, momentum=0.5, dampening=0.2), "SGD",
     dict(lr=0.05, momentum=0.5, dampening=0.2)),
    (lambda: O.Adam(lr=0.01, weight_decay=0.01, amsgrad=True), "Adam",
     dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
    (lambda: O.AdamW(lr=0.01), "AdamW", dict(lr=0.01)),
    (lambda: O.Adagrad(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1), "Adagrad",
     dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
    (lambda: O.RMSprop(lr=1e-3, centered=True, momentum=0.5, weight_decay=0.01), "RMSprop",
     dict(lr=1e-3, centered=True, momentum=0.5, weight_decay=0.01)),
    (lambda: O.Adadelta(lr=0.5, weight_decay=0.01), "Adadelta", dict(lr=0.5, weight_decay=0.01)),
    (lambda: O.Adamax(lr=0.01), "Adamax", dict(lr=0.01)),
    (lambda: O.NAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), "NAdam",
     dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    (lambda: O.RAdam(lr=0.01, weight_decay=0.01), "RAdam", dict(lr=0.01, weight_decay=0.01)),
    (lambda: O.Rprop(lr=0.05), "Rprop", dict(lr=0.05)),
]


@pytest.mark.parametrize("ours, name, kwargs", TORCH_CASES, ids=[c[1] for c in TORCH_CASES])
def test_matches_torch_when_installed(ours, name, kwargs, rng):
    torch = pytest.importorskip("torch")
    p0 = rng.standard_normal(200)
    grads = _gradients(rng, 200, 40)
    opt = ours()
    p = p0.copy()
    # torch keeps scalar state (NAdam's product of momenta) in the default dtype
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        w = torch.tensor(p0.copy(), requires_grad=True)
        topt = getattr(torch.optim, name)([w], **kwargs)
        for g in grads:
            opt.step(p, g)
            w.grad = torch.tensor(g)
            topt.step()
    finally:
        torch.set_default_dtype(default)
    np.testing.assert_allclose(p, w.detach().numpy(), rtol=1e-11, atol=1e-13)
