"""Training a population: every member on the same batches, in one compiled loop.

``fm.Trainer(population, optimizer, ...)`` makes a :class:`PopulationTrainer`
(``Trainer`` dispatches on the model's kind).  Every setting means what it
means for one model, applied to each member: the members see the same
epoch order and the same dropout masks (the trainer's seed), each takes its
own optimizer (a value per member: :mod:`fastmlp.optim.members`) and its own
copy of the schedule, started from its own learning rate.  Member k ends
equal to the same model trained alone, one thread, with the same seeds --
the contract the tests check.

The history holds, for every metric, one list per epoch with a value per
member (None where a member did not train); ``trainer.history["loss"]``
as an array is (epochs, K).  Early stopping applies to each member
(:mod:`fastmlp.population.callbacks`), as does divergence: a member whose
loss becomes NaN is put back to its last good epoch and stops, the others
go on (a RuntimeWarning says so when ``verbose``; a
:class:`~fastmlp.DivergenceError` only when none is left).
"""

import contextlib
import copy
import warnings

import numpy as np

from ..data.shuffling import epoch_order
from ..exceptions import DivergenceError
from ..schedules import BoldDriver, InvScaling
from ..trainer import Trainer, register_trainer
from .callbacks import PopulationProgress, per_member
from .container import Population
from .loop import PopulationEpochs
from .optimizers import MemberOptimizers

__all__ = ["PopulationTrainer"]


