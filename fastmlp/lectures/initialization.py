"""The lecture notes' initialisation experiments (004), measured per layer at initialisation.

:func:`init_experiment` is the forward-pass experiment of the notes: deep
tanh and ReLU networks with weights of several scales, whose activations
collapse, saturate or stay "nicely scaled"; :func:`gradient_experiment`
shows vanishing gradients in a deep sigmoid network against a ReLU/He one.
``fastmlp diagnose`` runs both and prints (and plots) them.  The statistics
are :func:`fastmlp.diagnostics.layer_statistics`.
"""

import numpy as np

from .._utils.figures import pyplot, save_figure
from ..datasets import load_digits
from ..initializers import Normal
from ..model import Model
from ..training.diagnostics import layer_statistics

__all__ = ["INIT_EXPERIMENTS", "init_experiment", "gradient_experiment", "format_experiment",
           "plot_experiments"]


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
        ``stats`` as :func:`~fastmlp.diagnostics.layer_statistics` (without gradients).
    """
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
        ``stats`` as :func:`~fastmlp.diagnostics.layer_statistics`.
    """
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
    plt = pyplot()
    if plt is None:
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
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        files.append(save_figure(plt, fig, ax, f"{prefix}-{key}.png", title, dpi=100))
    return files
