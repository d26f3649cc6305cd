"""Batch normalisation, dropout and DropConnect against tests/naive.py and finite differences."""

import numpy as np
import pytest
from conftest import targets_for
from naive import inverted_mask, mask_uniforms, regularised_forward, regularised_loss

import fastmlp as fm
from fastmlp.losses import encode_targets


def fd_training(model, X, Y, seed, h=1e-6, training=True):
    """Central differences of the objective in the given mode (masks fixed by ``seed``)."""
    fd = np.empty(model.n_params)
    for i in range(model.n_params):
        keep = model.params[i]
        model.params[i] = keep + h
        up, _ = model.loss_and_grad(X, Y, training=training, seed=seed)
        model.params[i] = keep - h
        down, _ = model.loss_and_grad(X, Y, training=training, seed=seed)
        model.params[i] = keep
        fd[i] = (up - down) / (2 * h)
    return fd


def perturb_norm_parameters(model, rng):
    """Gammas, betas and running statistics away from their trivial initial values."""
    for l, g in enumerate(model.gammas):
        if g is not None:
            g[...] = rng.uniform(0.5, 1.5, g.shape)
            model.biases[l][...] = rng.normal(0, 0.3, g.shape)
            model.running_means[l][...] = rng.normal(0, 0.5, g.shape)
            model.running_vars[l][...] = rng.uniform(0.5, 2.0, g.shape)


