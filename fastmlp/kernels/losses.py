"""Output layer: epilogue, loss, output sensitivity and running metrics.

For a block of rows of the output layer's GEMM result this applies the bias
and output activation (the forward pass's last step), then the loss and its
sensitivity with respect to the pre-activation z, in one pass while the
block is in cache (squared error: the output activation's own forward and
backward functions run around :func:`squared_error_rows`, see
:func:`fastmlp.kernels.network.output_loss_rows`).  The per-sample loss sums
over outputs; the batch loss is the mean over samples, so sensitivities
carry ``scale = 1/batch_size``:

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

Sample weights (scikit-learn's ``sample_weight``): row i's loss, its
sensitivity and its share of every statistic are multiplied by w_i, and
the batch's ``scale`` is ``1 / sum(w)`` instead of ``1 / rows``, so the
batch loss is the weighted mean ``sum_i w_i L_i / sum_i w_i``.  ``sw``
holds one weight per row of X (float64; empty: every weight is 1, and the
arithmetic is exactly the unweighted one); the weight of block row r is
``sw[index[p0 + r]]``, or ``sw[p0 + r]`` without an index.
"""

import numpy as np

from .activations import SOFTMAX, exp_block, shift_rows_by_max, sigmoid
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
def row_weight(sw, index, p):
    """Weight of the row at position p (1.0 without weights)."""
    if sw.size == 0:
        return 1.0
    if index.size > 0:
        return sw[index[p]]
    return sw[p]


@jit
def weighted_row(sw, index, p, scale):
    """(weight, sensitivity scale) of the row at position p: (1.0, ``scale``) unweighted."""
    if sw.size == 0:
        return 1.0, scale
    w = row_weight(sw, index, p)
    return w, like(w, scale) * scale


# Every loss below has one signature, so the kernels can call the one a
# model uses through a function pointer (:mod:`fastmlp.kernels.ops`):
# A (rows, k) the output GEMM result (squared error: already the network
# output); b (k,) the output bias; T targets and D sensitivities (rows, k);
# ``scale`` the batch's sensitivity factor; sw, index, p0 the row weights
# (module docstring); stats (3 + k,) float64, accumulated; ``out_code`` the
# output activation.  Each returns the summed (not averaged) weighted loss.


@jit
def cross_entropy_rows(A, b, T, scale, D, sw, index, p0, stats, out_code):
    """Softmax of A + b in place, and its cross-entropy.

    With u = z - max(z) and s = sum_k e^u_k the loss of a row is
    sum_k t_k (log s - u_k) (no log of a probability, no large terms
    cancelling).  A row is correct when the first largest probability and
    the first largest target are at the same output.
    """
    rows, n = A.shape
    shift_rows_by_max(A, b)
    target_dot_u = np.empty(rows)  # sum_k t_k u_k, before the exponentials overwrite u
    for r in range(rows):
        dot = 0.0
        for j in range(n):
            dot += float(T[r, j]) * float(A[r, j])
        target_dot_u[r] = dot
    exp_block(A)
    total = 0.0
    correct = 0.0
    count = 0.0
    for r in range(rows):
        w, rs = weighted_row(sw, index, p0 + r, scale)
        norm = like(0, scale)
        mass = like(0, scale)
        # the running maxima stay in registers: a load of the best entry so
        # far in every step made the two argmax loops latency-bound
        target_best, target_top = 0, T[r, 0]
        for j in range(n):
            t = T[r, j]
            norm += A[r, j]
            mass += t
            if t > target_top:
                target_best, target_top = j, t
        inv = like(1, scale) / norm
        best, top = 0, A[r, 0] * inv
        for j in range(n):
            a = A[r, j] * inv
            A[r, j] = a
            D[r, j] = rs * (a * mass - T[r, j])
            if a > top:
                best, top = j, a
        total += w * (float(mass) * np.log(float(norm)) - target_dot_u[r])
        correct += w * (best == target_best)
        count += w
    stats[STAT_CORRECT] += correct
    stats[STAT_COUNT] += count
    return total


@jit
def binary_cross_entropy_rows(A, b, T, scale, D, sw, index, p0, stats, out_code):
    """Sigmoid of A + b in place, and its binary cross-entropy."""
    zero = like(0, scale)
    half = like(0.5, scale)
    total = 0.0
    for r in range(A.shape[0]):
        a, t, d = A[r], T[r], D[r]
        w, rs = weighted_row(sw, index, p0 + r, scale)
        loss = 0.0
        row_ok = True
        for j in range(a.size):
            z = a[j] + b[j]
            loss += float((z if z > zero else zero) - t[j] * z) + np.log1p(float(exp(-abs(z))))
            s = sigmoid(z)
            a[j] = s
            d[j] = rs * (s - t[j])
            row_ok = row_ok and ((s >= half) == (t[j] >= half))
        total += w * loss
        stats[STAT_CORRECT] += w * row_ok
        stats[STAT_COUNT] += w
    return total


@jit
def squared_error_rows(A, b, T, scale, D, sw, index, p0, stats, out_code):
    """1/2 ||a - t||^2 of the network output A, and dL/da (dL/dz through a softmax).

    The caller has applied the output activation to A and multiplies D by
    f'(z) afterwards for an element-wise output activation.
    """
    sse = stats[STAT_SSE:]
    total = 0.0
    for r in range(A.shape[0]):
        a, t, d = A[r], T[r], D[r]
        w, rs = weighted_row(sw, index, p0 + r, scale)
        loss = 0.0
        for j in range(a.size):
            e = a[j] - t[j]
            loss += 0.5 * float(e) * float(e)
            sse[j] += w * (float(e) * float(e))
            d[j] = rs * e
        if out_code == SOFTMAX:
            dot = like(0, scale)
            for j in range(a.size):
                dot += a[j] * d[j]
            for j in range(a.size):
                d[j] = a[j] * (d[j] - dot)
        total += w * loss
        stats[STAT_COUNT] += w
    return total


@jit
def no_loss(A, b, T, scale, D, sw, index, p0, stats, out_code):
    """Stands for a loss in passes that compute none (prediction; never called)."""
    return 0.0


#: The row function of every loss code.
ROWS = (squared_error_rows, cross_entropy_rows, binary_cross_entropy_rows)
