"""fastmlp.export: ONNX graphs run in onnxruntime, PyTorch modules, skl2onnx pipelines."""

import sys

import numpy as np
import pytest

import fastmlp as fm
from fastmlp.activations import Activation
from fastmlp.export import from_torch, to_onnx, to_torch

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _optional_packages(request):
    """Skip what needs a missing optional package: torch for test_torch_*, else onnxruntime."""
    global ort, onnx
    if request.node.name.startswith("test_torch"):
        pytest.importorskip("torch")
    else:
        ort = pytest.importorskip("onnxruntime")
        onnx = pytest.importorskip("onnx")


ort = onnx = None

HIDDEN = ["identity", "sigmoid", "tanh", "relu", Activation("leaky_relu", 0.137),
          Activation("elu", 0.7), "selu", "softplus", "gelu", "gelu_tanh", "swish"]
#: What onnxruntime's result may differ by from model.predict, per dtype.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def _run(proto, X, outputs=None):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(outputs, {"X": X})


def _inputs(n_features, dtype, n=64, seed=0, scale=2.0):
    return (np.random.default_rng(seed).normal(size=(n, n_features)) * scale).astype(dtype)


def _assert_matches(model, X, proto=None):
    proto = proto or to_onnx(model)
    got = _run(proto, X)[0]
    expected = model.predict(X)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE[model.dtype.name])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", HIDDEN, ids=str)
def test_every_hidden_activation(activation, dtype):
    model = fm.Model([6, 9, 8, 4], activation=activation, output="softmax", dtype=dtype, seed=3)
    _assert_matches(model, _inputs(6, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax", "tanh"])
def test_output_activations(output, dtype):
    model = fm.Model([5, 7, 3], activation="relu", output=output, dtype=dtype, seed=1)
    _assert_matches(model, _inputs(5, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_far_in_the_tails(dtype):
    # the float64 erf series is clipped at |x| = 6: check around and beyond it
    model = fm.Model([1, 1], activation="relu", output="gelu", dtype=dtype, seed=0)
    model.weights[0][...] = 1
    X = np.linspace(-40, 40, 2001).reshape(-1, 1).astype(dtype)
    _assert_matches(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_uses_running_statistics(dtype):
    model = fm.Model([6, 10, 8, 3], activation="tanh", output="softmax", dtype=dtype,
                     batch_norm=True, bn_eps=1e-3, seed=2)
    rng = np.random.default_rng(5)
    for gamma, beta, mean, var in zip(model.gammas, model.biases, model.running_means,
                                      model.running_vars):
        if gamma is not None:
            gamma[...] = rng.uniform(0.5, 2.0, gamma.shape)
            beta[...] = rng.normal(size=beta.shape)
            mean[...] = rng.normal(size=mean.shape)
            var[...] = rng.uniform(0.1, 3.0, var.shape)
    _assert_matches(model, _inputs(6, dtype))


def test_batch_norm_after_training():
    X = _inputs(6, "float32", n=200)
    y = (X[:, 0] > 0).astype(int)
    model = fm.Model([6, 12, 2], batch_norm=True, seed=0, preprocessing="standardize")
    fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=32, epochs=3, seed=0, verbose=0).fit(X, y)
    _assert_matches(model, X)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["standardize", "whiten"])
def test_stored_preprocessing(kind, dtype):
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) * 10 + 50).astype(dtype)
    model = fm.Model([5, 8, 2], activation="elu", output="identity", dtype=dtype, seed=0,
                     preprocessing=kind)
    model.fit_preprocessing(X)
    _assert_matches(model, X)


def test_free_batch_dimension_and_names():
    model = fm.Model([4, 5, 3], seed=0)
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["X"]
    assert [o.name for o in proto.graph.output] == ["Y"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value") and dims[1].dim_value == 4
    for n in (1, 3, 1000):
        _assert_matches(model, _inputs(4, "float32", n=n), proto)


def test_path_is_written_atomically(tmp_path):
    model = fm.Model([4, 5, 3], seed=0)
    path = tmp_path / "model.onnx"
    path.write_bytes(b"old")
    proto = to_onnx(model, path)
    assert path.read_bytes() == proto.SerializeToString()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temporary left
    assert onnx.load(str(path)).graph.output[0].name == "Y"


def test_opset_choice_and_errors():
    model = fm.Model([4, 5, 3], seed=0)
    proto = to_onnx(model, opset=13)
    assert proto.opset_import[0].version == 13
    _assert_matches(model, _inputs(4, "float32"), proto)
    for bad in (12, 10_000, 13.0, "17", True):
        with pytest.raises(ValueError, match="opset must be an integer"):
            to_onnx(model, opset=bad)


def test_bad_arguments():
    with pytest.raises(TypeError, match="fastmlp.Model"):
        to_onnx(object())
    model = fm.Model([4, 5, 3], seed=0, preprocessing="standardize")
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(model)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'fastmlp\[onnx\]'"):
        to_onnx(fm.Model([4, 5, 3], seed=0))


# ------------------------------------------------------------ estimators


def _classification(n_classes, dtype="float64", n=150):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(dtype)
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], np.linspace(-1, 1, n_classes - 1))
    return X, y


