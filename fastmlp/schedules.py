"""Learning-rate schedules, usable with any optimizer.

The lecture notes (Larson, "Adaptive Strategy: Cooling") start with a large
step and cool it down: a fixed reduction at each epoch (drop by ``d`` every
``k`` epochs, or "drop a little every epoch" ``eta0^(1 + k d)``), or an
adjustment on plateaus; and, as another adaptive strategy, "only decrease
when successive iterations do not decrease cost" (the bold driver).

A schedule is given to :class:`~fastmlp.Trainer` (``schedule=``).  Before
each epoch the trainer asks it for the learning rate of every step of that
epoch (:meth:`Schedule.rates`; the compiled loop reads one value per step,
so per-step schedules cost nothing per batch), and after each epoch shows it
the epoch's metrics (:meth:`Schedule.end_epoch`) for the adaptive ones.
Closed forms, with ``eta0`` the optimizer's learning rate when training
starts, ``e`` the epoch and ``s`` the step (both counting from 0):

===================  =============================================  =======
class                learning rate                                  unit
===================  =============================================  =======
Constant             eta0                                           --
StepDecay            eta0 * gamma^floor(e / step_size)              epoch
MultiStep            eta0 * gamma^(number of milestones <= e)       epoch
Exponential          eta0 * gamma^e, or eta0 * exp(-k e)            epoch
InverseTime          eta0 / (1 + k e)                               epoch
InvScaling           eta0 / (t + 1)^power_t  (scikit-learn)         samples
LectureDecay         eta0^(1 + d e)                                 epoch
Polynomial           (eta0 - end) (1 - e/total)^power + end         epoch
CosineAnnealing      eta_min + (eta0 - eta_min)(1 + cos(pi c/T))/2  epoch
LinearWarmup         ramp to the next schedule's value              step
OneCycle             torch's OneCycleLR (cosine, two phases)        step
ReduceLROnPlateau    torch's ReduceLROnPlateau                      epoch
BoldDriver           grow while the loss falls, cut when it rises   epoch
===================  =============================================  =======
"""

import math

import numpy as np

from ._utils.validation import (
    check_nonnegative_float,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)

__all__ = ["Schedule", "Constant", "StepDecay", "MultiStep", "Exponential", "InverseTime",
           "InvScaling", "LectureDecay", "Polynomial", "CosineAnnealing", "LinearWarmup",
           "OneCycle", "ReduceLROnPlateau", "BoldDriver", "get_schedule", "NAMES"]


class Schedule:
    """Base class.

    Subclasses implement :meth:`epoch_rate` (a rate per epoch) or
    :meth:`step_rates` (a rate per step); adaptive ones override
    :meth:`end_epoch`.  ``base_lr`` is set by :meth:`start`.
    """

    base_lr = None

    def start(self, base_lr):
        """Called when training starts (the first ``fit``) with the optimizer's lr."""
        if self.base_lr is None:
            self.base_lr = float(base_lr)

    def epoch_rate(self, epoch):
        """The learning rate of epoch ``epoch`` (counting from 0)."""
        raise NotImplementedError

    def step_rates(self, first_step, n_steps, epoch, steps_per_epoch):
        """Learning rates for steps first_step .. first_step + n_steps - 1."""
        return np.full(n_steps, self.epoch_rate(epoch))

    def rates(self, epoch, first_step, n_steps, steps_per_epoch):
        """What the trainer calls: a float64 array, one rate per step of the epoch.

        A rate of exactly 0 is valid (the step changes no parameter: where a
        schedule that anneals to 0 ends); a negative or non-finite one is an
        error that names the schedule, the epoch, the step and the value.
        """
        rates = np.asarray(self.step_rates(first_step, n_steps, epoch, steps_per_epoch),
                           dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(rates) & (rates >= 0)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{type(self).__name__} produced the learning rate "
                             f"{float(rates[i])} at epoch {epoch}, step {first_step + i}: a rate "
                             "must be a finite number >= 0")
        return rates

    def end_epoch(self, epoch, logs):
        """See the epoch's metrics; return "reject" to undo the epoch (bold driver)."""
        return None

    def state_dict(self):
        """The schedule's state (plain numbers), for checkpoints."""
        return {k: v for k, v in vars(self).items() if isinstance(v, (int, float, type(None)))}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        for key, value in state.items():
            setattr(self, key, value)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "base_lr")
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """The optimizer's learning rate, unchanged."""

    def epoch_rate(self, epoch):
        return self.base_lr


