"""Predict and evaluate: inference passes over many rows, block by block.

Each block of ``max_rows`` rows (the workspace's size) is split between
the threads by rows; the member function that runs a range of rows is
compiled once as a pointer (:func:`fastmlp.kernels.ops.unit`), and a
launcher runs it over the blocks on each thread of the team.

A predict's team claims its rows a piece at a time (:func:`claim_piece`)
rather than halving them, and its workers are optional
(:func:`fastmlp.kernels.sync.new_board`): a worker starts its part
microseconds after the calling thread (it takes the GIL to enter its
launcher) -- or, when another program's thread holds the other core
(NumPy's BLAS or onnxruntime spinning after their own calls), only
milliseconds later.  The caller takes whatever rows are left, waits only
for pieces that a worker has begun, and lets off a worker that has not
started by the end.  No barrier: a piece of the next block waits for the
rows of the one before to be done (it reuses their workspace).  Evaluate's
team splits each block evenly and meets at a barrier after it.  The
network code itself is :mod:`fastmlp.kernels.network`.
"""

import numba
import numpy as np

from . import deferred
from .addresses import predict_member_at, unpack_ops
from .blas import TILED_MOST_ROWS
from .config import jit
from .mathfun import like
from .network import chunk_input, finish_output, forward_loss_rows, forward_rows, inference_noise
from .ops import addresses, launch, ready_launcher, unit
from .shares import share
from .structs import Net, Work
from .sync import atomic_add, await_count, barrier, enter_team, leave_team, new_board, new_state
from .views import unowned
from .workers import optional_worker_ready, run_team
from .workspace import chunk_rows


def predict(net, ops, X, out, work, n_threads, member=None):
    """Network output for every row of X into ``out`` (n, n_out), block by block.

    Inference mode (no dropout, running batch-norm statistics).  Each block
    of ``chunk_rows(work)`` rows is split between the threads; the output layer
    writes straight into ``out``.  ``ops``: the configuration's functions
    (:class:`fastmlp.kernels.ops.Ops`; its loss and update are not used);
    ``work`` a :class:`~fastmlp.kernels.structs.Work`; ``member``, when
    given, :func:`predict_unit` of these argument types (kept by the caller:
    finding it costs tens of microseconds, a small predict's whole time).
    """
    if member is None:
        member = predict_unit(net, ops, X, out, work)
    functions = addresses(ops)
    if n_threads <= 1 or not optional_worker_ready():
        # (a block in one piece: the team's pieces would cost a caller left alone ~12%)
        predict_here(net, functions, X, out, work, member)
        return
    # the team's launcher takes the structures as their arrays, as predict_here does: each
    # member's thread types its arguments (holding the GIL) before it starts
    address, _, *arrays = _here_arguments(member.address, functions, net, X, out, work)
    board, team = new_board(optional_workers=n_threads - 1), (np.int64(n_threads), new_progress())
    ready_launcher(_predict_team, member, lambda: tuple(
        numba.typeof(a) for a in (address, functions, np.int64(0), board, *arrays, *team)))
    run_team(lambda t: _predict_team(address, functions, np.int64(t), board, *arrays, *team),
             n_threads, board)


def defer_predict_here(net, X, out, work):
    """Put off compiling :func:`predict_here`'s entry point for these argument types until
    the next flush (:mod:`fastmlp.kernels.deferred`): it then compiles with the member."""
    sig = tuple(numba.typeof(a) for a in _here_arguments(0, np.zeros(1, dtype=np.int64), net, X,
                                                         out, work))
    deferred.defer(deferred.Job(deferred.OVERLOAD, _predict_here, sig,
                                done=sig in _predict_here.overloads))


def _here_arguments(member_address, functions, net, X, out, work):
    """:func:`_predict_here`'s arguments: the structures as their arrays."""
    return (member_address, functions, net.params, net.layout, net.act_param, net.layer_f,
            net.running, net.mpi, X, out, work.buf, work.parts, work.rows)