@pytest.mark.parametrize("labels", [[0, 1], ["ant", "bee", "cat"], [3, 7, 11, 20]], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classifier_labels_and_probabilities(labels, dtype):
    from fastmlp.sklearn import MLPClassifier

    X, y = _classification(len(labels), dtype)
    y = np.asarray(labels)[y]
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
    label, proba = _run(to_onnx(clf), X, ["label", "probabilities"])
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=TOLERANCE[dtype])
    assert label.tolist() == clf.predict(X).tolist()


def test_multilabel_classifier():
    from fastmlp.sklearn import MLPClassifier

    X, y = _classification(3)
    Y = np.column_stack([y == 0, y == 1, X[:, 2] > 0]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, Y)
    label, proba = _run(to_onnx(clf), X, ["label", "probabilities"])
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor(loss):
    from fastmlp.sklearn import MLPRegressor

    X, y = _classification(4)
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    reg.fit(X, y.astype(float))
    out = _run(to_onnx(reg), X, ["variable"])[0]
    np.testing.assert_allclose(out.ravel(), reg.predict(X), rtol=1e-12, atol=1e-12)


def test_unfitted_estimator():
    from fastmlp.sklearn import MLPRegressor

    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(MLPRegressor())


# ------------------------------------------------------------ PyTorch
def _torch_outputs(module, X):
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(X))).numpy()


def _assert_same_model(a, b):
    assert a.layer_sizes == b.layer_sizes and a.activations == b.activations
    assert a.batch_norm == b.batch_norm and a.dtype == b.dtype
    assert a.params.tobytes() == b.params.tobytes()
    assert a.running_stats.tobytes() == b.running_stats.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", HIDDEN + ["softmax"], ids=str)
def test_torch_round_trip_every_activation(activation, dtype):
    hidden, output = (activation, "identity") if activation != "softmax" else ("relu", "softmax")
    model = fm.Model([6, 9, 4], activation=hidden, output=output, dtype=dtype, seed=3)
    module = to_torch(model)
    X = _inputs(6, dtype)
    np.testing.assert_allclose(_torch_outputs(module, X), model.predict(X), rtol=0,
                               atol=TOLERANCE[dtype])
    _assert_same_model(from_torch(module), model)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_batch_norm(dtype):
    import torch

    X = _inputs(6, dtype, n=200)
    y = (X[:, 0] > 0).astype(int)
    model = fm.Model([6, 12, 8, 2], batch_norm=True, bn_eps=1e-3, bn_momentum=0.2, seed=0,
                     dtype=dtype, activation="tanh")
    fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=32, epochs=2, seed=0, verbose=0).fit(X, y)
    module = to_torch(model)
    norms = [m for m in module if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 2 and norms[0].eps == 1e-3 and norms[0].momentum == 0.2
    np.testing.assert_allclose(_torch_outputs(module, X), model.predict(X), rtol=0,
                               atol=TOLERANCE[dtype])
    _assert_same_model(from_torch(module), model)


@pytest.mark.parametrize("kind", ["standardize", "whiten"])
def test_torch_preprocessing_is_a_frozen_first_layer(kind):
    import torch

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) * 10 + 50
    model = fm.Model([5, 8, 2], activation="elu", output="identity", dtype="float64", seed=0,
                     preprocessing=kind)
    model.fit_preprocessing(X)
    module = to_torch(model)
    first = module[0]
    assert isinstance(first, torch.nn.Linear) and not first.weight.requires_grad
    assert all(p.requires_grad for p in module[1:].parameters())
    np.testing.assert_allclose(_torch_outputs(module, X), model.predict(X), rtol=0, atol=1e-10)
    back = from_torch(module)
    _assert_same_model(back, model)
    assert back.preprocessing.kind == kind
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=0, atol=1e-9)


