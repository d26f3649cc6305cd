"""``fastmlp convert``: a CSV streamed into a memory-mappable .npy file and its companions,
encoded exactly as in memory; train, predict and evaluate read it through a memory map."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest

import fastmlp.trainer
from fastmlp import Model, Trainer
from fastmlp.cli import main
from fastmlp.data.convert import ProgressLine, convert_csv
from fastmlp.data.encoding import TabularEncoder, fit_labels
from fastmlp.data.tables import companion_paths, open_converted, read_table
from fastmlp.optim import get_optimizer


@pytest.fixture
def table_csv(tmp_path):
    """300 rows: two numbers (one gap, line 8), a text column and a text label."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3))
    kind = np.where(X[:, 2] > 0, "hot", "cold")
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    lines = ["a,b,kind,label"] + [f"{r[0]},{'' if i == 6 else r[1]},{k},{y}"
                                  for i, (r, k, y) in enumerate(zip(X, kind, label))]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _in_memory(path, impute):
    table = read_table(path)
    features = table.without("label")
    encoder = TabularEncoder.fit(features, impute=impute)
    labels, _, y = fit_labels(table, "label")
    return encoder, encoder.transform(features), labels, y


@pytest.mark.parametrize("impute", ["mean", "median"])
def test_conversion_equals_the_in_memory_encoding(table_csv, tmp_path, impute):
    out = tmp_path / "data.npy"
    convert_csv(table_csv, out, "label", dtype="float64", impute=impute, progress=io.StringIO())
    encoder, X, labels, y = _in_memory(table_csv, impute)
    mapped, target, meta = open_converted(out)
    np.testing.assert_array_equal(mapped, X)
    np.testing.assert_array_equal(target, y)
    assert meta["classes"] == labels and meta["features"] == encoder.to_dict()
    assert meta["rows"] == 300 and meta["target"] == "label"
    with open(companion_paths(out)[1], encoding="utf-8") as f:
        assert json.load(f) == meta


