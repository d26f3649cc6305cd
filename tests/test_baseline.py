"""The NumPy baseline in bench/ trains exactly like fastmlp (same algorithm, same init)."""

import os
import sys

import numpy as np

import fastmlp as fm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))
from baseline_numpy import NumpyMLP  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def test_baseline_epoch_equals_fastmlp_epoch(rng):
    X = rng.standard_normal((100, 6))
    y = rng.integers(0, 4, 100)
    model = fm.Model([6, 16, 12, 4], activation="relu", output="softmax", dtype="float64", seed=0)
    net = NumpyMLP(model.weights, model.biases, lr=1e-2)
    order = np.random.default_rng(3).permutation(100)
    net.train_epoch(X, y, 16, order)
    fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=16, epochs=1, seed=3, verbose=0).fit(X, y)
    flat = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(net.W, net.b)])
    np.testing.assert_allclose(flat, model.params, rtol=1e-10, atol=1e-12)


def test_workload_shapes_count_every_product():
    w = WORKLOADS["M"]
    shapes = w.matmul_shapes()
    assert len(shapes) == 3 + 3 + 2  # forward, weight gradients, upstream (not for layer 0)
    assert w.flops_per_sample() == 2 * (2 * (784 * 256 + 256 * 256 + 256 * 10)
                                         + (256 * 256 + 256 * 10))


def test_bench_scripts_shadow_no_other_module():
    # bench/ goes first on sys.path (above, and in every bench script): a script
    # named like a module -- stdlib's ``profile`` (imported by cProfile, which
    # PyTorch imports), dask's ``distributed`` -- would replace it everywhere
    from importlib.machinery import PathFinder

    bench = os.path.abspath(os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench"))
    names = sorted(f[:-3] for f in os.listdir(bench) if f.endswith(".py"))
    elsewhere = [p for p in sys.path if os.path.abspath(p or ".") != bench]
    clashes = [name for name in names  # PathFinder: not fooled by bench modules already imported
               if name in sys.stdlib_module_names or PathFinder.find_spec(name, elsewhere)]
    assert clashes == []