def predict_here(net, functions, X, out, work, member):
    """:func:`predict` on the calling thread alone, with the fewest Python steps.

    For small predicts, whose whole time is the call's fixed cost: no team,
    and the structures passed as their arrays (Numba types plain arrays in
    nanoseconds, a named tuple of them in microseconds) and rebuilt inside.
    ``functions``: the :class:`~fastmlp.kernels.ops.Ops` as addresses
    (:func:`fastmlp.kernels.ops.addresses`); ``member``: :func:`predict_unit`.
    """
    # (the arguments of _here_arguments, written out: a small predict's every microsecond counts)
    _predict_here(member.address, functions, net.params, net.layout, net.act_param,
                  net.layer_f, net.running, net.mpi, X, out, work.buf, work.parts, work.rows)


@jit(from_python=True)
def _predict_here(member_address, functions, params, layout, act_param, layer_f, running, mpi,
                  X, out, buf, parts, rows):
    net = unowned(Net(params, layout, act_param, layer_f, running, mpi))
    work = unowned(Work(buf, parts, rows))
    X, out = unowned(X), unowned(out)
    ops = unpack_ops(functions, buf)
    member = predict_member_at(member_address, net, ops, X, out, work)
    for start in range(0, X.shape[0], chunk_rows(work)):
        member(net, ops, X, out, work, start, np.int64(0),
               min(X.shape[0], start + chunk_rows(work)) - start)


def predict_unit(net, ops, X, out, work):
    """:func:`predict_member` compiled (or loaded) for these argument types, as a pointer."""
    zero = np.int64(0)  # the member's c0, r0 and r1 (types)
    return unit(predict_member, (net, ops, X, out, work, zero, zero, zero))


@jit
def predict_member(net, ops, X, out, work, c0, r0, r1):
    """Rows r0 .. r1 of the block of rows that starts at row c0 (see :func:`predict`)."""
    n_out = out.shape[1]
    of = out.reshape(-1)
    inp = chunk_input(X, np.empty(0, dtype=np.int64), c0, work)
    forward_rows(net, ops, inp, work, r0, r1, of, c0 * n_out, np.bool_(False),
                 inference_noise())
    finish_output(net, ops.forward, of, c0 * n_out, r0, r1)


#: The rows of a predict's piece (:func:`claimed_rows`): half of a thread's
#: share of the block, so that the second halves even out a late start, and
#: at least this many (a tile's rows, :data:`fastmlp.kernels.tiles.TILE_ROWS` on
#: AVX-512).  Each product reads all of its weights once per piece, and each piece
#: runs the output layer's BLAS product and the epilogues as calls of their own: fewer,
#: larger pieces.  On the digits shape's 64 rows (Zen 4, two threads) halves took 48 us
#: a predict, quarters 75 and eighths 83 in one sequence of runs.  Halves of more than
#: :data:`fastmlp.kernels.blas.TILED_MOST_ROWS` rows would make BLAS copy a large
#: layer's weights twice per thread (the L shape's 512 rows: ~4% slower): a thread's
#: whole share is a piece then (a member that long hides a late start).
CLAIM_MIN_ROWS = 8

#: Where a predict's team counts its progress (:func:`new_progress`): the pieces
#: claimed and the rows done, a cache line apart.
_CLAIMED, _DONE = 0, 8

#: Checks of a wait for the team's rows to be done (:func:`_await_rows`) before it
#: starts over: the wait itself has no end (a piece begun is finished), and a
#: thread waiting this long gives its core away between checks.
_ROW_CHECKS = 1 << 20


def new_progress():
    """The counters of a predict's team (:func:`claim_piece`), zero."""
    return np.zeros(_DONE + 1, dtype=np.int64)


