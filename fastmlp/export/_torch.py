"""PyTorch interop: a model as a ``torch.nn.Sequential`` (:func:`to_torch`) and back.

The Sequential holds, in order: the stored preprocessing as a frozen
``nn.Linear`` (no gradient), then per layer an ``nn.Linear`` (torch's
(out, in) weight layout; without bias before batch normalisation, whose
beta is fastmlp's bias), an ``nn.BatchNorm1d`` where the layer has batch
normalisation (running statistics, eps, momentum), and the activation
module.  Every number is copied unchanged, so ``from_torch(to_torch(m))``
has ``m``'s parameters bit for bit.
"""

import numpy as np

from ..activations import Activation
from ..model import Model
from ..preprocessing import PCAWhitening, StandardScaler

__all__ = ["to_torch", "from_torch"]

#: Above this input torch's Softplus returns x itself; log(1 + e^-40) is below float64's
#: resolution, where torch's default of 20 would differ by 2e-9.
_SOFTPLUS_THRESHOLD = {"float32": 20.0, "float64": 40.0}


def _import_torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("PyTorch interop needs torch: see https://pytorch.org (for the CPU "
                          "build: pip install torch --index-url "
                          "https://download.pytorch.org/whl/cpu)") from exc
    return torch


def _tensor(torch, array, dtype):
    return torch.nn.Parameter(torch.tensor(np.array(array, dtype=dtype)))


def _activation_module(nn, activation, dtype):
    name, param = activation.name, activation.param
    simple = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU,
              "selu": nn.SELU, "swish": nn.SiLU}
    if name in simple:
        return simple[name]()
    if name == "leaky_relu":
        return nn.LeakyReLU(param)
    if name == "elu":
        return nn.ELU(param)
    if name == "softplus":
        return nn.Softplus(threshold=_SOFTPLUS_THRESHOLD[dtype.name])
    if name in ("gelu", "gelu_tanh"):
        return nn.GELU(approximate="none" if name == "gelu" else "tanh")
    if name == "softmax":
        return nn.Softmax(dim=-1)
    raise ValueError(f"no PyTorch module for the activation {name!r}")


def _preprocessing_layer(torch, preprocessing, dtype):
    """The fitted input transform as a frozen Linear: ``x @ A + c``."""
    if not preprocessing.is_fitted:
        raise ValueError(f"the model's {preprocessing.kind} preprocessing is not fitted yet")
    state = preprocessing.state_dict()
    if preprocessing.kind == "standardize":
        matrix = np.diag(1.0 / state["scale_"])
    elif preprocessing.kind == "whiten":
        eps = float(np.asarray(state["eps"]).ravel()[0])
        matrix = state["components_"] / np.sqrt(state["explained_variance_"] + eps)
    else:
        raise ValueError(f"no PyTorch form for the preprocessing {preprocessing.kind!r}")
    n = matrix.shape[0]
    layer = torch.nn.Linear(n, n, dtype=torch.float64 if dtype == np.float64 else torch.float32)
    layer.weight = _tensor(torch, matrix.T, dtype)
    layer.bias = _tensor(torch, -state["mean_"] @ matrix, dtype)
    layer.requires_grad_(False)  # fixed: fitted statistics, not trainable weights
    return layer