class StepDecay(Schedule):
    """Drop by ``gamma`` every ``step_size`` epochs: ``eta0 * gamma^floor(e / step_size)``.

    The lecture's "drop by d every k_d epochs" (``d`` = gamma, ``k_d`` = step_size).
    """

    def __init__(self, step_size, gamma=0.1):
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_positive_float(gamma, "gamma")

    def epoch_rate(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStep(Schedule):
    """Multiply by ``gamma`` at each milestone epoch (torch's MultiStepLR)."""

    def __init__(self, milestones, gamma=0.1):
        try:
            stones = sorted(int(m) for m in milestones)
        except (TypeError, ValueError):
            raise ValueError(f"milestones must be epoch numbers, got {milestones!r}") from None
        if any(m < 1 for m in stones):
            raise ValueError(f"milestones must be positive epochs, got {stones}")
        self.milestones = tuple(stones)
        self.gamma = check_positive_float(gamma, "gamma")

    def epoch_rate(self, epoch):
        return self.base_lr * self.gamma ** sum(m <= epoch for m in self.milestones)

    def state_dict(self):
        state = super().state_dict()
        state["milestones"] = list(self.milestones)
        return state


class Exponential(Schedule):
    """``eta0 * gamma^e`` (give ``gamma``) or ``eta0 * exp(-k e)`` (give ``k``)."""

    def __init__(self, gamma=None, k=None):
        if (gamma is None) == (k is None):
            raise ValueError("Exponential takes exactly one of gamma or k")
        self.gamma = None if gamma is None else check_positive_float(gamma, "gamma")
        self.k = None if k is None else check_nonnegative_float(k, "k")

    def epoch_rate(self, epoch):
        if self.gamma is not None:
            return self.base_lr * self.gamma ** epoch
        return self.base_lr * math.exp(-self.k * epoch)


class InverseTime(Schedule):
    """``eta0 / (1 + k e)``."""

    def __init__(self, k):
        self.k = check_nonnegative_float(k, "k")

    def epoch_rate(self, epoch):
        return self.base_lr / (1.0 + self.k * epoch)


class InvScaling(Schedule):
    """scikit-learn's "invscaling": ``eta0 / (t + 1)^power_t``, updated after each epoch.

    ``t`` counts the training samples seen before the epoch (scikit-learn's
    ``t_``), so the first epoch runs at ``eta0``.  ``n_samples`` is the size
    of an epoch; the trainer sets it.
    """

    def __init__(self, power_t=0.5):
        self.power_t = check_nonnegative_float(power_t, "power_t")
        self.n_samples = None

    def epoch_rate(self, epoch):
        seen = epoch * (self.n_samples or 0)
        return self.base_lr / (seen + 1.0) ** self.power_t


class LectureDecay(Schedule):
    """The lecture's "drop a little every epoch": ``eta0^(1 + d e)`` (needs eta0 < 1)."""

    def __init__(self, d):
        self.d = check_positive_float(d, "d")

    def start(self, base_lr):
        super().start(base_lr)
        if not self.base_lr < 1.0:
            raise ValueError(f"LectureDecay needs a learning rate below 1 (eta0^(1 + d e) only "
                             f"decreases then), got {self.base_lr}")

    def epoch_rate(self, epoch):
        return self.base_lr ** (1.0 + self.d * epoch)


class Polynomial(Schedule):
    """``(eta0 - end_lr) * (1 - e / total)^power + end_lr``, then ``end_lr``.

    ``end_lr=0`` is torch's PolynomialLR (the rate reaches 0 at epoch ``total``
    and stays there: the steps after it change nothing).
    """

    def __init__(self, total, power=1.0, end_lr=1e-6):
        self.total = check_positive_int(total, "total")
        self.power = check_positive_float(power, "power")
        self.end_lr = check_nonnegative_float(end_lr, "end_lr")

    def epoch_rate(self, epoch):
        frac = min(epoch, self.total) / self.total
        return (self.base_lr - self.end_lr) * (1.0 - frac) ** self.power + self.end_lr


class CosineAnnealing(Schedule):
    """Cosine annealing over ``T_max`` epochs, with optional warm restarts (SGDR).

    ``eta_min + (eta0 - eta_min) (1 + cos(pi T_cur / T_i)) / 2``; without
    restarts ``T_i = T_max`` and the rate stays at eta_min from epoch T_max on
    (0 by default: those epochs change no parameter; torch's
    CosineAnnealingLR folds back up instead); with ``restarts=True`` the
    period restarts at eta0 and grows by ``T_mult`` each time
    (CosineAnnealingWarmRestarts).
    """

    def __init__(self, T_max, eta_min=0.0, restarts=False, T_mult=1):
        self.T_max = check_positive_int(T_max, "T_max")
        self.eta_min = check_nonnegative_float(eta_min, "eta_min")
        self.restarts = bool(restarts)
        self.T_mult = check_positive_int(T_mult, "T_mult")

    def epoch_rate(self, epoch):
        period, t = self.T_max, epoch
        if self.restarts and self.T_mult == 1:
            t %= period  # (the loop below would take epoch / T_max rounds)
        elif self.restarts:
            while t >= period:  # integers: a restart falls exactly on its epoch
                t -= period
                period *= self.T_mult
        else:
            t = min(t, period)
        cosine = math.cos(math.pi * t / period)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cosine) / 2


