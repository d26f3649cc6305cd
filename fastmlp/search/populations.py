"""Trials trained together: a round's trials that can share a population run as one.

Most trials of a search differ only in values a population's members may
hold each their own of -- learning rate, momentum, weight decay, penalties,
dropout -- and share the architecture, the batch size, the optimizer's
kind, the schedule and the epochs.  Those of a round are cut into *jobs*
(:func:`jobs`): each group of trials that share all that becomes one
population (:class:`fastmlp.Population`), trained in one compiled loop
(:func:`run_job`); a trial with no partner runs alone.  Every trial's row
is what its solo run gives (the members equal the models trained alone:
same seeds, same batches), to the float rounding of a thread count.

A group is cut into as many jobs as trials run at a time (``n_jobs``), so
that parallel workers each train a part of it.  A population that cannot
be built or trained (an optimizer that runs its own iterations, a bad
value, any error) gives way to its trials run one by one, each getting the
row it would have got alone.
"""

import math
import time

import numpy as np

from ..engine.threads import threads
from ..optim import get_optimizer
from ..population import Population
from ..schedules import get_schedule
from ..trainer import Trainer
from .runner import DEFAULTS, build_trainer, optimizer_arguments, run_trial, unscored_row

__all__ = ["SHARED", "population_key", "jobs", "run_job", "run_population"]

#: The hyper-parameters every member of a population shares (the others --
#: lr, momentum, weight decay, l1, l2, dropout, dropconnect -- are per member).
SHARED = ("hidden", "activation", "init", "batch_norm", "optimizer", "batch_size", "schedule",
          "epochs")


def population_key(task):
    """What a trial must share with the others of its population (a hashable value)."""
    config = {**DEFAULTS, "epochs": task["epochs"], **task["config"]}
    name, arguments = optimizer_arguments(config)
    return tuple(repr(config[k]) for k in SHARED) + (name, tuple(sorted(arguments)))


def jobs(tasks, n_workers, populations=True):
    """``tasks`` cut into jobs (lists of tasks trained together), in order of first task.

    Parameters
    ----------
    tasks : list of dict
        See :func:`fastmlp.search.runner.run_trial`.
    n_workers : int
        Jobs that run at a time: a group of trials is cut into that many
        jobs at most (its trials dealt out in turn).
    populations : bool, default True
        False: one job per trial.
    """
    if not populations:
        return [[task] for task in tasks]
    groups = {}
    for task in tasks:
        groups.setdefault(population_key(task), []).append(task)
    cut = []
    for group in groups.values():
        parts = min(len(group), max(1, n_workers))
        cut.extend(group[i::parts] for i in range(parts))
    return cut


def run_job(job, data, setup):
    """The results rows of a job's trials: one trial alone, several as a population.

    Never raises for a failing configuration (as
    :func:`~fastmlp.search.runner.run_trial`); a population that fails in
    any way gives way to its trials run one by one.
    """
    if len(job) > 1:
        try:
            return run_population(job, data, setup)
        except Exception:  # noqa: BLE001 -- each trial alone then gives its own row or error
            pass
    return [run_trial(task, data, setup) for task in job]


def run_population(tasks, data, setup):
    """Train trials that share a :func:`population_key` as one population; their rows.

    Each member is the model its trial builds alone
    (:func:`~fastmlp.search.runner.build_trainer`), with the trial's own
    optimizer values; a member that diverges gets the status "diverged".

    Raises
    ------
    Exception
        Whatever stops the population as a whole (the caller falls back to
        the trials alone).
    """
    start = time.perf_counter()
    with threads(setup.threads):
        solo = [build_trainer(task["config"], setup, task["epochs"]) for task in tasks]
        configs = [{**DEFAULTS, **task["config"]} for task in tasks]
        name, _ = optimizer_arguments(configs[0])
        arguments = [optimizer_arguments(c)[1] for c in configs]
        per_member = {key: [a[key] for a in arguments] for key in arguments[0]}
        population = Population.from_models([t.model for t in solo],
                                             seeds=[setup.seed] * len(tasks))
        trainer = Trainer(population, get_optimizer(name, **per_member),
                          batch_size=solo[0].batch_size, epochs=solo[0].epochs,
                          seed=setup.seed, verbose=0,
                          schedule=get_schedule(configs[0]["schedule"]))
        trainer.fit(*data["train"])
        scores = population.evaluate(*data["val"])
    seconds = round((time.perf_counter() - start) / len(tasks), 4)
    losses = np.array(trainer.history.get("loss", []), dtype=float).reshape(-1, len(tasks))
    rows = []
    for k, task in enumerate(tasks):
        row = unscored_row(task, "ok")
        row.update(epochs=int(np.isfinite(losses[:, k]).sum()), seconds=seconds)
        if trainer.diverged[k]:  # as a trial alone: its fit raised, no scores
            row["status"] = "diverged"
        else:
            row.update(val_score=float(scores[setup.metric][k]),
                       val_loss=float(scores["loss"][k]))
            if not (math.isfinite(row["val_score"]) and math.isfinite(row["val_loss"])):
                row["status"] = "diverged"
        rows.append(row)
    return rows
