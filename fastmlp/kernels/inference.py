"""Predict and evaluate: inference passes over many rows, block by block.

Each block of ``max_rows`` rows (the workspace's size) is split between
the threads by rows; the member function that runs one thread's rows is
compiled once as a pointer (:func:`fastmlp.kernels.ops.unit`), and a
launcher runs it over the blocks on each thread of the team (the threads
meet at a barrier after each block: the next one reuses the workspace).
The network code itself is :mod:`fastmlp.kernels.network`.
"""

import numpy as np

from .addresses import unpack_ops
from .config import jit
from .mathfun import like
from .network import chunk_input, finish_output, forward_loss_rows, forward_rows, inference_noise
from .ops import launch, unit
from .shares import share
from .sync import barrier, new_state
from .views import unowned
from .workspace import chunk_rows


def predict(net, ops, X, out, work, n_threads):
    """Network output for every row of X into ``out`` (n, n_out), block by block.

    Inference mode (no dropout, running batch-norm statistics).  Each block
    of ``chunk_rows(work)`` rows is split between the threads; the output layer
    writes straight into ``out``.  ``ops``: the configuration's functions
    (:class:`fastmlp.kernels.ops.Ops`; its loss and update are not used);
    ``work`` a :class:`~fastmlp.kernels.structs.Work`.
    """
    zero, n_threads = np.int64(0), np.int64(n_threads)  # zero: the member's t and c0 (types)
    member = unit(predict_member, (zero, net, ops, X, out, work, zero, n_threads))
    launch(_predict, member, ops, (net, X, out, work, n_threads, new_state()), n_threads)


@jit
def predict_member(t, net, ops, X, out, work, c0, n_threads):
    """Thread t's rows of the block of rows that starts at row c0 (see :func:`predict`)."""
    n = X.shape[0]
    n_out = out.shape[1]
    rows = min(n, c0 + chunk_rows(work)) - c0
    r0, r1 = share(rows, t, n_threads)
    if r1 > r0:
        of = out.reshape(-1)
        inp = chunk_input(X, np.empty(0, dtype=np.int64), c0, work)
        forward_rows(net, ops, inp, work, r0, r1, of, c0 * n_out, np.bool_(False),
                     inference_noise())
        finish_output(net, ops.forward, of, c0 * n_out, r0, r1)


# The members run through pointers, compiled once (:func:`fastmlp.kernels.ops.unit`);
# the configuration's functions arrive as addresses
# (:func:`fastmlp.kernels.ops.addresses`); the arrays without owners, as in
# the training launchers (:mod:`fastmlp.kernels.train`).

@jit(from_python=True)
def _predict(member, functions, t, net, X, out, work, n_threads, sync):
    net, X, out, work, sync = unowned(net), unowned(X), unowned(out), unowned(work), unowned(sync)
    for start in range(0, X.shape[0], chunk_rows(work)):
        member(t, net, unpack_ops(functions, work.buf), X, out, work, start, n_threads)
        barrier(sync, n_threads)


def evaluate(net, ops, loss_code, X, T, sw, work, stats, n_threads):
    """Loss and metrics of X against T, accumulated into ``stats`` (n_threads, 3 + n_out).

    ``sw`` (n,) float64 weighs the rows (empty: unweighted).
    """
    zero, n_threads, loss_code = np.int64(0), np.int64(n_threads), np.int64(loss_code)
    member = unit(evaluate_member, (zero, net, ops, loss_code, X, T, sw, work, stats, zero,
                                    n_threads))
    launch(_evaluate, member, ops,
           (net, loss_code, X, T, sw, work, stats, n_threads, new_state()), n_threads)


@jit
def evaluate_member(t, net, ops, loss_code, X, T, sw, work, stats, c0, n_threads):
    """Thread t's rows of the block of rows that starts at row c0 (see :func:`evaluate`)."""
    n = X.shape[0]
    n_out = T.shape[1]
    rows = min(n, c0 + chunk_rows(work)) - c0
    r0, r1 = share(rows, t, n_threads)
    no_index = np.empty(0, dtype=np.int64)
    forward_loss_rows(net, ops, loss_code, chunk_input(X, no_index, c0, work), T.reshape(-1),
                      c0 * n_out, work, r0, r1, like(0, work.buf), sw, no_index, c0, stats[t])


@jit(from_python=True)
def _evaluate(member, functions, t, net, loss_code, X, T, sw, work, stats, n_threads, sync):
    net, X, T, sw, work, stats, sync = (unowned(net), unowned(X), unowned(T), unowned(sw),
                                        unowned(work), unowned(stats), unowned(sync))
    for start in range(0, X.shape[0], chunk_rows(work)):
        member(t, net, unpack_ops(functions, work.buf), loss_code, X, T, sw, work, stats, start,
               n_threads)
        barrier(sync, n_threads)
