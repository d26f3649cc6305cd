"""A population: K models of one architecture whose arrays are rows of shared buffers.

Hyper-parameter searches, deep ensembles and multi-seed studies train many
small models that share an architecture, a batch size and the data.  A
:class:`Population` holds them as one object: member k is an ordinary
:class:`~fastmlp.Model` whose parameters, running statistics and per-layer
settings are row k of the population's stacked buffers, so the whole
population trains in one compiled loop (:class:`fastmlp.Trainer` accepts a
population) while every member stays usable, savable and exportable alone.
"""

import copy
from collections import namedtuple

import numpy as np

from .._utils.validation import check_array, check_positive_int, check_seed
from ..archive.format import CHECKPOINT_FORMAT, read_archive, write_archive
from ..engine.population import MemberArrays
from ..kernels import network as _kn
from ..kernels import penalty as _kp
from ..model import Model
from .record import POPULATION_FORMAT, build_population, population_record

__all__ = ["Population", "PopulationState", "MEMBER_OPTIONS"]

#: The Model options a population's members may hold each their own value of
#: (Population's keyword arguments); everything else is the template's.
MEMBER_OPTIONS = ("l1", "l2", "dropout", "dropconnect")

#: The configuration entries members may differ in (their per-layer settings
#: and penalties: the rows of the population's ``layer_f`` and ``reg``).
_VARYING = ("l1", "l2", "penalize_biases", "dropout", "dropconnect", "bn_momentum", "bn_eps")

#: A population's trained state at one moment (:meth:`Population.snapshot`):
#: copies of its ``params`` (K, n_params) and ``running_stats`` (K, n_running).
PopulationState = namedtuple("PopulationState", ["params", "running_stats"])


