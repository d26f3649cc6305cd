"""Crash-proof checkpoints of a training run, and exact resume from them.

``Trainer(..., checkpoint_dir=d)`` adds a :class:`Checkpoint` callback that
writes, every ``every`` epochs, one file ``d/checkpoint-<epoch>.npz`` (with
``every`` in seconds or batches, also ``d/checkpoint-<epoch>-<batch>.npz``
inside epochs) with everything the rest of the run depends on:

- the model (architecture, parameters, batch-norm running statistics,
  fitted preprocessing), as in a model file (:mod:`fastmlp.io`);
- the optimizer: its class, hyper-parameters, gradient transforms, step
  count and state buffers (moments, velocities, ...);
- the learning-rate schedule: its class, constructor arguments and state;
- the trainer: epoch and step counters, history, batch size, epochs,
  shuffling, thread count, validation fraction, diagnostics, the shuffling
  generator's exact state, the dropout-mask and hold-out keys, the epoch
  at which the running ``fit`` ends, and inside an epoch the batches done,
  their loss sums and the generator's state when the epoch began.

``Trainer.from_checkpoint(d)`` rebuilds the trainer from the newest
readable checkpoint (:func:`load_newest`); ``fit`` with the same data then runs
the epochs the interrupted fit still owed and ends with weights
bit-identical to an uninterrupted run with the same seeds and thread count:
the shuffling order, the masks (a function of the key and the optimizer's
step count) and every update are replayed exactly.

Each file is written atomically (:func:`fastmlp.archive.write_archive`), so a
run killed at any moment -- even mid-write -- leaves the previous checkpoints
intact; the last ``keep`` are kept.  No pickle is involved: classes are
looked up by name among fastmlp's own optimizers and schedules.

Not supported: optimizers that are not ``resumable`` (L-BFGS: scipy keeps
its curvature pairs internally, so a resumed run could not continue
exactly; the callback refuses it), and
optimizers or schedules defined outside fastmlp.  Callbacks are not stored
(pass them again to ``Trainer.from_checkpoint``; an :class:`~fastmlp.callbacks.EarlyStopping`
starts counting afresh), nor is the training data: ``fit`` needs the same
data again.  One directory belongs to one run.
"""

import inspect
import os
import re
import time
import warnings
from collections import namedtuple

import numpy as np

from .. import optim as _optim
from .. import schedules as _schedules
from .._utils.validation import check_positive_int
from ..archive.format import (
    CHECKPOINT_FORMAT,
    read_archive,
    remove_quietly,
    write_archive,
)
from ..callbacks import Callback
from ..model import Model
from ..population.container import Population

__all__ = ["Checkpoint", "SavedTrainer", "load_newest", "list_checkpoints", "check_resumable",
           "trainer_record", "resume_trainer", "CHECKPOINT_FORMAT"]


_FILE = "checkpoint-{:08d}.npz"
# inside an epoch: the epochs completed, then the batches done in the next
_MID_EPOCH_FILE = "checkpoint-{:08d}-{:08d}.npz"
_FILE_RE = re.compile(r"^checkpoint-(\d{8,})(?:-(\d{8,}))?\.npz$")
# temporary files of write_archive for our checkpoints, left behind by a kill
_TMP_RE = re.compile(r"^\.checkpoint-\d{8,}(?:-\d{8,})?\.npz\.[0-9a-f]+\.tmp$")


def _registry(module, base):
    """fastmlp's own classes in ``module`` deriving from ``base``, by class name."""
    return {obj.__name__: obj for obj in vars(module).values()
            if isinstance(obj, type) and issubclass(obj, base) and obj is not base}


_OPTIMIZERS = _registry(_optim, _optim.Optimizer)
_SCHEDULES = _registry(_schedules, _schedules.Schedule)


