"""The lecture notes' comparison of optimizers, on one model and one data set.

"comparison: mini-batch, momentum, adaptive learning, L-BFGS" (Larson,
*Optimizing Neural Networks*).  Every method trains a copy of the same
initial network on the same split; :func:`compare_optimizers` returns, per
method, the final training and validation loss, the validation metric, the
epochs (L-BFGS: iterations), the wall time, and the time at which the
training loss first reached a target.  ``fastmlp compare`` prints it as a
table and, with matplotlib installed, plots loss against epoch and against
time.
"""

import math
import time
from dataclasses import dataclass, field

from .. import optim
from .._utils.figures import pyplot, save_figure
from ..schedules import StepDecay
from ..trainer import Trainer

__all__ = ["Method", "default_methods", "compare_optimizers", "format_table", "plot_curves"]


@dataclass
class Method:
    """One entry of the comparison: a name, an optimizer factory, a batch size, a schedule."""

    name: str
    make_optimizer: object
    batch_size: object = 32
    make_schedule: object = None
    history: dict = field(default_factory=dict)


def default_methods():
    """The lecture's progression: mini-batch SGD, momentum, Nesterov, cooling,
    the adaptive per-weight methods, and the full-batch ones (Rprop, L-BFGS)."""
    return [
        Method("SGD (mini-batch)", lambda: optim.SGD(lr=0.05)),
        Method("SGD + momentum", lambda: optim.SGD(lr=0.01, momentum=0.9)),
        Method("SGD + Nesterov", lambda: optim.SGD(lr=0.01, momentum=0.9, nesterov=True)),
        Method("SGD + cooling", lambda: optim.SGD(lr=0.1),
               make_schedule=lambda: StepDecay(step_size=10, gamma=0.5)),
        Method("AdaGrad", lambda: optim.Adagrad(lr=0.05)),
        Method("RMSProp", lambda: optim.RMSprop(lr=1e-3)),
        Method("AdaDelta", lambda: optim.Adadelta(lr=1.0)),
        Method("Adam", lambda: optim.Adam(lr=1e-3)),
        Method("NAdam", lambda: optim.NAdam(lr=2e-3)),
        Method("AdaMax", lambda: optim.Adamax(lr=2e-3)),
        Method("Rprop (full batch)", lambda: optim.Rprop(lr=0.01), batch_size=None),
        Method("L-BFGS (full batch)", lambda: optim.LBFGS(max_iter=200), batch_size=None),
    ]


def compare_optimizers(model, X_train, y_train, X_val, y_val, methods=None, epochs=30,
                       target_loss=None, n_threads=None, seed=0):
    """Train a copy of ``model`` with every method and summarise.

    Parameters
    ----------
    model : Model
        The starting point: each method trains its own copy of these weights.
    X_train, y_train, X_val, y_val : arrays
    methods : list of Method, optional
        Default :func:`default_methods`.
    epochs : int
        Epochs for the mini-batch methods and Rprop; L-BFGS counts its own
        iterations.
    target_loss : float, optional
        Training loss whose first crossing is timed; default: the highest
        final training loss, so that every method reaches it and the times
        say who got there first.
    n_threads : int, optional
    seed : int
        Shuffling seed, the same for every method.

    Returns
    -------
    list of dict
        One per method: name, train_loss, val_loss, val metric, epochs, time,
        time_to_target (None when never reached), and the method's history.
    """
    methods = default_methods() if methods is None else methods
    metric = "accuracy" if model.loss != "squared_error" else "r2"
    # load the compiled kernels before any clock starts
    Trainer(model.copy(), optim.SGD(1e-3), epochs=1, verbose=0, n_threads=n_threads).fit(
        X_train[:64], y_train[:64], validation_data=(X_val[:8], y_val[:8]))
    rows = []
    for method in methods:
        net = model.copy()
        opt = method.make_optimizer()
        kwargs = dict(batch_size=method.batch_size)
        if method.make_schedule is not None:
            kwargs["schedule"] = method.make_schedule()
        trainer = Trainer(net, opt, epochs=epochs, seed=seed, verbose=0, n_threads=n_threads,
                          **kwargs)
        start = time.perf_counter()
        history = trainer.fit(X_train, y_train, validation_data=(X_val, y_val))
        elapsed = time.perf_counter() - start
        method.history = history
        rows.append({
            "name": method.name, "train_loss": history["loss"][-1],
            "val_loss": history["val_loss"][-1], metric: history[f"val_{metric}"][-1],
            "epochs": len(history["loss"]), "time": elapsed, "history": history,
        })
    finite = [r["train_loss"] for r in rows if math.isfinite(r["train_loss"])]
    target = max(finite) if target_loss is None else target_loss
    for r in rows:
        clock = 0.0
        r["time_to_target"] = None
        for loss, t in zip(r["history"]["loss"], r["history"]["time"]):
            clock += t
            if loss <= target:
                r["time_to_target"] = clock
                break
    return rows, target, metric


def format_table(rows, target, metric):
    """The comparison as a text table."""
    head = (f"{'method':22} {'train loss':>10} {'val loss':>9} {'val ' + metric:>12} "
            f"{'epochs':>7} {'time s':>7} {f'to loss {target:.3g}':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        reach = "never" if r["time_to_target"] is None else f"{r['time_to_target']:.2f} s"
        lines.append(f"{r['name']:22} {r['train_loss']:10.4f} {r['val_loss']:9.4f} "
                     f"{r[metric]:12.4f} {r['epochs']:7d} {r['time']:7.2f} {reach:>14}")
    return "\n".join(lines)


def plot_curves(rows, prefix):
    """Save training loss against epoch and against time as ``<prefix>-loss-vs-*.png``.

    Returns the file names, or None when matplotlib is not installed.
    """
    plt = pyplot()
    if plt is None:
        return None
    names = []
    for kind in ("epoch", "time"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for i, r in enumerate(rows):
            loss = r["history"]["loss"]
            if kind == "epoch":
                x = range(1, len(loss) + 1)
            else:
                x, clock = [], 0.0
                for t in r["history"]["time"]:
                    clock += t
                    x.append(clock)
            # ten colours in the cycle: dashes tell the rest apart
            ax.plot(list(x), loss, label=r["name"], linestyle="-" if i < 10 else "--")
        ax.set_yscale("log")
        ax.set_xlabel("epoch (L-BFGS: iteration)" if kind == "epoch" else "seconds")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=7)
        names.append(save_figure(plt, fig, ax, f"{prefix}-loss-vs-{kind}.png",
                                 f"Training loss against {kind}", dpi=120))
    return names
