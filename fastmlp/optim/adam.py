"""Adam and its relatives: AdamW, Adamax, NAdam, RAdam."""

import numpy as np

from .._utils.validation import (
    check_nonnegative_float,
    check_positive_float,
    check_unit_interval,
)
from ..kernels import optim as _k
from ._base import Optimizer

__all__ = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"]


def _betas(betas):
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return check_unit_interval(beta1, "betas[0]"), check_unit_interval(beta2, "betas[1]")


class _AdamFamily(Optimizer):
    """lr, betas, eps and weight decay, shared by the Adam family."""

    def __init__(self, lr, betas, eps, weight_decay):
        super().__init__()
        self.lr = self._initial_lr(lr)
        self.beta1, self.beta2 = _betas(betas)
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")

    @property
    def betas(self):
        """(beta1, beta2)."""
        return (self.beta1, self.beta2)

    @property
    def n_slots(self):
        return 2


class _DecoupledOption:
    """``decoupled_weight_decay``: weight decay as ``p <- p (1 - lr wd)`` instead of in g."""

    _extra_settings = ("decoupled_weight_decay",)

    def _coupled_decay(self):
        return 0.0 if self.decoupled_weight_decay else self.weight_decay

    def _decoupled_decay(self):
        return self.weight_decay if self.decoupled_weight_decay else 0.0


class Adam(_AdamFamily):
    r"""Adam (Kingma & Ba, 2015) with ``torch.optim.Adam``'s update rule.

    All operations are element-wise; ``t`` counts steps from 1::

        g   <- g + weight_decay * p
        m_t <- beta1 m_{t-1} + (1 - beta1) g
        v_t <- beta2 v_{t-1} + (1 - beta2) g^2
        p   <- p - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)

    which is the paper's ``p - lr * mhat / (sqrt(vhat) + eps)`` with the bias
    corrections ``mhat = m / (1 - beta1^t)``, ``vhat = v / (1 - beta2^t)``.
    The Larson lecture notes write the denominator ``sqrt(vhat + eps)``
    (eps inside the root); the Kordecki notes and PyTorch put eps outside, as
    here.  With ``amsgrad=True`` the denominator uses the running maximum of
    ``v_t`` (Reddi et al., 2018).

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.
    weight_decay : float, default 0
        L2 penalty added to the gradient (coupled; see AdamW for decoupled).
    amsgrad : bool, default False
    """

    kind = _k.ADAM

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay)
        self.amsgrad = bool(amsgrad)

    @property
    def n_slots(self):
        return 3 if self.amsgrad else 2


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``.

    ``p <- p * (1 - lr * weight_decay)``, then the Adam step without any
    penalty in the gradient.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    amsgrad : bool, default False
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad)

    def _coupled_decay(self):
        return 0.0

    def _decoupled_decay(self):
        return self.weight_decay


class Adamax(_AdamFamily):
    r"""Adamax, Adam with the infinity norm (Kingma & Ba, 2015, sec. 7), as ``torch.optim.Adamax``.

    ::

        m <- beta1 m + (1 - beta1) g
        u <- max(beta2 u, |g| + eps)
        p <- p - lr / (1 - beta1^t) * m / u

    The Kordecki notes present AdaMax with ``u <- max(beta2 u, |g|)`` and no
    eps; PyTorch adds eps inside the max so that u is never 0, as here.

    Parameters
    ----------
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
        Coupled L2 penalty.
    """

    kind = _k.ADAMAX

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr, betas, eps, weight_decay)


class NAdam(_DecoupledOption, _AdamFamily):
    r"""Adam with Nesterov momentum (Dozat, 2016), as ``torch.optim.NAdam``.

    With the momentum schedule ``mu_t = beta1 (1 - 0.5 * 0.96^(t * psi))``
    (``psi`` = momentum_decay)::

        m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
        d <- sqrt(v / (1 - beta2^t)) + eps
        p <- p - lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) g / d
               - lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) m / d

    The lecture notes describe NAdaM as "Adam with Nesterov's acceleration";
    this is that, with Dozat's momentum warming schedule.

    Parameters
    ----------
    lr : float, default 2e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum_decay : float, default 4e-3
    decoupled_weight_decay : bool, default False
        Apply weight_decay as ``p <- p (1 - lr wd)`` instead of in the gradient.
    """

    kind = _k.NADAM

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False):
        super().__init__(lr, betas, eps, weight_decay)
        self.momentum_decay = check_nonnegative_float(momentum_decay, "momentum_decay")
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    def _initial_scalar_state(self):
        state = np.zeros(_k.SCALAR_STATE)
        state[0] = 1.0  # running product of the momenta mu_1 ... mu_t
        return state


class RAdam(_DecoupledOption, _AdamFamily):
    r"""Rectified Adam (Liu et al., 2020), as ``torch.optim.RAdam``.

    With ``rho_inf = 2 / (1 - beta2) - 1`` and
    ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)``: while ``rho_t <= 5``
    the step is momentum SGD, ``p <- p - lr m / (1 - beta1^t)``; after it,
    Adam's step scaled by the variance rectification
    ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))``::

        p <- p - lr m / (1 - beta1^t) * r_t sqrt(1 - beta2^t) / (sqrt(v) + eps)

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    decoupled_weight_decay : bool, default False
    """

    kind = _k.RADAM

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False):
        super().__init__(lr, betas, eps, weight_decay)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)
