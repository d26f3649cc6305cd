"""Rprop: resilient back-propagation, a full-batch method."""

from .._utils.validation import check_positive_float
from ..kernels import optim as _k
from ._base import Optimizer

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun, 1992), as ``torch.optim.Rprop`` (the iRprop- variant).

    Only the sign of the gradient is used, with a step size per weight::

        s = sign(g * g_prev)
        step <- clip(step * (eta_plus if s > 0, eta_minus if s < 0, 1 if s = 0),
                     step_size_min, step_size_max)            (steps start at lr)
        g <- 0 where s < 0        (skip the update after a sign change)
        p <- p - sign(g) * step;   g_prev <- g

    The Kordecki notes describe Rprop with factors 1.2 and 0.5 and warn that
    it is meant for full batches: with mini-batches the signs of successive
    gradients disagree for reasons that have nothing to do with the
    curvature, and steps that should average out do not.  The
    :class:`~fastmlp.Trainer` warns when it is used with mini-batches.

    Parameters
    ----------
    lr : float, default 1e-2
        Initial step size.
    etas : (float, float), default (0.5, 1.2)
        (eta_minus, eta_plus), with 0 < eta_minus < 1 < eta_plus.
    step_sizes : (float, float), default (1e-6, 50)
        (step_size_min, step_size_max).
    """

    kind = _k.RPROP
    full_batch = True

    def __init__(self, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)):
        super().__init__()
        self.lr = self._initial_lr(lr)
        try:
            eta_minus, eta_plus = etas
            smin, smax = step_sizes
        except (TypeError, ValueError):
            raise ValueError("etas and step_sizes must be pairs") from None
        self.eta_minus = check_positive_float(eta_minus, "etas[0]")
        self.eta_plus = check_positive_float(eta_plus, "etas[1]")
        if not self.eta_minus < 1.0 < self.eta_plus:
            raise ValueError(f"etas must satisfy 0 < eta_minus < 1 < eta_plus, got {etas!r}")
        self.step_size_min = check_positive_float(smin, "step_sizes[0]")
        self.step_size_max = check_positive_float(smax, "step_sizes[1]")
        if self.step_size_min > self.step_size_max:
            raise ValueError(f"step_sizes must be (min, max) with min <= max, got {step_sizes!r}")

    @property
    def etas(self):
        return (self.eta_minus, self.eta_plus)

    @property
    def step_sizes(self):
        return (self.step_size_min, self.step_size_max)

    @property
    def n_slots(self):
        return 2