class Population:
    """K models of one architecture, trained together on the same batches.

    Parameters
    ----------
    template : Model
        The architecture, activations, output, loss, dtype, initialisation,
        batch normalisation, preprocessing and options every member starts
        from (its own weights are not used).
    size : int, optional
        The number of members K; by default the length of ``seeds`` or of a
        per-member option.
    seeds : sequence of int, optional
        Member i's initial weights are drawn from ``seeds[i]`` (as
        ``Model(..., seed=seeds[i])`` draws them); by default ``seed, seed +
        1, ...``.
    seed : int, optional
        The first default seed (None: a random one, recorded in
        :attr:`seeds`).
    l1, l2, dropout, dropconnect : float or sequence of K values, optional
        A member's own value of the Model option (a sequence with one entry
        per member; an entry of ``dropout`` or ``dropconnect`` may itself be
        a per-layer list, as for :class:`~fastmlp.Model`).  A single value
        applies to every member; None keeps the template's.

    Attributes
    ----------
    members : tuple of Model
        ``members[i]`` is an ordinary model whose ``params`` is row i of
        :attr:`params` (a view): its ``predict``, ``evaluate``, ``save`` and
        export work as for any model, and what changes it changes the
        population.
    params : ndarray of shape (K, n_params)
        Every member's parameters, member after member.
    running_stats : ndarray of shape (K, n_running)
    seeds : tuple of int

    Examples
    --------
    >>> import fastmlp as fm
    >>> template = fm.Model([64, 128, 10])
    >>> pop = fm.Population(template, size=4, seed=0, l2=[0, 1e-4, 1e-3, 1e-2])
    >>> pop.params.shape
    (4, 9610)
    """

    def __init__(self, template, size=None, seeds=None, seed=None, l1=None, l2=None,
                 dropout=None, dropconnect=None):
        if not isinstance(template, Model):
            raise TypeError(f"template must be a fastmlp.Model, got {type(template).__name__}")
        options = {"l1": l1, "l2": l2, "dropout": dropout, "dropconnect": dropconnect}
        per_member = {name: list(value) for name, value in options.items()
                      if isinstance(value, (list, tuple, np.ndarray))}
        size = _population_size(size, seeds, per_member)
        if seeds is None:
            first = check_seed(seed)
            if first is None or isinstance(first, np.random.Generator):
                first = int(np.random.default_rng(first).integers(0, 2**31 - 1 - size))
            seeds = [first + i for i in range(size)]
        seeds = [check_seed(s) for s in seeds]
        if any(not isinstance(s, int) for s in seeds):
            raise ValueError("seeds must be non-negative integers")
        config = template.get_config()
        members = []
        for i in range(size):
            member_config = dict(config)
            for name, value in options.items():
                if value is not None:
                    member_config[name] = per_member[name][i] if name in per_member else value
            try:
                member = Model.from_config(member_config)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"member {i}: {exc}") from None
            member.init = template.init
            member.reinitialize(seeds[i])
            member.preprocessing = copy.deepcopy(template.preprocessing)
            member.metadata = copy.deepcopy(template.metadata)
            members.append(member)
        self._assemble(members, seeds)

    @classmethod
    def from_models(cls, models, seeds=None):
        """A population of copies of ``models`` (one architecture; the options of
        :data:`MEMBER_OPTIONS`, batch-norm momentum and eps may differ).

        Raises
        ------
        ValueError
            Fewer than one model, or models whose architecture, loss, dtype
            or preprocessing differ (named in the message).
        """
        models = list(models)
        if not models or not all(isinstance(m, Model) for m in models):
            raise ValueError("from_models needs a non-empty sequence of fastmlp.Model")
        first = _shared_config(models[0])
        for i, m in enumerate(models[1:], start=1):
            differ = sorted(k for k, v in _shared_config(m).items() if first.get(k) != v)
            if differ:
                raise ValueError(f"model {i} differs from model 0 in {', '.join(differ)}: a "
                                 "population's members share the architecture")
            _check_same_preprocessing(models[0], m, i)
        return cls._from_members([m.copy() for m in models],
                                 [None] * len(models) if seeds is None else list(seeds))

    @classmethod
    def _from_members(cls, members, seeds):
        """A population whose members are ``members`` (their arrays move in)."""
        self = cls.__new__(cls)
        self._assemble(members, seeds)
        return self

    def _assemble(self, members, seeds):
        """Move the members' arrays into the stacked buffers, rows in member order."""
        first = members[0]
        n = len(members)
        engine = first.engine
        self._arrays = MemberArrays(
            params=np.zeros((n, first.n_params), dtype=first.dtype),
            running=np.zeros((n, first.running_stats.size), dtype=first.dtype),
            layer_f=np.zeros((n,) + engine.layer_f.shape),
            reg=np.zeros((n,) + engine.reg.shape))
        for k, member in enumerate(members):
            member.use_buffers(self._arrays.params[k], self._arrays.running[k],
                               self._arrays.layer_f[k], self._arrays.reg[k])
        self.members = tuple(members)
        self.seeds = tuple(seeds)

    # ------------------------------------------------------------- structure
    @property
    def size(self):
        """The number of members K."""
        return len(self.members)

    def __len__(self):
        return len(self.members)

    def __getitem__(self, i):
        return self.members[i]

    def __iter__(self):
        return iter(self.members)

    @property
    def arrays(self):
        """The stacked buffers the kernels train
        (:class:`~fastmlp.engine.population.MemberArrays`)."""
        return self._arrays

    @property
    def params(self):
        """Every member's parameters, (K, n_params): row i is ``members[i].params``."""
        return self._arrays.params

    @property
    def running_stats(self):
        """Every member's batch-norm running statistics, (K, n_running)."""
        return self._arrays.running

    @property
    def engines(self):
        """The members' engines, in member order."""
        return [m.engine for m in self.members]

    def __getattr__(self, name):
        # what every member shares (architecture, loss, dtype, preprocessing)
        # reads off the first; per-member options are listed by member_values
        if name in _SHARED_ATTRIBUTES:
            return getattr(self.__dict__["members"][0], name)
        raise AttributeError(f"'Population' object has no attribute {name!r}")

    def member_values(self, name):
        """Each member's value of a Model option (``"l2"``, ``"dropout"``, ...), a list."""
        return [getattr(m, name) for m in self.members]

    @property
    def stochastic(self):
        """Whether any member draws dropout or DropConnect masks in training."""
        return any(m.stochastic for m in self.members)

    @property
    def uses_penalty(self):
        """Whether any member's objective has an L1 or L2 penalty."""
        reg = self._arrays.reg
        return bool((reg[:, _kp.L2] > 0).any() or (reg[:, _kp.L1] > 0).any())

    @property
    def uses_dropconnect(self):
        """Whether any member uses DropConnect."""
        return bool((self._arrays.layer_f[:, :, _kn.DROPCONNECT] > 0).any())

    def __repr__(self):
        varying = [f"{name}={self.member_values(name)}" for name in MEMBER_OPTIONS
                   if len({repr(v) for v in self.member_values(name)}) > 1]
        extra = "".join(", " + v for v in varying)
        return f"Population(size={self.size}{extra}, members like {self.members[0]!r})"

    # ----------------------------------------------------------- prediction
    def predict(self, X, reduce=None):
        """Every member's output, or their mean (a deep ensemble's prediction).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        reduce : {None, "mean"}, default None

        Returns
        -------
        ndarray of shape (K, n_samples, n_outputs), or (n_samples, n_outputs)
        with ``reduce="mean"``
        """
        if reduce not in (None, "mean"):
            raise ValueError(f"reduce must be None or 'mean', got {reduce!r}")
        # checked (and a list converted) once, not once per member
        X = check_array(X, self.dtype, self.n_inputs, "X", convert=False, sparse=True)
        out = np.stack([m.predict(X) for m in self.members])
        if reduce == "mean":
            return out.mean(axis=0, dtype=np.float64).astype(self.dtype, copy=False)
        return out

    def evaluate(self, X, Y, sample_weight=None):
        """Each member's objective and metric on (X, Y): a dict of (K,) float64 arrays
        (the keys of :meth:`fastmlp.Model.evaluate`)."""
        scores = [m.evaluate(X, Y, sample_weight) for m in self.members]
        return {key: np.array([s[key] for s in scores]) for key in scores[0]}

    # ---------------------------------------------------------------- state
    def snapshot(self, into=None):
        """Copies of every member's parameters and running statistics
        (:class:`PopulationState`; ``into``: an earlier one, overwritten)."""
        if into is None:
            return PopulationState(self.params.copy(), self.running_stats.copy())
        into.params[...] = self.params
        into.running_stats[...] = self.running_stats
        return into

    def restore(self, state, members=None):
        """Put back a :meth:`snapshot`, in place: every member's, or those listed."""
        rows = slice(None) if members is None else np.asarray(members, dtype=np.int64)
        self.params[rows] = state.params[rows]
        self.running_stats[rows] = state.running_stats[rows]

    def copy(self):
        """An independent population with the same members' values and seeds."""
        return Population.from_models(self.members, self.seeds)

    # ---------------------------------------------------------------- files
    def to_record(self):
        """The header entries and arrays that describe the population in an archive
        (:mod:`fastmlp.population.record`)."""
        return population_record(self)

    @classmethod
    def from_record(cls, header, arrays, path="<archive>"):
        """The population an archive's header and arrays describe."""
        return build_population(cls, header, arrays, path)

    def save(self, path):
        """Write the population to one .npz file, atomically (its members' records side by
        side; read back with :meth:`load` or ``fastmlp.load``)."""
        header, arrays = self.to_record()
        write_archive(path, {"format": POPULATION_FORMAT, **header}, arrays)

    @classmethod
    def load(cls, path):
        """Read a population file, or the population of a population's checkpoint.

        Raises OSError for a missing or unreadable file, ValueError for
        anything else that is wrong with it (naming the file and the member).
        """
        header, arrays = read_archive(path, (POPULATION_FORMAT, CHECKPOINT_FORMAT))
        if "population" not in header:
            raise ValueError(f"{path} holds one model, not a population (fastmlp.load reads it)")
        return cls.from_record(header, arrays, path)


