"""Search spaces: distributions over the hyper-parameters of a model and its training.

A space maps hyper-parameter names (:data:`PARAMETERS`) to values:

- a distribution: :func:`loguniform`, :func:`uniform`, :func:`randint`,
  :func:`choice`, or any object with an ``rvs(random_state=...)`` method
  (``scipy.stats`` distributions);
- a list: a choice among its entries (``activation=["relu", "tanh"]``);
- anything else: a constant (``batch_size=64``; ``hidden=(128, 64)`` -- a
  tuple is one architecture, a list of tuples a choice among several).
"""

import json
import math
import numbers
import os

import numpy as np

from ..activations import NAMES as ACTIVATIONS
from ..optim import NAMES as OPTIMIZERS

__all__ = ["PARAMETERS", "Space", "loguniform", "uniform", "randint", "choice",
           "Distribution", "read_space"]

#: The hyper-parameters a space may name, and what each sets.
PARAMETERS = {
    "hidden": "hidden layer sizes (Model layer_sizes between inputs and outputs)",
    "activation": f"hidden activation ({', '.join(ACTIVATIONS)})",
    "init": "weight initialisation (Model init)",
    "l2": "L2 penalty (Model l2)",
    "l1": "L1 penalty (Model l1)",
    "dropout": "dropout rate of the hidden outputs (Model dropout)",
    "dropconnect": "DropConnect rate (Model dropconnect)",
    "batch_norm": "batch normalisation (Model batch_norm)",
    "optimizer": f"optimizer name ({', '.join(OPTIMIZERS)})",
    "lr": "learning rate (optimizer lr)",
    "momentum": "momentum (optimizers that take one: sgd, rmsprop; ignored by the others)",
    "weight_decay": "weight decay (optimizer weight_decay)",
    "schedule": "learning-rate schedule name (Trainer schedule)",
    "batch_size": "samples per update (Trainer batch_size)",
    "epochs": "epochs of training (Trainer epochs)",
}


class Distribution:
    """Base class of the distributions a space samples from."""

    #: Whether coarse-to-fine rounds narrow its range.
    numeric = False

    def sample(self, rng):
        """One value drawn with the numpy Generator ``rng``."""
        raise NotImplementedError

    def grid(self):
        """The finite list of values a grid search visits (ValueError when infinite)."""
        raise ValueError(f"{self!r} has infinitely many values; a grid needs choice() or a list")


class _Range(Distribution):
    """A numeric interval ``[low, high]``, uniform on ``scale(value)``."""

    numeric = True
    kind = "uniform"

    def __init__(self, low, high):
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"{self.kind}: {name} must be a finite number, got {value!r}")
        if not low < high:
            raise ValueError(f"{self.kind}({low!r}, {high!r}): the range is empty or inverted "
                             "(low must be below high)")
        self.low, self.high = low, high

    def scale(self, value):
        return float(value)

    def unscale(self, value):
        return float(value)

    def sample(self, rng):
        lo, hi = self.scale(self.low), self.scale(self.high)
        return self.unscale(rng.uniform(lo, hi))

    def narrowed(self, centre, shrink):
        """The same distribution on a range ``shrink`` times narrower around ``centre``.

        The width is measured on the distribution's scale (log for
        log-uniform); the window keeps its width and slides to stay inside
        the current range.
        """
        lo, hi = self.scale(self.low), self.scale(self.high)
        half = (hi - lo) / (2.0 * shrink)
        mid = min(max(self.scale(centre), lo + half), hi - half)
        return type(self)(self.unscale(mid - half), self.unscale(mid + half))

    def __eq__(self, other):
        return type(self) is type(other) and (self.low, self.high) == (other.low, other.high)

    def __repr__(self):
        return f"{self.kind}({self.low!r}, {self.high!r})"


class _Uniform(_Range):
    kind = "uniform"


