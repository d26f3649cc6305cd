"""Compile the kernels of common configurations ahead of time (``fastmlp warmup``).

For Docker images, CI caches and cluster nodes: run it once where the
cache will live (``NUMBA_CACHE_DIR``, or the package's ``__pycache__``),
and later processes on a machine with the same CPU, Python, Numba and
fastmlp start without compiling.
"""

import sys
import time

import numpy as np

from ..engine.compile_processes import compile_processes, environment_processes
from ..engine.compiling import silenced
from ..engine.threads import available_cpus, max_threads, threads
from ..model import Model
from ..trainer import Trainer

__all__ = ["warm_up", "COMMON_CONFIGURATIONS"]


#: (hidden activation, output, loss, optimizer) compiled by :func:`warm_up`:
#: classification, multi-label and regression with the two most used
#: optimizers.  Every other combination reuses the same compiled kernels and
#: adds only its own activation, loss or optimizer functions (< 1 s each).
COMMON_CONFIGURATIONS = (
    ("relu", "softmax", "cross_entropy", "adam"),
    ("relu", "identity", "squared_error", "adam"),
    ("relu", "sigmoid", "binary_cross_entropy", "adam"),
    ("tanh", "softmax", "cross_entropy", "sgd"),
)


def warm_up(dtypes=("float32", "float64"), n_threads=None, configurations=COMMON_CONFIGURATIONS,
            stream=None, processes=None):
    """Compile (or load) the kernels of common configurations; one line per configuration.

    Each configuration is trained for one epoch on random data, its
    gradient, evaluation and prediction computed, on one thread and -- when
    ``n_threads`` is above 1 -- on a team of threads, which are separately
    compiled variants.  What is missing from the cache compiles on all
    cores (:mod:`fastmlp.engine.compile_pool`), whatever ``n_threads``.

    Parameters
    ----------
    dtypes : sequence of {"float32", "float64"}
    n_threads : int, optional
        Threads the later runs will use (default: all of them).
    configurations : sequence of (activation, output, loss, optimizer)
    stream : file, optional
        Where the progress lines go (default ``sys.stdout``).
    processes : int, optional
        Most processes that compile at once (default: ``FASTMLP_COMPILE_PROCESSES``
        when set, else every core available; 1: this process only).

    Returns
    -------
    list of (str, float)
        Each configuration's description and its seconds.
    """
    out = sys.stdout if stream is None else stream
    n_threads = max_threads() if n_threads is None else n_threads
    if processes is None:
        processes = environment_processes() or available_cpus()
    rng = np.random.default_rng(0)
    # small: one thread; wide and full-batch: enough work for the team
    shapes = [([8, 16, 3], 40, 8)]
    if n_threads > 1:
        shapes.append(([64, 512, 3], 600, 600))
    done = []
    for dtype in dtypes:
        for activation, output, loss, optimizer in configurations:
            name = f"{dtype} {activation}/{output}/{optimizer}"
            start = time.perf_counter()
            with threads(n_threads), silenced(), compile_processes(processes):
                for sizes, n, batch in shapes:
                    X = rng.standard_normal((n, sizes[0]))
                    y = _targets(loss, rng, n, sizes[-1])
                    model = Model(sizes, activation=activation, output=output, loss=loss,
                                  dtype=dtype, seed=0)
                    Trainer(model, optimizer, batch_size=batch, epochs=1, verbose=0,
                            seed=0).fit(X, y, validation_data=(X, y))
                    model.loss_and_grad(X, y)
                    model.predict(X)
            seconds = time.perf_counter() - start
            print(f"{name}: {seconds:.1f} s", file=out, flush=True)
            done.append((name, seconds))
    return done


def _targets(loss, rng, n, n_out):
    """Random targets of the form ``loss`` takes: labels, 0/1 rows or values."""
    if loss == "cross_entropy":
        return rng.integers(0, n_out, n)
    if loss == "binary_cross_entropy":
        return (rng.random((n, n_out)) < 0.5).astype(np.float64)
    return rng.standard_normal((n, n_out))
