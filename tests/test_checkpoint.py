"""Checkpoints: exact resume after SIGKILL at random moments, and everything a checkpoint holds."""

import os
import random
import runpy
import signal
import time

import numpy as np
import pytest
from children import child_process

import fastmlp as fm
from fastmlp.training.checkpoint import Checkpoint, list_checkpoints

# The training run the kill test interrupts.  The same source runs in the
# child processes (as a script) and in the test process (runpy), so both
# build identical data and trainers.
WORKER = r'''
import os
import sys

import numpy as np

import fastmlp as fm
from fastmlp.training.checkpoint import list_checkpoints

EPOCHS = 30


def data(config):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((150, 6)) * [1, 2, 3, 1, 1, 5] + 0.5
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    return X[:120], y[:120], (X[120:], y[120:])


def new_trainer(config, directory, callbacks=()):
    common = dict(epochs=EPOCHS, verbose=0, n_threads=1, callbacks=callbacks,
                  checkpoint_dir=directory)
    if config == "adam":
        model = fm.Model([6, 12, 3], seed=0)
        return fm.Trainer(model, fm.optim.Adam(lr=0.01), batch_size=16, seed=1, **common)
    if config == "dropout_schedule":
        model = fm.Model([6, 12, 12, 3], seed=0, dropout=0.25, dropconnect=0.1,
                         batch_norm=True, preprocessing="standardize")
        opt = fm.optim.chain(fm.optim.ClipByGlobalNorm(5.0),
                             fm.optim.SGD(lr=0.05, momentum=0.9, nesterov=True))
        schedule = fm.schedules.LinearWarmup(30, then=fm.schedules.CosineAnnealing(EPOCHS))
        return fm.Trainer(model, opt, batch_size=10, seed=2, schedule=schedule,
                          keep_checkpoints=2, **common)
    if config == "plateau_float64":
        model = fm.Model([6, 10, 3], seed=0, dtype="float64", activation="tanh", dropout=0.1)
        schedule = fm.schedules.ReduceLROnPlateau(patience=1, factor=0.5)
        return fm.Trainer(model, fm.optim.NAdam(lr=0.02), batch_size=12, seed=3,
                          schedule=schedule, checkpoint_every=3, **common)
    if config == "mid_epoch":
        # checkpoints inside epochs: a kill mostly lands between two of them,
        # and the resume finishes the interrupted epoch
        model = fm.Model([6, 12, 3], seed=0, dropout=0.2)
        return fm.Trainer(model, fm.optim.Adam(lr=0.01), batch_size=4, seed=4,
                          checkpoint_every="7 batches", **common)
    raise ValueError(config)


def resume_or_start(config, directory, callbacks=()):
    if os.path.isdir(directory) and list_checkpoints(directory):
        return fm.Trainer.from_checkpoint(directory, callbacks=callbacks)
    return new_trainer(config, directory, callbacks)


def finish(trainer, config):
    X, y, val = data(config)
    if trainer.epoch < EPOCHS:
        trainer.fit(X, y, validation_data=val)
    return trainer


class Progress(fm.Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        print("epoch", trainer.epoch, flush=True)


if __name__ == "__main__":
    config, directory = sys.argv[1:3]
    trainer = resume_or_start(config, directory, [Progress()])
    print("start", trainer.epoch, flush=True)
    finish(trainer, config)
    print("done", flush=True)
'''

CONFIGS = ["adam", "dropout_schedule", "plateau_float64", "mid_epoch"]
TRIALS_PER_CONFIG = 3


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    path = tmp_path_factory.mktemp("worker") / "worker.py"
    path.write_text(WORKER)
    return str(path), runpy.run_path(str(path))


@pytest.fixture(scope="module")
def references(worker):
    """Uninterrupted runs, in this process: the weights every resumed run must reproduce."""
    w = worker[1]
    return {c: w["finish"](w["new_trainer"](c, None), c) for c in CONFIGS}


