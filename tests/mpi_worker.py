"""Runs under ``mpiexec -n 2`` for tests/test_distributed.py (not a test module).

    mpiexec -n 2 python -m mpi4py tests/mpi_worker.py SCENARIO OUT_DIR [ARGS]

Every rank writes what it ends with into OUT_DIR; the tests compare it with
single-process training done in the test process itself.
"""

import json
import os
import sys

import numpy as np
import scipy.sparse as sp

import fastmlp as fm


def data(dtype="float64", rows=1003):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 12)).astype(dtype)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y


def sparse_data(rows=1003, features=200):
    """A CSR X (float64) of about 6 values a row: a batch of 64 rows leaves many of the
    200 features out, so the lazy update differs from the exact one."""
    rng = np.random.default_rng(1)
    X = sp.random(rows, features, density=0.03, format="csr", random_state=rng)
    X.data = X.data * 4 - 2
    score = X @ rng.standard_normal(features)
    return X, np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))


#: name: (model arguments, optimizer, trainer arguments)
CONFIGS = {
    "adam": (dict(dtype="float64"), lambda: fm.optim.Adam(0.01), {}),
    "nesterov_l2": (dict(dtype="float64", l2=1e-3),
                    lambda: fm.optim.SGD(0.05, momentum=0.9, nesterov=True), {}),
    "dropout": (dict(dtype="float64", dropout=[0.1, 0.3, 0.2], dropconnect=[0.0, 0.2, 0.0]),
                lambda: fm.optim.Adam(0.01), {}),
    "float32": (dict(dtype="float32"), lambda: fm.optim.Adam(0.01), {}),
    # statistics of the whole global batch, summed over the ranks in the passes
    "batch_norm_dropout": (dict(dtype="float64", batch_norm=True, dropout=[0.0, 0.2, 0.1]),
                           lambda: fm.optim.Adam(0.01), dict(validation_fraction=0.2)),
    "standardized_split": (dict(dtype="float64", preprocessing="standardize"),
                           lambda: fm.optim.Adam(0.01), dict(validation_fraction=0.2)),
}

#: The same for a sparse X (sparse_data): each rank reads its rows of the CSR matrix.
SPARSE_CONFIGS = {
    "sparse_exact": (dict(dtype="float64", l2=1e-3), lambda: fm.optim.Adam(0.01), {}),
    "sparse_lazy": (dict(dtype="float64", l2=1e-3), lambda: fm.optim.Adam(0.01),
                    dict(sparse_update="lazy")),
    # input dropout on the stored values; scaling without centring; a held-out split
    "sparse_dropout_standardized_split": (
        dict(dtype="float64", dropout=[0.2, 0.1, 0.0], preprocessing="standardize"),
        lambda: fm.optim.Adam(0.01), dict(validation_fraction=0.2, sparse_update="lazy")),
}


def trained(name, comm=None, X=None, y=None, epochs=4, **extra):
    """A model trained with config ``name`` (over ``comm``'s ranks when given)."""
    model_args, optimizer, trainer_args = {**CONFIGS, **SPARSE_CONFIGS}[name]
    if X is None:
        X, y = sparse_data() if name in SPARSE_CONFIGS else data(model_args["dtype"])
    model = fm.Model([X.shape[1], 16, 8, 3], seed=0, **model_args)
    trainer = fm.Trainer(model, optimizer(), batch_size=64, epochs=epochs, seed=3, verbose=0,
                         comm=comm, **trainer_args, **extra)
    history = trainer.fit(X, y)
    return model, history


def lbfgs_trained(comm=None, sparse=False):
    """Full-batch L-BFGS (float64, L2, a held-out split): one all-reduce per evaluation."""
    import warnings

    X, y = sparse_data() if sparse else data()
    model = fm.Model([X.shape[1], 16, 8, 3], seed=0, dtype="float64", l2=1e-3)
    trainer = fm.Trainer(model, fm.optim.LBFGS(max_iter=15), verbose=0, comm=comm,
                         validation_fraction=0.2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fm.ConvergenceWarning)
        history = trainer.fit(X, y)
    return model, history


