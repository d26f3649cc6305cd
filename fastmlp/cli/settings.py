"""The settings of ``fastmlp train``: one table for the flags and the ``--config`` file.

Every setting has a default, a flag (``--batch-size``) and a key of the
TOML file (``batch_size``; ``batch-size`` is accepted too).  Later layers
win: the defaults, then (with ``--resume``) the settings of the
checkpointed run, then the ``--config`` file, then the flags given.  The
resolved settings print as a TOML file that reproduces the run.
"""

import argparse
import json
import sys

from ..activations import NAMES as ACTIVATIONS
from ..data.encoding import IMPUTE_METHODS
from ..optim import NAMES as OPTIMIZERS
from ..schedules import NAMES as SCHEDULES
from ..search.backends import BACKENDS
from ..training.settings import SPARSE_UPDATES

__all__ = ["SETTINGS", "add_train_options", "add_search_options", "resolve", "read_config",
           "as_toml", "hidden_sizes", "key_values", "column_names", "zero_based", "TASKS"]

#: The values of ``--task``.
TASKS = ("auto", "classification", "regression", "multilabel")


def column_names(text):
    """``"color, size"`` as ``["color", "size"]`` (argparse type of ``--categorical``)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def hidden_sizes(text):
    """``"256,128"`` as ``[256, 128]`` (argparse type of ``--hidden``)."""
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated integers such as "
                                         f"256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _scalar(text):
    """A flag's ``VALUE`` as the int, float, bool or string it spells."""
    lower = text.strip().lower()
    if lower in ("true", "false"):
        return lower == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def key_values(text):
    """``"KEY=VALUE"`` as ``{"KEY": value}``; a comma-separated value becomes a list."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    parts = [_scalar(v) for v in value.split(",")]
    return {key.strip(): parts if len(parts) > 1 else parts[0]}


def zero_based(text):
    """``--zero-based``: "auto", or whether an svmlight file's indices count from 0."""
    value = text.strip().lower()
    if value not in ("auto", "true", "false"):
        raise argparse.ArgumentTypeError(f"--zero-based takes auto, true or false, got "
                                         f"{text!r}")
    return value if value == "auto" else value == "true"


def _every(text):
    """``--checkpoint-every``: epochs as an int, or a time or batch count as text."""
    return int(text) if text.strip().isdigit() else text


