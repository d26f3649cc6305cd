"""
Prediction latency against batch size
=====================================

How long one ``Model.predict`` call takes, from a single row (a web handler
answering one request) to thousands (scoring a file), against the forward
pass a NumPy user writes (``X @ W + b``, ReLU, a stable softmax), on the
machine that builds these pages.  Each point is the best of a few loops of
calls; ``bench/predict.py`` is the full measurement, with onnxruntime and
PyTorch beside them (its figures from the dev machine are on the
performance page).
"""

import time

import matplotlib.pyplot as plt
import numpy as np

import fastmlp as fm


def numpy_forward(model):
    """The NumPy forward pass of ``model`` (ReLU hidden layers, softmax output)."""
    weights, biases = [np.array(w) for w in model.weights], [np.array(b) for b in model.biases]

    def forward(X):
        a = X
        for W, b in zip(weights[:-1], biases[:-1]):
            a = np.maximum(a @ W + b, 0)
        z = a @ weights[-1] + biases[-1]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    return forward


def seconds_per_call(function, X, budget=0.02, loops=3):
    """Best over ``loops`` loops, each lasting about ``budget`` seconds, of one call's time.

    How many calls make a loop comes from a warm-up a fifth of a loop long
    (a single first call can be much slower than the others).
    """
    function(X)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget / 5:
        function(X)
        calls += 1
    repeats = max(1, int(budget * calls / (time.perf_counter() - start)))
    best = float("inf")
    for _ in range(loops):
        start = time.perf_counter()
        for _ in range(repeats):
            function(X)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


model = fm.Model([64, 256, 128, 10], activation="relu", output="softmax", seed=0)
engines = {"fastmlp": model.predict, "NumPy": numpy_forward(model)}
rows = [1, 4, 16, 64, 256, 1024, 4096]
rng = np.random.default_rng(0)
inputs = [rng.standard_normal((n, 64)).astype(np.float32) for n in rows]
# one engine's whole curve after the other's: NumPy's BLAS threads spin on the cores for
# a while after its products, and a predict measured meanwhile would have one core
times = {name: [seconds_per_call(function, X) * 1e6 for X in inputs]
         for name, function in engines.items()}
for X in inputs:
    np.testing.assert_allclose(engines["fastmlp"](X), engines["NumPy"](X), atol=1e-5)

for name, values in times.items():
    print(f"{name:>8}: " + "  ".join(f"{n} rows {t:,.1f} us" for n, t in zip(rows, values)))

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for name, values in times.items():
    left.plot(rows, values, "o-", label=name)
    right.plot(rows, np.array(rows) / np.array(values) * 1e6, "o-", label=name)
left.set(xscale="log", yscale="log", xlabel="rows per call", ylabel="microseconds per call",
         title="latency")
right.set(xscale="log", yscale="log", xlabel="rows per call", ylabel="rows per second",
          title="throughput")
left.legend()
fig.suptitle("64-256-128-10, float32: one predict call")
fig.tight_layout()
plt.show()
