"""Model files: one ``.npz`` archive with a JSON header, written atomically, read safely.

A model file holds the architecture (:meth:`Model.get_config`), the dtype,
the flat parameter buffer, the batch-norm running statistics, the fitted
preprocessing statistics (when the model has them) and a format version::

    fastmlp.save(model, "model.npz")
    model = fastmlp.load("model.npz")

Layout of the archive (NumPy ``.npz``, members stored uncompressed):

==============================  ===============================================
member                          content
==============================  ===============================================
``header``                      uint8: UTF-8 JSON, ``{"format": "fastmlp.model",
                                "format_version": 1, "model": {...}}``
``model.params``                the flat parameters (float32 or float64)
``model.running_stats``         batch-norm running means and variances
``model.preprocessing.<name>``  float64 statistics of the fitted preprocessing
==============================  ===============================================

Reading never executes code: the archive is opened with
``allow_pickle=False``, only the members named above are read, and each is
checked (dtype, shape, finite values, size against the architecture) before
a model is built.  Anything else -- a pickle renamed to ``.npz``, object
arrays, a truncated or corrupt archive, a wrong format or version -- raises
``ValueError`` naming the file and the problem.  A missing or unreadable
path raises the usual ``OSError`` (``FileNotFoundError``, ...).

Writes go to a temporary file in the target's directory, which is flushed,
fsync'ed and renamed over the target (then the directory is fsync'ed): a
crash at any moment leaves either the old file or the new one, never a mix.
:mod:`fastmlp.checkpoint` stores its checkpoints with the same functions.
"""

import json
import numbers
import os
import secrets
import zipfile

import numpy as np

__all__ = ["save", "load", "save_model", "load_model", "FORMAT_VERSION"]

#: Version of the archive layout this fastmlp writes and reads.
FORMAT_VERSION = 1

MODEL_FORMAT = "fastmlp.model"

#: The JSON header is small (architecture, counters, history); a larger one
#: is not ours and is refused before it is decoded.
_MAX_HEADER_BYTES = 64 << 20

#: A member that inflates more than this is refused (a "zip bomb" would
#: otherwise exhaust memory before any check runs).
_MAX_INFLATION = 1000

_ZIP_MAGIC = b"PK\x03\x04"


class _Refused(ValueError):
    """A refusal already worded for the user (not to be re-wrapped as corruption)."""


# --------------------------------------------------------------------- models
def save_model(model, path):
    """Write ``model`` to ``path`` as one ``.npz`` file, atomically.

    Parameters
    ----------
    model : Model
    path : str or os.PathLike
        Written exactly as given (no extension is added; ``.npz`` is the
        customary one).  An existing file is replaced only once the new one
        is complete on disk.

    Raises
    ------
    TypeError
        ``model`` is not a :class:`fastmlp.Model`.
    ValueError
        The parameters hold NaN or inf (such a file could not be loaded).
    OSError
        The directory does not exist or is not writable.
    """
    header, arrays = model_record(model)
    write_archive(path, {"format": MODEL_FORMAT, **header}, arrays)


def load_model(path):
    """Read a model written by :func:`save_model` (or the model of a checkpoint).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Model
        With the saved architecture, parameters, running statistics and
        fitted preprocessing: its predictions equal the saved model's.

    Raises
    ------
    OSError
        The file is missing or cannot be opened.
    ValueError
        Not a fastmlp file, truncated or corrupt, object (pickle) arrays, an
        unsupported format version, or parameters that do not fit the
        architecture.
    """
    from .checkpoint import CHECKPOINT_FORMAT

    header, arrays = read_archive(path, (MODEL_FORMAT, CHECKPOINT_FORMAT))
    return model_from_record(header, arrays, path)


#: The short names exported as ``fastmlp.save`` and ``fastmlp.load``.
save = save_model
load = load_model


def model_record(model):
    """The header entries and arrays that describe ``model`` in an archive.

    Returns
    -------
    header : dict
        ``{"model": {...}}``, JSON-able.
    arrays : dict of str to ndarray
    """
    from .model import Model

    if not isinstance(model, Model):
        raise TypeError(f"expected a fastmlp.Model, got {type(model).__name__}")
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
            "preprocessing": prep_info}
    return {"model": info}, arrays


