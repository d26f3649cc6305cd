"""Chaining gradient transforms in front of an optimizer: :func:`chain`."""

from ..kernels import optim as _k
from ._base import Optimizer
from .transforms import GradientTransform

__all__ = ["chain"]


def chain(*pieces):
    """Compose gradient transforms with an optimizer into one optimizer.

    Parameters
    ----------
    *pieces : GradientTransform and exactly one Optimizer
        In the order they apply (see the module docstring for the order the
        kernel applies them in; another order is refused).

    Returns
    -------
    Optimizer
        A copy of the given optimizer carrying the transforms.

    Raises
    ------
    ValueError
        No optimizer, two optimizers, an unknown piece, a transform twice
        (L2/L1/decay may repeat; they add up) or an order the kernel cannot
        apply.
    """
    optimizers = [p for p in pieces if isinstance(p, Optimizer)]
    if len(optimizers) != 1:
        raise ValueError(f"chain needs exactly one optimizer, got {len(optimizers)}")
    opt = optimizers[0]
    transforms = []
    rank_of = {}
    for p in pieces:
        if isinstance(p, Optimizer):
            rank_of[id(p)] = 3
            continue
        if not isinstance(p, GradientTransform):
            raise TypeError(f"chain takes gradient transforms and one optimizer, got "
                            f"{type(p).__name__}")
        # a clip holds one slot: one already on the given optimizer counts too
        if p.slot in (_k.CLIP_NORM, _k.CLIP_VALUE) and any(
                type(q) is type(p) for q in tuple(opt.transforms) + tuple(transforms)):
            raise ValueError(f"{type(p).__name__} appears twice in the chain")
        transforms.append(p)
        rank_of[id(p)] = p.rank
    ranks = [rank_of[id(p)] for p in pieces]
    if ranks != sorted(ranks):
        order = ("ClipByGlobalNorm, ClipByValue, L2/L1, the optimizer, "
                 "DecoupledWeightDecay")
        raise ValueError(f"chain order not supported; the transforms apply as: {order}")
    result = opt.copy()
    result.transforms = tuple(opt.transforms) + tuple(transforms)
    return result
