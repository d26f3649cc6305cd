"""Every schedule at and past each of its boundaries.

Every class in :mod:`fastmlp.schedules` is enumerated; each must have cases
here (a new schedule without any fails :func:`test_every_schedule_has_boundary_cases`).
A case runs the schedule over epochs (or steps) that reach and pass its
boundaries -- T_max, step sizes and milestones, restarts, warm-up lengths 0
and 1, one-cycle's and the polynomial's end, plateau patience and cooldown --
and compares every rate with a closed form written here, and with
``torch.optim.lr_scheduler`` where torch has the same schedule and is
installed.  A rate of exactly 0 is valid (the step changes nothing);
negative or non-finite ones are refused.
"""

import inspect
import math
from collections import namedtuple

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import schedules as S

BASE = 0.1
STEPS_PER_EPOCH = 3

SCHEDULE_CLASSES = [cls for _, cls in inspect.getmembers(S, inspect.isclass)
                    if issubclass(cls, S.Schedule) and cls is not S.Schedule
                    and cls.__module__ == S.__name__]

#: ``make()`` builds the schedule; ``n`` epochs (unit "epoch") or steps (unit
#: "step") are evaluated; ``expected(i)`` is the closed form; ``torch`` builds
#: torch's scheduler from ``(lr_scheduler, optimizer)``, compared over the
#: first ``torch_n`` values (None: torch has no such schedule); ``metrics``
#: are shown to an adaptive schedule after each epoch; ``base`` is eta0.
Case = namedtuple("Case", ["label", "make", "unit", "n", "expected", "torch", "torch_n",
                           "metrics", "base"],
                  defaults=(None, None, None, BASE))


def _cosine(t, period, top=BASE, bottom=0.0):
    return bottom + (top - bottom) * (1 + math.cos(math.pi * t / period)) / 2


def _restart_phase(epoch, first, mult):
    """(t, period) of SGDR at ``epoch``: restarts at first * (mult^k - 1) / (mult - 1)."""
    k = 0
    while True:  # the restart epochs as exact integers, not the loop under test
        nxt = first * (k + 1) if mult == 1 else first * (mult ** (k + 1) - 1) // (mult - 1)
        if nxt > epoch:
            break
        k += 1
    start = first * k if mult == 1 else first * (mult ** k - 1) // (mult - 1)
    return epoch - start, first * mult ** k


def _one_cycle(s, total, top, pct_start=0.3, div=25.0, final_div=1e4):
    # torch's OneCycleLR, two cosine phases; the rate stays at the end past it
    initial = top / div
    final = initial / final_div
    s = min(s, total - 1)
    up_end = pct_start * total - 1
    if s <= up_end:  # rising; a warm-up of one step (up_end 0) ends at the top
        return _cosine(s / up_end if up_end > 0 else 1.0, 1.0, top=initial, bottom=top)
    return _cosine((s - up_end) / (total - 1 - up_end), 1.0, top, final)


def _plateau_rate(epoch, patience, cooldown, factor, min_lr, base=1.0):
    """Rate of ``epoch`` when no epoch after the first ever improves.

    The first cut comes after epoch patience + 1, then one every
    cooldown + patience + 1 epochs (the cooldown epochs do not count).
    """
    cuts = sum(1 for e in range(epoch) if e >= patience + 1
               and (e - patience - 1) % (cooldown + patience + 1) == 0)
    return max(base * factor ** cuts, min_lr)


