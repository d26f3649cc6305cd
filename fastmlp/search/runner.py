"""Trials: build and train one configuration, score it on the validation split; the results file.

Every trial trains on the training split and is scored on the validation
split, which stays the same for every trial of a search; the test split is
not seen here.
"""

import csv
import inspect
import io
import json
import math
import os
import tempfile
import time

from ..engine.threads import threads
from ..exceptions import DivergenceError
from ..model import Model
from ..optim import get_optimizer
from ..schedules import get_schedule
from ..trainer import Trainer

__all__ = ["Setup", "build_trainer", "run_trial", "lost_row", "is_lost", "ResultsFile",
           "FIXED_COLUMNS", "LOST", "DEFAULTS", "optimizer_arguments", "unscored_row"]

#: Columns of the results file besides one per hyper-parameter.
FIXED_COLUMNS = ("val_score", "val_loss", "epochs", "seconds", "status")

#: How the status of a trial lost with its worker begins (see :func:`lost_row`).
LOST = "lost:"

#: Values of hyper-parameters a space leaves out.
DEFAULTS = {"hidden": (64,), "activation": "relu", "init": "auto", "l2": 0.0, "l1": 0.0,
            "dropout": 0.0, "dropconnect": 0.0, "batch_norm": False, "optimizer": "adam",
            "lr": None, "momentum": None, "weight_decay": None, "schedule": None,
            "batch_size": 32}


class Setup:
    """What every trial of a search shares: the task, shapes, dtype, seed, preprocessing.

    Parameters
    ----------
    n_inputs, n_outputs : int
    classification : bool
    seed : int
        Seeds the initial weights and the shuffling of every trial, so that
        trials differ only by their hyper-parameters.
    dtype : str
    preprocessing : str or None
        The model's stored input transform ("standardize", fitted on the
        training split of each fit).
    threads : int or None
        Numba/BLAS threads of each trial (1 in parallel workers).
    """

    def __init__(self, n_inputs, n_outputs, classification, seed=0, dtype="float32",
                 preprocessing="standardize", threads=None):
        self.n_inputs, self.n_outputs = n_inputs, n_outputs
        self.classification = classification
        self.seed, self.dtype, self.preprocessing = seed, dtype, preprocessing
        self.threads = threads

    @property
    def metric(self):
        """The validation score's metric: accuracy or R^2 (higher is better)."""
        return "accuracy" if self.classification else "r2"


def _sizes(hidden):
    return (hidden,) if isinstance(hidden, int) else tuple(int(s) for s in hidden)


def optimizer_arguments(config):
    """The configuration's optimizer as ``(name, keyword arguments)``: the given ``lr``,
    ``momentum`` and ``weight_decay``, each only where the optimizer accepts it."""
    name = config["optimizer"]
    accepted = inspect.signature(type(get_optimizer(name)).__init__).parameters
    return name, {key: config[key] for key in ("lr", "momentum", "weight_decay")
                  if config[key] is not None and key in accepted}


def _optimizer(config):
    """The configuration's optimizer (see :func:`optimizer_arguments`)."""
    name, kwargs = optimizer_arguments(config)
    return get_optimizer(name, **kwargs)


def build_trainer(config, setup, epochs):
    """A fresh model and trainer for one configuration (missing values: :data:`DEFAULTS`).

    Parameters
    ----------
    config : dict
        Hyper-parameter name -> value.
    setup : Setup
    epochs : int
        Used unless the configuration sets ``epochs``.
    """
    config = {**DEFAULTS, **config}
    model = Model([setup.n_inputs, *_sizes(config["hidden"]), setup.n_outputs],
                  activation=config["activation"],
                  output="softmax" if setup.classification else "identity",
                  dtype=setup.dtype, init=config["init"], seed=setup.seed, l2=config["l2"],
                  l1=config["l1"], dropout=config["dropout"], dropconnect=config["dropconnect"],
                  batch_norm=bool(config["batch_norm"]), preprocessing=setup.preprocessing)
    optimizer = _optimizer(config)
    batch = None if getattr(optimizer, "full_batch", False) else int(config["batch_size"])
    return Trainer(model, optimizer, batch_size=batch,
                   epochs=int(config.get("epochs", epochs)), seed=setup.seed, verbose=0,
                   schedule=get_schedule(config["schedule"]))