class _LogUniform(_Range):
    kind = "loguniform"

    def __init__(self, low, high):
        super().__init__(low, high)
        if low <= 0:
            raise ValueError(f"loguniform({low!r}, {high!r}): the bounds must be positive "
                             "(the logarithm of the bounds is sampled uniformly)")

    def scale(self, value):
        return math.log(value)

    def unscale(self, value):
        return float(math.exp(value))


class _RandInt(_Range):
    kind = "randint"

    def __init__(self, low, high):
        for value in (low, high):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"randint({low!r}, {high!r}): the bounds must be integers")
        super().__init__(int(low), int(high))

    def sample(self, rng):
        return int(rng.integers(self.low, self.high + 1))  # both bounds included

    def narrowed(self, centre, shrink):
        half = max(1, int(round((self.high - self.low) / (2.0 * shrink))))
        mid = min(max(int(round(centre)), self.low + half), self.high - half)
        low, high = max(self.low, mid - half), min(self.high, mid + half)
        return _RandInt(low, high) if low < high else self

    def grid(self):
        return list(range(self.low, self.high + 1))


class _Choice(Distribution):
    def __init__(self, options):
        options = list(options)
        if not options:
            raise ValueError("choice() needs at least one value")
        self.options = options

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self):
        return list(self.options)

    def __eq__(self, other):
        return type(self) is type(other) and self.options == other.options

    def __repr__(self):
        return f"choice({self.options!r})"


class _Frozen(Distribution):
    """Any object with ``rvs(random_state=...)`` (a scipy.stats distribution)."""

    def __init__(self, dist):
        self.dist = dist

    def sample(self, rng):
        value = self.dist.rvs(random_state=rng)
        return value.item() if isinstance(value, np.generic) else value

    def __repr__(self):
        return f"rvs({self.dist!r})"


class _Constant(Distribution):
    def __init__(self, value):
        self.value = value

    def sample(self, rng):
        return self.value

    def grid(self):
        return [self.value]

    def __eq__(self, other):
        return type(self) is type(other) and self.value == other.value

    def __repr__(self):
        return repr(self.value)


def loguniform(low, high):
    """Values whose logarithm is uniform on ``[log low, log high]``; both bounds positive."""
    return _LogUniform(low, high)


def uniform(low, high):
    """Values uniform on ``[low, high]``."""
    return _Uniform(low, high)


def randint(low, high):
    """Integers uniform from ``low`` to ``high``, both included."""
    return _RandInt(low, high)


def choice(options):
    """One of ``options``, each equally likely (a grid visits them all)."""
    return _Choice(options)


def as_distribution(value):
    """A :class:`Distribution` from a space's value (see the module docstring)."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, list):
        return _Choice(value)
    if hasattr(value, "rvs"):
        return _Frozen(value)
    return _Constant(value)


class Space:
    """Distributions over named hyper-parameters, checked before any trial runs.

    Parameters
    ----------
    params : dict
        Name (a key of :data:`PARAMETERS`) to a distribution, a list (a
        choice) or a constant.

    Raises
    ------
    ValueError
        An unknown name (the message lists the valid ones) or an empty space.
    """

    def __init__(self, params):
        if isinstance(params, Space):
            params = params.distributions
        if not isinstance(params, dict) or not params:
            raise ValueError("a search space needs at least one hyper-parameter, e.g. "
                             "{'lr': loguniform(1e-4, 1e-1)}")
        unknown = [name for name in params if name not in PARAMETERS]
        if unknown:
            raise ValueError(f"unknown hyper-parameter(s) {', '.join(map(repr, unknown))}; "
                             f"valid names: {', '.join(PARAMETERS)}")
        self.distributions = {name: as_distribution(v) for name, v in params.items()}

    @property
    def names(self):
        """The hyper-parameter names, in the space's order."""
        return list(self.distributions)

    def sample(self, rng):
        """One configuration: a dict name -> value drawn with ``rng``."""
        return {name: dist.sample(rng) for name, dist in self.distributions.items()}

    def grid(self):
        """Every combination of the values (the last name varies fastest)."""
        values = [(name, dist.grid()) for name, dist in self.distributions.items()]
        configs = [{}]
        for name, options in values:
            configs = [{**config, name: v} for config in configs for v in options]
        return configs

    def grid_size(self):
        """How many configurations :meth:`grid` has."""
        return math.prod(len(dist.grid()) for dist in self.distributions.values())

    def narrowed(self, best_configs, shrink):
        """The space with every numeric range narrowed around the best configurations.

        Each numeric range is centred on the mean of the best configurations'
        values (the mean of the logarithms for a log-uniform range) and made
        ``shrink`` times narrower; choices and constants stay as they are.
        """
        narrowed = {}
        for name, dist in self.distributions.items():
            if dist.numeric and best_configs:
                scaled = [dist.scale(c[name]) for c in best_configs]
                narrowed[name] = dist.narrowed(dist.unscale(float(np.mean(scaled))), shrink)
            else:
                narrowed[name] = dist
        return Space(narrowed)

    def __repr__(self):
        inner = ", ".join(f"{k}={v!r}" for k, v in self.distributions.items())
        return f"Space({inner})"


