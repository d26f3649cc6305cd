"""The ``fastmlp`` command line.

``fastmlp train`` with no arguments trains an MLP on the UCI digits shipped
with the package and prints the test accuracy and the training throughput.
With ``--data file.csv --target column`` it trains on your own table;
``--save model.npz`` keeps the model with what predicting on new raw rows
needs (:mod:`fastmlp.cli_model`: ``predict``, ``evaluate``, ``info``).

Exit codes: 0 success, 2 usage or input errors (a message on stderr), 1 a
training failure (divergence, overflow), 130 Ctrl-C.
"""

import argparse
import io
import json
import sys
import time

import numpy as np

from .._version import __version__
from ..activations import NAMES as ACTIVATIONS
from ..callbacks import EarlyStopping
from ..data.convert import (
    add_convert_command,
    convert_command,
    is_converted,
    open_converted,
)
from ..data.table_io import infer_task, load_table
from ..data.tables import Table, TabularEncoder, fit_labels, read_table, target_values
from ..datasets import load_digits
from ..exceptions import DivergenceError
from ..model import Model
from ..optim import get_optimizer
from ..preprocessing import StandardScaler, train_test_split
from ..schedules import get_schedule
from ..search import Space, loguniform, read_space, search
from ..trainer import Trainer
from .predict import CLI_FORMAT, add_model_commands, run_model_command
from .settings import (
    add_search_options,
    add_train_options,
    as_toml,
    hidden_sizes,
    resolve,
)
from .warmup import warm_up

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastmlp", description="Fast multilayer perceptron training on CPUs.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command")
    train = sub.add_parser(
        "train", help="train an MLP (default data: the UCI digits shipped with fastmlp)",
        description="Train an MLP and report test accuracy (or R^2) and throughput. Without "
                    "--data it uses the 1,797 UCI 8x8 digits shipped with fastmlp. Text "
                    "feature columns are one-hot encoded; missing values are refused unless "
                    "--impute fills them. Settings come from the defaults, --config, then "
                    "the flags; the resolved ones are printed as a TOML file.")
    add_train_options(train)
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
    search_cmd = sub.add_parser(
        "search", help="search hyper-parameters (default: a small space on the digits)",
        description="Try configurations (grid, random with coarse-to-fine rounds, or "
                    "successive halving over epochs), each trained on the training split and "
                    "scored on a fixed validation split; retrain the best on training + "
                    "validation data and report its test score once.")
    add_search_options(search_cmd)
    add_model_commands(sub)
    add_convert_command(sub)
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
    cmd.add_argument("--hidden", type=hidden_sizes, default=[256, 128],
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


def _optimizer(settings):
    """The optimizer the settings name, with the hyper-parameters they give."""
    name = settings["optimizer"].lower()
    kwargs = {key: tuple(v) if isinstance(v, list) else v
              for key, v in settings["optimizer_params"].items()}
    for key in ("lr", "momentum", "weight_decay"):
        if settings[key] is not None:
            kwargs[key] = settings[key]
    if "lr" in kwargs and name == "lbfgs":
        raise ValueError("--lr does not apply to lbfgs (its line search picks the step)")
    if "momentum" in kwargs and name not in ("sgd", "rmsprop"):
        raise ValueError("--momentum applies to --optimizer sgd only (and rmsprop)")
    try:
        return get_optimizer(name, **kwargs)
    except TypeError as exc:  # an argument the optimizer has not got
        raise ValueError(f"optimizer {name!r}: {exc}") from None


def _schedule(settings):
    if settings["schedule"] is None:
        if settings["schedule_params"]:
            raise ValueError("--schedule-param needs --schedule NAME")
        return None
    return get_schedule(settings["schedule"], **settings["schedule_params"])


def _read_training_table(settings):
    """The training table and its target column's name."""
    if settings["data"] is None:
        X, y = load_digits()
        names = [f"x{j}" for j in range(X.shape[1])]
        table = Table(names + ["y"], list(X.T) + [y], "UCI digits (shipped with fastmlp)",
                      positional=True)
        return table, "y"
    table = read_table(settings["data"])
    target = settings["target"]
    if target is None:
        target = "y" if str(settings["data"]).lower().endswith(".npz") else table.names[-1]
    table.column(target)  # ValueError naming the columns when there is no such one
    settings["target"] = target  # the printed settings then name it
    return table, target


def _prepare_converted(settings):
    """Memory-map a file of ``fastmlp convert`` and split it into contiguous row ranges.

    The features are never copied here: the splits are slices (views) of the
    memory map -- validation and test are the file's last rows, so a file
    ordered by class or time should be shuffled before conversion.  The
    encoding (and imputation) is the conversion's, stored with the model.
    """
    path = settings["data"]
    if settings["impute"] is not None or settings["categorical"]:
        raise ValueError(f"{path} is encoded already: give --impute and --categorical to "
                         "fastmlp convert, not to train")
    X, target, meta = open_converted(path)
    if settings["target"] not in (None, meta["target"]):
        raise ValueError(f"{path} was converted with the target {meta['target']!r}, not "
                         f"{settings['target']!r}")
    settings["target"] = meta["target"]
    labels = meta["classes"]
    task = settings["task"]
    if task == "auto":
        task = "classification" if labels is not None else infer_task(target)
    classification = task == "classification"
    numeric_labels = labels is None
    if classification and numeric_labels:
        values, y = np.unique(target, return_inverse=True)
        labels = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
    elif classification:
        y = target
    elif labels is not None:
        raise ValueError(f"{path}: regression needs a numeric target; {meta['target']!r} "
                         "holds text")
    else:
        y = target
    n = X.shape[0]
    n_test = int(round(n * settings["test_size"]))
    n_val = int(round((n - n_test) * settings["validation_size"]))
    n_train = n - n_test - n_val
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(f"{path}: {n} rows are too few for a train / validation / test split")
    val_end = n_train + n_val
    metadata = {"format": CLI_FORMAT, "task": task, "target": meta["target"],
                "classes": labels if classification else None,
                "numeric_labels": numeric_labels, "features": meta["features"],
                "training": {"source": str(path), "samples": int(n), "config": settings}}
    return dict(X=X, source=str(path), target=meta["target"], classification=classification,
                n_out=len(labels) if classification else 1, metadata=metadata,
                train=(X[:n_train], y[:n_train]), val=(X[n_train:val_end], y[n_train:val_end]),
                test=(X[val_end:], y[val_end:]))


def _prepare_training(settings):
    """Read, encode and split (train / validation / test) the data; the model's metadata."""
    if settings["data"] is not None and is_converted(settings["data"]):
        return _prepare_converted(settings)
    table, target = _read_training_table(settings)
    features = table.without(target)
    if not features.names:
        raise ValueError(f"{table.source}: no feature columns besides the target {target!r}")
    values, _ = target_values(table, target)
    task = infer_task(values) if settings["task"] == "auto" else settings["task"]
    classification = task == "classification"
    labels, numeric_labels = None, False
    if classification:
        labels, numeric_labels, y = fit_labels(table, target)
    elif values.dtype.kind != "f":
        raise ValueError(f"{table.source}: regression needs a numeric target; {target!r} "
                         "holds text")
    else:
        y = values
    rows = np.arange(table.n_rows)
    rest, test = train_test_split(rows, test_size=settings["test_size"],
                                  stratify=y if classification else None, seed=settings["seed"])
    train, val = train_test_split(rest, test_size=settings["validation_size"],
                                  stratify=y[rest] if classification else None,
                                  seed=settings["seed"] + 1)
    # categories from every row (held-out rows always encode), fill values from training rows
    encoder = TabularEncoder.fit(features, train_rows=train, impute=settings["impute"],
                                 categorical=settings["categorical"])
    X = encoder.transform(features)
    metadata = {"format": CLI_FORMAT, "task": task, "target": target, "classes": labels,
                "numeric_labels": numeric_labels, "features": encoder.to_dict(),
                "training": {"source": table.source, "samples": int(table.n_rows),
                             "config": settings}}
    return dict(X=X, source=table.source, target=target, classification=classification,
                n_out=len(labels) if classification else 1, metadata=metadata,
                train=(X[train], y[train]), val=(X[val], y[val]), test=(X[test], y[test]))


def _new_trainer(settings, d, callbacks):
    model = Model([d["X"].shape[1], *settings["hidden"], d["n_out"]],
                  activation=settings["activation"],
                  output="softmax" if d["classification"] else "identity",
                  dtype=settings["dtype"], init=settings["init"], seed=settings["seed"],
                  l1=settings["l1"], l2=settings["l2"], dropout=settings["dropout"],
                  dropconnect=settings["dropconnect"], batch_norm=settings["batch_norm"],
                  preprocessing=None if settings["preprocessing"] == "none"
                  else settings["preprocessing"])
    opt = _optimizer(settings)
    batch = None if getattr(opt, "full_batch", False) else settings["batch_size"]
    verbose = 0 if settings["quiet"] or settings["json"] else 1
    extra = {"callbacks": callbacks} if callbacks else {}
    if settings["checkpoint_dir"] is not None:
        extra.update(checkpoint_dir=settings["checkpoint_dir"],
                     checkpoint_every=settings["checkpoint_every"])
    return Trainer(model, opt, batch_size=batch, epochs=settings["epochs"], seed=settings["seed"],
                   verbose=verbose, n_threads=settings["threads"], schedule=_schedule(settings),
                   comm=_world() if settings["distributed"] else None, **extra)


def _world():
    """MPI's COMM_WORLD, for ``--distributed`` (mpi4py is imported only then)."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise ValueError('--distributed needs mpi4py and an MPI library: '
                         'pip install "fastmlp[mpi]"') from None
    return MPI.COMM_WORLD


def _trainer_and_data(args):
    """Settings, prepared data and trainer: a new one, or the checkpoint's (``--resume``)."""
    resumed = None
    if args.resume is not None:
        resumed = Trainer.from_checkpoint(
            args.resume, comm=_world() if getattr(args, "distributed", False) else None)
        saved = resumed.model.metadata.get("training", {}).get("config")
        if saved is None:
            raise ValueError(f"{args.resume}: the checkpoint was not written by fastmlp train "
                             "(no settings stored with its model)")
        settings = resolve(args, saved=saved)
    else:
        settings = resolve(args)
    d = _prepare_training(settings)
    callbacks = []
    if settings["early_stopping"] is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=settings["early_stopping"]))
    if resumed is None:
        trainer = _new_trainer(settings, d, callbacks)
        trainer.model.metadata = d["metadata"]  # in every checkpoint too
        return settings, d, trainer
    if resumed.model.metadata.get("features") != d["metadata"]["features"]:
        raise ValueError(f"--resume: the data encode differently from the checkpointed run's "
                         f"({d['source']} changed?)")
    resumed.callbacks.extend(callbacks)
    if settings["quiet"] or settings["json"]:
        resumed.verbose = 0
    return settings, d, resumed


