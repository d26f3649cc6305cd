"""Populations: each member equals the same model trained alone (the contract), and every
entry point a population reaches -- the trainer's settings, early stopping, divergence,
checkpoints, files, prediction, errors."""

import os
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import naive

import fastmlp as fm
from fastmlp.callbacks import Callback, EarlyStopping
from fastmlp.population import PopulationTrainer
from fastmlp.population.callbacks import MemberView
from fastmlp.training.checkpoint import Checkpoint

SIZES = [10, 12, 3]


def _data(n=240, seed=0, n_in=10, k=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.integers(0, k, n)
    return X, y


def _population(options, size, template=None, **kwargs):
    template = template or fm.Model(SIZES, dtype="float64")
    return fm.Population(template, size=size, seeds=[100 + k for k in range(size)],
                         **options, **kwargs)


def _close(a, b, tol=1e-9):
    scale = max(1.0, float(np.abs(b).max()))
    return float(np.abs(a - b).max()) <= tol * scale


OPTIMIZERS = [
    fm.optim.SGD(lr=[0.05, 0.1, 0.02], momentum=[0.0, 0.9, 0.5], nesterov=False),
    fm.optim.SGD(lr=0.05, momentum=[0.9, 0.8, 0.7], nesterov=True, weight_decay=[0, 1e-3, 1e-2]),
    fm.optim.Adam(lr=[1e-3, 3e-3, 1e-2], betas=[(0.9, 0.999), (0.8, 0.99), (0.95, 0.9)]),
    fm.optim.AdamW(lr=[1e-3, 2e-3, 5e-3], weight_decay=[0.0, 0.01, 0.1]),
    fm.optim.RMSprop(lr=[1e-3, 1e-2, 3e-3], momentum=[0.0, 0.5, 0.9]),
    fm.optim.Adagrad(lr=[0.01, 0.05, 0.1]),
    fm.optim.NAdam(lr=[1e-3, 2e-3, 4e-3]),
    fm.optim.chain(fm.optim.ClipByGlobalNorm(0.5), fm.optim.Adam(lr=[1e-2, 2e-2, 3e-2])),
]


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: repr(o)[:40])
def test_each_member_equals_its_solo_fit(optimizer):
    X, y = _data()
    options = {"l2": [0.0, 1e-3, 1e-2], "dropout": [0.0, 0.2, [0.1, 0.3]],
               "l1": [0.0, 0.0, 1e-4]}
    pop = _population(options, 3)
    trainer = fm.Trainer(pop, optimizer, batch_size=16, epochs=3, seed=7, verbose=0)
    history = trainer.fit(X, y)
    assert isinstance(trainer, PopulationTrainer)
    losses = np.array(history["loss"], dtype=float)
    assert losses.shape == (3, 3)
    for k in range(3):
        for n_threads in (1, 2):
            mine = {name: values[k] for name, values in options.items()}
            model = fm.Model(SIZES, dtype="float64", seed=100 + k, **mine)
            solo = fm.Trainer(model, optimizer.member(k), batch_size=16, epochs=3, seed=7,
                              verbose=0, n_threads=n_threads)
            solo_history = solo.fit(X, y)
            if n_threads == 1:  # the same arithmetic: the same bits
                np.testing.assert_array_equal(pop.members[k].params, model.params)
            assert _close(pop.members[k].params, model.params)
            np.testing.assert_allclose(losses[:, k], solo_history["loss"], rtol=1e-9)


