"""Predict and evaluate: inference passes over many rows, block by block.

Each block of ``max_rows`` rows (the workspace's size) is split between
the threads by rows; the member function that runs one thread's rows is
compiled once as a pointer (:func:`fastmlp.kernels.ops.unit`), and a
launcher runs it on one thread or on a team in a parallel region.  The
network code itself is :mod:`fastmlp.kernels.network`.
"""

import numpy as np
from numba import prange

from .addresses import unpack_ops
from .config import jit
from .mathfun import like
from .network import (MAX_ROWS, finish_output, forward_loss_rows, forward_rows, inference_noise,
                      share)
from .ops import launch


def predict(net, ops, X, out, ws, wsl, n_threads):
    """Network output for every row of X into ``out`` (n, n_out), block by block.

    Inference mode (no dropout, running batch-norm statistics).  Each block
    of max_rows rows is split between the threads; the output layer writes
    straight into ``out``.  ``ops``: the configuration's functions
    (:class:`fastmlp.kernels.ops.Ops`; its loss and update are not used).
    """
    rest = (X, out, ws, wsl, np.int64(0), np.int64(0), np.int64(n_threads))
    launch(predict_member, _predict_alone, _predict_blocks, net, ops, rest, n_threads)


@jit
def predict_member(net, ops, X, out, ws, wsl, c0, t, n_threads):
    """Thread t's rows of the block of rows that starts at row c0 (see :func:`predict`)."""
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    n, n_in = X.shape
    n_out = out.shape[1]
    rows = min(n, c0 + max_rows) - c0
    r0, r1 = share(rows, t, n_threads)
    if r1 > r0:
        of = out.reshape(-1)
        forward_rows(net, ops, X.reshape(-1), c0 * n_in, ws, wsl, r0, r1, of, c0 * n_out,
                     np.bool_(False), inference_noise())
        finish_output(net, ops.forward, of, c0 * n_out, r0, r1)


# The members run through pointers, compiled once (:func:`fastmlp.kernels.ops.unit`);
# the configuration's functions arrive as addresses
# (:func:`fastmlp.kernels.ops.addresses`).  One thread runs without a
# parallel region: that launcher compiles in a tenth of the time.

@jit(from_python=True)
def _predict_alone(member, functions, net, X, out, ws, wsl, c0, t, n_threads):
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    for start in range(0, X.shape[0], max_rows):
        member(net, unpack_ops(functions, ws), X, out, ws, wsl, start, t, n_threads)


@jit(parallel=True, from_python=True)
def _predict_blocks(member, functions, net, X, out, ws, wsl, c0, t, n_threads):
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    for start in range(0, X.shape[0], max_rows):
        for member_no in prange(n_threads):
            member(net, unpack_ops(functions, ws), X, out, ws, wsl, start, np.int64(member_no),
                   n_threads)


def evaluate(net, ops, loss_code, X, T, sw, ws, wsl, stats, n_threads):
    """Loss and metrics of X against T, accumulated into ``stats`` (n_threads, 3 + n_out).

    ``sw`` (n,) float64 weighs the rows (empty: unweighted).
    """
    rest = (np.int64(loss_code), X, T, sw, ws, wsl, stats, np.int64(0), np.int64(0),
            np.int64(n_threads))
    launch(evaluate_member, _evaluate_alone, _evaluate_blocks, net, ops, rest, n_threads)


@jit
def evaluate_member(net, ops, loss_code, X, T, sw, ws, wsl, stats, c0, t, n_threads):
    """Thread t's rows of the block of rows that starts at row c0 (see :func:`evaluate`)."""
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    n, n_in = X.shape
    n_out = T.shape[1]
    rows = min(n, c0 + max_rows) - c0
    r0, r1 = share(rows, t, n_threads)
    forward_loss_rows(net, ops, loss_code, X.reshape(-1), c0 * n_in, T.reshape(-1), c0 * n_out,
                      ws, wsl, r0, r1, like(0, ws), sw, np.empty(0, dtype=np.int64), c0, stats[t])


@jit(from_python=True)
def _evaluate_alone(member, functions, net, loss_code, X, T, sw, ws, wsl, stats, c0, t,
                    n_threads):
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    for start in range(0, X.shape[0], max_rows):
        member(net, unpack_ops(functions, ws), loss_code, X, T, sw, ws, wsl, stats, start, t,
               n_threads)


@jit(parallel=True, from_python=True)
def _evaluate_blocks(member, functions, net, loss_code, X, T, sw, ws, wsl, stats, c0, t,
                     n_threads):
    max_rows = wsl[net.layout.shape[0], MAX_ROWS]
    for start in range(0, X.shape[0], max_rows):
        for member_no in prange(n_threads):
            member(net, unpack_ops(functions, ws), loss_code, X, T, sw, ws, wsl, stats, start,
                   np.int64(member_no), n_threads)