_NUMBER = (int, float)
#: name: (default, types a config value may have, argparse keywords).
SETTINGS = {
    "data": (None, str, dict(help="CSV file with a header row, NPZ or NPY file, svmlight / "
                                  "libsvm file (.svm, sparse), or the .meta.json of fastmlp "
                                  "convert (default: the UCI digits shipped with fastmlp)")),
    "target": (None, str, dict(help="target column (default: 'y' for NPZ, last CSV column; an "
                                    "svmlight file's labels)")),
    "task": ("auto", str, dict(choices=TASKS, help="multilabel: svmlight rows with several "
                                                   "labels (1,3 idx:val ...), sigmoid outputs "
                                                   "and binary cross-entropy; auto picks it "
                                                   "when a row lists several labels")),
    "zero_based": ("auto", (str, bool), dict(type=zero_based, metavar="{auto,true,false}",
                                             help="whether an svmlight file's indices count "
                                                  "from 0; auto: when an index 0 appears")),
    "impute": (None, str, dict(choices=IMPUTE_METHODS, help="fill missing feature values "
                                                           "with the training split's mean "
                                                           "or median (default: refuse them)")),
    "categorical": ([], list, dict(type=column_names, metavar="COLUMNS",
                                   help="comma-separated feature columns "
                                        "to one-hot encode even if numeric")),
    "test_size": (0.2, float, dict(type=float, help="fraction held out for the final test")),
    "validation_size": (0.1, float, dict(type=float, help="fraction of the training part "
                                                         "used for validation")),
    "hidden": ([256, 128], list, dict(type=hidden_sizes, help="hidden layer sizes, "
                                                             "comma-separated")),
    "activation": ("relu", str, dict(help=f"hidden activation: {', '.join(ACTIVATIONS)}")),
    "init": ("auto", str, dict(help="weight initialisation (fastmlp.initializers)")),
    "dropout": (0.0, _NUMBER, dict(type=float, help="dropout rate of the hidden outputs")),
    "dropconnect": (0.0, _NUMBER, dict(type=float, help="DropConnect rate of every layer")),
    "batch_norm": (False, bool, dict(action="store_true", help="batch normalisation")),
    "l1": (0.0, _NUMBER, dict(type=float, help="L1 penalty")),
    "l2": (0.0, _NUMBER, dict(type=float, help="L2 penalty")),
    "preprocessing": ("standardize", str, dict(choices=("standardize", "whiten", "none"),
                                               help="input transform stored with the model; "
                                                    "sparse inputs are scaled, not centred")),
    "sparse_update": ("exact", str, dict(choices=SPARSE_UPDATES,
                                         help="sparse inputs: exact updates every "
                                              "first-layer weight each step (the dense fit's "
                                              "result), lazy only the rows a batch touches "
                                              "(faster on wide data; torch SparseAdam's "
                                              "rule)")),
    "dtype": ("float32", str, dict(choices=("float32", "float64"))),
    "optimizer": ("adam", str, dict(help=f"optimizer: {', '.join(OPTIMIZERS)}")),
    "lr": (None, _NUMBER, dict(type=float, help="learning rate (default: the optimizer's)")),
    "momentum": (None, _NUMBER, dict(type=float, help="momentum (sgd, rmsprop)")),
    "weight_decay": (None, _NUMBER, dict(type=float, help="weight decay")),
    "optimizer_params": ({}, dict, dict(type=key_values, action="append", metavar="KEY=VALUE",
                                        help="other optimizer argument, e.g. betas=0.9,0.99 "
                                             "(repeatable)")),
    "schedule": (None, str, dict(help=f"learning-rate schedule: {', '.join(SCHEDULES)}")),
    "schedule_params": ({}, dict, dict(type=key_values, action="append", metavar="KEY=VALUE",
                                       help="schedule argument, e.g. step_size=10 "
                                            "(repeatable)")),
    "batch_size": (32, int, dict(type=int)),
    "epochs": (30, int, dict(type=int)),
    "early_stopping": (None, int, dict(type=int, metavar="PATIENCE",
                                       help="stop after PATIENCE epochs without a lower "
                                            "val_loss; keep the best weights")),
    "seed": (0, int, dict(type=int)),
    "threads": (None, int, dict(type=int, help="threads for BLAS and Numba")),
    "checkpoint_dir": (None, str, dict(metavar="DIR", help="write checkpoints into DIR")),
    "checkpoint_every": (1, (int, str), dict(type=_every, help="epochs between checkpoints, "
                                                               "or e.g. '10min', '500 batches'")),
    "save": (None, str, dict(metavar="FILE", help="write the trained model to FILE (.npz)")),
    "distributed": (False, bool, dict(action="store_true",
                                      help="data-parallel training over the MPI ranks this "
                                           "command was started on: mpiexec -n 4 fastmlp "
                                           "train --distributed ... (needs fastmlp[mpi])")),
    "quiet": (False, bool, dict(action="store_true", help="no per-epoch lines")),
    "json": (False, bool, dict(action="store_true", help="print the final metrics as JSON on "
                                                         "stdout (the rest goes to stderr)")),
}
#: Settings that must not change when a run resumes from a checkpoint.
RESUME_FIXED = ("data", "target", "task", "zero_based", "sparse_update", "impute",
                "categorical", "test_size",
                "validation_size", "hidden", "activation", "init", "dropout", "dropconnect",
                "batch_norm", "l1", "l2",
                "preprocessing", "dtype", "optimizer", "lr", "momentum", "weight_decay",
                "optimizer_params", "schedule", "schedule_params", "batch_size", "seed")


def add_train_options(parser):
    """Add a flag per setting to ``parser``; a flag not given is absent from the namespace."""
    for name, (default, _, kwargs) in SETTINGS.items():
        kwargs = dict(kwargs)
        if "help" in kwargs and default not in (None, False, {}, []):
            kwargs["help"] += f" (default {_flag_text(default)})"
        elif default not in (None, False, {}, []):
            kwargs["help"] = f"default {_flag_text(default)}"
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=argparse.SUPPRESS,
                            **kwargs)
    parser.add_argument("--config", metavar="FILE.toml",
                        help="TOML file of settings (keys as the flags: batch_size = 64); "
                             "flags override it")
    parser.add_argument("--resume", metavar="DIR",
                        help="continue the run checkpointed in DIR exactly (with its settings)")


