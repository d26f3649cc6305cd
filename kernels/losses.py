"""Losses: value, output sensitivity and running metrics for a block of rows.

The per-sample loss sums over the outputs; the batch loss is the mean over
samples, so the sensitivity of the output pre-activation z is scaled by
``scale = 1 / batch_size``:

* squared error, any output f:  L = 1/2 sum_k (a_k - t_k)^2,
  dL/dz = (a - t) * f'(z)   (softmax: a * (g - sum_k a_k g_k), g = a - t)
* cross-entropy, softmax output: L = sum_k t_k (lse(z) - z_k),
  dL/dz = a sum_k t_k - t  (= a - t for one-hot or probability rows)
* binary cross-entropy, sigmoid output:
  L = sum_k max(z_k, 0) - t_k z_k + log1p(e^-|z_k|),   dL/dz = a - t

The logit forms (log-sum-exp with the max subtracted, softplus) never take
log(0) and never overflow.  ``stats`` accumulates, in float64:
[0] summed loss, [1] correctly classified rows, [2] rows seen,
[3:3+k] per-output sum of squared errors (for R^2).
"""

import numpy as np

from .activations import IDENTITY, SOFTMAX, backward_row
from .config import jit
from .mathfun import exp, like

SQUARED_ERROR = 0
CROSS_ENTROPY = 1
BINARY_CROSS_ENTROPY = 2

STAT_LOSS = 0
STAT_CORRECT = 1
STAT_COUNT = 2
STAT_SSE = 3


@jit
def _argmax(row):
    best = 0
    for j in range(1, row.size):
        if row[j] > row[best]:
            best = j
    return best


@jit
def _cross_entropy_row(z, a, t, scale, d, db):
    top = z[0]
    for j in range(1, z.size):
        if z[j] > top:
            top = z[j]
    total = 0.0
    for j in range(z.size):
        total += float(exp(z[j] - top))
    lse = float(top) + np.log(total)
    loss = 0.0
    mass = like(0, scale)
    for j in range(z.size):
        loss += float(t[j]) * (lse - float(z[j]))
        mass += t[j]
    for j in range(z.size):
        g = scale * (a[j] * mass - t[j])
        d[j] = g
        db[j] += g
    return loss, _argmax(a) == _argmax(t)


@jit
def _binary_cross_entropy_row(z, a, t, scale, d, db):
    zero = like(0, scale)
    half = like(0.5, scale)
    loss = 0.0
    correct = True
    for j in range(z.size):
        v = z[j]
        loss += float((v if v > zero else zero) - t[j] * v) + np.log1p(float(exp(-abs(v))))
        g = scale * (a[j] - t[j])
        d[j] = g
        db[j] += g
        correct = correct and ((a[j] >= half) == (t[j] >= half))
    return loss, correct


@jit
def _squared_error_row(code, z, a, t, scale, alpha, d, db, sse):
    loss = 0.0
    for j in range(z.size):
        e = a[j] - t[j]
        loss += 0.5 * float(e) * float(e)
        sse[j] += float(e) * float(e)
        d[j] = scale * e
    if code == SOFTMAX:
        dot = like(0, scale)
        for j in range(z.size):
            dot += a[j] * d[j]
        for j in range(z.size):
            d[j] = a[j] * (d[j] - dot)
            db[j] += d[j]
    else:
        backward_row(code, d, a, z, alpha, db)
    return loss


@jit
def output_loss(loss_code, out_code, Z, A, T, scale, alpha, D, db, stats):
    """Loss of a block, its sensitivity D = dL/dZ * scale and the bias gradient.

    Shapes: Z (pre-activation), A (output), T (targets), D: (rows, k);
    db (k,) is overwritten with the column sums of D; stats (3 + k,) float64
    is accumulated.  Returns the summed (not averaged) loss of the rows.
    Evaluation passes ``scale = 0`` and ignores D and db.
    """
    db[:] = 0
    total = 0.0
    correct = 0
    sse = stats[STAT_SSE:]
    for r in range(Z.shape[0]):
        if loss_code == CROSS_ENTROPY:
            loss, ok = _cross_entropy_row(Z[r], A[r], T[r], scale, D[r], db)
        elif loss_code == BINARY_CROSS_ENTROPY:
            loss, ok = _binary_cross_entropy_row(Z[r], A[r], T[r], scale, D[r], db)
        else:
            loss = _squared_error_row(out_code, Z[r], A[r], T[r], scale, alpha, D[r], db, sse)
            ok = False
        total += loss
        correct += ok
    stats[STAT_LOSS] += total
    stats[STAT_CORRECT] += correct
    stats[STAT_COUNT] += Z.shape[0]
    return total