def to_torch(model):
    """The network of ``model`` as a ``torch.nn.Sequential`` that gives the same outputs.

    Parameters
    ----------
    model : fastmlp.Model or fitted fastmlp.sklearn estimator (its ``model_``)

    Returns
    -------
    torch.nn.Sequential
        In the model's dtype, in evaluation mode (batch normalisation with
        its running statistics; call ``.train()`` to train it further).

    Raises
    ------
    ImportError
        torch is not installed.
    ValueError
        An unfitted preprocessing.
    """
    torch = _import_torch()
    nn = torch.nn
    model = _model_of(model)
    dtype = model.dtype
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    layers = []
    if model.preprocessing is not None:
        layers.append(_preprocessing_layer(torch, model.preprocessing, dtype))
    for l, (W, b, gamma) in enumerate(zip(model.weights, model.biases, model.gammas)):
        linear = nn.Linear(W.shape[0], W.shape[1], bias=gamma is None, dtype=tdtype)
        linear.weight = _tensor(torch, W.T, dtype)
        layers.append(linear)
        if gamma is None:
            linear.bias = _tensor(torch, b, dtype)
        else:
            norm = nn.BatchNorm1d(W.shape[1], eps=model.bn_eps, momentum=model.bn_momentum,
                                  dtype=tdtype)
            norm.weight = _tensor(torch, gamma, dtype)
            norm.bias = _tensor(torch, b, dtype)
            norm.running_mean.copy_(torch.tensor(np.array(model.running_means[l])))
            norm.running_var.copy_(torch.tensor(np.array(model.running_vars[l])))
            layers.append(norm)
        layers.append(_activation_module(nn, model.activations[l], dtype))
    return nn.Sequential(*layers).eval()


def _model_of(obj):
    if isinstance(obj, Model):
        return obj
    network = getattr(obj, "model_", None)
    if isinstance(network, Model):
        return network
    raise TypeError(f"expected a fastmlp.Model or a fitted fastmlp estimator, got "
                    f"{type(obj).__name__}")


def from_torch(module):
    """A :class:`fastmlp.Model` from a ``torch.nn.Sequential`` of the form :func:`to_torch` makes.

    Recognised: ``nn.Linear`` layers, each optionally followed by an
    ``nn.BatchNorm1d`` (a Linear bias before it is folded into the
    running mean) and an activation module (Identity, Sigmoid, Tanh, ReLU,
    LeakyReLU, ELU, SELU, Softplus with beta 1, GELU, SiLU, Softmax over the
    last dimension; none means identity); nested Sequentials are flattened.
    A leading frozen Linear (no gradient) directly followed by another
    Linear is read as the stored preprocessing: standardisation when its
    weight is diagonal, else whitening.  Weights, biases, gammas and running
    statistics are copied unchanged (bit for bit).

    Parameters
    ----------
    module : torch.nn.Sequential
        float32 or float64.

    Returns
    -------
    fastmlp.Model

    Raises
    ------
    ValueError
        A module fastmlp has no counterpart for (named), layers whose sizes
        do not chain, batch normalisation with differing eps or momentum.
    """
    torch = _import_torch()
    modules = _flatten(torch, module)
    preprocessing = None
    if (len(modules) > 1 and isinstance(modules[0], torch.nn.Linear)
            and isinstance(modules[1], torch.nn.Linear) and not modules[0].weight.requires_grad):
        preprocessing = _read_preprocessing(_numpy(modules[0].weight), _numpy(modules[0].bias))
        modules = modules[1:]
    layers = _group_layers(torch, modules)
    dtype = _numpy(layers[0]["linear"].weight).dtype
    norms = [layer["norm"] for layer in layers if layer["norm"] is not None]
    bn_eps, bn_momentum = _common_norm_settings(norms)
    sizes = [layers[0]["linear"].in_features] + [layer["linear"].out_features
                                                 for layer in layers]
    model = Model(sizes, activation=[layer["activation"] for layer in layers[:-1]] or "relu",
                  output=layers[-1]["activation"], dtype=dtype.name,
                  batch_norm=[layer["norm"] is not None for layer in layers[:-1]],
                  bn_eps=bn_eps, bn_momentum=bn_momentum, preprocessing=preprocessing, seed=0)
    for l, layer in enumerate(layers):
        _copy_layer(model, l, layer)
    return model


def _numpy(tensor):
    return tensor.detach().cpu().numpy()


def _flatten(torch, module):
    if isinstance(module, (torch.nn.Sequential, torch.nn.ModuleList)):
        return [leaf for child in module for leaf in _flatten(torch, child)]
    return [module]


