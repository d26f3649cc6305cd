"""The multi-threaded split of a batch (rows for the forward pass, row or column
slices of the weight gradients) gives the reference results, for any shape,
including fewer rows or columns than threads."""

import numba
import numpy as np
import pytest
from conftest import naive_args
from naive import flatten, forward, loss_and_grad

import fastmlp as fm
import fastmlp.engine.calls
import fastmlp.engine.layout
import fastmlp.engine.threads
import fastmlp.kernels.workers as workers
from fastmlp.kernels.inference import claim_piece, new_progress

pytestmark = pytest.mark.skipif(fm.max_threads() < 2, reason="needs 2 threads")


@pytest.fixture(params=["rows", "columns"])
def split_everything(monkeypatch, request):
    # Split even tiny chunks between threads, to exercise every path: hidden
    # layers shared by samples, or by units.
    monkeypatch.setattr(fastmlp.engine.threads, "PARALLEL_MIN_FLOPS", 0)
    monkeypatch.setattr(fastmlp.engine.calls, "INFERENCE_TEAM_MIN_FLOPS", 0)
    by_columns = request.param == "columns"
    monkeypatch.setattr(fastmlp.engine.layout, "split_by_columns",
                        lambda rows, width, n_threads, fan_in: by_columns and n_threads > 1)
    with fm.threads(2):
        yield


@pytest.mark.parametrize("sizes", [[3, 1, 2], [5, 9, 4, 3], [7, 2, 11, 1], [4, 30, 3],
                                   [6, 5, 7, 3, 2], [5, 40, 36, 3]])
