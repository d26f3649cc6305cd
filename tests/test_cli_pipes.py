"""A closed pipe ends a command quietly, as Unix tools end: ``fastmlp predict ... | head -1``.

Each command writes into a real pipe whose reader goes away -- after one
line, as ``head -1`` does, or before the command writes anything -- and
must exit with 0 or 141 (128 + SIGPIPE) and nothing on stderr but its
usual notes: no traceback, no "error".  A broken pipe that is not stdout's
stays an error.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from fastmlp.cli import commands, main
from fastmlp.datasets import load_digits

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and SIGPIPE")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved model and a CSV of inputs whose predictions far exceed a pipe's buffer."""
    folder = tmp_path_factory.mktemp("pipes")
    model = folder / "m.npz"
    assert main(["train", "--epochs", "1", "--hidden", "8", "--quiet", "--save",
                 str(model)]) == 0
    X, _ = load_digits()
    X = np.tile(X, (4, 1))  # 7,188 rows of 10 probabilities: about 1.4 MB of output
    header = ",".join(f"x{i}" for i in range(X.shape[1]))
    np.savetxt(folder / "inputs.csv", X, delimiter=",", header=header, comments="", fmt="%g")
    return {"model": str(model), "inputs": str(folder / "inputs.csv")}


COMMANDS = {
    "predict": ["predict", "--model", "{model}", "--data", "{inputs}", "--proba"],
    "info": ["info", "{model}"],
    "train": ["train", "--epochs", "2", "--hidden", "8"],
    "search": ["search", "--trials", "2", "--epochs", "1"],
}


def run_into_pipe(argv, files, lines_read):
    """Run ``fastmlp argv`` with stdout a pipe whose reader reads ``lines_read`` lines and
    closes it; (exit code, the lines read, stderr)."""
    argv = [a.format(**files) for a in argv]
    read_end, write_end = os.pipe()
    reader = os.fdopen(read_end, "r")
    try:
        if not lines_read:
            reader.close()  # gone before the command writes a byte
        child = subprocess.Popen([sys.executable, "-m", "fastmlp", *argv], stdout=write_end,
                                 stderr=subprocess.PIPE, text=True)
        os.close(write_end)
        got = [reader.readline() for _ in range(lines_read)]
        reader.close()
        _, err = child.communicate(timeout=600)
    finally:
        reader.close()
    return child.returncode, got, err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("lines_read", [1, 0])
def test_a_closed_pipe_ends_a_command_quietly(command, lines_read, files):
    code, got, err = run_into_pipe(COMMANDS[command], files, lines_read)
    if lines_read == 0 or command == "predict":  # the command wrote into the closed pipe
        assert code == 141, err
    else:  # a short output may have been written whole before the reader went
        assert code in (0, 141), err
    assert "Traceback" not in err and "error" not in err.lower() and "Exception" not in err
    assert "Broken pipe" not in err
    first = {"predict": "y,proba_0,", "info": "model:", "train": "configuration",
             "search": "data:"}[command]
    assert all(line.startswith(first) for line in got)


def test_a_broken_pipe_other_than_stdout_stays_an_error(monkeypatch, capsys):
    def command(args):
        raise BrokenPipeError(32, "Broken pipe")  # a worker's pipe, say; stdout is fine

    monkeypatch.setitem(commands.COMMANDS, "info", command)
    assert main(["info", "m.npz"]) == 2
    assert capsys.readouterr().err.startswith("fastmlp: error: [Errno 32] Broken pipe")
