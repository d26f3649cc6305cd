"""Adam (adaptive moment estimation) and its AMSGrad variant."""

from .._validation import check_nonnegative_float, check_positive_float, check_unit_interval
from ..kernels import optim as _k
from ._base import Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
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
    hyper_names = _k.ADAM_HYPER

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__()
        self.lr = lr
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.beta1 = check_unit_interval(beta1, "betas[0]")
        self.beta2 = check_unit_interval(beta2, "betas[1]")
        self.eps = check_positive_float(eps, "eps")
        self.weight_decay = check_nonnegative_float(weight_decay, "weight_decay")
        self.amsgrad = bool(amsgrad)

    @property
    def betas(self):
        """(beta1, beta2)."""
        return (self.beta1, self.beta2)

    @property
    def n_slots(self):
        return 3 if self.amsgrad else 2
