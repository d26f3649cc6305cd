"""Optimizers over the flat parameter buffer.

Every optimizer updates a flat buffer in place with one per-element kernel::

    opt = fastmlp.optim.Adam(lr=1e-3)
    opt.step(params, grad)

Names, defaults and update rules follow ``torch.optim``; each class's
docstring gives the rule and, where the lecture notes write a variant, both.
"""

from ._base import Optimizer
from .adam import Adam
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "get_optimizer", "NAMES"]

_REGISTRY = {"sgd": SGD, "adam": Adam}
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
    if isinstance(spec, Optimizer):
        if kwargs:
            raise ValueError("pass constructor arguments only with an optimizer name")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"optimizer must be a name or an Optimizer, got {type(spec).__name__}")
    cls = _REGISTRY.get(spec.strip().lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {spec!r}; valid names: {', '.join(NAMES)}")
    return cls(**kwargs)
