"""Data-parallel training over MPI: two ranks (``mpiexec -n 2``) against one process.

The ranks run tests/mpi_worker.py and write what they end with; the
references are trained here, in one process, with the same settings.
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm

pytest.importorskip("mpi4py", reason="data-parallel training needs fastmlp[mpi]")
HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
if MPIEXEC is None:
    pytest.skip("no mpiexec (pip install 'fastmlp[mpi]' brings MPICH's)",
                allow_module_level=True)

sys.path.insert(0, HERE)
import mpi_worker  # noqa: E402  (beside this file)


def two_ranks(*args, check=True, timeout=180):
    """Run ``python -m mpi4py`` (which aborts the job on an uncaught error) on 2 ranks."""
    done = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "mpi4py", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=HERE)
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def equality(tmp_path_factory):
    out = tmp_path_factory.mktemp("equality")
    two_ranks("mpi_worker.py", "equality", str(out))
    return out


@pytest.mark.parametrize("name", list(mpi_worker.CONFIGS))
def test_two_ranks_give_the_single_process_result(equality, name):
    reference, history = mpi_worker.trained(name)
    ranks = [np.load(equality / f"{name}-rank{r}.npy") for r in (0, 1)]
    assert np.array_equal(ranks[0], ranks[1])  # bit-identical on every rank
    with open(equality / f"{name}-history.json") as f:
        distributed = json.load(f)
    running = np.load(equality / f"{name}-running-rank0.npy")
    if reference.dtype == np.float64:
        # only the order of the gradient's sum differs: a few ulps after 4 epochs
        np.testing.assert_allclose(ranks[0], reference.params, rtol=0, atol=1e-10)
        # batch norm's running statistics: of the whole global batches
        np.testing.assert_allclose(running, reference.running_stats, rtol=1e-10, atol=1e-12)
        for key in history:
            if key.endswith(("loss", "accuracy")):
                np.testing.assert_allclose(distributed[key], history[key], rtol=1e-10)
    else:
        np.testing.assert_allclose(ranks[0], reference.params, rtol=0, atol=1e-5)
    assert not np.array_equal(ranks[0], fm.Model([12, 16, 8, 3], seed=0).params.astype(
        ranks[0].dtype))  # it trained


def test_lbfgs_on_two_ranks_gives_the_single_process_result(equality):
    # each rank evaluates the objective on half the rows; one all-reduce sums them
    reference, history = mpi_worker.lbfgs_trained()
    ranks = [np.load(equality / f"lbfgs-rank{r}.npy") for r in (0, 1)]
    assert np.array_equal(ranks[0], ranks[1])
    np.testing.assert_allclose(ranks[0], reference.params, rtol=0, atol=1e-9)
    with open(equality / "lbfgs-history.json") as f:
        distributed = json.load(f)
    assert len(distributed["loss"]) == len(history["loss"])
    np.testing.assert_allclose(distributed["val_loss"], history["val_loss"], rtol=1e-9)


@pytest.mark.parametrize("name", list(mpi_worker.SPARSE_CONFIGS))
def test_a_sparse_x_on_two_ranks_gives_the_single_process_result(equality, name):
    # each rank reads its share of every batch's rows of the CSR matrix; the
    # lazy update lists the rows of W_0 the whole batch touches, on every rank
    reference, history = mpi_worker.trained(name)
    ranks = [np.load(equality / f"{name}-rank{r}.npy") for r in (0, 1)]
    assert np.array_equal(ranks[0], ranks[1])
    np.testing.assert_allclose(ranks[0], reference.params, rtol=0, atol=1e-10)
    with open(equality / f"{name}-history.json") as f:
        distributed = json.load(f)
    for key in history:
        if key.endswith(("loss", "accuracy")):
            np.testing.assert_allclose(distributed[key], history[key], rtol=1e-10)


def test_the_sparse_cases_on_two_ranks_differ_from_each_other(equality):
    # the lazy update leaves rows the exact one changes: the lazy case tests something
    exact, lazy = (np.load(equality / f"sparse_{kind}-rank0.npy") for kind in ("exact", "lazy"))
    assert not np.allclose(exact, lazy, rtol=0, atol=1e-6)
    features = mpi_worker.sparse_data()[0].shape[1]
    start = fm.Model([features, 16, 8, 3], seed=0, dtype="float64").params
    assert not np.array_equal(lazy, start)  # it trained


def test_sparse_lbfgs_on_two_ranks_gives_the_single_process_result(equality):
    # each rank evaluates the objective on its contiguous half of the CSR rows
    reference, history = mpi_worker.lbfgs_trained(sparse=True)
    ranks = [np.load(equality / f"sparse_lbfgs-rank{r}.npy") for r in (0, 1)]
    assert np.array_equal(ranks[0], ranks[1])
    np.testing.assert_allclose(ranks[0], reference.params, rtol=0, atol=1e-9)
    with open(equality / "sparse_lbfgs-history.json") as f:
        distributed = json.load(f)
    assert len(distributed["loss"]) == len(history["loss"])
    np.testing.assert_allclose(distributed["val_loss"], history["val_loss"], rtol=1e-9)


def test_a_memory_map_prepared_call_by_call_on_two_ranks(equality):
    # each rank gathers and standardises only its own rows of every batch
    reference, _ = mpi_worker.trained("standardized_split")
    mapped = np.load(equality / "memmap-rank0.npy")
    assert np.array_equal(mapped, np.load(equality / "memmap-rank1.npy"))
    assert np.array_equal(mapped, np.load(equality / "standardized_split-rank0.npy"))
    np.testing.assert_allclose(mapped, reference.params, rtol=0, atol=1e-10)


def test_mistakes_raise_the_same_error_on_every_rank(tmp_path):
    two_ranks("mpi_worker.py", "mistakes", str(tmp_path))
    reports = []
    for rank in (0, 1):
        with open(tmp_path / f"mistakes-rank{rank}.json") as f:
            reports.append(json.load(f))
    expected = {"rows": "training data shape", "seed": "mask_seed", "model": "model (",
                "batch_size": "batch_size (rank 0: 32, rank 1: 33)",
                "nan_on_one_rank": "row 7, column 3",
                "batch_norm_lbfgs": "batch normalisation with a full-batch minimizer",
                "mid_epoch_checkpoints": "checkpoint_every in epochs"}
    for case, words in expected.items():
        for report in reports:
            assert report[case] is not None and words in report[case], (case, report[case])
    assert reports[0]["rows"] == reports[1]["rows"]
    assert reports[1]["nan_on_one_rank"].startswith("ValueError")  # its own error
    assert reports[0]["nan_on_one_rank"].startswith("RankMismatchError: rank 1 failed")
    # nothing hung, and the ranks still train together afterwards
    assert np.array_equal(np.load(tmp_path / "after-rank0.npy"),
                          np.load(tmp_path / "after-rank1.npy"))


def test_a_killed_rank_resumes_bit_identical(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    whole.mkdir()
    cut.mkdir()
    two_ranks("mpi_worker.py", "checkpointed", str(whole), "0")
    killed = two_ranks("mpi_worker.py", "checkpointed", str(cut), "3", check=False)
    assert killed.returncode != 0  # rank 1 died after epoch 3; the job ended
    assert not (cut / "checkpointed-rank0.npy").exists()
    two_ranks("mpi_worker.py", "checkpointed", str(cut), "resume")
    expected = np.load(whole / "checkpointed-rank0.npy")
    for rank in (0, 1):
        assert np.array_equal(np.load(cut / f"checkpointed-rank{rank}.npy"), expected)


def test_a_communicator_of_one_rank_is_plain_training():
    from mpi4py import MPI

    for name in ("adam", "dropout"):
        plain, plain_history = mpi_worker.trained(name)
        alone, history = mpi_worker.trained(name, MPI.COMM_SELF)
        assert np.array_equal(alone.params, plain.params)
        assert history["loss"] == plain_history["loss"]


def test_batch_norm_needs_a_row_of_every_batch_on_every_rank():
    from mpi4py import MPI

    from fastmlp.training.distributed import Ranks

    ranks = Ranks(MPI.COMM_SELF)
    ranks.size = 4  # as a rank of four would check
    ranks.check_shares(1003, 64, batch_norm=True)  # last batch: 43 rows
    ranks.check_shares(1001, 100, batch_norm=False)  # an empty share adds zeros
    with pytest.raises(ValueError, match="leaves a batch of 1 for 4 ranks"):
        ranks.check_shares(1001, 100, batch_norm=True)


def test_the_comm_argument_is_checked():
    with pytest.raises(TypeError, match="intracommunicator"):
        fm.Trainer(fm.Model([2, 2]), comm="world")
    from mpi4py import MPI

    with pytest.raises(ValueError, match="checkpoint_every in epochs"):
        fm.Trainer(fm.Model([2, 2]), comm=MPI.COMM_SELF, checkpoint_dir="ck",
                   checkpoint_every="10min")


def test_the_command_line_trains_on_two_ranks(tmp_path):
    args = ["train", "--epochs", "3", "--dtype", "float64", "--json", "--quiet"]
    distributed = two_ranks("-m", "fastmlp", *args, "--distributed",
                            "--save", str(tmp_path / "model.npz"))
    single = subprocess.run([sys.executable, "-m", "fastmlp", *args], capture_output=True,
                            text=True, timeout=180, check=True)
    # one JSON line: rank 0 reports, the other rank is silent
    lines = [line for line in distributed.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    got, expected = json.loads(lines[0])["test"], json.loads(single.stdout)["test"]
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12)
    assert fm.load(tmp_path / "model.npz").n_inputs == 64
