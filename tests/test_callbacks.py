"""Callbacks (fastmlp/callbacks.py) as the Trainer drives them.

Hook order is checked against the sequence the Trainer documents
(on_train_begin, then on_epoch_begin / [on_chunk_end ...] / on_epoch_end per
epoch, then on_train_end) by recording every call; stopping by returning True;
``as_callback`` wrapping of plain functions; EarlyStopping's patience,
min_delta, baseline, warm-up and mode rules on hand-made metric sequences
(driven through a minimal stand-in trainer) and, on a real fit, that the
restored weights equal a separately recorded copy of the best epoch's;
ProgressLogger's line format against strings composed by hand.
"""

import io
import re
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.callbacks import (
    Callback,
    EarlyStopping,
    ProgressLogger,
    as_callback,
    wants_chunks,
)
from fastmlp.exceptions import DivergenceError


def _data(rng, n=40, d=3):
    X = rng.standard_normal((n, d))
    y = (X[:, 0] - 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def _trainer(callbacks, epochs=3, batch_size=4, **kwargs):
    model = fm.Model([3, 4, 2], activation="tanh", dtype="float64", seed=0)
    return fm.Trainer(model, fm.optim.SGD(0.05), batch_size=batch_size, epochs=epochs, seed=0,
                      verbose=0, callbacks=callbacks, **kwargs)


class Recorder(Callback):
    """Appends (name, hook, epoch) to a shared event list."""

    def __init__(self, name, events):
        self.name, self.events = name, events

    def on_train_begin(self, trainer):
        self.events.append((self.name, "train_begin", trainer.epoch))

    def on_epoch_begin(self, trainer, epoch):
        self.events.append((self.name, "epoch_begin", epoch))

    def on_epoch_end(self, trainer, epoch, logs):
        self.events.append((self.name, "epoch_end", epoch))

    def on_train_end(self, trainer, history):
        self.events.append((self.name, "train_end", trainer.epoch))


class ChunkRecorder(Recorder):
    chunks_per_epoch = 3

    def __init__(self, name, events, stop_at_chunk=None):
        super().__init__(name, events)
        self.chunks = []
        self.stop_at_chunk = stop_at_chunk

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        self.events.append((self.name, "chunk_end", epoch))
        self.chunks.append((epoch, batches_done, n_batches))
        return len(self.chunks) == self.stop_at_chunk


# ------------------------------------------------------------------ hook order

def test_base_callback_hooks_do_nothing():
    cb = Callback()
    trainer = SimpleNamespace(epoch=0)
    assert cb.on_train_begin(trainer) is None and cb.on_epoch_begin(trainer, 0) is None
    assert cb.on_epoch_end(trainer, 0, {}) is None and cb.on_train_end(trainer, {}) is None
    assert cb.on_chunk_end(trainer, 0, 1, 2) is None
    assert cb.on_divergence(trainer, DivergenceError("x")) is False


def test_hooks_run_in_order_for_every_callback_in_list_order(rng):
    events = []
    trainer = _trainer([Recorder("A", events), Recorder("B", events)], epochs=2)
    trainer.fit(*_data(rng))
    expected = [("A", "train_begin", 0), ("B", "train_begin", 0)]
    for epoch in range(2):
        expected += [("A", "epoch_begin", epoch), ("B", "epoch_begin", epoch),
                     ("A", "epoch_end", epoch), ("B", "epoch_end", epoch)]
    expected += [("A", "train_end", 2), ("B", "train_end", 2)]
    assert events == expected


def test_epochs_count_on_over_a_second_fit(rng):
    events = []
    trainer = _trainer([Recorder("A", events)], epochs=2)
    X, y = _data(rng)
    trainer.fit(X, y)
    del events[:]
    trainer.fit(X, y, epochs=1)
    assert events == [("A", "train_begin", 2), ("A", "epoch_begin", 2), ("A", "epoch_end", 2),
                      ("A", "train_end", 3)]


def test_on_epoch_end_sees_the_epoch_already_recorded(rng):
    seen = []

    class Check(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((trainer.epoch, epoch, trainer.history["loss"][-1], logs["loss"],
                         len(trainer.history["loss"])))

    _trainer([Check()], epochs=3).fit(*_data(rng))
    for count, epoch, last, loss, length in seen:
        assert count == epoch + 1 == length and last == loss
    assert [s[1] for s in seen] == [0, 1, 2]


def test_on_train_end_gets_this_fits_history(rng):
    got = {}

    class Keep(Callback):
        def on_train_end(self, trainer, history):
            got["history"] = history

    history = _trainer([Keep()], epochs=2).fit(*_data(rng))
    assert got["history"] is history and len(history["loss"]) == 2


def test_wants_chunks_only_when_on_chunk_end_is_overridden():
    assert not wants_chunks(Callback())
    assert not wants_chunks(Recorder("A", []))
    assert wants_chunks(ChunkRecorder("A", []))
    assert not wants_chunks(EarlyStopping())


def test_chunk_hooks_come_between_epoch_begin_and_end(rng):
    events = []
    cb = ChunkRecorder("A", events)
    trainer = _trainer([cb], epochs=2, batch_size=4)   # 40 samples: 10 batches per epoch
    trainer.fit(*_data(rng))
    hooks = [h for _, h, _ in events]
    assert hooks[0] == "train_begin" and hooks[-1] == "train_end"
    for epoch in range(2):
        mine = [h for _, h, e in events if e == epoch and h != "train_begin"]
        assert mine[0] == "epoch_begin" and mine[-1] == "epoch_end"
        assert set(mine[1:-1]) == {"chunk_end"}
        chunks = [(done, total) for e, done, total in cb.chunks if e == epoch]
        done = [d for d, _ in chunks]
        assert all(total == 10 for _, total in chunks)
        assert done == sorted(set(done)) and done[-1] == 10 and done[0] > 0
        # "at least chunks_per_epoch times per epoch": at every multiple of
        # n_batches // chunks_per_epoch, and wherever a call's time ran out
        spacing = 10 // cb.chunks_per_epoch
        assert set(range(spacing, 10, spacing)) | {10} <= set(done)
    assert trainer.steps == 20


def test_no_chunk_calls_without_an_override(rng):
    calls = []

    class Plain(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            calls.append(epoch)

    _trainer([Plain()], epochs=2).fit(*_data(rng))
    assert calls == [0, 1]


def test_true_from_on_chunk_end_stops_after_the_whole_epoch(rng):
    events = []
    cb = ChunkRecorder("A", events, stop_at_chunk=1)
    trainer = _trainer([cb], epochs=5, batch_size=4)
    history = trainer.fit(*_data(rng))
    assert trainer.epoch == 1 and len(history["loss"]) == 1
    assert trainer.steps == 10                      # every batch of the epoch ran
    assert cb.chunks[-1][1] == 10 and ("A", "epoch_end", 0) in events
    assert events[-1] == ("A", "train_end", 1)


def test_true_from_on_epoch_end_stops_but_later_callbacks_still_see_the_epoch(rng):
    events = []

    class StopAt(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            return epoch == 1

    trainer = _trainer([StopAt(), Recorder("B", events)], epochs=10)
    history = trainer.fit(*_data(rng))
    assert len(history["loss"]) == 2 and trainer.epoch == 2
    assert [e for _, h, e in events if h == "epoch_end"] == [0, 1]
    assert events[-1] == ("B", "train_end", 2)


def test_falsy_non_bool_returns_do_not_stop(rng):
    class Noisy(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            return 0 if epoch % 2 else ""

    assert len(_trainer([Noisy()], epochs=3).fit(*_data(rng))["loss"]) == 3


# ------------------------------------------------------------------ functions

def test_as_callback_passes_callbacks_through_and_wraps_functions():
    cb = Recorder("A", [])
    assert as_callback(cb) is cb
    calls = []
    wrapped = as_callback(lambda epoch, logs: calls.append((epoch, logs)) or epoch == 4)
    assert isinstance(wrapped, Callback)
    assert wrapped.on_epoch_end(None, 3, {"loss": 1.0}) is False
    assert wrapped.on_epoch_end(None, 4, {"loss": 2.0}) is True
    assert calls == [(3, {"loss": 1.0}), (4, {"loss": 2.0})]
    # the other hooks are the base class's no-ops
    assert wrapped.on_train_begin(None) is None and not wants_chunks(wrapped)


@pytest.mark.parametrize("obj, name", [(3, "int"), ("stop", "str"), (None, "NoneType")])
def test_as_callback_refuses_what_is_not_callable(obj, name):
    with pytest.raises(TypeError, match=f"functions f\\(epoch, logs\\), got {name}$"):
        as_callback(obj)
    with pytest.raises(TypeError, match=f"got {name}$"):
        _trainer([obj])


def test_function_callbacks_get_epoch_and_logs_and_can_stop(rng):
    seen = []

    def watch(epoch, logs):
        seen.append((epoch, dict(logs)))
        return epoch == 2

    trainer = _trainer([watch], epochs=10)
    X, y = _data(rng)
    history = trainer.fit(X, y, validation_data=(X, y))
    assert [e for e, _ in seen] == [0, 1, 2] and len(history["loss"]) == 3
    for epoch, logs in seen:
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time",
                "samples_per_sec"} <= set(logs)
        assert logs["loss"] == history["loss"][epoch]
        assert logs["val_loss"] == history["val_loss"][epoch]


# ------------------------------------------------------------------ divergence

def _diverging(callbacks):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)) * 1e3
    y = rng.integers(0, 3, 64)
    model = fm.Model([5, 16, 3], activation="relu", seed=0)
    trainer = fm.Trainer(model, fm.optim.SGD(1e4), batch_size=8, epochs=20, verbose=0,
                         callbacks=callbacks)
    return trainer, X, y


def test_divergence_raises_when_no_callback_takes_it():
    events = []
    trainer, X, y = _diverging([Recorder("A", events)])
    with pytest.raises(DivergenceError):
        trainer.fit(X, y)
    assert not any(h == "train_end" for _, h, _ in events)


def test_a_callback_taking_the_divergence_ends_the_fit_quietly():
    events, errors = [], []

    class Take(Recorder):
        def on_divergence(self, trainer, error):
            errors.append((error, trainer.epoch))
            return True

    guard = fm.TerminateOnNaN()
    trainer, X, y = _diverging([Take("A", events), guard])
    history = trainer.fit(X, y)
    assert len(errors) == 1 and isinstance(errors[0][0], DivergenceError)
    assert guard.error is errors[0][0] and guard.stopped_epoch == trainer.epoch == errors[0][1]
    assert len(history.get("loss", [])) == trainer.epoch < 20
    assert events[-1] == ("A", "train_end", trainer.epoch)
    assert np.isfinite(trainer.model.params).all()


# -------------------------------------------------------------- EarlyStopping

class Script(Callback):
    """Writes the next scripted value into the epoch's logs (for the callbacks after it)
    and keeps a copy of the weights of every epoch."""

    def __init__(self, key, values):
        self.key, self.values = key, iter(values)
        self.params, self.running = {}, {}

    def on_epoch_end(self, trainer, epoch, logs):
        logs[self.key] = next(self.values)
        self.params[epoch] = trainer.model.params.copy()
        self.running[epoch] = trainer.model.running_stats.copy()


def _scripted(stopper, values, key=None, fits=1, rng=None):
    """Fit (full batch, one epoch per value) with ``values`` as the monitored metric.

    Returns the trainer, the script (weights per epoch) and the epochs each fit ran.
    """
    key = stopper.monitor if key is None else key
    script = Script(key, values)
    X, y = _data(np.random.default_rng(1) if rng is None else rng)
    model = fm.Model([3, 4, 2], activation="tanh", batch_norm=True, dtype="float64", seed=0)
    trainer = fm.Trainer(model, fm.optim.SGD(0.5), batch_size=None, epochs=len(values),
                         verbose=0, callbacks=[script, stopper])
    runs = []
    for per_fit in ([len(values)] if fits == 1 else fits):
        runs.append(len(trainer.fit(X, y, epochs=per_fit)["loss"]))
    return trainer, script, runs


def _assert_weights_of(trainer, script, epoch):
    np.testing.assert_array_equal(trainer.model.params, script.params[epoch])
    np.testing.assert_array_equal(trainer.model.running_stats, script.running[epoch])


@pytest.mark.parametrize("monitor, mode", [
    ("val_loss", "min"), ("loss", "min"), ("val_accuracy", "max"), ("accuracy", "max"),
    ("val_r2", "max"), ("r2", "max"), ("val_mse", "min"),
])
def test_mode_is_inferred_from_the_monitored_key(monitor, mode):
    assert EarlyStopping(monitor).mode == mode
    explicit = "max" if mode == "min" else "min"
    assert EarlyStopping(monitor, mode=explicit).mode == explicit


def test_patience_counts_epochs_without_improvement():
    stopper = EarlyStopping("score", patience=3)
    trainer, script, runs = _scripted(stopper, [1.0, 0.9, 0.95, 0.96, 0.97, 0.1, 0.1])
    assert runs == [5]                   # best at epoch 1, then 3 epochs without improvement
    assert stopper.best == 0.9 and stopper.best_epoch == 1 and stopper.stopped_epoch == 4
    _assert_weights_of(trainer, script, 1)
    assert not np.array_equal(script.params[1], script.params[4])  # the weights did move


def test_an_improvement_resets_the_patience():
    stopper = EarlyStopping("score", patience=2)
    trainer, script, runs = _scripted(stopper, [1.0, 1.1, 0.8, 0.9, 0.85, 0.7])
    assert runs == [5] and stopper.best_epoch == 2 and stopper.stopped_epoch == 4
    _assert_weights_of(trainer, script, 2)


def test_patience_zero_acts_as_one():
    stopper = EarlyStopping("score", patience=0)
    assert _scripted(stopper, [1.0, 2.0, 0.5])[2] == [2] and stopper.stopped_epoch == 1


def test_min_delta_must_be_exceeded():
    stopper = EarlyStopping("score", patience=2, min_delta=0.25)
    trainer, script, runs = _scripted(stopper, [1.0, 0.75, 0.8, 0.0])
    # 1.0 -> 0.75 improves by exactly min_delta: not an improvement
    assert runs == [3] and stopper.best == 1.0 and stopper.best_epoch == 0
    _assert_weights_of(trainer, script, 0)
    stopper = EarlyStopping("score", patience=2, min_delta=-0.25)   # the sign is ignored
    assert stopper.min_delta == 0.25
    assert _scripted(stopper, [1.0, 0.7, 0.6, 0.5])[2] == [4]


def test_max_mode_prefers_higher_values():
    stopper = EarlyStopping("my_accuracy", patience=2)
    assert stopper.mode == "max"
    trainer, script, runs = _scripted(stopper, [0.5, 0.6, 0.6, 0.55, 0.9])
    assert runs == [4] and stopper.best == 0.6 and stopper.best_epoch == 1
    _assert_weights_of(trainer, script, 1)


def test_baseline_must_be_beaten_to_count():
    stopper = EarlyStopping("score", patience=2, baseline=0.5)
    trainer, script, runs = _scripted(stopper, [0.6, 0.7, 0.4])
    assert runs == [2] and stopper.best_epoch is None and stopper.best == 0.5
    _assert_weights_of(trainer, script, 1)    # nothing to restore: the last weights stay
    stopper = EarlyStopping("score", patience=2, baseline=0.5)
    trainer, script, runs = _scripted(stopper, [0.6, 0.45, 0.5, 0.5])
    assert runs == [4] and stopper.best_epoch == 1
    _assert_weights_of(trainer, script, 1)


def test_start_from_epoch_counts_the_warm_up_within_each_fit():
    stopper = EarlyStopping("score", patience=1, start_from_epoch=2)
    # first fit: epochs 0-2; second fit: epochs 3-7, of which 3 and 4 are warm-up
    values = [1.0, 1.0, 1.0] + [0.1, 0.2, 0.9, 0.8, 0.85]
    trainer, script, runs = _scripted(stopper, values, fits=[3, 5])
    assert runs == [3, 5]
    assert stopper.best_epoch == 6 and stopper.stopped_epoch == 7
    _assert_weights_of(trainer, script, 6)


def test_nan_never_counts_as_an_improvement():
    stopper = EarlyStopping("score", patience=2)
    trainer, script, runs = _scripted(stopper, [float("nan"), float("nan"), 1.0])
    assert runs == [2] and stopper.best_epoch is None


def test_without_restore_the_last_weights_stay():
    stopper = EarlyStopping("score", patience=1, restore_best_weights=False)
    trainer, script, runs = _scripted(stopper, [1.0, 2.0])
    assert runs == [2] and stopper.best_epoch == 0
    _assert_weights_of(trainer, script, 1)


def test_state_is_reset_by_each_fit():
    stopper = EarlyStopping("score", patience=1)
    trainer, script, runs = _scripted(stopper, [0.1, 0.2] + [5.0, 4.0, 3.0], fits=[3, 3])
    # the first fit stops after epoch 1; the second starts afresh from inf
    assert runs == [2, 3]
    assert stopper.best == 3.0 and stopper.stopped_epoch is None and stopper.best_epoch == 4
    _assert_weights_of(trainer, script, 4)


def test_a_missing_monitored_key_is_reported_with_the_available_ones(rng):
    X, y = _data(rng)
    trainer = _trainer([EarlyStopping("val_r2")])
    with pytest.raises(ValueError, match=r"'val_r2', which is not among this epoch's logs: "
                                         r"\[.*'val_accuracy', 'val_loss'\]"):
        trainer.fit(X, y, validation_data=(X, y))


def test_validation_keys_need_validation_data(rng):
    X, y = _data(rng)
    with pytest.raises(ValueError, match="'val_loss', which needs validation data"):
        _trainer([EarlyStopping()]).fit(X, y)
    _trainer([EarlyStopping("loss")], epochs=1).fit(X, y)  # a training key is fine
    _trainer([EarlyStopping()], epochs=1, validation_fraction=0.25).fit(X, y)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"monitor": 3}, TypeError, "monitor must be a log key"),
    ({"patience": -1}, ValueError, "patience must be an integer >= 0, got -1"),
    ({"patience": 1.5}, ValueError, "patience must be an integer >= 0, got 1.5"),
    ({"patience": True}, ValueError, "patience must be an integer >= 0, got True"),
    ({"start_from_epoch": -2}, ValueError, "start_from_epoch must be an integer >= 0"),
    ({"min_delta": float("inf")}, ValueError, "min_delta must be a finite number, got inf"),
    ({"min_delta": "0.1"}, ValueError, "min_delta must be a finite number"),
    ({"mode": "up"}, ValueError, "mode must be 'auto', 'min' or 'max', got 'up'"),
])
def test_bad_early_stopping_options(kwargs, error, match):
    with pytest.raises(error, match=re.escape(match)):
        EarlyStopping(**kwargs)


