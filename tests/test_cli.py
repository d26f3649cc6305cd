"""The command line: the main job on the shipped digits, CSV/NPZ input, errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fastmlp.cli import main


def test_default_main_job_reaches_accuracy(capsys):
    assert main(["train", "--quiet"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy") and "samples/s" in last
    accuracy = float(last.split()[2])
    assert accuracy >= 0.96


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "fastmlp", "train", "--epochs", "2",
                             "--hidden", "32"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout and "test accuracy" in result.stdout


def _write_csv(path, rng, text_target=False):
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    labels = np.where(y == 1, "yes", "no") if text_target else y
    lines = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{t}" for r, t in zip(X, labels)]
    path.write_text("\n".join(lines) + "\n")


def test_csv_classification_with_text_labels(tmp_path, rng, capsys):
    path = tmp_path / "data.csv"
    _write_csv(path, rng, text_target=True)
    assert main(["train", "--data", str(path), "--target", "label", "--epochs", "20",
                 "--hidden", "16", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2 classes" in out and "test accuracy" in out


def test_npz_regression(tmp_path, rng, capsys):
    X = rng.standard_normal((200, 4))
    np.savez(tmp_path / "d.npz", X=X, price=X @ [1.0, 2.0, -1.0, 0.5])
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--target", "price", "--epochs",
                 "30", "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.9", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "regression" in out
    r2 = float(out.strip().splitlines()[-1].split()[2])
    assert r2 > 0.9


@pytest.mark.parametrize("args, message", [
    (["--data", "/nonexistent/file.csv"], "cannot read"),
    (["--data", "{csv}", "--target", "nope"], "no column named 'nope'"),
    (["--activation", "rectifier"], "valid names"),
    (["--optimizer", "adamw2"], "valid names"),
    (["--lr", "-1"], "lr must be"),
    (["--batch-size", "0"], "batch_size"),
    (["--momentum", "0.9"], "sgd only"),
    (["--data", "{txt}"], "not numeric"),
])
def test_errors_are_reported(args, message, tmp_path, rng, capsys):
    csv = tmp_path / "ok.csv"
    _write_csv(csv, rng)
    txt = tmp_path / "bad.csv"
    txt.write_text("a,b,y\n1,x,0\n2,3,1\n")
    args = [a.format(csv=csv, txt=txt) for a in args]
    assert main(["train", "--epochs", "1", "--quiet", *args]) == 2
    assert message in capsys.readouterr().err


def test_npz_with_object_arrays_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.array([{"a": 1}, None, 3], dtype=object))
    assert main(["train", "--data", str(path), "--quiet"]) == 2
    assert "refused" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "train" in capsys.readouterr().out


def test_compare_prints_every_method(tmp_path, capsys):
    prefix = str(tmp_path / "cmp")
    assert main(["compare", "--epochs", "2", "--hidden", "16", "--plot", prefix]) == 0
    out = capsys.readouterr().out
    for name in ("SGD (mini-batch)", "SGD + momentum", "SGD + Nesterov", "SGD + cooling",
                 "AdaGrad", "RMSProp", "AdaDelta", "Adam", "NAdam", "AdaMax", "Rprop", "L-BFGS"):
        assert name in out
    assert "val accuracy" in out and "to loss" in out
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "install matplotlib" in out
    else:
        assert (tmp_path / "cmp-loss-vs-epoch.png").exists()
        assert (tmp_path / "cmp-loss-vs-time.png").exists()


def test_train_with_lbfgs_and_rprop(capsys):
    assert main(["train", "--optimizer", "lbfgs", "--epochs", "5", "--hidden", "32",
                 "--quiet"]) == 0
    assert "batch size full" in capsys.readouterr().out
    assert main(["train", "--optimizer", "rprop", "--epochs", "3", "--hidden", "32",
                 "--quiet"]) == 0


def test_ctrl_c_says_what_the_model_kept_and_exits_130(monkeypatch, capsys):
    import fastmlp.cli.train
    from fastmlp.callbacks import Callback

    class CtrlC(Callback):
        # as if Ctrl-C came after the third epoch's first batches
        def on_chunk_end(self, trainer, epoch, done, total):
            if epoch == 2:
                raise KeyboardInterrupt

    real = fastmlp.cli.train.Trainer

    def trainer_with_ctrl_c(*args, **kwargs):
        return real(*args, callbacks=[CtrlC()], **kwargs)

    monkeypatch.setattr(fastmlp.cli.train, "Trainer", trainer_with_ctrl_c)
    assert main(["train", "--epochs", "5", "--hidden", "16", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted in epoch 3: the model keeps the weights after the last completed " \
           "batch" in err and "2 completed epochs" in err


# ------------------------------------------------------- the workflow: train, save, predict
def _fastmlp(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmlp", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _write_mixed_csv(path, rng, n=90, gap=True):
    """Numbers, a text column, text labels, and (``gap``) one missing cell on line 4."""
    X = rng.standard_normal((n, 2))
    color = rng.choice(["red", "blue", "green"], n)
    label = np.where(X[:, 0] + (color == "red") > 0.3, "yes", "no")
    lines = ["a,b,color,label"] + [f"{r[0]:.5f},{r[1]:.5f},{c},{t}"
                                   for r, c, t in zip(X, color, label)]
    if gap:
        lines[3] = "NA," + lines[3].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")


def test_train_save_predict_evaluate_info_reproduce_the_in_process_numbers(tmp_path, rng):
    import json

    import fastmlp
    from fastmlp.cli.predict import model_inputs
    from fastmlp.data.encoding import label_indices
    from fastmlp.data.tables import read_table

    data, model_file, preds = tmp_path / "d.csv", tmp_path / "m.npz", tmp_path / "p.csv"
    _write_mixed_csv(data, rng)
    run = _fastmlp("train", "--data", data, "--impute", "median", "--epochs", 3, "--hidden", 8,
                   "--save", model_file, "--json")
    assert run.returncode == 0, run.stderr
    trained = json.loads(run.stdout)  # stdout holds the JSON alone
    assert trained["epochs"] == 3 and set(trained["test"]) == {"loss", "accuracy"}
    assert 'impute = "median"' in run.stderr and 'target = "label"' in run.stderr
    run = _fastmlp("predict", "--model", model_file, "--data", data, "--output", preds,
                   "--proba")
    assert run.returncode == 0, run.stderr
    model = fastmlp.load(model_file)
    table = read_table(data)
    X = model_inputs(model, table.without("label"))
    probs = model.predict(X)
    rows = [line.split(",") for line in preds.read_text().splitlines()]
    assert rows[0] == ["label", "proba_no", "proba_yes"]
    assert [r[0] for r in rows[1:]] == [["no", "yes"][k] for k in probs.argmax(axis=1)]
    np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], dtype=np.float32), probs)
    run = _fastmlp("evaluate", "--model", model_file, "--data", data, "--json")
    assert run.returncode == 0, run.stderr
    y = label_indices(table, "label", ["no", "yes"], False)
    assert json.loads(run.stdout) == model.evaluate(X, y)
    run = _fastmlp("info", model_file)
    assert run.returncode == 0, run.stderr
    for text in ("[5, 8, 2]", "float32", "66 parameters", "standardize", "classes: no, yes",
                 "one-hot: color", "imputed (median)", "training epochs: 3", "test_metrics"):
        assert text in run.stdout


def test_input_errors_exit_2_with_row_and_column_and_no_traceback(tmp_path, rng):
    data, model_file = tmp_path / "d.csv", tmp_path / "m.npz"
    _write_mixed_csv(data, rng)
    run = _fastmlp("train", "--data", data, "--epochs", 1, "--hidden", 4)
    assert run.returncode == 2
    assert "line 4, column 'a': missing value ('NA')" in run.stderr
    assert "Traceback" not in run.stderr
    _write_mixed_csv(data, rng, gap=False)
    assert main(["train", "--data", str(data), "--epochs", "1", "--hidden", "4", "--quiet",
                 "--save", str(model_file)]) == 0
    new = tmp_path / "new.csv"
    new.write_text("a,b,color\n1,2,red\n3,4,purple\n")
    run = _fastmlp("predict", "--model", model_file, "--data", new)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "line 3, column 'color': category 'purple' was not seen in training" in run.stderr
    run = _fastmlp("predict", "--model", model_file)  # a usage error
    assert run.returncode == 2 and "--data" in run.stderr


def test_a_diverging_run_exits_1(capsys):
    assert main(["train", "--optimizer", "sgd", "--lr", "1e12", "--epochs", "3", "--hidden",
                 "16", "--quiet", "--dtype", "float32"]) == 1
    assert "training failed" in capsys.readouterr().err


def test_config_file_with_flag_overrides_and_printed_settings(tmp_path, capsys):
    from fastmlp.cli.settings import read_config
    config = tmp_path / "run.toml"
    config.write_text('hidden = [8]\nepochs = 5\noptimizer = "sgd"\nlr = 0.05\n'
                      'schedule = "step"\nschedule_params = { step_size = 1, gamma = 0.5 }\n')
    assert main(["train", "--config", str(config), "--epochs", "2", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["epochs"] == 2  # the flag won
    printed = captured.err.split("configuration (as a --config file):\n")[1].split("\ndata:")[0]
    again = tmp_path / "again.toml"
    again.write_text(printed)
    settings = read_config(again)  # what was printed is a config file of the same run
    assert settings["epochs"] == 2 and settings["hidden"] == [8] and settings["lr"] == 0.05
    assert settings["schedule_params"] == {"step_size": 1, "gamma": 0.5}
    config.write_text("epoch = 3\n")
    assert main(["train", "--config", str(config)]) == 2
    assert "unknown setting 'epoch'" in capsys.readouterr().err


def test_resume_from_checkpoints_ends_with_the_uninterrupted_weights(tmp_path, capsys):
    import fastmlp
    ck = tmp_path / "ck"
    common = ["--hidden", "8", "--quiet", "--dropout", "0.1", "--l2", "1e-4",
              "--early-stopping", "10"]
    assert main(["train", "--epochs", "3", "--checkpoint-dir", str(ck), "--save",
                 str(tmp_path / "full.npz"), *common]) == 0
    (ck / "checkpoint-00000003.npz").unlink()  # as if killed after epoch 2
    assert main(["train", "--resume", str(ck), "--save", str(tmp_path / "resumed.npz"),
                 "--quiet"]) == 0
    full, resumed = fastmlp.load(tmp_path / "full.npz"), fastmlp.load(tmp_path / "resumed.npz")
    np.testing.assert_array_equal(full.params, resumed.params)
    assert resumed.metadata["training"]["epochs"] == 3
    assert main(["train", "--resume", str(ck), "--seed", "5"]) == 2
    assert "its seed was 0, not 5" in capsys.readouterr().err
