"""Figures written to files: matplotlib when installed (the ``plot`` extra), nothing otherwise.

Used by the lecture experiments and the search's plot; no other part of
the package imports matplotlib.
"""

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend, or None when not installed.

    (matplotlib is an optional extra, ``fastmlp[plot]``: imported only here,
    when a figure is asked for.)
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_figure(plt, fig, ax, name, title, dpi):
    """Title ``ax``, lay ``fig`` out, write it to ``name`` and close it; returns ``name``."""
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(name, dpi=dpi)
    plt.close(fig)
    return name
