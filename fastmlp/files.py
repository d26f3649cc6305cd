"""Files of models and populations: :func:`save` and :func:`load` (``fastmlp.save``,
``fastmlp.load``).

The archive format (an ``.npz`` with a JSON header, read without running
code): :mod:`fastmlp.archive.format`; a population's:
:mod:`fastmlp.population.record`.
"""

from .archive.format import CHECKPOINT_FORMAT, MODEL_FORMAT, read_archive
from .model import Model
from .population import Population
from .population.record import POPULATION_FORMAT

__all__ = ["save_model", "load_model", "save", "load"]


def save_model(model, path):
    """Write a model or a population to ``path`` (``.npz`` is customary), atomically:
    ``fastmlp.save``.

    The format: :mod:`fastmlp.archive.format`.  Raises TypeError for
    something that is neither a :class:`~fastmlp.Model` nor a
    :class:`~fastmlp.Population`, ValueError when parameters hold NaN or inf
    (such a file could not be loaded), OSError when the directory does not
    exist or is not writable.
    """
    if not isinstance(model, (Model, Population)):
        raise TypeError(f"expected a fastmlp.Model or Population, got {type(model).__name__}")
    model.save(path)


def load_model(path):
    """The model or population of a file or a checkpoint, read without running code:
    ``fastmlp.load``.

    Its predictions equal the saved one's.  Raises OSError for a missing
    or unreadable file, ValueError for anything that is not a fastmlp file
    of a supported version (truncated, corrupt, object arrays, parameters
    that do not fit the architecture), naming the file.
    """
    header, arrays = read_archive(path, (MODEL_FORMAT, CHECKPOINT_FORMAT, POPULATION_FORMAT))
    if "population" in header:
        return Population.from_record(header, arrays, path)
    return Model.from_record(header, arrays, path)


#: The short names exported as ``fastmlp.save`` and ``fastmlp.load``.
save = save_model
load = load_model