class ParamsRecorder(Callback):
    def __init__(self):
        self.params, self.running = [], []

    def on_epoch_end(self, trainer, epoch, logs):
        self.params.append(trainer.model.params.copy())
        self.running.append(trainer.model.running_stats.copy())


@pytest.mark.parametrize("restore", [True, False])
def test_real_fit_restores_the_best_epochs_weights(restore, rng):
    X, y = _data(rng, n=60, d=3)
    flip = rng.random(60) < 0.3
    y = np.where(flip, 1 - y, y)                     # noisy labels: the model overfits
    Xv, yv = _data(rng, n=30, d=3)
    model = fm.Model([3, 32, 2], activation="relu", batch_norm=True, dtype="float64", seed=0)
    recorder = ParamsRecorder()
    stopper = EarlyStopping(patience=4, restore_best_weights=restore)
    trainer = fm.Trainer(model, fm.optim.Adam(0.05), batch_size=10, epochs=40, seed=0,
                         verbose=0, callbacks=[recorder, stopper])
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    val = np.array(history["val_loss"])
    best = int(np.argmin(val))                       # first minimum: strict improvement
    assert stopper.best_epoch == best and stopper.best == val[best]
    if stopper.stopped_epoch is not None:
        assert stopper.stopped_epoch == best + 4 == len(val) - 1
    else:
        assert len(val) == 40
    kept = best if restore else len(val) - 1
    np.testing.assert_array_equal(model.params, recorder.params[kept])
    np.testing.assert_array_equal(model.running_stats, recorder.running[kept])
    assert model.evaluate(Xv, yv)["loss"] == pytest.approx(val[kept], rel=1e-12)


