"""Callbacks in a population's fit: early stopping per member, and the progress line.

A population trainer passes its callbacks the population's logs, in which
every metric is a list with one value per member (None for a member that
did not train that epoch).  Two kinds of callback are about one model, and
are applied to each member on its own:

* :class:`~fastmlp.callbacks.EarlyStopping` -- a member whose monitored
  metric stops improving stops training (and costs nothing more), keeping
  its best weights; the others go on.  :class:`EachMember` does this.
* the progress line -- :class:`PopulationProgress` prints, per metric, the
  best member's value and the spread.
"""

import copy

import numpy as np

from ..callbacks import Callback, EarlyStopping, ProgressLogger

__all__ = ["EachMember", "MemberView", "PopulationProgress", "per_member"]


class MemberView:
    """What a one-model callback sees of a population trainer: member ``k`` as the model.

    Attributes read by the callbacks of :mod:`fastmlp.callbacks`: ``model``
    (the member), ``epoch``, ``validating``, ``history`` (the member's
    column) and ``optimizer`` (the member's).
    """

    def __init__(self, trainer, k):
        self._trainer, self.k = trainer, k

    @property
    def model(self):
        return self._trainer.model.members[self.k]

    @property
    def optimizer(self):
        return self._trainer.member_optimizers.members[self.k]

    @property
    def epoch(self):
        return self._trainer.epoch

    @property
    def validating(self):
        return self._trainer.validating

    @property
    def history(self):
        return member_history(self._trainer.history, self.k)


def member_logs(logs, k):
    """Member k's entries of one epoch's population logs: each K-list's k-th value (None
    dropped), the shared entries (time, samples/s) as they are."""
    out = {}
    for key, value in logs.items():
        if isinstance(value, list):
            if value[k] is not None:
                out[key] = value[k]
        else:
            out[key] = value
    return out


def member_history(history, k):
    """Member k's history: of each per-member metric (a K-list per epoch) the k-th column;
    the shared entries (one value per epoch: time, samples/s) as they are."""
    out = {}
    for key, value in history.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            out[key] = [row[k] for row in value]
        else:
            out[key] = value
    return out


class EachMember(Callback):
    """A one-model callback applied to every member of a population on its own.

    ``on_epoch_end`` of member k's copy sees that member's metrics; when it
    asks to stop, member k stops training (the population trainer's
    :meth:`stop_member`), the others go on.
    """

    def __init__(self, callback, size):
        self.callback = callback
        self.copies = [copy.deepcopy(callback) for _ in range(size)]

    def on_train_begin(self, trainer):
        for k, cb in enumerate(self.copies):
            cb.on_train_begin(MemberView(trainer, k))

    def on_epoch_end(self, trainer, epoch, logs):
        for k, cb in enumerate(self.copies):
            if trainer.training_member(k):
                mine = member_logs(logs, k)
                if any(isinstance(v, float) for v in mine.values()) and \
                        cb.on_epoch_end(MemberView(trainer, k), epoch, mine):
                    trainer.stop_member(k)
        return False

    def on_train_end(self, trainer, history):
        for k, cb in enumerate(self.copies):
            cb.on_train_end(MemberView(trainer, k), member_history(history, k))

    def __repr__(self):
        return f"EachMember({self.callback!r})"


def per_member(callbacks, size):
    """The callbacks of a population's fit: early stopping applied to each member."""
    return [EachMember(cb, size) if isinstance(cb, EarlyStopping) else cb for cb in callbacks]


class PopulationProgress(ProgressLogger):
    """One line per epoch of a population: per metric the best member's value (and which
    member), the median and the worst, the members still training, samples/s, time."""

    def on_epoch_end(self, trainer, epoch, logs):
        self._close_bar()
        parts = [f"Epoch {epoch - self._first + 1}/{self._total_epochs}"]
        for key, value in logs.items():
            if key in ("time", "samples_per_sec", "lr") or not isinstance(value, list):
                continue
            known = [(v, k) for k, v in enumerate(value) if isinstance(v, float)]
            if not known:
                continue
            best = max(known) if key.endswith(("accuracy", "r2")) else min(known)
            values = np.array([v for v, _ in known])
            parts.append(f"{key} {best[0]:.4f} (m{best[1]}) med {np.median(values):.4f}")
        parts.append(f"training {trainer.members_training}/{trainer.model.size}")
        parts.append(f"{logs['samples_per_sec']:,.0f} samples/s")
        parts.append(f"{logs['time']:.2f} s")
        self.stream.write("  ".join(parts) + "\n")
        self.stream.flush()