def test_batch_norm_dropconnect_sample_weights_and_schedules():
    X, y = _data(n=200, seed=1)
    w = np.random.default_rng(2).random(X.shape[0])
    template = fm.Model(SIZES, dtype="float64", batch_norm=True, activation="tanh")
    options = {"dropconnect": [0.0, 0.2], "l2": [1e-3, 0.0]}
    pop = _population(options, 2, template=template)
    opt = fm.optim.SGD(lr=[0.05, 0.2], momentum=0.9)
    schedule = fm.schedules.LinearWarmup(10, then=fm.schedules.CosineAnnealing(4))
    trainer = fm.Trainer(pop, opt, batch_size=20, epochs=4, seed=3, verbose=0,
                         schedule=schedule)
    history = trainer.fit(X, y, sample_weight=w, validation_data=(X[:50], y[:50]))
    for k in range(2):
        model = fm.Model(SIZES, dtype="float64", seed=100 + k, batch_norm=True,
                         activation="tanh", **{n: v[k] for n, v in options.items()})
        solo = fm.Trainer(model, opt.member(k), batch_size=20, epochs=4, seed=3, verbose=0,
                          n_threads=1, schedule=fm.schedules.LinearWarmup(
                              10, then=fm.schedules.CosineAnnealing(4)))
        solo_history = solo.fit(X, y, sample_weight=w, validation_data=(X[:50], y[:50]))
        np.testing.assert_array_equal(pop.members[k].params, model.params)
        np.testing.assert_array_equal(pop.members[k].running_stats, model.running_stats)
        for key in ("loss", "val_loss", "val_accuracy", "lr"):
            assert [row[k] for row in history[key]] == solo_history[key]


def test_sparse_input_and_float32_members():
    rng = np.random.default_rng(4)
    X = sp.random(300, 40, density=0.1, format="csr", random_state=5, dtype=np.float32)
    y = rng.integers(0, 3, 300)
    pop = fm.Population(fm.Model([40, 16, 3]), size=3, seeds=[1, 2, 3],
                        l2=[0.0, 1e-4, 1e-3])
    opt = fm.optim.Adam(lr=[1e-3, 1e-2, 3e-2])
    for update in ("exact", "lazy"):
        pop_u = pop.copy()
        fm.Trainer(pop_u, opt, batch_size=32, epochs=2, seed=0, verbose=0,
                   sparse_update=update).fit(X, y)
        assert pop_u.params.dtype == np.float32
        for k in range(3):
            model = fm.Model([40, 16, 3], seed=k + 1, l2=[0.0, 1e-4, 1e-3][k])
            fm.Trainer(model, opt.member(k), batch_size=32, epochs=2, seed=0, verbose=0,
                       n_threads=1, sparse_update=update).fit(X, y)
            np.testing.assert_array_equal(pop_u.members[k].params, model.params)


def test_one_adam_step_matches_numpy():
    """Against an independent reference: one full-batch Adam step of each member computed
    with NumPy (tests/naive.py), no compiled code."""
    X, y = _data(n=40, seed=8)
    T = np.eye(3)[y]
    lrs = [1e-3, 1e-2]
    pop = _population({"l2": [0.0, 0.0]}, 2)
    expected = []
    for member, lr in zip(pop.members, lrs):
        names = [a.name for a in member.activations]
        params = [a.param for a in member.activations]
        _, dWs, dbs = naive.loss_and_grad(member.weights, member.biases, names, params,
                                          "cross_entropy", X, T)
        g = naive.flatten(dWs, dbs)
        zeros = np.zeros_like(g)
        expected.append(naive.adam_step(member.params.copy(), g, zeros, zeros, zeros, 1,
                                        lr=lr)[0])
    fm.Trainer(pop, fm.optim.Adam(lr=lrs), batch_size=None, epochs=1, seed=0, verbose=0,
               shuffle=False).fit(X, y)
    for k in range(2):
        np.testing.assert_allclose(pop.members[k].params, expected[k], rtol=1e-10, atol=1e-12)


