"""Optuna integration: report every epoch's validation metric and prune hopeless trials."""

from ..callbacks import Callback

__all__ = ["OptunaPruning"]


class OptunaPruning(Callback):
    """A fastmlp callback that reports a metric to an Optuna trial and prunes it.

    After every epoch it reports ``logs[monitor]`` at step ``epoch`` and,
    when Optuna's pruner says so, raises ``optuna.TrialPruned`` (which the
    Optuna study records as a pruned trial); the model keeps the weights of
    the last completed epoch.

    Parameters
    ----------
    trial : optuna.trial.Trial
    monitor : str, default "val_loss"
        A key of the epoch's logs (validation keys need ``validation_data``).

    Raises
    ------
    ValueError
        Optuna is not installed.
    """

    def __init__(self, trial, monitor="val_loss"):
        try:
            import optuna  # an optional dependency: only this callback needs it
        except ImportError:
            raise ValueError("OptunaPruning needs optuna: pip install 'fastmlp[optuna]'") \
                from None
        self._pruned_error = optuna.TrialPruned
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"OptunaPruning monitors {self.monitor!r}, which the epoch's logs "
                             f"lack; they hold: {', '.join(sorted(logs))}")
        self.trial.report(float(logs[self.monitor]), step=epoch)
        if self.trial.should_prune():
            raise self._pruned_error(f"pruned at epoch {epoch} ({self.monitor} "
                                     f"{float(logs[self.monitor]):.4g})")
        return False
