"""Inference latency at every batch size: fastmlp's predict against a NumPy forward pass,
onnxruntime and PyTorch, and the estimators against scikit-learn's MLP -- one run.

    python bench/predict.py [--shapes digits,M,L] [--rows 1,8,64,512,4096] [--loops 7]
                            [--sections models,estimators,threshold]

``models``: for each shape (float32, ReLU, softmax output) and row count,
microseconds per call -- the best of ``--loops`` loops of ~0.1 s each, after
a 20 ms warm-up that sets how many calls make one -- of ``Model.predict``, a
NumPy forward pass (``X @ W + b``, ReLU, a stable softmax: what a NumPy user
writes), onnxruntime on the model's ONNX export (``fastmlp.export.to_onnx``;
one thread per core, as it runs by default) and a ``torch.nn.Sequential``
under ``torch.inference_mode`` (``fastmlp.export.to_torch``), with fastmlp's
ratio to each, and each engine's share of the cores' float32 FMA ceiling
(:mod:`fma_ceiling`, measured at the start of the run): near 100%, no
implementation can be much faster.  The engines run in one process, one
after another per cell, every one warmed up first.

``estimators``: ``fastmlp.sklearn.MLPClassifier.predict_proba`` against
``sklearn.neural_network.MLPClassifier.predict_proba``, both fitted on the
digits (hidden layers (256, 128), float64 as scikit-learn computes), at 1,
64 and 512 rows.

``threshold``: where a team starts to repay itself for inference -- each
shape and row count predicted on the calling thread alone and with the
team, and the forward work of a block in MFLOP: the smallest block the team
wins on is what ``fastmlp._utils.tuning.INFERENCE_TEAM_MIN_FLOPS`` should be.
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numpy as np

import fastmlp as fm
from fastmlp.engine import calls as engine_calls

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fma_ceiling import fma_ceiling  # noqa: E402

SHAPES = {"digits": (64, 256, 128, 10), "M": (784, 256, 256, 10), "L": (784, 1024, 1024, 10)}


def per_call(function, loops, seconds=0.1):
    """Best over ``loops`` loops of the mean seconds per call, each loop ``seconds`` long.

    The calls' pace comes from a warm-up a fifth of a loop long, not from one
    call: a first call can take milliseconds (another engine's threads still
    spinning on the cores), and loops sized by it would have lasted a few
    milliseconds in all, inside that disturbance.
    """
    function()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 5:
        function()
        calls += 1
    repeats = max(1, int(seconds * calls / (time.perf_counter() - start)))
    best = float("inf")
    for _ in range(loops):
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def numpy_forward(model):
    """A NumPy user's forward pass of ``model`` (ReLU hidden layers, softmax output)."""
    weights, biases = model.weights, model.biases

    def forward(X):
        a = X
        for W, b in zip(weights[:-1], biases[:-1]):
            a = np.maximum(a @ W + b, 0)
        z = a @ weights[-1] + biases[-1]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return forward