def test_members_are_views_and_predict_reduces():
    X, y = _data(n=60)
    pop = _population({}, 4)
    assert pop.params.shape == (4, pop.n_params)
    for k, member in enumerate(pop.members):
        assert isinstance(member, fm.Model)
        assert np.shares_memory(member.params, pop.params[k])
        assert np.array_equal(member.params, fm.Model(SIZES, dtype="float64",
                                                      seed=100 + k).params)
    fm.Trainer(pop, epochs=1, verbose=0).fit(X, y)
    out = pop.predict(X)
    assert out.shape == (4, 60, 3)
    for k, member in enumerate(pop.members):
        np.testing.assert_array_equal(out[k], member.predict(X))
    np.testing.assert_allclose(pop.predict(X, reduce="mean"), out.mean(axis=0), rtol=1e-12)
    scores = pop.evaluate(X, y)
    for k, member in enumerate(pop.members):
        assert scores["loss"][k] == member.evaluate(X, y)["loss"]
    pop.members[2].params[:] = 0.0
    assert not pop.params[2].any() and pop.params[1].any()
    with pytest.raises(ValueError, match="reduce"):
        pop.predict(X, reduce="median")


def test_files_round_trip(tmp_path):
    X, y = _data(n=60)
    template = fm.Model(SIZES, preprocessing="standardize")
    pop = fm.Population(template, size=3, seed=5, l2=[0.0, 1e-3, 1e-2])
    fm.Trainer(pop, epochs=2, verbose=0).fit(X * 10 + 3, y)
    path = tmp_path / "pop.npz"
    fm.save(pop, path)
    back = fm.load(path)
    assert isinstance(back, fm.Population) and back.seeds == (5, 6, 7)
    np.testing.assert_array_equal(back.params, pop.params)
    assert back.member_values("l2") == [0.0, 1e-3, 1e-2]
    np.testing.assert_array_equal(back.predict(X), pop.predict(X))
    pop.members[1].save(tmp_path / "one.npz")  # any member is an ordinary model
    one = fm.load(tmp_path / "one.npz")
    assert isinstance(one, fm.Model)
    np.testing.assert_array_equal(one.predict(X), pop.members[1].predict(X))
    with pytest.raises(ValueError, match="not a fastmlp.population"):
        fm.Population.load(tmp_path / "one.npz")
    corrupt = tmp_path / "bad.npz"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="bad.npz"):
        fm.load(corrupt)


def test_early_stopping_per_member_equals_solo():
    X, y = _data(n=200, seed=3)
    Xv, yv = _data(n=60, seed=4)
    lrs = [0.5, 1e-3, 0.05]  # the first overshoots and stops early
    opt = fm.optim.SGD(lr=lrs, momentum=0.9)
    pop = _population({}, 3)
    trainer = fm.Trainer(pop, opt, batch_size=16, epochs=12, seed=7, verbose=0,
                         callbacks=[EarlyStopping(patience=2)])
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    epochs_trained = [sum(row[k] is not None for row in history["loss"]) for k in range(3)]
    assert min(epochs_trained) < 12  # someone stopped early, and ...
    for k in range(3):
        model = fm.Model(SIZES, dtype="float64", seed=100 + k)
        solo = fm.Trainer(model, opt.member(k), batch_size=16, epochs=12, seed=7, verbose=0,
                          n_threads=1, callbacks=[EarlyStopping(patience=2)])
        solo_history = solo.fit(X, y, validation_data=(Xv, yv))
        assert epochs_trained[k] == len(solo_history["loss"])
        np.testing.assert_array_equal(pop.members[k].params, model.params)  # best weights
        # ... a stopped member took no step after it stopped
        assert trainer.member_optimizers.count[k, 0] == solo.optimizer.step_count[0]


