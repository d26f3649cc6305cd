"""The ``fastmlp`` command line.

``fastmlp train`` with no arguments trains an MLP on the UCI digits shipped
with the package and prints the test accuracy and the training throughput.
With ``--data file.csv --target column`` it trains on your own table.
"""

import argparse
import sys
import time

import numpy as np

from ._version import __version__
from .activations import NAMES as ACTIVATIONS
from .data_io import infer_task, load_table
from .datasets import load_digits
from .exceptions import DivergenceError
from .model import Model
from .optim import NAMES as OPTIMIZERS
from .optim import get_optimizer
from .preprocessing import StandardScaler, train_test_split
from .trainer import Trainer
from .warmup import warm_up

__all__ = ["main"]


def _hidden_sizes(text):
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated integers such as "
                                         f"256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastmlp", description="Fast multilayer perceptron training on CPUs.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser(
        "train", help="train an MLP (default data: the UCI digits shipped with fastmlp)",
        description="Train an MLP and report test accuracy (or R^2) and throughput. Without "
                    "--data it uses the 1,797 UCI 8x8 digits shipped with fastmlp.")
    _data_options(train)
    train.add_argument("--optimizer", default="adam",
                       help=f"optimizer: {', '.join(OPTIMIZERS)} (default adam)")
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: the optimizer's own)")
    train.add_argument("--momentum", type=float, default=None, help="momentum (sgd only)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    compare = sub.add_parser(
        "compare", help="compare the lecture's optimizers on one model",
        description="Train the same model from the same initial weights with mini-batch SGD, "
                    "momentum, Nesterov, cooling, AdaGrad, RMSProp, AdaDelta, Adam, NAdam, "
                    "AdaMax, Rprop and L-BFGS, and print a table (and plots with matplotlib).")
    _data_options(compare)
    compare.add_argument("--epochs", type=int, default=30,
                         help="epochs for the mini-batch methods (default 30)")
    compare.add_argument("--target-loss", type=float, default=None,
                         help="training loss whose first crossing is timed (default: twice the "
                              "best final loss)")
    compare.add_argument("--plot", default="fastmlp-compare", metavar="PREFIX",
                         help="file name prefix of the plots (default fastmlp-compare; '' for "
                              "none)")
    diagnose = sub.add_parser(
        "diagnose", help="the lecture's initialisation and vanishing-gradient experiments",
        description="Forward a 6-layer, 4096-wide network with tanh (sigma 0.01, 0.05, "
                    "1/sqrt(fan_in)) and ReLU (1/sqrt(fan_in), He) weights and print the "
                    "activation statistics per layer; then compare per-layer gradient norms of "
                    "a deep sigmoid net and a ReLU/He net on the digits.")
    diagnose.add_argument("--width", type=int, default=4096, help="units per layer (4096)")
    diagnose.add_argument("--depth", type=int, default=6, help="layers (6)")
    diagnose.add_argument("--samples", type=int, default=16, help="input rows (16)")
    diagnose.add_argument("--grad-depth", type=int, default=8,
                          help="hidden layers of the gradient experiment's nets (8)")
    diagnose.add_argument("--seed", type=int, default=0)
    diagnose.add_argument("--plot", default="fastmlp-diagnose", metavar="PREFIX",
                          help="file name prefix of the plots (default fastmlp-diagnose; '' "
                               "for none)")
    warmup = sub.add_parser(
        "warmup", help="compile the kernels of common configurations ahead of time",
        description="Compile (or load from Numba's cache) the kernels of the common "
                    "configurations -- relu with softmax, identity and sigmoid outputs and Adam, "
                    "tanh with SGD -- for training, gradients, evaluation and prediction, so "
                    "that later runs start without compiling. Run it where the cache will "
                    "live: while building a Docker image or on each node of a cluster.")
    warmup.add_argument("--dtype", type=_dtypes, default=("float32", "float64"),
                        help="comma-separated dtypes (default float32,float64)")
    warmup.add_argument("--threads", type=int, default=None,
                        help="threads the later runs will use (default: all cores)")
    return parser


