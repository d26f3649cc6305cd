"""``fastmlp train``: an MLP trained on the shipped digits or on your own table.

With no arguments it trains on the UCI digits shipped with the package and
prints the test accuracy and the training throughput.  With ``--data
file.csv --target column`` it trains on your own table (read, labelled,
split and encoded by :mod:`fastmlp.cli.prepare`); ``--save model.npz`` keeps
the model with what predicting on new raw rows needs
(:mod:`fastmlp.cli.predict`: ``predict``, ``evaluate``, ``info``).  An
svmlight file (``--data file.svm``, or its conversion) trains on its sparse
rows as they are, never densified.
"""

import io
import json
import sys

import numpy as np

from .._utils.sparse import is_sparse
from ..callbacks import EarlyStopping
from ..model import Model
from ..optim import get_optimizer
from ..schedules import get_schedule
from ..trainer import Trainer
from .predict import CLI_FORMAT
from .prepare import prepare
from .settings import add_train_options, as_toml, resolve

__all__ = ["add_train_command", "train_command"]


def add_train_command(sub):
    """Add the ``train`` sub-command to ``sub`` (argparse sub-parsers)."""
    train = sub.add_parser(
        "train", help="train an MLP (default data: the UCI digits shipped with fastmlp)",
        description="Train an MLP and report test accuracy (or R^2) and throughput. Without "
                    "--data it uses the 1,797 UCI 8x8 digits shipped with fastmlp. Text "
                    "feature columns are one-hot encoded; missing values are refused unless "
                    "--impute fills them. An svmlight / libsvm file (.svm, .svmlight, "
                    ".libsvm: label idx:val ...) trains on its sparse rows, never densified "
                    "(see --zero-based, --sparse-update; --task multilabel for rows of several "
                    "labels). Settings come from the defaults, --config, then the flags; the "
                    "resolved ones are printed as a TOML file.")
    add_train_options(train)


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


def _prepare_training(settings):
    """Read, encode and split (train / validation / test) the data; the model's metadata."""
    d = prepare(settings["data"], settings["target"], settings["task"], settings["test_size"],
                settings["validation_size"], settings["seed"], settings["impute"],
                settings["categorical"], settings["zero_based"])
    if settings["data"] is not None:
        settings["target"] = d.target.name  # the printed settings then name it
    metadata = {"format": CLI_FORMAT, "task": d.target.task, "target": d.target.name,
                "classes": d.target.labels, "numeric_labels": d.target.numeric_labels,
                "features": d.encoding,
                "training": {"source": d.source, "samples": int(d.X.shape[0]),
                             "config": settings}}
    return d, metadata


def _new_trainer(settings, d, callbacks):
    model = Model([d.X.shape[1], *settings["hidden"], d.n_out],
                  activation=settings["activation"], output=d.output,
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
                   comm=_world() if settings["distributed"] else None,
                   sparse_update=settings["sparse_update"], **extra)


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
    d, metadata = _prepare_training(settings)
    callbacks = []
    if settings["early_stopping"] is not None:
        callbacks.append(EarlyStopping(monitor="val_loss", patience=settings["early_stopping"]))
    if resumed is None:
        trainer = _new_trainer(settings, d, callbacks)
        trainer.model.metadata = metadata  # in every checkpoint too
        return settings, d, trainer
    if resumed.model.metadata.get("features") != d.encoding:
        raise ValueError(f"--resume: the data encode differently from the checkpointed run's "
                         f"({d.source} changed?)")
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
    model = trainer.model
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = d.train, d.val, d.test
    print("configuration (as a --config file):\n  "
          + as_toml(settings).replace("\n", "\n  "), file=info)
    print(f"data: {d.source} (target {d.target.name!r}): {d.X.shape[0]} samples, "
          f"{d.X.shape[1]} inputs{_stored(d.X)}, " + _task_text(d), file=info)
    print(f"split: {X_train.shape[0]} train / {X_val.shape[0]} validation / {X_test.shape[0]} "
          f"test; preprocessing {settings['preprocessing']} fitted on the training split",
          file=info)
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
    summary = _record_training(model, trainer, history, result, X_train.shape[0])
    metric = "r2" if d.target.task == "regression" else "accuracy"
    print(f"test {metric} {result[metric]:.4f} (loss {result['loss']:.4f}, {X_test.shape[0]} "
          f"samples); training throughput {summary['samples_per_sec']:,.0f} samples/s",
          file=info)
    if settings["save"] is not None:
        model.save(settings["save"])
        print(f"model saved to {settings['save']}", file=info)
    if settings["json"]:
        print(json.dumps({"test": result, **summary, "saved": settings["save"]}), file=out)
    return result


def _stored(X):
    """`` (sparse, 0.05% stored)`` for a sparse X, else nothing."""
    if not is_sparse(X):
        return ""
    return f" (sparse, {X.nnz / max(1, X.shape[0] * X.shape[1]):.3%} stored)"


def _task_text(d):
    """The task for the data line: classes, labels or regression."""
    if d.target.task == "multilabel":
        return f"{d.n_out} labels (multi-label)"
    return f"{d.n_out} classes" if d.classification else "regression"


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
