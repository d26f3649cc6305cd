"""Data larger than memory: read-only arrays and memory maps are trained on and
predicted from without a copy, with the same results as in-memory arrays; a
dtype other than the model's is converted block by block; the NaN/inf check
streams."""

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import fastmlp as fm
import fastmlp._utils.validation
import fastmlp.data.rows
import fastmlp.preprocessing
from fastmlp.engine import calls as engine


@pytest.fixture(autouse=True)
def read_in_place(monkeypatch):
    # read-only arrays above 64 MB are read in place; these are smaller
    monkeypatch.setattr(fastmlp._utils.validation, "INPUT_COPY_MAX_BYTES", 0)


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
    monkeypatch.setattr(fastmlp._utils.validation, "_BLOCK_VALUES", 100)
    model = fm.Model([10, 4, 2], seed=0)
    wide = np.ones((500, 10))
    wide[321, 7] = 1e300
    with pytest.raises(ValueError, match="too large for float32"):
        model.predict(wide)


def test_the_first_nan_is_named_across_blocks(monkeypatch):
    monkeypatch.setattr(fastmlp._utils.validation, "_BLOCK_VALUES", 100)
    X = np.ones((500, 10), dtype=np.float32)
    X[321, 7] = np.nan
    X[400, 2] = np.inf
    with pytest.raises(ValueError, match=r"2 values, first at row 321, column 7"):
        fm.Model([10, 4, 2], seed=0).predict(X)


def test_the_block_shuffle_is_a_permutation_mixing_runs_of_blocks():
    from fastmlp.data.shuffling import epoch_order

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


def _preprocessed(X, y, monkeypatch=None, **fit):
    model = fm.Model([200, 16, 3], seed=0, preprocessing="standardize",
                     dropout=[0.1, 0.2])
    trainer = fm.Trainer(model, "adam", batch_size=100, epochs=2, seed=0, verbose=0,
                         validation_fraction=0.2, diagnostics=True)
    history = trainer.fit(X, y, **fit)
    return model, history


def test_preprocessing_and_a_held_out_split_read_a_large_input_in_place(on_disk, monkeypatch):
    # a large memory map (or read-only array) with stored preprocessing and a
    # hold-out split: neither
    # side of the split nor the standardised data is made whole; each call
    # of the loop gathers and standardises its batches' rows -- with the
    # results of standardising first
    X, y, mapped = on_disk
    monkeypatch.setattr(fastmlp._utils.validation, "INPUT_COPY_MAX_BYTES", 1 << 40)
    in_memory, expected = _preprocessed(X, y)
    monkeypatch.setattr(fastmlp._utils.validation, "INPUT_COPY_MAX_BYTES", 0)
    monkeypatch.setattr(engine, "CALL_MAX_BYTES", 7 * 100 * 200 * 4)  # 7 batches a call
    wide = X.astype(np.float64)
    wide.flags.writeable = False  # read in place too, converted per call
    for data in (mapped, wide):
        model, history = _preprocessed(data, y)
        np.testing.assert_array_equal(model.params, in_memory.params)
        assert history["val_loss"] == expected["val_loss"]
        assert history["loss"] == expected["loss"]
        for key in expected:
            if key.startswith("layer"):  # the diagnostics' sample is prepared too
                assert history[key] == expected[key]
    assert model.predict(mapped).shape == (X.shape[0], 3)