@pytest.mark.parametrize("n", [1, 2, 3, 17, 1500])
def test_gradient_with_two_threads(split_everything, sizes, n, rng):
    acts = ["swish", "tanh", "relu"][:len(sizes) - 2]
    model = fm.Model(sizes, activation=acts, output="softmax", dtype="float64", seed=1,
                     l2=0.01 * (n % 2), l1=0.001 * (n % 3 == 0), penalize_biases=n > 5)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    value, grad = model.loss_and_grad(X, y)
    ref, dWs, dbs = loss_and_grad(*naive_args(model), "cross_entropy", X, np.eye(sizes[-1])[y])
    l2, l1, biases = model.l2, model.l1, model.penalize_biases
    dWs = [d + l2 * W + l1 * np.sign(W) for d, W in zip(dWs, model.weights)]
    if biases:
        dbs = [d + l2 * b + l1 * np.sign(b) for d, b in zip(dbs, model.biases)]
    assert value == pytest.approx(ref + model.penalty(), rel=1e-12)
    np.testing.assert_allclose(grad, flatten(dWs, dbs), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n", [1, 5, 1025])
def test_predict_and_evaluate_with_two_threads(split_everything, n, rng):
    model = fm.Model([6, 8, 3], activation="tanh", output="sigmoid", dtype="float64", seed=2)
    X = rng.standard_normal((n, 6))
    _, As = forward(*naive_args(model), X)
    np.testing.assert_allclose(model.predict(X), As[-1], rtol=1e-12, atol=1e-14)
    Y = (rng.random((n, 3)) < 0.5).astype(float)
    assert model.evaluate(X, Y)["loss"] == pytest.approx(model.loss_and_grad(X, Y)[0], rel=1e-12)


@pytest.mark.parametrize("n", [9, 100, 2100])
def test_a_team_predict_claims_every_row_once(split_everything, n, rng):
    # a team's members claim rows a piece at a time, whoever comes first (2100 rows:
    # three blocks, the claim counters taken in turn); layers wide enough for the
    # register tiles: the naive forward pass's results, the same bits at every call
    model = fm.Model([20, 64, 48, 40], activation="relu", output="softmax", dtype="float64",
                     seed=3)
    X = rng.standard_normal((n, 20))
    _, As = forward(*naive_args(model), X)
    first = model.predict(X)
    np.testing.assert_allclose(first, As[-1], rtol=1e-12, atol=1e-14)
    for _ in range(3):
        assert np.array_equal(model.predict(X), first)


@pytest.mark.parametrize("n", [9, 2100])
def test_a_team_predict_whose_worker_does_not_come_is_done_by_the_caller(split_everything, n,
                                                                          rng, monkeypatch):
    # the worker's task is posted only after the call has returned (as when another
    # program's thread holds the second core): the caller predicts every row alone,
    # the next call too (the worker has not seen it was let off), and once the worker
    # is back the team's result has the same bits
    model = fm.Model([20, 64, 48, 40], activation="relu", output="softmax", dtype="float64",
                     seed=3)
    X = rng.standard_normal((n, 20))
    _, As = forward(*naive_args(model), X)
    model.predict(X)  # compiled, and a worker idle
    for worker in workers._idle:
        worker.wait()  # (a new worker may still be on its way to its first task)
    held = []
    with monkeypatch.context() as patch:
        patch.setattr(workers, "post_task", lambda *args: held.append(args) and False)
        alone = model.predict(X)
        again = model.predict(X)
    assert len(held) == 1
    np.testing.assert_allclose(alone, As[-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(again, As[-1], rtol=1e-12, atol=1e-14)
    (late,) = [w for w in workers._idle if not w.ready()]
    if workers.post_task(*held[0]):
        late._wake.release()
    late.wait()
    assert np.array_equal(model.predict(X), alone)


@pytest.mark.parametrize("n_threads", [2, 3, 8])
@pytest.mark.parametrize("block_rows", [1, 7, 64, 512])
def test_a_predicts_pieces_cover_every_row_once_block_after_block(n_threads, block_rows):
    for n in (1, 6, block_rows, block_rows + 1, 3 * block_rows + 5):
        pieces = _all_pieces(new_progress(), n, block_rows, n_threads)
        rows = [start + r for start, r0, r1 in pieces for r in range(r0, r1)]
        assert rows == list(range(n))  # in order: a block's pieces after the block before
        assert all(0 <= r0 < r1 <= block_rows and start % block_rows == 0
                   for start, r0, r1 in pieces)


@numba.njit
def _all_pieces(progress, n, block_rows, n_threads):
    pieces = []
    start, r0, r1 = claim_piece(progress, n, block_rows, n_threads)
    while start < n:
        pieces.append((start, r0, r1))
        start, r0, r1 = claim_piece(progress, n, block_rows, n_threads)
    return pieces


def test_training_with_two_threads_is_reproducible_and_close(split_everything, rng):
    X, y = rng.standard_normal((300, 10)), rng.integers(0, 3, 300)

    def run(n_threads):
        model = fm.Model([10, 32, 16, 3], dtype="float64", seed=0)
        fm.Trainer(model, batch_size=25, epochs=3, seed=0, n_threads=n_threads,
                   verbose=0).fit(X, y)
        return model.params

    two = run(2)
    np.testing.assert_array_equal(two, run(2))
    np.testing.assert_allclose(two, run(1), rtol=1e-9, atol=1e-12)


def test_two_models_in_two_python_threads(split_everything, rng):
    # Two teams of threads on two cores: the barriers must yield, and the
    # results must be those of training one after the other.
    import threading
    X, y = rng.standard_normal((400, 12)), rng.integers(0, 3, 400)

    def train(seed):
        model = fm.Model([12, 24, 16, 3], dtype="float64", seed=seed)
        fm.Trainer(model, batch_size=40, epochs=2, seed=seed, verbose=0, n_threads=2).fit(X, y)
        return model.params

    expected = {s: train(s) for s in (1, 2)}
    got = {}
    workers = [threading.Thread(target=lambda s=s: got.__setitem__(s, train(s))) for s in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert all(np.array_equal(got[s], expected[s]) for s in (1, 2))


@pytest.mark.parametrize("sizes", [[7, 37, 5, 3], [3, 20, 41, 2], [2, 9, 1]])
def test_a_two_thread_step_updates_every_weight_once(split_everything, sizes, rng):
    # one full-batch SGD step with the update fused into the backward pass: each
    # thread updates its share of each layer (rows, or a cut of a column-split
    # layer's flat block); every parameter must move by exactly -lr * gradient
    n = 64
    model = fm.Model(sizes, activation="tanh", dtype="float64", seed=3)
    X, y = rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)
    before = model.params.copy()
    _, grad = model.loss_and_grad(X, y)
    fm.Trainer(model, fm.optim.SGD(0.5), batch_size=n, epochs=1, shuffle=False,
               n_threads=2, verbose=0).fit(X, y)
    np.testing.assert_allclose(model.params, before - 0.5 * grad, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n", [3, 40, 700])
def test_batch_norm_inference_gradient_with_two_threads_equals_one_thread(n, rng):
    # Batch norm forces the column split on a team; in inference mode (the
    # default of loss_and_grad) each thread must normalise its own columns
    # only -- normalising all of them raced with the other thread's product.
    model = fm.Model([12, 300, 64, 3], batch_norm=True, dtype="float64", seed=3)
    for l, mean in enumerate(model.running_means[:-1]):  # statistics that matter
        mean[...] = rng.standard_normal(mean.shape)
        model.running_vars[l][...] = rng.uniform(0.5, 2.0, mean.shape)
    X, y = rng.standard_normal((n, 12)), rng.integers(0, 3, n)
    with fm.threads(1):
        loss1, grad1 = model.loss_and_grad(X, y)
    with fm.threads(2):
        loss2, grad2 = model.loss_and_grad(X, y)
    assert loss1 == pytest.approx(model.evaluate(X, y)["loss"], rel=1e-12)
    assert loss2 == pytest.approx(loss1, rel=1e-12)
    np.testing.assert_allclose(grad2, grad1, rtol=1e-10, atol=1e-13)