class LinearWarmup(Schedule):
    """Ramp linearly over ``warmup_steps`` steps, then follow ``then``.

    Step ``s`` < warmup_steps runs at
    ``(start_factor + (1 - start_factor) * s / warmup_steps)`` times the
    rate ``then`` gives for that step (with the default ``start_factor=0``
    the first step runs at exactly 0 and changes no parameter); composable
    with any other schedule.
    ``warmup_steps=0`` is no warm-up: ``then`` from the first step.
    """

    def __init__(self, warmup_steps, then=None, start_factor=0.0):
        self.warmup_steps = _check_count(warmup_steps, "warmup_steps")
        self.then = Constant() if then is None else then
        if not isinstance(self.then, Schedule):
            raise TypeError("then must be a Schedule")
        self.start_factor = check_unit_interval(start_factor, "start_factor")

    def start(self, base_lr):
        super().start(base_lr)
        self.then.start(base_lr)

    def step_rates(self, first_step, n_steps, epoch, steps_per_epoch):
        after = np.asarray(self.then.step_rates(first_step, n_steps, epoch, steps_per_epoch),
                           dtype=np.float64)
        steps = np.arange(first_step, first_step + n_steps)
        warming = steps < self.warmup_steps
        if not warming.any():  # (also warmup_steps == 0, which has no ramp to divide by)
            return after
        ramp = self.start_factor + (1.0 - self.start_factor) * steps / self.warmup_steps
        return after * np.where(warming, ramp, 1.0)

    def end_epoch(self, epoch, logs):
        return self.then.end_epoch(epoch, logs)

    def state_dict(self):
        state = super().state_dict()
        state["then"] = self.then.state_dict()
        return state

    def load_state_dict(self, state):
        state = dict(state)
        self.then.load_state_dict(state.pop("then"))
        super().load_state_dict(state)


class OneCycle(Schedule):
    """The one-cycle policy (Smith & Topin, 2019) per step, as torch's OneCycleLR.

    From ``max_lr / div_factor`` up to ``max_lr`` over the first ``pct_start``
    of ``total_steps`` (cosine), then down to ``max_lr / div_factor /
    final_div_factor`` (cosine), reached at step ``total_steps - 1``; the
    steps after it stay there (torch refuses to step past the end).
    ``max_lr`` defaults to the optimizer's lr.
    """

    def __init__(self, total_steps, max_lr=None, pct_start=0.3, div_factor=25.0,
                 final_div_factor=1e4):
        self.total_steps = check_positive_int(total_steps, "total_steps")
        self.max_lr = None if max_lr is None else check_positive_float(max_lr, "max_lr")
        self.pct_start = check_unit_interval(pct_start, "pct_start")
        self.div_factor = check_positive_float(div_factor, "div_factor")
        self.final_div_factor = check_positive_float(final_div_factor, "final_div_factor")

    def step_rates(self, first_step, n_steps, epoch, steps_per_epoch):
        top = self.max_lr if self.max_lr is not None else self.base_lr
        initial = top / self.div_factor
        final = initial / self.final_div_factor
        up_end = float(self.pct_start * self.total_steps) - 1.0
        down_end = float(self.total_steps - 1)
        out = np.empty(n_steps)
        for i, s in enumerate(range(first_step, first_step + n_steps)):
            s = min(s, self.total_steps - 1)
            if s <= up_end:
                pct = s / up_end if up_end > 0 else 1.0
                out[i] = _cos_anneal(initial, top, pct)
            else:
                pct = (s - up_end) / (down_end - up_end)
                out[i] = _cos_anneal(top, final, pct)
        return out