def test_each_member_sees_its_own_history_and_the_shared_epoch_entries():
    # fewer epochs than members: the shared per-epoch entries (time, samples/s) are one
    # value an epoch, not one a member (they raised IndexError here, or handed member k
    # the time of epoch k)
    X, y = _data(n=120, seed=5)
    Xv, yv = _data(n=40, seed=6)
    pop = _population({}, 4)
    stopper = EarlyStopping(patience=50)
    trainer = fm.Trainer(pop, fm.optim.Adam(lr=[1e-3, 1e-2, 3e-3, 3e-2]), batch_size=16,
                         epochs=2, seed=1, verbose=0, callbacks=[stopper])
    history = trainer.fit(X, y, validation_data=(Xv, yv))  # EarlyStopping ends per member
    assert len(history["time"]) == 2
    for k in range(4):
        view = MemberView(trainer, k).history
        assert view["loss"] == [row[k] for row in history["loss"]]
        assert view["val_loss"] == [row[k] for row in history["val_loss"]]
        assert view["time"] == history["time"]


def test_a_diverging_member_stops_the_others_go_on():
    X, y = _data(n=120, seed=5)
    X[:, 0] *= 1e3
    opt = fm.optim.SGD(lr=[1e-3, 1e300])
    pop = _population({}, 2)
    trainer = fm.Trainer(pop, opt, batch_size=16, epochs=3, seed=1, verbose=1)
    with pytest.warns(RuntimeWarning, match="member 1 diverged"):
        history = trainer.fit(X, y)
    assert trainer.diverged.tolist() == [False, True]
    assert all(row[1] is None for row in history["loss"][1:]) or history["loss"][0][1] is None
    assert np.isfinite(pop.params).all()
    model = fm.Model(SIZES, dtype="float64", seed=100)
    fm.Trainer(model, opt.member(0), batch_size=16, epochs=3, seed=1, verbose=0,
               n_threads=1).fit(X, y)
    np.testing.assert_array_equal(pop.members[0].params, model.params)
    bad = _population({}, 2)
    with pytest.raises(fm.DivergenceError, match="every member"):
        fm.Trainer(bad, fm.optim.SGD(lr=1e300), batch_size=16, epochs=2, verbose=0).fit(X, y)


