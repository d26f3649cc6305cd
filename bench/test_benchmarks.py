"""pytest-benchmark suite: forward, backward, optimizer step and epoch per workload.

Not part of the default test run (``testpaths`` is ``tests``).  Run with

    python -m pytest bench/test_benchmarks.py --benchmark-only
    python -m pytest bench/test_benchmarks.py --benchmark-autosave     # keep a record
    python -m pytest bench/test_benchmarks.py --benchmark-compare      # against the last record

so that a regression in one piece shows up on its own.  Every benchmark
compiles (warms up) before timing.
"""

import os
import sys

import numpy as np
import pytest

import fastmlp as fm
from fastmlp._utils.validation import NO_WEIGHTS
from fastmlp.engine.calls import plan
from fastmlp.engine.layout import Workspace
from fastmlp.engine.threads import single_threaded_blas
from fastmlp.kernels import network as kn
from fastmlp.kernels import ops as kops
from fastmlp.kernels import optim as ko
from fastmlp.kernels import sync as ksync
from fastmlp.kernels import train as kt
from fastmlp.kernels.structs import Data

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import WORKLOADS  # noqa: E402


@pytest.fixture(params=list(WORKLOADS), scope="module")
def setup(request):
    w = WORKLOADS[request.param]
    X, y = w.data()
    model = fm.Model(list(w.sizes), seed=0)
    T = np.eye(w.sizes[-1], dtype=np.float32)[y]
    n_threads = plan(w.sizes, w.batch_size, training=True).n_threads
    ws = Workspace(model.layout, w.batch_size, np.float32, training=True, n_threads=n_threads)
    order = np.random.default_rng(0).permutation(len(X)).astype(np.int64)
    with single_threaded_blas():
        yield dict(w=w, X=X, y=y, T=T, model=model, ws=ws, order=order, n_threads=n_threads,
                   sync=ksync.new_state())


def _loss_grad(s, grad, stats):
    engine, w = s["model"].engine, s["w"]
    return kt.loss_grad(engine.net(), engine.ops(), grad, engine.reg, 1,
                        Data(s["X"], s["T"], NO_WEIGHTS, s["order"]), 0, w.batch_size,
                        s["ws"].work, stats, s["n_threads"], s["sync"], kn.INFERENCE)


def test_forward_batch(benchmark, setup):
    m, w = setup["model"], setup["w"]
    X = np.ascontiguousarray(setup["X"][:w.batch_size])
    benchmark(m.predict, X)


def test_forward_backward_batch(benchmark, setup):
    grad = np.zeros_like(setup["model"].params)
    stats = np.zeros((setup["n_threads"], 3 + setup["w"].sizes[-1]))
    _loss_grad(setup, grad, stats)
    benchmark(_loss_grad, setup, grad, stats)


def test_adam_step(benchmark, setup):
    m = setup["model"]
    opt = fm.optim.Adam()
    grad = np.full_like(m.params, 1e-3)
    state = opt.bind(m.params)
    hyper = opt.hyper()
    n = setup["n_threads"]
    fns = kops.optimizer_ops("float32", opt.kind)

    def step():
        if n == 1:
            ko.step(fns.update, fns.constants, opt.kind, m.params, grad, state, hyper,
                    opt.step_count, opt.scalar_state, opt.lr)
        else:
            ko.step_parallel(fns.update, fns.constants, opt.kind, m.params, grad, state, hyper,
                             opt.step_count, opt.scalar_state, opt.lr, 4 * n)

    step()
    benchmark(step)


def test_epoch(benchmark, setup):
    w = setup["w"]
    trainer = fm.Trainer(setup["model"], fm.optim.Adam(1e-3), batch_size=w.batch_size, epochs=1,
                         seed=0, verbose=0)
    trainer.fit(setup["X"], setup["y"])
    benchmark.pedantic(trainer.fit, args=(setup["X"], setup["y"]), rounds=3, iterations=1)


def test_predict_large(benchmark, setup):
    X = setup["X"]
    setup["model"].predict(X[:10])
    benchmark.pedantic(setup["model"].predict, args=(X,), rounds=5, iterations=1)