def model_from_record(header, arrays, path="<archive>"):
    """Build the model an archive describes (see :func:`model_record`), checking everything."""
    from .model import Model

    info = _entry(header, "model", dict, path)
    config = _entry(info, "config", dict, path)
    dtype = _entry(info, "dtype", str, path)
    params = _array(arrays, "model.params", path, dtype)
    running = _array(arrays, "model.running_stats", path, dtype)
    _check_size_bound(config, params, path)
    try:
        model = Model.from_config(config)
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
    from .preprocessing import from_state_dict

    if not isinstance(prep, dict) or prep.get("kind") != getattr(model.preprocessing, "kind",
                                                                  None):
        raise ValueError(f"{path}: the preprocessing entry does not match the configuration")
    if not prep.get("fitted"):
        return
    names = _entry(prep, "arrays", list, path)
    state = {str(name): _array(arrays, f"model.preprocessing.{name}", path, "float64",
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


# ------------------------------------------------------------------- archives
def write_archive(path, header, arrays):
    """Write ``header`` (JSON-able dict) and ``arrays`` to ``path`` atomically.

    The data go to a temporary file in the same directory (created with the
    process's usual permissions), which is flushed and fsync'ed, then
    renamed over ``path``; the directory is fsync'ed so that the rename
    itself survives a power cut.

    Raises
    ------
    OSError
        The directory is missing or not writable; no temporary file is left.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    header = {**header, "format_version": FORMAT_VERSION, "fastmlp_version": _version()}
    text = json.dumps(header, default=_json_scalar, sort_keys=True)
    members = {"header": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    members.update({name: np.ascontiguousarray(a) for name, a in arrays.items()})
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never write through a file (or link) someone else created there
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise
    fsync_directory(directory)


def read_archive(path, formats):
    """Header and arrays of an archive written by :func:`write_archive`.

    Parameters
    ----------
    path : str or os.PathLike
    formats : tuple of str
        Accepted values of the header's ``"format"``.

    Returns
    -------
    header : dict
    arrays : dict of str to ndarray
        Every member but the header, read with ``allow_pickle=False``.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:  # missing / unreadable: the OSError itself is the clear error
        if f.read(4) != _ZIP_MAGIC:
            raise ValueError(f"{path} is not a fastmlp file: it is not an .npz archive (a pickle "
                             "or another format is never loaded)")
        f.seek(0)
        try:
            header, arrays = _read_members(f, path)
        except _Refused:
            raise
        except Exception as exc:  # whatever a damaged archive makes zipfile/numpy raise
            raise ValueError(f"{path} is truncated or corrupt ({type(exc).__name__}: {exc})") \
                from exc
    _check_header(header, formats, path)
    return header, arrays


def _read_members(f, path):
    with np.load(f, allow_pickle=False) as npz:
        names = list(npz.files)
        if "header" not in names:
            raise _Refused(f"{path} is not a fastmlp file: it has no header (members: "
                           f"{', '.join(names[:10])})")
        for info in npz.zip.infolist():
            if info.compress_type != zipfile.ZIP_STORED and \
                    info.file_size > _MAX_INFLATION * max(info.compress_size, 1):
                raise _Refused(f"{path}: member {info.filename!r} claims to inflate "
                               f"{info.file_size} bytes from {info.compress_size}; refused")
        if npz.zip.getinfo("header.npy").file_size > _MAX_HEADER_BYTES:
            raise _Refused(f"{path}: the header is implausibly large; not a fastmlp file")
        arrays = {}
        for name in names:
            try:
                arrays[name] = npz[name]
            except ValueError as exc:  # object arrays (they would need pickle)
                raise _Refused(f"{path}: member {name!r} cannot be loaded safely ({exc})") \
                    from None
    raw = arrays.pop("header")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _Refused(f"{path} is not a fastmlp file: its header is not a JSON text")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused(f"{path} is not a fastmlp file: its header is not valid JSON") from None
    return header, arrays


def _check_header(header, formats, path):
    if not isinstance(header, dict) or header.get("format") not in formats:
        found = header.get("format") if isinstance(header, dict) else None
        raise ValueError(f"{path} is not a {' or '.join(formats)} file (format {found!r})")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{path}: the header has no valid format_version ({version!r})")
    if version != FORMAT_VERSION:
        newer = " (written by a newer fastmlp: upgrade)" if version > FORMAT_VERSION else ""
        raise ValueError(f"{path} has format version {version}; this fastmlp "
                         f"({_version()}) reads version {FORMAT_VERSION}{newer}")


def _entry(mapping, key, kind, path):
    """``mapping[key]``, which must be a ``kind``; ValueError naming the file otherwise."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{path}: the header entry {key!r} is missing or malformed")
    return value


def _array(arrays, name, path, dtype, ndim=1):
    """Member ``name``: present, of ``dtype``, ``ndim``-D (any if None), finite."""
    if name not in arrays:
        raise ValueError(f"{path}: the array {name!r} is missing")
    a = arrays[name]
    if a.dtype != np.dtype(dtype) or (ndim is not None and a.ndim != ndim):
        raise ValueError(f"{path}: the array {name!r} is {a.dtype} with shape {a.shape}; "
                         f"expected {dtype}" + (f", {ndim}-D" if ndim else ""))
    if not np.isfinite(a).all():
        raise ValueError(f"{path}: the array {name!r} holds NaN or inf")
    return a


def _json_scalar(value):
    """``json.dumps`` hook: NumPy scalars as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def fsync_directory(directory):
    """Flush a directory entry to disk (after a rename); a no-op where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows: directories cannot be opened; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _version():
    from . import __version__

    return __version__
