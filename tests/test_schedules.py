"""Learning-rate schedules against their closed forms, torch's schedulers, and in the Trainer."""

import math

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import schedules as S


def _epoch_rates(schedule, epochs, base=0.1):
    schedule.start(base)
    return [schedule.rates(e, e * 5, 5, 5)[0] for e in range(epochs)]


@pytest.mark.parametrize("schedule, expected", [
    (S.Constant(), lambda e: 0.1),
    (S.StepDecay(3, gamma=0.5), lambda e: 0.1 * 0.5 ** (e // 3)),
    (S.MultiStep([2, 5], gamma=0.1), lambda e: 0.1 * 0.1 ** ((e >= 2) + (e >= 5))),
    (S.Exponential(gamma=0.9), lambda e: 0.1 * 0.9 ** e),
    (S.Exponential(k=0.2), lambda e: 0.1 * math.exp(-0.2 * e)),
    (S.InverseTime(0.5), lambda e: 0.1 / (1 + 0.5 * e)),
    (S.LectureDecay(0.1), lambda e: 0.1 ** (1 + 0.1 * e)),
    (S.Polynomial(4, power=2.0, end_lr=0.01), lambda e: (0.09 * (1 - min(e, 4) / 4) ** 2 + 0.01)),
    (S.CosineAnnealing(4, eta_min=0.01),
     lambda e: 0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2),
])
def test_closed_forms(schedule, expected):
    np.testing.assert_allclose(_epoch_rates(schedule, 8), [expected(e) for e in range(8)],
                               rtol=1e-12)


def test_invscaling_counts_samples_like_scikit_learn():
    sched = S.InvScaling(power_t=0.5)
    sched.n_samples = 100
    np.testing.assert_allclose(_epoch_rates(sched, 3), [0.1, 0.1 / 101 ** 0.5, 0.1 / 201 ** 0.5])


def test_warm_restarts_match_torch_closed_form():
    sched = S.CosineAnnealing(3, eta_min=0.0, restarts=True, T_mult=2)
    got = _epoch_rates(sched, 10)
    # periods 3, 6: restarts at epochs 3 and 9
    expected = [0.05 * (1 + math.cos(math.pi * t / T)) for t, T in
                [(0, 3), (1, 3), (2, 3), (0, 6), (1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (0, 12)]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_linear_warmup_then_step_decay_per_step():
    sched = S.LinearWarmup(4, then=S.StepDecay(1, gamma=0.5))
    sched.start(1.0)
    rates = np.concatenate([sched.rates(e, 3 * e, 3, 3) for e in range(3)])
    ramp = np.minimum(np.arange(9) / 4, 1.0)  # the first step at exactly 0
    expected = ramp * np.repeat([1.0, 0.5, 0.25], 3)
    np.testing.assert_allclose(rates, expected, rtol=1e-12)


def test_one_cycle_matches_torch():
    torch = pytest.importorskip("torch")
    total = 20
    ours = S.OneCycle(total, max_lr=0.1)
    ours.start(0.1)
    got = ours.rates(0, 0, total, total)
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=total,
                                                anneal_strategy="cos", cycle_momentum=False)
    expected = []
    for _ in range(total):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def _plateau_run(schedule, values, base=1.0):
    schedule.start(base)
    out = []
    for e, v in enumerate(values):
        schedule.end_epoch(e, {"val_loss": v})
        out.append(schedule.epoch_rate(e + 1))
    return out


@pytest.mark.parametrize("kwargs", [dict(patience=0), dict(patience=2),
                                    dict(patience=1, cooldown=2),
                                    dict(patience=1, threshold=0.1, threshold_mode="abs"),
                                    dict(patience=0, factor=0.5, min_lr=0.3),
                                    dict(patience=0, mode="max"),
                                    dict(patience=1, threshold=0.5)])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    values = [1.0, 0.99, 0.995, 0.98, 0.98, 0.97, 1.2, 0.5, 0.5, 0.5, 0.5, 0.49, 0.6, 0.6]
    got = _plateau_run(S.ReduceLROnPlateau(**kwargs), values)
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    expected = []
    for v in values:
        sched.step(v)
        expected.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_reduce_on_plateau_edge_cases_by_hand():
    # patience 1: the second epoch without improvement cuts; cooldown 1 then
    # ignores one bad epoch before counting again.
    sched = S.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1, threshold=0.0)
    got = _plateau_run(sched, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9])
    assert got == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    # the cut stops at min_lr, and a change smaller than eps is not made
    sched = S.ReduceLROnPlateau(factor=0.5, patience=0, min_lr=0.3)
    assert _plateau_run(sched, [1.0, 2.0, 2.0, 2.0]) == [1.0, 0.5, 0.3, 0.3]
    sched = S.ReduceLROnPlateau(factor=0.999999999, patience=0, eps=1e-6)
    assert _plateau_run(sched, [1.0, 2.0]) == [1.0, 1.0]


def test_bold_driver_grows_and_cuts():
    sched = S.BoldDriver(increase=1.1, decrease=0.5)
    sched.start(1.0)
    for e, loss in enumerate([1.0, 0.8, 0.9, 0.7]):
        sched.end_epoch(e, {"loss": loss})
    assert sched.epoch_rate(4) == pytest.approx(1.0 * 1.1 * 1.1 * 0.5 * 1.1)


def test_bad_schedules():
    with pytest.raises(ValueError, match="exactly one"):
        S.Exponential()
    with pytest.raises(ValueError, match="below 1"):
        S.LectureDecay(0.1).start(2.0)
    with pytest.raises(ValueError, match="factor"):
        S.ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        S.ReduceLROnPlateau(mode="up")
    with pytest.raises(ValueError, match="valid names"):
        S.get_schedule("warm")
    with pytest.raises(ValueError, match="increase > 1"):
        S.BoldDriver(increase=0.9)


# ------------------------------------------------------------ in the trainer
def _data(rng, n=64):
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] > 0).astype(int)