def _group_layers(torch, modules):
    """Split the module list into layers: {"linear", "norm", "activation"}."""
    nn = torch.nn
    layers = []
    for module in modules:
        if isinstance(module, nn.Linear):
            layers.append({"linear": module, "norm": None, "activation": None})
        elif not layers:
            raise ValueError(f"from_torch: the first layer must be nn.Linear, got "
                             f"{type(module).__name__}")
        elif isinstance(module, nn.BatchNorm1d) and layers[-1]["norm"] is None \
                and layers[-1]["activation"] is None:
            layers[-1]["norm"] = module
        elif layers[-1]["activation"] is None:
            layers[-1]["activation"] = _activation_of(nn, module)
        else:
            raise ValueError(f"from_torch: {type(module).__name__} follows an activation; "
                             "fastmlp layers are Linear [BatchNorm1d] [activation]")
    if not layers:
        raise ValueError("from_torch: the module holds no nn.Linear layer")
    for layer in layers:
        layer["activation"] = layer["activation"] or Activation("identity")
    for previous, layer in zip(layers, layers[1:]):
        if previous["linear"].out_features != layer["linear"].in_features:
            raise ValueError(f"from_torch: a layer of {previous['linear'].out_features} outputs "
                             f"feeds one of {layer['linear'].in_features} inputs")
    if layers[-1]["norm"] is not None:
        raise ValueError("from_torch: fastmlp has no batch normalisation on the output layer")
    return layers


def _activation_of(nn, module):
    """The fastmlp Activation of a torch activation module."""
    simple = {nn.Identity: "identity", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu",
              nn.SELU: "selu", nn.SiLU: "swish"}
    if type(module) in simple:
        return Activation(simple[type(module)])
    if isinstance(module, nn.LeakyReLU):
        return Activation("leaky_relu", float(module.negative_slope))
    if isinstance(module, nn.ELU):
        return Activation("elu", float(module.alpha))
    if isinstance(module, nn.Softplus) and module.beta == 1:
        return Activation("softplus")
    if isinstance(module, nn.GELU):
        return Activation("gelu" if module.approximate == "none" else "gelu_tanh")
    if isinstance(module, nn.Softmax) and module.dim in (-1, 1):
        return Activation("softmax")
    raise ValueError(f"from_torch: fastmlp has no counterpart for {module!r}")


def _common_norm_settings(norms):
    """(eps, momentum) shared by every BatchNorm1d (fastmlp's defaults when there is none)."""
    if not norms:
        return 1e-5, 0.1
    settings = {(float(n.eps), n.momentum) for n in norms}
    if len(settings) > 1 or None in {m for _, m in settings}:
        raise ValueError("from_torch: every BatchNorm1d needs the same eps and a numeric "
                         f"momentum (fastmlp has one setting per model), got {sorted(settings)}")
    (eps, momentum), = settings
    return eps, float(momentum)


def _copy_layer(model, l, layer):
    linear, norm = layer["linear"], layer["norm"]
    model.weights[l][...] = _numpy(linear.weight).T
    bias = None if linear.bias is None else _numpy(linear.bias)
    if norm is None:
        model.biases[l][...] = 0 if bias is None else bias
        return
    model.gammas[l][...] = 1 if norm.weight is None else _numpy(norm.weight)
    model.biases[l][...] = 0 if norm.bias is None else _numpy(norm.bias)
    mean = _numpy(norm.running_mean)
    # gamma (z + b - mean) / sd + beta: a Linear bias shifts the running mean
    model.running_means[l][...] = mean if bias is None else mean - bias
    model.running_vars[l][...] = _numpy(norm.running_var)


def _read_preprocessing(weight, bias):
    """The fitted transform of a frozen Linear ``y = x W^T + c``."""
    matrix = weight.T.astype(np.float64)
    shift = bias.astype(np.float64)
    if np.array_equal(matrix, np.diag(np.diag(matrix))):
        scale = 1.0 / np.diag(matrix)
        return StandardScaler().load_state_dict({"mean_": -shift * scale, "scale_": scale})
    whitening = PCAWhitening()
    # components_ = the matrix itself, with variances + eps = 1; mean from c = -mean A
    mean = -np.linalg.solve(matrix.T, shift)
    return whitening.load_state_dict({"mean_": mean, "components_": matrix,
                                      "explained_variance_": np.full(shift.size,
                                                                     1.0 - whitening.eps)})
