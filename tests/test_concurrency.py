"""Several Python threads at once: training, predicting, saving.

The kernels release the GIL (``nogil=True``), so these really run in
parallel; each call allocates its own workspace, so nothing is shared but
the (read-only) parameters.  Results must equal the serial ones bit for bit.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.engine.calls


def _data(seed, n=400, d=16, k=4):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + 2 * (X[:, 2] > 0.5)


#: Wide enough that a batch of 128 rows (and predict on 512) is split over
#: Numba's threads by the team kernels (see fastmlp.parallel.kernel_threads).
WIDE = [16, 128, 32, 4]


def _train(seed, n_threads, dropout=0.0, sizes=(16, 32, 4), batch_size=20):
    X, y = _data(seed)
    model = fm.Model(list(sizes), seed=seed, dropout=dropout, batch_norm=seed % 2 == 1)
    fm.Trainer(model, fm.optim.Adam(lr=0.01), batch_size=batch_size, epochs=4, seed=seed,
               verbose=0, n_threads=n_threads).fit(X, y)
    return model


def _in_threads(func, args):
    """Run ``func(*a)`` for every a in ``args``, all at once, each in its own thread."""
    barrier = threading.Barrier(len(args))

    def start(a):
        barrier.wait()  # line them up, so they overlap
        return func(*a)

    with ThreadPoolExecutor(len(args)) as pool:
        return list(pool.map(start, args))


@pytest.mark.parametrize("n_threads, sizes, batch_size", [(1, (16, 32, 4), 20),
                                                         (None, WIDE, 128)],
                         ids=["one_thread_each", "default_threads_team_kernels"])
def test_models_trained_at_once_equal_models_trained_in_turn(n_threads, sizes, batch_size):
    jobs = [(seed, n_threads, 0.2 * (seed == 2), sizes, batch_size) for seed in (1, 2, 3)]
    serial = [_train(*job) for job in jobs]
    parallel = _in_threads(_train, jobs)
    for a, b in zip(serial, parallel):
        assert np.array_equal(a.params, b.params)
        assert np.array_equal(a.running_stats, b.running_stats)


@pytest.fixture(scope="module", autouse=True)
def inference_teams_on_small_models():
    # predicts of these small models would run on one thread; the team path
    # is what concurrent predicts must keep apart, so lower its threshold
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastmlp.engine.calls, "INFERENCE_TEAM_MIN_FLOPS", 4_000_000)
        yield


@pytest.fixture(scope="module")
def trained():
    model = _train(3, 1, sizes=WIDE)
    if fm.max_threads() > 1:
        # the large batches really use the team kernels
        assert fastmlp.engine.calls.plan(model.layer_sizes, 3000).n_threads > 1
    return model


@pytest.mark.parametrize("rows", [7, 700, 3000],
                         ids=["small_batch", "one_team_block", "large_batch_team_kernels"])
def test_predict_from_many_threads_equals_serial(trained, rows):
    batches = [_data(seed, n=rows)[0] for seed in range(8)]
    serial = [trained.predict(X) for X in batches]
    for _ in range(3):
        parallel = _in_threads(trained.predict, [(X,) for X in batches])
        for a, b in zip(serial, parallel):
            assert np.array_equal(a, b)


def test_evaluate_and_gradients_from_many_threads_equal_serial(trained):
    jobs = [_data(seed, n=300) for seed in range(6)]
    serial = [(trained.evaluate(X, y), trained.loss_and_grad(X, y)) for X, y in jobs]
    parallel = _in_threads(lambda X, y: (trained.evaluate(X, y), trained.loss_and_grad(X, y)),
                           jobs)
    for (ev_a, (loss_a, grad_a)), (ev_b, (loss_b, grad_b)) in zip(serial, parallel):
        assert ev_a == ev_b and loss_a == loss_b and np.array_equal(grad_a, grad_b)


def test_predict_while_another_model_trains(trained):
    X = _data(9, n=500)[0]
    expected = trained.predict(X)
    results = _in_threads(lambda job: _train(4, None) if job == "train" else
                          [trained.predict(X) for _ in range(20)], [("train",), ("predict",)])
    assert all(np.array_equal(p, expected) for p in results[1])


def test_checkpointing_runs_in_parallel_threads(tmp_path):
    def run(seed):
        X, y = _data(seed, n=120)
        model = fm.Model([16, 8, 4], seed=seed)
        trainer = fm.Trainer(model, batch_size=16, epochs=3, seed=seed, verbose=0, n_threads=1,
                             checkpoint_dir=tmp_path / str(seed))
        trainer.fit(X, y)
        return model

    models = _in_threads(run, [(s,) for s in range(4)])
    for seed, model in enumerate(models):
        resumed = fm.Trainer.from_checkpoint(tmp_path / str(seed))
        assert resumed.epoch == 3
        assert np.array_equal(resumed.model.params, model.params)


def test_concurrent_saves_to_one_path_leave_one_complete_model(tmp_path):
    models = [fm.Model([5, 8, 3], seed=s) for s in range(6)]
    path = tmp_path / "m.npz"

    def save(model):
        for _ in range(5):
            fm.save(model, path)

    _in_threads(save, [(m,) for m in models])
    loaded = fm.load(path)
    assert any(np.array_equal(loaded.params, m.params) for m in models)
    assert os.listdir(tmp_path) == ["m.npz"]  # every temporary file renamed or removed


# ----------------------------------------------------- one model, two threads

class _Gate(fm.Callback):
    """Holds a fit at its second chunk until released, so another thread can try."""

    chunk_batches = 1

    def __init__(self):
        self.inside = threading.Event()
        self.release = threading.Event()

    def on_chunk_end(self, trainer, epoch, done, total):
        if not self.inside.is_set():
            self.inside.set()
            assert self.release.wait(30)


def test_a_second_fit_of_one_model_from_another_thread_is_refused():
    X, y = _data(7)
    reference = fm.Model([16, 32, 4], seed=7)
    fm.Trainer(reference, batch_size=20, epochs=3, seed=1, verbose=0).fit(X, y)
    model = fm.Model([16, 32, 4], seed=7)
    gate = _Gate()
    first = fm.Trainer(model, batch_size=20, epochs=3, seed=1, verbose=0, callbacks=[gate])
    worker = threading.Thread(target=first.fit, args=(X, y))
    worker.start()
    assert gate.inside.wait(30)
    second = fm.Trainer(model, batch_size=10, epochs=1, seed=2, verbose=0)
    before = model.params.copy()
    with pytest.raises(fm.ConcurrentFitError, match="being trained by another thread"):
        second.fit(X, y)
    assert np.array_equal(model.params, before)  # the refusal changed nothing
    with pytest.raises(fm.ConcurrentFitError):
        fm.optim.SGD(0.1).step(model.params, np.ones_like(model.params))
    with pytest.raises(fm.ConcurrentFitError):
        model.reinitialize(0)
    gate.release.set()
    worker.join(60)
    # the first fit went on unaffected: the solo result, bit for bit
    assert np.array_equal(model.params, reference.params)
    second.fit(X, y)  # and once it has ended, the model takes the next fit


def test_partial_fit_of_an_estimator_another_thread_fits_is_refused():
    pytest.importorskip("sklearn")
    from fastmlp.sklearn import MLPClassifier
    X, y = _data(8)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
    gate = _Gate()
    trainer = fm.Trainer(clf.model_, batch_size=20, epochs=2, verbose=0, callbacks=[gate])
    worker = threading.Thread(target=trainer.fit, args=(X, y))
    worker.start()
    assert gate.inside.wait(30)
    with pytest.raises(fm.ConcurrentFitError):
        clf.partial_fit(X, y)
    gate.release.set()
    worker.join(60)
    clf.partial_fit(X, y)


def test_predict_overlapping_a_fit_sees_the_parameters_of_whole_calls():
    # The fit returns from the compiled loop after every batch (chunk_batches
    # = 1) and records the parameters there; predicts from another thread,
    # running all the while, must each equal the prediction of one of those
    # states -- never of parameters half-way through a call.
    X, y = _data(9, n=2000)
    model = fm.Model(WIDE, seed=9)
    probe = X[:64].copy()
    states = []

    seen, done = [], threading.Event()

    class Record(fm.Callback):
        chunk_batches = 1

        def on_chunk_end(self, trainer, epoch, done, total):
            states.append(trainer.model.params.copy())
            # the next call starts once the reader has finished a predict since this
            # one's start: predicts overlap calls however fast the calls are
            # (a timing alone let a fast fit end after two predicts)
            wanted = len(seen) + 1
            deadline = time.monotonic() + 30
            while len(seen) < wanted and time.monotonic() < deadline:
                time.sleep(0.0005)

    states.append(model.params.copy())
    trainer = fm.Trainer(model, fm.optim.Adam(0.05), batch_size=256, epochs=2, seed=3,
                         verbose=0, callbacks=[Record()])

    def keep_predicting():
        while not done.is_set():
            seen.append(model.predict(probe))

    reader = threading.Thread(target=keep_predicting)
    reader.start()
    trainer.fit(X, y)
    done.set()
    reader.join(60)
    states.append(model.params.copy())
    assert len(seen) > 3
    check = fm.Model(WIDE)
    expected = []
    for params in states:
        check.params[...] = params
        expected.append(check.predict(probe))
    for prediction in seen:
        assert any(np.array_equal(prediction, e) for e in expected)


def test_a_team_block_predicted_again_takes_the_short_way_to_the_same_result():
    # the first predict of one team block goes the general way (and compiles the
    # team's launcher); the next ones skip the plan's cutting: the same rows, the
    # same threads, the same numbers -- and those of one thread, row by row
    model = _train(5, 1, sizes=WIDE)
    X = _data(11, n=700)[0]
    team = fastmlp.engine.calls.plan(model.layer_sizes, len(X))
    assert len(X) <= team.rows
    first = model.predict(X)
    again = [model.predict(X) for _ in range(3)]
    with fm.threads(1):
        alone = model.predict(X)
    for result in again:
        assert np.array_equal(result, first)
    np.testing.assert_allclose(first, alone, rtol=1e-12, atol=1e-14)
    if fm.max_threads() > 1:
        assert team.n_threads > 1