CASES = [
    # ---------------------------------------------------------------- per epoch
    Case("constant", S.Constant, "epoch", 5, lambda e: BASE,
         lambda L, o: L.ConstantLR(o, factor=1.0, total_iters=1), 5),
    Case("step decay: boundaries 3 and 6", lambda: S.StepDecay(3, gamma=0.5), "epoch", 10,
         lambda e: BASE * 0.5 ** (e // 3), lambda L, o: L.StepLR(o, 3, gamma=0.5), 10),
    Case("step decay: every epoch, underflowing to 0", lambda: S.StepDecay(1, gamma=0.1),
         "epoch", 400, lambda e: BASE * 0.1 ** e),
    Case("multistep: 2, and 5 twice", lambda: S.MultiStep([5, 2, 5], gamma=0.1), "epoch", 8,
         lambda e: BASE * 0.1 ** ((e >= 2) + 2 * (e >= 5)),
         lambda L, o: L.MultiStepLR(o, [2, 5, 5], gamma=0.1), 8),
    Case("multistep: none", lambda: S.MultiStep([]), "epoch", 3, lambda e: BASE),
    Case("exponential gamma", lambda: S.Exponential(gamma=0.5), "epoch", 8,
         lambda e: BASE * 0.5 ** e, lambda L, o: L.ExponentialLR(o, 0.5), 8),
    Case("exponential k=0", lambda: S.Exponential(k=0.0), "epoch", 3, lambda e: BASE),
    Case("exponential k, underflowing to 0", lambda: S.Exponential(k=800.0), "epoch", 3,
         lambda e: BASE * math.exp(-800.0 * e)),
    Case("inverse time", lambda: S.InverseTime(0.5), "epoch", 6,
         lambda e: BASE / (1 + 0.5 * e)),
    Case("inverse time k=0", lambda: S.InverseTime(0.0), "epoch", 3, lambda e: BASE),
    Case("lecture decay, underflowing to 0", lambda: S.LectureDecay(0.5), "epoch", 700,
         lambda e: BASE ** (1 + 0.5 * e)),
    Case("polynomial to 0 (torch's PolynomialLR)", lambda: S.Polynomial(4, power=2.0,
                                                                         end_lr=0.0),
         "epoch", 9, lambda e: BASE * (1 - min(e, 4) / 4) ** 2,
         lambda L, o: L.PolynomialLR(o, total_iters=4, power=2.0), 9),
    Case("polynomial to end_lr", lambda: S.Polynomial(4, power=0.5, end_lr=0.01), "epoch", 7,
         lambda e: (BASE - 0.01) * (1 - min(e, 4) / 4) ** 0.5 + 0.01),
    Case("polynomial over 1 epoch", lambda: S.Polynomial(1, end_lr=0.0), "epoch", 3,
         lambda e: BASE * (1 - min(e, 1)), lambda L, o: L.PolynomialLR(o, total_iters=1), 3),
    Case("cosine T_max=3 over 6 epochs (the report)", lambda: S.CosineAnnealing(3), "epoch", 7,
         lambda e: _cosine(min(e, 3), 3),
         lambda L, o: L.CosineAnnealingLR(o, T_max=3), 4),  # torch folds back up after T_max
    Case("cosine T_max=1", lambda: S.CosineAnnealing(1), "epoch", 3,
         lambda e: _cosine(min(e, 1), 1), lambda L, o: L.CosineAnnealingLR(o, T_max=1), 2),
    Case("cosine to eta_min", lambda: S.CosineAnnealing(4, eta_min=0.01), "epoch", 8,
         lambda e: _cosine(min(e, 4), 4, bottom=0.01),
         lambda L, o: L.CosineAnnealingLR(o, T_max=4, eta_min=0.01), 5),
    Case("warm restarts, T_mult 1", lambda: S.CosineAnnealing(2, restarts=True), "epoch", 9,
         lambda e: _cosine(e % 2, 2),
         lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2), 9),
    Case("warm restarts every epoch", lambda: S.CosineAnnealing(1, restarts=True), "epoch", 4,
         lambda e: BASE, lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=1), 4),
    Case("warm restarts, T_mult 3: restarts at 2, 8, 26",
         lambda: S.CosineAnnealing(2, eta_min=0.001, restarts=True, T_mult=3), "epoch", 30,
         lambda e: _cosine(*_restart_phase(e, 2, 3), bottom=0.001),
         lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3, eta_min=0.001), 30),
    Case("invscaling: per sample seen", lambda: _with_samples(S.InvScaling(0.5), 10), "epoch", 5,
         lambda e: BASE / (10 * e + 1) ** 0.5),
    Case("invscaling power 0", lambda: _with_samples(S.InvScaling(0.0), 10), "epoch", 3,
         lambda e: BASE),
    # ----------------------------------------------------------------- per step
    Case("warm-up of length 0", lambda: S.LinearWarmup(0), "step", 7, lambda s: BASE),
    Case("warm-up of length 1", lambda: S.LinearWarmup(1), "step", 7,
         lambda s: 0.0 if s == 0 else BASE),
    Case("warm-up of length 1 from half", lambda: S.LinearWarmup(1, start_factor=0.5), "step",
         4, lambda s: BASE / 2 if s == 0 else BASE,
         lambda L, o: L.LinearLR(o, start_factor=0.5, total_iters=1), 4),
    Case("warm-up of 4 steps (torch's LinearLR)", lambda: S.LinearWarmup(4, start_factor=0.25),
         "step", 9, lambda s: BASE * (0.25 + 0.75 * min(s, 4) / 4),
         lambda L, o: L.LinearLR(o, start_factor=0.25, total_iters=4), 9),
    Case("warm-up across epochs into a cosine that ends at 0",
         lambda: S.LinearWarmup(5, then=S.CosineAnnealing(2)), "step", 12,
         lambda s: min(s / 5, 1.0) * _cosine(min(s // STEPS_PER_EPOCH, 2), 2)),
    Case("one cycle and past its end", lambda: S.OneCycle(10, max_lr=0.2), "step", 14,
         lambda s: _one_cycle(s, 10, 0.2),
         lambda L, o: L.OneCycleLR(o, max_lr=0.2, total_steps=10, cycle_momentum=False), 10),
    Case("one cycle, no warm-up", lambda: S.OneCycle(10, pct_start=0.0), "step", 11,
         lambda s: _one_cycle(s, 10, BASE, pct_start=0.0),
         lambda L, o: L.OneCycleLR(o, max_lr=BASE, total_steps=10, pct_start=0.0,
                                   cycle_momentum=False), 10),
    Case("one cycle, warm-up of one step", lambda: S.OneCycle(10, pct_start=0.1), "step", 11,
         lambda s: _one_cycle(s, 10, BASE, pct_start=0.1)),  # torch divides 0 by 0 here
    Case("one cycle of 1 step", lambda: S.OneCycle(1), "step", 3,
         lambda s: BASE / 25.0 / 1e4),
    # ------------------------------------------------------------------ adaptive
    Case("plateau: patience 0", lambda: S.ReduceLROnPlateau(factor=0.5, patience=0), "epoch",
         8, lambda e: _plateau_rate(e, 0, 0, 0.5, 0.0),
         lambda L, o: L.ReduceLROnPlateau(o, factor=0.5, patience=0), 8, [1.0] * 8, 1.0),
    Case("plateau: patience 2, cooldown 1, floor",
         lambda: S.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.125),
         "epoch", 16, lambda e: _plateau_rate(e, 2, 1, 0.5, 0.125),
         lambda L, o: L.ReduceLROnPlateau(o, factor=0.5, patience=2, cooldown=1,
                                          min_lr=0.125), 16, [3.0] * 16, 1.0),
    Case("plateau, max mode: patience 1, cooldown 2",
         lambda: S.ReduceLROnPlateau(mode="max", factor=0.5, patience=1, cooldown=2), "epoch",
         14, lambda e: _plateau_rate(e, 1, 2, 0.5, 0.0),
         lambda L, o: L.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=1, cooldown=2),
         14, [2.0] * 14, 1.0),
    Case("plateau: an abs threshold met exactly is no improvement",
         lambda: S.ReduceLROnPlateau(factor=0.5, patience=0, threshold=0.25,
                                     threshold_mode="abs"), "epoch", 4,
         lambda e: [1.0, 1.0, 0.5, 0.5][e],
         lambda L, o: L.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.25,
                                          threshold_mode="abs"), 4, [1.0, 0.75, 0.5, 0.5], 1.0),
    Case("bold driver: equal losses cut", lambda: S.BoldDriver(increase=1.5, decrease=0.5),
         "epoch", 5, lambda e: [1.0, 1.5, 0.75, 0.375, 0.5625][e], metrics=[2.0, 2.0, 2.0, 1.0],
         base=1.0),
    Case("bold driver with reject keeps the old loss",
         lambda: S.BoldDriver(increase=1.5, decrease=0.5, reject=True), "epoch", 5,
         lambda e: [1.0, 1.5, 0.75, 0.375, 0.5625][e], metrics=[2.0, 3.0, 2.5, 1.0], base=1.0),
    Case("bold driver cut down to 0", lambda: S.BoldDriver(decrease=0.5), "epoch", 1200,
         lambda e: 0.5 ** max(e - 1, 0) * (1.05 if e else 1.0),
         metrics=[1.0] * 1200, base=1.0),
]