def test_progress_is_reported(table_csv, tmp_path):
    stream = io.StringIO()
    convert_csv(table_csv, tmp_path / "d.npy", "label", impute="mean", progress=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("pass 1/2: 300 rows, ") and lines[0].endswith(" rows/s")
    assert lines[1].startswith("pass 2/2: 300 rows, ") and "\r" not in stream.getvalue()

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = ProgressLine(terminal, "pass 1/2", interval=0.0)
    progress.update(10)
    progress.update(20)
    progress.close()
    assert terminal.getvalue().startswith("\rpass 1/2: 10 rows")
    assert terminal.getvalue().count("\r") == 3 and terminal.getvalue().endswith("rows/s\n")


def test_a_missing_value_without_impute_names_line_and_column(table_csv, tmp_path, capsys):
    out = tmp_path / "d.npy"
    assert main(["convert", str(table_csv), str(out), "--target", "label"]) == 2
    err = capsys.readouterr().err
    assert "line 8, column 'b': missing value" in err and "--impute" in err
    assert not out.exists() and not any(p.name.startswith(".fastmlp") for p in tmp_path.iterdir())


def test_training_from_the_converted_file_matches_in_process_training(table_csv, tmp_path):
    out, saved = tmp_path / "data.npy", tmp_path / "model.npz"
    assert main(["convert", str(table_csv), str(out), "--target", "label", "--impute",
                 "mean"]) == 0
    result = subprocess.run([sys.executable, "-m", "fastmlp", "train", "--data", str(out),
                             "--epochs", "3", "--hidden", "8", "--threads", "1", "--quiet",
                             "--save", str(saved)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # the same model, trained in process on the in-memory encoding's contiguous split
    _, X, _, y = _in_memory(table_csv, "mean")
    X = X.astype(np.float32)
    model = Model([4, 8, 2], activation="relu", output="softmax", dtype="float32", seed=0,
                  preprocessing="standardize")
    Trainer(model, get_optimizer("adam"), batch_size=32, epochs=3, seed=0, verbose=0,
            n_threads=1).fit(X[:216], y[:216], validation_data=(X[216:240], y[216:240]))
    from_file = Model.load(saved)
    np.testing.assert_allclose(from_file.predict(X), model.predict(X), rtol=1e-6, atol=1e-7)
    assert from_file.metadata["classes"] == ["no", "yes"]
    # a new CSV is encoded as the conversion encoded it
    predicted = subprocess.run([sys.executable, "-m", "fastmlp", "predict", "--model",
                                str(saved), "--data", str(table_csv)],
                               capture_output=True, text=True, timeout=600)
    assert predicted.returncode == 0, predicted.stderr
    expected = np.array(["no", "yes"])[model.predict(X).argmax(axis=1)]
    assert predicted.stdout.split() == ["label", *expected]


def test_the_trainer_receives_the_memory_map(table_csv, tmp_path, monkeypatch, capsys):
    out = tmp_path / "data.npy"
    convert_csv(table_csv, out, "label", impute="median", progress=io.StringIO())
    received = []
    original_fit = fastmlp.trainer.Trainer.fit

    def recording_fit(self, X, y, **kwargs):
        received.append(X)
        return original_fit(self, X, y, **kwargs)

    monkeypatch.setattr(fastmlp.trainer.Trainer, "fit", recording_fit)
    saved = tmp_path / "model.npz"
    assert main(["train", "--data", str(out), "--epochs", "1", "--hidden", "8", "--quiet",
                 "--threads", "1", "--save", str(saved)]) == 0
    assert "300 samples, 4 inputs, 2 classes" in capsys.readouterr().out
    (X,) = received
    assert isinstance(X, np.memmap) and not X.flags.writeable and X.shape == (216, 4)
    # evaluate reads the converted file's target and gives the CSV's metrics
    metrics = []
    for path in (out, table_csv):
        assert main(["evaluate", "--model", str(saved), "--data", str(path), "--json"]) == 0
        metrics.append(json.loads(capsys.readouterr().out))
    assert metrics[0] == metrics[1]


def test_train_refuses_encoding_flags_for_converted_data(table_csv, tmp_path, capsys):
    out = tmp_path / "data.npy"
    convert_csv(table_csv, out, "label", impute="mean", progress=io.StringIO())
    assert main(["train", "--data", str(out), "--impute", "median", "--quiet"]) == 2
    assert "fastmlp convert" in capsys.readouterr().err


def test_a_truncated_or_corrupt_npy_is_refused_naming_the_file(table_csv, tmp_path, capsys):
    out = tmp_path / "data.npy"
    assert main(["convert", str(table_csv), str(out), "--target", "label", "--impute",
                 "mean"]) == 0
    whole = out.read_bytes()
    out.write_bytes(whole[:len(whole) // 2])  # cut short, as an interrupted copy would be
    with pytest.raises(ValueError, match="cannot read the converted data .*data.npy"):
        open_converted(out)
    assert main(["train", "--data", str(out), "--epochs", "1", "--quiet"]) == 2
    assert "data.npy" in capsys.readouterr().err
    out.write_bytes(b"not a numpy file at all")
    with pytest.raises(ValueError, match="cannot read the converted data .*data.npy"):
        open_converted(out)


def test_a_memory_map_of_text_gets_the_error_of_an_array(tmp_path):
    path = tmp_path / "words.npy"
    np.save(path, np.array([["a", "b"], ["c", "d"]]))
    mapped = np.load(path, mmap_mode="r")
    with pytest.raises(TypeError, match="non-numeric dtype"):
        Trainer(Model([2, 2], seed=0), verbose=0).fit(mapped, [0, 1])
    with pytest.raises(TypeError, match="non-numeric dtype"):
        Model([2, 2], seed=0).predict(mapped)
