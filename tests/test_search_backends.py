"""Every backend ``fastmlp search --backend`` lists gives the rows of a search in this process.

A small grid (3 trials, 1 epoch) runs once sequentially in this process and
once on each backend with 2 jobs; the results files must hold the same
trials with the same scores, to the bit (every trial trains with one thread
from the same seed wherever it runs), and ``--resume`` must run none again.
Ray runs on a local instance of 2 CPUs started here (skipped without ray).
"""

import csv

import pytest

from fastmlp.cli import main
from fastmlp.search.backends import BACKENDS

ENGINES = {"loky": "joblib", "dask": "distributed", "ray": "ray"}


def read_rows(path):
    """The results file's rows by trial, without the wall times."""
    with open(path, newline="") as f:
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]
    return sorted(rows, key=lambda row: int(row["trial"]))


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.json"
    path.write_text('{"lr": [0.01, 0.02, 0.05], "hidden": [[16]]}')
    return path


def search_args(space, results, *extra):
    return ["search", "--space", str(space), "--method", "grid", "--epochs", "1", "--seed",
            "5", "--results", str(results), *extra]


@pytest.fixture(scope="module")
def reference(space, tmp_path_factory):
    """The rows of the search run one trial after another in this process."""
    results = tmp_path_factory.mktemp("reference") / "r.csv"
    assert main(search_args(space, results, "--jobs", "1")) == 0
    rows = read_rows(results)
    assert [row["status"] for row in rows] == ["ok"] * 3
    return rows


@pytest.fixture(scope="module")
def ray_session():
    """A local Ray instance of 2 CPUs for the module; the search uses it, does not end it."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_the_command_line_lists_every_backend(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    assert "--backend {" + ",".join(BACKENDS) + "}" in capsys.readouterr().out


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_gives_the_rows_of_this_process_and_resumes(backend, space, reference,
                                                                 tmp_path, capsys, request):
    if backend in ENGINES:
        pytest.importorskip(ENGINES[backend])
    if backend == "ray":
        ray = request.getfixturevalue("ray_session")
    results = tmp_path / "r.csv"
    assert main(search_args(space, results, "--backend", backend, "--jobs", "2")) == 0
    assert read_rows(results) == reference
    if backend == "ray":  # the instance of this test, still there
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
    capsys.readouterr()
    assert main(search_args(space, results, "--backend", backend, "--jobs", "2",
                            "--resume")) == 0
    assert "  trial " not in capsys.readouterr().out  # every trial was finished already
    assert read_rows(results) == reference
