"""Trainer: batching semantics against manual loops, determinism, continuation, faults."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.callbacks import Callback
from fastmlp.exceptions import DivergenceError


def _data(rng, n=40, d=5, k=3):
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y


def _manual(model, opt, X, y, batches):
    for idx in batches:
        _, g = model.loss_and_grad(X[idx], y[idx])
        opt.step(model.params, g)


@pytest.mark.parametrize("batch_size, expected_sizes", [(None, [40]), (100, [40]), (1, [1] * 40),
                                                        (16, [16, 16, 8])])
def test_unshuffled_epoch_equals_manual_loop(batch_size, expected_sizes, rng):
    X, y = _data(rng)
    a = fm.Model([5, 7, 3], activation="tanh", dtype="float64", seed=1)
    b = a.copy()
    fm.Trainer(a, fm.optim.SGD(0.1, momentum=0.9), batch_size=batch_size, epochs=2,
               shuffle=False, verbose=0).fit(X, y)
    starts = np.cumsum([0] + expected_sizes[:-1])
    batches = [np.arange(s, s + k) for s, k in zip(starts, expected_sizes)]
    opt = fm.optim.SGD(0.1, momentum=0.9)
    _manual(b, opt, X, y, batches * 2)
    # The trainer fuses the update into the backward pass; per element it is
    # the optimizer's own arithmetic, so the weights agree to the bit.
    np.testing.assert_array_equal(a.params, b.params)


def test_shuffled_epochs_follow_the_seeded_permutations(rng):
    X, y = _data(rng)
    a = fm.Model([5, 4, 3], dtype="float64", seed=2)
    b = a.copy()
    fm.Trainer(a, fm.optim.Adam(0.01), batch_size=16, epochs=3, seed=7, verbose=0).fit(X, y)
    perm_rng = np.random.default_rng(7)
    orders = [perm_rng.permutation(40) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])  # reshuffled every epoch
    opt = fm.optim.Adam(0.01)
    _manual(b, opt, X, y, [o[s:s + 16] for o in orders for s in range(0, 40, 16)])
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_identical_weights(dtype, rng):
    X, y = _data(rng, n=300)

    def run():
        m = fm.Model([5, 32, 16, 3], dtype=dtype, seed=3)
        fm.Trainer(m, "adam", batch_size=32, epochs=4, seed=11, verbose=0).fit(X, y)
        return m.params

    np.testing.assert_array_equal(run(), run())


def test_fit_continues_from_current_weights(rng):
    X, y = _data(rng, n=100)
    a = fm.Model([5, 8, 3], seed=4)
    b = a.copy()
    ta = fm.Trainer(a, "adam", batch_size=10, epochs=2, seed=5, verbose=0)
    ta.fit(X, y)
    ta.fit(X, y)
    fm.Trainer(b, "adam", batch_size=10, epochs=4, seed=5, verbose=0).fit(X, y)
    np.testing.assert_array_equal(a.params, b.params)
    assert ta.epoch == 4 and len(ta.history["loss"]) == 4


def test_history_and_metrics(rng):
    X, y = _data(rng, n=200)
    model = fm.Model([5, 16, 3], seed=0)
    trainer = fm.Trainer(model, fm.optim.Adam(0.01), batch_size=20, epochs=5, seed=0, verbose=0)
    hist = trainer.fit(X[:150], y[:150], validation_data=(X[150:], y[150:]))
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time",
                         "samples_per_sec"}
    assert all(len(v) == 5 for v in hist.values())
    assert hist["loss"][-1] < hist["loss"][0]
    final = model.evaluate(X[150:], y[150:])
    assert hist["val_loss"][-1] == pytest.approx(final["loss"])
    assert hist["val_accuracy"][-1] == pytest.approx(final["accuracy"])


def test_full_batch_training_loss_matches_epoch_start_loss(rng):
    # In full-batch training the epoch's loss is the loss before its single update.
    X, y = _data(rng, n=60)
    model = fm.Model([5, 6, 3], dtype="float64", seed=1)
    before, _ = model.loss_and_grad(X, y)
    hist = fm.Trainer(model, fm.optim.SGD(0.5), batch_size=None, epochs=1, verbose=0).fit(X, y)
    assert hist["loss"][0] == pytest.approx(before, rel=1e-12)


def test_regression_reports_r2(rng):
    X = rng.standard_normal((300, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0])])
    model = fm.Model([3, 32, 2], activation="tanh", output="identity", seed=0)
    hist = fm.Trainer(model, fm.optim.Adam(0.01), batch_size=32, epochs=30, seed=0,
                      verbose=0).fit(X, Y, validation_data=(X, Y))
    assert "r2" in hist and "val_r2" in hist
    assert hist["val_r2"][-1] > 0.95
    pred = model.predict(X)
    assert hist["val_r2"][-1] == pytest.approx(fm.metrics.r2_score(Y, pred), rel=1e-5)


def test_float32_stays_float32(rng):
    X, y = _data(rng)
    model = fm.Model([5, 4, 3], dtype="float32", seed=0)
    fm.Trainer(model, "sgd", epochs=1, verbose=0).fit(X.astype(np.float64), y)
    assert model.params.dtype == np.float32
    assert model.predict(X).dtype == np.float32
    assert model.loss_and_grad(X, y)[1].dtype == np.float32


def test_divergence_restores_last_good_epoch(rng):
    X, y = _data(rng, n=64)
    X = X * 1e3
    model = fm.Model([5, 16, 3], activation="relu", output="softmax", seed=0)
    trainer = fm.Trainer(model, fm.optim.SGD(1e4), batch_size=8, epochs=20, verbose=0)
    with pytest.raises(DivergenceError, match="learning rate"):
        trainer.fit(X, y)
    assert np.all(np.isfinite(model.params))
    assert len(trainer.history.get("loss", [])) == trainer.epoch


class _StopAfter(Callback):
    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, trainer, epoch, logs):
        return epoch + 1 >= self.n


class _InterruptInChunk(Callback):
    chunks_per_epoch = 4

    def __init__(self, epoch):
        self.epoch = epoch
        self.snapshot = None
        self.done = None

    def on_chunk_end(self, trainer, epoch, done, total):
        if epoch == self.epoch and done < total:
            self.snapshot = trainer.model.params.copy()
            self.done = done
            raise KeyboardInterrupt


def test_callback_can_stop_training(rng):
    X, y = _data(rng)
    trainer = fm.Trainer(fm.Model([5, 4, 3], seed=0), epochs=10, callbacks=[_StopAfter(3)],
                         verbose=0)
    hist = trainer.fit(X, y)
    assert len(hist["loss"]) == 3


def test_interrupt_keeps_the_last_completed_batch(rng):
    # Ctrl-C keeps the weights and optimizer state after the last batch the
    # compiled loop completed; the epoch is not counted, its steps are
    X, y = _data(rng, n=80)
    cb = _InterruptInChunk(epoch=2)
    model = fm.Model([5, 4, 3], seed=0)
    trainer = fm.Trainer(model, batch_size=4, epochs=5, callbacks=[cb], verbose=0)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y)
    np.testing.assert_array_equal(model.params, cb.snapshot)
    assert trainer.epoch == 2 and len(trainer.history["loss"]) == 2
    assert 0 < cb.done < 20
    assert trainer.steps == 2 * 20 + cb.done == trainer.optimizer.step_count[0]
    # the same state as a run whose last epoch had only those batches
    twin = fm.Trainer(fm.Model([5, 4, 3], seed=0), batch_size=4, epochs=2, verbose=0)
    twin.fit(X, y)
    assert not np.array_equal(twin.model.params, model.params)
    # and the trainer goes on
    trainer.callbacks = []
    trainer.fit(X, y, epochs=1)
    assert trainer.epoch == 3 and np.isfinite(model.params).all()


def test_function_callback_receives_logs(rng):
    X, y = _data(rng)
    seen = []
    fm.Trainer(fm.Model([5, 4, 3], seed=0), epochs=2, verbose=0,
               callbacks=[lambda epoch, logs: seen.append((epoch, logs["loss"]))]).fit(X, y)
    assert [e for e, _ in seen] == [0, 1]


def test_verbose_prints_epoch_lines(rng, capsys):
    X, y = _data(rng)
    fm.Trainer(fm.Model([5, 4, 3], seed=0), epochs=2, verbose=1).fit(X, y, validation_data=(X, y))
    out = capsys.readouterr().out
    assert out.count("Epoch") == 2 and "val_accuracy" in out and "samples/s" in out


@pytest.mark.parametrize("make", [
    lambda: fm.optim.Adagrad(0.1), lambda: fm.optim.RMSprop(0.01, centered=True, momentum=0.5),
    lambda: fm.optim.Adadelta(), lambda: fm.optim.AdamW(0.01), lambda: fm.optim.Adamax(0.01),
    lambda: fm.optim.NAdam(0.01), lambda: fm.optim.RAdam(0.01),
    lambda: fm.optim.chain(fm.optim.ClipByValue(0.05), fm.optim.L1(1e-3), fm.optim.SGD(0.1)),
    lambda: fm.optim.chain(fm.optim.ClipByGlobalNorm(0.5), fm.optim.Adam(0.01)),
])
def test_every_optimizer_in_the_loop_matches_its_step(make, rng):
    # The fused update (and, for global-norm clipping, the unfused path) gives
    # the optimizer's own step to the bit.
    X, y = _data(rng)
    a = fm.Model([5, 7, 3], activation="tanh", dtype="float64", seed=1)
    b = a.copy()
    fm.Trainer(a, make(), batch_size=16, epochs=2, shuffle=False, verbose=0).fit(X, y)
    batches = [np.arange(0, 16), np.arange(16, 32), np.arange(32, 40)]
    _manual(b, make(), X, y, batches * 2)
    np.testing.assert_array_equal(a.params, b.params)


def test_model_penalty_in_the_loop(rng):
    # With l2/l1 on the model, the loop adds the penalty's gradient inside the
    # update; the manual loop gets it from loss_and_grad.  Same up to rounding.
    X, y = _data(rng)
    a = fm.Model([5, 7, 3], activation="tanh", dtype="float64", seed=1, l2=0.01, l1=0.001)
    b = a.copy()
    hist = fm.Trainer(a, fm.optim.Adam(0.01), batch_size=16, epochs=2, shuffle=False,
                      verbose=0).fit(X, y)
    opt = fm.optim.Adam(0.01)
    losses = []
    for idx in [np.arange(0, 16), np.arange(16, 32), np.arange(32, 40)] * 2:
        loss, g = b.loss_and_grad(X[idx], y[idx])
        losses.append(loss * idx.size)
        opt.step(b.params, g)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    assert hist["loss"][0] == pytest.approx(sum(losses[:3]) / 40, rel=1e-12)


def test_rprop_warns_with_mini_batches(rng):
    X, y = _data(rng)
    with pytest.warns(UserWarning, match="full-batch"):
        fm.Trainer(fm.Model([5, 4, 3]), fm.optim.Rprop(), batch_size=8, epochs=1,
                   verbose=0).fit(X, y)
