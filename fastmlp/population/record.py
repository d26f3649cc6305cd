"""What a population contributes to an archive: its members' model records, side by side.

A population file (``population.save(path)``, ``fastmlp.save(population,
path)``) and a population's checkpoint hold, besides the archive's header
entries (:mod:`fastmlp.archive.format`):

==================================  ==========================================
member                              content
==================================  ==========================================
``header["population"]``            ``{"size": K, "seeds": [...], "members":
                                    [model entry of member 0, ...]}`` (each as
                                    in a model file's ``"model"`` entry)
``member<k>.model.params``          member k's parameters (and so on: every
                                    array of member k's model record, named
                                    with the prefix ``member<k>.``)
==================================  ==========================================

Reading checks every member as a model file's reader does
(:mod:`fastmlp.archive.model_record`) and that they share one architecture.
"""

from ..archive.format import entry
from ..model import Model

__all__ = ["POPULATION_FORMAT", "population_record", "build_population"]

#: The header's ``"format"`` of a population file.
POPULATION_FORMAT = "fastmlp.population"


def _prefix(k):
    return f"member{k}."


def population_record(population):
    """The header entries and arrays that describe ``population`` in an archive.

    Raises
    ------
    ValueError
        A member's parameters hold NaN or inf (naming the member).
    """
    members, arrays = [], {}
    for k, member in enumerate(population.members):
        try:
            header, member_arrays = member.to_record()
        except ValueError as exc:
            raise ValueError(f"member {k}: {exc}") from None
        members.append(header["model"])
        arrays.update({_prefix(k) + name: value for name, value in member_arrays.items()})
    seeds = [s if isinstance(s, int) else None for s in population.seeds]
    return {"population": {"size": len(members), "seeds": seeds, "members": members}}, arrays


def build_population(population_class, header, arrays, path="<archive>"):
    """A ``population_class`` instance as an archive describes it (see :func:`population_record`).

    Raises
    ------
    ValueError
        Anything missing or malformed in any member (named), or members
        that do not share one architecture.
    """
    info = entry(header, "population", dict, path)
    entries = entry(info, "members", list, path)
    if not entries or entry(info, "size", int, path) != len(entries):
        raise ValueError(f"{path}: the population's size does not match its members")
    seeds = info.get("seeds")
    if not isinstance(seeds, list) or len(seeds) != len(entries):
        raise ValueError(f"{path}: the header entry 'seeds' is missing or malformed")
    models = []
    for k, member in enumerate(entries):
        prefix = _prefix(k)
        mine = {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}
        models.append(Model.from_record({"model": member}, mine, f"{path} (member {k})"))
    try:
        return population_class.from_models(models, seeds)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