# -------------------------------------------------------------- ProgressLogger

class _Tty(io.StringIO):
    def isatty(self):
        return True


class Replace(Callback):
    """Replaces the epoch's logs by fixed ones (for the callbacks after it)."""

    def __init__(self, logs):
        self.logs = logs

    def on_epoch_end(self, trainer, epoch, logs):
        logs.clear()
        logs.update(self.logs)


LOGS = {"loss": 0.123456, "accuracy": 0.5, "val_loss": 2.0, "lr": 0.001, "time": 1.234,
        "samples_per_sec": 12345.6, "grad_norm": [1.0, 2.0], "rejected": True}
LINE = ("loss 0.1235  accuracy 0.5000  val_loss 2.0000  lr 0.001  (rejected)  "
        "12,346 samples/s  1.23 s\n")


def test_progress_line_format(rng):
    stream = io.StringIO()
    trainer = _trainer([Replace(LOGS), ProgressLogger(stream)], epochs=2)
    X, y = _data(rng)
    trainer.fit(X, y)
    assert stream.getvalue() == f"Epoch 1/2  {LINE}Epoch 2/2  {LINE}"
    trainer.fit(X, y, epochs=3)   # numbering restarts with every fit
    assert stream.getvalue().endswith(f"Epoch 1/3  {LINE}Epoch 2/3  {LINE}Epoch 3/3  {LINE}")