def _kill_at_random_moment(script, config, directory, chooser):
    """Start the worker, SIGKILL it at a random moment; return True if it died mid-run."""
    with child_process([script, config, directory]) as proc:
        first = proc.stdout.readline().split()
        assert first and first[0] == "start", proc.stderr.read()
        start = int(first[1])
        # the epoch after which the clock starts
        target = chooser.randint(start, max(start, 30 - 2))
        line = f"start {start}"
        while line and line.split() != ["epoch", str(target)] and target != start:
            line = proc.stdout.readline().strip()
        time.sleep(chooser.uniform(0, 0.004))  # lands in training or in a checkpoint write
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("config", CONFIGS)
def test_sigkill_at_random_moments_then_resume_is_bit_identical(config, worker, references,
                                                                tmp_path):
    script, w = worker
    seed = int.from_bytes(os.urandom(4), "little")
    chooser = random.Random(seed)
    reference = references[config]
    killed_mid_run = 0
    for trial in range(TRIALS_PER_CONFIG):
        directory = str(tmp_path / f"run{trial}")
        for _ in range(chooser.randint(1, 3)):  # a resumed run is killed again, too
            killed_mid_run += _kill_at_random_moment(script, config, directory, chooser)
            # atomic writes: every file under a checkpoint name is complete
            if os.path.isdir(directory):
                for _, path in list_checkpoints(directory):
                    fm.load(path)
        trainer = w["finish"](w["resume_or_start"](config, directory), config)
        context = f"config {config}, trial {trial}, random seed {seed}"
        assert trainer.epoch == w["EPOCHS"], context
        assert np.array_equal(trainer.model.params, reference.model.params), context
        assert np.array_equal(trainer.model.running_stats, reference.model.running_stats)
        assert trainer.history["loss"] == reference.history["loss"], context
    assert killed_mid_run > 0, f"every run finished before its kill (seed {seed})"


# ------------------------------------------------------------------ in-process behaviour
@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


def _trainer(directory=None, epochs=4, optimizer=None, schedule=None, seed=0, **kwargs):
    model = fm.Model([5, 8, 3], seed=0, dropout=0.1)
    return fm.Trainer(model, optimizer or fm.optim.Adam(lr=0.01), batch_size=8, epochs=epochs,
                      seed=seed, verbose=0, n_threads=1, schedule=schedule,
                      checkpoint_dir=directory, **kwargs)


def test_files_are_written_every_k_epochs_and_pruned(tmp_path, data):
    _trainer(tmp_path, epochs=7, checkpoint_every=2, keep_checkpoints=2).fit(*data)
    # epochs 2, 4, 6 on schedule, 7 at the end of the fit; the last two are kept
    assert [e for e, _ in list_checkpoints(tmp_path)] == [6, 7]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-00000006.npz", "checkpoint-00000007.npz"]


def test_checkpoint_arrays_need_no_pickle(tmp_path, data):
    _trainer(tmp_path, epochs=1).fit(*data)
    with np.load(tmp_path / "checkpoint-00000001.npz", allow_pickle=False) as npz:
        for name in npz.files:
            assert npz[name].dtype != object


class _InterruptMidEpoch(fm.Callback):
    chunks_per_epoch = 4

    def __init__(self, epoch):
        self.epoch = epoch
        self.snapshot = None

    def on_chunk_end(self, trainer, epoch, done, total):
        if epoch == self.epoch and done > total // 2:
            self.snapshot = trainer.model.params.copy()
            raise KeyboardInterrupt


def test_keyboard_interrupt_mid_epoch_keeps_its_batches_then_resumes_exactly(tmp_path, data):
    reference = _trainer(epochs=5)
    reference.fit(*data)
    cb = _InterruptMidEpoch(2)
    trainer = _trainer(tmp_path, epochs=5, callbacks=[cb])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*data)
    # the model holds the weights after the last completed batch, finite;
    # the history holds the completed epochs
    assert trainer.epoch == 2 and len(trainer.history["loss"]) == 2
    assert np.array_equal(trainer.model.params, cb.snapshot)
    assert np.isfinite(trainer.model.predict(data[0])).all()
    # the newest checkpoint is the last epoch's: resuming from it is exact
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.epoch == 2
    resumed.fit(*data)
    assert resumed.epoch == 5
    assert np.array_equal(resumed.model.params, reference.model.params)
    assert resumed.history["loss"] == reference.history["loss"]


