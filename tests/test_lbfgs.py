"""L-BFGS through scipy over the flat buffer."""

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.datasets import load_digits
from fastmlp.exceptions import ConvergenceWarning
from fastmlp.preprocessing import StandardScaler, train_test_split


def test_reaches_the_ridge_solution(rng):
    # A linear model with squared error and an L2 penalty is ridge regression:
    # its minimum solves (X1^T X1 / n + l2 P) theta = X1^T Y / n, P = diag(1.., 0).
    n, d, k, l2 = 200, 5, 2, 0.1
    X = rng.standard_normal((n, d))
    Y = X @ rng.standard_normal((d, k)) + 0.1 * rng.standard_normal((n, k))
    model = fm.Model([d, k], output="identity", dtype="float64", l2=l2, seed=0)
    fm.Trainer(model, fm.optim.LBFGS(max_iter=500, tol=1e-10), verbose=0).fit(X, Y)
    X1 = np.hstack([X, np.ones((n, 1))])
    P = np.diag([1.0] * d + [0.0])
    theta = np.linalg.solve(X1.T @ X1 / n + l2 * P, X1.T @ Y / n)
    np.testing.assert_allclose(model.weights[0], theta[:d], atol=1e-6)
    np.testing.assert_allclose(model.biases[0], theta[d], atol=1e-6)


def test_same_minimum_as_scipy_on_the_same_objective(rng):
    from scipy.optimize import minimize

    X, y = rng.standard_normal((120, 4)), rng.integers(0, 3, 120)
    model = fm.Model([4, 6, 3], activation="tanh", dtype="float64", seed=3, l2=1e-3)
    x0 = model.params.copy()
    fm.Trainer(model, fm.optim.LBFGS(max_iter=300, tol=1e-9), verbose=0).fit(X, y)
    probe = fm.Model([4, 6, 3], activation="tanh", dtype="float64", seed=3, l2=1e-3)

    def fun(x):
        probe.params[...] = x
        loss, grad = probe.loss_and_grad(X, y)
        return loss, grad.copy()

    ref = minimize(fun, x0, method="L-BFGS-B", jac=True, options={"maxiter": 300, "gtol": 1e-9})
    probe.params[...] = model.params
    assert probe.loss_and_grad(X, y)[0] == pytest.approx(ref.fun, rel=1e-6, abs=1e-9)


def test_trains_the_digits(rng):
    X, y = load_digits()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, seed=0)
    scaler = StandardScaler().fit(X_tr)
    model = fm.Model([64, 64, 10], activation="tanh", seed=0, l2=1e-4)
    hist = fm.Trainer(model, fm.optim.LBFGS(max_iter=200), verbose=0).fit(
        scaler.transform(X_tr), y_tr, validation_data=(scaler.transform(X_te), y_te))
    assert model.evaluate(scaler.transform(X_te), y_te)["accuracy"] >= 0.96
    assert len(hist["loss"]) == len(hist["val_loss"]) > 10
    assert hist["loss"][-1] < hist["loss"][0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_warns_at_max_iter_and_keeps_the_dtype(dtype, rng):
    X, y = rng.standard_normal((50, 3)), rng.integers(0, 2, 50)
    model = fm.Model([3, 5, 2], dtype=dtype, seed=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        hist = fm.Trainer(model, fm.optim.LBFGS(max_iter=3), verbose=0).fit(X, y)
    assert model.params.dtype == np.dtype(dtype) and np.all(np.isfinite(model.params))
    assert len(hist["loss"]) == 3


def test_full_batch_only():
    with pytest.raises(ValueError, match="batch_size=None"):
        fm.Trainer(fm.Model([2, 2]), fm.optim.LBFGS(), batch_size=32)
    with pytest.raises(ValueError, match="schedule"):
        fm.Trainer(fm.Model([2, 2]), "lbfgs", schedule="step")
    assert fm.Trainer(fm.Model([2, 2]), "lbfgs").batch_size is None
