"""A fastmlp network as ONNX nodes: the predict path, written against a small builder.

The same nodes serve a standalone ONNX model (:func:`fastmlp.export.to_onnx`)
and a step of a scikit-learn pipeline converted by skl2onnx
(:func:`fastmlp.export.register_skl2onnx`): only where nodes and constants
go differs, so the emission below talks to a :class:`GraphBuilder` and
never to onnx itself (onnx is an optional dependency, imported by the
builders' owners).

The element-wise activations are composed from basic operators with
constants in the model's dtype rather than taken from ONNX's parametrised
operators (``LeakyRelu``, ``Elu``, ``Selu``): those carry their parameter
as a 32-bit float attribute, which would cost a float64 model its
precision.
"""

import numpy as np

from ..kernels.activations import SELU_ALPHA, SELU_LAMBDA

__all__ = ["GraphBuilder", "emit_network", "emit_classifier_outputs"]

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_INV_SQRT_2 = float(1.0 / np.sqrt(2.0))
_GELU_CUBIC = 0.044715


class GraphBuilder:
    """Collects ONNX nodes and constants through two callables.

    Parameters
    ----------
    add_node : callable
        ``add_node(op_type, inputs, outputs, attributes)`` records one node.
    add_constant : callable
        ``add_constant(name, array)`` records an initializer.
    unique_name : callable
        ``unique_name(hint)`` returns a name not used elsewhere in the graph.
    dtype : numpy dtype
        Element type of the network's tensors (float32 or float64).
    """

    def __init__(self, add_node, add_constant, unique_name, dtype):
        self._add_node = add_node
        self._add_constant = add_constant
        self.unique_name = unique_name
        self.dtype = np.dtype(dtype)

    def constant(self, hint, value, dtype=None):
        """Name of a new initializer holding ``value`` (in ``dtype``, default the network's)."""
        name = self.unique_name(hint)
        array = np.asarray(value)
        if dtype is not None or array.dtype.kind == "f":
            array = array.astype(dtype or self.dtype)
        # (np.ascontiguousarray would turn a 0-d scalar into shape (1,))
        self._add_constant(name, np.array(array, order="C"))
        return name

    def scalar(self, value):
        """A scalar constant in the network's dtype (broadcasts in element-wise operators)."""
        return self.constant("c", np.array(value, dtype=self.dtype))

    def op(self, op_type, inputs, output=None, **attributes):
        """Add one node; returns the name of its (single) output."""
        output = output or self.unique_name(op_type.lower())
        self._add_node(op_type, list(inputs), [output], attributes)
        return output


# ------------------------------------------------------------------ activations
# Each takes the builder and the pre-activation z; returns f(z)'s name.
# The formulas are those of fastmlp.kernels.activations.

def _positive_else(g, z, negative_branch):
    """``z > 0 ? z : negative_branch`` (relu-like activations)."""
    return g.op("Where", [g.op("Greater", [z, g.scalar(0.0)]), z, negative_branch])


def _exp_minus_one(g, z):
    return g.op("Sub", [g.op("Exp", [z]), g.scalar(1.0)])


def _leaky_relu(g, z, param):
    return _positive_else(g, z, g.op("Mul", [z, g.scalar(param)]))


def _elu(g, z, param):
    return _positive_else(g, z, g.op("Mul", [g.scalar(param), _exp_minus_one(g, z)]))


def _selu(g, z, param):
    positive = g.op("Mul", [z, g.scalar(SELU_LAMBDA)])
    negative = g.op("Mul", [g.scalar(SELU_LAMBDA * SELU_ALPHA), _exp_minus_one(g, z)])
    return g.op("Where", [g.op("Greater", [z, g.scalar(0.0)]), positive, negative])


def _softplus(g, z, param):
    # max(z, 0) + log(1 + e^-|z|): never overflows
    tail = g.op("Exp", [g.op("Neg", [g.op("Abs", [z])])])
    return g.op("Add", [g.op("Relu", [z]), g.op("Log", [g.op("Add", [g.scalar(1.0), tail])])])


