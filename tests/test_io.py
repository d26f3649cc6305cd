"""Model files: round trips, atomic writes, and files that must be refused without running code."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.archive.format import FORMAT_VERSION


def trained_model(**kwargs):
    """A small model with every kind of state a file holds (params, BN stats, preprocessing)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4)) * 3 + 1
    y = np.eye(3)[rng.integers(0, 3, 40)]  # one-hot: fits softmax and sigmoid outputs
    options = dict(seed=0, batch_norm=True, preprocessing="standardize")
    options.update(kwargs)
    model = fm.Model([4, 6, 3], **options)
    fm.Trainer(model, batch_size=8, epochs=2, seed=0, verbose=0, n_threads=1).fit(X, y)
    return model, X


# --------------------------------------------------------------- malicious / broken files
def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _with_header(good, change):
    """The archive ``good`` with its JSON header edited by ``change(dict)``."""
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    change(header)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return _npz_bytes(**arrays)


def _with_array(good, name, value):
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[name] = value
    return _npz_bytes(**arrays)


class _Boom:
    """Unpickling this would run code: the loader must never get that far."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


#: What ``fm.load`` must say about each bad file (a regex on the ValueError's message).
BAD_FILE_MESSAGES = {
    "pickle_renamed": "not an .npz archive", "pickled_model": "not an .npz archive",
    "object_array": "cannot be loaded safely", "truncated_half": "truncated or corrupt",
    "truncated_tail": "truncated or corrupt", "truncated_head": "truncated or corrupt",
    "empty_file": "not an .npz archive", "text_file": "not an .npz archive",
    "npy_not_npz": "not an .npz archive", "foreign_npz": "no header",
    "header_not_json": "not valid JSON", "header_wrong_dtype": "not a JSON text",
    "newer_version": "format version 99.*newer", "no_version": "format_version",
    "wrong_format": "not a fastmlp.model", "size_mismatch": "holds 5 parameters",
    "bigger_architecture": "needs more than", "dtype_mismatch": "expected float32",
    "nan_params": "NaN or inf", "bad_config": "configuration is invalid",
    "missing_params": "'model.params' is missing", "bad_preprocessing": "preprocessing",
}


def _bad_contents(directory, good):
    """The bytes of each bad file, derived from the valid model file ``good``."""
    data = open(good, "rb").read()
    config = lambda **change: lambda h: h["model"]["config"].update(change)  # noqa: E731
    return {
        "pickle_renamed": pickle.dumps(_Boom()),
        "pickled_model": pickle.dumps({"params": np.zeros(3)}),
        "object_array": _with_array(good, "model.params", np.array([_Boom()], dtype=object)),
        "truncated_half": data[:len(data) // 2],
        "truncated_tail": data[:-10],
        "truncated_head": data[:30],
        "empty_file": b"",
        "text_file": b"layer_sizes,4,6,3\n",
        "npy_not_npz": open(_save_npy(directory), "rb").read(),
        "foreign_npz": _npz_bytes(X=np.zeros((2, 2))),
        "header_not_json": _with_array(good, "header", np.frombuffer(b"{oops", np.uint8)),
        "header_wrong_dtype": _with_array(good, "header", np.zeros(3)),
        "newer_version": _with_header(good, lambda h: h.update(format_version=99)),
        "no_version": _with_header(good, lambda h: h.pop("format_version")),
        "wrong_format": _with_header(good, lambda h: h.update(format="keras")),
        "size_mismatch": _with_array(good, "model.params", np.zeros(5, np.float32)),
        "bigger_architecture": _with_header(good, config(layer_sizes=[100000, 100000, 3])),
        "dtype_mismatch": _with_array(good, "model.params", np.zeros(3, np.float64)),
        "nan_params": _with_array(good, "model.params", np.full(3, np.nan, np.float32)),
        "bad_config": _with_header(good, config(activation="not a list")),
        "missing_params": _npz_without(good, "model.params"),
        "bad_preprocessing": _with_array(good, "model.preprocessing.scale_",
                                         np.zeros((2, 2, 2))),
    }


def write_bad_files(directory, good):
    """Write the files ``fm.load`` must refuse; returns {kind: path} (see BAD_FILE_MESSAGES)."""
    paths = {}
    for name, content in _bad_contents(directory, good).items():
        paths[name] = os.path.join(directory, f"{name}.npz")
        with open(paths[name], "wb") as f:
            f.write(content)
    return paths


def _save_npy(directory):
    path = os.path.join(directory, "plain.npy")
    np.save(path, np.zeros(4))
    return path


def _npz_without(good, name):
    with np.load(good) as npz:
        return _npz_bytes(**{k: npz[k] for k in npz.files if k != name})


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(batch_norm=False, preprocessing=None),
    dict(preprocessing="whiten", dtype="float64"),
    dict(activation="leaky_relu", dropout=0.2, dropconnect=0.1, l2=1e-3, l1=1e-4),
    dict(activation=["tanh"], output="sigmoid"),
], ids=["bn_standardize", "plain", "whiten_float64", "regularised", "sigmoid"])
def test_round_trip_is_identical(tmp_path, kwargs):
    model, X = trained_model(**kwargs)
    path = tmp_path / "model.npz"
    fm.save(model, path)
    loaded = fm.load(path)
    assert loaded.get_config() == model.get_config()
    assert np.array_equal(loaded.params, model.params)
    assert np.array_equal(loaded.running_stats, model.running_stats)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    # the views still point into the loaded buffer
    assert np.shares_memory(loaded.weights[0], loaded.params)


def test_round_trip_without_hidden_layer_and_unfitted_preprocessing(tmp_path):
    model = fm.Model([3, 2], output="identity", preprocessing="standardize", seed=1)
    fm.save(model, tmp_path / "m.npz")
    loaded = fm.load(tmp_path / "m.npz")
    assert not loaded.preprocessing.is_fitted
    assert np.array_equal(loaded.params, model.params)


def test_loaded_model_trains_on(tmp_path):
    model, X = trained_model(batch_norm=False)
    fm.save(model, tmp_path / "m.npz")
    loaded = fm.load(tmp_path / "m.npz")
    y = np.arange(len(X)) % 3
    fm.Trainer(loaded, epochs=1, verbose=0).fit(X, y)
    assert np.isfinite(loaded.params).all()


def test_file_is_npz_with_json_header(tmp_path):
    model, _ = trained_model()
    fm.save(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
        assert header["format"] == "fastmlp.model"
        assert header["format_version"] == FORMAT_VERSION
        assert header["model"]["dtype"] == "float32"
        assert set(npz.files) >= {"model.params", "model.running_stats",
                                  "model.preprocessing.mean_"}


def test_save_writes_the_path_as_given(tmp_path):
    model = fm.Model([2, 2], seed=0)
    fm.save(model, str(tmp_path / "model.fm"))
    assert sorted(os.listdir(tmp_path)) == ["model.fm"]


def test_model_save_method(tmp_path):
    model = fm.Model([2, 3, 2], seed=0)
    model.save(tmp_path / "m.npz")
    assert np.array_equal(fm.load(tmp_path / "m.npz").params, model.params)


def test_load_reads_the_model_of_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    model = fm.Model([3, 4, 2], seed=0)
    trainer = fm.Trainer(model, epochs=2, verbose=0, checkpoint_dir=tmp_path)
    trainer.fit(rng.standard_normal((20, 3)), rng.integers(0, 2, 20))
    loaded = fm.load(tmp_path / "checkpoint-00000002.npz")
    assert np.array_equal(loaded.params, model.params)


# ------------------------------------------------------------------- refusals
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bad")
    model, _ = trained_model()
    good = os.path.join(directory, "good.npz")
    fm.save(model, good)
    return write_bad_files(directory, good)


@pytest.mark.parametrize("kind", sorted(BAD_FILE_MESSAGES))
def test_bad_file_gives_a_clear_value_error(bad_files, kind, monkeypatch):
    # Any unpickling would be a failure even if it raised afterwards.
    def no_unpickling(*args, **kwargs):
        raise AssertionError("the loader tried to unpickle")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    path = bad_files[kind]
    with pytest.raises(ValueError, match=BAD_FILE_MESSAGES[kind]) as info:
        fm.load(path)
    assert os.path.basename(path) in str(info.value)


def test_every_truncation_point_is_refused(tmp_path):
    model = fm.Model([3, 4, 2], seed=0)
    fm.save(model, tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    for n in sorted(set(np.linspace(1, len(data) - 1, 40).astype(int))):
        cut.write_bytes(data[:n])
        with pytest.raises(ValueError):
            fm.load(cut)


def test_compressed_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.npy", b"\0" * (50 << 20))
    with pytest.raises(ValueError, match="inflate"):
        fm.load(path)


def test_missing_and_unreadable_paths_raise_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        fm.load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError):
        fm.load(tmp_path)
    with pytest.raises(TypeError):
        fm.load(3)  # never read as a file descriptor


def test_save_refuses_what_it_cannot_write(tmp_path):
    model = fm.Model([2, 3, 2], seed=0)
    with pytest.raises(TypeError, match="fastmlp.Model"):
        fm.save("not a model", tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError):
        fm.save(model, tmp_path / "no" / "such" / "dir.npz")
    broken = model.copy()
    broken.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        fm.save(broken, tmp_path / "m.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------- atomicity
def test_a_crash_mid_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    old = fm.Model([3, 4, 2], seed=0)
    fm.save(old, path)
    before = path.read_bytes()

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        fm.save(fm.Model([3, 4, 2], seed=1), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]  # no temporary file left behind


def test_the_file_is_complete_before_the_rename(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def check_then_replace(src, dst):
        seen.append(np.array_equal(fm.load(src).params, model.params))
        real_replace(src, dst)

    model = fm.Model([3, 4, 2], seed=0)
    monkeypatch.setattr(os, "replace", check_then_replace)
    fm.save(model, tmp_path / "m.npz")
    assert seen == [True]


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        fm.save(fm.Model([2, 2], seed=0), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------- metadata
def test_metadata_round_trips_through_files_copies_and_pickles(tmp_path):
    model, _ = trained_model()
    assert model.metadata == {}
    model.metadata = {"classes": ["no", "yes"], "n": np.int64(3), "nested": {"a": [1.5, None]}}
    model.save(tmp_path / "m.npz")
    loaded = fm.load(tmp_path / "m.npz")
    assert loaded.metadata == {"classes": ["no", "yes"], "n": 3, "nested": {"a": [1.5, None]}}
    clone = loaded.copy()
    clone.metadata["classes"].append("maybe")
    assert loaded.metadata["classes"] == ["no", "yes"]  # a deep copy
    assert pickle.loads(pickle.dumps(loaded)).metadata == loaded.metadata


def test_a_file_without_metadata_loads_with_an_empty_dict(tmp_path):
    from fastmlp.archive.format import MODEL_FORMAT, write_archive
    model, X = trained_model()
    header, arrays = model.to_record()
    del header["model"]["metadata"]  # as files written before metadata existed
    write_archive(tmp_path / "old.npz", {"format": MODEL_FORMAT, **header}, arrays)
    loaded = fm.load(tmp_path / "old.npz")
    assert loaded.metadata == {}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_an_old_pickle_without_metadata_unpickles_with_an_empty_dict():
    model, _ = trained_model()
    state = model.__getstate__()
    del state["metadata"]
    old = fm.Model.__new__(fm.Model)
    old.__setstate__(state)
    assert old.metadata == {}


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, ["not", "a", "dict"]])
def test_metadata_that_is_not_json_is_refused_on_save(bad, tmp_path):
    model, _ = trained_model()
    model.metadata = bad
    with pytest.raises(ValueError, match="metadata"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
