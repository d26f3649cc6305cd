"""The ``fastmlp`` command line: the parser, the entry point and the exit codes.

Each command group has its module: :mod:`~fastmlp.cli.train`,
:mod:`~fastmlp.cli.experiments` (``compare``, ``diagnose``, ``search``),
:mod:`~fastmlp.cli.predict` (``predict``, ``evaluate``, ``info``),
:mod:`~fastmlp.cli.convert` and :mod:`~fastmlp.cli.warmup`.

Exit codes: 0 success, 2 usage or input errors (a message on stderr), 1 a
training failure (divergence, overflow), 130 Ctrl-C, 141 (as a process
ended by SIGPIPE) when the reader of the output went away (``fastmlp
predict ... | head -1``), quietly as Unix tools end.
"""

import argparse
import os
import select
import sys
import time

from .._version import __version__
from ..exceptions import DivergenceError
from .convert import add_convert_command, convert_command
from .experiments import (
    add_compare_command,
    add_diagnose_command,
    add_search_command,
    compare_command,
    diagnose_command,
    search_command,
)
from .predict import add_model_commands, run_model_command
from .train import add_train_command, train_command
from .warmup import warm_up

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastmlp", description="Fast multilayer perceptron training on CPUs.")
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command")
    add_train_command(sub)
    add_compare_command(sub)
    add_diagnose_command(sub)
    warmup = sub.add_parser(
        "warmup", help="compile the kernels of common configurations ahead of time",
        description="Compile (or load from Numba's cache) the kernels of the common "
                    "configurations -- relu with softmax, identity and sigmoid outputs and Adam, "
                    "tanh with SGD -- for training, gradients, evaluation and prediction, so "
                    "that later runs start without compiling. Run it where the cache will "
                    "live: while building a Docker image or on each node of a cluster.")
    warmup.add_argument("--dtype", type=_dtypes, default=("float32", "float64"),
                        help="comma-separated dtypes (default float32,float64)")
    warmup.add_argument("--threads", type=int, default=None,
                        help="threads the later runs will use (default: all cores)")
    warmup.add_argument("--processes", type=_positive, default=None,
                        help="most processes compiling at once (default: "
                             "FASTMLP_COMPILE_PROCESSES when set, else all cores; 1: "
                             "compile in this process only)")
    add_search_command(sub)
    add_model_commands(sub)
    add_convert_command(sub)
    return parser


def _dtypes(text):
    names = tuple(t for t in text.replace(" ", "").split(",") if t)
    bad = [t for t in names if t not in ("float32", "float64")]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--dtype takes float32 and/or float64, "
                                         f"comma-separated, got {text!r}")
    return names


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a positive integer, got {text!r}")
    return value


def _warm_up(args):
    warm_up(args.dtype, args.threads, processes=args.processes)


#: The function that runs each command (given the parsed arguments).
COMMANDS = {"train": train_command, "compare": compare_command, "diagnose": diagnose_command,
            "search": search_command, "warmup": _warm_up, "convert": convert_command,
            "predict": run_model_command, "evaluate": run_model_command,
            "info": run_model_command}


def main(argv=None):
    """Entry point of the ``fastmlp`` console script and ``python -m fastmlp``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    start = time.perf_counter()
    try:
        COMMANDS[args.command](args)
        sys.stdout.flush()  # a reader gone shows here, not in the flush at exit
    except BrokenPipeError as exc:
        if not _stdout_closed():  # another pipe broke (a worker's): an error
            print(f"fastmlp: error: {exc}", file=sys.stderr)
            return _end_job(args, 2)
        _discard_stdout()
        return _end_job(args, 141)
    except (DivergenceError, FloatingPointError) as exc:  # the training failed, not the input
        print(f"fastmlp: training failed: {exc}", file=sys.stderr)
        return _end_job(args, 1)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return _end_job(args, 2)
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return _end_job(args, 130)
    if _rank(args) == 0:  # data-parallel: rank 0 reports for all
        print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def _stdout_closed():
    """Whether stdout is a pipe (or socket) whose reader has gone."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
    except (AttributeError, OSError, ValueError):  # no file (a test's capture), no poll
        return not hasattr(select, "poll")
    poller.register(fd, select.POLLOUT)  # an error or hang-up is reported in any case
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def _discard_stdout():
    """Point stdout at the null device, so that the flush of what is left in its buffer
    at exit fails no more (as Python's documentation on SIGPIPE advises)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file: nothing flushes into a pipe
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _running_world(args):
    """COMM_WORLD when this is a ``--distributed`` command that started MPI, else None."""
    if getattr(args, "distributed", False) and "mpi4py.MPI" in sys.modules:
        return sys.modules["mpi4py.MPI"].COMM_WORLD
    return None


def _rank(args):
    """This process's MPI rank for ``--distributed`` (0 otherwise)."""
    world = _running_world(args)
    return 0 if world is None else world.Get_rank()


def _end_job(args, code):
    """The exit code of a failed command; a ``--distributed`` one aborts the whole MPI
    job instead, so that no other rank waits for this one forever."""
    world = _running_world(args)
    if world is not None:
        sys.stderr.flush()
        world.Abort(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
