"""fastmlp: fast multilayer perceptron training on multicore CPUs.

>>> import fastmlp as fm
>>> model = fm.Model([64, 128, 10], activation="relu", output="softmax", seed=0)
>>> trainer = fm.Trainer(model, fm.optim.Adam(lr=1e-3), batch_size=32, epochs=20)
>>> history = trainer.fit(X, y, validation_data=(X_val, y_val))   # doctest: +SKIP
"""

from . import (
               activations,
               callbacks,
               datasets,
               initializers,
               losses,
               metrics,
               optim,
               preprocessing,
               schedules,
)
from ._utils import compat
from ._version import __version__
from .callbacks import Callback, TerminateOnNaN
from .engine.compile_processes import compile_processes
from .engine.threads import get_num_threads, max_threads, threads
from .exceptions import ConcurrentFitError, ConvergenceWarning, DivergenceError, RankMismatchError
from .files import load, save
from .model import Model
from .population import Population
from .trainer import Trainer

compat.install()  # the module paths of fastmlp 0.1.0 (imports, pickles) keep working

__all__ = [
    "Model", "Population", "Trainer", "Callback", "optim", "schedules", "activations",
    "initializers", "losses", "metrics", "preprocessing", "datasets", "callbacks", "threads",
    "get_num_threads",
    "max_threads", "DivergenceError", "ConvergenceWarning", "RankMismatchError",
    "ConcurrentFitError", "__version__",
    "save", "load", "TerminateOnNaN", "compile_processes",
]
