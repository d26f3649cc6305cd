"""A test hook: worker processes that kill themselves in the middle of chosen search trials.

Put this folder on the PYTHONPATH of a search's process: every Python
process it starts (loky, Dask and Ray workers) imports this module at
start-up, which wraps ``fastmlp.search.runner.run_trial`` once that module is
imported.  ``FASTMLP_TEST_KILL`` names the trials, each ``once`` (the first
run dies, a marker file in ``FASTMLP_TEST_KILL_DIR`` lets the next one
through) or ``always``: ``"1:always,2:once"``.  Each death leaves a marker
file ``died-<trial>-<round>-<pid>``.  ``FASTMLP_TEST_WAIT`` makes trials wait
at their start for another trial's deaths, which fixes the order of events
that a timing would otherwise choose: ``"0:1:1,2:1:2"`` -- trial 0 waits until
trial 1 died once, trial 2 until it died twice (at most a minute).
"""

import functools
import importlib.abc
import importlib.util
import os
import signal
import sys
import time

TARGET = "fastmlp.search.runner"


def _plan():
    pairs = (item.split(":") for item in os.environ.get("FASTMLP_TEST_KILL", "").split(",")
             if item)
    return {int(trial): how for trial, how in pairs}


def _deaths(trial, task):
    folder = os.environ["FASTMLP_TEST_KILL_DIR"]
    return sum(n.startswith(f"died-{trial}-{task['round']}-") for n in os.listdir(folder))


def _wait_for_deaths(task):
    """Wait (at most a minute) until the trial ``FASTMLP_TEST_WAIT`` names for this one has
    died as often as it says."""
    for item in filter(None, os.environ.get("FASTMLP_TEST_WAIT", "").split(",")):
        trial, other, count = (int(part) for part in item.split(":"))
        if trial == task["trial"]:
            deadline = time.monotonic() + 60
            while _deaths(other, task) < count and time.monotonic() < deadline:
                time.sleep(0.01)


def _dying(run_trial):
    @functools.wraps(run_trial)
    def run_trial_or_die(task, data, setup):
        _wait_for_deaths(task)
        how = _plan().get(task["trial"])
        if how is not None:
            marker = os.path.join(os.environ["FASTMLP_TEST_KILL_DIR"],
                                  f"died-{task['trial']}-{task['round']}-{os.getpid()}")
            if how == "always" or not _deaths(task["trial"], task):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        return run_trial(task, data, setup)

    return run_trial_or_die


class _WrapOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Loads the runner module as usual, then wraps its run_trial."""

    def find_spec(self, name, path, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.run_trial = _dying(module.run_trial)


if os.environ.get("FASTMLP_TEST_KILL"):
    sys.meta_path.insert(0, _WrapOnImport())