def _flag_text(value):
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def read_config(path):
    """The settings in a TOML file, checked (see :func:`resolve`).

    Raises
    ------
    ValueError
        Unreadable file, TOML syntax, unknown key, a value of the wrong type;
        on Python 3.10, no ``tomli``.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the standard library has it from 3.11
        try:
            import tomli as tomllib
        except ImportError:
            raise ValueError("--config needs a TOML reader: Python >= 3.11 has one; on "
                             "Python 3.10 run: pip install tomli") from None
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return _checked(data, str(path))


def _checked(data, source):
    settings = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in SETTINGS:
            raise ValueError(f"{source}: unknown setting {key!r}; valid ones: "
                             f"{', '.join(SETTINGS)}")
        default, types = SETTINGS[name][:2]
        if value is None and default is None:  # unset (only stored settings have None)
            settings[name] = value
            continue
        if name == "hidden" and isinstance(value, str):
            value = hidden_sizes(value)
        ok = isinstance(value, types) and not (isinstance(value, bool) and types is not bool)
        if name == "zero_based":
            ok = value == "auto" or isinstance(value, bool)
        if name == "hidden":
            ok = ok and all(isinstance(v, int) and v > 0 for v in value)
        if name == "categorical":
            ok = ok and all(isinstance(v, str) for v in value)
        if not ok:
            raise ValueError(f"{source}: setting {key!r} has the wrong type "
                             f"({type(value).__name__}: {value!r})")
        settings[name] = value
    return settings


def _merged_params(value):
    """``--schedule-param`` flags (a list of one-entry dicts) as one dict."""
    if isinstance(value, list):
        merged = {}
        for entry in value:
            merged.update(entry)
        return merged
    return value


def resolve(args, saved=None):
    """The run's settings: defaults < ``saved`` (a resumed run's) < ``--config`` < flags.

    Parameters
    ----------
    args : argparse.Namespace
        From a parser with :func:`add_train_options`.
    saved : dict, optional
        The settings stored with a checkpointed run (``--resume``).

    Raises
    ------
    ValueError
        A bad config file, or (resuming) a setting that differs from the
        checkpointed run's.
    """
    settings = {name: spec[0] for name, spec in SETTINGS.items()}
    layers = [_checked(saved or {}, "the checkpointed run's settings")]
    if getattr(args, "config", None):
        layers.append(read_config(args.config))
    flags = {name: _merged_params(getattr(args, name)) if name.endswith("_params")
             else getattr(args, name) for name in SETTINGS if hasattr(args, name)}
    for layer in layers + [flags]:
        for name, value in layer.items():
            if name.endswith("_params"):  # keys add up across layers
                value = {**settings[name], **value}
            settings[name] = value
    if saved is not None:
        for name in RESUME_FIXED:
            if name in saved and settings[name] != saved[name]:
                raise ValueError(f"--resume continues the checkpointed run exactly: its "
                                 f"{name} was {saved[name]!r}, not {settings[name]!r}")
    return settings


def as_toml(settings):
    """``settings`` as a TOML file (unset values left out) that :func:`read_config` reads."""
    lines = []
    for name, value in settings.items():
        if value is None or value == {} or value == []:
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
            lines.append(f"{name} = {{ {inner} }}")
        else:
            lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    # JSON's strings and integers are TOML's
    return json.dumps(value)


def add_search_options(parser):
    """The flags of ``fastmlp search``."""
    parser.add_argument("--data", help="CSV file with a header row, NPZ or NPY file, "
                                       "svmlight file (.svm), or one of fastmlp convert "
                                       "(default: the UCI digits shipped with fastmlp)")
    parser.add_argument("--target", default=None,
                        help="target column (default: 'y' for NPZ, last CSV column)")
    parser.add_argument("--task", choices=TASKS[:3], default="auto")
    parser.add_argument("--zero-based", type=zero_based, default="auto",
                        metavar="{auto,true,false}",
                        help="whether an svmlight file's indices count from 0 (default auto: "
                             "when an index 0 appears)")
    parser.add_argument("--method", choices=("grid", "random", "halving"), default="random",
                        help="grid, random (coarse-to-fine with --rounds) or successive "
                             "halving over epochs (default random)")
    parser.add_argument("--trials", type=int, default=None, metavar="N",
                        help="configurations to try (default: 12; the whole grid for grid)")
    parser.add_argument("--rounds", type=int, default=1, metavar="K",
                        help="coarse-to-fine rounds of the random method (default 1)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs per trial; the largest rung for halving (default 10)")
    parser.add_argument("--min-epochs", type=int, default=1,
                        help="epochs of halving's first rung (default 1)")
    parser.add_argument("--eta", type=int, default=3,
                        help="halving keeps 1/eta of the trials per rung (default 3)")
    parser.add_argument("--space", metavar="FILE", help="search space as .toml or .json "
                                                        "(default: a small space of hidden "
                                                        "sizes, lr, l2 and batch size)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J",
                        help="trials at a time (default 1; -1: one per core)")
    parser.add_argument("--backend", choices=BACKENDS, default="threads",
                        help="where trials run: threads of this process (default), loky "
                             "worker processes, Dask or Ray workers; a trial whose worker "
                             "process dies runs once more, then is recorded as lost")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a dask.distributed scheduler or of a Ray cluster "
                             "(default: a local cluster of --jobs workers)")
    parser.add_argument("--no-populations", dest="populations", action="store_false",
                        help="train every trial alone (by default the trials of a round that "
                             "share architecture, batch size, optimizer, schedule and epochs "
                             "train together as one population: the same scores, sooner)")
    parser.add_argument("--results", metavar="R.csv",
                        help="append one row per finished trial to this CSV file")
    parser.add_argument("--resume", action="store_true",
                        help="continue the search recorded in --results")
    parser.add_argument("--plot", metavar="P.png",
                        help="save validation score against each numeric hyper-parameter "
                             "(needs matplotlib)")
    parser.add_argument("--test-size", type=float, default=0.15,
                        help="fraction held out for the final test (default 0.15)")
    parser.add_argument("--validation-size", type=float, default=0.15,
                        help="fraction used to score the trials (default 0.15)")
    parser.add_argument("--seed", type=int, default=0)
