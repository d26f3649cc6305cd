"""scikit-learn's epoch bookkeeping and stopping rules for the first-order solvers.

After every epoch the estimator records the loss (``loss_curve_``, ``t_``),
watches the training loss or the validation score for ``n_iter_no_change``
epochs without an improvement by ``tol``, and then stops -- or, for
``solver="sgd", learning_rate="adaptive"``, divides the rate by 5 first.
"""

import warnings

import numpy as np
from sklearn.metrics import check_scoring

from ..callbacks import Callback

#: Smallest learning rate the "adaptive" schedule divides further (scikit-learn's).
_MIN_ADAPTIVE_LR = 1e-6


class FitContext:
    """What one fit call's epochs share: the validation set, the optimizer, flags."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class EpochHook(Callback):
    """Hands every finished epoch of a Trainer.fit to the estimator's stopping rules.

    ``end_epoch(loss)`` records the epoch and returns True to stop training
    (the estimator's :meth:`StoppingRules._end_epoch` for this fit).
    """

    def __init__(self, end_epoch, ctx):
        self.end_epoch, self.ctx = end_epoch, ctx
        self._penalty_start = 0.0

    def on_epoch_begin(self, trainer, epoch):
        if self.ctx.per_output_mean:
            self._penalty_start = trainer.model.penalty()

    def on_epoch_end(self, trainer, epoch, logs):
        loss = logs["loss"]
        if self.ctx.per_output_mean:
            # The engine's loss sums the outputs' squared errors; scikit-learn
            # averages them.  Only the data part is divided, the penalty is
            # taken as the mean of its values at the epoch's ends.
            penalty = 0.5 * (self._penalty_start + trainer.model.penalty())
            loss = (loss - penalty) / self.ctx.n_outputs + penalty
        return self.end_epoch(loss)


class StoppingRules:
    """The per-epoch part of :class:`BaseMLP` (a mixin: it reads the estimator's state)."""

    def _end_epoch(self, loss, ctx):
        """Record an epoch and apply scikit-learn's stopping rules; True stops training."""
        self.n_iter_ += 1
        self.t_ += ctx.n_train
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose:  # any level, as scikit-learn (2 adds fastmlp's progress lines)
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        self._track_improvement(ctx)
        if ctx.sgd and self.learning_rate == "invscaling":
            ctx.optimizer.lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change and not self._lower_rate(ctx):
            return True
        # warned about once training is over, from the user's fit call
        ctx.unconverged = not ctx.incremental and self.n_iter_ == self.max_iter
        return False

    def _lower_rate(self, ctx):
        """After too many epochs without improvement: True if "adaptive" lowered the rate.

        False means training stops here.
        """
        watched = "validation score" if ctx.val is not None else "training loss"
        what = (f"{watched} did not improve by more than tol={self.tol} for "
                f"{self.n_iter_no_change} consecutive epochs")
        opt = ctx.optimizer
        adaptive = ctx.sgd and self.learning_rate == "adaptive"
        if adaptive and opt.lr > _MIN_ADAPTIVE_LR:
            opt.lr = opt.lr / 5.0
            self._no_improvement_count = 0
            if self.verbose:
                print(f"The {what}; learning rate lowered to {opt.lr:g}")
            return True
        if self.verbose:
            print(f"The {what}; stopping.")
        return False

    def _track_improvement(self, ctx):
        """Count the epochs without improvement; keep the best weights with early stopping."""
        if ctx.val is None:
            if self.loss_ > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_)
            return
        score, loss = self._validation_metrics(ctx.val)
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(loss)
        if self.verbose:
            print(f"Validation score: {score:f}")
        # a NaN score (diverged weights) compares False both ways, as in scikit-learn
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_params[...] = self.model_.params
            self._best_running[...] = self.model_.running_stats

    def _validation_metrics(self, val):
        """(score, loss) of the current weights on the held-out set; NaN for non-finite outputs.

        The score is ``scoring``'s (by default the subclass's accuracy or
        R^2); the loss is the objective ``loss_curve_`` records, penalty
        included, on the held-out samples.
        """
        try:
            raw = self.model_.predict(val.X)  # raises on NaN or inf outputs
        except FloatingPointError:
            return np.nan, np.nan
        try:
            loss = self._objective_value(val.X, val.Y, val.sample_weight)
        except FloatingPointError:  # finite outputs whose loss overflows
            loss = np.nan
        if self.scoring is None:
            score = self._score_function(val.y, self._decode(raw),
                                         sample_weight=val.sample_weight)
        else:
            score = _call_scorer(self, val)
        return float(score), float(loss)

    def _record_divergence(self, ctx):
        """Record the epoch whose weights became non-finite (early stopping keeps the best)."""
        self.n_iter_ += 1
        self.t_ += ctx.n_train
        self.loss_ = np.nan
        self.loss_curve_.append(self.loss_)
        self.validation_scores_.append(np.nan)
        self.validation_loss_curve_.append(np.nan)


class HeldOut:
    """The early-stopping validation set: inputs, network targets, labels, weights."""

    def __init__(self, X, Y, y, sample_weight):
        self.X, self.Y, self.y, self.sample_weight = X, Y, y, sample_weight


def _call_scorer(estimator, val):
    """``estimator.scoring`` on the held-out set, as a scikit-learn scorer."""
    scorer = check_scoring(estimator, scoring=estimator.scoring)
    kwargs = {} if val.sample_weight is None else {"sample_weight": val.sample_weight}
    with warnings.catch_warnings():
        # the held-out rows are an ndarray even when fit got a DataFrame:
        # the estimator's predict would warn about the missing column names
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return scorer(estimator, val.X, val.y, **kwargs)