def _cos_anneal(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class ReduceLROnPlateau(Schedule):
    """Cut the rate when a metric stops improving (torch's ReduceLROnPlateau semantics).

    After each epoch the monitored value is compared with the best so far:
    an improvement is ``value < best * (1 - threshold)`` (mode "min",
    threshold_mode "rel"), ``value < best - threshold`` ("abs"), and the
    mirror images for mode "max".  After more than ``patience`` epochs
    without one, the rate becomes ``max(lr * factor, min_lr)`` (unless the
    change is smaller than ``eps``), the count restarts and ``cooldown``
    epochs pass before counting again.

    Parameters
    ----------
    monitor : str, default "val_loss"
        History key; falls back to "loss" when there is no validation data.
    mode : {"min", "max"}
    factor : float in (0, 1), default 0.1
    patience : int, default 10
    threshold : float, default 1e-4
    threshold_mode : {"rel", "abs"}
    cooldown : int, default 0
    min_lr : float, default 0
    eps : float, default 1e-8
    """

    def __init__(self, monitor="val_loss", mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        factor = check_positive_float(factor, "factor")
        if not factor < 1:
            raise ValueError(f"factor must be below 1, got {factor}")
        self.monitor, self.mode, self.threshold_mode = monitor, mode, threshold_mode
        self.factor = factor
        self.patience = _check_count(patience, "patience")
        self.threshold = check_nonnegative_float(threshold, "threshold")
        self.cooldown = _check_count(cooldown, "cooldown")
        self.min_lr = check_nonnegative_float(min_lr, "min_lr")
        self.eps = check_nonnegative_float(eps, "eps")
        self.lr = None
        self.best = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def epoch_rate(self, epoch):
        return self.base_lr if self.lr is None else self.lr

    def _better(self, value):
        if self.best is None:
            return True
        if self.mode == "min":
            bound = (self.best * (1 - self.threshold) if self.threshold_mode == "rel"
                     else self.best - self.threshold)
            return value < bound
        bound = (self.best * (1 + self.threshold) if self.threshold_mode == "rel"
                 else self.best + self.threshold)
        return value > bound

    def end_epoch(self, epoch, logs):
        value = _monitored(logs, self.monitor)
        if self.lr is None:
            self.lr = self.base_lr
        if self._better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return None


class BoldDriver(Schedule):
    """The lecture's adaptive strategy: grow the rate while the loss falls, cut it when it rises.

    After each epoch: if the monitored loss is lower than the previous
    epoch's, the rate is multiplied by ``increase``; otherwise by
    ``decrease`` -- and with ``reject=True`` the epoch that raised it is
    undone (the trainer restores the weights and optimizer state of the
    epoch before; the comparison keeps the old loss).

    Parameters
    ----------
    increase : float > 1, default 1.05
    decrease : float in (0, 1), default 0.5
    reject : bool, default False
    monitor : str, default "loss"
    """

    def __init__(self, increase=1.05, decrease=0.5, reject=False, monitor="loss"):
        self.increase = check_positive_float(increase, "increase")
        self.decrease = check_positive_float(decrease, "decrease")
        if not (self.increase > 1 and self.decrease < 1):
            raise ValueError(f"BoldDriver needs increase > 1 and decrease < 1, got "
                             f"{increase}, {decrease}")
        self.reject = bool(reject)
        self.monitor = monitor
        self.lr = None
        self.previous = None

    def epoch_rate(self, epoch):
        return self.base_lr if self.lr is None else self.lr

    def end_epoch(self, epoch, logs):
        value = _monitored(logs, self.monitor)
        if self.lr is None:
            self.lr = self.base_lr
        if self.previous is None or value < self.previous:
            self.previous = value
            self.lr *= self.increase
            return None
        self.lr *= self.decrease
        if self.reject:
            return "reject"
        self.previous = value
        return None


def _monitored(logs, key):
    if key in logs:
        return float(logs[key])
    if key.startswith("val_") and key[4:] in logs:
        return float(logs[key[4:]])
    raise ValueError(f"schedule monitors {key!r} but the epoch logged only: {', '.join(logs)}")


def _check_count(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return int(value)


_SCHEDULES = {
    "constant": Constant, "step": StepDecay, "multistep": MultiStep,
    "exponential": Exponential, "inverse_time": InverseTime, "invscaling": InvScaling,
    "lecture": LectureDecay, "polynomial": Polynomial, "cosine": CosineAnnealing,
    "onecycle": OneCycle, "plateau": ReduceLROnPlateau, "bold_driver": BoldDriver,
}
#: The schedule names :func:`get_schedule` (and ``Trainer(schedule=...)``) accept.
NAMES = tuple(sorted(_SCHEDULES))


def get_schedule(spec, **kwargs):
    """A schedule from a name (see ``NAMES``) or pass an instance (or None) through."""
    if spec is None or isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"schedule must be a name or a Schedule, got {type(spec).__name__}")
    cls = _SCHEDULES.get(spec.strip().lower())
    if cls is None:
        raise ValueError(f"unknown schedule {spec!r}; valid names: {', '.join(NAMES)}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"schedule {spec!r} needs arguments ({exc}); pass an instance such as "
                         f"fastmlp.schedules.{cls.__name__}(...)") from None