def _dtypes(text):
    names = tuple(t for t in text.replace(" ", "").split(",") if t)
    bad = [t for t in names if t not in ("float32", "float64")]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--dtype takes float32 and/or float64, "
                                         f"comma-separated, got {text!r}")
    return names


def _data_options(cmd):
    cmd.add_argument("--data", help="CSV file with a header row, or NPZ file")
    cmd.add_argument("--target", default=None,
                     help="name of the target column (default: 'y' for NPZ, last column for CSV)")
    cmd.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    cmd.add_argument("--hidden", type=_hidden_sizes, default=[256, 128],
                     help="hidden layer sizes, comma-separated (default 256,128)")
    cmd.add_argument("--activation", default="relu",
                     help=f"hidden activation: {', '.join(ACTIVATIONS)} (default relu)")
    cmd.add_argument("--test-size", type=float, default=0.2,
                     help="fraction held out for the final test (default 0.2)")
    cmd.add_argument("--validation-size", type=float, default=0.1,
                     help="fraction of the training part used for validation (default 0.1)")
    cmd.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    cmd.add_argument("--threads", type=int, default=None, help="threads for BLAS and Numba")
    cmd.add_argument("--seed", type=int, default=0)


def _load(args):
    if args.data is None:
        X, y = load_digits()
        return X, y, "UCI digits (shipped with fastmlp)"
    target = args.target
    if target is None:
        target = "y" if args.data.lower().endswith(".npz") else _last_csv_column(args.data)
    X, y, _ = load_table(args.data, target)
    return X, y, f"{args.data} (target {target!r})"


def _last_csv_column(path):
    import csv
    try:
        with open(path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f))
    except (OSError, StopIteration, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the header of {path}: {exc}") from None
    return header[-1].strip()


def _optimizer(args):
    kwargs = {}
    if args.lr is not None:
        if args.optimizer.lower() == "lbfgs":
            raise ValueError("--lr does not apply to lbfgs (its line search picks the step)")
        kwargs["lr"] = args.lr
    if args.momentum is not None:
        if args.optimizer.lower() != "sgd":
            raise ValueError("--momentum applies to --optimizer sgd only")
        kwargs["momentum"] = args.momentum
    return get_optimizer(args.optimizer, **kwargs)


def _prepare(args):
    """Load, split (train / validation / test) and standardise; build the model."""
    X, y, source = _load(args)
    task = infer_task(y) if args.task == "auto" else args.task
    classification = task == "classification"
    if classification:
        classes, y = np.unique(y, return_inverse=True)
        stratify = y
    else:
        y = np.asarray(y, dtype=np.float64)
        classes, stratify = None, None
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=args.test_size, stratify=stratify, seed=args.seed)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=args.validation_size,
        stratify=y_rest if classification else None, seed=args.seed + 1)
    scaler = StandardScaler().fit(X_train)  # statistics of the training split only
    X_train, X_val, X_test = (scaler.transform(a, np.dtype(args.dtype))
                              for a in (X_train, X_val, X_test))
    n_out = len(classes) if classification else 1
    model = Model([X.shape[1], *args.hidden, n_out], activation=args.activation,
                  output="softmax" if classification else "identity", dtype=args.dtype,
                  seed=args.seed)
    return dict(X=X, source=source, classification=classification, n_out=n_out, model=model,
                train=(X_train, y_train), val=(X_val, y_val), test=(X_test, y_test))


