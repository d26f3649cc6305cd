"""The ``fastmlp`` command line: argparse lives here and nowhere else.

One module per command group: :mod:`~fastmlp.cli.train` (``train``),
:mod:`~fastmlp.cli.experiments` (``compare``, ``diagnose``, ``search``),
:mod:`~fastmlp.cli.predict` (``predict``, ``evaluate``, ``info``),
:mod:`~fastmlp.cli.convert`, :mod:`~fastmlp.cli.warmup`, with the flags and
the ``--config`` file in :mod:`~fastmlp.cli.settings`, the data that train,
compare and search learn from in :mod:`~fastmlp.cli.prepare`, and the entry
point in :mod:`~fastmlp.cli.commands`.  Nothing else in fastmlp imports it.
"""

from .commands import main

__all__ = ["main"]
