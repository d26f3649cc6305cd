"""The module paths of fastmlp 0.1.0, kept working for imports and pickles.

fastmlp 0.1.0 kept most of its modules directly in ``fastmlp/``; they now
live in the subpackages of their concern.  Code that imports an old path
(``from fastmlp.parallel import threads``) and pickles that name a class at
its old place (a pickled estimator holds ``fastmlp.layout.ParamLayout``)
still work: :func:`install` puts a finder at the end of ``sys.meta_path``
that answers each old name with the module that now holds its contents --
the same module object, so a class unpickled through an old path *is* the
current class.  The finder comes last, so it never hides a real module, and
it imports nothing until an old name is asked for.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["MOVED", "install"]

#: Each module path of fastmlp 0.1.0 that no longer exists, and the module
#: that now holds what it held (of a module split in two, the larger part).
MOVED = {
    "fastmlp._validation": "fastmlp._utils.validation",
    "fastmlp.model_args": "fastmlp._utils.validation",
    "fastmlp.figures": "fastmlp._utils.figures",
    "fastmlp._utils.tuning": "fastmlp._utils.tuning",
    "fastmlp.tabular": "fastmlp.data.encoding",
    "fastmlp.data_io": "fastmlp.data.encoding",
    "fastmlp.convert": "fastmlp.data.convert",
    "fastmlp.rows": "fastmlp.data.rows",
    "fastmlp.shuffling": "fastmlp.data.shuffling",
    "fastmlp.layout": "fastmlp.engine.layout",
    "fastmlp.parallel": "fastmlp.engine.threads",
    "fastmlp.compiling": "fastmlp.engine.compiling",
    "fastmlp.model_record": "fastmlp.archive.model_record",
    "fastmlp.generator_state": "fastmlp.archive.generator_state",
    "fastmlp.fit_data": "fastmlp.training.inputs",
    "fastmlp.epoch_loop": "fastmlp.training.epoch_loop",
    "fastmlp.distributed": "fastmlp.training.distributed",
    "fastmlp.diagnostics": "fastmlp.training.diagnostics",
    "fastmlp.checkpoint": "fastmlp.training.checkpoint",
    "fastmlp.cli_settings": "fastmlp.cli.settings",
    "fastmlp.cli_model": "fastmlp.cli.predict",
    "fastmlp.warmup": "fastmlp.cli.warmup",
    "fastmlp.io": "fastmlp.files",
    "fastmlp.divergence": "fastmlp.callbacks",
}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old module path and loads it as the module that replaced it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        # the import system keeps the module's own name and spec: it is the
        # new module, registered under the old name as well
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        """Nothing to run: the module was imported under its new name."""


def install():
    """Answer the old module paths from now on (once per process)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(_OldPaths())
