"""Anonymous memory of training and predicting on a memory-mapped dataset.

Writes an ``--rows`` x 784 float32 dataset with ``np.save`` (300,000 rows:
897 MB, the case of the large-data issue), then in a fresh process opens it
with ``np.load(path, mmap_mode="r")``, trains one epoch of a 784-128-10
model on it (batch 256) and predicts every row, and reports how much the
process's anonymous memory (``RssAnon``: what is not the file's pages)
grew at its peak while each ran (sampled every 5 ms) -- the copies made of
the data.  ``--before DIR`` also runs the same
from another checkout, side by side.

    python bench/memmap_memory.py [--rows 300000] [--before DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys
import numpy as np
import fastmlp as fm


import threading
import time


def anonymous_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024


class Peak:
    # the largest anonymous memory seen while a block runs (sampled every 5 ms)

    def __enter__(self):
        self.peak, self.done = anonymous_mb(), False
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        return self

    def watch(self):
        while not self.done:
            self.peak = max(self.peak, anonymous_mb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.done = True
        self.thread.join()


X = np.load(sys.argv[1], mmap_mode="r")
y = np.arange(X.shape[0]) % 10
model = fm.Model([784, 128, 10], seed=0)
warm = fm.Model([784, 128, 10], seed=0)  # compile or load the kernels first
fm.Trainer(warm, batch_size=256, epochs=1, verbose=0).fit(np.array(X[:2048]), y[:2048])
warm.predict(np.array(X[:2048]))
before = anonymous_mb()
with Peak() as fit:
    fm.Trainer(model, batch_size=256, epochs=1, verbose=0).fit(X, y)
with Peak() as predict:
    model.predict(X)
print(f"{fit.peak - before:.0f} {predict.peak - before:.0f}")
"""


def run(path, source=None):
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
    done = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True,
                          text=True, cwd=source or None)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    fit, predict = done.stdout.split()
    return int(fit), int(predict)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--before", metavar="DIR")
    args = parser.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(args.rows, 784))
        rng = np.random.default_rng(0)
        for start in range(0, args.rows, 10_000):  # written in blocks: never all in memory
            stop = min(args.rows, start + 10_000)
            X[start:stop] = rng.standard_normal((stop - start, 784), dtype=np.float32)
        X.flush()
        del X
        size = os.path.getsize(path) / 2**20
        print(f"dataset {args.rows} x 784 float32, {size:.0f} MB on disk")
        for label, source in (("now", None), ("before", args.before)):
            if label == "before" and not source:
                continue
            fit, predict = run(path, source)
            print(f"{label:7s} peak anonymous memory added: fit {fit} MB, predict {predict} MB")


if __name__ == "__main__":
    main()
