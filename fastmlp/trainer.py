"""The Trainer: mini-batch training of a Model with an optimizer.

The epoch loop itself (gather, forward, loss, backward, update for every
batch) is one compiled call, :func:`fastmlp.kernels.train.train_batches`;
this module prepares its buffers, shuffles, and does what belongs between
epochs: the learning-rate schedule, metrics, validation, callbacks, the
progress display.  L-BFGS takes its own full-batch path through
``scipy.optimize`` (see :class:`fastmlp.optim.LBFGS`).
"""

import warnings

import numpy as np

from ._utils.sparse import is_sparse
from ._utils.tuning import DIAGNOSTIC_SAMPLE_ROWS, TRAIN_CHUNK_ROWS
from ._utils.validation import (
    check_positive_int,
    check_seed,
)
from .archive.generator_state import decode_generator, encode_generator, encode_state
from .callbacks import ProgressLogger, as_callback
from .data.shuffling import epoch_order
from .engine.calls import INFERENCE, plan, training_noise
from .engine.threads import single_threaded_blas, threads
from .exceptions import DivergenceError
from .model import Model
from .optim import Adam, get_optimizer
from .schedules import BoldDriver, InvScaling, get_schedule
from .training.checkpoint import Checkpoint, resume_trainer
from .training.diagnostics import prepared_layer_statistics
from .training.distributed import Ranks, distributed_refusal, fit_facts, minimize_share
from .training.epoch_loop import EpochLoop, resumed_epoch
from .training.inputs import check_rows, check_validation, hold_out, preprocess
from .training.settings import (
    check_batch_size,
    check_diagnostics,
    check_n_threads,
    check_shuffle,
    check_sparse_update,
    check_takes_schedule,
    check_validation_fraction,
    check_verbose,
    mask_seed,
)

__all__ = ["Trainer", "register_trainer"]

_DEFAULT_BATCH = object()

#: The trainer class of each kind of model other than Model (by the model's
#: class): ``Trainer(model, ...)`` makes one of those (:func:`register_trainer`).
_TRAINERS = {}


def register_trainer(model_class, trainer_class):
    """Make ``Trainer(model, ...)`` build a ``trainer_class`` for a ``model_class`` model
    (a population's trainer: :mod:`fastmlp.population`)."""
    _TRAINERS[model_class] = trainer_class


