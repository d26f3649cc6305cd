"""The archive format of model files and checkpoints: ``.npz`` with a JSON header.

An archive is a NumPy ``.npz`` file (members stored uncompressed) holding a
``header`` member -- UTF-8 JSON as uint8, with ``"format"`` (what the file
is: :data:`MODEL_FORMAT` or :data:`CHECKPOINT_FORMAT`), ``"format_version"``
and the writing fastmlp's version -- and named arrays.

Reading never executes code: the archive is opened with
``allow_pickle=False``, and a pickle renamed to ``.npz``, object arrays, a
truncated or corrupt archive, an implausibly large header, a zip bomb, a
wrong format or version all raise ``ValueError`` naming the file and the
problem.  Writes go to a temporary file in the target's directory, which
is flushed, fsync'ed and renamed over the target (then the directory is
fsync'ed): a crash at any moment leaves either the old file or the new one.

What the members of each format hold is the business of the modules that
write them: :mod:`fastmlp.archive.model_record` (what a model contributes)
and :mod:`fastmlp.training.checkpoint`.  A model file
(``fastmlp.save(model, "model.npz")``, ``fastmlp.load("model.npz")``) holds:

==============================  ===============================================
member                          content
==============================  ===============================================
``header``                      uint8: UTF-8 JSON, ``{"format": "fastmlp.model",
                                "format_version": 1, "model": {...}}``
``model.params``                the flat parameters (float32 or float64)
``model.running_stats``         batch-norm running means and variances
``model.preprocessing.<name>``  float64 statistics of the fitted preprocessing
==============================  ===============================================

Only the members named above are read, and each is checked (dtype, shape,
finite values, size against the architecture) before a model is built.
"""

import json
import os
import secrets
import zipfile

import numpy as np

from .._version import __version__

__all__ = ["MODEL_FORMAT", "CHECKPOINT_FORMAT", "FORMAT_VERSION", "Refused", "write_archive",
           "read_archive", "entry", "array_entry", "json_scalar", "fsync_directory",
           "remove_quietly"]

#: Version of the archive layout; readers refuse any other.
FORMAT_VERSION = 1
#: The header's ``"format"`` of a model file.
MODEL_FORMAT = "fastmlp.model"
#: The header's ``"format"`` of a checkpoint.
CHECKPOINT_FORMAT = "fastmlp.checkpoint"

#: The JSON header is small (architecture, counters, history); a larger one
#: is not ours and is refused before it is decoded.
_MAX_HEADER_BYTES = 64 << 20

#: A member that inflates more than this is refused (a "zip bomb" would
#: otherwise exhaust memory before any check runs).
_MAX_INFLATION = 1000

_ZIP_MAGIC = b"PK\x03\x04"


class Refused(ValueError):
    """A refusal already worded for the user (not to be re-wrapped as corruption)."""


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
    header = {**header, "format_version": FORMAT_VERSION, "fastmlp_version": __version__}
    text = json.dumps(header, default=json_scalar, sort_keys=True)
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
        remove_quietly(tmp)
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
        except Refused:
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
            raise Refused(f"{path} is not a fastmlp file: it has no header (members: "
                           f"{', '.join(names[:10])})")
        for info in npz.zip.infolist():
            if info.compress_type != zipfile.ZIP_STORED and \
                    info.file_size > _MAX_INFLATION * max(info.compress_size, 1):
                raise Refused(f"{path}: member {info.filename!r} claims to inflate "
                               f"{info.file_size} bytes from {info.compress_size}; refused")
        if npz.zip.getinfo("header.npy").file_size > _MAX_HEADER_BYTES:
            raise Refused(f"{path}: the header is implausibly large; not a fastmlp file")
        arrays = {}
        for name in names:
            try:
                arrays[name] = npz[name]
            except ValueError as exc:  # object arrays (they would need pickle)
                raise Refused(f"{path}: member {name!r} cannot be loaded safely ({exc})") \
                    from None
    raw = arrays.pop("header")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise Refused(f"{path} is not a fastmlp file: its header is not a JSON text")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused(f"{path} is not a fastmlp file: its header is not valid JSON") from None
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
                         f"({__version__}) reads version {FORMAT_VERSION}{newer}")


def entry(mapping, key, kind, path):
    """``mapping[key]``, which must be a ``kind``; ValueError naming the file otherwise."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{path}: the header entry {key!r} is missing or malformed")
    return value


def array_entry(arrays, name, path, dtype, ndim=1):
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


def json_scalar(value):
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


def remove_quietly(path):
    """Delete ``path`` if it can be; a file already gone (or not removable) is no error."""
    try:
        os.remove(path)
    except OSError:
        pass