class _StopAfterMidEpochCheckpoint(fm.Callback):
    """Ctrl-C right after the first checkpoint written inside an epoch."""

    chunk_batches = 1

    def __init__(self, directory):
        self.directory = directory

    def on_chunk_end(self, trainer, epoch, done, total):
        if any(os.path.basename(p).count("-") == 2 for _, p in list_checkpoints(self.directory)):
            raise KeyboardInterrupt
        # a batch of this small model takes microseconds: without the pause a
        # whole epoch could pass within a time-based checkpoint's period
        time.sleep(0.002)


@pytest.mark.parametrize("every", ["3 batches", "0.001s"])
def test_a_mid_epoch_checkpoint_resumes_the_epoch_exactly(tmp_path, data, every):
    reference = _trainer(epochs=3)
    reference.fit(*data)
    trainer = _trainer(tmp_path, epochs=3, checkpoint_every=every,
                       callbacks=[_StopAfterMidEpochCheckpoint(str(tmp_path))])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*data)
    newest = os.path.basename(list_checkpoints(tmp_path)[-1][1])
    assert newest.count("-") == 2, newest  # checkpoint-<epochs>-<batch>.npz
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.state_dict()["epoch_progress"] is None  # nothing running
    resumed.fit(*data)
    assert resumed.epoch == 3
    assert np.array_equal(resumed.model.params, reference.model.params)
    assert resumed.history["loss"] == reference.history["loss"]


def test_a_resumed_epoch_needs_the_same_data(tmp_path, data):
    trainer = _trainer(tmp_path, epochs=2, checkpoint_every="2 batches",
                       callbacks=[_StopAfterMidEpochCheckpoint(str(tmp_path))])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*data)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    X, y = data
    with pytest.raises(ValueError, match="resumes an epoch over 60 training samples"):
        resumed.fit(X[:50], y[:50])


@pytest.mark.parametrize("every, message", [
    ("ten minutes", "checkpoint_every must be"), ("1.5 batches", "checkpoint_every must be"),
    ("0s", "checkpoint_every must be"), (0, "checkpoint_every")])
def test_bad_checkpoint_intervals(tmp_path, every, message):
    with pytest.raises(ValueError, match=message):
        _trainer(tmp_path, checkpoint_every=every)


def test_mid_epoch_checkpoints_refuse_a_rejecting_bold_driver(tmp_path, data):
    trainer = _trainer(tmp_path, optimizer=fm.optim.SGD(0.1), checkpoint_every="5min",
                       schedule=fm.schedules.BoldDriver(reject=True))
    with pytest.raises(ValueError, match="BoldDriver"):
        trainer.fit(*data)


def test_exception_in_a_callback_leaves_the_completed_epochs(tmp_path, data):
    def fail(epoch, logs):
        if epoch == 1:
            raise RuntimeError("callback failed")

    trainer = _trainer(tmp_path, epochs=4, callbacks=[fail])
    with pytest.raises(RuntimeError, match="callback failed"):
        trainer.fit(*data)
    assert trainer.epoch == 2 and len(trainer.history["loss"]) == 2
    assert np.isfinite(trainer.model.params).all()


def test_an_early_stop_finishes_the_fit(tmp_path, data):
    trainer = _trainer(tmp_path, epochs=6, callbacks=[lambda epoch, logs: epoch == 2])
    trainer.fit(*data)
    assert trainer.epoch == 3
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.epoch == 3
    resumed.fit(*data)  # a new fit of `epochs`, not the rest of the stopped one
    assert resumed.epoch == 9


def test_resumed_trainer_keeps_writing_checkpoints(tmp_path, data):
    trainer = _trainer(tmp_path, epochs=2, keep_checkpoints=5)
    trainer.fit(*data)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    resumed.fit(*data, epochs=2)
    assert [e for e, _ in list_checkpoints(tmp_path)] == [1, 2, 3, 4]
    assert repr(resumed.callbacks[-1]) == f"Checkpoint({str(tmp_path)!r}, every=1, keep=5)"


