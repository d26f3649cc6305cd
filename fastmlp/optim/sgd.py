"""Stochastic gradient descent with momentum and Nesterov momentum."""

from .._utils.validation import check_nonnegative_float, check_unit_interval
from ..kernels import optim as _k
from ._base import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Mini-batch SGD, optionally with (Nesterov) momentum: ``torch.optim.SGD``'s rule.

    With gradient :math:`g_t`, momentum :math:`\mu`, dampening :math:`\tau`
    and weight decay :math:`\lambda`::

        g   <- g + lambda * p
        b_t <- g                                  (first step)
        b_t <- mu * b_{t-1} + (1 - tau) * g       (later steps)
        d   <- g + mu * b_t   if nesterov  else  b_t
        p   <- p - lr * d

    The lecture notes (Larson, "Optimizing Neural Networks") write momentum
    as :math:`\rho_k = \alpha \nabla J(W_k) + \beta \nabla J(W_{k-1})` and
    the Kordecki notes as :math:`\Delta w(t) = \eta \delta y + \alpha \Delta
    w(t-1)`; the second is this rule with ``tau = 0`` (the step is ``lr``
    times the buffer).  Nesterov's "step twice" look-ahead
    (:math:`\rho_k = \beta \nabla J(W_k + \alpha \nabla J(W_{k-1})) + ...`)
    is applied in the reformulated form above (Sutskever et al., 2013), as
    PyTorch does, so no second gradient evaluation is needed.

    Parameters
    ----------
    lr : float
        Learning rate, > 0.
    momentum : float, default 0
        Momentum factor in [0, 1).
    dampening : float, default 0
        Dampening for momentum, in [0, 1].
    nesterov : bool, default False
        Nesterov momentum (needs momentum > 0 and dampening = 0).
    weight_decay : float, default 0
        L2 penalty coefficient added to the gradient (coupled decay).
    """

    kind = _k.SGD

    def __init__(self, lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__()
        self.lr = self._initial_lr(lr)
        self.momentum = check_unit_interval(momentum, "momentum")
        self.dampening = check_unit_interval(dampening, "dampening", closed_right=True)
        self.nesterov = bool(nesterov)
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")

    @property
    def n_slots(self):
        return 1 if self.momentum != 0 else 0
