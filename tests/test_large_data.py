"""Data larger than memory: read-only arrays and memory maps are trained on and
predicted from without a copy, with the same results as in-memory arrays; a
dtype other than the model's is converted block by block; the NaN/inf check
streams."""

import tracemalloc

import numpy as np
import pytest

import fastmlp as fm
import fastmlp._validation
from fastmlp import engine


@pytest.fixture(autouse=True)
def read_in_place(monkeypatch):
    # read-only arrays above 64 MB are read in place; these are smaller
    monkeypatch.setattr(fastmlp._validation, "INPUT_COPY_MAX_BYTES", 0)


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 200)).astype(np.float32)  # 16 MB
    y = rng.integers(0, 3, 20000)
    path = tmp_path_factory.mktemp("data") / "X.npy"
    np.save(path, X)
    return X, y, np.load(path, mmap_mode="r")


def _trained(X, y):
    model = fm.Model([200, 16, 3], seed=0)
    fm.Trainer(model, "adam", batch_size=100, epochs=2, seed=0, verbose=0).fit(
        X, y, validation_data=(X[:500], y[:500]))
    return model


def test_a_memory_map_gives_the_results_of_an_array(on_disk):
    X, y, mapped = on_disk
    assert not mapped.flags.writeable
    in_memory, from_disk = _trained(X, y), _trained(mapped, y)
    np.testing.assert_array_equal(from_disk.params, in_memory.params)
    np.testing.assert_array_equal(from_disk.predict(mapped), in_memory.predict(X))
    assert from_disk.evaluate(mapped, y) == in_memory.evaluate(X, y)
    loss, grad = in_memory.loss_and_grad(X, y)
    loss_mapped, grad_mapped = in_memory.loss_and_grad(mapped, y)
    assert loss_mapped == loss and np.array_equal(grad_mapped, grad)


def _peak(call):
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_nothing_the_size_of_the_data_is_allocated(on_disk):
    X, y, mapped = on_disk
    model = _trained(X[:600], y[:600])
    # predict/evaluate: the output and the NaN check's blocks (256 kB); fit: the
    # encoded targets, the epoch's order
    assert _peak(lambda: model.predict(mapped)) < mapped.nbytes / 8
    assert _peak(lambda: model.evaluate(mapped, y)) < mapped.nbytes / 8
    trainer = fm.Trainer(model, "adam", batch_size=100, epochs=1, seed=0, verbose=0)
    assert _peak(lambda: trainer.fit(mapped, y)) < mapped.nbytes / 4


def test_another_dtype_is_converted_block_by_block(on_disk, monkeypatch):
    X, y, _ = on_disk
    model = _trained(X[:600], y[:600])
    wide = X.astype(np.float64)
    expected = model.predict(X)
    monkeypatch.setattr(engine, "CALL_MAX_BYTES", wide.nbytes // 10)
    np.testing.assert_array_equal(model.predict(wide), expected)
    assert _peak(lambda: model.predict(wide)) < wide.nbytes / 4
    assert model.evaluate(wide, y) == model.evaluate(X, y)


def test_values_too_large_for_float32_are_caught_in_a_later_block(monkeypatch):
    monkeypatch.setattr(fastmlp._validation, "_BLOCK_VALUES", 100)
    model = fm.Model([10, 4, 2], seed=0)
    wide = np.ones((500, 10))
    wide[321, 7] = 1e300
    with pytest.raises(ValueError, match="too large for float32"):
        model.predict(wide)


def test_the_first_nan_is_named_across_blocks(monkeypatch):
    monkeypatch.setattr(fastmlp._validation, "_BLOCK_VALUES", 100)
    X = np.ones((500, 10), dtype=np.float32)
    X[321, 7] = np.nan
    X[400, 2] = np.inf
    with pytest.raises(ValueError, match=r"2 values, first at row 321, column 7"):
        fm.Model([10, 4, 2], seed=0).predict(X)


def test_the_block_shuffle_is_a_permutation_mixing_runs_of_blocks():
    from fastmlp.shuffling import epoch_order

    rng = np.random.default_rng(0)
    order = epoch_order(rng, 1000, "blocks", block_rows=64, buffer_blocks=4)
    assert np.array_equal(np.sort(order), np.arange(1000))
    # every run of 4 blocks' rows (256 rows, the last run shorter) holds 4
    # whole blocks, and inside it the rows are not in their block order
    for start in range(0, 1000, 256):
        run = order[start:start + 256]
        blocks = set(run // 64)
        assert len(blocks) <= 4
        assert sum(min(1000, 64 * (b + 1)) - 64 * b for b in blocks) == run.size
        assert not np.array_equal(run, np.sort(run))
    again = epoch_order(np.random.default_rng(0), 1000, "blocks", block_rows=64,
                        buffer_blocks=4)
    assert np.array_equal(order, again)  # the generator decides it all


def test_training_with_a_block_shuffle(on_disk):
    X, y, mapped = on_disk
    model = fm.Model([200, 16, 3], seed=0)
    trainer = fm.Trainer(model, "adam", batch_size=100, epochs=2, seed=0, verbose=0,
                         shuffle="blocks")
    history = trainer.fit(mapped, y)
    assert np.isfinite(model.params).all() and len(history["loss"]) == 2
    with pytest.raises(ValueError, match="shuffle must be True, False or 'blocks'"):
        fm.Trainer(model, shuffle="rows")


def test_a_large_float64_dataset_trains_a_float32_model_without_a_copy(on_disk):
    # converted row by row where batches are gathered: the same bits as
    # training on the converted array, and no float32 copy of the whole
    X, y, _ = on_disk
    wide = X.astype(np.float64)
    reference = _trained(X, y)
    model = _trained(wide, y)
    np.testing.assert_array_equal(model.params, reference.params)
    trainer = fm.Trainer(model, "adam", batch_size=100, epochs=1, seed=0, verbose=0)
    assert _peak(lambda: trainer.fit(wide, y)) < X.nbytes / 4
    # L-BFGS reads it gathered too
    lbfgs = [fm.Model([200, 8, 3], seed=1, dtype="float32") for _ in range(2)]
    for m, data in zip(lbfgs, (X[:3000], wide[:3000])):
        with pytest.warns(fm.ConvergenceWarning):
            fm.Trainer(m, fm.optim.LBFGS(max_iter=3), verbose=0).fit(data, y[:3000])
    np.testing.assert_array_equal(lbfgs[1].params, lbfgs[0].params)