def test_preprocessing_a_large_input_allocates_nothing_its_size(on_disk, monkeypatch):
    X, y, mapped = on_disk
    _preprocessed(X[:600], y[:600])  # compiled first
    monkeypatch.setattr(engine, "CALL_MAX_BYTES", mapped.nbytes // 32)  # a call's rows
    # the statistics' passes (in blocks of CALL_MAX_BYTES of float64)
    monkeypatch.setattr(fastmlp.preprocessing, "CALL_MAX_BYTES", mapped.nbytes // 64)
    # the targets, the split's indices, the epoch's order, a call's rows
    assert _peak(lambda: _preprocessed(mapped, y)) < mapped.nbytes / 4


def test_the_preprocessing_statistics_stream_with_the_results_of_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    X = (rng.standard_normal((3000, 12)) * 4 + 2).astype(np.float32)
    whole = [fm.preprocessing.StandardScaler().fit(X), fm.preprocessing.PCAWhitening().fit(X)]
    X64 = X.astype(np.float64)
    assert np.array_equal(whole[0].mean_, X64.mean(axis=0))  # one block: the formulas exactly
    assert np.array_equal(whole[0].scale_, X64.std(axis=0))
    monkeypatch.setattr(fastmlp.preprocessing, "CALL_MAX_BYTES", 12 * 8 * 250)  # 12 blocks
    blocks = [fm.preprocessing.StandardScaler().fit(X), fm.preprocessing.PCAWhitening().fit(X)]
    np.testing.assert_allclose(blocks[0].mean_, whole[0].mean_, rtol=1e-13)
    np.testing.assert_allclose(blocks[0].scale_, whole[0].scale_, rtol=1e-13)
    np.testing.assert_allclose(blocks[1].explained_variance_, whole[1].explained_variance_,
                               rtol=1e-12)


RSS_CHILD = r"""
import sys, threading, time
import numpy as np
import fastmlp as fm
import fastmlp._utils.validation

path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
rng = np.random.default_rng(0)
for start in range(0, rows, 5000):  # written in blocks: never all in memory
    out[start:start + 5000] = rng.standard_normal((min(5000, rows - start), cols),
                                                  dtype=np.float32)
out.flush()
del out
X = np.load(path, mmap_mode="r")
y = np.arange(rows) % 4


def anonymous_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


def run(X, y):
    model = fm.Model([cols, 16, 4], seed=0, preprocessing="standardize")
    trainer = fm.Trainer(model, batch_size=256, epochs=1, verbose=0, validation_fraction=0.1)
    trainer.fit(X, y)
    model.predict(X)
    model.evaluate(X, y)


copy_limit = fastmlp._utils.validation.INPUT_COPY_MAX_BYTES
fastmlp._utils.validation.INPUT_COPY_MAX_BYTES = 0  # the large-input paths, compiled on a few rows
run(X[:3000], y[:3000])
fastmlp._utils.validation.INPUT_COPY_MAX_BYTES = copy_limit
before = peak = anonymous_kb()
done = False


def watch():
    global peak
    while not done:
        peak = max(peak, anonymous_kb())
        time.sleep(0.002)


watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
run(X, y)
done = True
watcher.join()
print((peak - before) / 1024)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_file_several_times_larger_than_the_memory_added_trains(tmp_path):
    # fit (standardised, with a held-out split) + predict + evaluate on a
    # 269 MB memory map, in a fresh process: its anonymous memory -- what
    # is not the file's pages -- grows by at most the 64 MB the large-data
    # issue allows
    rows, cols = 110_000, 640
    done = subprocess.run([sys.executable, "-c", RSS_CHILD, str(tmp_path / "X.npy"),
                           str(rows), str(cols)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    grown_mb = float(done.stdout.split()[-1])
    assert rows * cols * 4 / 2**20 >= 4 * 64
    assert grown_mb < 64, f"anonymous memory grew by {grown_mb:.0f} MB"


def test_a_large_writeable_array_is_copied_and_a_memory_map_is_not(on_disk, monkeypatch):
    X, _, mapped = on_disk
    monkeypatch.setattr(fastmlp._utils.validation, "INPUT_COPY_MAX_BYTES", 0)
    reads_in_place = fastmlp.data.rows.reads_in_place
    assert reads_in_place(mapped) and reads_in_place(mapped[10:])
    assert not fastmlp.data.rows.reads_in_place(X)  # in memory already: the copy is faster
    frozen = X.copy()
    frozen.flags.writeable = False
    assert fastmlp.data.rows.reads_in_place(frozen)
    monkeypatch.setattr(fastmlp._utils.validation, "INPUT_COPY_MAX_BYTES", 1 << 40)
    assert not fastmlp.data.rows.reads_in_place(mapped)  # small: copied
