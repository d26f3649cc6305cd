"""The engine: every call into the compiled kernels, and what those calls need.

:mod:`~fastmlp.engine.calls` (the thread plan, the passes, the training
loop), :mod:`~fastmlp.engine.layout` (where every weight and workspace
buffer lives), :mod:`~fastmlp.engine.threads` (Numba's and BLAS's thread
pools), :mod:`~fastmlp.engine.compiling` (the notice while kernels compile),
:mod:`~fastmlp.engine.compile_pool` (a cold cache's kernels compiled in
parallel processes: :mod:`~fastmlp.engine.compile_processes` how many,
:mod:`~fastmlp.engine.compile_estimate` how long,
:mod:`~fastmlp.engine.compile_workers` and
:mod:`~fastmlp.engine.compile_worker` the two ends of a worker process).
Imports :mod:`fastmlp.kernels`, :mod:`fastmlp.data` and :mod:`fastmlp._utils`
and the vocabulary modules (activations, losses); the model and the trainer
use it, never the other way round.
"""

from .calls import (
           INFERENCE,
           Engine,
           GradientPass,
           ThreadPlan,
           TrainingLoop,
           plan,
           training_noise,
)

__all__ = ["Engine", "GradientPass", "TrainingLoop", "ThreadPlan", "plan", "INFERENCE",
           "training_noise"]
