"""What a model contributes to an archive (:mod:`fastmlp.archive.format`), and how it is rebuilt.

A model is described by header entries -- ``{"model": {"config": ...,
"dtype": ..., "n_params": ..., "n_running": ..., "preprocessing": ...,
"metadata": {...}}}``
(:meth:`fastmlp.Model.get_config` for the architecture) -- and the arrays

==============================  ===============================================
member                          content
==============================  ===============================================
``model.params``                the flat parameters (float32 or float64)
``model.running_stats``         batch-norm running means and variances
``model.preprocessing.<name>``  float64 statistics of the fitted preprocessing
==============================  ===============================================

Model files (:func:`fastmlp.save`) and checkpoints (:mod:`fastmlp.training.checkpoint`)
both hold them.  Rebuilding checks everything (dtype, shape, finite
values, size against the architecture) before a model is made.  The
functions take the model class as an argument (:meth:`fastmlp.Model.to_record`
and :meth:`fastmlp.Model.from_record` call them): this module sits below the
model in the package's layers.
"""

import json
import numbers

import numpy as np

from ..activations import Activation
from ..preprocessing import from_state_dict
from .format import array_entry, entry, json_scalar

__all__ = ["record_of", "build_from_record", "constructor_arguments"]


def record_of(model):
    """The header entries and arrays that describe ``model`` in an archive.

    Returns
    -------
    header : dict
        ``{"model": {...}}``, JSON-able.
    arrays : dict of str to ndarray

    Raises
    ------
    ValueError
        The parameters hold NaN or inf (such a file could not be loaded).
    """
    if not (np.isfinite(model.params).all() and np.isfinite(model.running_stats).all()):
        raise ValueError("the model's parameters hold NaN or inf; refusing to write a file "
                         "that could not be loaded")
    arrays = {"model.params": model.params, "model.running_stats": model.running_stats}
    prep = model.preprocessing
    prep_info = None
    if prep is not None:
        prep_info = {"kind": prep.kind, "fitted": bool(prep.is_fitted), "arrays": []}
        if prep.is_fitted:
            for name, value in prep.state_dict().items():
                arrays[f"model.preprocessing.{name}"] = np.asarray(value, dtype=np.float64)
                prep_info["arrays"].append(name)
    info = {"config": model.get_config(), "dtype": model.dtype.name,
            "n_params": int(model.n_params), "n_running": int(model.running_stats.size),
            "preprocessing": prep_info, "metadata": _checked_metadata(model.metadata)}
    return {"model": info}, arrays


def _checked_metadata(metadata):
    """``metadata`` as plain JSON values (a copy); ValueError when it is not JSON-able.

    Checked when the model is written, so a bad value fails ``save`` with a
    clear message rather than leaving a half-written file.
    """
    if not isinstance(metadata, dict):
        raise ValueError(f"Model.metadata must be a dict, got {type(metadata).__name__}")
    try:
        # NumPy scalars become numbers; allow_nan=False: the header is strict JSON
        return json.loads(json.dumps(metadata, default=json_scalar, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Model.metadata must hold JSON values only (str, numbers, bools, "
                         f"None, lists, dicts with str keys): {exc}") from None


def build_from_record(model_class, header, arrays, path="<archive>"):
    """A ``model_class`` instance as an archive describes it (see :func:`record_of`).

    Raises
    ------
    ValueError
        Anything missing, malformed, non-finite or not fitting the
        architecture, with ``path`` in the message.
    """
    info = entry(header, "model", dict, path)
    config = entry(info, "config", dict, path)
    dtype = entry(info, "dtype", str, path)
    params = array_entry(arrays, "model.params", path, dtype)
    running = array_entry(arrays, "model.running_stats", path, dtype)
    _check_size_bound(config, params, path)
    try:
        model = model_class.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the saved model configuration is invalid: {exc}") from None
    if model.dtype.name != dtype:
        raise ValueError(f"{path}: the header says dtype {dtype} but the configuration "
                         f"builds {model.dtype.name}")
    for what, saved, target in (("parameters", params, model.params),
                                ("running statistics", running, model.running_stats)):
        if saved.shape != target.shape:
            raise ValueError(f"{path}: the file holds {saved.size} {what} but the architecture "
                             f"{model.layer_sizes} needs {target.size}")
        target[...] = saved
    prep = info.get("preprocessing")
    if prep is not None:
        _restore_preprocessing(model, prep, arrays, path)
    metadata = info.get("metadata", {})  # files written before metadata existed: none
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: the saved model metadata is not a JSON object")
    model.metadata = metadata
    return model


def _check_size_bound(config, params, path):
    """Refuse an architecture far larger than the saved parameters before allocating it."""
    sizes = config.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
                       for s in sizes)):
        raise ValueError(f"{path}: the saved layer_sizes {sizes!r} are not a list of positive "
                         "integers")
    n_weights = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if n_weights > params.size:
        raise ValueError(f"{path}: the file holds {params.size} parameters but the "
                         f"architecture {sizes} needs more than {n_weights}")


def _restore_preprocessing(model, prep, arrays, path):
    if not isinstance(prep, dict) or prep.get("kind") != getattr(model.preprocessing, "kind",
                                                                  None):
        raise ValueError(f"{path}: the preprocessing entry does not match the configuration")
    if not prep.get("fitted"):
        return
    names = entry(prep, "arrays", list, path)
    state = {str(name): array_entry(arrays, f"model.preprocessing.{name}", path, "float64",
                                    ndim=None) for name in names}
    try:
        transform = from_state_dict(prep["kind"], state)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: the saved preprocessing statistics are invalid: {exc}") \
            from None
    if transform.n_features != model.n_inputs:
        raise ValueError(f"{path}: the preprocessing covers {transform.n_features} features "
                         f"but the model takes {model.n_inputs}")
    model.preprocessing = transform


#: Constructor arguments that :meth:`fastmlp.Model.get_config` stores as they are.
_CONFIG_KEYS = ("layer_sizes", "loss", "dtype", "l2", "l1", "penalize_biases", "dropout",
                "dropconnect", "batch_norm", "bn_momentum", "bn_eps", "preprocessing")


def constructor_arguments(config):
    """The :class:`fastmlp.Model` constructor's keyword arguments for a model's config.

    Parameters
    ----------
    config : dict
        What :meth:`fastmlp.Model.get_config` gave (read from a file, say).

    Raises
    ------
    ValueError
        A missing or malformed entry (named in the message).
    """
    if not isinstance(config, dict):
        raise ValueError(f"a model config is a dict, got {type(config).__name__}")
    try:
        kwargs = {key: config[key] for key in _CONFIG_KEYS}
        kwargs["activation"] = [Activation(str(n), float(p)) for n, p in config["activation"]]
        name, param = config["output"]
        kwargs["output"] = Activation(str(name), float(param))
    except KeyError as err:
        raise ValueError(f"model config lacks the entry {err.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ValueError("model config: 'activation' must list [name, parameter] pairs "
                         "and 'output' be one such pair") from None
    if not kwargs["activation"]:
        kwargs["activation"] = "relu"  # no hidden layer: the value is unused
    return kwargs
