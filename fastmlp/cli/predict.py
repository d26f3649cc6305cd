"""``fastmlp predict``, ``evaluate`` and ``info``: using a saved model on new raw rows.

``fastmlp train --save model.npz`` stores in the model's
:attr:`~fastmlp.Model.metadata` what these commands need (``CLI_FORMAT``):
the task, the target's name, the class labels as the training file wrote
them, the feature encoding (:class:`fastmlp.data.encoding.TabularEncoder`:
columns, categories, imputation values) and a training summary.  A model
saved from Python without that metadata still works on numeric inputs:
its columns are taken in order and classes are reported as indices.

A model trained on an svmlight file keeps how its rows were read
(:func:`~fastmlp.data.svmlight.svmlight_encoding`: the number of features,
zero- or one-based indices): new svmlight files -- or their conversions --
are read the same way, as sparse rows (a file whose indices stop short is
padded by the shape; an index beyond the model's features is an error
naming the line).  A multi-label model predicts the labels whose sigmoid
output exceeds 0.5, separated by commas.
"""

import csv
import json
import sys

import numpy as np

from .._utils.sparse import csr_on, is_sparse
from ..data.encoding import TabularEncoder, label_indices, target_values
from ..data.svmlight import SparseTable, is_svmlight_encoding, label_text
from ..data.tables import EncodedTable, Table, read_table
from ..model import Model

__all__ = ["CLI_FORMAT", "add_model_commands", "run_model_command", "model_inputs",
           "predict_command", "evaluate_command", "info_command"]

#: ``Model.metadata["format"]`` of the models ``fastmlp train`` writes.
CLI_FORMAT = "fastmlp.cli/1"


def add_model_commands(sub):
    """Add the ``predict``, ``evaluate`` and ``info`` sub-commands to ``sub``."""
    predict = sub.add_parser(
        "predict", help="predict with a saved model on new rows",
        description="Predict on a .csv (header row), .npz or .npy file with a model saved by "
                    "fastmlp train --save. Text columns are encoded as in training; an unseen "
                    "category or a missing value the model cannot impute is an error naming "
                    "the row and the column. Classes come back as the training file wrote "
                    "them. A model trained on svmlight rows reads svmlight files (.svm) "
                    "with its training data's indexing and width.")
    predict.add_argument("--model", required=True, help="model file (.npz)")
    predict.add_argument("--data", required=True,
                         help="rows to predict (.csv, .npz, .npy, .svm, a conversion's "
                              ".meta.json)")
    predict.add_argument("--output", default=None,
                         help="CSV file of the predictions (default: stdout)")
    predict.add_argument("--proba", action="store_true",
                         help="add one probability column per class")
    evaluate = sub.add_parser(
        "evaluate", help="loss and accuracy (or R^2) of a saved model on labelled rows",
        description="Evaluate a saved model on a labelled .csv, .npz or svmlight file (or a "
                    "conversion of fastmlp convert).")
    evaluate.add_argument("--model", required=True, help="model file (.npz)")
    evaluate.add_argument("--data", required=True, help="labelled rows (.csv, .npz, .svm, "
                                                        "a conversion's .meta.json)")
    evaluate.add_argument("--target", default=None,
                          help="target column (default: the training target's name)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    info = sub.add_parser("info", help="what a saved model is and how it was trained",
                          description="Architecture, preprocessing, classes, dtype, parameter "
                                      "count and the stored training summary of a model file.")
    info.add_argument("model", help="model file (.npz) or checkpoint")
    info.add_argument("--json", action="store_true", help="print the description as JSON")


def run_model_command(args, out=None):
    """Run the ``predict``, ``evaluate`` or ``info`` command of ``args``."""
    commands = {"predict": predict_command, "evaluate": evaluate_command, "info": info_command}
    return commands[args.command](args, out)


def _encoder(model):
    """The feature encoding stored with ``model``, or columns in order for a bare model."""
    features = model.metadata.get("features")
    if features is None:
        return TabularEncoder([{"name": f"x{j}", "kind": "numeric", "fill": None}
                               for j in range(model.n_inputs)])
    return TabularEncoder.from_dict(features)


