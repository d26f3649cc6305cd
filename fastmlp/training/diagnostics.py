"""Training diagnostics: what each layer's weights, gradients and activations do.

The lecture notes (004) judge an initialisation or an activation by the
statistics of every layer: activations that collapse to zero (weights too
small: "all activations become zero", and so do the gradients dL/dW, which
are proportional to them), that saturate (tanh "completely saturated,
either -1 and 1 ... local gradients are all zero"), or that stay "nicely
scaled for all layers" (sigma = 1/sqrt(D_in) for tanh, sqrt(2/D_in) for
ReLU).  :func:`layer_statistics` measures exactly that on a sample of
inputs; ``Trainer(diagnostics=True)`` records it in the history every epoch,
and ``fastmlp diagnose`` reruns the lecture's experiments
(:mod:`fastmlp.lectures.initialization`).

Per layer l (weight layers, the output layer last):

=================  ==========================================================
``weight_norm``    ||W_l||_F
``grad_norm``      ||dL/dW_l||_F of the mean loss over the sample (with targets)
``act_mean``       mean of the layer's outputs a_l = f(z_l) over the sample
``act_std``        their standard deviation
``saturated``      fraction of outputs in a flat tail of sigmoid (a < 0.01 or
                   a > 0.99) or tanh (|a| > 0.99), where f'(z) < 0.02
                   (NaN for other activations)
``dead``           fraction of ReLU-family units (relu, leaky_relu) whose
                   pre-activation is <= 0 for every sample row: units that
                   pass no gradient back at all (NaN for other activations)
=================  ==========================================================

Statistics are taken in inference mode (no dropout; batch normalisation
with its running statistics).
"""

import numpy as np

from .._utils.sparse import is_sparse
from .._utils.validation import check_lengths
from ..kernels import activations as _ka
from ..losses import encode_targets

__all__ = ["layer_outputs", "layer_statistics", "prepared_layer_statistics", "STATISTICS"]

#: Keys of :func:`layer_statistics` (each a list with one value per layer).
STATISTICS = ("weight_norm", "grad_norm", "act_mean", "act_std", "saturated", "dead")

#: |f'(z)| below this counts as saturated: sigmoid a(1 - a) and tanh 1 - a^2.
_SATURATED_TAILS = {"sigmoid": lambda a: (a < 0.01) | (a > 0.99),
                    "tanh": lambda a: np.abs(a) > 0.99}
_RELU_FAMILY = ("relu", "leaky_relu")


def layer_outputs(model, X, preprocessed=False):
    """Pre-activations and outputs of every layer for inputs ``X``, in inference mode.

    Parameters
    ----------
    model : Model
    X : array-like of shape (n_samples, n_inputs)
    preprocessed : bool, default False
        ``X`` has been through the model's preprocessing already.

    Returns
    -------
    list of (z, a) pairs
        ``z`` (n_samples, fan_out) the input of layer l's activation (after
        batch normalisation and the bias) and ``a = f(z)``, in the model's
        dtype; the last pair is the output layer's.
    """
    if not preprocessed:
        A = model.prepare_inputs(X)
    else:  # a sparse X's first product is sparse x dense, the rest dense
        A = X if is_sparse(X) else np.ascontiguousarray(X, dtype=model.dtype)
    layout, dtype = model.layout, model.dtype
    alphas = layout.activation_params(dtype)
    out = []
    for l, (W, b, act) in enumerate(zip(model.weights, model.biases, layout.activations)):
        Z = A @ W
        gamma = model.gammas[l]
        if gamma is not None:
            scale = gamma / np.sqrt(model.running_vars[l] + dtype.type(model.bn_eps))
            Z = (Z - model.running_means[l]) * scale
        Z = np.ascontiguousarray(Z, dtype=dtype)
        A = Z.copy()
        # the kernels' own activation code: bias + f in place
        _ka.forward_block(act.code, A, b, alphas[l],
                          np.empty((0, Z.shape[1]), dtype=dtype), 0)
        out.append((Z + b, A))
    return out


def layer_statistics(model, X, y=None, preprocessed=False):
    """Per-layer weight and gradient norms and activation statistics (see the module).

    Parameters
    ----------
    model : Model
    X : array-like of shape (n_samples, n_inputs)
    y : array-like, optional
        Targets; without them ``grad_norm`` is omitted.
    preprocessed : bool, default False
        ``X`` has been through the model's preprocessing already.

    Returns
    -------
    dict of lists
        One float per weight layer under each key of :data:`STATISTICS`.
    """
    X = np.ascontiguousarray(X, dtype=model.dtype) if preprocessed else model.prepare_inputs(X)
    T = None
    if y is not None:
        T = encode_targets(y, model.loss, model.n_outputs, model.dtype, what="y")
        check_lengths(X, T)
    return prepared_layer_statistics(model, X, T)


def prepared_layer_statistics(model, X, T):
    """:func:`layer_statistics` of prepared inputs (:meth:`fastmlp.Model.prepare_inputs`)
    and encoded targets (:func:`fastmlp.losses.encode_targets`), or ``T=None``."""
    stats = {key: [] for key in STATISTICS}
    names = [a.name for a in model.layout.activations]
    for (z, a), W, name in zip(layer_outputs(model, X, True), model.weights, names):
        a64 = a.astype(np.float64)
        stats["weight_norm"].append(float(np.linalg.norm(W.astype(np.float64))))
        stats["act_mean"].append(float(a64.mean()))
        stats["act_std"].append(float(a64.std()))
        tail = _SATURATED_TAILS.get(name)
        stats["saturated"].append(float(tail(a64).mean()) if tail else float("nan"))
        stats["dead"].append(float((z <= 0).all(axis=0).mean()) if name in _RELU_FAMILY
                             else float("nan"))
    if T is None:
        del stats["grad_norm"]
        return stats
    grad = np.empty_like(model.params)
    model.engine.loss_and_grad(X, T, grad)
    stats["grad_norm"] = [float(np.linalg.norm(g.astype(np.float64)))
                          for g in model.layout.weight_views(grad)]
    return stats