class PopulationTrainer(Trainer):
    """Trains every member of a :class:`~fastmlp.Population` on the same batches.

    Made by ``fm.Trainer(population, ...)``; the parameters are
    :class:`~fastmlp.Trainer`'s, applied to each member (see the module
    docstring).  Not with ``comm`` (data-parallel training takes one model),
    ``diagnostics``, or an optimizer that runs its own iterations (L-BFGS).

    Attributes
    ----------
    member_optimizers : MemberOptimizers
        Member k's optimizer is ``member_optimizers.members[k]``.
    member_schedules : list of Schedule or None
        Each member's copy of the schedule.
    diverged : ndarray of bool (K,)
        Members that diverged (put back to their last good epoch; they
        train no more until :meth:`revive`).
    """

    _progress_ndim = 3

    def __init__(self, model, optimizer=None, *args, comm=None, diagnostics=False, **kwargs):
        if comm is not None:
            raise ValueError("data-parallel training (comm) takes one Model; a population "
                             "trains in one process (its members share the cores)")
        if diagnostics:
            raise ValueError("diagnostics record one model's layer statistics; train a "
                             "member alone with diagnostics=True to see them")
        super().__init__(model, optimizer, *args, **kwargs)
        size = self.model.size
        self.member_schedules = None if self.schedule is None else [
            copy.deepcopy(self.schedule) for _ in range(size)]
        self.diverged = np.zeros(size, dtype=bool)
        self._stopped = np.zeros(size, dtype=bool)

    def _check_model(self, model):
        if not isinstance(model, Population):
            raise TypeError(f"model must be a fastmlp.Population, got {type(model).__name__}")

    def _check_optimizer(self):
        self.member_optimizers = MemberOptimizers(self.optimizer, self.model.size)

    # ------------------------------------------------------------- members
    def training_member(self, k):
        """Whether member k trains in the coming epochs of this fit."""
        return not (self.diverged[k] or self._stopped[k])

    @property
    def members_training(self):
        """How many members train in the coming epochs."""
        return int((~(self.diverged | self._stopped)).sum())

    @property
    def step_count(self):
        """Steps the members that trained longest have taken (inside epochs too)."""
        return int(self.member_optimizers.count.max())

    def stop_member(self, k):
        """Stop training member k for the rest of this fit (early stopping)."""
        self._stopped[k] = True

    def revive(self, members=None):
        """Let diverged members train again in the next fit (all, or those listed)."""
        self.diverged[slice(None) if members is None else list(members)] = False

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, validation_data=None, epochs=None, sample_weight=None):
        """Train every member for ``epochs`` epochs on the same batches.

        The arguments and errors are those of :meth:`fastmlp.Trainer.fit`;
        the returned history holds a list per epoch with a value per member.
        No member of the population may be trained elsewhere meanwhile
        (:class:`~fastmlp.ConcurrentFitError`).
        """
        with contextlib.ExitStack() as fitting:
            for member in self.model.members:
                fitting.enter_context(member.engine.guard.fitting("fit"))
            self._stopped[:] = False
            return self._fit(X, y, validation_data, epochs, sample_weight)

    def _after_preprocessing(self):
        # the first member's preprocessing was fitted on the data: every member
        # sees the same prepared inputs
        first = self.model.members[0]
        for member in self.model.members[1:]:
            if member.preprocessing is not first.preprocessing:
                member.preprocessing = copy.deepcopy(first.preprocessing)

    def _fit_callbacks(self):
        progress = [PopulationProgress(always_in_epoch=self.verbose >= 2)] if self.verbose \
            else []
        return per_member(self.callbacks, self.model.size) + progress

    def _validate(self, logs, val):
        if val is None:
            return
        size = self.model.size
        for k, member in enumerate(self.model.members):
            if logs["loss"][k] is None:  # not trained this epoch: nothing new to see
                continue
            metrics = member.evaluate_prepared(val.X, val.T, val.sw, val.sst, val.raw_rows)
            for key, value in metrics.items():
                logs.setdefault(f"val_{key}", [None] * size)[k] = float(value)

    def _rates(self, loop):
        """Each member's rate for each batch of the coming epoch, (K, n_batches), or None."""
        if self.member_schedules is None:
            return None
        counts = self.member_optimizers.count[:, 0]
        return np.stack([s.rates(self.epoch, int(counts[k]), loop.n_batches, loop.n_batches)
                         for k, s in enumerate(self.member_schedules)])

    def _start_schedules(self, n_samples):
        for schedule, opt in zip(self.member_schedules or (), self.member_optimizers.members):
            schedule.start(opt.lr)
            if isinstance(schedule, InvScaling):
                schedule.n_samples = n_samples

    def _end_schedules(self, logs, loop, trained):
        """Each trained member's schedule sees its metrics; a bold driver may put a
        member's epoch back."""
        rejected = []
        for k in trained:
            mine = {key: v[k] if isinstance(v, list) else v for key, v in logs.items()}
            self.member_optimizers.members[k].lr = mine["lr"]
            if self.member_schedules[k].end_epoch(self.epoch, mine) == "reject":
                rejected.append(k)
        if rejected:
            loop.restore(rejected)
        if loop.keep_state:
            logs["rejected"] = [k in rejected for k in range(self.model.size)]

    def _fit_epochs(self, X, T, sw, val, n_epochs, callbacks, this_fit, staged):
        pop, opts = self.model, self.member_optimizers
        reject = any(isinstance(s, BoldDriver) and s.reject
                     for s in self.member_schedules or ())
        loop = PopulationEpochs(pop, opts, X, T, sw, self.batch_size, self._mask_seed,
                                keep_state=reject, staged=staged,
                                lazy=self.sparse_update == "lazy")
        resume, self._resume = self._resume, None
        if resume is not None and resume.progress.n_samples != X.shape[0]:
            raise ValueError(f"this trainer resumes an epoch over {resume.progress.n_samples} "
                             f"training samples, but fit got {X.shape[0]}: pass the same data")
        self._start_schedules(X.shape[0])
        for _ in range(n_epochs):
            training = np.flatnonzero(~(self.diverged | self._stopped))
            if not training.size:
                break
            for cb in callbacks:
                cb.on_epoch_begin(self, self.epoch)
            if resume is not None:
                self._rng = resume.rng
            self._epoch_rng = self._rng.bit_generator.state
            order = epoch_order(self._rng, X.shape[0], self.shuffle)
            rates = self._rates(loop)
            self._running = loop
            try:
                logs, diverged, stop = loop.run_epoch(
                    order, rates, training, callbacks, self,
                    resume=None if resume is None else resume.progress)
            except KeyboardInterrupt:
                self.steps += loop.batches_done()
                raise
            finally:
                self._running = None
            resume = None
            self.steps += loop.n_batches
            self._note_divergence(diverged)
            trained = [k for k in training if k not in diverged]
            self._validate(logs, val)
            logs["lr"] = [None] * pop.size
            for k in trained:
                member_lr = opts.members[k].lr
                logs["lr"][k] = float(rates[k, -1]) if rates is not None else member_lr
            self._timing(logs, loop.last_time, X.shape[0] * max(1, len(trained)))
            if self.member_schedules is not None:
                self._end_schedules(logs, loop, trained)
            if self._close_epoch(logs, callbacks, this_fit) or stop:
                break

    def _note_divergence(self, diverged):
        """Mark the members that diverged in an epoch; raise when none is left."""
        for k, why in diverged.items():
            self.diverged[k] = True
            if not self.verbose:  # (trainer.diverged says it; a search keeps quiet)
                continue
            warnings.warn(f"member {k} diverged in epoch {self.epoch + 1}: {why}; it was put "
                          "back to the end of its last good epoch and trains no more (likely "
                          "causes: its learning rate is too high, or the inputs are unscaled)",
                          RuntimeWarning, stacklevel=5)
        if diverged and self.diverged.all():
            raise DivergenceError(f"every member diverged (the last in epoch {self.epoch + 1});"
                                  " the weights were restored to each member's last good "
                                  "epoch. Likely causes: learning rates too high for this "
                                  "problem, or unscaled inputs (standardise the features).")

    # ----------------------------------------------------------------- state
    def state_dict(self):
        """:meth:`fastmlp.Trainer.state_dict`, with which members diverged and each
        member's schedule state."""
        state = super().state_dict()
        state["diverged"] = [bool(d) for d in self.diverged]
        state["member_schedules"] = None if self.member_schedules is None else [
            s.state_dict() for s in self.member_schedules]
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        diverged = state.get("diverged", [False] * self.model.size)
        if len(diverged) != self.model.size:
            raise ValueError(f"the state is of a population of {len(diverged)} members, not "
                             f"{self.model.size}")
        self.diverged[:] = [bool(d) for d in diverged]
        saved = state.get("member_schedules")
        if saved is not None and self.member_schedules is not None:
            for schedule, entries in zip(self.member_schedules, saved):
                schedule.load_state_dict(entries)


register_trainer(Population, PopulationTrainer)
