"""skl2onnx converters for fastmlp's estimators: :func:`register_skl2onnx`.

With them, ``skl2onnx.to_onnx`` converts scikit-learn pipelines that hold a
``fastmlp.sklearn.MLPClassifier`` or ``MLPRegressor``: the classifier gives
``label`` and ``probabilities`` as scikit-learn's own MLP converter does
(with skl2onnx's ``zipmap`` option; the default turns the probabilities into
a list of dicts), the regressor ``variable`` (n, n_outputs).  The network
runs in the estimator's dtype; the input is cast to it, and the outputs to
the type skl2onnx expects from the input type, where they differ.
"""

from ._graph import GraphBuilder, emit_classifier_outputs, emit_network, onnx_type_of
from ._onnx import import_onnx

__all__ = ["register_skl2onnx"]

_ALIASES = {"MLPClassifier": "FastmlpMLPClassifier", "MLPRegressor": "FastmlpMLPRegressor"}


def _import_skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("register_skl2onnx needs skl2onnx: pip install 'fastmlp[onnx]'") \
            from exc
    return skl2onnx


def register_skl2onnx():
    """Teach skl2onnx to convert fastmlp's scikit-learn estimators (also inside pipelines).

    After this call ``skl2onnx.to_onnx(pipeline, X[:1])`` (or
    ``convert_sklearn``) converts a ``Pipeline`` (or any supported
    composition) holding ``fastmlp.sklearn.MLPClassifier`` or
    ``MLPRegressor``.  Calling it again is harmless.

    Raises
    ------
    ImportError
        skl2onnx (or scikit-learn) is not installed.

    Examples
    --------
    >>> from fastmlp.export import register_skl2onnx             # doctest: +SKIP
    >>> register_skl2onnx()                                       # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(pipeline, X[:1].astype("float32"),
    ...                        options={"zipmap": False})         # doctest: +SKIP
    """
    skl2onnx = _import_skl2onnx()
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
    )

    # imported here: fastmlp.sklearn needs scikit-learn, an optional extra
    from ..sklearn import MLPClassifier, MLPRegressor

    skl2onnx.update_registered_converter(
        MLPClassifier, _ALIASES["MLPClassifier"], calculate_linear_classifier_output_shapes,
        _convert_classifier, options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    skl2onnx.update_registered_converter(
        MLPRegressor, _ALIASES["MLPRegressor"], _regressor_output_shape, _convert_regressor)


def _regressor_output_shape(operator):
    """``variable``: (n, n_outputs) in the input's float type (float32 for other inputs)."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    given = operator.inputs[0].type
    kind = type(given) if isinstance(given, (FloatTensorType, DoubleTensorType)) \
        else FloatTensorType
    operator.outputs[0].type = kind([given.shape[0], operator.raw_operator.n_outputs_])


def _builder(scope, container, dtype):
    """A GraphBuilder that writes into skl2onnx's container, with the scope's unique names."""
    onnx = import_onnx()

    def add_node(op_type, inputs, outputs, attributes):
        container.add_node(op_type, inputs, outputs, name=scope.get_unique_operator_name(op_type),
                           **attributes)

    def add_constant(name, array):
        if array.dtype == object:  # string labels are not stored as raw bytes
            container.add_initializer(name, onnx.TensorProto.STRING, list(array.shape),
                                      [str(v).encode() for v in array.ravel()])
        else:
            container.add_initializer(name, None, None,
                                      onnx.numpy_helper.from_array(array, name))

    return GraphBuilder(add_node, add_constant, scope.get_unique_variable_name, dtype)


def _network_input(g, operator):
    """The operator's input in the network's dtype (cast when skl2onnx gives another type)."""
    x = operator.inputs[0].full_name
    if _element_type(operator.inputs[0]) == onnx_type_of(g.dtype):
        return x
    return g.op("Cast", [x], to=onnx_type_of(g.dtype))


def _element_type(variable):
    return variable.type.to_onnx_type().tensor_type.elem_type


def _to_output(g, tensor, variable):
    """Copy (or cast) ``tensor`` into the operator's output ``variable``."""
    wanted = _element_type(variable)
    if wanted == onnx_type_of(g.dtype):
        g.op("Identity", [tensor], output=variable.full_name)
    else:
        g.op("Cast", [tensor], output=variable.full_name, to=wanted)


def _convert_classifier(scope, operator, container):
    """Nodes of a fitted fastmlp MLPClassifier: labels and probabilities."""
    estimator = operator.raw_operator
    model = estimator.model_
    g = _builder(scope, container, model.dtype)
    out = emit_network(g, model, _network_input(g, operator))
    multilabel = model.output == "sigmoid" and model.n_outputs > 1
    label, proba = g.unique_name("label"), g.unique_name("probabilities")
    emit_classifier_outputs(g, out, estimator.classes_, multilabel, label, proba)
    # labels are int64 or strings, the types skl2onnx's shape calculator gives them
    g.op("Identity", [label], output=operator.outputs[0].full_name)
    _to_output(g, proba, operator.outputs[1])


def _convert_regressor(scope, operator, container):
    """Nodes of a fitted fastmlp MLPRegressor: the predictions (n, n_outputs)."""
    estimator = operator.raw_operator
    g = _builder(scope, container, estimator.model_.dtype)
    out = emit_network(g, estimator.model_, _network_input(g, operator))
    if estimator.out_activation_ == "exp":  # Poisson: exp of the network's output
        out = g.op("Exp", [out])
    _to_output(g, out, operator.outputs[0])