def model_inputs(model, table):
    """The rows of ``table`` encoded as ``model`` takes them (float64, raw features).

    Raises
    ------
    ValueError
        A missing column, a wrong value, an unseen category, a gap the
        model cannot fill (naming the row and column), or a width that does
        not match the model.
    """
    encoder = _encoder(model)
    if "features" not in model.metadata and not table.positional:
        table.positional = True  # a bare model: the file's columns in order
    X = encoder.transform(table)
    if X.shape[1] != model.n_inputs:
        raise ValueError(f"{table.source}: the rows encode to {X.shape[1]} inputs but the model "
                         f"takes {model.n_inputs}")
    return X


def _classification(model):
    task = model.metadata.get("task")
    return task == "classification" if task else model.loss != "squared_error"


def _multilabel(model):
    return model.metadata.get("task") == "multilabel"


def _labels(model):
    labels = model.metadata.get("classes")
    return [str(k) for k in range(model.n_outputs)] if labels is None else labels


def _features(model, table, target=None):
    """``table`` without its target column; names ignored columns on stderr."""
    target = target or model.metadata.get("target")
    features = table.without(target) if target else table
    if "features" in model.metadata:
        unused = _encoder(model).unused_columns(features)
        if unused:
            print(f"fastmlp: ignoring columns the model does not use: {', '.join(unused)}",
                  file=sys.stderr)
    return features


def _inputs(model, data, target=None):
    """What ``model`` takes of ``data`` (whatever :func:`read_table` read), as it takes it."""
    if isinstance(data, SparseTable):
        return _svmlight_inputs(model, data)
    if isinstance(data, EncodedTable):  # memory-mapped, as it is: the model checks the width
        return _converted_inputs(model, data)
    features = model.metadata.get("features")
    if is_svmlight_encoding(features):
        raise ValueError(f"{data.source}: the model reads svmlight rows "
                         f"({features['n_features']} features); give it an svmlight file "
                         "(.svm) or its conversion")
    return model_inputs(model, _features(model, data, target))


def _svmlight_inputs(model, table):
    """The rows of an svmlight file as ``model`` reads them: CSR, its training data's
    indexing and width (a bare model: "auto" indexing, its own width)."""
    features = model.metadata.get("features")
    if features is None:
        return table.features("auto", model.n_inputs)
    if not is_svmlight_encoding(features):
        raise ValueError(f"{table.source} holds svmlight rows; the model was trained on a table "
                         f"(columns {', '.join(_encoder(model).input_names)})")
    return table.features(features["zero_based"], features["n_features"])


def _converted_csr(model, data):
    """The memory-mapped CSR rows of a converted svmlight file, as wide as the model's
    inputs (padded by the shape); ValueError for other indexing or wider rows."""
    features, X = model.metadata.get("features"), data.X
    if features is not None and not is_svmlight_encoding(features):
        raise ValueError(f"{data.source} holds svmlight rows; the model was trained on a table")
    zero_based = data.encoding["zero_based"]
    if features is not None and features["zero_based"] != zero_based:
        raise ValueError(f"{data.source} was converted with {'zero' if zero_based else 'one'}"
                         f"-based indices, the model's training data had "
                         f"{'one' if zero_based else 'zero'}-based ones: convert it again with "
                         f"--zero-based {str(not zero_based).lower()}")
    n = model.n_inputs
    if X.shape[1] > n:
        k = int(np.argmax(X.indices >= n))
        row = int(np.searchsorted(X.indptr, k, side="right")) - 1
        raise ValueError(f"{data.source}: row index {row} has the feature index "
                         f"{int(X.indices[k]) + (0 if zero_based else 1)}, beyond the model's "
                         f"{n} features")
    return csr_on(X.data, X.indices, X.indptr, (X.shape[0], n))


def _converted_inputs(model, data):
    """The memory-mapped features of ``data``, a ``fastmlp convert`` file (EncodedTable).

    Raises
    ------
    ValueError
        The file was encoded differently from the model's training data.
    """
    if is_sparse(data.X):
        return _converted_csr(model, data)
    if model.metadata.get("features", data.encoding) != data.encoding:
        raise ValueError(f"{data.source} was converted with another feature encoding than the "
                         "model's training data; convert the CSV again")
    return data.X


def _model_classes(model):
    """The model's classes as numbers (for svmlight labels); ValueError for text ones."""
    try:
        return np.array([float(c) for c in _labels(model)])
    except ValueError:
        raise ValueError(f"the model's classes are text ({', '.join(_labels(model))}); an "
                         "svmlight file's labels are numbers") from None


