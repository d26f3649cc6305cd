"""What a fit needs besides the model: its inputs checked, the epoch loop, checkpoints.

:mod:`~fastmlp.training.inputs` (the checks shared by training and
validation data, the hold-out split, the preprocessing),
:mod:`~fastmlp.training.epoch_loop` (an epoch in calls of bounded length),
:mod:`~fastmlp.training.distributed` (data-parallel training over MPI),
:mod:`~fastmlp.training.diagnostics` and :mod:`~fastmlp.training.checkpoint`.
Used by :mod:`fastmlp.trainer`; imports the model, the engine and below.
"""
