"""One file, every command: train, compare, search and convert read a table the same way."""

import re

import numpy as np
import pytest

from fastmlp.cli import main

N_ROWS = 120
COLOURS = ("blue", "green", "red")


@pytest.fixture
def mixed_csv(tmp_path):
    """Two numeric columns, a text column, a blank line and a numeric (0/1) target."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N_ROWS, 2))
    colour = rng.choice(COLOURS, N_ROWS)
    label = (X[:, 0] + (colour == "red") > 0.5).astype(int)
    lines = ["size,weight,colour,label"]
    lines += [f"{a},{b},{c},{t}" for (a, b), c, t in zip(X, colour, label)]
    lines.insert(40, "")  # a blank line among the rows
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


# the inputs a model sees: the numbers, and one per colour (one-hot)
N_INPUTS = 2 + len(COLOURS)


@pytest.fixture
def converted(mixed_csv, tmp_path, capsys):
    out = tmp_path / "mixed.npy"
    assert main(["convert", str(mixed_csv), str(out), "--target", "label"]) == 0
    assert f"{N_ROWS:,} rows x {N_INPUTS} features written" in capsys.readouterr().out
    return out


def _split_sizes(out):
    match = re.search(r"split: (\d+) train / (\d+) validation / (\d+) test", out)
    return tuple(int(g) for g in match.groups())


@pytest.mark.parametrize("which", ["csv", "npy"])
def test_train_compare_and_search_take_the_same_file(which, mixed_csv, converted, capsys):
    path = str(mixed_csv if which == "csv" else converted)
    assert main(["train", "--data", path, "--target", "label", "--epochs", "2", "--hidden",
                 "8", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"{N_ROWS} samples, {N_INPUTS} inputs, 2 classes" in out
    n_train, n_val, n_test = _split_sizes(out)
    assert n_train + n_val + n_test == N_ROWS

    assert main(["compare", "--data", path, "--target", "label", "--epochs", "1", "--hidden",
                 "8", "--plot", ""]) == 0
    out = capsys.readouterr().out
    # the same split as train's (same sizes and seeds), the text column one-hot encoded
    assert f"(target 'label'): {n_train} train / {n_val} validation samples" in out
    assert f"Model([{N_INPUTS}, 8, 2]" in out and "L-BFGS" in out

    assert main(["search", "--data", path, "--target", "label", "--trials", "2", "--epochs",
                 "1"]) == 0
    out = capsys.readouterr().out
    assert f"(target 'label'): {N_ROWS} samples, {N_INPUTS} inputs" in out
    assert "test accuracy of the best" in out


def test_the_target_defaults_alike(mixed_csv, converted, capsys):
    # the last column of the CSV file; the converted file's own target
    for path in (mixed_csv, converted):
        assert main(["compare", "--data", str(path), "--epochs", "1", "--hidden", "4",
                     "--plot", ""]) == 0
        assert "(target 'label')" in capsys.readouterr().out


def test_a_converted_file_is_searched_in_order_without_a_copy(converted, monkeypatch, capsys):
    import fastmlp.cli.experiments

    received = {}
    real = fastmlp.cli.experiments.search

    def recording_search(X, y, space, **kwargs):
        received.update(X=X, validation=kwargs["validation_data"], test=kwargs["test_data"])
        return real(X, y, space, **kwargs)

    monkeypatch.setattr(fastmlp.cli.experiments, "search", recording_search)
    assert main(["search", "--data", str(converted), "--trials", "1", "--epochs", "1",
                 "--test-size", "0.25", "--validation-size", "0.25"]) == 0
    X, (X_val, _), (X_test, _) = received["X"], received["validation"], received["test"]
    assert isinstance(X, np.memmap) and isinstance(X_test, np.memmap)
    # a quarter of the rows for the test, a quarter for validation: the last ones
    assert (len(X), len(X_val), len(X_test)) == (N_ROWS // 2, N_ROWS // 4, N_ROWS // 4)
    whole = np.load(converted)
    np.testing.assert_array_equal(X_test, whole[-N_ROWS // 4:])
    np.testing.assert_array_equal(X_val, whole[N_ROWS // 2:-N_ROWS // 4])


def test_compare_refuses_a_gap_as_train_does(tmp_path, capsys):
    path = tmp_path / "gap.csv"
    path.write_text("a,colour,y\n1,red,0\n2,,1\n3,blue,0\n4,red,1\n")
    for command in (["train", "--quiet"], ["compare", "--plot", ""],
                    ["search", "--trials", "1"]):
        assert main([*command, "--data", str(path), "--epochs", "1"]) == 2
        assert "line 3, column 'colour': missing value" in capsys.readouterr().err