_FILE_KINDS = {"loguniform": loguniform, "uniform": uniform, "randint": randint}


def read_space(path):
    """A :class:`Space` from a TOML or JSON file.

    Each key is a hyper-parameter; its value is ``{loguniform = [a, b]}``,
    ``{uniform = [a, b]}``, ``{randint = [a, b]}``, ``{choice = [...]}``, a
    list (a choice) or a constant.  Lists inside a choice of ``hidden``
    become tuples (one architecture each)::

        lr = {loguniform = [1e-4, 1e-1]}
        hidden = {choice = [[64], [128, 64]]}
        activation = ["relu", "tanh"]
        batch_size = 32

    Raises
    ------
    ValueError
        Unreadable file, bad syntax, an unknown key or a malformed value.
    """
    text_path = os.fspath(path)
    try:
        with open(text_path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ValueError(f"cannot read the space file {text_path}: {exc.strerror or exc}") \
            from None
    data = _parse_space_text(raw, text_path)
    if not isinstance(data, dict):
        raise ValueError(f"{text_path}: a space file holds a table of hyper-parameters")
    params = {}
    for name, value in data.items():
        try:
            params[name] = _file_value(name, value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{text_path}: hyper-parameter {name!r}: {exc}") from None
    try:
        return Space(params)
    except ValueError as exc:
        raise ValueError(f"{text_path}: {exc}") from None


def _parse_space_text(raw, path):
    if path.lower().endswith(".json"):
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not path.lower().endswith(".toml"):
        raise ValueError(f"{path}: a space file ends in .toml or .json")
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError("TOML space files need Python >= 3.11 or the tomli "
                             "package; use a .json file") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None


def _file_value(name, value):
    """A space value from its file form (see :func:`read_space`)."""
    if name == "hidden":
        value = _hidden_from_file(value)
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"expected one of {{loguniform, uniform, randint, choice}} = "
                             f"[...], got {value!r}")
        (kind, args), = value.items()
        if kind == "choice":
            if not isinstance(args, list):
                raise ValueError(f"choice takes a list, got {args!r}")
            return choice(args)
        if kind not in _FILE_KINDS:
            raise ValueError(f"unknown distribution {kind!r}; valid: loguniform, uniform, "
                             "randint, choice")
        if not isinstance(args, list) or len(args) != 2:
            raise ValueError(f"{kind} takes [low, high], got {args!r}")
        return _FILE_KINDS[kind](*args)
    return value


def _hidden_from_file(value):
    """Lists of sizes in a file are architectures (tuples); a list of them a choice."""
    def sizes(entry):
        entry = [entry] if isinstance(entry, int) else entry
        if not isinstance(entry, list) or not all(
                isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in entry):
            raise ValueError(f"layer sizes must be positive integers, got {entry!r}")
        return tuple(entry)

    if isinstance(value, dict) and "choice" in value and isinstance(value["choice"], list):
        return {"choice": [sizes(v) for v in value["choice"]]}
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [sizes(v) for v in value]
    return sizes(value)
