"""``fastmlp predict``, ``evaluate`` and ``info``: using a saved model on new raw rows.

``fastmlp train --save model.npz`` stores in the model's
:attr:`~fastmlp.Model.metadata` what these commands need (``CLI_FORMAT``):
the task, the target's name, the class labels as the training file wrote
them, the feature encoding (:class:`fastmlp.data.encoding.TabularEncoder`:
columns, categories, imputation values) and a training summary.  A model
saved from Python without that metadata still works on numeric inputs:
its columns are taken in order and classes are reported as indices.
"""

import csv
import json
import sys

import numpy as np

from ..data.encoding import TabularEncoder, label_indices, target_values
from ..data.tables import EncodedTable, read_table
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
                    "them.")
    predict.add_argument("--model", required=True, help="model file (.npz)")
    predict.add_argument("--data", required=True, help="rows to predict (.csv, .npz, .npy)")
    predict.add_argument("--output", default=None,
                         help="CSV file of the predictions (default: stdout)")
    predict.add_argument("--proba", action="store_true",
                         help="add one probability column per class")
    evaluate = sub.add_parser(
        "evaluate", help="loss and accuracy (or R^2) of a saved model on labelled rows",
        description="Evaluate a saved model on a labelled .csv or .npz file.")
    evaluate.add_argument("--model", required=True, help="model file (.npz)")
    evaluate.add_argument("--data", required=True, help="labelled rows (.csv, .npz)")
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


def _converted_inputs(model, data):
    """The memory-mapped features of ``data``, a ``fastmlp convert`` file (EncodedTable).

    Raises
    ------
    ValueError
        The file was encoded differently from the model's training data.
    """
    if model.metadata.get("features", data.encoding) != data.encoding:
        raise ValueError(f"{data.source} was converted with another feature encoding than the "
                         "model's training data; convert the CSV again")
    return data.X


def _converted_labels(model, data):
    """The class index (in the model's classes) of each row of a converted file's target."""
    labels, path, target = _labels(model), data.source, data.target
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
    data = read_table(args.data)
    if isinstance(data, EncodedTable):  # memory-mapped, as it is: the model checks the width
        outputs = model.predict(_converted_inputs(model, data))
    else:
        outputs = model.predict(model_inputs(model, _features(model, data)))
    name = model.metadata.get("target") or "prediction"
    if _classification(model):
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
    if target is None:
        raise ValueError(f"{args.model} stores no target name; pass --target COLUMN")
    table = read_table(args.data)
    if isinstance(table, EncodedTable):
        X = _converted_inputs(model, table)
        y = _converted_labels(model, table) if _classification(model) else table.target
        return _report_metrics(model, X, y, table.source, args, out)
    X = model_inputs(model, _features(model, table, target))
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
        print(f"{source}: {len(X)} samples; "
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
    if info["inputs"]:
        print(f"inputs: {', '.join(info['inputs'])}"
              + (f" (one-hot: {', '.join(c['name'] for c in categorical)})" if categorical
                 else "") + (f"; missing values imputed ({info['impute']})" if info["impute"]
                             else ""), file=out)
    for key, value in info["training"].items():
        print(f"training {key}: {json.dumps(value)}", file=out)
    return info
