"""Diagnostics: per-layer statistics against direct NumPy computations, and the lecture's
trends."""

import io

import numpy as np
import pytest
from conftest import naive_args
from naive import forward

import fastmlp as fm
from fastmlp.lectures.initialization import gradient_experiment, init_experiment
from fastmlp.training.diagnostics import layer_outputs, layer_statistics


def test_layer_outputs_match_reference_and_predict(rng):
    model = fm.Model([5, 7, 6, 3], activation=["tanh", "relu"], dtype="float64", seed=1)
    X = rng.standard_normal((11, 5))
    outs = layer_outputs(model, X)
    Zs, As = forward(*naive_args(model), X)
    for (z, a), Z, A in zip(outs, Zs, As):
        np.testing.assert_allclose(z, Z, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(a, A, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(outs[-1][1], model.predict(X))


def test_layer_outputs_with_batch_norm_and_preprocessing_end_in_predict(rng):
    X = rng.standard_normal((200, 6)) * 5 + 3
    y = rng.integers(0, 3, 200)
    model = fm.Model([6, 16, 8, 3], batch_norm=True, preprocessing="standardize", seed=0)
    fm.Trainer(model, batch_size=32, epochs=2, verbose=0).fit(X, y)
    np.testing.assert_allclose(layer_outputs(model, X)[-1][1], model.predict(X), rtol=2e-5,
                               atol=1e-6)


def test_statistics_match_direct_computation(rng):
    model = fm.Model([4, 30, 20, 3], activation=["sigmoid", "relu"], dtype="float64", seed=2)
    model.weights[0][...] *= 6  # push some sigmoid units into saturation
    model.biases[1][:5] = -50   # and kill five ReLUs
    X = rng.standard_normal((40, 4))
    y = rng.integers(0, 3, 40)
    stats = layer_statistics(model, X, y)
    Zs, As = forward(*naive_args(model), X)
    assert stats["act_mean"] == pytest.approx([A.mean() for A in As], rel=1e-12)
    assert stats["act_std"] == pytest.approx([A.std() for A in As], rel=1e-12)
    assert stats["weight_norm"] == pytest.approx([np.sqrt((W ** 2).sum()) for W in model.weights])
    sat = ((As[0] < 0.01) | (As[0] > 0.99)).mean()
    assert 0 < sat == pytest.approx(stats["saturated"][0])
    dead = (Zs[1] <= 0).all(axis=0)
    assert dead[:5].all() and stats["dead"][1] == pytest.approx(dead.mean())
    assert np.isnan(stats["dead"][0])
    assert np.isnan(stats["saturated"][1]) and np.isnan(stats["saturated"][2])
    _, grad = model.loss_and_grad(X, y)
    norms = [np.linalg.norm(g) for g in model.layout.weight_views(grad)]
    assert stats["grad_norm"] == pytest.approx(norms, rel=1e-12)


def test_trainer_records_diagnostics_every_epoch(rng):
    X = rng.standard_normal((300, 8))
    y = rng.integers(0, 4, 300)
    model = fm.Model([8, 16, 16, 4], activation="tanh", dtype="float64", seed=0)
    trainer = fm.Trainer(model, batch_size=32, epochs=3, verbose=0, seed=0, diagnostics=100)
    history = trainer.fit(X, y)
    for key in ("weight_norm", "grad_norm", "act_mean", "act_std", "saturated", "dead"):
        assert len(history[key]) == 3 and all(len(v) == 3 for v in history[key])
    # the last entry describes the weights the fit ended with, on its fixed sample
    Xs, Ts = trainer._diagnostic_sample
    assert Xs.shape == (100, 8)
    now = layer_statistics(model, Xs, Ts.argmax(1))
    assert history["grad_norm"][-1] == pytest.approx(now["grad_norm"], rel=1e-12)
    assert history["act_std"][-1] == pytest.approx(now["act_std"], rel=1e-12)
    assert history["weight_norm"][0] != history["weight_norm"][-1]


def test_lecture_initialisation_trends():
    """Collapse at 0.01, saturation at 0.05, steady with 1/sqrt(fan_in) (tanh) and He (ReLU)."""
    results = dict(init_experiment(width=2048))
    std = {k: np.array(v["act_std"]) for k, v in results.items()}
    sat = {k: np.array(v["saturated"]) for k, v in results.items()}
    small, large = "tanh, sigma=0.01", "tanh, sigma=0.05"
    xavier, relu_x, he = ("tanh, sigma=1/sqrt(fan_in)", "relu, sigma=1/sqrt(fan_in)",
                          "relu, He sigma=sqrt(2/fan_in)")
    assert (np.diff(std[small]) < 0).all() and std[small][-1] < std[small][0] / 20
    assert (sat[large] > 0.1).all() and (std[large] > 0.7).all()
    assert (sat[xavier][1:] < 1e-3).all() and (std[xavier] > 0.25).all()
    assert (np.diff(std[relu_x]) < 0).all() and std[relu_x][-1] < std[relu_x][0] / 4
    assert np.abs(std[he] / std[he][0] - 1).max() < 0.1


def test_lecture_vanishing_gradients():
    (_, sigmoid), (_, relu) = gradient_experiment(depth=8)
    g_sig, g_relu = np.array(sigmoid["grad_norm"]), np.array(relu["grad_norm"])
    assert (np.diff(g_sig) > 0).all() and g_sig[0] < 1e-3 * g_sig[-1]
    assert g_relu.min() > 0.1 * g_relu.max()


def test_diagnose_command(tmp_path, monkeypatch):
    from fastmlp.cli import main
    from fastmlp.cli.experiments import diagnose_command

    monkeypatch.chdir(tmp_path)
    assert main(["diagnose", "--width", "64", "--grad-depth", "3", "--plot", ""]) == 0
    args = type("Args", (), dict(width=0, depth=6, samples=16, grad_depth=8, seed=0, plot=""))
    with pytest.raises(ValueError, match="--width"):
        diagnose_command(args, out=io.StringIO())