def test_trainer_records_the_rate_and_uses_per_step_rates(rng):
    X, y = _data(rng)
    a = fm.Model([4, 6, 2], dtype="float64", seed=0)
    b = a.copy()
    sched = S.LinearWarmup(6, then=S.Exponential(gamma=0.5))
    hist = fm.Trainer(a, fm.optim.SGD(0.2), batch_size=16, epochs=3, shuffle=False, verbose=0,
                      schedule=sched).fit(X, y)
    # by hand: one SGD step per batch at the schedule's rate for that step
    rates = [0.2 * min(s / 6, 1.0) * 0.5 ** (s // 4) for s in range(12)]
    for s, rate in enumerate(rates):
        idx = np.arange((s % 4) * 16, (s % 4) * 16 + 16)
        _, g = b.loss_and_grad(X[idx], y[idx])
        b.params[...] = b.params - rate * g
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    assert hist["lr"] == pytest.approx([rates[3], rates[7], rates[11]])


def test_bold_driver_rejects_an_epoch_that_raised_the_loss(rng):
    X, y = _data(rng, 128)
    model = fm.Model([4, 16, 2], seed=0)
    kept = []

    class Spy(fm.Callback):
        def on_epoch_begin(self, trainer, epoch):
            kept.append(trainer.model.params.copy())

    trainer = fm.Trainer(model, fm.optim.SGD(1.0), batch_size=8, epochs=8, verbose=0,
                         callbacks=[Spy()], schedule=S.BoldDriver(increase=1.5, reject=True))
    hist = trainer.fit(X, y)
    rejected = [i for i, r in enumerate(hist["rejected"]) if r]
    assert len(hist["rejected"]) == 8 and rejected
    for i in rejected:  # the weights after a rejected epoch are those before it
        after = kept[i + 1] if i + 1 < len(kept) else model.params
        np.testing.assert_array_equal(after, kept[i])


def test_plateau_in_the_trainer_monitors_validation(rng):
    X, y = _data(rng)
    trainer = fm.Trainer(fm.Model([4, 6, 2], seed=0), fm.optim.Adam(1e-2), epochs=4, verbose=0,
                         schedule=S.ReduceLROnPlateau(patience=0, factor=0.5, threshold=10.0))
    hist = trainer.fit(X, y, validation_data=(X, y))
    # threshold 10 (relative) means no epoch ever improves: halved every epoch after the first
    assert hist["lr"] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3])