def train_command(args, out=None):
    """Run ``fastmlp train``; returns the final test metrics as a dict."""
    out = sys.stdout if out is None else out
    settings, d, trainer = _trainer_and_data(args)
    if trainer.rank != 0:  # data-parallel: rank 0 reports and saves for all
        out = io.StringIO()
        settings = {**settings, "save": None}
    info = sys.stderr if settings["json"] else out  # stdout holds the JSON alone
    model, n_out = trainer.model, d["n_out"]
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = d["train"], d["val"], d["test"]
    print("configuration (as a --config file):\n  "
          + as_toml(settings).replace("\n", "\n  "), file=info)
    print(f"data: {d['source']} (target {d['target']!r}): {d['X'].shape[0]} samples, "
          f"{d['X'].shape[1]} inputs, "
          + (f"{n_out} classes" if d["classification"] else "regression"), file=info)
    print(f"split: {len(X_train)} train / {len(X_val)} validation / {len(X_test)} test; "
          f"preprocessing {settings['preprocessing']} fitted on the training split", file=info)
    print(f"model: {model}", file=info)
    print(f"optimizer: {trainer.optimizer}, batch size {trainer.batch_size or 'full'}, "
          f"{settings['epochs']} epochs", file=info)
    try:
        history = trainer.fit(X_train, y_train, validation_data=(X_val, y_val))
    except KeyboardInterrupt:
        print(f"interrupted in epoch {trainer.epoch + 1}: the model keeps the weights after "
              f"the last completed batch ({trainer.steps} optimizer steps, "
              f"{trainer.epoch} completed epochs)", file=sys.stderr)
        raise
    result = {k: float(v) for k, v in model.evaluate(X_test, y_test).items()}
    summary = _record_training(model, trainer, history, result, len(X_train))
    metric = "accuracy" if d["classification"] else "r2"
    print(f"test {metric} {result[metric]:.4f} (loss {result['loss']:.4f}, {len(X_test)} "
          f"samples); training throughput {summary['samples_per_sec']:,.0f} samples/s",
          file=info)
    if settings["save"] is not None:
        model.save(settings["save"])
        print(f"model saved to {settings['save']}", file=info)
    if settings["json"]:
        print(json.dumps({"test": result, **summary, "saved": settings["save"]}), file=out)
    return result