def peers(model):
    """The other engines' predict functions that can run here, by name."""
    engines = {"numpy": numpy_forward(model)}
    try:
        import onnxruntime as ort

        from fastmlp.export import to_onnx
        session = ort.InferenceSession(to_onnx(model).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        engines["onnxruntime"] = lambda X: session.run(None, {"X": X})[0]
    except ImportError:
        pass
    try:
        import torch

        from fastmlp.export import to_torch
        net = to_torch(model).eval()

        def torch_forward(X):
            with torch.inference_mode():
                return net(torch.from_numpy(X)).numpy()
        engines["pytorch"] = torch_forward
    except ImportError:
        pass
    return engines


def models_section(shapes, row_counts, loops):
    ceiling = fma_ceiling(fm.get_num_threads())
    print("\nmicroseconds per call (best of loops); fastmlp's time over each peer's "
          "(below 1: fastmlp is faster); each engine's multiply-adds per second as a "
          f"share of the cores' float32 FMA ceiling, measured now: {ceiling:.1f} GFLOP/s "
          f"on {fm.get_num_threads()} threads (bench/fma_ceiling.py)")
    for name in shapes:
        sizes = SHAPES[name]
        weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
        model = fm.Model(list(sizes), seed=0)
        engines = {"fastmlp": model.predict, **peers(model)}
        print(f"\n{name} {'-'.join(map(str, sizes))}")
        print(f"  {'rows':>6} " + " ".join(f"{e:>12}" for e in engines)
              + "   " + " ".join(f"{'/' + e:>12}" for e in engines if e != "fastmlp")
              + "   " + " ".join(f"{e[:8] + '%':>9}" for e in engines))
        rng = np.random.default_rng(0)
        for rows in row_counts:
            X = rng.standard_normal((rows, sizes[0])).astype(np.float32)
            times = {e: per_call(lambda f=f, X=X: f(X), loops) * 1e6
                     for e, f in engines.items()}
            ratios = [times["fastmlp"] / t for e, t in times.items() if e != "fastmlp"]
            shares = [2 * rows * weights / (t * 1e3) / ceiling for t in times.values()]
            print(f"  {rows:>6} " + " ".join(f"{t:>12,.1f}" for t in times.values())
                  + "   " + " ".join(f"{r:>12.2f}" for r in ratios)
                  + "   " + " ".join(f"{share:>9.0%}" for share in shares))


def estimators_section(row_counts, loops):
    try:
        from sklearn.datasets import load_digits
        from sklearn.neural_network import MLPClassifier as SkClassifier
    except ImportError:
        print("\n(estimators: scikit-learn is not installed)")
        return
    from fastmlp.sklearn import MLPClassifier
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    warnings.simplefilter("ignore")  # convergence after 3 epochs
    settings = dict(hidden_layer_sizes=(256, 128), max_iter=3, random_state=0)
    fitted = {"fastmlp.sklearn": MLPClassifier(**settings).fit(X, y),
              "scikit-learn": SkClassifier(**settings).fit(X, y)}
    print("\npredict_proba, microseconds per call; fastmlp.sklearn over scikit-learn")
    for rows in row_counts:
        part = np.ascontiguousarray(np.tile(X, (1 + rows // len(X), 1))[:rows])
        times = {n: per_call(lambda e=e, part=part: e.predict_proba(part), loops) * 1e6
                 for n, e in fitted.items()}
        print(f"  {rows:>6} rows: fastmlp.sklearn {times['fastmlp.sklearn']:>9,.1f}  "
              f"scikit-learn {times['scikit-learn']:>9,.1f}  ratio "
              f"{times['fastmlp.sklearn'] / times['scikit-learn']:.2f}")


def threshold_section(shapes, row_counts, loops):
    if fm.max_threads() < 2:
        print("\n(threshold: one core here, no team to compare)")
        return
    print("\none thread against the team: microseconds per call, and the block's forward "
          "work")
    saved = engine_calls.INFERENCE_TEAM_MIN_FLOPS
    try:
        for name in shapes:
            sizes = SHAPES[name]
            weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
            rng = np.random.default_rng(0)
            for rows in row_counts:
                X = rng.standard_normal((rows, sizes[0])).astype(np.float32)
                times = {}
                for label, threshold in (("one thread", float("inf")), ("team", 0)):
                    engine_calls.INFERENCE_TEAM_MIN_FLOPS = threshold
                    model = fm.Model(list(sizes), seed=0)  # its direct-path size follows
                    times[label] = per_call(lambda m=model, X=X: m.predict(X), loops) * 1e6
                block = 2 * weights * min(rows, engine_calls.ROWS_PER_THREAD) / 1e6
                better = min(times, key=times.get)
                print(f"  {name:>6} {rows:>6} rows ({block:8.1f} MFLOP a block): one thread "
                      f"{times['one thread']:>9,.1f}  team {times['team']:>9,.1f}  -> {better}")
    finally:
        engine_calls.INFERENCE_TEAM_MIN_FLOPS = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="digits,M,L")
    parser.add_argument("--rows", default="1,8,64,512,4096")
    parser.add_argument("--loops", type=int, default=7)
    parser.add_argument("--sections", default="models,estimators,threshold")
    args = parser.parse_args()
    shapes = args.shapes.split(",")
    rows = [int(r) for r in args.rows.split(",")]
    print(f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}); "
          f"fastmlp threads {fm.get_num_threads()}")
    sections = args.sections.split(",")
    if "models" in sections:
        models_section(shapes, rows, args.loops)
    if "estimators" in sections:
        estimators_section([r for r in rows if r in (1, 64, 512)] or [1, 64], args.loops)
    if "threshold" in sections:
        threshold_section(shapes, rows, args.loops)


if __name__ == "__main__":
    main()
