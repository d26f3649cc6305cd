"""Batch normalisation between a layer's affine map and its activation.

Training, for each unit j over the rows of the batch (Ioffe & Szegedy, 2015;
PyTorch's ``BatchNorm1d``)::

    mu_j = mean_r z_rj      var_j = mean_r (z_rj - mu_j)^2      s_j = 1 / sqrt(var_j + eps)
    zhat_rj = (z_rj - mu_j) s_j       y_rj = gamma_j zhat_rj + beta_j
    running_mean <- (1 - m) running_mean + m mu
    running_var  <- (1 - m) running_var  + m var n / (n - 1)        (unbiased)

Inference: ``y = gamma (z - running_mean) / sqrt(running_var + eps) + beta``.
Backward, from dL/dy (``D``)::

    dbeta_j = sum_r D_rj      dgamma_j = sum_r D_rj zhat_rj
    dL/dz_rj = gamma_j s_j (D_rj - dbeta_j / n - zhat_rj dgamma_j / n)

Each function handles the columns c0..c1 of a (rows, width) block stored
row-major at an offset of a flat buffer: a thread that owns a set of units
(column split) sees all their rows, which is what the statistics need.
The batch statistics live in a workspace slot ``stats`` of 2 x width
values: the means, then the inverse standard deviations s_j.

Data-parallel training (``mpi``, the handles of
:mod:`fastmlp.kernels.collective`, not zeros): each rank holds its share of
the batch's rows and one thread, with every column (the training loop runs
a team of one there); the sums over rows -- the means, the squared
deviations, the row count, and in the backward pass dbeta and dgamma --
are summed over the ranks before use, so the statistics are the whole
batch's.  dbeta and dgamma, whole already, are then kept by rank 0 alone:
the gradient's own sum over the ranks adds every other rank's share.
"""

import numpy as np

from .collective import MPI_ALLREDUCE, allreduce_sum, is_first_rank
from .config import jit
from .mathfun import like


@jit
def _over_ranks(mpi, sums):
    """``sums`` summed over the ranks in place (data-parallel training; else as it is)."""
    if mpi[MPI_ALLREDUCE] != 0:
        allreduce_sum(mpi, sums)


@jit
def _batch_rows(mpi, rows):
    """The whole batch's row count: this rank's ``rows`` summed over the ranks."""
    if mpi[MPI_ALLREDUCE] == 0:
        return rows
    count = np.full(1, float(rows))
    allreduce_sum(mpi, count)
    return np.int64(count[0])


@jit
def forward_train(buf, off, rows, width, c0, c1, gamma, beta, eps, momentum, zhat, z_off,
                  stats, s_off, running, r_off, update_running, mpi):
    """Normalise columns c0..c1 in place (``buf`` receives y, ``zhat`` receives zhat).

    ``gamma``/``beta`` are the layer's full-width parameter vectors;
    ``running`` holds the running mean at ``r_off`` and the running variance
    at ``r_off + width``, updated when ``update_running``; ``mpi``: see the
    module docstring.
    """
    n = c1 - c0
    mean = stats[s_off + c0:s_off + c1]
    inv = stats[s_off + width + c0:s_off + width + c1]
    mean[:] = 0
    inv[:] = 0
    for r in range(rows):
        row = buf[off + r * width + c0:off + r * width + c1]
        for j in range(n):
            mean[j] += row[j]
    total = _batch_rows(mpi, rows)
    _over_ranks(mpi, mean)
    scale = like(1.0 / total, buf)
    for j in range(n):
        mean[j] *= scale
    for r in range(rows):  # second pass: the squares of the deviations (no cancellation)
        row = buf[off + r * width + c0:off + r * width + c1]
        for j in range(n):
            d = row[j] - mean[j]
            inv[j] += d * d
    _over_ranks(mpi, inv)
    keep = like(1.0 - momentum, running)
    m = like(momentum, running)
    for j in range(n):
        var = float(inv[j]) / total
        if update_running:
            unbiased = float(inv[j]) / (total - 1) if total > 1 else var
            k = r_off + c0 + j
            running[k] = keep * running[k] + m * like(float(mean[j]), running)
            running[k + width] = keep * running[k + width] + m * like(unbiased, running)
        inv[j] = like(1.0 / np.sqrt(var + eps), buf)
    for r in range(rows):
        at = r * width + c0
        row = buf[off + at:off + at + n]
        zrow = zhat[z_off + at:z_off + at + n]
        for j in range(n):
            zh = (row[j] - mean[j]) * inv[j]
            zrow[j] = zh
            row[j] = gamma[c0 + j] * zh + beta[c0 + j]