@jit(from_python=True)
def claimed_rows(rows, n_threads):
    """The rows of each piece (but the last) of a team's block of ``rows`` rows."""
    half = -(-rows // (2 * n_threads))
    if half > TILED_MOST_ROWS:
        return -(-rows // n_threads)
    return max(CLAIM_MIN_ROWS, half)


@jit
def claim_piece(progress, n, block_rows, n_threads):
    """The next piece of a predict over ``n`` rows, in blocks of ``block_rows``, for the
    calling member: ``(start, r0, r1)``, rows r0 .. r1 of the block that starts at row
    ``start``; ``start == n`` once every piece is claimed.

    The pieces are numbered block after block, and each has the same rows
    whatever the order of the claims, so each row's result does not depend
    on which thread computed it.
    """
    number = atomic_add(progress, _CLAIMED, 1)
    full_blocks = n // block_rows
    piece = claimed_rows(block_rows, n_threads)
    per_block = -(-block_rows // piece)
    if number < full_blocks * per_block:
        r0 = (number % per_block) * piece
        return (number // per_block) * block_rows, r0, min(block_rows, r0 + piece)
    last_rows = n - full_blocks * block_rows
    if last_rows > 0:
        piece = claimed_rows(last_rows, n_threads)
        r0 = (number - full_blocks * per_block) * piece
        if r0 < last_rows:
            return full_blocks * block_rows, r0, min(last_rows, r0 + piece)
    return n, 0, 0


@jit
def _await_rows(progress, rows):
    # until the team has done ``rows`` rows (spinning, then giving the core away)
    while not await_count(progress, _DONE, rows, _ROW_CHECKS):
        pass


@jit(from_python=True)
def _predict_team(member_address, functions, t, board, params, layout, act_param, layer_f,
                  running, mpi, X, out, buf, parts, rows, n_threads, progress):
    # member t of :func:`predict`'s team, its structures passed as their arrays
    enter_team(board, t)
    net = unowned(Net(params, layout, act_param, layer_f, running, mpi))
    work = unowned(Work(buf, parts, rows))
    X, out, progress = unowned(X), unowned(out), unowned(progress)
    ops = unpack_ops(functions, buf)
    member = predict_member_at(member_address, net, ops, X, out, work)
    n = X.shape[0]
    block_rows = chunk_rows(work)
    start, r0, r1 = claim_piece(progress, n, block_rows, n_threads)
    while start < n:
        _await_rows(progress, start)  # the block before done: its workspace rows are ours
        member(net, ops, X, out, work, start, r0, r1)
        atomic_add(progress, _DONE, r1 - r0)
        start, r0, r1 = claim_piece(progress, n, block_rows, n_threads)
    if t == 0:  # the pieces that workers began; then lets off those that did not start
        _await_rows(progress, n)
    leave_team(board, t)


# The members run through pointers, compiled once (:func:`fastmlp.kernels.ops.unit`);
# the configuration's functions arrive as addresses
# (:func:`fastmlp.kernels.ops.addresses`); the arrays without owners, as in
# the training launchers (:mod:`fastmlp.kernels.train`).

def evaluate(net, ops, loss_code, X, T, sw, work, stats, n_threads, member=None):
    """Loss and metrics of X against T, accumulated into ``stats`` (n_threads, 3 + n_out).

    ``sw`` (n,) float64 weighs the rows (empty: unweighted).  ``member``,
    when given, :func:`evaluate_unit` of these argument types.
    """
    n_threads, loss_code = np.int64(n_threads), np.int64(loss_code)
    if member is None:
        member = evaluate_unit(net, ops, X, T, sw, work, stats)
    launch(_evaluate, member, ops,
           (net, loss_code, X, T, sw, work, stats, n_threads, new_state()), n_threads)


def evaluate_unit(net, ops, X, T, sw, work, stats):
    """:func:`evaluate_member` compiled (or loaded) for these argument types, as a pointer."""
    zero = np.int64(0)  # the member's t, loss code, c0 and n_threads (types)
    return unit(evaluate_member, (zero, net, ops, zero, X, T, sw, work, stats, zero, zero))


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
def _evaluate(member, functions, t, board, net, loss_code, X, T, sw, work, stats, n_threads,
              sync):
    enter_team(board, t)
    net, X, T, sw, work, stats, sync = (unowned(net), unowned(X), unowned(T), unowned(sw),
                                        unowned(work), unowned(stats), unowned(sync))
    for start in range(0, X.shape[0], chunk_rows(work)):
        member(t, net, unpack_ops(functions, work.buf), loss_code, X, T, sw, work, stats, start,
               n_threads)
        barrier(sync, n_threads)
    leave_team(board, t)
