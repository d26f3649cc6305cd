"""Optimizers over the flat parameter buffer.

Every optimizer updates a flat buffer in place with one per-element kernel::

    opt = fastmlp.optim.Adam(lr=1e-3)
    opt.step(params, grad)

Names, defaults and update rules follow ``torch.optim``; each class's
docstring gives the rule and, where the lecture notes write a variant, both.
Gradient clipping, penalties and decoupled weight decay are separate pieces
composed with :func:`chain` (see :mod:`fastmlp.optim.transforms`).
:class:`LBFGS` runs ``scipy.optimize.minimize`` over the same buffer.
"""

from ._base import Optimizer
from .adam import Adam, Adamax, AdamW, NAdam, RAdam
from .adaptive import Adadelta, Adagrad, RMSprop
from .chaining import chain
from .lbfgs import LBFGS
from .rprop import Rprop
from .sgd import SGD
from .solver import Solver
from .transforms import L1, L2, ClipByGlobalNorm, ClipByValue, DecoupledWeightDecay

#: The lecture notes' spellings.
AdaGrad = Adagrad
RMSProp = RMSprop
AdaDelta = Adadelta
AdaMax = Adamax

__all__ = ["Solver", "Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad",
           "RMSprop", "Adadelta", "Rprop", "LBFGS", "AdaGrad", "RMSProp", "AdaDelta", "AdaMax",
           "chain", "ClipByGlobalNorm", "ClipByValue", "L2", "L1", "DecoupledWeightDecay",
           "get_optimizer", "NAMES"]

_REGISTRY = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "adamax": Adamax, "nadam": NAdam,
             "radam": RAdam, "adagrad": Adagrad, "rmsprop": RMSprop, "adadelta": Adadelta,
             "rprop": Rprop, "lbfgs": LBFGS}
#: The optimizer names :func:`get_optimizer` (and ``Trainer(optimizer=...)``) accept.
NAMES = tuple(sorted(_REGISTRY))


def get_optimizer(spec, **kwargs):
    """An optimizer from a name (``"adam"``, ``"sgd"``, ...) or pass an instance through.

    Parameters
    ----------
    spec : str or Optimizer
    **kwargs
        Constructor arguments, e.g. ``lr=0.01``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    if isinstance(spec, Solver):
        if kwargs:
            raise ValueError("pass constructor arguments only with an optimizer name")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, got {type(spec).__name__}")
    key = spec.strip().lower().replace("-", "").replace("_", "")
    cls = _REGISTRY.get(key)
    if cls is None:
        raise ValueError(f"unknown optimizer {spec!r}; valid names: {', '.join(NAMES)}")
    return cls(**kwargs)