CASES = {
    "batch_norm": dict(batch_norm=True),
    "batch_norm_some": dict(batch_norm=[False, True]),
    "dropout": dict(dropout=[0.2, 0.3, 0.5]),
    "dropconnect": dict(dropconnect=0.3),
    "everything": dict(batch_norm=True, dropout=[0.1, 0.25, 0.4], dropconnect=[0.2, 0.0, 0.3]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_training_objective_matches_reference_and_gradient(case, activation, rng):
    model = fm.Model([5, 7, 6, 3], activation=activation, dtype="float64", seed=4,
                     **CASES[case])
    perturb_norm_parameters(model, rng)
    X = rng.standard_normal((9, 5))
    y = targets_for("cross_entropy", 9, 3, rng)
    T = encode_targets(y, model.loss, 3, np.float64)
    value, grad = model.loss_and_grad(X, y, training=True, seed=11)
    assert value == pytest.approx(regularised_loss(model, X, T, True, seed=11), rel=1e-12)
    np.testing.assert_allclose(grad, fd_training(model, X, y, 11), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("activation", ["relu", "swish"])
def test_inference_objective_uses_running_statistics(activation, rng):
    model = fm.Model([4, 6, 5, 2], activation=activation, output="identity", dtype="float64",
                     seed=2, batch_norm=True, dropout=0.3, dropconnect=0.2)
    perturb_norm_parameters(model, rng)
    X = rng.standard_normal((8, 4))
    Y = rng.standard_normal((8, 2))
    value, grad = model.loss_and_grad(X, Y)
    assert value == pytest.approx(regularised_loss(model, X, Y, False), rel=1e-12)
    np.testing.assert_allclose(grad, fd_training(model, X, Y, 0, training=False), rtol=1e-5,
                               atol=1e-8)
    _, out, _ = regularised_forward(model, X, False)
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-12, atol=1e-14)


def test_float32_training_gradient_close_to_float64(rng):
    kw = dict(activation="tanh", seed=5, batch_norm=True, dropout=0.2, dropconnect=0.1)
    m64 = fm.Model([6, 16, 8, 4], dtype="float64", **kw)
    m32 = fm.Model([6, 16, 8, 4], dtype="float32", **kw)
    X = rng.standard_normal((32, 6))
    y = rng.integers(0, 4, 32)
    v64, g64 = m64.loss_and_grad(X, y, training=True, seed=3)
    v32, g32 = m32.loss_and_grad(X, y, training=True, seed=3)
    assert g32.dtype == np.float32
    assert v32 == pytest.approx(v64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


def test_batch_norm_running_statistics_follow_pytorch_rule(rng):
    model = fm.Model([3, 6, 2], activation="relu", dtype="float64", seed=1, batch_norm=True,
                     bn_momentum=0.25)
    perturb_norm_parameters(model, rng)
    before = model.copy()
    X = rng.standard_normal((10, 3)) * 2 + 1
    y = rng.integers(0, 2, 10)
    fm.Trainer(model, fm.optim.SGD(lr=0.1), batch_size=None, epochs=1, shuffle=False,
               verbose=0).fit(X, y)
    Z = X @ before.weights[0]  # the batch statistics are those before the step
    m, n = 0.25, X.shape[0]
    np.testing.assert_allclose(model.running_means[0],
                               (1 - m) * before.running_means[0] + m * Z.mean(axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(model.running_vars[0],
                               (1 - m) * before.running_vars[0] + m * Z.var(axis=0) * n / (n - 1),
                               rtol=1e-12)
    # loss_and_grad, predict and evaluate leave them alone
    running = model.running_stats.copy()
    model.loss_and_grad(X, y, training=True)
    model.loss_and_grad(X, y)
    model.predict(X)
    model.evaluate(X, y)
    np.testing.assert_array_equal(model.running_stats, running)


def test_batch_norm_training_normalises_each_unit(rng):
    """In training mode the normalised pre-activations have mean beta and std gamma."""
    model = fm.Model([4, 5, 3], activation="identity", output="identity", dtype="float64",
                     seed=0, batch_norm=True)
    model.gammas[0][...] = [1, 2, 3, 4, 5]
    model.biases[0][...] = [-1, 0, 1, 2, 3]
    X = rng.standard_normal((64, 4)) * 10 + 5
    _, _, stats = regularised_forward(model, X, True)
    # the reference's batch statistics are those of X W; after normalisation:
    Z = X @ model.weights[0]
    Y = model.gammas[0] * (Z - stats[0][0]) / np.sqrt(stats[0][1] + 1e-5) + model.biases[0]
    np.testing.assert_allclose(Y.mean(axis=0), model.biases[0], atol=1e-12)
    np.testing.assert_allclose(Y.std(axis=0), model.gammas[0], rtol=1e-5)
    # and the kernel's training objective is that of this Y
    T = rng.standard_normal((64, 3))
    value, _ = model.loss_and_grad(X, T, training=True)
    out = Y @ model.weights[1] + model.biases[1]
    assert value == pytest.approx(0.5 * ((out - T) ** 2).sum(axis=1).mean(), rel=1e-12)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_masks_keep_the_expected_fraction_and_preserve_the_mean(rate):
    u = mask_uniforms(7, 3, 2, 400, 500)
    kept = (u < 1 - rate).mean()
    assert kept == pytest.approx(1 - rate, abs=4 * np.sqrt(rate * (1 - rate) / u.size))
    mask = inverted_mask(7, 3, 2, (400, 500), rate)
    assert mask.mean() == pytest.approx(1.0, abs=0.02)
    # different steps, streams and rows give unrelated masks
    other = mask_uniforms(7, 4, 2, 400, 500)
    assert abs(np.corrcoef(u.ravel(), other.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.01


def test_dropout_is_inactive_at_prediction_and_masks_depend_on_seed(rng):
    model = fm.Model([6, 20, 3], dtype="float64", seed=0, dropout=[0.3, 0.5])
    plain = fm.Model([6, 20, 3], dtype="float64", seed=0)
    X = rng.standard_normal((12, 6))
    y = rng.integers(0, 3, 12)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))
    assert model.loss_and_grad(X, y)[0] == plain.loss_and_grad(X, y)[0]
    a = model.loss_and_grad(X, y, training=True, seed=1)
    b = model.loss_and_grad(X, y, training=True, seed=1)
    c = model.loss_and_grad(X, y, training=True, seed=2)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])
    assert a[0] != c[0]


class _Chunks(fm.Callback):
    chunks_per_epoch = 3

    def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
        pass


def _train(kw, n_threads, seed=3, chunked=False, dtype="float64", epochs=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10))
    y = rng.integers(0, 4, 200)
    model = fm.Model([10, 192, 160, 4], activation="relu", dtype=dtype, seed=1, **kw)
    callbacks = [_Chunks()] if chunked else []
    fm.Trainer(model, fm.optim.Adam(lr=1e-3), batch_size=64, epochs=epochs, seed=seed,
               verbose=0, n_threads=n_threads, callbacks=callbacks).fit(X, y)
    return model


@pytest.mark.parametrize("case", ["batch_norm", "dropout", "dropconnect", "everything"])
def test_training_is_reproducible_and_thread_count_independent(case):
    kw = {k: (v if k == "batch_norm" else 0.3) for k, v in CASES[case].items()}
    a = _train(kw, 1)
    b = _train(kw, 1)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.running_stats, b.running_stats)
    assert not np.array_equal(a.params, _train(kw, 1, seed=4).params) or case == "batch_norm"
    if fm.max_threads() > 1:
        # two threads split the work (by columns for these layers): the same
        # masks, only the summation order differs
        c = _train(kw, 2)
        np.testing.assert_allclose(c.params, a.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(c.running_stats, a.running_stats, rtol=1e-9, atol=1e-12)
    # an epoch cut into chunks for callbacks draws the same masks
    np.testing.assert_array_equal(_train(kw, 1, chunked=True).params, a.params)


def test_dropout_regularises_training(rng):
    """A wide net memorises noise labels less with dropout (lower training accuracy)."""
    X = rng.standard_normal((300, 20)).astype(np.float32)
    y = rng.integers(0, 2, 300)
    accuracy = {}
    for rate in (0.0, 0.5):
        model = fm.Model([20, 256, 2], seed=0, dropout=rate)
        fm.Trainer(model, fm.optim.Adam(lr=3e-3), batch_size=32, epochs=40, seed=0,
                   verbose=0).fit(X, y)
        accuracy[rate] = model.evaluate(X, y)["accuracy"]
    assert accuracy[0.0] > 0.9
    assert accuracy[0.5] < accuracy[0.0]


def test_batch_norm_trains_a_deep_sigmoid_net():
    """Six sigmoid layers: plain SGD stalls at chance for 5 epochs, batch norm learns."""
    X, y = fm.datasets.load_digits()
    X = X / 16.0
    accuracy = {}
    for norm in (False, True):
        model = fm.Model([64] + [64] * 6 + [10], activation="sigmoid", seed=0, batch_norm=norm)
        fm.Trainer(model, fm.optim.SGD(lr=0.05), batch_size=32, epochs=5, seed=0,
                   verbose=0).fit(X, y)
        accuracy[norm] = model.evaluate(X, y)["accuracy"]
    assert accuracy[False] < 0.2
    assert accuracy[True] > 0.85


@pytest.mark.filterwarnings("ignore::fastmlp.ConvergenceWarning")
def test_lbfgs_with_batch_norm_sets_running_statistics_to_the_training_set(rng):
    X = rng.standard_normal((120, 4))
    y = rng.integers(0, 3, 120)
    model = fm.Model([4, 8, 3], activation="tanh", dtype="float64", seed=0, batch_norm=True)
    fm.Trainer(model, fm.optim.LBFGS(max_iter=30), verbose=0).fit(X, y)
    Z = X @ model.weights[0]
    np.testing.assert_allclose(model.running_means[0], Z.mean(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.running_vars[0], Z.var(axis=0, ddof=1), rtol=1e-10)
    # so the inference objective equals the training one up to the n/(n-1) of the variance
    train_loss = model.loss_and_grad(X, y, training=True)[0]
    assert model.evaluate(X, y)["loss"] == pytest.approx(train_loss, rel=1e-2)


def test_copy_keeps_running_statistics_separate(rng):
    model = fm.Model([3, 4, 2], seed=0, batch_norm=True)
    clone = model.copy()
    clone.running_means[0][...] = 5
    clone.gammas[0][...] = 2
    assert (model.running_means[0] == 0).all() and (model.gammas[0] == 1).all()
    assert clone.running_stats[0] == 5 and clone.params[model.layout.gamma_slice(0)][0] == 2


@pytest.mark.parametrize("kw, message", [
    (dict(dropout=1.0), "dropout must be in"),
    (dict(dropout=-0.1), "dropout must be in"),
    (dict(dropout=[0.1, 0.2]), "dropout lists 2 rates"),
    (dict(dropout=[0.1, 0.2, float("nan")]), r"dropout\[2\] must be in"),
    (dict(dropconnect=1.5), "dropconnect must be in"),
    (dict(dropconnect=[0.1]), "dropconnect lists 1 values"),
    (dict(batch_norm=[True]), "batch_norm lists 1 values"),
    (dict(batch_norm="yes"), "batch_norm must be True or False"),
    (dict(bn_momentum=1.5), "bn_momentum must be in"),
    (dict(bn_eps=0), "bn_eps must be a positive"),
])
def test_bad_regularisation_options(kw, message):
    with pytest.raises(ValueError, match=message):
        fm.Model([4, 5, 6, 2], **kw)


def test_batch_norm_refuses_batches_of_one(rng):
    X = rng.standard_normal((33, 4))
    y = rng.integers(0, 2, 33)
    model = fm.Model([4, 5, 2], seed=0, batch_norm=True)
    before = model.params.copy()
    for batch_size in (1, 32):  # 33 = 32 + 1 leaves a last batch of one
        with pytest.raises(ValueError, match="at least 2 samples"):
            fm.Trainer(model, batch_size=batch_size, verbose=0).fit(X, y)
    with pytest.raises(ValueError, match="at least 2 samples"):
        model.loss_and_grad(X[:1], y[:1], training=True)
    np.testing.assert_array_equal(model.params, before)
    fm.Trainer(model, batch_size=11, epochs=1, verbose=0).fit(X, y)
    assert not np.array_equal(model.params, before)
