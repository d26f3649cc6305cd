"""svmlight files on the command line: train, predict, evaluate, compare, search and convert
take sparse rows and never densify them; a saved model reads new files as it was trained."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

import fastmlp.cli.experiments
import fastmlp.trainer
from fastmlp import Model, Trainer
from fastmlp._utils.sparse import is_sparse
from fastmlp.cli import main
from fastmlp.data.splits import contiguous_split, row_split
from fastmlp.data.svmlight import read_svmlight
from fastmlp.data.tables import read_table, sparse_paths
from fastmlp.optim import get_optimizer

N_ROWS, N_FEATURES = 200, 60


def _sparse_problem(seed=0, n=N_ROWS, d=N_FEATURES):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.1, format="csr", random_state=seed)
    X.data = rng.random(X.nnz) + 0.5
    labels = np.where(X @ rng.standard_normal(d) > 0, 1, -1)  # -1/+1, as svmlight files have
    return X, labels


@pytest.fixture
def svm_file(tmp_path):
    X, labels = _sparse_problem()
    path = tmp_path / "train.svm"
    dump_svmlight_file(X, labels, str(path), zero_based=False, comment="a test file")
    return path


def _fastmlp(*args):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


class Recorder:
    """Trainer.fit recording what it was given (and the trainer's settings)."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = fastmlp.trainer.Trainer.fit

        def fit(trainer, X, y, **kwargs):
            self.calls.append({"X": X, "y": y, "val": kwargs.get("validation_data"),
                               "sparse_update": trainer.sparse_update})
            return original(trainer, X, y, **kwargs)

        monkeypatch.setattr(fastmlp.trainer.Trainer, "fit", fit)


def _trained_in_process(X, y, train, val, n_out, output="softmax", epochs=3):
    model = Model([X.shape[1], 8, n_out], activation="relu", output=output, dtype="float32",
                  seed=0, preprocessing="standardize")
    Trainer(model, get_optimizer("adam"), batch_size=32, epochs=epochs, seed=0, verbose=0,
            n_threads=1).fit(X[train], y[train], validation_data=(X[val], y[val]))
    return model


def test_train_save_predict_evaluate_reproduce_the_in_process_numbers(svm_file, tmp_path,
                                                                      monkeypatch, capsys):
    recorder = Recorder(monkeypatch)
    saved = tmp_path / "model.npz"
    assert main(["train", "--data", str(svm_file), "--epochs", "3", "--hidden", "8",
                 "--threads", "1", "--quiet", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert f"{N_ROWS} samples, {N_FEATURES} inputs (sparse, " in out and "2 classes" in out
    (call,) = recorder.calls
    assert is_sparse(call["X"]) and is_sparse(call["val"][0])  # never densified
    assert call["sparse_update"] == "exact"
    # the same model in process: the file's rows, classes -1 and 1, the command line's split
    table = read_svmlight(svm_file)
    X, labels = table.features(), table.single_labels()
    y = (labels > 0).astype(np.int64)
    rows = row_split(N_ROWS, 0.2, 0.1, 0, stratify=y)
    model = _trained_in_process(X, y, rows.train, rows.val, 2)
    from_file = Model.load(saved)
    np.testing.assert_array_equal(from_file.predict(X), model.predict(X))
    assert from_file.metadata["classes"] == ["-1", "1"]
    assert from_file.metadata["features"] == {"format": "svmlight", "n_features": N_FEATURES,
                                              "zero_based": False}
    # predict and evaluate on a file: the numbers of the model in process
    run = _fastmlp("predict", "--model", saved, "--data", svm_file, "--proba")
    assert run.returncode == 0, run.stderr
    rows_out = [line.split(",") for line in run.stdout.splitlines()]
    probs = model.predict(X)
    assert rows_out[0] == ["label", "proba_-1", "proba_1"]
    assert [r[0] for r in rows_out[1:]] == [["-1", "1"][k] for k in probs.argmax(axis=1)]
    np.testing.assert_array_equal(np.array([r[1:] for r in rows_out[1:]], np.float32), probs)
    run = _fastmlp("evaluate", "--model", saved, "--data", svm_file, "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == model.evaluate(X, y)
    run = _fastmlp("info", saved)
    assert "inputs: svmlight rows, 60 features (one-based indices)" in run.stdout


def test_new_files_are_read_with_the_training_indexing_and_width(svm_file, tmp_path, capsys):
    saved = tmp_path / "model.npz"
    assert main(["train", "--data", str(svm_file), "--epochs", "1", "--hidden", "4",
                 "--quiet", "--save", str(saved)]) == 0
    model = Model.load(saved)
    # fewer columns (no index above 10) and no index 0 either way: read one-based, padded
    narrow = tmp_path / "narrow.svm"
    narrow.write_text("1 1:1 10:2\n-1 3:0.5\n")
    expected = np.zeros((2, N_FEATURES), np.float32)
    expected[0, [0, 9]], expected[1, 2] = [1, 2], 0.5
    capsys.readouterr()
    assert main(["predict", "--model", str(saved), "--data", str(narrow), "--proba"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    np.testing.assert_array_equal(np.array([r.split(",")[1:] for r in lines], np.float32),
                                  model.predict(expected))
    wide = tmp_path / "wide.svm"
    wide.write_text("1 1:1\n# comment\n-1 3:0.5 61:1\n")
    assert main(["predict", "--model", str(saved), "--data", str(wide)]) == 2
    assert "wide.svm, line 3: index 61 is out of range: the data have 60 features " \
           "(indices 1 to 60)" in capsys.readouterr().err
    unknown = tmp_path / "unknown.svm"
    unknown.write_text("1 1:1\n2 3:0.5\n")
    assert main(["evaluate", "--model", str(saved), "--data", str(unknown)]) == 2
    assert "unknown.svm, line 2: the label 2 is not one of the model's classes (-1, 1)" \
        in capsys.readouterr().err
    # a model of a table refuses svmlight rows, and the other way round
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,1,0\n2,2,1\n3,3,0\n4,4,1\n5,5,0\n"
                     "6,6,1\n")
    assert main(["predict", "--model", str(saved), "--data", str(table)]) == 2
    assert "the model reads svmlight rows (60 features)" in capsys.readouterr().err
    csv_model = tmp_path / "csv.npz"
    assert main(["train", "--data", str(table), "--epochs", "1", "--hidden", "2", "--quiet",
                 "--save", str(csv_model), "--test-size", "0.3"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(csv_model), "--data", str(narrow)]) == 2
    assert "holds svmlight rows; the model was trained on a table" in capsys.readouterr().err


def test_the_conversion_trains_the_model_of_its_rows_read_in_place(svm_file, tmp_path,
                                                                   monkeypatch, capsys):
    assert main(["convert", str(svm_file), str(tmp_path / "conv")]) == 0
    assert "train with --data" in capsys.readouterr().out
    paths = sparse_paths(tmp_path / "conv")
    recorder = Recorder(monkeypatch)
    saved = tmp_path / "model.npz"
    assert main(["train", "--data", paths.meta, "--epochs", "3", "--hidden", "8", "--threads",
                 "1", "--quiet", "--save", str(saved), "--sparse-update", "lazy"]) == 0
    (call,) = recorder.calls
    X_train = call["X"]
    assert call["sparse_update"] == "lazy"
    # the training rows are a range of the mapped files: views, not copies
    for array, name in ((X_train.data, paths.data), (X_train.indices, paths.indices)):
        assert isinstance(array, np.memmap) and array.filename == os.path.abspath(name)
        assert not array.flags.writeable and array.size < read_table(paths.meta).X.nnz
    # the model of the same rows and split (in order: validation and test are the last rows)
    table = read_svmlight(svm_file)
    X = table.features(dtype=np.float32)
    y = (table.single_labels() > 0).astype(np.int64)
    rows = contiguous_split(N_ROWS, 0.2, 0.1)
    model = Model([N_FEATURES, 8, 2], activation="relu", output="softmax", dtype="float32",
                  seed=0, preprocessing="standardize")
    Trainer(model, get_optimizer("adam"), batch_size=32, epochs=3, seed=0, verbose=0,
            n_threads=1, sparse_update="lazy").fit(X[rows.train], y[rows.train],
                                                   validation_data=(X[rows.val], y[rows.val]))
    from_file = Model.load(saved)
    np.testing.assert_array_equal(from_file.predict(X), model.predict(X))
    # evaluate reads the converted rows and the text file alike
    capsys.readouterr()
    metrics = []
    for data in (paths.meta, svm_file):
        assert main(["evaluate", "--model", str(saved), "--data", str(data), "--json"]) == 0
        metrics.append(json.loads(capsys.readouterr().out))
    assert metrics[0] == metrics[1] == model.evaluate(X, y)


def test_multilabel_rows_train_sigmoid_outputs(tmp_path, capsys):
    X, _ = _sparse_problem(seed=3)
    rng = np.random.default_rng(3)
    Y = (rng.random((N_ROWS, 3)) < 0.4).astype(int)
    path = tmp_path / "multi.svm"
    dump_svmlight_file(X, Y, str(path), multilabel=True, zero_based=False)
    saved = tmp_path / "m.npz"
    assert main(["train", "--data", str(path), "--epochs", "2", "--hidden", "8", "--quiet",
                 "--threads", "1", "--save", str(saved)]) == 0
    assert "3 labels (multi-label)" in capsys.readouterr().out
    model = Model.load(saved)
    assert model.output == "sigmoid" and model.loss == "binary_cross_entropy"
    assert model.metadata["task"] == "multilabel" and model.metadata["classes"] == ["0", "1", "2"]
    table = read_svmlight(path)
    X_file = table.features()
    assert main(["predict", "--model", str(saved), "--data", str(path)]) == 0
    predicted = capsys.readouterr().out.splitlines()[1:]
    probs = model.predict(X_file)
    expected = [",".join(str(j) for j in np.flatnonzero(p > 0.5)) for p in probs]
    assert [line.strip('"') for line in predicted] == expected
    assert main(["evaluate", "--model", str(saved), "--data", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == model.evaluate(X_file, Y)
    # its conversion: 0/1 rows over the labels, evaluated alike
    assert main(["convert", str(path), str(tmp_path / "mc")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(saved), "--data", str(tmp_path / "mc.meta.json"),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == model.evaluate(X_file, Y)
    # one label per row is asked for: the first row of several is named
    assert main(["train", "--data", str(path), "--task", "classification", "--quiet"]) == 2
    first = int(np.argmax(Y.sum(axis=1) != 1)) + 1
    assert f"multi.svm, line {first}: " in capsys.readouterr().err


def test_compare_and_search_get_the_sparse_rows(svm_file, monkeypatch, capsys):
    assert main(["compare", "--data", str(svm_file), "--epochs", "1", "--hidden", "4",
                 "--plot", ""]) == 0
    assert "L-BFGS" in capsys.readouterr().out
    received = {}

    class Stop(Exception):
        pass

    def recording_search(X, y, space, **kwargs):
        received.update(X=X, y=y, task=kwargs["task"])
        raise Stop

    monkeypatch.setattr(fastmlp.cli.experiments, "search", recording_search)
    with pytest.raises(Stop):
        main(["search", "--data", str(svm_file), "--trials", "1", "--epochs", "1"])
    table = read_svmlight(svm_file)
    assert is_sparse(received["X"]) and (received["X"] != table.features()).nnz == 0
    assert received["task"] == "classification"
    assert received["y"].tolist() == (table.single_labels() > 0).astype(int).tolist()


@pytest.mark.parametrize("args, message", [
    (["--target", "y"], "an svmlight file has no named columns"),
    (["--impute", "mean"], "--impute and --categorical apply to tables"),
    (["--preprocessing", "whiten"], "would make a sparse input dense"),
])
def test_flags_that_do_not_apply_are_refused(svm_file, args, message, capsys):
    assert main(["train", "--data", str(svm_file), "--epochs", "1", "--quiet", *args]) == 2
    assert message in capsys.readouterr().err


def test_the_indexing_flag_takes_three_values(svm_file, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--data", str(svm_file), "--zero-based", "maybe"])
    assert "--zero-based takes auto, true or false, got 'maybe'" in capsys.readouterr().err
    # said to be zero-based, the one-based file has a column more, in front
    assert main(["train", "--data", str(svm_file), "--zero-based", "true", "--epochs", "1",
                 "--hidden", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "zero_based = true" in out and f"{N_FEATURES + 1} inputs" in out


def test_bad_files_exit_2_naming_the_line_and_convert_leaves_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.svm"
    bad.write_text("1 1:0.5\n-1 2:1 2:3\n")
    assert main(["train", "--data", str(bad), "--quiet"]) == 2
    assert "bad.svm, line 2: the index 2 follows 2" in capsys.readouterr().err
    assert main(["convert", str(bad), str(tmp_path / "out") + "/"]) == 2
    assert "bad.svm, line 2" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.svm"]
    assert main(["convert", str(bad), str(tmp_path / "o"), "--target", "y"]) == 2
    assert "--target, --impute and --categorical apply to CSV files" in capsys.readouterr().err
    table = tmp_path / "t.csv"
    table.write_text("a,y\n1,0\n")
    assert main(["train", "--data", str(table), "--task", "multilabel", "--quiet"]) == 2
    assert "--task multilabel takes svmlight files" in capsys.readouterr().err
