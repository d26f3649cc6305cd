"""Populations: many models of one architecture trained together (searches, ensembles, seeds).

:class:`Population` holds the members; ``fastmlp.Trainer(population, ...)``
makes a :class:`PopulationTrainer`, which trains every member on the same
batches in one compiled loop.
"""

from .container import Population, PopulationState
from .trainer import PopulationTrainer

__all__ = ["Population", "PopulationState", "PopulationTrainer"]
