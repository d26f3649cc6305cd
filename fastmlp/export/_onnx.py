"""A fastmlp model or estimator as a standalone ONNX model: :func:`to_onnx`."""

import os
import tempfile

import numpy as np

from ..archive.format import fsync_directory
from ..model import Model
from ._graph import (
    GraphBuilder,
    class_array,
    emit_classifier_outputs,
    emit_network,
    onnx_type_of,
)

__all__ = ["to_onnx", "import_onnx", "DEFAULT_OPSET", "MIN_OPSET"]

#: Opset of the exported graphs unless ``opset=`` says otherwise.
DEFAULT_OPSET = 17
#: Softmax over the last axis alone (not a flattened 2-D view) needs opset 13.
MIN_OPSET = 13

_INSTALL_HINT = "pip install 'fastmlp[onnx]'"


def import_onnx():
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"ONNX export needs the onnx package: {_INSTALL_HINT}") from exc
    return onnx


def to_onnx(model_or_estimator, path=None, opset=None):
    """The predict path of a fastmlp model or estimator as an ONNX model.

    The graph holds the stored preprocessing (standardisation or PCA
    whitening), every layer (batch normalisation in inference form with the
    running statistics) and the activations with fastmlp's formulas, in the
    model's dtype (float32 or float64), with a free batch dimension.

    Parameters
    ----------
    model_or_estimator : fastmlp.Model, fastmlp.sklearn.MLPClassifier or MLPRegressor
        A model: input ``"X"`` (n, n_inputs), output ``"Y"``, what
        ``model.predict`` returns.  A fitted regressor: output
        ``"variable"`` (n, n_outputs), what ``predict`` returns (as a
        column for one output).  A fitted classifier: outputs ``"label"``
        (what ``predict`` returns) and ``"probabilities"`` (what
        ``predict_proba`` returns).
    path : str or os.PathLike, optional
        Also write the model there, atomically (a temporary file in the same
        directory, fsync'ed and renamed over ``path``).
    opset : int, optional
        ONNX opset version, from 13 to the installed onnx's newest (default 17).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ImportError
        onnx is not installed.
    ValueError
        An unfitted estimator or preprocessing, or an opset out of range.
    TypeError
        Neither a fastmlp model nor a fastmlp estimator.

    Examples
    --------
    >>> proto = fastmlp.export.to_onnx(model, "model.onnx")       # doctest: +SKIP
    >>> import onnxruntime as ort                                 # doctest: +SKIP
    >>> session = ort.InferenceSession("model.onnx")              # doctest: +SKIP
    >>> session.run(None, {"X": X.astype(model.dtype)})[0]        # doctest: +SKIP
    """
    onnx = import_onnx()
    opset = _check_opset(onnx, opset)
    model, task = _network_of(model_or_estimator)
    nodes, constants, names = [], [], set()
    graph = GraphBuilder(
        lambda op, inputs, outputs, attrs: nodes.append(
            onnx.helper.make_node(op, inputs, outputs, name=_fresh(names, op), **attrs)),
        lambda name, array: constants.append(onnx.numpy_helper.from_array(array, name)),
        lambda hint: _fresh(names, hint), model.dtype)
    outputs = _emit_task(graph, model, task, model_or_estimator)
    element = onnx_type_of(model.dtype)
    inputs = [onnx.helper.make_tensor_value_info("X", element, ["N", model.n_inputs])]
    value_infos = [onnx.helper.make_tensor_value_info(name, kind, shape)
                   for name, kind, shape in outputs]
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(nodes, "fastmlp", inputs, value_infos, constants),
        opset_imports=[onnx.helper.make_opsetid("", opset)], producer_name="fastmlp")
    # the oldest IR version that carries this opset, so that older runtimes load it
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.checker.check_model(proto)
    if path is not None:
        _write_atomically(proto.SerializeToString(), path)
    return proto


def _emit_task(graph, model, task, estimator):
    """Nodes from the input "X" to the task's outputs; returns (name, type, shape) of each."""
    element = onnx_type_of(model.dtype)
    n_out = model.n_outputs
    if task == "model":
        emit_network(graph, model, "X", output="Y")
        return [("Y", element, ["N", n_out])]
    if task == "regressor":
        out = emit_network(graph, model, "X")
        if estimator.out_activation_ == "exp":  # Poisson: exp of the network's output
            out = graph.op("Exp", [out])
        graph.op("Identity", [out], output="variable")
        return [("variable", element, ["N", n_out])]
    classes = estimator.classes_
    multilabel = model.output == "sigmoid" and n_out > 1
    probabilities = emit_network(graph, model, "X")
    emit_classifier_outputs(graph, probabilities, classes, multilabel, "label", "probabilities")
    onnx = import_onnx()
    if multilabel:
        label_type, label_shape = onnx.TensorProto.INT64, ["N", n_out]
    else:
        label_type = onnx.helper.np_dtype_to_tensor_dtype(class_array(classes).dtype)
        label_shape = ["N"]
    n_columns = n_out if (multilabel or n_out > 1) else 2
    return [("label", label_type, label_shape), ("probabilities", element, ["N", n_columns])]


def _network_of(obj):
    """(model, task) for a Model ("model") or a fitted fastmlp estimator."""
    if isinstance(obj, Model):
        return obj, "model"
    network = getattr(obj, "model_", None)
    if not type(obj).__module__.startswith("fastmlp.sklearn"):
        raise TypeError("to_onnx takes a fastmlp.Model or a fastmlp.sklearn estimator, got "
                        f"{type(obj).__name__}")
    if not isinstance(network, Model):
        raise ValueError(f"this {type(obj).__name__} is not fitted yet: call fit first")
    return network, "classifier" if hasattr(obj, "classes_") else "regressor"


def _check_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest} (the "
                         f"installed onnx's newest), got {opset!r}")
    return int(opset)


def _fresh(names, hint):
    """``hint`` made unique among ``names`` (and added to them)."""
    name, k = hint, 0
    while name in names:
        k += 1
        name = f"{hint}_{k}"
    names.add(name)
    return name


def _write_atomically(data, path):
    """Write bytes to ``path`` so that a crash leaves the old file or the new one."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_directory(directory)
