"""Large data: memory and speed of training on a memory-mapped dataset.

Writes an ``--rows`` x 784 float32 dataset with ``np.save`` (300,000 rows:
897 MB, the case of the large-data issue), then, each in a fresh process:

* memory: fit (one epoch of a 784-128-10 model, batch 256) then predict
  every row, with the data memory-mapped (``np.load(path, mmap_mode="r")``)
  or loaded into memory (``np.load(path)``), without and with stored
  preprocessing and a held-out split (``preprocessing="standardize"``,
  ``validation_fraction=0.1``).  Reported: how much the process's anonymous
  memory (``RssAnon``: what is not the file's pages; the in-memory data
  counted before) grew at its peak while each ran, sampled every 2 ms.
* speed (``--speed``): training samples/s of workload M (784-256-256-10,
  batch 128, Adam) from the page-cached memory map against the same rows
  in memory, without and with standardisation, interleaved rounds, medians.

``--before DIR`` also measures the memory of another checkout.

    python bench/memory.py --large [--rows 300000] [--speed] [--before DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

MEMORY_CHILD = r"""
import json, sys, threading, time
import numpy as np
import fastmlp as fm

path, mapped, prepared = sys.argv[1], sys.argv[2] == "mapped", sys.argv[3] == "prepared"


def anonymous_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) / 1024


class Peak:
    def __enter__(self):
        self.peak, self.done = anonymous_mb(), False
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        return self

    def watch(self):
        while not self.done:
            self.peak = max(self.peak, anonymous_mb())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.done = True
        self.thread.join()


def model():
    return fm.Model([784, 128, 10], seed=0,
                    preprocessing="standardize" if prepared else None)


def trainer(m):
    return fm.Trainer(m, batch_size=256, epochs=1, verbose=0,
                      validation_fraction=0.1 if prepared else None)


X = np.load(path, mmap_mode="r" if mapped else None)
y = np.arange(X.shape[0]) % 10
warm = model()  # compile or load the kernels first, on a few rows
trainer(warm).fit(X[:3000], y[:3000])
warm.predict(X[:3000])
m = model()
before = anonymous_mb()
with Peak() as fit:
    trainer(m).fit(X, y)
with Peak() as predict:
    m.predict(X)
print(json.dumps({"fit": fit.peak - before, "predict": predict.peak - before}))
"""

SPEED_CHILD = r"""
import json, sys
import numpy as np
import fastmlp as fm

path, rounds = sys.argv[1], int(sys.argv[2])
mapped = np.load(path, mmap_mode="r")
in_memory = np.array(mapped)
y = np.arange(mapped.shape[0]) % 10
cases = {f"{source} {prep or 'none'}": (data, prep)
         for source, data in (("in memory", in_memory), ("memory map", mapped))
         for prep in (None, "standardize")}
trainers = {}
for name, (data, prep) in cases.items():
    m = fm.Model([784, 256, 256, 10], seed=0, preprocessing=prep)
    trainers[name] = fm.Trainer(m, "adam", batch_size=128, epochs=1, seed=0, verbose=0)
    trainers[name].fit(data[:4096], y[:4096])  # warm up: compile, first touch
    trainers[name].fit(data, y)  # the file's pages into the page cache
times = {name: [] for name in cases}
for _ in range(rounds):
    for name, (data, _) in cases.items():
        times[name].append(trainers[name].fit(data, y)["time"][0])
print(json.dumps({name: sorted(t)[len(t) // 2] for name, t in times.items()}))
"""


def _child(code, args, source=None):
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, cwd=source or None)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _write(path, rows):
    import numpy as np

    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 784))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 10_000):  # written in blocks: never all in memory
        stop = min(rows, start + 10_000)
        X[start:stop] = rng.standard_normal((stop - start, 784), dtype=np.float32)
    X.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--speed-rows", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", metavar="DIR")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        _write(path, args.rows)
        print(f"dataset {args.rows} x 784 float32, {os.path.getsize(path) / 2**20:.0f} MB; "
              "peak anonymous memory added (MB):")
        print(f"{'checkout':9} {'data':11} {'preprocessing':26} {'fit':>6} {'predict':>8}")
        for label, source in (("now", None), ("before", args.before)):
            if label == "before" and not source:
                continue
            for prepared in ("plain", "prepared"):
                for mapped in ("mapped", "in-memory"):
                    r = _child(MEMORY_CHILD, [path, mapped, prepared], source)
                    what = ("standardize + 10% held out" if prepared == "prepared" else "none")
                    print(f"{label:9} {mapped:11} {what:26} {r['fit']:6.0f} {r['predict']:8.0f}")
        if args.speed:
            speed_path = os.path.join(tmp, "M.npy")
            _write(speed_path, args.speed_rows)
            times = _child(SPEED_CHILD, [speed_path, str(args.rounds)])
            print(f"\ntraining speed, workload M on {args.speed_rows} rows "
                  f"(median of {args.rounds} interleaved epochs):")
            for prep in ("none", "standardize"):
                memory, mapped = times[f"in memory {prep}"], times[f"memory map {prep}"]
                print(f"  preprocessing {prep:12} in memory {args.speed_rows / memory:8.0f}/s   "
                      f"memory map {args.speed_rows / mapped:8.0f}/s   "
                      f"map/memory {memory / mapped:.3f}")


if __name__ == "__main__":
    main()
