"""The plot of a search: validation score against each numeric hyper-parameter."""

import numbers

import numpy as np

from .._utils.figures import pyplot

__all__ = ["plot_search"]


def plot_search(result, path, log_names=()):
    """Save a figure of ``result``'s validation scores against each numeric hyper-parameter.

    One panel per hyper-parameter whose values are numbers (log axis for the
    log-uniform ones, ``log_names``); failed trials are left out.  Returns
    ``path``, or None when matplotlib (an optional extra, ``fastmlp[plot]``)
    is not installed or no hyper-parameter is numeric.
    """
    plt = pyplot()
    if plt is None:
        return None
    rows = [r for r in result.trials if r["status"] == "ok"]
    numeric = [name for name in result.names
               if rows and all(isinstance(r[name], numbers.Real)
                               and not isinstance(r[name], bool) for r in rows)]
    if not numeric:
        return None
    fig, axes = plt.subplots(1, len(numeric), figsize=(4 * len(numeric), 3.5), squeeze=False)
    scores = np.array([r["val_score"] for r in rows])
    for ax, name in zip(axes[0], numeric):
        values = np.array([r[name] for r in rows], dtype=float)
        ax.scatter(values, scores, s=18)
        best = result.best_params[name]
        ax.axvline(best, color="tab:red", linewidth=1, label=f"best: {best:.3g}")
        if name in log_names:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(f"validation {result.metric}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
