"""Gradient transforms that compose with any optimizer (the optax idea).

Instead of a clipping flag or a penalty argument on every optimizer, these
pieces are chained in front of one::

    opt = fm.optim.chain(fm.optim.ClipByGlobalNorm(1.0), fm.optim.L1(1e-5),
                         fm.optim.Adam(lr=1e-3))

They run inside the optimizer's per-element kernel, in this fixed order,
which :func:`~fastmlp.optim.chain` checks the given order against:

1. :class:`ClipByGlobalNorm` -- ``g <- g * min(1, max_norm / (||g||_2 + 1e-6))``
   (as ``torch.nn.utils.clip_grad_norm_``; needs the whole gradient first,
   so training with it takes the unfused update path)
2. :class:`ClipByValue` -- ``g <- clip(g, -value, value)``
3. :class:`L2` -- coupled weight decay, ``g <- g + coefficient * p``
   (what ``weight_decay`` means in torch's SGD and Adam);
   :class:`L1` -- ``g <- g + coefficient * sign(p)``
4. the optimizer's own rule;
   :class:`DecoupledWeightDecay` -- ``p <- p * (1 - lr * coefficient)``
   before the rule's step (Loshchilov & Hutter; what AdamW does).

They change the update only, not the reported loss; penalties that belong
to the objective (in the loss value and its gradient) are the model's
``l2``/``l1`` (see :class:`fastmlp.Model`).
"""

from .._utils.validation import check_positive_float
from ..kernels import optim as _k

__all__ = ["ClipByGlobalNorm", "ClipByValue", "L2", "L1", "DecoupledWeightDecay",
           "GradientTransform", "from_description"]


class GradientTransform:
    """A transform with one positive coefficient, written into the kernel's hyper array."""

    #: position in the fixed order (see the module docstring)
    rank = 0
    slot = None
    global_ = False

    def __init__(self, value):
        self.value = check_positive_float(value, f"{type(self).__name__} value")

    def apply(self, hyper):
        """Write (add) this transform's coefficient into the kernel hyper array."""
        if self.slot in (_k.L2, _k.L1, _k.DECOUPLED):
            hyper[self.slot] += self.value
        else:
            hyper[self.slot] = self.value

    def __repr__(self):
        return f"{type(self).__name__}({self.value:g})"


class ClipByGlobalNorm(GradientTransform):
    """Scale the gradient so its global L2 norm is at most ``max_norm``."""

    rank = 0
    slot = _k.CLIP_NORM
    global_ = True

    def __init__(self, max_norm):
        super().__init__(max_norm)


class ClipByValue(GradientTransform):
    """Clip every gradient element to [-value, value]."""

    rank = 1
    slot = _k.CLIP_VALUE


class L2(GradientTransform):
    """Coupled L2 penalty / weight decay: add ``coefficient * p`` to the gradient."""

    rank = 2
    slot = _k.L2


class L1(GradientTransform):
    """L1 penalty: add ``coefficient * sign(p)`` to the gradient."""

    rank = 2
    slot = _k.L1


class DecoupledWeightDecay(GradientTransform):
    """Decoupled weight decay: ``p <- p * (1 - lr * coefficient)`` before each step."""

    rank = 4
    slot = _k.DECOUPLED


_PIECES = {cls.__name__: cls for cls in (ClipByGlobalNorm, ClipByValue, L2, L1,
                                         DecoupledWeightDecay)}


def from_description(description):
    """Rebuild a transform from ``(class name, value)`` (as in ``state_dict``)."""
    name, value = description
    if name not in _PIECES:
        raise ValueError(f"unknown gradient transform {name!r}; valid: {', '.join(_PIECES)}")
    return _PIECES[name](value)
