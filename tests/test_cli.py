"""The command line: the main job on the shipped digits, CSV/NPZ input, errors."""

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
    import fastmlp.cli
    from fastmlp.callbacks import Callback

    class CtrlC(Callback):
        # as if Ctrl-C came after the third epoch's first batches
        def on_chunk_end(self, trainer, epoch, done, total):
            if epoch == 2:
                raise KeyboardInterrupt

    real = fastmlp.cli.Trainer

    def trainer_with_ctrl_c(*args, **kwargs):
        return real(*args, callbacks=[CtrlC()], **kwargs)

    monkeypatch.setattr(fastmlp.cli, "Trainer", trainer_with_ctrl_c)
    assert main(["train", "--epochs", "5", "--hidden", "16", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted in epoch 3: the model keeps the weights after the last completed " \
           "batch" in err and "2 completed epochs" in err