def test_a_checkpoint_callback_given_on_resume_replaces_the_saved_one(tmp_path, data):
    _trainer(tmp_path, epochs=1).fit(*data)
    other = tmp_path / "elsewhere"
    resumed = fm.Trainer.from_checkpoint(tmp_path, callbacks=[Checkpoint(other)])
    assert [type(c) for c in resumed.callbacks] == [Checkpoint]
    resumed.fit(*data, epochs=1)
    assert [e for e, _ in list_checkpoints(other)] == [2]


OPTIMIZERS = [
    fm.optim.SGD(lr=0.05), fm.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    fm.optim.Adam(lr=0.01, amsgrad=True), fm.optim.AdamW(lr=0.01), fm.optim.Adamax(),
    fm.optim.NAdam(decoupled_weight_decay=True, weight_decay=1e-3), fm.optim.RAdam(),
    fm.optim.Adagrad(initial_accumulator_value=0.1), fm.optim.RMSprop(centered=True,
                                                                        momentum=0.5),
    fm.optim.Adadelta(), fm.optim.Rprop(),
    fm.optim.chain(fm.optim.ClipByValue(0.5), fm.optim.L1(1e-4), fm.optim.Adam(lr=0.01),
                   fm.optim.DecoupledWeightDecay(1e-3)),
]

SCHEDULES = [
    fm.schedules.Constant(), fm.schedules.StepDecay(2, 0.5), fm.schedules.MultiStep([1, 3]),
    fm.schedules.Exponential(gamma=0.9), fm.schedules.Exponential(k=0.1),
    fm.schedules.InverseTime(0.5), fm.schedules.InvScaling(), fm.schedules.LectureDecay(0.1),
    fm.schedules.Polynomial(4), fm.schedules.CosineAnnealing(2, restarts=True, T_mult=2),
    fm.schedules.LinearWarmup(10, then=fm.schedules.StepDecay(1, 0.8)),
    fm.schedules.OneCycle(total_steps=40), fm.schedules.ReduceLROnPlateau(monitor="loss",
                                                                           patience=0),
    fm.schedules.BoldDriver(reject=True),
]


def _resume_matches_uninterrupted(tmp_path, data, make_optimizer, make_schedule):
    reference = _trainer(epochs=4, optimizer=make_optimizer(), schedule=make_schedule())
    reference.fit(*data)
    first = _trainer(tmp_path, epochs=4, optimizer=make_optimizer(), schedule=make_schedule(),
                     callbacks=[_InterruptMidEpoch(2)])
    with pytest.raises(KeyboardInterrupt):
        first.fit(*data)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert type(resumed.optimizer) is type(reference.optimizer)
    resumed.fit(*data)
    assert resumed.epoch == 4
    assert repr(resumed.optimizer) == repr(reference.optimizer)
    assert repr(resumed.schedule) == repr(reference.schedule)
    assert np.array_equal(resumed.model.params, reference.model.params)
    assert resumed.history["lr"] == reference.history["lr"]


@pytest.mark.filterwarnings("ignore:Rprop is a full-batch method")
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
def test_every_optimizer_resumes_exactly(tmp_path, data, optimizer):
    _resume_matches_uninterrupted(tmp_path, data, optimizer.copy, lambda: None)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: type(s).__name__)
def test_every_schedule_resumes_exactly(tmp_path, data, schedule):
    import copy

    _resume_matches_uninterrupted(tmp_path, data, lambda: fm.optim.SGD(lr=0.05, momentum=0.5),
                                  lambda: copy.deepcopy(schedule))


def test_a_generator_seed_resumes_exactly(tmp_path, data):
    def make(directory=None):
        model = fm.Model([5, 8, 3], seed=0, dropout=0.2)
        return fm.Trainer(model, batch_size=8, epochs=4, verbose=0, n_threads=1,
                          seed=np.random.Generator(np.random.MT19937(5)), checkpoint_dir=directory)

    reference = make()
    reference.fit(*data)
    trainer = make(tmp_path)
    trainer.callbacks.insert(0, _InterruptMidEpoch(2))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*data)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    resumed.fit(*data)
    assert np.array_equal(resumed.model.params, reference.model.params)


