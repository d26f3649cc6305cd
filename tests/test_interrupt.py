"""Ctrl-C during a long epoch: the KeyboardInterrupt arrives within about a second.

A child process trains an epoch of several seconds; the test sends it
SIGINT one second in and times how long the interrupt takes to surface,
then checks what the child's model and trainer kept: the weights after the
last completed batch (finite, ``steps`` equal to the optimizer's count) and
a trainer that trains on.
"""

import contextlib
import os
import signal
import sys
import time

import pytest
from children import child_process


@contextlib.contextmanager
def _child(tmp_path, name, source):
    """A Python child process running ``source`` (unbuffered, text pipes), killed and its
    pipes closed however the test ends."""
    script = tmp_path / name
    script.write_text(source)
    with child_process([str(script)], env=dict(os.environ, PYTHONUNBUFFERED="1")) as proc:
        yield proc


CHILD = r'''
import sys, time
import numpy as np
import fastmlp as fm

rng = np.random.default_rng(0)
X = rng.standard_normal((300_000, 64)).astype(np.float32)
y = rng.integers(0, 10, X.shape[0])
model = fm.Model([64, 512, 512, 10], seed=0)
trainer = fm.Trainer(model, "adam", batch_size=128, epochs=2, seed=0, verbose=0)
trainer.fit(X[:4096], y[:4096], epochs=1)  # compiled (or loaded) before the clock starts


class Running(fm.Callback):
    chunks_per_epoch = 1

    def on_chunk_end(self, trainer, epoch, done, total):
        if done == 1:
            print("running", total, flush=True)


trainer.callbacks.append(Running())
before = trainer.steps
try:
    trainer.fit(X, y)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    done = trainer.steps - before
    count = int(trainer.optimizer.step_count[0])
    print("kept", trainer.epoch, done, count - trainer.steps,
          int(np.isfinite(model.params).all()), flush=True)
    trainer.callbacks = []
    trainer.fit(X[:4096], y[:4096], epochs=1)
    print("continued", trainer.epoch, flush=True)
'''


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_in_a_long_epoch_surfaces_within_a_second(tmp_path):
    with _child(tmp_path, "child.py", CHILD) as proc:
        line = proc.stdout.readline().split()
        assert line and line[0] == "running", proc.stderr.read()
        n_batches = int(line[1])
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().strip()
        waited = time.perf_counter() - sent
        assert line == "interrupted", (line, proc.stderr.read())
        # the compiled loop returns about every CALL_SECONDS (0.5 s)
        assert waited < 1.5, f"the interrupt took {waited:.2f} s to surface"
        kept = proc.stdout.readline().split()
        assert kept[0] == "kept"
        epoch, done, count_minus_steps, finite = map(int, kept[1:])
        assert epoch == 1  # the warm-up fit's epoch; the cut one is not counted
        assert 0 < done < n_batches  # steps count the kept batches of the cut epoch
        assert count_minus_steps == 0 and finite == 1
        assert proc.stdout.readline().split() == ["continued", "2"]
        assert proc.wait(timeout=60) == 0


LBFGS_CHILD = r'''
import numpy as np
import fastmlp as fm

rng = np.random.default_rng(0)
X = rng.standard_normal((150_000, 256)).astype(np.float32)
y = rng.integers(0, 10, X.shape[0])
model = fm.Model([256, 2048, 10], seed=0)  # an evaluation takes ~2 s on two cores
fm.Trainer(fm.Model([256, 2048, 10], seed=0), fm.optim.LBFGS(max_iter=2),
           verbose=0).fit(X[:512], y[:512])  # compiled (or loaded) before the clock starts
accepted = []


class Iterations(fm.Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        accepted.append(trainer.model.params.copy())
        print("iteration", epoch + 1, flush=True)


try:
    fm.Trainer(model, fm.optim.LBFGS(max_iter=50), verbose=0,
               callbacks=[Iterations()]).fit(X, y)
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    print("kept", len(accepted), int(np.array_equal(model.params, accepted[-1])), flush=True)
'''


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_in_a_long_lbfgs_evaluation_surfaces_within_a_second(tmp_path):
    # one evaluation of the objective takes seconds here; it runs as calls
    # of about half a second, so Ctrl-C in the middle of one is felt at the
    # next call, and the model keeps the last point L-BFGS accepted
    with _child(tmp_path, "lbfgs_child.py", LBFGS_CHILD) as proc:
        line = proc.stdout.readline().split()
        assert line == ["iteration", "1"], (line, proc.stderr.read())
        time.sleep(0.7)  # inside the next iteration's evaluations
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        while line and line[0] == "iteration":
            line = proc.stdout.readline().split()
        waited = time.perf_counter() - sent
        assert line == ["interrupted"], (line, proc.stderr.read())
        assert waited < 1.0, f"the interrupt took {waited:.2f} s to surface"
        kept = proc.stdout.readline().split()
        assert kept[0] == "kept" and int(kept[1]) >= 1 and kept[2] == "1"
        assert proc.wait(timeout=60) == 0
