"""The ``fastmlp`` command line.

``fastmlp train`` with no arguments trains an MLP on the UCI digits shipped
with the package and prints the test accuracy and the training throughput.
With ``--data file.csv --target column`` it trains on your own table.
"""

import argparse
import sys
import time

import numpy as np

from . import __version__
from .activations import NAMES as ACTIVATIONS
from .data_io import infer_task, load_table
from .datasets import load_digits
from .model import Model
from .optim import NAMES as OPTIMIZERS
from .optim import get_optimizer
from .preprocessing import StandardScaler, train_test_split
from .trainer import Trainer

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
    train.add_argument("--data", help="CSV file with a header row, or NPZ file")
    train.add_argument("--target", default=None,
                       help="name of the target column (default: 'y' for NPZ, last column for CSV)")
    train.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    train.add_argument("--hidden", type=_hidden_sizes, default=[256, 128],
                       help="hidden layer sizes, comma-separated (default 256,128)")
    train.add_argument("--activation", default="relu",
                       help=f"hidden activation: {', '.join(ACTIVATIONS)} (default relu)")
    train.add_argument("--optimizer", default="adam",
                       help=f"optimizer: {', '.join(OPTIMIZERS)} (default adam)")
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: 1e-3 for adam, 0.01 for sgd)")
    train.add_argument("--momentum", type=float, default=None, help="momentum (sgd only)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--test-size", type=float, default=0.2,
                       help="fraction held out for the final test (default 0.2)")
    train.add_argument("--validation-size", type=float, default=0.1,
                       help="fraction of the training part used for validation (default 0.1)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    train.add_argument("--threads", type=int, default=None, help="threads for BLAS and Numba")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser


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
        kwargs["lr"] = args.lr
    if args.momentum is not None:
        if args.optimizer.lower() != "sgd":
            raise ValueError("--momentum applies to --optimizer sgd only")
        kwargs["momentum"] = args.momentum
    return get_optimizer(args.optimizer, **kwargs)


def train_command(args, out=None):
    """Run ``fastmlp train``; returns the final metrics as a dict."""
    out = sys.stdout if out is None else out
    X, y, source = _load(args)
    task = infer_task(y) if args.task == "auto" else args.task
    classification = task == "classification"
    if classification:
        classes, y = np.unique(y, return_inverse=True)
        stratify = y
    else:
        y = np.asarray(y, dtype=np.float64)
        stratify = None
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
    trainer = Trainer(model, _optimizer(args), batch_size=args.batch_size, epochs=args.epochs,
                      seed=args.seed, verbose=0 if args.quiet else 1, n_threads=args.threads)
    print(f"data: {source}: {X.shape[0]} samples, {X.shape[1]} features, "
          + (f"{n_out} classes" if classification else "regression"), file=out)
    print(f"split: {len(X_train)} train / {len(X_val)} validation / {len(X_test)} test; "
          f"inputs standardised on the training split", file=out)
    print(f"model: {model}", file=out)
    print(f"optimizer: {trainer.optimizer}, batch size {args.batch_size}, "
          f"{args.epochs} epochs", file=out)
    history = trainer.fit(X_train, y_train, validation_data=(X_val, y_val))
    train_time = float(np.sum(history["time"]))
    throughput = len(X_train) * len(history["time"]) / train_time
    result = model.evaluate(X_test, y_test)
    metric = "accuracy" if classification else "r2"
    print(f"test {metric} {result[metric]:.4f} (loss {result['loss']:.4f}, {len(X_test)} samples); "
          f"training throughput {throughput:,.0f} samples/s", file=out)
    return result


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
    except (ValueError, TypeError) as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130
    print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