def test_progress_line_without_lr_or_rejection_for_lbfgs(rng):
    stream = io.StringIO()
    logs = {"loss": 1.0, "r2": -0.25, "time": 0.5, "samples_per_sec": 999.4, "rejected": False}
    model = fm.Model([3, 4, 2], activation="tanh", dtype="float64", seed=0)
    trainer = fm.Trainer(model, fm.optim.LBFGS(max_iter=1), epochs=1, verbose=0,
                         callbacks=[Replace(logs), ProgressLogger(stream)])
    with pytest.warns(fm.ConvergenceWarning):
        trainer.fit(*_data(rng))
    assert stream.getvalue() == "Iteration 1/1  loss 1.0000  r2 -0.2500  999 samples/s  0.50 s\n"


def test_lbfgs_progress_never_counts_past_its_total(rng, capsys):
    # the total of an L-BFGS fit is the optimizer's max_iter, not the trainer's epochs
    X, y = _data(rng)
    y = np.where(rng.random(40) < 0.2, 1 - y, y)   # not separable: no early convergence
    model = fm.Model([3, 4, 2], activation="tanh", dtype="float64", seed=0)
    trainer = fm.Trainer(model, fm.optim.LBFGS(max_iter=5, tol=1e-12), epochs=2, verbose=1)
    with pytest.warns(fm.ConvergenceWarning):
        trainer.fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    counts = [tuple(map(int, re.match(r"Iteration (\d+)/(\d+)", line).groups()))
              for line in lines]
    assert len(counts) == 5
    assert all(done <= total for done, total in counts), counts


