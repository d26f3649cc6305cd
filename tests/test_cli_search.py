"""``fastmlp search``: the default search, flags, space files, results and input errors."""

import csv

import pytest

from fastmlp.cli import main


def test_default_search_prints_leaderboard_best_and_test_score(capsys):
    assert main(["search", "--trials", "3", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "leaderboard (validation scores):" in out
    assert "best configuration (trial" in out
    assert "test accuracy of the best, retrained on training + validation data:" in out


def test_space_file_results_and_resume(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text('lr = {loguniform = [1e-3, 1e-1]}\nhidden = [[16], [32]]\n')
    results = tmp_path / "r.csv"
    args = ["search", "--space", str(space), "--trials", "4", "--rounds", "2", "--epochs", "1",
            "--results", str(results), "--seed", "3"]
    assert main(args) == 0
    with open(results, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["round"]) for r in rows] == [0, 0, 1, 1]
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert "  trial " not in capsys.readouterr().out  # every trial was finished already


def test_halving_and_grid_methods(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text('{"lr": [0.01, 0.03], "hidden": [[16]]}')
    assert main(["search", "--space", str(space), "--method", "grid", "--epochs", "1"]) == 0
    assert main(["search", "--space", str(space), "--method", "halving", "--trials", "2",
                 "--epochs", "3", "--eta", "2"]) == 0
    out = capsys.readouterr().out
    assert "(round 1)" in out


@pytest.mark.parametrize("extra, message", [
    (["--space", "{dir}/bad.toml"], "not valid TOML"),
    (["--space", "{dir}/unknown.toml"], "valid names"),
    (["--space", "{dir}/grid.toml", "--method", "grid", "--trials", "1"], "budget"),
    (["--resume"], "--results"),
    (["--data", "{dir}/missing.csv"], "missing.csv"),
    (["--jobs", "0"], "n_jobs"),
])
def test_input_errors_exit_2_with_a_message(tmp_path, capsys, extra, message):
    (tmp_path / "bad.toml").write_text("lr = {loguniform = [")
    (tmp_path / "unknown.toml").write_text("learning_rate = [0.1]")
    (tmp_path / "grid.toml").write_text("lr = [0.1, 0.2]")
    argv = ["search", "--trials", "2", "--epochs", "1"]
    argv += [a.replace("{dir}", str(tmp_path)) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastmlp: error:") and message in err