@pytest.mark.parametrize("every", [1, "7 batches"])
def test_checkpoint_resume_is_exact(tmp_path, every):
    X, y = _data(n=150)
    opt = fm.optim.Adam(lr=[1e-3, 5e-3, 2e-2])
    options = {"dropout": [0.0, 0.3, 0.1]}

    def trainer(pop, **kwargs):
        return fm.Trainer(pop, opt, batch_size=16, epochs=4, seed=9, verbose=0,
                          schedule=fm.schedules.StepDecay(1, 0.7), **kwargs)

    whole = _population(options, 3)
    trainer(whole).fit(X, y)
    run = _population(options, 3)
    trainer(run, checkpoint_dir=tmp_path, checkpoint_every=every,
            keep_checkpoints=50).fit(X, y)
    files = sorted(os.listdir(tmp_path))
    assert len(files) >= 4
    for name in (files[1], files[len(files) // 2]):
        resumed = fm.Trainer.from_checkpoint(tmp_path / name, callbacks=[
            Checkpoint(tmp_path / "again")])
        assert isinstance(resumed, PopulationTrainer)
        resumed.fit(X, y)
        np.testing.assert_array_equal(resumed.model.params, whole.params)


def test_keyboard_interrupt_keeps_the_batches_done():
    X, y = _data(n=400)

    class Interrupt(Callback):
        chunk_batches = 5

        def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
            if batches_done >= 10:
                raise KeyboardInterrupt

    pop = _population({}, 2)
    trainer = fm.Trainer(pop, fm.optim.SGD(lr=[0.01, 0.02]), batch_size=16, epochs=2,
                         seed=0, verbose=0, callbacks=[Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y)
    assert trainer.steps == 10 and trainer.epoch == 0
    assert trainer.member_optimizers.count.ravel().tolist() == [10, 10]
    assert np.isfinite(pop.params).all()


def test_use_buffers_checks_every_array_before_writing_any():
    model = fm.Model([4, 3, 2], seed=0)
    before = model.params.copy()
    params = np.zeros_like(model.params)
    running = np.zeros_like(model.running_stats)
    layers = np.zeros((2, 4))
    with pytest.raises(ValueError, match="penalties must be a writeable C-contiguous float64"):
        model.use_buffers(params, running, layers, np.zeros(3, dtype=np.float32))
    assert not params.any()  # nothing copied into the good arrays either
    np.testing.assert_array_equal(model.params, before)


def test_refusals():
    X, y = _data(n=40)
    pop = _population({}, 3)
    with pytest.raises(ValueError, match="2 members but the population has 3"):
        fm.Trainer(pop, fm.optim.Adam(lr=[1e-3, 1e-2]))
    with pytest.raises(ValueError, match="first-order optimizer"):
        fm.Trainer(pop, fm.optim.LBFGS())
    with pytest.raises(ValueError, match="one Model"):
        fm.Trainer(pop, comm=object())
    with pytest.raises(ValueError, match="diagnostics"):
        fm.Trainer(pop, diagnostics=True)
    with pytest.raises(ValueError, match="Population of that size"):
        fm.Trainer(fm.Model(SIZES), fm.optim.Adam(lr=[1e-3, 1e-2]))
    with pytest.raises(ValueError, match="Population of that size"):
        fm.optim.SGD(lr=[0.1, 0.2]).step(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="member 1: lr"):
        fm.optim.Adam(lr=[1e-3, -1.0])
    with pytest.raises(ValueError, match="lr has 2, eps has 3"):
        fm.optim.Adam(lr=[1e-3, 1e-2], eps=[1e-8, 1e-7, 1e-6])
    with pytest.raises(ValueError, match="ambiguous"):
        fm.Population(fm.Model(SIZES), size=3, l2=[0.0, 1.0])
    with pytest.raises(ValueError, match="member 1"):
        fm.Population(fm.Model(SIZES), dropout=[0.1, 1.5])
    with pytest.raises(TypeError, match="fastmlp.Model"):
        fm.Population("model", size=2)
    with pytest.raises(ValueError, match="differs from model 0 in layer_sizes"):
        fm.Population.from_models([fm.Model(SIZES), fm.Model([10, 5, 3])])


def test_optimizer_values_per_member_round_trip():
    opt = fm.optim.Adam(lr=np.array([1e-3, 3e-3]), betas=[(0.9, 0.99), (0.8, 0.9)])
    assert opt.n_members == 2
    assert opt.member(1).lr == 3e-3 and opt.member(1).betas == (0.8, 0.9)
    assert "lr=[0.001, 0.003]" in repr(opt)
    back = fm.optim.Adam()
    back.load_state_dict(opt.state_dict())
    assert back.n_members == 2 and back.member(0).betas == (0.9, 0.99)
    rprop = fm.optim.Rprop(etas=(0.4, 1.3))  # one pair: the same for every member
    assert rprop.n_members is None and rprop.etas == (0.4, 1.3)


def test_fitting_a_member_elsewhere_is_refused():
    X, y = _data(n=2000)
    pop = _population({}, 2)
    started, errors = threading.Event(), []

    class Signal(Callback):
        chunk_batches = 1

        def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
            started.set()

    def other():
        started.wait(30)
        try:
            fm.Trainer(pop.members[1], epochs=1, verbose=0).fit(X, y)
        except fm.ConcurrentFitError as exc:
            errors.append(exc)

    worker = threading.Thread(target=other)
    worker.start()
    fm.Trainer(pop, epochs=3, batch_size=8, verbose=0, callbacks=[Signal()]).fit(X, y)
    worker.join()
    assert len(errors) == 1


def test_progress_line_names_the_best_member(capsys):
    X, y = _data(n=60)
    pop = _population({}, 3)
    fm.Trainer(pop, fm.optim.Adam(lr=[1e-4, 1e-2, 1e-3]), epochs=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "training 3/3" in out and "(m" in out
