"""Hyper-parameter search for fastmlp models.

>>> from fastmlp.search import search, loguniform, choice
>>> result = search(X, y, {"lr": loguniform(1e-4, 1e-1), "hidden": [(64,), (128, 64)]},
...                 method="random", n_trials=20, epochs=10, seed=0)   # doctest: +SKIP
>>> print(result.leaderboard())                                        # doctest: +SKIP

Methods: ``"grid"``, ``"random"`` (coarse-to-fine with ``rounds=K``) and
``"halving"`` (successive halving, epochs as the resource); see
:func:`search`.  Trials run in this process, in joblib's processes
(``n_jobs``), on a Dask cluster or on Ray (``backend=``).
"""

from .methods import METHODS, SearchResult, search
from .pruning import OptunaPruning
from .runner import ResultsFile
from .space import PARAMETERS, Space, choice, loguniform, randint, read_space, uniform

__all__ = ["search", "SearchResult", "METHODS", "Space", "PARAMETERS", "loguniform", "uniform",
           "randint", "choice", "read_space", "ResultsFile",
           "OptunaPruning"]
