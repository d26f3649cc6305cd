"""Training diagnostics: what each layer's weights, gradients and activations do.

The lecture notes (004) judge an initialisation or an activation by the
statistics of every layer: activations that collapse to zero (weights too
small: "all activations become zero", and so do the gradients dL/dW, which
are proportional to them), that saturate (tanh "completely saturated,
either -1 and 1 ... local gradients are all zero"), or that stay "nicely
scaled for all layers" (sigma = 1/sqrt(D_in) for tanh, sqrt(2/D_in) for
ReLU).  :func:`layer_statistics` measures exactly that on a sample of
inputs; ``Trainer(diagnostics=True)`` records it in the history every epoch,
and ``fastmlp diagnose`` reruns the lecture's experiments.

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

from .kernels import activations as _ka

__all__ = ["layer_outputs", "layer_statistics", "prepared_layer_statistics", "STATISTICS",
           "init_experiment", "gradient_experiment", "format_experiment", "plot_experiments"]

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
    A = np.ascontiguousarray(X, dtype=model.dtype) if preprocessed else model.prepare_inputs(X)
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
                          np.empty((0, Z.shape[1]), dtype=dtype))
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
        from ._validation import check_lengths
        from .losses import encode_targets

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


# --------------------------------------------------------------- experiments
#: The lecture's initialisation experiments: (label, activation, init).
INIT_EXPERIMENTS = (
    ("tanh, sigma=0.01", "tanh", 0.01),
    ("tanh, sigma=0.05", "tanh", 0.05),
    ("tanh, sigma=1/sqrt(fan_in)", "tanh", "lecun_normal"),
    ("relu, sigma=1/sqrt(fan_in)", "relu", "lecun_normal"),
    ("relu, He sigma=sqrt(2/fan_in)", "relu", "he_normal"),
)


def init_experiment(width=4096, depth=6, n_samples=16, seed=0, dtype="float32"):
    """The lecture's forward-pass experiment: activation statistics per layer at init.

    ``depth`` layers of ``width`` units (the lecture: 6 x 4096), inputs
    ``x = randn(n_samples, width)`` (16 rows), weights ``W = sigma * randn``
    with each scheme of :data:`INIT_EXPERIMENTS`, no bias; every layer
    applies the activation.

    Returns
    -------
    list of (label, stats)
        ``stats`` as :func:`layer_statistics` (without gradients).
    """
    from .initializers import Normal
    from .model import Model

    x = np.random.default_rng(seed).standard_normal((n_samples, width))
    results = []
    for label, activation, init in INIT_EXPERIMENTS:
        scheme = Normal(init) if isinstance(init, float) else init
        model = Model([width] * (depth + 1), activation=activation, output=activation,
                      loss="squared_error", init=scheme, dtype=dtype, seed=seed)
        results.append((label, layer_statistics(model, x)))
        del model  # 6 x 4096^2 weights: free them before the next network
    return results


def gradient_experiment(depth=8, width=64, seed=0):
    """Vanishing gradients: per-layer ||dL/dW|| of a deep sigmoid net vs a ReLU/He net.

    Both networks (``depth`` hidden layers of ``width`` units, softmax
    output) start from their default initialisation (Glorot for sigmoid,
    He for ReLU) on the standardised digits; the gradient of the mean
    cross-entropy is taken over the whole data set.  The sigmoid's
    derivative is at most 1/4, so the gradient shrinks layer after layer
    towards the input.

    Returns
    -------
    list of (label, stats)
        ``stats`` as :func:`layer_statistics`.
    """
    from .datasets import load_digits
    from .model import Model

    X, y = load_digits()
    results = []
    for label, activation in (("sigmoid, Glorot", "sigmoid"), ("relu, He", "relu")):
        model = Model([X.shape[1]] + [width] * depth + [10], activation=activation,
                      preprocessing="standardize", dtype="float64", seed=seed)
        model.fit_preprocessing(X)
        results.append((label, layer_statistics(model, X, y)))
    return results


def format_experiment(results, keys):
    """A text table: one row per (experiment, statistic), one column per layer."""
    n_layers = len(results[0][1][keys[0]])
    label_width = max(len(label) for label, _ in results) + 2
    head = f"{'':{label_width}}{'':12}" + "".join(f"{f'layer {i + 1}':>11}"
                                                   for i in range(n_layers))
    lines = [head]
    for label, stats in results:
        for key in keys:
            values = "".join(f"{v:>11.3g}" if np.isfinite(v) else f"{'-':>11}"
                             for v in stats[key])
            lines.append(f"{label:{label_width}}{key:12}{values}")
            label = ""
    return "\n".join(lines)


def plot_experiments(init_results, grad_results, prefix):
    """Save the per-layer activation std and gradient norm plots; None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    files = []
    for results, key, title, log in (
            (init_results, "act_std", "activation std per layer at initialisation", False),
            (grad_results, "grad_norm", "||dL/dW|| per layer at initialisation", True)):
        fig, ax = plt.subplots(figsize=(7, 4))
        for label, stats in results:
            ax.plot(range(1, len(stats[key]) + 1), stats[key], marker="o", label=label)
        ax.set_xlabel("layer")
        ax.set_ylabel(key)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"{prefix}-{key}.png"
        fig.savefig(name, dpi=100)
        plt.close(fig)
        files.append(name)
    return files