#: Model attributes a population reads off its first member (every member's are equal).
_SHARED_ATTRIBUTES = ("layer_sizes", "n_inputs", "n_outputs", "activations", "output", "loss",
                      "dtype", "n_params", "batch_norm", "layout", "preprocessing",
                      "prepare_rows", "prepare_inputs", "fit_preprocessing")


def _population_size(size, seeds, per_member):
    """K from ``size``, ``seeds`` and the per-member options, which must agree."""
    given = {} if size is None else {"size": check_positive_int(size, "size")}
    if seeds is not None:
        given["seeds"] = len(seeds)
    given.update({name: len(values) for name, values in per_member.items()})
    if not given:
        raise ValueError("Population needs its size: size=K, seeds, or an option with one "
                         "value per member")
    if len(set(given.values())) > 1 or 0 in given.values():
        listed = ", ".join(f"{name} {n}" for name, n in given.items())
        raise ValueError(f"the population's size is ambiguous: {listed}")
    return next(iter(given.values()))


def _shared_config(model):
    """The configuration entries every member of a population must share."""
    return {k: v for k, v in model.get_config().items() if k not in _VARYING}


def _check_same_preprocessing(first, other, i):
    a, b = first.preprocessing, other.preprocessing
    if (a is None) != (b is None):
        raise ValueError(f"model {i}'s preprocessing differs from model 0's")
    if a is None or not (a.is_fitted or b.is_fitted):
        return
    sa, sb = (a.state_dict() if a.is_fitted else None), (b.state_dict() if b.is_fitted else None)
    same = sa is not None and sb is not None and sa.keys() == sb.keys() and all(
        np.array_equal(np.asarray(sa[k]), np.asarray(sb[k])) for k in sa)
    if not same:
        raise ValueError(f"model {i}'s fitted preprocessing differs from model 0's: a "
                         "population's members see the same prepared inputs")

