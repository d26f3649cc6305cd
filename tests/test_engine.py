"""The engine: one thread-planning rule, and its passes equal the model's public ones."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp._utils.tuning import (
    INFERENCE_TEAM_MIN_FLOPS,
    PARALLEL_MIN_FLOPS,
    ROWS_PER_THREAD,
    TRAIN_CHUNK_ROWS,
)
from fastmlp.engine import calls as engine
from fastmlp.engine.calls import plan


def test_small_work_plans_one_thread_and_large_work_all_threads():
    with fm.threads(fm.max_threads()):
        assert plan([4, 3, 2], 10) == (1, 10)
        assert plan([4, 3, 2], 10, training=True) == (1, 10)
        big = plan([784, 1024, 10], 100_000)
        assert big.n_threads == fm.max_threads()
        assert big.rows == ROWS_PER_THREAD * big.n_threads


def test_the_thresholds_of_the_rule():
    # inference: a block's forward work, 2 flops per weight and row, against
    # INFERENCE_TEAM_MIN_FLOPS; training: forward and backward, 6 flops per
    # weight and row of at most TRAIN_CHUNK_ROWS, against PARALLEL_MIN_FLOPS
    sizes = [200, 200]  # 40,000 weights
    rows_needed = -(-INFERENCE_TEAM_MIN_FLOPS // (2 * 40_000))
    assert rows_needed <= ROWS_PER_THREAD  # (one block)
    with fm.threads(2):
        assert plan(sizes, rows_needed - 1).n_threads == 1
        expected = 2 if fm.max_threads() > 1 else 1
        assert plan(sizes, rows_needed).n_threads == min(expected, fm.get_num_threads())
        sizes = [100, 100]  # 10,000 weights
        training_rows = -(-PARALLEL_MIN_FLOPS // (6 * 10_000))
        assert plan(sizes, training_rows - 1, training=True).n_threads == 1
        assert plan(sizes, 10 * TRAIN_CHUNK_ROWS, training=True).rows == 10 * TRAIN_CHUNK_ROWS


@pytest.mark.parametrize("sizes", [[784, 256, 256, 10], [64, 128, 10], [784, 1024, 1024, 10],
                                   [64, 256, 128, 10], [100_000, 2000, 10], [5, 3]])
def test_the_direct_predict_size_is_the_plans_largest_one_thread_block(sizes):
    # found by bisection; the reference scans every row count
    with fm.threads(2):
        scanned = next((rows for rows in range(ROWS_PER_THREAD, 0, -1)
                        if plan(sizes, rows).n_threads == 1), 0)
        assert engine._most_rows_on_one_thread(sizes) == scanned


def test_zero_rows_plan_one_row_block():
    assert plan([3, 2], 0) == (1, 1)


def test_gradient_pass_reused_equals_loss_and_grad(rng):
    model = fm.Model([5, 7, 3], activation="tanh", dtype="float64", seed=0, l2=0.01)
    X = rng.standard_normal((40, 5))
    y = rng.integers(0, 3, 40)
    expected_loss, expected_grad = model.loss_and_grad(X, y)
    T = np.eye(3)[y]
    gradient_pass = model.engine.gradient_pass(40, 1, training=False)
    grad = np.empty_like(model.params)
    for _ in range(2):  # the buffers are reused; the result does not accumulate
        assert gradient_pass(model.params, grad, X, T) == expected_loss
        np.testing.assert_array_equal(grad, expected_grad)
    # at other parameters: those of a shifted copy
    shifted = model.copy()
    shifted.params += 0.1
    loss_at, grad_at = shifted.loss_and_grad(X, y)
    assert gradient_pass(shifted.params, grad, X, T) == loss_at
    np.testing.assert_array_equal(grad, grad_at)


def test_running_statistics_become_those_of_the_data(rng):
    model = fm.Model([4, 6, 2], batch_norm=True, dtype="float64", seed=1)
    X = rng.standard_normal((50, 4)) * 3 + 1
    T = np.eye(2)[rng.integers(0, 2, 50)]
    model.engine.gradient_pass(50, 1, training=True).update_running_statistics(X, T)
    Z = X @ model.weights[0]  # the bias is beta: batch norm sees X W
    np.testing.assert_allclose(model.running_means[0], Z.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.running_vars[0], Z.var(axis=0, ddof=1), rtol=1e-12)


def test_training_loop_runs_the_batches_it_is_given(rng):
    # two calls over halves of the batches equal one call over all of them
    X = rng.standard_normal((64, 5))
    T = np.eye(3)[rng.integers(0, 3, 64)]
    results = []
    for cuts in ([(0, 8)], [(0, 3), (3, 8)]):
        model = fm.Model([5, 6, 3], dtype="float64", seed=2)
        opt = fm.optim.SGD(0.1)
        opt.bind(model.params)
        loop = model.engine.training_loop(X, T, np.empty(0), 8, opt.kind, "sgd", 0)
        order = np.arange(64, dtype=np.int64)
        for first, end in cuts:
            assert loop.run(order, opt.kernel_args(None), first, end) == -1
        results.append(model.params.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_engine_follows_the_model_through_copy_and_pickle():
    import pickle

    model = fm.Model([3, 4, 2], seed=0)
    for other in (model.copy(), pickle.loads(pickle.dumps(model))):
        assert other.engine is not model.engine
        assert other.engine.params is other.params
        assert other.engine.running_stats is other.running_stats


def test_training_noise_modes():
    assert engine.training_noise(5).seed == 5
    assert engine.training_noise().mode != engine.training_noise(update_running=True).mode
    assert engine.INFERENCE.mode == 0


@pytest.mark.parametrize("training", [False, True])
def test_penalty_switch_reaches_the_compiled_functions(training, rng):
    # a penalty set after the engine was made is seen by the next pass
    model = fm.Model([3, 4, 2], dtype="float64", seed=0)
    X, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    plain = model.loss_and_grad(X, y, training=training)[0]
    model.l2 = 0.5
    assert model.loss_and_grad(X, y, training=training)[0] == pytest.approx(
        plain + model.penalty(), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_calls_cut_into_blocks_give_the_same_bits(monkeypatch, rng, dtype):
    # predict and evaluate on a huge input run as several calls of about
    # CALL_SECONDS each; cut into one block per call here, the results are
    # those of one call, bit for bit
    model = fm.Model([6, 32, 4], dtype=dtype, seed=3)
    X = rng.standard_normal((3000, 6)).astype(dtype)
    y = rng.integers(0, 4, 3000)
    w = rng.random(3000) + 0.5
    whole = model.predict(X), model.evaluate(X, y), model.evaluate(X, y, sample_weight=w)
    calls = []
    original = model.engine._in_calls

    def counting(rows, block, run):
        calls.append(rows.shape[0] // block)
        return original(rows, block, run)

    monkeypatch.setattr(engine, "CALL_SECONDS", 1e-12)  # one block per call
    monkeypatch.setattr(model.engine, "_in_calls", counting)
    cut = model.predict(X), model.evaluate(X, y), model.evaluate(X, y, sample_weight=w)
    assert all(c > 1 for c in calls), calls
    np.testing.assert_array_equal(cut[0], whole[0])
    assert cut[1] == whole[1] and cut[2] == whole[2]