def _svmlight_targets(model, table):
    """The targets of an svmlight file for ``model``: class indices, 0/1 rows or values;
    ValueError naming the line of a label the model does not know."""
    if _multilabel(model):
        return table.label_indicator(_model_classes(model))[1]
    values = table.single_labels()
    if not _classification(model):
        return values
    known = _model_classes(model)
    order = np.argsort(known)
    codes = np.searchsorted(known[order], values).clip(0, known.size - 1)
    unknown = np.flatnonzero(known[order][codes] != values)
    if unknown.size:
        row = int(unknown[0])
        raise ValueError(f"{table.source}, {table.where(row)}: the label {values[row]:g} is "
                         f"not one of the model's classes ({', '.join(_labels(model))})")
    return order[codes]


def _converted_label_rows(model, data):
    """0/1 rows over the model's classes of a converted file's target, for a multi-label
    model."""
    labels, path = _labels(model), data.source
    if data.multilabel:
        columns, target = data.classes, data.target
    else:
        values, index = np.unique(data.target, return_inverse=True)
        columns = [label_text(v) for v in values]
        target = np.zeros((index.size, values.size), dtype=np.uint8)
        target[np.arange(index.size), index] = 1
    known = {float(c): k for k, c in enumerate(_model_classes(model))}
    unknown = [c for c in columns if float(c) not in known]
    if unknown:
        raise ValueError(f"{path}: the label(s) {', '.join(unknown)} are not the model's "
                         f"({', '.join(labels)})")
    Y = np.zeros((data.n_rows, len(labels)), dtype=np.uint8)
    Y[:, [known[float(c)] for c in columns]] = target
    return Y


def _converted_labels(model, data):
    """The class index (in the model's classes) of each row of a converted file's target."""
    labels, path, target = _labels(model), data.source, data.target
    if data.multilabel:
        raise ValueError(f"{path} holds several labels per row; the model is not multi-label")
    if data.classes is not None:  # text labels: indices into data.classes
        known = {c: k for k, c in enumerate(labels)}
        unknown = [c for c in data.classes if c not in known]
        if unknown:
            raise ValueError(f"{path}: the class(es) {', '.join(unknown)} are not the "
                             f"model's ({', '.join(labels)})")
        return np.array([known[c] for c in data.classes], dtype=np.int64)[target]
    if not model.metadata.get("numeric_labels", True):
        raise ValueError(f"{path}: the target is numeric; the model's classes are text")
    known = np.array([float(c) for c in labels])
    codes = np.searchsorted(known, target) if known.size else np.zeros(0, dtype=np.int64)
    if not np.array_equal(known[np.minimum(codes, known.size - 1)], target):
        raise ValueError(f"{path}: target values that are not the model's classes "
                         f"({', '.join(labels)})")
    return codes.astype(np.int64)


def predict_command(args, out=None):
    """Run ``fastmlp predict``: one CSV row of predictions per input row."""
    out = sys.stdout if out is None else out
    model = Model.load(args.model)
    outputs = model.predict(_inputs(model, read_table(args.data)))
    name = model.metadata.get("target") or "prediction"
    if _multilabel(model):
        labels = _labels(model)
        header = [name] + ([f"proba_{c}" for c in labels] if args.proba else [])
        rows = ([",".join(c for c, p in zip(labels, probs) if p > 0.5)]
                + ([repr(float(p)) for p in probs] if args.proba else []) for probs in outputs)
    elif _classification(model):
        labels = _labels(model)
        # one output unit (sigmoid): probability of class 1
        index = (outputs[:, 0] > 0.5).astype(int) if outputs.shape[1] == 1 \
            else outputs.argmax(axis=1)
        header = [name] + ([f"proba_{c}" for c in labels[:outputs.shape[1]]]
                           if args.proba else [])
        rows = ([labels[k]] + ([repr(float(p)) for p in probs] if args.proba else [])
                for k, probs in zip(index, outputs))
    else:
        if args.proba:
            raise ValueError("--proba applies to classifiers; this model is a regressor")
        header = [name] if outputs.shape[1] == 1 else [f"{name}_{j}"
                                                       for j in range(outputs.shape[1])]
        rows = ([repr(float(v)) for v in row] for row in outputs)
    if args.output is None:
        _write_csv(out, header, rows)
    else:
        with open(args.output, "w", newline="", encoding="utf-8") as f:
            _write_csv(f, header, rows)
        print(f"{len(outputs)} predictions written to {args.output}", file=sys.stderr)
    return outputs