def test_torch_linear_bias_before_batch_norm_is_folded():
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                                 torch.nn.ReLU(), torch.nn.Linear(6, 3), torch.nn.Softmax(dim=1))
    with torch.no_grad():
        module[1].running_mean.uniform_(-1, 1)
        module[1].running_var.uniform_(0.5, 2)
    module.eval()
    X = _inputs(4, "float32")
    model = from_torch(module)
    assert model.batch_norm == [True] and model.output == "softmax"
    np.testing.assert_allclose(model.predict(X), _torch_outputs(module, X), rtol=0, atol=1e-6)


def test_torch_unsupported_modules():
    import torch

    with pytest.raises(ValueError, match="no counterpart"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Hardtanh()))
    with pytest.raises(ValueError, match="first layer must be nn.Linear"):
        from_torch(torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="feeds one of"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(4, 2)))


# ------------------------------------------------------------ skl2onnx
def _pipeline(estimator, X, y):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), estimator).fit(X, y)


@pytest.mark.parametrize("labels", [[0, 1], ["ant", "bee", "cat"], [3, 7, 11, 20]], ids=str)
def test_skl2onnx_pipeline_classifier(labels):
    skl2onnx = pytest.importorskip("skl2onnx")
    from fastmlp.export import register_skl2onnx
    from fastmlp.sklearn import MLPClassifier

    X, y = _classification(len(labels), "float32")
    X = X * 5 + 3
    y = np.asarray(labels)[y]
    pipe = _pipeline(MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0), X, y)
    register_skl2onnx()
    onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {onx.graph.input[0].name: X})
    assert label.tolist() == pipe.predict(X).tolist()
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)


def test_skl2onnx_zipmap_and_float64_network():
    skl2onnx = pytest.importorskip("skl2onnx")
    from fastmlp.export import register_skl2onnx
    from fastmlp.sklearn import MLPClassifier

    X, y = _classification(3)
    pipe = _pipeline(MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0), X, y)
    register_skl2onnx()
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32))  # float input, float64 network
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {onx.graph.input[0].name: X.astype(np.float32)})
    expected = pipe.predict_proba(X.astype(np.float32))
    assert [sorted(row) for row in proba] == [[0, 1, 2]] * len(X)
    np.testing.assert_allclose([[row[k] for k in (0, 1, 2)] for row in proba], expected,
                               rtol=0, atol=1e-5)
    assert (label == pipe.predict(X.astype(np.float32))).mean() > 0.99


def test_skl2onnx_pipeline_regressor():
    skl2onnx = pytest.importorskip("skl2onnx")
    from fastmlp.export import register_skl2onnx
    from fastmlp.sklearn import MLPRegressor

    X, y = _classification(4)
    Y = np.column_stack([y, X[:, 0]])
    pipe = _pipeline(MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0), X, Y)
    register_skl2onnx()
    onx = skl2onnx.to_onnx(pipe, X[:1])  # float64 all the way
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {onx.graph.input[0].name: X})[0]
    np.testing.assert_allclose(out, pipe.predict(X), rtol=0, atol=1e-12)