class Checkpoint(Callback):
    """Write checkpoints into ``directory`` every ``every`` epochs (or seconds, or batches).

    Usually made by ``Trainer(checkpoint_dir=..., checkpoint_every=...,
    keep_checkpoints=...)``.  The epoch count is the trainer's (over all
    fits), so the files line up across resumes.  When a fit ends, its final
    state is written too (also after an early stop, which marks the fit as
    finished: resuming does not continue it).

    With ``every`` a time or a batch count, checkpoints are also written
    inside epochs (the compiled loop returns to Python about twice a
    second), so a crash loses at most about that much work, and
    ``Trainer.from_checkpoint`` finishes the interrupted epoch exactly:
    same order, masks and updates, the same weights at its end as an
    uninterrupted run.

    Parameters
    ----------
    directory : str or path
        Created when training starts if it does not exist.
    every : int or str, default 1
        Epochs between checkpoints, or ``"<number> <unit>"`` with the unit
        ``s``/``sec``/``seconds``, ``min``/``minutes``, ``h``/``hours`` or
        ``batches`` (optimizer steps), e.g. ``"10min"``, ``"500 batches"``.
    keep : int, default 3

    Raises
    ------
    ValueError
        ``every`` or ``keep`` malformed, or ``directory`` is an existing
        file; when training starts, an optimizer or schedule that cannot be
        resumed exactly (L-BFGS, classes defined outside fastmlp), or
        checkpoints inside epochs with a bold driver that rejects epochs
        (rejecting needs the epoch's start, which a resumed epoch has not got).
    """

    #: Calls are cut by time already (about twice a second): no extra cuts.
    chunks_per_epoch = 1

    def __init__(self, directory, every=1, keep=3):
        self.directory = os.fspath(directory)
        if os.path.exists(self.directory) and not os.path.isdir(self.directory):
            raise ValueError(f"checkpoint_dir {self.directory!r} exists and is not a directory")
        self.every = every
        self._unit, self._amount = _interval(every)
        if self._unit == "batches":  # control back at those batches of every epoch
            self.chunk_batches = self._amount
        self.keep = check_positive_int(keep, "keep_checkpoints")
        self._last_saved = None
        self._last_time = self._last_step = 0

    @property
    def inside_epochs(self):
        """Whether checkpoints are also written inside epochs (every seconds or batches)."""
        return self._unit != "epochs"

    def on_train_begin(self, trainer):
        check_resumable(trainer)
        schedule = trainer.schedule
        if self._unit != "epochs" and isinstance(schedule, _schedules.BoldDriver) \
                and schedule.reject:
            raise ValueError("checkpoints inside epochs (checkpoint_every in seconds or "
                             "batches) cannot resume a BoldDriver that rejects epochs; use "
                             "checkpoint_every in epochs, or BoldDriver(reject=False)")
        if trainer.rank != 0:  # data-parallel training: rank 0 writes for all
            return
        os.makedirs(self.directory, exist_ok=True)
        for name in os.listdir(self.directory):
            if _TMP_RE.match(name):  # a write cut short by a crash: never a valid file
                remove_quietly(os.path.join(self.directory, name))
        self._last_time = time.perf_counter()
        self._last_step = trainer.step_count

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        if self._unit != "epochs" and batches_done < n_batches and self._due(trainer):
            self.save(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        due = (trainer.epoch % self._amount == 0 if self._unit == "epochs"
               else self._due(trainer))
        if due:
            self.save(trainer)

    def on_train_end(self, trainer, history):
        if self._last_saved != (trainer.epoch, 0) or trainer.fit_end_epoch != trainer.epoch:
            self.save(trainer, fit_finished=True)

    def _due(self, trainer):
        if self._unit == "seconds":
            return time.perf_counter() - self._last_time >= self._amount
        return trainer.step_count - self._last_step >= self._amount

    def save(self, trainer, fit_finished=False):
        """Write the trainer's state now; returns the file's path (None on a rank other
        than 0 of data-parallel training, which leaves the writing to rank 0)."""
        if trainer.rank != 0:
            return None
        header, arrays = trainer_record(trainer, fit_finished)
        header["checkpoint"] = {"every": self.every, "keep": self.keep}
        progress = header["trainer"]["epoch_progress"]
        batch = 0 if progress is None else progress["batches_done"]
        name = _FILE.format(trainer.epoch) if batch == 0 else \
            _MID_EPOCH_FILE.format(trainer.epoch, batch)
        path = os.path.join(self.directory, name)
        write_archive(path, header, arrays)
        self._last_saved = (trainer.epoch, batch)
        self._last_time = time.perf_counter()
        self._last_step = trainer.step_count
        self._prune()
        return path

    def _prune(self):
        # only once the new file is durable: the old ones are the fallback
        for _, path in list_checkpoints(self.directory)[:-self.keep]:
            remove_quietly(path)

    def __repr__(self):
        return f"Checkpoint({self.directory!r}, every={self.every!r}, keep={self.keep})"


_UNITS = {"s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "min": 60.0,
          "mins": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0, "hr": 3600.0,
          "hour": 3600.0, "hours": 3600.0}
_INTERVAL_RE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([a-z]+)\s*$")


def _interval(every):
    """``every`` as ``("epochs", n)``, ``("seconds", s)`` or ``("batches", n)``."""
    if not isinstance(every, str):
        return "epochs", check_positive_int(every, "checkpoint_every")
    match = _INTERVAL_RE.match(every.lower())
    problem = (f"checkpoint_every must be a number of epochs or a string such as '10min', "
               f"'90s' or '500 batches', got {every!r}")
    if not match:
        raise ValueError(problem)
    amount, unit = float(match.group(1)), match.group(2)
    if unit in ("b", "batch", "batches", "step", "steps") and amount.is_integer() and amount > 0:
        return "batches", int(amount)
    if unit in _UNITS and amount > 0:
        return "seconds", amount * _UNITS[unit]
    raise ValueError(problem)


def list_checkpoints(directory):
    """``[(epoch, path), ...]`` of the checkpoint files in ``directory``, oldest first.

    ``epoch`` is the number of completed epochs; a checkpoint taken inside
    an epoch comes after the one at that epoch's start.
    """
    directory = os.fspath(directory)
    found = []
    for name in os.listdir(directory):
        match = _FILE_RE.match(name)
        if match:
            epoch, batch = int(match.group(1)), int(match.group(2) or 0)
            found.append((epoch, batch, os.path.join(directory, name)))
    return [(epoch, path) for epoch, _, path in sorted(found)]


#: What a checkpoint file holds, read and checked: the ``model``, the
#: ``optimizer`` and the ``schedule`` (or None) rebuilt, the trainer's
#: :meth:`~fastmlp.Trainer.state_dict` as ``trainer_state``, the ``every``
#: and ``keep`` settings of the :class:`Checkpoint` that wrote it, its
#: ``directory`` and ``file``; for a population's checkpoint (the model a
#: :class:`~fastmlp.Population`), ``member_optimizers``: each member's
#: optimizer with its state (None otherwise).
SavedTrainer = namedtuple("SavedTrainer", ["model", "optimizer", "schedule", "trainer_state",
                                           "every", "keep", "directory", "file",
                                           "member_optimizers"])


def load_newest(path, build):
    """``build(saved)`` for the newest readable checkpoint at ``path``.

    Parameters
    ----------
    path : str or path
        A checkpoint directory (its newest readable checkpoint is used; an
        unreadable newer one is skipped with a warning) or one checkpoint file.
    build : callable
        Makes the result from a :class:`SavedTrainer`
        (:meth:`fastmlp.Trainer.from_checkpoint` builds the trainer); its
        TypeError, ValueError or KeyError marks the file as unreadable.

    Raises
    ------
    FileNotFoundError
        No such directory or file, or no checkpoint in the directory.
    ValueError
        No readable checkpoint (each one's problem is in the message).
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return _build(path, os.path.dirname(os.path.abspath(path)), build)
    candidates = list_checkpoints(path)[::-1]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint (checkpoint-<epoch>.npz) in {path!r}")
    problems = []
    for _, file in candidates:
        try:
            result = _build(file, path, build)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if problems:
            warnings.warn("skipped unreadable checkpoints: " + "; ".join(problems),
                          RuntimeWarning, stacklevel=3)
        return result
    raise ValueError(f"no readable checkpoint in {path!r}: " + "; ".join(problems))


def resume_trainer(trainer_class, path, callbacks=(), comm=None):
    """The trainer of the newest readable checkpoint at ``path``, its progress restored:
    :meth:`fastmlp.Trainer.from_checkpoint` (which documents the arguments).

    Unless ``callbacks`` hold a :class:`Checkpoint`, the trainer goes on
    writing checkpoints into the checkpoint's directory with its settings.
    """
    callbacks = list(callbacks)
    writes = not any(isinstance(c, Checkpoint) for c in callbacks)

    def build(saved):
        state = saved.trainer_state
        trainer = trainer_class(saved.model, optimizer=saved.optimizer,
                                batch_size=state["batch_size"], epochs=state["epochs"],
                                shuffle=state["shuffle"], callbacks=callbacks,
                                verbose=state["verbose"], n_threads=state["n_threads"],
                                schedule=saved.schedule,
                                checkpoint_dir=saved.directory if writes else None,
                                checkpoint_every=saved.every, keep_checkpoints=saved.keep,
                                validation_fraction=state["validation_fraction"],
                                diagnostics=state["diagnostics"], comm=comm,
                                # checkpoints of 0.1.0 predate sparse inputs
                                sparse_update=state.get("sparse_update", "exact"))
        trainer.load_state_dict(state)
        if saved.member_optimizers is not None:
            trainer.member_optimizers.adopt(saved.member_optimizers, saved.model.params)
        return trainer

    return load_newest(path, build)


def _build(file, directory, build):
    header, arrays = read_archive(file, (CHECKPOINT_FORMAT,))
    members = None
    if "population" in header:
        model = Population.from_record(header, arrays, file)
        optimizer = _restore_optimizer(header.get("optimizer"), {}, model.members[0], file)
        saved = header.get("member_optimizers")
        if not isinstance(saved, list) or len(saved) != model.size:
            raise ValueError(f"{file}: the members' optimizers are missing or malformed")
        members = [_restore_optimizer(info, _member_arrays(arrays, k), member, file)
                   for k, (info, member) in enumerate(zip(saved, model.members))]
    else:
        model = Model.from_record(header, arrays, file)
        optimizer = _restore_optimizer(header.get("optimizer"), arrays, model, file)
    schedule = _restore_schedule(header.get("schedule"), file)
    settings = header.get("checkpoint") or {}
    saved = SavedTrainer(model, optimizer, schedule, header.get("trainer"),
                         settings.get("every", 1), settings.get("keep", 3), directory, file,
                         members)
    try:
        return build(saved)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{file}: the saved trainer state is invalid ({exc})") from None


# ------------------------------------------------------------------ what is saved
def check_resumable(trainer):
    """Raise ValueError if the trainer's optimizer or schedule cannot be checkpointed."""
    opt = trainer.optimizer
    if not opt.resumable:
        raise ValueError(f"checkpoints cannot resume {type(opt).__name__} exactly (it keeps "
                         "state internally); train without checkpoint_dir, or use a "
                         "first-order optimizer")
    if _OPTIMIZERS.get(type(opt).__name__) is not type(opt):
        raise ValueError(f"checkpoints store fastmlp's own optimizers only, not "
                         f"{type(opt).__name__}")
    _describe_schedule(trainer.schedule)  # raises for schedules from elsewhere


def trainer_record(trainer, fit_finished=False):
    """Header entries and arrays of a checkpoint of ``trainer`` (see the module docstring).

    ``fit_finished``: the fit is over (resuming does not continue it).
    """
    check_resumable(trainer)
    header, arrays = trainer.model.to_record()
    header["format"] = CHECKPOINT_FORMAT
    if isinstance(trainer.model, Population):  # each member's optimizer, and the template
        header["optimizer"], _ = _optimizer_record(trainer.optimizer, "optimizer.")
        header["member_optimizers"] = []
        for k, member in enumerate(trainer.member_optimizers.members):
            info, member_arrays = _optimizer_record(member, _member_prefix(k) + "optimizer.")
            header["member_optimizers"].append(info)
            arrays.update(member_arrays)
    else:
        header["optimizer"], optimizer_arrays = _optimizer_record(trainer.optimizer,
                                                                  "optimizer.")
        arrays.update(optimizer_arrays)
    header["schedule"] = _describe_schedule(trainer.schedule)
    state = trainer.state_dict()
    if fit_finished:
        state["fit_end_epoch"] = state["epoch"]
    header["trainer"] = state
    return header, arrays


# ------------------------------------------------------------------ optimizer
def _optimizer_record(optimizer, prefix):
    """The header entry and arrays (named ``prefix + "state"``, ...) of an optimizer."""
    opt = optimizer.state_dict()
    arrays = {prefix + "scalar_state": np.asarray(opt["scalar_state"], dtype=np.float64)}
    if opt["state"] is not None:
        arrays[prefix + "state"] = opt["state"]
    info = {"class": opt["name"], "hyper": opt["hyper"], "step": opt["step"],
            "transforms": [list(t) for t in opt["transforms"]]}
    if opt["members"] is not None:  # values per member of a population
        info["members"] = opt["members"]
    return info, arrays


def _member_prefix(k):
    return f"member{k}."


def _member_arrays(arrays, k):
    """Member k's arrays of a population's checkpoint, without their prefix."""
    prefix = _member_prefix(k)
    return {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}


def _restore_optimizer(info, arrays, model, file):
    if not isinstance(info, dict) or info.get("class") not in _OPTIMIZERS:
        found = info.get("class") if isinstance(info, dict) else None
        raise ValueError(f"{file}: unknown optimizer {found!r}")
    opt = _OPTIMIZERS[info["class"]]()
    state = arrays.get("optimizer.state")
    try:
        opt.load_state_dict({"name": info["class"], "hyper": info["hyper"],
                             "transforms": info.get("transforms", ()), "step": info["step"],
                             "scalar_state": arrays.get("optimizer.scalar_state",
                                                        opt.scalar_state),
                             "state": state, "members": info.get("members")})
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{file}: the saved optimizer is invalid ({exc})") from None
    # a state that bind() would not accept would be silently replaced by zeros
    if state is not None and (state.dtype != model.dtype or state.ndim != 2
                              or state.shape[1] != model.n_params
                              or state.shape[0] < opt.n_slots):
        raise ValueError(f"{file}: the optimizer state has shape {state.shape} "
                         f"({state.dtype}); the model needs ({opt.n_slots}, {model.n_params}) "
                         f"{model.dtype.name}")
    return opt


# ------------------------------------------------------------------ schedule
def _describe_schedule(schedule):
    """Class name, constructor arguments and state of a schedule, JSON-able."""
    if schedule is None:
        return None
    cls = type(schedule)
    if _SCHEDULES.get(cls.__name__) is not cls:
        raise ValueError(f"checkpoints store fastmlp's own schedules only, not {cls.__name__}")
    args = {}
    # every fastmlp schedule keeps each constructor argument under its own name
    for name in _init_arguments(cls):
        value = getattr(schedule, name)
        if isinstance(value, _schedules.Schedule):
            value = {"schedule": _describe_schedule(value)}
        elif isinstance(value, tuple):
            value = list(value)
        args[name] = value
    return {"class": cls.__name__, "args": args, "state": schedule.state_dict()}


def _init_arguments(cls):
    """Names of the constructor's named arguments (none for a class without __init__)."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return [p.name for p in parameters if p.kind in named]


def _restore_schedule(info, file):
    if info is None:
        return None
    try:
        cls = _SCHEDULES[info["class"]]
        kwargs = {name: _restore_schedule(value["schedule"], file)
                  if isinstance(value, dict) else value for name, value in info["args"].items()}
        schedule = cls(**kwargs)
        # constructor arguments are already set, checked and normalised (a tuple
        # stays a tuple); a nested schedule's state stays for load_state_dict
        state = {key: value for key, value in info["state"].items()
                 if key not in kwargs or isinstance(value, dict)}
        allowed = set(schedule.state_dict()) | {"base_lr"}
        unknown = set(state) - allowed
        if unknown:
            raise ValueError(f"unknown state entries {sorted(unknown)}")
        schedule.load_state_dict(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{file}: the saved schedule is invalid ({exc})") from None
    return schedule
