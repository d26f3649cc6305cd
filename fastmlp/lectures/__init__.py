"""The lecture notes' experiments, apart from the library core they use.

- :mod:`fastmlp.lectures.optimizers`: the comparison of optimizers
  (mini-batch, momentum, adaptive rates, L-BFGS) -- ``fastmlp compare``;
- :mod:`fastmlp.lectures.initialization`: activation and gradient statistics
  per layer at initialisation -- ``fastmlp diagnose``.

They use only the public library (Model, Trainer, optimizers, schedules,
diagnostics) and nothing in the library imports them.
"""
