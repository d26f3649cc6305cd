"""Early stopping and the validation split."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.callbacks import EarlyStopping


class Recorder(fm.Callback):
    """Keeps a copy of the parameters and running statistics after every epoch."""

    def __init__(self):
        self.params, self.running = [], []

    def on_epoch_end(self, trainer, epoch, logs):
        self.params.append(trainer.model.params.copy())
        self.running.append(trainer.model.running_stats.copy())


def _noisy_task(rng, n=120, d=10):
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.8 * rng.standard_normal(n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("batch_norm", [False, True])
def test_restores_exactly_the_best_epoch(batch_norm, rng):
    X, y = _noisy_task(rng)
    Xv, yv = _noisy_task(rng, 60)
    model = fm.Model([10, 64, 2], batch_norm=batch_norm, dtype="float64", seed=0)
    stopper = EarlyStopping(patience=3)
    recorder = Recorder()
    trainer = fm.Trainer(model, fm.optim.Adam(lr=0.03), batch_size=16, epochs=200, seed=0,
                         verbose=0, callbacks=[recorder, stopper])
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    val = np.array(history["val_loss"])
    best = int(np.argmin(val))
    assert stopper.best_epoch == best and stopper.best == val[best]
    # the overfitting run stops patience epochs after its best one
    assert stopper.stopped_epoch == best + 3 == len(val) - 1
    np.testing.assert_array_equal(model.params, recorder.params[best])
    np.testing.assert_array_equal(model.running_stats, recorder.running[best])
    assert model.evaluate(Xv, yv)["loss"] == pytest.approx(val[best], rel=1e-12)


def test_min_delta_mode_and_metric(rng):
    X, y = _noisy_task(rng)
    Xv, yv = _noisy_task(rng, 60)
    stopper = EarlyStopping("val_accuracy", patience=2, min_delta=0.5)
    assert stopper.mode == "max"
    model = fm.Model([10, 16, 2], seed=0)
    recorder = Recorder()
    history = fm.Trainer(model, batch_size=16, epochs=50, verbose=0, seed=0,
                         callbacks=[recorder, stopper]).fit(X, y, validation_data=(Xv, yv))
    # no accuracy can improve by 0.5 on the first epoch's: stops after 2 more
    assert len(history["loss"]) == 3 and stopper.best_epoch == 0
    np.testing.assert_array_equal(model.params, recorder.params[0])


def test_runs_all_epochs_without_a_plateau_and_keeps_the_best(rng):
    X, y = _noisy_task(rng)
    model = fm.Model([10, 16, 2], seed=0)
    stopper = EarlyStopping("loss", patience=50)
    recorder = Recorder()
    history = fm.Trainer(model, fm.optim.SGD(lr=0.01), batch_size=None, epochs=8, verbose=0,
                         callbacks=[recorder, stopper]).fit(X, y)
    assert len(history["loss"]) == 8 and stopper.stopped_epoch is None
    np.testing.assert_array_equal(model.params, recorder.params[int(np.argmin(history["loss"]))])


def test_lbfgs_stops_early(rng):
    X, y = _noisy_task(rng)
    Xv, yv = _noisy_task(rng, 60)
    model = fm.Model([10, 64, 2], dtype="float64", seed=0)
    stopper = EarlyStopping(patience=2)
    recorder = Recorder()
    trainer = fm.Trainer(model, fm.optim.LBFGS(max_iter=500), verbose=0,
                         callbacks=[recorder, stopper])
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    val = np.array(history["val_loss"])
    assert len(val) < 500 and stopper.stopped_epoch == len(val) - 1
    np.testing.assert_array_equal(model.params, recorder.params[int(np.argmin(val))])


def test_validation_fraction_split_is_stratified_and_fixed(rng):
    X = rng.standard_normal((200, 5))
    y = np.r_[np.zeros(160, int), np.ones(40, int)]
    seen = []

    def spy(epoch, logs):
        seen.append(logs["val_loss"])

    model = fm.Model([5, 8, 2], dtype="float64", seed=0)
    trainer = fm.Trainer(model, fm.optim.SGD(lr=1e-12), batch_size=None, epochs=1, seed=3,
                         verbose=0, validation_fraction=0.25, callbacks=[spy])
    trainer.fit(X, y)
    trainer.fit(X, y)
    # the same held-out part each call (the weights barely move)
    assert seen[0] == pytest.approx(seen[1], rel=1e-9)
    # which part: the validation loss equals evaluate on a stratified quarter
    from fastmlp.preprocessing import stratified_indices
    val_idx, _ = stratified_indices(y, 50, np.random.default_rng(trainer._split_seed))
    assert np.bincount(y[val_idx]).tolist() == [40, 10]
    assert model.evaluate(X[val_idx], y[val_idx])["loss"] == pytest.approx(seen[1], rel=1e-9)


def test_validation_fraction_regression_and_early_stopping(rng):
    X = rng.standard_normal((150, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(150)
    model = fm.Model([4, 16, 1], activation="tanh", output="identity", seed=0)
    stopper = EarlyStopping("val_r2", patience=5)
    history = fm.Trainer(model, batch_size=16, epochs=300, verbose=0, seed=0,
                         validation_fraction=0.2, callbacks=[stopper]).fit(X, y)
    assert "val_r2" in history and len(history["loss"]) < 300
    assert max(history["val_r2"]) == stopper.best > 0.9


@pytest.mark.parametrize("kwargs, message", [
    (dict(patience=-1), "patience"), (dict(mode="up"), "mode"),
    (dict(min_delta=float("nan")), "min_delta"), (dict(monitor=3), "monitor")])
def test_bad_options(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        EarlyStopping(**kwargs)


def test_monitoring_validation_without_validation_data_is_refused(rng):
    X, y = _noisy_task(rng, 20)
    model = fm.Model([10, 4, 2], seed=0)
    before = model.params.copy()
    with pytest.raises(ValueError, match="validation"):
        fm.Trainer(model, verbose=0, callbacks=[EarlyStopping()]).fit(X, y)
    np.testing.assert_array_equal(model.params, before)
    with pytest.raises(ValueError, match="validation_fraction"):
        fm.Trainer(model, validation_fraction=1.5)