def train_command(args, out=None):
    """Run ``fastmlp train``; returns the final metrics as a dict."""
    out = sys.stdout if out is None else out
    d = _prepare(args)
    X, model, classification, n_out = d["X"], d["model"], d["classification"], d["n_out"]
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = d["train"], d["val"], d["test"]
    source = d["source"]
    opt = _optimizer(args)
    batch = None if getattr(opt, "full_batch", False) else args.batch_size
    trainer = Trainer(model, opt, batch_size=batch, epochs=args.epochs, seed=args.seed,
                      verbose=0 if args.quiet else 1, n_threads=args.threads)
    print(f"data: {source}: {X.shape[0]} samples, {X.shape[1]} features, "
          + (f"{n_out} classes" if classification else "regression"), file=out)
    print(f"split: {len(X_train)} train / {len(X_val)} validation / {len(X_test)} test; "
          f"inputs standardised on the training split", file=out)
    print(f"model: {model}", file=out)
    print(f"optimizer: {trainer.optimizer}, batch size {batch or 'full'}, "
          f"{args.epochs} epochs", file=out)
    try:
        history = trainer.fit(X_train, y_train, validation_data=(X_val, y_val))
    except KeyboardInterrupt:
        print(f"interrupted in epoch {trainer.epoch + 1}: the model keeps the weights after "
              f"the last completed batch ({trainer.steps} optimizer steps, "
              f"{trainer.epoch} completed epochs)", file=sys.stderr)
        raise
    train_time = float(np.sum(history["time"]))
    throughput = len(X_train) * len(history["time"]) / train_time
    result = model.evaluate(X_test, y_test)
    metric = "accuracy" if classification else "r2"
    print(f"test {metric} {result[metric]:.4f} (loss {result['loss']:.4f}, {len(X_test)} samples); "
          f"training throughput {throughput:,.0f} samples/s", file=out)
    return result


def compare_command(args, out=None):
    """Run ``fastmlp compare``: every optimizer of the lecture notes on one model."""
    # imported here: the lectures' modules are not needed for training
    from .lectures.optimizers import compare_optimizers, format_table, plot_curves

    out = sys.stdout if out is None else out
    d = _prepare(args)
    (X_train, y_train), (X_val, y_val) = d["train"], d["val"]
    print(f"data: {d['source']}: {len(X_train)} train / {len(X_val)} validation samples", file=out)
    print(f"model: {d['model']}; {args.epochs} epochs per mini-batch method", file=out)
    rows, target, metric = compare_optimizers(d["model"], X_train, y_train, X_val, y_val,
                                              epochs=args.epochs, target_loss=args.target_loss,
                                              n_threads=args.threads, seed=args.seed)
    print(format_table(rows, target, metric), file=out)
    if args.plot:
        files = plot_curves(rows, args.plot)
        if files is None:
            print("(no plots: install matplotlib, e.g. pip install 'fastmlp[plot]')", file=out)
        else:
            print(f"plots: {', '.join(files)}", file=out)
    return rows


def diagnose_command(args, out=None):
    """Run ``fastmlp diagnose``: the lecture's experiments on initialisation and gradients."""
    # imported here: the lectures' modules are not needed for training
    from .lectures.initialization import (format_experiment, gradient_experiment,
                                          init_experiment, plot_experiments)

    out = sys.stdout if out is None else out
    for name in ("width", "depth", "samples", "grad_depth"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer")
    print(f"Forward pass, {args.depth} layers of {args.width} units, x = randn({args.samples}, "
          f"{args.width}), W = sigma * randn, no bias:", file=out)
    init = init_experiment(args.width, args.depth, args.samples, args.seed)
    print(format_experiment(init, ["act_mean", "act_std", "saturated", "dead"]), file=out)
    print("(saturated: share of |tanh| > 0.99; dead: share of ReLU units that are 0 for "
          "every input row)\n", file=out)
    print(f"Gradients at initialisation, digits, {args.grad_depth} hidden layers of 64 units, "
          "||dL/dW|| per layer (layer 1 next to the input):", file=out)
    grads = gradient_experiment(args.grad_depth, seed=args.seed)
    print(format_experiment(grads, ["grad_norm"]), file=out)
    if args.plot:
        files = plot_experiments(init, grads, args.plot)
        if files is None:
            print("(no plots: install matplotlib, e.g. pip install 'fastmlp[plot]')", file=out)
        else:
            print(f"plots: {', '.join(files)}", file=out)
    return init, grads


def main(argv=None):
    """Entry point of the ``fastmlp`` console script and ``python -m fastmlp``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    start = time.perf_counter()
    try:
        if args.command == "train":
            train_command(args)
        elif args.command == "compare":
            compare_command(args)
        elif args.command == "diagnose":
            diagnose_command(args)
        elif args.command == "warmup":
            warm_up(args.dtype, args.threads)
    except (ValueError, TypeError, OSError, DivergenceError, FloatingPointError) as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130
    print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
