"""Weight initialisation schemes.

Weights are drawn per layer from a zero-mean distribution whose scale
depends on the layer's fan-in/fan-out; biases start at zero.  The lecture
notes (004) show why the scale matters: with ``W = sigma * randn`` in a
6-layer 4096-wide tanh network, sigma = 0.01 makes the activations collapse
to zero, sigma = 0.05 saturates them at +-1, sigma = 1/sqrt(fan_in) keeps
them "just right".

=================  =====================================  ================
name               distribution                           scale
=================  =====================================  ================
lecun_normal       N(0, s^2)                              s = 1/sqrt(fan_in)
lecun_uniform      U(-b, b)                               b = sqrt(3/fan_in)
glorot_normal      N(0, s^2)     (alias xavier_normal)    s = sqrt(2/(fan_in+fan_out))
glorot_uniform     U(-b, b)      (alias xavier_uniform)   b = sqrt(6/(fan_in+fan_out))
he_normal          N(0, s^2)     (alias kaiming_normal)   s = sqrt(2/fan_in)
he_uniform         U(-b, b)      (alias kaiming_uniform)  b = sqrt(6/fan_in)
Normal(std)        N(0, std^2)                            fixed
Uniform(limit)     U(-limit, limit)                       fixed
=================  =====================================  ================

The lecture calls 1/sqrt(fan_in) "Xavier"; here that is ``lecun_normal``,
and ``xavier_*`` follow Glorot & Bengio (2010) as in PyTorch.

``"auto"`` (the default) picks by the layer's activation: He normal for the
ReLU family (relu, leaky_relu, elu, gelu, gelu_tanh, swish), LeCun normal
for selu, Glorot uniform for everything else (sigmoid, tanh, softplus,
identity and the output layer's sigmoid/softmax/identity).

Draws are made in float64 from ``numpy.random.default_rng(seed)`` layer
after layer and then rounded to the model's dtype, so a seed gives the same
network in float32 and float64.
"""

import math

from ._utils.validation import check_positive_float

__all__ = ["Initializer", "Normal", "Uniform", "get_initializer", "NAMES"]


class Initializer:
    """Base class: ``sample(rng, fan_in, fan_out)`` returns a float64 (fan_in, fan_out) array."""

    def sample(self, rng, fan_in, fan_out):
        raise NotImplementedError

    def __repr__(self):
        return type(self).__name__


class Normal(Initializer):
    """N(0, std^2) with a fixed standard deviation (the lecture's 0.01, 0.05 experiments)."""

    def __init__(self, std=0.01):
        self.std = check_positive_float(std, "Normal std")

    def sample(self, rng, fan_in, fan_out):
        return rng.standard_normal((fan_in, fan_out)) * self.std

    def __repr__(self):
        return f"Normal(std={self.std:g})"


class Uniform(Initializer):
    """U(-limit, limit) with a fixed limit."""

    def __init__(self, limit=0.05):
        self.limit = check_positive_float(limit, "Uniform limit")

    def sample(self, rng, fan_in, fan_out):
        return rng.uniform(-self.limit, self.limit, size=(fan_in, fan_out))

    def __repr__(self):
        return f"Uniform(limit={self.limit:g})"


class _Scaled(Initializer):
    """A named scheme whose scale depends on fan-in/fan-out."""

    def __init__(self, name, uniform, scale):
        self.name, self.uniform, self.scale = name, uniform, scale

    def sample(self, rng, fan_in, fan_out):
        s = self.scale(fan_in, fan_out)
        if self.uniform:
            return rng.uniform(-s, s, size=(fan_in, fan_out))
        return rng.standard_normal((fan_in, fan_out)) * s

    def __repr__(self):
        return self.name


_SCHEMES = {
    "lecun_normal": _Scaled("lecun_normal", False, lambda i, o: 1.0 / math.sqrt(i)),
    "lecun_uniform": _Scaled("lecun_uniform", True, lambda i, o: math.sqrt(3.0 / i)),
    "glorot_normal": _Scaled("glorot_normal", False, lambda i, o: math.sqrt(2.0 / (i + o))),
    "glorot_uniform": _Scaled("glorot_uniform", True, lambda i, o: math.sqrt(6.0 / (i + o))),
    "he_normal": _Scaled("he_normal", False, lambda i, o: math.sqrt(2.0 / i)),
    "he_uniform": _Scaled("he_uniform", True, lambda i, o: math.sqrt(6.0 / i)),
}
_ALIASES = {
    "xavier_normal": "glorot_normal",
    "xavier_uniform": "glorot_uniform",
    "kaiming_normal": "he_normal",
    "kaiming_uniform": "he_uniform",
}
_RELU_FAMILY = {"relu", "leaky_relu", "elu", "gelu", "gelu_tanh", "swish"}

#: Every accepted name, aliases and "auto" (chosen by activation) included.
NAMES = tuple(sorted(set(_SCHEMES) | set(_ALIASES) | {"auto"}))


def get_initializer(spec):
    """Resolve ``"auto"``, a scheme name or an :class:`Initializer` instance.

    Returns an Initializer, or the string ``"auto"``.

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "auto"):
        return "auto"
    if isinstance(spec, Initializer):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"init must be a name or an Initializer, got {type(spec).__name__}")
    name = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    if name not in _SCHEMES:
        raise ValueError(f"unknown init {spec!r}; valid names: {', '.join(NAMES)}, "
                         "or an instance such as fastmlp.initializers.Normal(0.01)")
    return _SCHEMES[name]


def for_activation(activation_name):
    """The scheme ``"auto"`` uses for a layer with this activation."""
    if activation_name in _RELU_FAMILY:
        return _SCHEMES["he_normal"]
    if activation_name == "selu":
        return _SCHEMES["lecun_normal"]
    return _SCHEMES["glorot_uniform"]
