"""Per-weight adaptive learning rates: Adagrad, RMSprop, Adadelta."""

from .._utils.validation import (
    check_nonnegative_float,
    check_positive_float,
    check_unit_interval,
)
from ..kernels import optim as _k
from ._base import Optimizer

__all__ = ["Adagrad", "RMSprop", "Adadelta"]


class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), as ``torch.optim.Adagrad``.

    ::

        G <- G + g^2                                  (G starts at initial_accumulator_value)
        p <- p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(G) + eps)

    The lecture notes (Larson; Kordecki) write ``p - eta / sqrt(G + eps) * g``,
    eps inside the root; PyTorch, and this class, add eps to the root.

    Parameters
    ----------
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
        Coupled L2 penalty.
    initial_accumulator_value : float, default 0
    eps : float, default 1e-10
    """

    kind = _k.ADAGRAD

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10):
        super().__init__()
        self.lr = self._initial_lr(lr)
        self.lr_decay = check_nonnegative_float(lr_decay, "lr_decay")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        self.initial_accumulator_value = check_nonnegative_float(
            initial_accumulator_value, "initial_accumulator_value")
        self.eps = check_positive_float(eps, "eps")

    @property
    def n_slots(self):
        return 1

    def _fill_initial_state(self, state):
        state[0] = self.initial_accumulator_value


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, lecture 6e), as ``torch.optim.RMSprop``.

    ::

        v <- alpha v + (1 - alpha) g^2
        gbar <- alpha gbar + (1 - alpha) g                     (centered only)
        d <- sqrt(v - gbar^2 if centered else v) + eps
        p <- p - lr g / d          or, with momentum mu:  b <- mu b + g / d;  p <- p - lr b

    The Larson notes write ``eta / sqrt(V + eps) * g`` (eps inside the
    root; the Kordecki notes' second gamma in the accumulator stands for
    1 - gamma).  PyTorch, and this class, add eps outside the root.

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant in [0, 1).
    eps : float, default 1e-8
    weight_decay : float, default 0
        Coupled L2 penalty.
    momentum : float, default 0
    centered : bool, default False
        Normalise by the estimated variance instead of the second moment.
    """

    kind = _k.RMSPROP

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__()
        self.lr = self._initial_lr(lr)
        self.alpha = check_unit_interval(alpha, "alpha")
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        self.momentum = check_unit_interval(momentum, "momentum")
        self.centered = bool(centered)

    @property
    def n_slots(self):
        return 1 + int(self.centered) + int(self.momentum != 0)


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``.

    ::

        v  <- rho v + (1 - rho) g^2
        dx <- sqrt(u + eps) / sqrt(v + eps) * g
        u  <- rho u + (1 - rho) dx^2
        p  <- p - lr dx

    Zeiler's rule (and the lecture notes') has no learning rate, ``lr = 1``,
    PyTorch's default.

    Parameters
    ----------
    lr : float, default 1.0
    rho : float, default 0.9
    eps : float, default 1e-6
    weight_decay : float, default 0
        Coupled L2 penalty.
    """

    kind = _k.ADADELTA

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__()
        self.lr = self._initial_lr(lr)
        self.rho = check_unit_interval(rho, "rho")
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    @property
    def n_slots(self):
        return 2