# ------------------------------------------------------------------ refusals
def test_lbfgs_is_refused_before_training(tmp_path, data):
    model = fm.Model([5, 8, 3], seed=0)
    before = model.params.copy()
    with pytest.raises(ValueError, match="cannot resume LBFGS"):
        fm.Trainer(model, fm.optim.LBFGS(max_iter=3), verbose=0, checkpoint_dir=tmp_path)
    # a Checkpoint callback added by hand is refused when fit starts
    trainer = fm.Trainer(model, fm.optim.LBFGS(max_iter=3), verbose=0,
                         callbacks=[Checkpoint(tmp_path)])
    with pytest.raises(ValueError, match="cannot resume LBFGS"):
        trainer.fit(*data)
    assert np.array_equal(model.params, before) and trainer.epoch == 0


def test_classes_from_outside_fastmlp_are_refused(tmp_path, data):
    class MyAdam(fm.optim.Adam):
        pass

    class MySchedule(fm.schedules.StepDecay):
        pass

    with pytest.raises(ValueError, match="own optimizers only, not MyAdam"):
        _trainer(tmp_path, optimizer=MyAdam()).fit(*data)
    with pytest.raises(ValueError, match="own schedules only, not MySchedule"):
        _trainer(tmp_path, schedule=MySchedule(2)).fit(*data)


@pytest.mark.parametrize("kwargs, message", [
    (dict(checkpoint_every=0), "checkpoint_every"),
    (dict(checkpoint_every=-2), "checkpoint_every"),
    (dict(checkpoint_every=1.5), "checkpoint_every"),
    (dict(keep_checkpoints=0), "keep_checkpoints"),
    (dict(keep_checkpoints=True), "keep_checkpoints"),
])
def test_bad_checkpoint_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _trainer(tmp_path, **kwargs)


def test_checkpoint_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        _trainer(tmp_path / "file")


def test_from_checkpoint_without_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError):
        fm.Trainer.from_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fm.Trainer.from_checkpoint(tmp_path)


def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous(tmp_path, data):
    _trainer(tmp_path, epochs=3).fit(*data)
    newest = tmp_path / "checkpoint-00000003.npz"
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="checkpoint-00000003.npz"):
        resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.epoch == 2


def test_no_readable_checkpoint(tmp_path, data):
    # a model file, not a checkpoint
    fm.save(fm.Model([2, 2]), tmp_path / "checkpoint-00000001.npz")
    with pytest.raises(ValueError, match="not a fastmlp.checkpoint"):
        fm.Trainer.from_checkpoint(tmp_path)
    (tmp_path / "checkpoint-00000002.npz").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ValueError, match="no readable checkpoint"):
        fm.Trainer.from_checkpoint(tmp_path)


def test_stale_temporary_files_are_cleaned_up(tmp_path, data):
    stale = tmp_path / ".checkpoint-00000001.npz.0123456789ab.tmp"
    stale.write_bytes(b"PK\x03\x04partial")
    _trainer(tmp_path, epochs=1).fit(*data)
    assert not stale.exists()


def test_hold_out_diagnostics_and_sample_weights_resume_exactly(tmp_path, data):
    X, y = data
    weights = np.linspace(0.5, 2.0, len(X))

    def make(directory=None):
        return _trainer(directory, epochs=5, validation_fraction=0.25, diagnostics=8)

    reference = make()
    reference.fit(X, y, sample_weight=weights)
    trainer = make(tmp_path)
    trainer.callbacks.insert(0, _InterruptMidEpoch(3))
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y, sample_weight=weights)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.validation_fraction == 0.25 and resumed.diagnostics == 8
    resumed.fit(X, y, sample_weight=weights)
    assert np.array_equal(resumed.model.params, reference.model.params)
    assert resumed.history["val_loss"] == reference.history["val_loss"]
    assert resumed.history["grad_norm"] == reference.history["grad_norm"]


def test_a_quiet_stop_on_divergence_is_checkpointed_as_finished(tmp_path, data):
    guard = fm.TerminateOnNaN()
    trainer = _trainer(tmp_path, epochs=5, optimizer=fm.optim.SGD(lr=1e30), callbacks=[guard])
    trainer.fit(*data)
    assert guard.error is not None
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.epoch == trainer.epoch
    assert np.array_equal(resumed.model.params, trainer.model.params)
    assert np.isfinite(resumed.model.params).all()
