"""File formats: the archive of model files and checkpoints, and what goes into it.

:mod:`~fastmlp.archive.format` (an ``.npz`` with a JSON header, written
atomically, read without executing code), :mod:`~fastmlp.archive.model_record`
(what a model contributes to an archive), :mod:`~fastmlp.archive.generator_state`
(a random generator's exact state as JSON).  Imports :mod:`fastmlp._utils`
and the vocabulary modules; the model and the checkpoints use it.
"""

from .format import (
                     CHECKPOINT_FORMAT,
                     FORMAT_VERSION,
                     MODEL_FORMAT,
                     Refused,
                     read_archive,
                     write_archive,
)

__all__ = ["MODEL_FORMAT", "CHECKPOINT_FORMAT", "FORMAT_VERSION", "Refused", "read_archive",
           "write_archive"]