def _record_training(model, trainer, history, result, n_train):
    """Store the run's summary in the model's metadata; returns it."""
    seconds = float(np.sum(history["time"])) if history.get("time") else 0.0
    summary = {"epochs": int(trainer.epoch), "steps": int(trainer.steps),
               "samples_per_sec": n_train * len(history.get("time", ())) / seconds
               if seconds > 0 else 0.0}
    last = {k: float(v[-1]) for k, v in history.items()
            if v and k in ("loss", "accuracy", "r2", "val_loss", "val_accuracy", "val_r2")}
    training = model.metadata.setdefault("training", {})
    training.update(test_metrics=result, last_epoch=last, epochs=summary["epochs"])
    return summary


def compare_command(args, out=None):
    """Run ``fastmlp compare``: every optimizer of the lecture notes on one model."""
    # imported here: the lectures' modules are not needed for training
    from ..lectures.optimizers import compare_optimizers, format_table, plot_curves

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
    from ..lectures.initialization import (
        format_experiment,
        gradient_experiment,
        init_experiment,
        plot_experiments,
    )

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


#: The space ``fastmlp search`` tries without --space: small, quick on the digits.
DEFAULT_SPACE = {"hidden": [(64,), (128,), (128, 64)], "lr": loguniform(1e-4, 1e-1),
                 "l2": loguniform(1e-6, 1e-2), "batch_size": [32, 64]}


