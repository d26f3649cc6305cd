"""Each kernel compiles once per dtype: new data of the same dtype, in any
memory layout, never adds a signature (a recompilation costs seconds)."""

import numpy as np

import fastmlp as fm
from fastmlp.kernels import inference, ops, optim, train


def _signature_counts():
    # the compiled entry points (the launchers train.train_batches,
    # train.loss_grad, inference.predict and inference.evaluate run on each
    # thread of a team, and a small predict on the calling thread), and every
    # function compiled as a pointer, by kind and name
    kernels = [inference._predict_team, inference._predict_here, inference._evaluate,
               train._train, train._loss_grad, optim.step_parallel]
    counts = {k.__name__: len(k.signatures) for k in kernels}
    for info in ops.compiled():
        counts[info.kind, info.name] = counts.get((info.kind, info.name), 0) + 1
    return counts


def _exercise(dtype, rng, n):
    model = fm.Model([6, 9, 3], activation="tanh", dtype=dtype, seed=int(rng.integers(100)))
    X = rng.standard_normal((n, 6))
    y = rng.integers(0, 3, n)
    frozen = np.asfortranarray(X).astype(np.float32)
    frozen.flags.writeable = False
    model.predict(frozen)
    model.predict(X[::2])
    model.loss_and_grad(X.astype(np.int64), y)
    model.evaluate(X, y)
    fm.Trainer(model, "sgd", batch_size=7, epochs=1, verbose=0).fit(X, y, validation_data=(X, y))
    if fm.max_threads() > 1:  # the team variants (the threshold is on the work's size)
        big = rng.standard_normal((600, 6))
        team_model = fm.Model([6, 512, 3], dtype=dtype, seed=0)
        fm.Trainer(team_model, batch_size=600, epochs=1, verbose=0).fit(big, np.arange(600) % 3)
        team_model.loss_and_grad(big, np.arange(600) % 3)
        wide = fm.Model([64, 1024, 3], dtype=dtype, seed=0)  # a predict's block big enough
        wide.predict(rng.standard_normal((1100, 64)))
    fm.optim.Adam().step(model.params, np.ones_like(model.params))


def test_no_new_signatures_for_new_data(rng):
    # other tests in this process may have compiled other variants already
    # (sparse inputs, say): count what this test's dense data add
    start = _signature_counts()
    for dtype in ("float32", "float64"):
        _exercise(dtype, rng, 20)
    before = _signature_counts()
    added = {key: count - start.get(key, 0) for key, count in before.items()}
    assert all(count <= 2 for count in added.values()), added
    for n in (1, 5, 33):
        for dtype in ("float32", "float64"):
            _exercise(dtype, rng, n)
    assert _signature_counts() == before