def _erf(g, x):
    """erf(x): ONNX's Erf in float32; in float64 a series, since onnxruntime has no double Erf.

    The series ``erf(x) = 2/sqrt(pi) x e^(-x^2) sum_n (2x^2)^n / (1 3 5 ... (2n+1))``
    has only positive terms (no cancellation); with |x| clipped at 6, where
    erf is 1 in float64, its first :data:`_ERF_TERMS` terms, summed by
    Horner's rule in x^2, are within 2e-15 of erf.
    """
    if g.dtype != np.float64:
        return g.op("Erf", [x])
    u = g.op("Min", [g.op("Abs", [x]), g.scalar(_ERF_CLIP)])
    t = g.op("Mul", [u, u])
    # Horner's rule in t / clip^2 (in [0, 1]), whose coefficients stay within float32's
    # range: onnxruntime's optimizer merges constants that are equal as float32, and the
    # coefficients in t itself fall below 1e-45
    scaled = g.op("Mul", [t, g.scalar(1.0 / _ERF_CLIP ** 2)])
    total = g.scalar(_ERF_COEFFICIENTS[-1])
    for c in _ERF_COEFFICIENTS[-2::-1]:
        total = g.op("Add", [g.op("Mul", [total, scaled]), g.scalar(c)])
    decay = g.op("Mul", [g.op("Exp", [g.op("Neg", [t])]), g.scalar(2.0 / np.sqrt(np.pi))])
    magnitude = g.op("Mul", [g.op("Mul", [u, decay]), total])
    return g.op("Mul", [g.op("Sign", [x]), magnitude])


_ERF_CLIP = 6.0
_ERF_TERMS = 100
#: c_0 = 1, c_n = c_(n-1) 2 clip^2 / (2n + 1): the series' coefficients in x^2 / clip^2.
_ERF_COEFFICIENTS = np.cumprod([1.0] + [2.0 * _ERF_CLIP ** 2 / (2 * n + 1)
                                         for n in range(1, _ERF_TERMS)])


def _gelu(g, z, param):
    cdf_twice = g.op("Add", [g.scalar(1.0), _erf(g, g.op("Mul", [z, g.scalar(_INV_SQRT_2)]))])
    return g.op("Mul", [g.op("Mul", [g.scalar(0.5), z]), cdf_twice])


def _gelu_tanh(g, z, param):
    cube = g.op("Mul", [g.op("Mul", [g.op("Mul", [g.scalar(_GELU_CUBIC), z]), z]), z])
    inner = g.op("Mul", [g.scalar(_SQRT_2_OVER_PI), g.op("Add", [z, cube])])
    return g.op("Mul", [g.op("Mul", [g.scalar(0.5), z]),
                        g.op("Add", [g.scalar(1.0), g.op("Tanh", [inner])])])


def _swish(g, z, param):
    return g.op("Mul", [z, g.op("Sigmoid", [z])])


_ACTIVATIONS = {
    "identity": lambda g, z, param: z,
    "sigmoid": lambda g, z, param: g.op("Sigmoid", [z]),
    "tanh": lambda g, z, param: g.op("Tanh", [z]),
    "relu": lambda g, z, param: g.op("Relu", [z]),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": _selu,
    "softplus": _softplus,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "swish": _swish,
    "softmax": lambda g, z, param: g.op("Softmax", [z], axis=-1),
}


def emit_activation(g, activation, z):
    """f(z) for a :class:`fastmlp.activations.Activation`; returns the output's name."""
    try:
        emit = _ACTIVATIONS[activation.name]
    except KeyError:
        raise ValueError(f"no ONNX form for the activation {activation.name!r}") from None
    return emit(g, z, activation.param)


# ------------------------------------------------------------------ the network
def emit_preprocessing(g, preprocessing, x):
    """The model's stored input transform applied to ``x`` (network dtype); returns its name.

    Read from the transform's public ``kind`` and ``state_dict()``, and
    computed in the precision fastmlp uses: standardisation in the network's
    dtype, whitening in float64 then rounded to the network's dtype.
    """
    if preprocessing is None:
        return x
    if not preprocessing.is_fitted:
        raise ValueError(f"the model's {preprocessing.kind} preprocessing is not fitted yet: "
                         "train the model before exporting it")
    state = preprocessing.state_dict()
    if preprocessing.kind == "standardize":
        centred = g.op("Sub", [x, g.constant("mean", state["mean_"])])
        return g.op("Div", [centred, g.constant("scale", state["scale_"])])
    if preprocessing.kind == "whiten":
        eps = float(np.asarray(state["eps"]).ravel()[0])
        whitening = state["components_"] / np.sqrt(state["explained_variance_"] + eps)
        wide = x if g.dtype == np.float64 else g.op("Cast", [x], to=_ONNX_DOUBLE)
        centred = g.op("Sub", [wide, g.constant("mean", state["mean_"], np.float64)])
        white = g.op("MatMul", [centred, g.constant("whitening", whitening, np.float64)])
        return white if g.dtype == np.float64 else g.op("Cast", [white], to=_ONNX_FLOAT)
    raise ValueError(f"no ONNX form for the preprocessing {preprocessing.kind!r}")