def run_trial(task, data, setup):
    """Train one configuration and score it on the validation split.

    Never raises for a failing configuration: a divergence or an exception
    comes back as the row's ``status``.

    Parameters
    ----------
    task : dict
        ``trial``, ``round``, ``config`` and ``epochs``.
    data : dict
        ``train`` and ``val``: (X, y) pairs.
    setup : Setup

    Returns
    -------
    dict
        The results row: ``trial``, ``round``, the configuration,
        ``val_score``, ``val_loss``, ``epochs``, ``seconds``, ``status``
        ("ok", "diverged" or "error: <type>: <message>").
    """
    start = time.perf_counter()
    row = unscored_row(task, "ok")
    trainer = None
    try:
        with threads(setup.threads):
            trainer = build_trainer(task["config"], setup, task["epochs"])
            trainer.fit(*data["train"])
            scores = trainer.model.evaluate(*data["val"])
        row.update(val_score=float(scores[setup.metric]), val_loss=float(scores["loss"]))
        if not (math.isfinite(row["val_score"]) and math.isfinite(row["val_loss"])):
            row["status"] = "diverged"
    except DivergenceError:
        row["status"] = "diverged"
    except Exception as exc:  # a bad configuration must not end the search
        message = " ".join(str(exc).split())[:200]
        row["status"] = f"error: {type(exc).__name__}: {message}"
    if trainer is not None:
        row["epochs"] = int(trainer.epoch)
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def unscored_row(task, status):
    """The results row of ``task`` before any score: NaN scores, no epochs."""
    return {"trial": task["trial"], "round": task["round"], **task["config"],
            "val_score": math.nan, "val_loss": math.nan, "epochs": 0, "status": status}


def lost_row(task, deaths, reason):
    """The results row of a trial whose worker died every time it ran it.

    Such a row says nothing about the configuration (an out-of-memory kill,
    a lost machine): a resumed search runs the trial again (:func:`is_lost`).

    Parameters
    ----------
    task : dict
        See :func:`run_trial`.
    deaths : int
        How many times a worker died running it.
    reason : str
        What the backend reported of the last death.

    Returns
    -------
    dict
        The row, its ``status`` "lost: ..." with the reason.
    """
    reason = " ".join(str(reason).split())[:200]
    row = unscored_row(task, f"{LOST} its worker died {deaths} times ({reason})")
    row["seconds"] = math.nan
    return row


def is_lost(row):
    """Whether a results row is a trial lost with its worker (run again on resume)."""
    return str(row["status"]).startswith(LOST)


def _cell(value):
    """A value as the results file writes it (read back by :func:`_parse_cell`)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bool, list, tuple)) or value is None:
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)


def _parse_cell(text, column):
    if column == "status":
        return text
    if column == "seconds" or column.startswith("val_"):
        return float(text)
    try:
        value = json.loads(text)
    except ValueError:
        try:
            return float(text)  # nan, inf
        except ValueError:
            return text
    return tuple(value) if isinstance(value, list) and column == "hidden" else value


class ResultsFile:
    """A CSV file with one row per finished trial, each made durable before the next.

    Parameters
    ----------
    path : str or path
    names : list of str
        The hyper-parameter columns.
    resume : bool
        Continue an existing file (its rows are read back; a last line cut
        short by a crash is dropped) instead of starting a new one.

    Raises
    ------
    ValueError
        The file exists and ``resume`` is False, or its columns are not
        this search's.
    """

    def __init__(self, path, names, resume=False):
        self.path = os.fspath(path)
        # a space's "epochs" shares the epochs column (the epochs trained)
        names = [n for n in names if n not in FIXED_COLUMNS]
        self.columns = ["trial", "round", *names, *FIXED_COLUMNS]
        self.rows = []
        if os.path.exists(self.path):
            if not resume:
                raise ValueError(f"the results file {self.path} exists; pass resume=True "
                                 "(--resume) to continue that search, or remove it")
            self.rows = self._read_back()
        else:
            self._write_atomically(self._line(self.columns))

    def _line(self, values):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(values)
        return buffer.getvalue()

    def _write_atomically(self, text):
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".results-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _read_back(self):
        with open(self.path, encoding="utf-8", newline="") as f:
            text = f.read()
        complete = text[:text.rfind("\n") + 1]  # a row cut by a crash has no newline yet
        lines = list(csv.reader(io.StringIO(complete)))
        if not lines or lines[0] != self.columns:
            raise ValueError(f"{self.path} is not a results file of this search: its columns "
                             f"are {lines[0] if lines else []}, expected {self.columns}")
        if complete != text:
            self._write_atomically(complete)
        return [{c: _parse_cell(v, c) for c, v in zip(self.columns, line)}
                for line in lines[1:]]

    def append(self, row):
        """Write one row and force it to disk (flush + fsync)."""
        line = self._line([_cell(row.get(c)) for c in self.columns])
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.rows.append(row)
