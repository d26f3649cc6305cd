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


def test_compare_bound_adds_the_update_to_the_fastest_products():
    import compare

    # 10 us of products at their fastest (12 at the ceiling's) and 2.5 us of update a
    # 32-row step: 12.5 us
    res = {"gemm": 32 / 12e-6, "products": 32 / 10e-6, "update": 32 / 2.5e-6}
    assert np.isclose(compare._bound(res), 32 / 12.5e-6)


def test_compare_says_when_a_missed_target_is_out_of_reach():
    import compare

    assert compare._goal("L: >= 95% of the GEMM ceiling") == 0.95
    assert compare._goal("M: 2 threads >= 1.85x one thread") == 1.85
    res = {"fastmlp": 80.0, "numpy": 50.0, "jax": 90.0, "torch": 70.0, "gemm": 100.0,
           "products": 100.0, "update": 900.0}
    res["bound"] = compare._bound(res)  # 90: the products (100) then the update (900)
    checks = {name: (value, met, most)
              for name, value, met, most in compare._training_checks({"L": res}, ["L"])}
    value, met, most = checks["L: >= 95% of the GEMM ceiling"]
    assert np.isclose(value, 0.8) and not met and np.isclose(most, 0.9) and most < 0.95
    value, met, most = checks["L: fastmlp/jax >= 1.05"]
    assert not met and np.isclose(most, 1.0)  # JAX already at the bound
    value, met, most = checks["L: fastmlp/torch >= 1.3"]
    assert not met and most > 1.2 and most < 1.3


def test_compare_judges_the_speed_up_against_the_bounds_own():
    import compare

    # fastmlp 1.8x on two threads; the bound (products then update) scales 90 -> 162: 1.8x
    res = {"M": {"threads": 2, "one": 50.0, "many": 90.0,
                 "bound_one": compare._bound({"products": 100.0, "update": 900.0}),
                 "bound_many": compare._bound({"products": 180.0, "update": 1620.0})}}
    [(name, value, met, most)] = compare._threads_checks(res)
    assert name == "M: 2 threads >= 1.85x one thread" and compare._goal(name) == 1.85
    assert np.isclose(value, 1.8) and not met and np.isclose(most, 1.8)
    res["M"]["many"] = 95.0
    [(name, value, met, most)] = compare._threads_checks(res)
    assert np.isclose(value, 1.9) and met


def test_compare_takes_the_bounds_products_at_their_fastest(monkeypatch):
    import compare

    # three rounds: the bound's products their best, everything else (the update too) medians
    samples = {"fastmlp": iter([3.0, 1.0, 2.0]), "gemm": iter([30.0, 10.0, 20.0]),
               "products": iter([30.0, 10.0, 20.0]), "update": iter([300.0, 100.0, 200.0])}
    monkeypatch.setattr(compare, "_measure", lambda engine, *spec: next(samples[engine]))
    jobs = [(e, e, "M", 1, None, "float32") for e in samples]
    result = compare._rounds(jobs, 3, "test")
    assert result == {"fastmlp": 2.0, "gemm": 20.0, "products": 30.0, "update": 200.0}