def test_progress_bar_is_drawn_only_on_a_terminal(rng, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain line, whatever is installed
    assert not ProgressLogger(io.StringIO(), in_epoch=True).in_epoch
    assert not ProgressLogger(_Tty(), in_epoch=False).in_epoch
    plain = io.StringIO()
    _trainer([Replace(LOGS), ProgressLogger(plain, always_in_epoch=True)],
             epochs=1).fit(*_data(rng))
    assert plain.getvalue() == f"Epoch 1/1  {LINE}"

    tty = _Tty()
    logger = ProgressLogger(tty, always_in_epoch=True)
    assert logger.in_epoch
    # 40 samples in batches of 4: 10 batches; the compiled loop hands control
    # back at the end of every call (the first call of the fit is one batch)
    _trainer([Replace(LOGS), logger], epochs=2, batch_size=4).fit(*_data(rng))
    progress = re.compile(r"\rEpoch (\d)/2 \[[=.]{30}\] (\d+)/10 batches  [\d,]+ samples/s  "
                          r"\d+ s elapsed, \d+ s left\x1b\[K")
    text = tty.getvalue()
    for epoch in (1, 2):
        epoch_text = text.split(f"\r\x1b[KEpoch {epoch}/2  {LINE}")[0]
        drawn = [m for m in progress.finditer(epoch_text) if m.group(1) == str(epoch)]
        assert drawn, text
        done = [int(m.group(2)) for m in drawn]
        assert done == sorted(done) and all(1 <= d <= 10 for d in done)
        text = text[text.index(f"Epoch {epoch}/2  {LINE}") + len(f"Epoch {epoch}/2  {LINE}"):]
    assert text == ""


def test_short_epochs_show_no_progress_at_verbose_1(rng):
    # the in-place progress waits until an epoch has run a second
    tty = _Tty()
    _trainer([Replace(LOGS), ProgressLogger(tty)], epochs=2).fit(*_data(rng))
    assert tty.getvalue() == f"Epoch 1/2  {LINE}Epoch 2/2  {LINE}"


_LINE = re.compile(r"^Epoch (\d+)/(\d+)  loss (\d+\.\d{4})  accuracy (\d\.\d{4})  "
                   r"val_loss (\d+\.\d{4})  val_accuracy (\d\.\d{4})  lr 0\.05  "
                   r"[\d,]+ samples/s  \d+\.\d\d s$")


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_fit_prints_one_line_per_epoch(verbose, rng, capsys):
    X, y = _data(rng)
    model = fm.Model([3, 4, 2], activation="tanh", dtype="float64", seed=0)
    trainer = fm.Trainer(model, fm.optim.SGD(0.05), batch_size=4, epochs=3, verbose=verbose)
    history = trainer.fit(X, y, validation_data=(X, y))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 3 and "\r" not in out        # captured stdout is not a terminal
    for i, line in enumerate(lines):
        m = _LINE.match(line)
        assert m, line
        assert (int(m[1]), int(m[2])) == (i + 1, 3)
        assert m[3] == f"{history['loss'][i]:.4f}"
        assert m[4] == f"{history['accuracy'][i]:.4f}"
        assert m[5] == f"{history['val_loss'][i]:.4f}"
    trainer.fit(X, y, epochs=2)
    again = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in again] == ["Epoch 1/2", "Epoch 2/2"]


def test_verbose_zero_prints_nothing(rng, capsys):
    _trainer([], epochs=2).fit(*_data(rng))
    assert capsys.readouterr().out == ""


def test_bad_verbose_is_refused():
    model = fm.Model([3, 2])
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        fm.Trainer(model, verbose=3)