def _write_csv(stream, header, rows):
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def evaluate_command(args, out=None):
    """Run ``fastmlp evaluate``; returns the metrics as a dict."""
    out = sys.stdout if out is None else out
    model = Model.load(args.model)
    target = args.target or model.metadata.get("target")
    table = read_table(args.data)
    if target is None and isinstance(table, Table):
        raise ValueError(f"{args.model} stores no target name; pass --target COLUMN")
    X = _inputs(model, table, target)
    if isinstance(table, SparseTable):
        return _report_metrics(model, X, _svmlight_targets(model, table), table.source, args,
                               out)
    if isinstance(table, EncodedTable):
        if _multilabel(model):
            y = _converted_label_rows(model, table)
        else:
            y = _converted_labels(model, table) if _classification(model) else table.target
        return _report_metrics(model, X, y, table.source, args, out)
    if _classification(model) and model.metadata.get("classes") is not None:
        y = label_indices(table, target, model.metadata["classes"],
                          model.metadata.get("numeric_labels", False))
    else:
        y, _ = target_values(table, target)
        if y.dtype.kind != "f":
            raise ValueError(f"{table.source}: the target {target!r} must be numeric")
    return _report_metrics(model, X, y, table.source, args, out)


def _report_metrics(model, X, y, source, args, out):
    result = {k: float(v) for k, v in model.evaluate(X, y).items()}
    if getattr(args, "json", False):
        print(json.dumps(result), file=out)
    else:
        print(f"{source}: {X.shape[0]} samples; "
              + ", ".join(f"{k} {v:.6g}" for k, v in result.items()), file=out)
    return result


def describe(model):
    """What ``fastmlp info`` shows, as JSON-able values."""
    prep = model.preprocessing
    meta = model.metadata
    features = meta.get("features") or {}
    return {
        "layer_sizes": model.layer_sizes,
        "activations": [str(a) for a in model.activations],
        "loss": model.loss, "dtype": model.dtype.name, "parameters": int(model.n_params),
        "preprocessing": None if prep is None else prep.kind,
        "task": meta.get("task"), "target": meta.get("target"), "classes": meta.get("classes"),
        "inputs": [c["name"] for c in features.get("columns", [])] or None,
        "impute": features.get("impute"),
        "training": {k: v for k, v in meta.get("training", {}).items() if k != "config"},
    }


def info_command(args, out=None):
    """Run ``fastmlp info``: print the description of a model file."""
    out = sys.stdout if out is None else out
    model = Model.load(args.model)
    info = describe(model)
    if getattr(args, "json", False):
        print(json.dumps(info), file=out)
        return info
    print(f"model: {args.model}", file=out)
    print(f"architecture: {info['layer_sizes']}, activations {', '.join(info['activations'])}, "
          f"loss {info['loss']}", file=out)
    print(f"dtype {info['dtype']}, {info['parameters']:,} parameters, preprocessing "
          f"{info['preprocessing'] or 'none'}", file=out)
    if info["task"]:
        classes = f", classes: {', '.join(info['classes'])}" if info["classes"] else ""
        print(f"task: {info['task']}, target {info['target']!r}{classes}", file=out)
    categorical = [c for c in model.metadata.get("features", {}).get("columns", [])
                   if c["kind"] == "categorical"]
    features = model.metadata.get("features")
    if is_svmlight_encoding(features):
        print(f"inputs: svmlight rows, {features['n_features']:,} features "
              f"({'zero' if features['zero_based'] else 'one'}-based indices)", file=out)
    if info["inputs"]:
        print(f"inputs: {', '.join(info['inputs'])}"
              + (f" (one-hot: {', '.join(c['name'] for c in categorical)})" if categorical
                 else "") + (f"; missing values imputed ({info['impute']})" if info["impute"]
                             else ""), file=out)
    for key, value in info["training"].items():
        print(f"training {key}: {json.dumps(value)}", file=out)
    return info
