"""``fastmlp compare``, ``diagnose`` and ``search``: the experiments of the lecture notes.

``compare`` and ``search`` read, label and encode their data as ``fastmlp
train`` does (:mod:`fastmlp.cli.prepare`): the same files, text columns
one-hot encoded, converted ``.npy`` files read in place.
"""

import sys

import numpy as np

from ..activations import NAMES as ACTIVATIONS
from ..model import Model
from ..preprocessing import StandardScaler
from ..search import Space, loguniform, read_space, search
from .prepare import prepare, prepare_whole
from .settings import TASKS, add_search_options, hidden_sizes, zero_based

__all__ = ["DEFAULT_SPACE", "add_compare_command", "add_diagnose_command", "add_search_command",
           "compare_command", "diagnose_command", "search_command"]


def add_compare_command(sub):
    """Add the ``compare`` sub-command to ``sub`` (argparse sub-parsers)."""
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


def add_diagnose_command(sub):
    """Add the ``diagnose`` sub-command to ``sub`` (argparse sub-parsers)."""
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


def add_search_command(sub):
    """Add the ``search`` sub-command to ``sub`` (argparse sub-parsers)."""
    search_cmd = sub.add_parser(
        "search", help="search hyper-parameters (default: a small space on the digits)",
        description="Try configurations (grid, random with coarse-to-fine rounds, or "
                    "successive halving over epochs), each trained on the training split and "
                    "scored on a fixed validation split; retrain the best on training + "
                    "validation data and report its test score once.")
    add_search_options(search_cmd)


def _data_options(cmd):
    cmd.add_argument("--data", help="CSV file with a header row, NPZ or NPY file, svmlight "
                                    "file (.svm), or one of fastmlp convert")
    cmd.add_argument("--target", default=None,
                     help="name of the target column (default: 'y' for NPZ, last column for CSV)")
    cmd.add_argument("--task", choices=TASKS, default="auto")
    cmd.add_argument("--zero-based", type=zero_based, default="auto",
                     metavar="{auto,true,false}",
                     help="whether an svmlight file's indices count from 0 (default auto: when "
                          "an index 0 appears)")
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


def _described(d, path):
    """The data for the first line of a report: the file and its target, or the digits."""
    return d.source if path is None else f"{d.source} (target {d.target.name!r})"


def compare_command(args, out=None):
    """Run ``fastmlp compare``: every optimizer of the lecture notes on one model."""
    # imported here: the lectures' modules are not needed for training
    from ..lectures.optimizers import compare_optimizers, format_table, plot_curves

    out = sys.stdout if out is None else out
    d = prepare(args.data, args.target, args.task, args.test_size, args.validation_size,
                args.seed, zero_based=args.zero_based)
    (X_train, y_train), (X_val, y_val) = d.train, d.val
    # statistics of the training split only (sparse inputs: scaled, not centred)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = (scaler.transform(a, np.dtype(args.dtype)) for a in (X_train, X_val))
    model = Model([d.X.shape[1], *args.hidden, d.n_out], activation=args.activation,
                  output=d.output, dtype=args.dtype, seed=args.seed)
    print(f"data: {_described(d, args.data)}: {X_train.shape[0]} train / {X_val.shape[0]} "
          "validation samples", file=out)
    print(f"model: {model}; {args.epochs} epochs per mini-batch method", file=out)
    rows, target, metric = compare_optimizers(model, X_train, y_train, X_val, y_val,
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
    d = prepare_whole(args.data, args.target, args.task, args.test_size, args.validation_size,
                      args.zero_based)
    X, y, fixed = d.X, d.target.y, {}
    if d.in_place:  # a converted file: split in order, read where it is
        X, y = d.train
        fixed = {"validation_data": d.val, "test_data": d.test if args.test_size else None}
    trials = args.trials if args.trials is not None or args.method == "grid" else 12
    print(f"data: {_described(d, args.data)}: {d.X.shape[0]} samples, {d.X.shape[1]} inputs",
          file=out)
    print(f"search: {args.method}, {Space(space)!r}", file=out)

    def report(row):
        print(f"  trial {row['trial']} (round {row['round']}): val {row['val_score']:.4f}, "
              f"{row['epochs']} epochs, {row['seconds']:.2f} s, {row['status']}", file=out)

    result = search(X, y, space, method=args.method, n_trials=trials, rounds=args.rounds,
                    epochs=args.epochs, min_epochs=args.min_epochs, eta=args.eta,
                    validation_size=args.validation_size, test_size=args.test_size,
                    seed=args.seed, n_jobs=args.jobs, backend=args.backend,
                    scheduler=args.scheduler, results=args.results, resume=args.resume,
                    task=d.target.task, on_trial=report, populations=args.populations,
                    **fixed)
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