def search_command(args, out=None):
    """Run ``fastmlp search``; returns the :class:`~fastmlp.search.SearchResult`."""
    out = sys.stdout if out is None else out
    if args.resume and args.results is None:
        raise ValueError("--resume continues the search recorded in --results R.csv: give it")
    space = DEFAULT_SPACE if args.space is None else read_space(args.space)
    X, y, source = _load(args)
    trials = args.trials if args.trials is not None or args.method == "grid" else 12
    print(f"data: {source}: {X.shape[0]} samples, {X.shape[1]} inputs", file=out)
    print(f"search: {args.method}, {Space(space)!r}", file=out)

    def report(row):
        print(f"  trial {row['trial']} (round {row['round']}): val {row['val_score']:.4f}, "
              f"{row['epochs']} epochs, {row['seconds']:.2f} s, {row['status']}", file=out)

    result = search(X, y, space, method=args.method, n_trials=trials, rounds=args.rounds,
                    epochs=args.epochs, min_epochs=args.min_epochs, eta=args.eta,
                    validation_size=args.validation_size, test_size=args.test_size,
                    seed=args.seed, n_jobs=args.jobs, backend=args.backend,
                    scheduler=args.scheduler, results=args.results, resume=args.resume,
                    task=args.task, on_trial=report)
    print("\nleaderboard (validation scores):\n" + result.leaderboard(), file=out)
    best = ", ".join(f"{k}={v!r}" for k, v in result.best_params.items())
    print(f"\nbest configuration (trial {result.best_trial}): {best}; validation "
          f"{result.metric} {result.best_score:.4f}", file=out)
    print(f"test {result.metric} of the best, retrained on training + validation data: "
          f"{result.test_score:.4f}", file=out)
    if args.plot:
        saved = result.plot(args.plot)
        print(f"plot: {saved}" if saved else "(no plot: install matplotlib, e.g. pip install "
              "'fastmlp[plot]', and search at least one numeric hyper-parameter)", file=out)
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
        elif args.command == "compare":
            compare_command(args)
        elif args.command == "diagnose":
            diagnose_command(args)
        elif args.command == "search":
            search_command(args)
        elif args.command == "warmup":
            warm_up(args.dtype, args.threads)
        elif args.command == "convert":
            convert_command(args)
        else:
            run_model_command(args)
    except (DivergenceError, FloatingPointError) as exc:  # the training failed, not the input
        print(f"fastmlp: training failed: {exc}", file=sys.stderr)
        return _end_job(args, 1)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return _end_job(args, 2)
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return _end_job(args, 130)
    if _rank(args) == 0:  # data-parallel: rank 0 reports for all
        print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def _running_world(args):
    """COMM_WORLD when this is a ``--distributed`` command that started MPI, else None."""
    if getattr(args, "distributed", False) and "mpi4py.MPI" in sys.modules:
        return sys.modules["mpi4py.MPI"].COMM_WORLD
    return None


def _rank(args):
    """This process's MPI rank for ``--distributed`` (0 otherwise)."""
    world = _running_world(args)
    return 0 if world is None else world.Get_rank()


def _end_job(args, code):
    """The exit code of a failed command; a ``--distributed`` one aborts the whole MPI
    job instead, so that no other rank waits for this one forever."""
    world = _running_world(args)
    if world is not None:
        sys.stderr.flush()
        world.Abort(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
