"""Activation functions: names, parameters and their kernel codes.

=============  =================================================  =======================
name           f(z)                                               f'(z)
=============  =================================================  =======================
identity       z                                                  1
sigmoid        1 / (1 + e^-z)           (alias: logistic)         f (1 - f)
tanh           (e^z - e^-z) / (e^z + e^-z)                        1 - f^2
relu           max(0, z)                                          1 if z > 0 else 0
leaky_relu     z if z > 0 else s z   (s: negative_slope>=0)       1 if z > 0 else s
elu            z if z > 0 else a (e^z - 1)   (a: alpha)           1 if z > 0 else f + a
selu           l z if z > 0 else l a (e^z - 1)                    l if z > 0 else f + l a
softplus       log(1 + e^z)                                       sigmoid(z)
gelu           z Phi(z) = z/2 (1 + erf(z / sqrt 2))  (exact)      Phi(z) + z phi(z)
gelu_tanh      z/2 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))
swish          z sigmoid(z)                  (alias: silu)        s + f (1 - s)
softmax        e^z_k / sum_j e^z_j           (output layer only)
=============  =================================================  =======================

SELU uses l = 1.0507009873554805, a = 1.6732632423543772 (Klambauer et al.,
2017).  ``gelu`` is the exact erf form (PyTorch's default ``nn.GELU()``);
``gelu_tanh`` is the tanh approximation (``nn.GELU(approximate="tanh")``).
The lecture notes' list (sigmoid, tanh, ReLU, leaky ReLU, ELU, and for
comparison softplus, SELU, GELU, swish) is covered in full.
"""

from dataclasses import dataclass

from .kernels import activations as _k

__all__ = ["Activation", "get_activation", "leaky_relu", "elu", "NAMES"]


@dataclass(frozen=True)
class Activation:
    """An activation function with its parameter (leaky slope or ELU alpha).

    Parameters
    ----------
    name : str
        Canonical name (see the module docstring).
    param : float, default 0.0
        ``negative_slope`` for leaky_relu, ``alpha`` for elu; unused otherwise.
    """

    name: str
    param: float = 0.0

    @property
    def code(self):
        """Integer code understood by the kernels."""
        return _CODES[self.name]

    @property
    def needs_preactivation(self):
        """Whether the backward pass needs z saved (GELU, swish)."""
        return self.code in _k.NEEDS_PREACTIVATION

    @property
    def elementwise(self):
        """False only for softmax, which couples the outputs of a row."""
        return self.name != "softmax"

    def __str__(self):
        if self.name == "leaky_relu":
            return f"leaky_relu(negative_slope={self.param:g})"
        if self.name == "elu":
            return f"elu(alpha={self.param:g})"
        return self.name


_CODES = {
    "identity": _k.IDENTITY,
    "sigmoid": _k.SIGMOID,
    "tanh": _k.TANH,
    "relu": _k.RELU,
    "leaky_relu": _k.LEAKY_RELU,
    "elu": _k.ELU,
    "selu": _k.SELU,
    "softplus": _k.SOFTPLUS,
    "gelu": _k.GELU,
    "gelu_tanh": _k.GELU_TANH,
    "swish": _k.SWISH,
    "softmax": _k.SOFTMAX,
}
_ALIASES = {"logistic": "sigmoid", "silu": "swish", "linear": "identity"}
_DEFAULT_PARAM = {"leaky_relu": 0.01, "elu": 1.0}

#: Every accepted name, aliases included.
NAMES = tuple(sorted(set(_CODES) | set(_ALIASES)))


def leaky_relu(negative_slope=0.01):
    """Leaky ReLU: ``z`` for z > 0, ``s z`` otherwise, with slope ``s`` >= 0."""
    return get_activation(Activation("leaky_relu", negative_slope))


def elu(alpha=1.0):
    """ELU with the given ``alpha`` > 0."""
    return get_activation(Activation("elu", alpha))


def get_activation(spec, *, allow_softmax=False, what="activation"):
    """Resolve a name or :class:`Activation` to a validated :class:`Activation`.

    Parameters
    ----------
    spec : str or Activation
        Name (aliases: logistic, silu, linear) or an Activation instance.
    allow_softmax : bool, default False
        Softmax couples a whole row, so it is accepted for the output only.
    what : str
        How to name the argument in error messages.

    Raises
    ------
    ValueError
        Unknown name (the message lists the valid ones), softmax where it is
        not allowed, or a parameter out of range.
    TypeError
        ``spec`` is neither a string nor an Activation.
    """
    if isinstance(spec, Activation):
        name, param = spec.name, spec.param
    elif isinstance(spec, str):
        name = spec.strip().lower()
        param = None
    else:
        raise TypeError(f"{what} must be a name or an Activation, got {type(spec).__name__}")
    name = _ALIASES.get(name, name)
    if name not in _CODES:
        raise ValueError(f"unknown {what} {spec!r}; valid names: {', '.join(NAMES)}")
    if name == "softmax" and not allow_softmax:
        raise ValueError(f"softmax is only available as the output activation, not as {what}")
    if param is None:
        param = _DEFAULT_PARAM.get(name, 0.0)
    param = float(param)
    if name == "leaky_relu" and not param >= 0.0:
        # The backward pass reads the sign of z from the output a, which
        # needs a slope >= 0.
        raise ValueError(f"leaky_relu negative_slope must be >= 0, got {param}")
    if name == "elu" and not param > 0.0:
        raise ValueError(f"elu alpha must be > 0, got {param}")
    return Activation(name, param)
