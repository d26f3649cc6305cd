"""Sample weights: the weighted mean loss sum(w_i L_i) / sum(w_i) in every path."""

import numpy as np
import pytest
from conftest import naive_args, targets_for
from naive import flatten, loss_and_grad

import fastmlp as fm
from fastmlp.losses import encode_targets

HEADS = [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"),
         ("identity", "squared_error"), ("softmax", "squared_error")]


def _model(output, loss, seed=0, sizes=(4, 6, 3), **kw):
    return fm.Model(list(sizes), activation="tanh", output=output, loss=loss, dtype="float64",
                    seed=seed, **kw)


@pytest.mark.parametrize("output, loss", HEADS)
def test_weighted_loss_and_gradient_match_reference(output, loss, rng):
    model = _model(output, loss)
    X = rng.standard_normal((9, 4))
    Y = targets_for(loss, 9, 3, rng)
    w = rng.uniform(0, 3, 9)
    w[2] = 0.0
    value, grad = model.loss_and_grad(X, Y, sample_weight=w)
    T = encode_targets(Y, model.loss, 3, np.float64)
    ref, dWs, dbs = loss_and_grad(*naive_args(model), loss, X, T, sample_weight=w)
    assert value == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(grad, flatten(dWs, dbs), rtol=1e-10, atol=1e-13)


def test_weighted_gradient_is_weighted_mean_of_per_sample_gradients(rng):
    model = _model("softmax", "cross_entropy", l2=0.0)
    X = rng.standard_normal((6, 4))
    y = rng.integers(0, 3, 6)
    w = rng.uniform(0.1, 2, 6)
    _, grad = model.loss_and_grad(X, y, sample_weight=w)
    singles = np.array([model.loss_and_grad(X[i:i + 1], y[i:i + 1])[1] for i in range(6)])
    np.testing.assert_allclose(grad, w @ singles / w.sum(), rtol=1e-10, atol=1e-14)


def test_unit_weights_change_nothing(rng):
    model = _model("softmax", "cross_entropy", l2=1e-3)
    X = rng.standard_normal((20, 4))
    y = rng.integers(0, 3, 20)
    a = model.loss_and_grad(X, y)
    b = model.loss_and_grad(X, y, sample_weight=np.ones(20))
    assert a[0] == pytest.approx(b[0], rel=1e-14)
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.filterwarnings("ignore::fastmlp.ConvergenceWarning")
@pytest.mark.parametrize("optimizer", ["sgd", "lbfgs"])
def test_integer_weights_equal_repeated_samples(optimizer, rng):
    """Full-batch training with weight k equals training with the sample k times."""
    X = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    w = rng.integers(1, 4, 30)
    results = []
    for Xs, ys, sw in [(X, y, w), (np.repeat(X, w, axis=0), np.repeat(y, w), None)]:
        model = _model("softmax", "cross_entropy", seed=1, l2=1e-3)
        opt = fm.optim.SGD(lr=0.5) if optimizer == "sgd" else fm.optim.LBFGS(max_iter=15)
        trainer = fm.Trainer(model, opt, batch_size=None, epochs=5, seed=0, verbose=0)
        history = trainer.fit(Xs, ys, sample_weight=sw)
        results.append((model.params.copy(), history["loss"][-1]))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-9, atol=1e-12)
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-9)


def test_zero_weight_samples_are_ignored(rng):
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, 3, 40)
    junk = rng.standard_normal((10, 4)) * 50
    runs = []
    for Xs, ys, sw in [(X, y, None),
                       (np.vstack([X, junk]), np.concatenate([y, np.zeros(10, int)]),
                        np.r_[np.ones(40), np.zeros(10)])]:
        model = _model("softmax", "cross_entropy", seed=2)
        fm.Trainer(model, fm.optim.Adam(lr=0.01), batch_size=None, epochs=4, verbose=0,
                   seed=0).fit(Xs, ys, sample_weight=sw)
        runs.append(model.params.copy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-9, atol=1e-12)


def test_minibatch_weighted_training_is_reproducible_and_thread_independent(rng):
    X = rng.standard_normal((300, 8))
    y = rng.integers(0, 4, 300)
    w = rng.uniform(0, 2, 300)
    params = []
    for n_threads in (1, 2, 1):
        model = fm.Model([8, 64, 4], seed=0)
        fm.Trainer(model, batch_size=32, epochs=2, seed=5, verbose=0,
                   n_threads=n_threads).fit(X, y, sample_weight=w)
        params.append(model.params.copy())
    np.testing.assert_array_equal(params[0], params[2])
    np.testing.assert_allclose(params[0], params[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"),
                                          ("identity", "squared_error")])
def test_weighted_evaluate_and_validation(output, loss, rng):
    model = _model(output, loss, sizes=(4, 5, 2))
    X = rng.standard_normal((25, 4))
    Y = targets_for(loss, 25, 2, rng)
    w = rng.uniform(0, 2, 25)
    result = model.evaluate(X, Y, sample_weight=w)
    pred = model.predict(X)
    T = encode_targets(Y, model.loss, 2, np.float64)
    if loss == "cross_entropy":
        correct = pred.argmax(1) == T.argmax(1)
        assert result["accuracy"] == pytest.approx(np.dot(w, correct) / w.sum(), rel=1e-12)
    else:
        mean = w @ T / w.sum()
        r2 = 1 - (w @ (T - pred) ** 2) / (w @ (T - mean) ** 2)
        assert result["r2"] == pytest.approx(r2.mean(), rel=1e-10)
    history = fm.Trainer(model, fm.optim.SGD(lr=1e-9), batch_size=None, epochs=1,
                         verbose=0).fit(X, Y, validation_data=(X, Y, w))
    assert history["val_loss"][0] == pytest.approx(result["loss"], rel=1e-6)


@pytest.mark.parametrize("bad, message", [
    (-np.ones(5), ">= 0"), (np.full(5, np.nan), "NaN"), (np.ones(4), "shape"),
    (np.zeros(5), "sums to 0"), (np.array(["a"] * 5), "numbers")])
def test_bad_weights_are_refused_before_training(bad, message, rng):
    model = _model("softmax", "cross_entropy")
    before = model.params.copy()
    X = rng.standard_normal((5, 4))
    y = rng.integers(0, 3, 5)
    with pytest.raises((ValueError, TypeError), match=message):
        fm.Trainer(model, verbose=0).fit(X, y, sample_weight=bad)
    with pytest.raises((ValueError, TypeError), match=message):
        model.loss_and_grad(X, y, sample_weight=bad)
    np.testing.assert_array_equal(model.params, before)