def equality(comm, out):
    for prefix, sparse in (("lbfgs", False), ("sparse_lbfgs", True)):
        model, history = lbfgs_trained(comm, sparse)
        np.save(os.path.join(out, f"{prefix}-rank{comm.rank}.npy"), model.params)
        if comm.rank == 0:
            with open(os.path.join(out, f"{prefix}-history.json"), "w") as f:
                json.dump(history, f)
    for name in [*CONFIGS, *SPARSE_CONFIGS]:
        model, history = trained(name, comm)
        np.save(os.path.join(out, f"{name}-rank{comm.rank}.npy"), model.params)
        np.save(os.path.join(out, f"{name}-running-rank{comm.rank}.npy"), model.running_stats)
        if comm.rank == 0:
            with open(os.path.join(out, f"{name}-history.json"), "w") as f:
                json.dump(history, f)
    # a large memory map read in place, standardised call by call: each rank
    # reads and prepares only its rows of each batch
    import fastmlp._utils.validation

    fastmlp._utils.validation.INPUT_COPY_MAX_BYTES = 0
    path = os.path.join(out, "X.npy")
    if comm.rank == 0:
        np.save(path, data()[0])
    comm.Barrier()
    mapped = np.load(path, mmap_mode="r")
    model, _ = trained("standardized_split", comm, mapped, data()[1])
    np.save(os.path.join(out, f"memmap-rank{comm.rank}.npy"), model.params)


def mistakes(comm, out):
    """Each mistake must raise on both ranks (and the job go on to the next one)."""
    X, y = data()
    cases = {
        "rows": lambda: trained("adam", comm, X[:1000 + comm.rank], y[:1000 + comm.rank]),
        "seed": lambda: fm.Trainer(fm.Model([12, 4, 3], seed=0), seed=comm.rank, verbose=0,
                                   comm=comm).fit(X, y),
        "model": lambda: fm.Trainer(fm.Model([12, 4 + comm.rank, 3], seed=0), seed=0,
                                    verbose=0, comm=comm).fit(X, y),
        "batch_size": lambda: fm.Trainer(fm.Model([12, 4, 3], seed=0), seed=0, verbose=0,
                                         batch_size=32 + comm.rank, comm=comm).fit(X, y),
        "nan_on_one_rank": lambda: trained("adam", comm, _spoiled(X, comm.rank == 1), y),
        "batch_norm_lbfgs": lambda: fm.Trainer(fm.Model([12, 4, 3], batch_norm=True), "lbfgs",
                                               seed=0, verbose=0, comm=comm),
        "mid_epoch_checkpoints": lambda: fm.Trainer(
            fm.Model([12, 4, 3]), seed=0, verbose=0, comm=comm, checkpoint_dir=out,
            checkpoint_every="100 batches"),
    }
    report = {}
    for name, case in cases.items():
        try:
            case()
            report[name] = None
        except (ValueError, TypeError) as exc:
            report[name] = f"{type(exc).__name__}: {exc}"
    with open(os.path.join(out, f"mistakes-rank{comm.rank}.json"), "w") as f:
        json.dump(report, f)
    # and afterwards the ranks still train together
    model, _ = trained("adam", comm, epochs=1)
    np.save(os.path.join(out, f"after-rank{comm.rank}.npy"), model.params)


def _spoiled(X, spoil):
    X = X.copy()
    if spoil:
        X[7, 3] = np.nan
    return X


class _Die(fm.Callback):
    """Kills this process (as a crash would) at the end of an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch + 1 == self.epoch:
            os.kill(os.getpid(), 9)


def checkpointed(comm, out, kill_after_epoch):
    """6 epochs with a checkpoint every epoch; rank 1 dies after ``kill_after_epoch`` (0:
    never); with ``resume`` the job starts again from the checkpoints."""
    directory = os.path.join(out, "checkpoints")
    X, y = data()
    if kill_after_epoch == "resume":
        trainer = fm.Trainer.from_checkpoint(directory, comm=comm)
        trainer.fit(X, y)
        model = trainer.model
    else:
        kill = int(kill_after_epoch)
        callbacks = [_Die(kill)] if kill and comm.rank == 1 else []
        model = fm.Model([12, 16, 8, 3], seed=0, dtype="float64", dropout=[0.0, 0.2, 0.0])
        fm.Trainer(model, fm.optim.Adam(0.01), batch_size=64, epochs=6, seed=3, verbose=0,
                   comm=comm, checkpoint_dir=directory, callbacks=callbacks).fit(X, y)
    np.save(os.path.join(out, f"checkpointed-rank{comm.rank}.npy"), model.params)


def main():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    scenario, out, *rest = sys.argv[1:]
    {"equality": equality, "mistakes": mistakes, "checkpointed": checkpointed}[scenario](
        comm, out, *rest)


if __name__ == "__main__":
    main()
