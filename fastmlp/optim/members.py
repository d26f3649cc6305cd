"""A value per member of a population for any of an optimizer's numeric hyper-parameters.

``fm.optim.Adam(lr=[1e-3, 3e-3, 1e-2])`` is one optimizer for a population
of three (:class:`fastmlp.Population`): wherever an optimizer takes a number
(``lr``, ``momentum``, ``eps``, ``weight_decay``, ...) or a pair of numbers
(``betas``, ``etas``, ``step_sizes``), a sequence with one value (or pair)
per member may stand instead; every such sequence has the same length, the
population's size.  Member i trains with the optimizer built from the i-th
values (:meth:`~fastmlp.optim.Optimizer.member`), so it equals that optimizer
training the member alone.  A single :class:`~fastmlp.Model` refuses such an
optimizer.

Each optimizer class's ``__init__`` is wrapped once, when the class is made
(:func:`accepting_member_values`), so the classes keep checking plain
values as they always did: the wrapper checks each member's values by
building that member's optimizer.
"""

import functools
import inspect
import numbers

import numpy as np

__all__ = ["accepting_member_values", "per_member_names"]


def _is_sequence(value):
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim >= 1)


def _numeric_default(parameter):
    """Whether a constructor parameter takes a number, or a pair of numbers (by its default)."""
    default = parameter.default
    if isinstance(default, bool):
        return False
    if isinstance(default, numbers.Real):
        return True
    return (isinstance(default, tuple) and len(default) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in default))


def per_member_names(init):
    """The parameters of an optimizer constructor that may take a value per member."""
    return tuple(name for name, p in inspect.signature(init).parameters.items()
                 if name != "self" and _numeric_default(p))


def _values_per_member(arguments, names, pairs):
    """The arguments given one value per member: ``{name: list}`` (empty: none)."""
    found = {}
    for name in names:
        value = arguments.get(name)
        if not _is_sequence(value):
            continue
        if name in pairs:  # a pair itself is one value; a sequence of pairs is per member
            if not all(_is_sequence(v) for v in value):
                continue
        found[name] = [_plain(v) for v in value]
    return found


def _plain(value):
    """A member's value as plain Python (NumPy scalars to numbers, pairs to tuples), so that
    it is stored in checkpoints' JSON as it was given."""
    if _is_sequence(value):
        return tuple(_plain(v) for v in value)
    return value.item() if isinstance(value, np.generic) else value


def accepting_member_values(init):
    """Wrap an optimizer class's ``__init__`` to accept a sequence of values per member.

    The wrapped constructor, given plain values, is the original one.  Given
    sequences (one value per member, all of one length K >= 1), it builds
    the optimizer from the first member's values and records every member's
    arguments (``member_arguments``), checking each member's by building its
    optimizer -- so a bad value for member 3 is refused at once, naming it.
    """
    signature = inspect.signature(init)
    names = per_member_names(init)
    pairs = {n for n in names if isinstance(signature.parameters[n].default, tuple)}

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        per_member = _values_per_member(arguments, names, pairs)
        if not per_member:
            init(self, *args, **kwargs)
            return
        lengths = {name: len(values) for name, values in per_member.items()}
        if len(set(lengths.values())) > 1 or 0 in lengths.values():
            listed = ", ".join(f"{n} has {k}" for n, k in lengths.items())
            raise ValueError(f"{type(self).__name__}: values per member of a population must "
                             f"be sequences of one length >= 1 (the population's size); "
                             f"{listed}")
        size = next(iter(lengths.values()))
        members = [{**arguments, **{n: v[i] for n, v in per_member.items()}}
                   for i in range(size)]
        for i, member in enumerate(members[1:], start=1):
            try:
                type(self)(**member)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"member {i}: {exc}") from None
        init(self, **members[0])
        self.member_arguments = members
        self.per_member = tuple(per_member)

    return __init__
