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

Writes are atomic: a crash at any moment leaves either the old file or the
new one, never a mix.  The archive format itself (and how it is read
safely) is :mod:`fastmlp.archive`; what a model contributes to it,
:meth:`fastmlp.Model.to_record`.
"""

from .archive import FORMAT_VERSION
from .model import Model

__all__ = ["save", "load", "save_model", "load_model", "FORMAT_VERSION"]


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
    if not isinstance(model, Model):
        raise TypeError(f"expected a fastmlp.Model, got {type(model).__name__}")
    model.save(path)


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
    return Model.load(path)


#: The short names exported as ``fastmlp.save`` and ``fastmlp.load``.
save = save_model
load = load_model