def _with_samples(schedule, n_samples):
    schedule.n_samples = n_samples  # what the trainer sets: the size of an epoch
    return schedule


def _ours(case):
    """The case's rates: one per epoch (every step of it checked equal) or one per step."""
    schedule = case.make()
    schedule.start(case.base)
    n_epochs = case.n if case.unit == "epoch" else -(-case.n // STEPS_PER_EPOCH)
    out = []
    for epoch in range(n_epochs):
        rates = schedule.rates(epoch, epoch * STEPS_PER_EPOCH, STEPS_PER_EPOCH,
                               STEPS_PER_EPOCH)
        assert rates.dtype == np.float64 and rates.shape == (STEPS_PER_EPOCH,)
        if case.unit == "epoch":
            assert np.all(rates == rates[0])
            out.append(rates[0])
        else:
            out.extend(rates)
        if case.metrics is not None and epoch < len(case.metrics):
            value = case.metrics[epoch]
            schedule.end_epoch(epoch, {"loss": value, "val_loss": value})
    return np.array(out[:case.n])


def _torch_rates(case):
    torch = pytest.importorskip("torch")
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=case.base)
    scheduler = case.torch(torch.optim.lr_scheduler, opt)
    out = []
    for i in range(case.torch_n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if case.metrics is not None:
            scheduler.step(case.metrics[i])
        else:
            scheduler.step()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_rates_at_and_past_the_boundaries_match_the_closed_form(case):
    got = _ours(case)
    expected = np.array([case.expected(i) for i in range(case.n)])
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    # rtol only: a closed form of exactly 0 must be exactly 0
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


TORCH_CASES = [c for c in CASES if c.torch is not None]


@pytest.mark.parametrize("case", TORCH_CASES, ids=[c.label for c in TORCH_CASES])
def test_rates_match_torch_where_it_has_the_schedule(case):
    expected = _torch_rates(case)
    np.testing.assert_allclose(_ours(case)[:case.torch_n], expected, rtol=1e-10, atol=1e-15)


def test_every_schedule_has_boundary_cases():
    covered = {type(case.make()) for case in CASES}
    missing = [cls.__name__ for cls in SCHEDULE_CLASSES if cls not in covered]
    assert SCHEDULE_CLASSES and not missing, f"add boundary cases for {missing}"


def test_the_cases_reach_zero_where_a_schedule_anneals_to_it():
    # the report's case: annealing to 0 must run, and a 0 is reached exactly
    for label in ("cosine T_max=3 over 6 epochs (the report)",
                  "polynomial to 0 (torch's PolynomialLR)",
                  "step decay: every epoch, underflowing to 0", "bold driver cut down to 0",
                  "lecture decay, underflowing to 0", "warm-up of length 1"):
        case = next(c for c in CASES if c.label == label)
        assert 0.0 in _ours(case), label


def test_huge_epochs_with_warm_restarts_take_no_loop_per_period():
    sched = S.CosineAnnealing(3, restarts=True)
    sched.start(BASE)
    assert sched.rates(3 * 10 ** 12 + 1, 0, 1, 1)[0] == pytest.approx(_cosine(1, 3), rel=1e-12)


# ------------------------------------------------------ what a rate may be
class _Fixed(S.Schedule):
    def __init__(self, values):
        self.values = values

    def step_rates(self, first_step, n_steps, epoch, steps_per_epoch):
        return self.values


def test_a_rate_of_zero_is_valid():
    np.testing.assert_array_equal(_Fixed([0.1, 0.0]).rates(0, 0, 2, 2), [0.1, 0.0])


@pytest.mark.parametrize("bad, shown", [(-1e-9, "-1e-09"), (np.nan, "nan"), (np.inf, "inf"),
                                        (-np.inf, "-inf")])
def test_negative_and_non_finite_rates_are_refused_naming_the_step(bad, shown):
    with pytest.raises(ValueError, match=rf"_Fixed produced the learning rate {shown} at epoch "
                                         r"2, step 7: a rate must be a finite number >= 0"):
        _Fixed([0.1, 0.0, bad]).rates(2, 5, 3, 3)


def test_a_bold_driver_that_grows_without_bound_is_refused():
    sched = S.BoldDriver(increase=2.0)
    sched.start(1.0)
    for e in range(1100):
        sched.end_epoch(e, {"loss": -e})
    with pytest.raises(ValueError, match="BoldDriver produced the learning rate inf"):
        sched.rates(1100, 0, 1, 1)


def test_boundary_arguments():
    assert S.LinearWarmup(0).warmup_steps == 0
    assert S.Polynomial(3, end_lr=0).end_lr == 0.0
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 0"):
        S.LinearWarmup(-1)
    with pytest.raises(ValueError, match="end_lr must be a finite number >= 0"):
        S.Polynomial(3, end_lr=-0.1)


# --------------------------------------------------------- the optimizer's lr
@pytest.mark.parametrize("cls", [fm.optim.SGD, fm.optim.Adam])
def test_an_optimizer_takes_a_rate_of_zero_from_a_schedule_but_starts_positive(cls):
    opt = cls(lr=0.1)
    opt.lr = 0.0
    assert opt.lr == 0.0
    restored = cls(lr=0.5)
    restored.load_state_dict(opt.state_dict())  # a checkpoint taken at rate 0
    assert restored.lr == 0.0
    for bad in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
            opt.lr = bad
    with pytest.raises(ValueError, match="lr must be a positive finite number"):
        cls(lr=0.0)


@pytest.mark.parametrize("make_optimizer", [
    lambda: fm.optim.SGD(0.1, momentum=0.9, weight_decay=1e-3),
    lambda: fm.optim.Adam(0.01),
    lambda: fm.optim.AdamW(0.01, weight_decay=0.1),
], ids=["SGD", "Adam", "AdamW"])
def test_epochs_at_rate_zero_leave_the_parameters_unchanged(rng, make_optimizer):
    # the report: CosineAnnealing(T_max=3) over 6 epochs, in a real fit
    X = rng.standard_normal((96, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    after_epoch = []

    class Keep(fm.Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            after_epoch.append(trainer.model.params.copy())

    opt = make_optimizer()
    model = fm.Model([5, 8, 2], seed=0)
    hist = fm.Trainer(model, opt, batch_size=16, epochs=6, verbose=0, seed=0,
                      schedule=S.CosineAnnealing(3), callbacks=[Keep()]).fit(X, y)
    base = make_optimizer().lr
    np.testing.assert_allclose(hist["lr"], [_cosine(min(e, 3), 3, top=base) for e in range(6)],
                               rtol=1e-12, atol=0)
    assert opt.lr == 0.0
    assert not np.array_equal(after_epoch[1], after_epoch[2])  # epoch 2 trains (rate > 0)
    for e in (3, 4, 5):  # six steps each at rate 0: nothing moves
        np.testing.assert_array_equal(after_epoch[e], after_epoch[2])