_ONNX_FLOAT = 1   # TensorProto.FLOAT
_ONNX_DOUBLE = 11  # TensorProto.DOUBLE


def onnx_type_of(dtype):
    """The ONNX element type code of a float numpy dtype."""
    return _ONNX_DOUBLE if np.dtype(dtype) == np.float64 else _ONNX_FLOAT


def emit_network(g, model, x, output=None):
    """``model.predict`` as nodes: preprocessing, layers, batch norm, activations.

    Parameters
    ----------
    g : GraphBuilder
        Its dtype must be the model's.
    model : fastmlp.Model
    x : str
        Name of the input tensor (n, n_inputs) in the model's dtype.
    output : str, optional
        Name to give the network's output (default: a fresh one).

    Returns
    -------
    str
        Name of the output tensor (n, n_outputs).
    """
    h = emit_preprocessing(g, model.preprocessing, x)
    activations = model.activations
    for l, (W, b, gamma) in enumerate(zip(model.weights, model.biases, model.gammas)):
        z = g.op("MatMul", [h, g.constant(f"W{l}", W)])
        if gamma is not None:
            scale, shift = batch_norm_affine(gamma, b, model.running_means[l],
                                             model.running_vars[l], model.bn_eps)
            z = g.op("Add", [g.op("Mul", [z, g.constant(f"bn_scale{l}", scale)]),
                             g.constant(f"bn_shift{l}", shift)])
        else:
            z = g.op("Add", [z, g.constant(f"b{l}", b)])
        h = emit_activation(g, activations[l], z)
    if output is not None:
        h = g.op("Identity", [h], output=output)
    return h


def batch_norm_affine(gamma, beta, running_mean, running_var, eps):
    """Batch normalisation in inference form as ``z * scale + shift`` (float64 arrays).

    ``scale = gamma / sqrt(running_var + eps)``, ``shift = beta - scale *
    running_mean``: what fastmlp's inference kernel computes, in float64,
    before rounding to the model's dtype.  (ONNX's BatchNormalization holds
    eps as a 32-bit attribute, which would cost a float64 model ~1e-11.)
    The layer's bias is beta.
    """
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(running_var, np.float64) + eps)
    return scale, np.asarray(beta, np.float64) - scale * np.asarray(running_mean, np.float64)


def emit_classifier_outputs(g, probabilities, classes, multilabel, label, proba_out):
    """Labels and class probabilities from a classifier network's output.

    A single (logistic) output unit gives the two columns ``1 - p, p``; the
    label is the class of the largest probability (the first on ties, as
    scikit-learn's ``LabelBinarizer`` decides), or for multilabel targets
    the indicator ``p > 0.5``.

    Parameters
    ----------
    g : GraphBuilder
    probabilities : str
        The network's output (n, n_units).
    classes : ndarray
        ``classes_`` of the estimator.
    multilabel : bool
    label, proba_out : str
        Names of the two outputs.
    """
    if multilabel:
        g.op("Identity", [probabilities], output=proba_out)
        over = g.op("Greater", [probabilities, g.scalar(0.5)])
        g.op("Cast", [over], output=label, to=7)  # INT64
        return
    if len(classes) == 2:
        complement = g.op("Sub", [g.scalar(1.0), probabilities])
        g.op("Concat", [complement, probabilities], output=proba_out, axis=1)
    else:
        g.op("Identity", [probabilities], output=proba_out)
    index = g.op("ArgMax", [proba_out], axis=1, keepdims=0)
    g.op("Gather", [g.constant("classes", class_array(classes)), index], output=label, axis=0)


def class_array(classes):
    """``classes_`` as an ONNX-friendly array: int64 for integer labels, else strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64)
    return np.array([str(c) for c in classes], dtype=object)