@jit
def forward_infer(buf, off, rows, width, c0, c1, gamma, beta, eps, running, r_off, zhat, z_off,
                  stats, s_off):
    """y = gamma (z - running_mean) / sqrt(running_var + eps) + beta on columns c0..c1 of a
    block of whole rows.

    When ``z_off >= 0`` also keeps zhat = (z - running_mean) s and the s_j
    in ``stats`` for the backward pass (the objective's gradient in
    inference mode, e.g. for checks).  Only columns c0..c1: in a column-split
    layer the other threads are still writing theirs.
    """
    keep = z_off >= 0
    for j in range(c0, c1):
        inv = 1.0 / np.sqrt(float(running[r_off + width + j]) + eps)
        s = float(gamma[j]) * inv
        shift = float(beta[j]) - s * float(running[r_off + j])
        sj = like(s, buf)
        tj = like(shift, buf)
        mu = like(float(running[r_off + j]), buf)
        iv = like(inv, buf)
        if keep:
            stats[s_off + width + j] = iv
        for r in range(rows):
            at = off + r * width + j
            if keep:
                zhat[z_off + r * width + j] = (buf[at] - mu) * iv
            buf[at] = sj * buf[at] + tj


@jit
def backward(D, d_off, rows, width, c0, c1, zhat, z_off, gamma, stats, s_off, dgamma, dbeta,
             batch_stats, accumulate, mpi):
    """dL/dy -> dL/dz in place for columns c0..c1; writes dgamma and dbeta there.

    ``batch_stats``: the forward pass normalised with the batch's statistics
    (training), so they depend on z too; otherwise (inference statistics)
    the map is affine, ``dL/dz = gamma s dL/dy``.  ``accumulate``: add this
    chunk's dgamma and dbeta to those of the chunks before it (a pass in
    inference mode over more rows than a chunk holds; with batch statistics
    the batch is always one chunk).  ``mpi``: see the module docstring.
    """
    n = c1 - c0
    sum_d = dbeta[c0:c1]
    sum_dz = dgamma[c0:c1]
    if not accumulate:
        sum_d[:] = 0
        sum_dz[:] = 0
    for r in range(rows):
        at = r * width + c0
        drow = D[d_off + at:d_off + at + n]
        zrow = zhat[z_off + at:z_off + at + n]
        for j in range(n):
            sum_d[j] += drow[j]
            sum_dz[j] += drow[j] * zrow[j]
    total = rows
    if batch_stats:
        total = _batch_rows(mpi, rows)
        _over_ranks(mpi, sum_d)
        _over_ranks(mpi, sum_dz)
    scale = like(1.0 / total, D) if batch_stats else like(0, D)
    inv = stats[s_off + width + c0:s_off + width + c1]
    for r in range(rows):
        at = r * width + c0
        drow = D[d_off + at:d_off + at + n]
        zrow = zhat[z_off + at:z_off + at + n]
        for j in range(n):
            drow[j] = gamma[c0 + j] * inv[j] * (drow[j] - sum_d[j] * scale
                                                - zrow[j] * sum_dz[j] * scale)
    if batch_stats and not is_first_rank(mpi):  # rank 0 holds the whole sums
        sum_d[:] = 0
        sum_dz[:] = 0


# The same signatures, doing nothing: what models without batch
# normalisation get (:mod:`fastmlp.kernels.ops`), so that the functions
# above compile only for the models that use them.

@jit
def no_forward_train(buf, off, rows, width, c0, c1, gamma, beta, eps, momentum, zhat, z_off,
                     stats, s_off, running, r_off, update_running, mpi):
    """Stands for :func:`forward_train` where no layer normalises (never called)."""


@jit
def no_forward_infer(buf, off, rows, width, c0, c1, gamma, beta, eps, running, r_off, zhat, z_off,
                     stats, s_off):
    """Stands for :func:`forward_infer` where no layer normalises (never called)."""


@jit
def no_backward(D, d_off, rows, width, c0, c1, zhat, z_off, gamma, stats, s_off, dgamma, dbeta,
                batch_stats, accumulate, mpi):
    """Stands for :func:`backward` where no layer normalises (never called)."""