class Trainer:
    """Trains a :class:`~fastmlp.Model` by mini-batch gradient descent (or L-BFGS).

    Parameters
    ----------
    model : Model
    optimizer : Optimizer, LBFGS or str, default Adam(lr=1e-3)
        An instance from :mod:`fastmlp.optim` or a name ("adam", "sgd", ...).
    batch_size : int or None, default 32 (None for L-BFGS)
        Samples per update.  ``None`` or a value >= n_samples is full-batch
        (deterministic) training, 1 is online (stochastic) training.  The last
        batch of an epoch holds the remaining samples (it is not dropped).
    epochs : int, default 10
        Epochs per call to :meth:`fit` (L-BFGS: its own ``max_iter`` counts).
    shuffle : bool or "blocks", default True
        Draw a new sample order every epoch.  "blocks": a block shuffle
        for memory-mapped data larger than the page cache -- blocks of
        consecutive rows in a random order, rows shuffled within runs of
        blocks -- which reads the file in long runs instead of one row at
        a time (see :mod:`fastmlp.shuffling`).
    seed : int, numpy Generator or None
        Seed of the shuffling and of the dropout/DropConnect masks.  With
        the same model seed, trainer seed and thread count, training gives
        bit-identical weights.
    callbacks : sequence of Callback or functions ``f(epoch, logs)``
    verbose : int, default 1
        0 silent; 1 one line per epoch, and on a terminal the progress of
        epochs that run longer than a second (batches, samples/s, time
        left) in place; 2 that progress inside every epoch.
    n_threads : int or None
        Threads for BLAS and Numba during :meth:`fit` (None: leave as is).
    schedule : Schedule or str, optional
        Learning-rate schedule (see :mod:`fastmlp.schedules`).
    checkpoint_dir : str or path, optional
        Write a checkpoint (parameters, optimizer and schedule state, random
        generator state, epoch counter, history) into this directory every
        ``checkpoint_every`` epochs, keeping the last ``keep_checkpoints``;
        :meth:`from_checkpoint` resumes from it exactly.
    checkpoint_every : int or str, default 1
        Epochs between checkpoints, or a time or a batch count such as
        ``"10min"``, ``"90s"``, ``"2h"`` or ``"500 batches"``: checkpoints
        are then also written inside long epochs, and a resume finishes the
        interrupted epoch exactly (see :class:`~fastmlp.checkpoint.Checkpoint`).
    keep_checkpoints : int, default 3
    validation_fraction : float in (0, 1), optional
        When :meth:`fit` gets no ``validation_data``, hold out this fraction
        of the training data for validation (stratified by class for a
        cross-entropy loss; the same split on every fit call of this
        trainer), e.g. for :class:`~fastmlp.callbacks.EarlyStopping`.
    diagnostics : bool or int, default False
        Record per-layer statistics in the history after every epoch:
        "weight_norm", "grad_norm", "act_mean", "act_std", "saturated",
        "dead" (lists, one value per weight layer; see
        :mod:`fastmlp.diagnostics`), measured on a fixed sample of the
        training data (512 rows, or this many when an int).
    comm : mpi4py communicator, optional
        Data-parallel training over its ranks (``pip install
        "fastmlp[mpi]"``; see :mod:`fastmlp.distributed`): every rank calls
        :meth:`fit` with the same arguments and data; ``batch_size`` is the
        global batch, of which each rank computes its share, and the
        gradients are summed over the ranks once per step.  The result is
        that of one process.  With ``seed=None`` the ranks take rank 0's
        seed; only rank 0 prints and writes checkpoints.  Batch
        normalisation uses the whole global batch's statistics (each rank
        then trains on one thread).  L-BFGS evaluates each rank's share of
        the rows and sums them (one all-reduce per function evaluation).
        Not with checkpoints inside epochs, nor L-BFGS with batch norm.
    sparse_update : {"exact", "lazy"}, default "exact"
        How a sparse input's first-layer weights are updated.  "exact":
        every weight, every step, as the same fit on the densified data
        would (the rows a batch's non-zeros do not pick get a zero data
        gradient but still their penalty, momentum and moment decay).
        "lazy": only the rows the batch's non-zeros pick, each with the
        optimizer's usual update; the other rows, and their optimizer
        state, are left as they are until a batch picks them --
        ``torch.optim.SparseAdam``'s semantics, for every optimizer (equal
        to "exact" for plain SGD without a penalty).  With hundreds of
        thousands of features the lazy update costs a fraction of the
        exact one.  Dense inputs ignore it.

    Attributes
    ----------
    history : dict of lists
        Every epoch (L-BFGS: iteration) since the trainer was made: "loss",
        "accuracy" or "r2", the same prefixed ``"val_"`` with validation data,
        "lr" (the rate of the epoch's last step), "time", "samples_per_sec".
    epoch : int
        Epochs completed so far.
    steps : int
        Optimizer steps taken so far (what per-step schedules count).
    """

    #: The dimensions of an epoch's loss sums (one model: a row per thread)
    _progress_ndim = 2

    def __new__(cls, model=None, *args, **kwargs):
        # another kind of model (a population) has its own trainer
        special = _TRAINERS.get(type(model)) if cls is Trainer else None
        return super().__new__(cls if special is None else special)

    def __init__(self, model, optimizer=None, batch_size=_DEFAULT_BATCH, epochs=10, shuffle=True,
                 seed=None, callbacks=(), verbose=1, n_threads=None, schedule=None,
                 checkpoint_dir=None, checkpoint_every=1, keep_checkpoints=3,
                 validation_fraction=None, diagnostics=False, comm=None,
                 sparse_update="exact"):
        self._check_model(model)
        self.model = model
        self.optimizer = Adam() if optimizer is None else get_optimizer(optimizer)
        self._check_optimizer()
        self.batch_size = check_batch_size(batch_size, self.optimizer, _DEFAULT_BATCH)
        self.epochs = check_positive_int(epochs, "epochs")
        self.shuffle = check_shuffle(shuffle)
        seed = check_seed(seed)
        self._rng = np.random.default_rng(seed)
        self._mask_seed = mask_seed(seed)
        self.validation_fraction = check_validation_fraction(validation_fraction)
        self.diagnostics = check_diagnostics(diagnostics)
        self._diagnostic_sample = None
        self._split_seed = self._mask_seed ^ 0x76616C69  # "vali": its own stream
        self.callbacks = [as_callback(c) for c in callbacks]
        self.verbose = check_verbose(verbose)
        self.n_threads = check_n_threads(n_threads)
        check_takes_schedule(self.optimizer, schedule)
        self.schedule = get_schedule(schedule)
        self.history = {}
        self.epoch = 0
        self.steps = 0
        self._epoch_limit = 0
        # The epoch the running fit ends at, and (after a resume) how many
        # epochs the next fit still owes the interrupted one.
        self._fit_end_epoch = 0
        self._pending_epochs = None
        self._validating = False
        # the EpochLoop of the epoch in progress, the generator's state when
        # that epoch began, and an epoch to resume (from a mid-epoch checkpoint)
        self._running = None
        self._epoch_rng = None
        self._resume = None
        self._samples_per_epoch = 0
        self.checkpoint_dir = checkpoint_dir
        if checkpoint_dir is not None and not self.optimizer.resumable:
            raise ValueError(f"checkpoints cannot resume {type(self.optimizer).__name__} exactly "
                             "(it keeps state internally); train it without checkpoint_dir")
        if checkpoint_dir is not None:
            self.callbacks.append(Checkpoint(checkpoint_dir, every=checkpoint_every,
                                             keep=keep_checkpoints))
        self.sparse_update = check_sparse_update(sparse_update)
        self.ranks = None if comm is None else Ranks(comm)
        if self.ranks is not None:
            self._join_ranks(seed is None)

    def _check_model(self, model):  # this trainer trains one Model
        if not isinstance(model, Model):
            raise TypeError(f"model must be a fastmlp.Model, got {type(model).__name__}")

    def _check_optimizer(self):  # not one with values for a population's members
        self.optimizer.check_single()

    def _join_ranks(self, shared_seed):
        """Settle what data-parallel training needs at construction (on every rank)."""
        refusal = distributed_refusal(self)
        self.ranks.check_same({"refusal": refusal}, "on the trainer's settings")
        if refusal:
            raise ValueError(refusal)
        if shared_seed:  # every rank shuffles and masks as rank 0 does
            mask, split, rng = self.ranks.from_root(
                (self._mask_seed, self._split_seed, encode_generator(self._rng)))
            self._mask_seed, self._split_seed, self._rng = mask, split, decode_generator(rng)
        if self.ranks.rank != 0:
            self.verbose = 0

    @property
    def rank(self):
        """This process's rank in data-parallel training (0 without ``comm``)."""
        return 0 if self.ranks is None else self.ranks.rank

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_running"] = None  # an epoch in progress is not pickled
        state["ranks"] = None  # nor a communicator
        return state

    def __setstate__(self, state):
        # trainers pickled by earlier versions (inside scikit-learn estimators)
        # lack the attributes added since
        state.pop("_epochs_this_fit", None)
        self.__dict__.update({**_ADDED_STATE, **state})

    @classmethod
    def from_checkpoint(cls, checkpoint_dir, callbacks=(), comm=None):
        """Rebuild a trainer, with its model, from the newest checkpoint in a directory.

        Calling :meth:`fit` with the same data then finishes the interrupted
        fit: the remaining epochs, with the same shuffling order, masks and
        optimizer state, ending bit-identical to an uninterrupted run.

        Parameters
        ----------
        checkpoint_dir : str or path
            A checkpoint directory (its newest readable checkpoint is used; an
            unreadable newer one is skipped with a warning) or one checkpoint
            file.
        callbacks : sequence, optional
            Callbacks (not stored in checkpoints) for the resumed trainer.
            Unless one of them is a :class:`~fastmlp.checkpoint.Checkpoint`,
            the trainer goes on writing checkpoints into the checkpoint's
            directory with the saved settings.
        comm : mpi4py communicator, optional
            Resume data-parallel training: every rank calls this with the
            same directory (checkpoints are written by rank 0 alone).

        Returns
        -------
        Trainer
            Its next ``fit`` without ``epochs`` runs the epochs the
            interrupted fit still owed (a finished fit: the trainer's
            ``epochs``, as usual).

        Raises
        ------
        FileNotFoundError
            No such directory or file, or no checkpoint in the directory.
        ValueError
            No readable checkpoint (each one's problem is in the message).
        """
        return resume_trainer(cls, checkpoint_dir, callbacks, comm)

    # ----------------------------------------------------------------- state
    @property
    def samples_per_epoch(self):
        """Training samples per epoch of the running (or the last) fit."""
        return self._samples_per_epoch

    @property
    def validating(self):
        """Whether the running (or the last) fit has validation data."""
        return self._validating

    @property
    def fit_epochs(self):
        """Epochs the running (or the last) fit runs at most (L-BFGS: its ``max_iter``)."""
        return self._epoch_limit

    @property
    def step_count(self):
        """Optimizer steps taken so far, counted inside epochs too (what checkpoints
        written every so many batches count)."""
        return int(self.optimizer.step_count[0])

    @property
    def fit_end_epoch(self):
        """The epoch the running (or the last) fit ends at."""
        return self._fit_end_epoch

    def state_dict(self):
        """The trainer's settings and progress as JSON-able values (what checkpoints store).

        Settings: ``batch_size``, ``epochs``, ``shuffle``, ``verbose``,
        ``n_threads``, ``validation_fraction``, ``diagnostics``,
        ``sparse_update``.  Progress:
        ``epoch``, ``steps``, ``history``, ``fit_end_epoch``, the mask and
        hold-out seeds, ``rng``, the shuffling generator's exact state, and
        -- taken during an epoch (a mid-epoch checkpoint) -- ``epoch_progress``:
        the batches of the running epoch done, their loss sums, the number of
        samples and the generator's state when the epoch began, from which
        the next ``fit`` finishes that epoch exactly.
        The model (:meth:`Model.to_record`), the optimizer
        (:meth:`~fastmlp.optim.Optimizer.state_dict`) and the schedule keep
        their own.
        """
        progress = None if self._running is None else self._running.progress()
        return {
            "epoch": self.epoch, "steps": self.steps, "history": self.history,
            "fit_end_epoch": self._fit_end_epoch, "mask_seed": self._mask_seed,
            "split_seed": self._split_seed, "rng": encode_generator(self._rng),
            "batch_size": self.batch_size, "epochs": self.epochs, "shuffle": self.shuffle,
            "verbose": self.verbose, "n_threads": self.n_threads,
            "validation_fraction": self.validation_fraction, "diagnostics": self.diagnostics,
            "sparse_update": self.sparse_update,
            "epoch_progress": None if progress is None else {
                "batches_done": progress.batches_done, "stats": progress.stats.tolist(),
                "n_samples": progress.n_samples,
                "rng": encode_state(self._epoch_rng)},
        }

    def load_state_dict(self, state):
        """Restore the progress that :meth:`state_dict` gave (settings are the constructor's).

        The next :meth:`fit` without ``epochs`` then runs the epochs the
        saved fit still owed.

        Raises
        ------
        ValueError, KeyError
            A missing entry, a counter that is not an integer >= 0, a
            malformed history or generator state.
        """
        for key in ("epoch", "steps", "fit_end_epoch", "mask_seed", "split_seed"):
            if isinstance(state[key], bool) or not isinstance(state[key], int) or state[key] < 0:
                raise ValueError(f"{key} must be an integer >= 0, got {state[key]!r}")
        history = state["history"]
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise ValueError("history must map names to lists")
        rng = decode_generator(state["rng"])
        resume = resumed_epoch(state.get("epoch_progress"), self._progress_ndim)
        self.epoch, self.steps = state["epoch"], state["steps"]
        self.history = history
        self._mask_seed = state["mask_seed"]
        self._split_seed = state["split_seed"]  # the validation_fraction hold-out
        self._rng = rng
        self._fit_end_epoch = state["fit_end_epoch"]
        remaining = state["fit_end_epoch"] - state["epoch"]
        self._pending_epochs = remaining if remaining > 0 else None
        self._resume = resume

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, validation_data=None, epochs=None, sample_weight=None):
        """Train for ``epochs`` epochs, continuing from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_inputs)
        y : array-like
            Targets in a form the model's loss accepts (see :mod:`fastmlp.losses`).
        validation_data : (X_val, y_val) or (X_val, y_val, w_val), optional
            Evaluated after every epoch (``"val_loss"`` and ``"val_"`` metrics),
            weighted by ``w_val`` when given.
        epochs : int, optional
            Overrides the trainer's ``epochs`` for this call.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the training samples: each batch's loss
            is the weighted mean ``sum w_i L_i / sum w_i`` (scikit-learn's
            definition), and so is its gradient.

        Returns
        -------
        dict of lists
            This call's epochs (the same keys as :attr:`history`).

        Raises
        ------
        ValueError, TypeError
            Bad input, before any weight changes.
        ConcurrentFitError
            Another thread is training this model.
        DivergenceError
            A loss or parameter became NaN/inf; the weights are restored to the
            end of the last good epoch and the optimizer state is reset.

        Notes
        -----
        Ctrl-C (KeyboardInterrupt) takes effect within about half a second
        whatever the epoch's length: the compiled loop returns to Python
        every ~0.5 s.  The model and the optimizer keep their state after
        the last completed batch (``steps`` counts it); the interrupted epoch
        is not counted or recorded, and the next ``fit`` starts a new one.
        An exception in a callback puts the weights back to the start of
        the epoch (the optimizer keeps its state, finite, a few steps
        further on).  L-BFGS cuts a long evaluation of the objective into
        calls of about half a second too; Ctrl-C leaves the model at the last
        point it accepted (its best), any other error where it started.

        One fit of a model at a time: another thread's ``fit`` of the same
        model, or optimizer step on its parameters, is refused with
        :class:`~fastmlp.ConcurrentFitError` while this one runs; other
        threads' ``predict``, ``evaluate`` and ``loss_and_grad`` see the
        parameters between calls of steps, never half-updated
        (:mod:`fastmlp.engine.guard`).  Data-parallel: an error escaping the
        fit on one rank ends the whole MPI job (printed with the rank).
        """
        # one fit of a model at a time: a second one, from another thread, is
        # refused here before anything changes (fastmlp.engine.guard)
        with self.model.engine.guard.fitting("fit"):
            if self.ranks is None:
                return self._fit(X, y, validation_data, epochs, sample_weight)
            with self.ranks.ending_the_job_on_failure():
                return self._fit(X, y, validation_data, epochs, sample_weight)

    def _fit(self, X, y, validation_data, epochs, sample_weight):
        """:meth:`fit`'s work, once the model is this fit's."""
        X, T, sw, val, n_epochs, staged = self._fit_inputs(X, y, validation_data, epochs,
                                                           sample_weight)
        opt = self.optimizer
        self._samples_per_epoch = X.shape[0]
        self._pick_diagnostic_sample(X, T, staged)
        self._pending_epochs = None
        self._fit_end_epoch = self.epoch + n_epochs
        self._validating = val is not None
        callbacks = self._fit_callbacks()
        this_fit = {}
        with threads(self.n_threads), single_threaded_blas():
            for cb in callbacks:
                cb.on_train_begin(self)
            try:
                if opt.minimizes:
                    self._fit_minimize(X, T, sw, val, callbacks, this_fit, staged)
                else:
                    self._fit_epochs(X, T, sw, val, n_epochs, callbacks, this_fit, staged)
            except DivergenceError as error:
                # the weights are back at the last good epoch; a callback
                # (TerminateOnNaN) may take the error and end the fit quietly
                handled = [bool(cb.on_divergence(self, error)) for cb in callbacks]
                if not any(handled):
                    raise
            for cb in callbacks:
                cb.on_train_end(self, this_fit)
        return this_fit

    def _fit_callbacks(self):
        """The callbacks of a fit: the trainer's, and the progress display (``verbose``)."""
        progress = [ProgressLogger(always_in_epoch=self.verbose >= 2)] if self.verbose else []
        return list(self.callbacks) + progress

    def _fit_inputs(self, X, y, validation_data, epochs, sample_weight):
        """:meth:`_checked`, then the preprocessing: ``(X, T, sw, val, n_epochs, staged)``
        (see :func:`fastmlp.fit_data.preprocess`), agreed on by all ranks."""
        given = X
        if self.ranks is None:
            X, T, sw, val, n_epochs = self._checked(X, y, validation_data, epochs, sample_weight)
        else:  # bad input on one rank raises on all of them, rather than hang the others
            with self.ranks.failing_together("checking fit's input"):
                X, T, sw, val, n_epochs = self._checked(X, y, validation_data, epochs,
                                                        sample_weight)
        # a copy the checks or the split made may be preprocessed in place
        owned = isinstance(X, np.ndarray) and not (
            isinstance(given, np.ndarray) and np.may_share_memory(X, given))
        X, val, staged = preprocess(self.model, X, val, owned)
        self._after_preprocessing()
        if self.ranks is not None:
            self.ranks.check_same(fit_facts(self, X, T, sw, val, n_epochs), "at the start of fit")
            self.ranks.check_shares(X.shape[0], self.batch_size, any(self.model.batch_norm))
        return X, T, sw, val, n_epochs, staged

    def _after_preprocessing(self):
        """What a fit does once its data are preprocessed (the model's preprocessing fitted)."""

    def _checked(self, X, y, validation_data, epochs, sample_weight):
        """:meth:`fit`'s arguments checked, before anything changes: ``(X, T, sw, val,
        n_epochs)`` with the hold-out split off when the trainer makes one."""
        X, T, sw = check_rows(self.model, X, y, sample_weight)
        val = check_validation(self.model, validation_data)
        if val is None and self.validation_fraction is not None:
            X, T, sw, val = hold_out(self.model, X, T, sw, self.validation_fraction,
                                     self._split_seed)
        n_epochs = self.epochs if epochs is None else check_positive_int(epochs, "epochs")
        if epochs is None and self._pending_epochs is not None:
            n_epochs = self._pending_epochs  # finish the fit a checkpoint interrupted
        self._check_regularisation(X.shape[0])
        self._check_batch_size(X.shape[0])
        self._epoch_limit = self.optimizer.epoch_limit(n_epochs)
        return X, T, sw, val, n_epochs

    def _check_batch_size(self, n):
        """Warn when a full-batch method gets mini-batches."""
        opt = self.optimizer
        if opt.full_batch and not opt.minimizes and self.batch_size is not None \
                and self.batch_size < n:
            warnings.warn(f"{type(opt).__name__} is a full-batch method (the signs of "
                          "successive mini-batch gradients disagree for reasons that have "
                          "nothing to do with the loss surface); use batch_size=None",
                          UserWarning, stacklevel=4)

    def _check_regularisation(self, n):
        """Refuse what dropout, DropConnect and batch norm cannot do, before training."""
        model = self.model
        if self.optimizer.minimizes:
            if model.stochastic:
                raise ValueError(f"{type(self.optimizer).__name__} needs a deterministic "
                                 "objective; it cannot train a model with dropout or "
                                 "DropConnect (use a first-order optimizer, or set the rates "
                                 "to 0)")
            return
        if any(model.batch_norm):
            bs = n if self.batch_size is None else min(self.batch_size, n)
            if bs < 2 or n % bs == 1:
                raise ValueError(
                    f"batch normalisation needs at least 2 samples in every training batch, "
                    f"but batch_size={self.batch_size} on {n} samples leaves a batch of 1; "
                    "choose another batch_size")

    def _pick_diagnostic_sample(self, X, T, staged):
        self._diagnostic_sample = None
        if self.diagnostics is False:
            return
        size = DIAGNOSTIC_SAMPLE_ROWS if self.diagnostics is True else int(self.diagnostics)
        rows = np.random.default_rng(self._split_seed + 1).permutation(X.shape[0])[:size]
        rows.sort()
        sample = self.model.prepare_rows(X[rows]) if staged else X[rows]
        self._diagnostic_sample = (sample, T[rows])

    def _diagnose(self, logs):
        """Add the per-layer statistics of the diagnostic sample to ``logs``."""
        if self._diagnostic_sample is None:
            return
        logs.update(prepared_layer_statistics(self.model, *self._diagnostic_sample))

    def _timing(self, logs, seconds, n_samples):
        """Log an epoch's time and throughput, then the diagnostics (when recorded)."""
        logs["time"] = seconds
        logs["samples_per_sec"] = n_samples / max(seconds, 1e-12)
        self._diagnose(logs)

    def _close_epoch(self, logs, callbacks, this_fit):
        """The end of every epoch (an L-BFGS iteration too): record ``logs``, count the
        epoch, call the callbacks; returns whether one of them asks to stop."""
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
            this_fit.setdefault(key, []).append(value)
        self.epoch += 1
        stop = False
        for cb in callbacks:
            stop = bool(cb.on_epoch_end(self, self.epoch - 1, logs)) or stop
        return stop

    def _validate(self, logs, val):
        if val is not None:
            metrics = self.model.evaluate_prepared(val.X, val.T, val.sw, val.sst, val.raw_rows)
            if self.ranks is not None:  # every rank's callbacks see the same figures
                metrics = self.ranks.from_root(metrics)
            logs.update({f"val_{k}": v for k, v in metrics.items()})

    def _fit_epochs(self, X, T, sw, val, n_epochs, callbacks, this_fit, staged):
        model, opt, schedule = self.model, self.optimizer, self.schedule
        loop = EpochLoop(model, opt, X, T, sw, self.batch_size, self._mask_seed,
                         keep_state=isinstance(schedule, BoldDriver) and schedule.reject,
                         staged=staged, ranks=self.ranks, lazy=self.sparse_update == "lazy")
        resume, self._resume = self._resume, None
        if resume is not None and resume.progress.n_samples != X.shape[0]:
            raise ValueError(f"this trainer resumes an epoch over {resume.progress.n_samples} "
                             "training "
                             f"samples, but fit got {X.shape[0]}: pass the same data")
        if schedule is not None:
            schedule.start(opt.lr)
            if isinstance(schedule, InvScaling):
                schedule.n_samples = X.shape[0]
        for _ in range(n_epochs):
            for cb in callbacks:
                cb.on_epoch_begin(self, self.epoch)
            if resume is not None:
                self._rng = resume.rng  # as it was when the resumed epoch began
            # kept for a mid-epoch checkpoint, which resumes from this state
            # (encoded only when one is written)
            self._epoch_rng = self._rng.bit_generator.state
            order = epoch_order(self._rng, X.shape[0], self.shuffle)
            rates = None
            if schedule is not None:
                rates = schedule.rates(self.epoch, self.steps, loop.n_batches, loop.n_batches)
            self._running = loop
            try:
                logs, stop = loop.run_epoch(order, rates, self.epoch, callbacks, self,
                                            resume=None if resume is None else resume.progress)
            except KeyboardInterrupt:
                self.steps += loop.batches_done()  # the batches the model keeps
                raise
            finally:
                self._running = None
            resume = None
            self.steps += loop.n_batches
            try:
                self._validate(logs, val)
            except FloatingPointError as exc:
                # finite but huge weights overflow on the validation data:
                # the same divergence, caught one step later
                loop.restore()
                opt.reset()
                raise DivergenceError(
                    f"the validation loss became NaN or infinite in epoch {self.epoch + 1}; "
                    "the weights were restored to the end of the previous epoch. Likely "
                    "causes: a learning rate too high, or unscaled inputs "
                    f"(standardise the features). ({exc})") from None
            logs["lr"] = float(rates[-1]) if rates is not None else opt.lr
            self._timing(logs, loop.last_time, X.shape[0])
            if schedule is not None:
                opt.lr = logs["lr"]
                rejected = schedule.end_epoch(self.epoch, logs) == "reject"
                if rejected:
                    loop.restore()  # the bold driver undoes an epoch that raised the loss
                if loop.keep_state:
                    logs["rejected"] = rejected
            if self._close_epoch(logs, callbacks, this_fit) or stop:
                break

    def _fit_minimize(self, X, T, sw, val, callbacks, this_fit, staged):
        model, opt = self.model, self.optimizer
        n_samples = X.shape[0]
        objective_rows = minimize_share(X, T, sw, self.ranks, model.prepare_rows if staged
                                        else None)
        X, T, sw = objective_rows.X, objective_rows.T, objective_rows.sw
        # With batch norm the objective is the training-mode one (batch
        # statistics of the whole training set), which needs it in one chunk.
        norm = any(model.batch_norm)
        rows = X.shape[0] if norm else min(X.shape[0], TRAIN_CHUNK_ROWS)
        n_threads = plan(model.layer_sizes, rows, training=True).n_threads
        gradient_pass = model.engine.gradient_pass(rows, n_threads, norm, is_sparse(X))
        initial = model.snapshot()
        previous = [0.0]
        noise = training_noise() if norm else INFERENCE

        def objective(params, grad):
            if self.ranks is None:
                return gradient_pass(params, grad, X, T, sw, noise)
            # this rank's share, over the whole set's weight; summed over the ranks
            loss = gradient_pass(params, grad, X, T, sw, noise, weight=objective_rows.weight,
                                 penalized=self.ranks.rank == 0)
            return self.ranks.sum_into(loss, grad)

        def on_iteration(iteration, loss, elapsed):
            logs = {"loss": float(loss)}
            self._validate(logs, val)
            self._timing(logs, elapsed - previous[0], n_samples)
            previous[0] = elapsed
            return self._close_epoch(logs, callbacks, this_fit)

        try:
            opt.minimize(objective, model.params, on_iteration, _stacklevel=4)
            if norm:
                # running statistics := those of the training set at the solution
                gradient_pass.update_running_statistics(X, T, sw)
        except KeyboardInterrupt:
            # Ctrl-C (felt between two calls of an evaluation): the model keeps the
            # last point L-BFGS accepted -- its best -- which minimize left in it
            if not np.isfinite(model.params).all():
                model.restore(initial)
            raise
        except BaseException:
            model.restore(initial)
            raise
        if not np.isfinite(model.params).all():
            model.restore(initial)
            raise DivergenceError(f"{type(opt).__name__} produced NaN or infinite parameters; "
                                  "the weights were restored to where it started. Likely "
                                  "causes: unscaled inputs (standardise the features).")

#: Attributes a Trainer pickled by an earlier version may lack, with the
#: values they take then.
_ADDED_STATE = {"_running": None, "_epoch_rng": None, "_resume": None, "_samples_per_epoch": 0,
                "_epoch_limit": 0, "ranks": None, "sparse_update": "exact"}
