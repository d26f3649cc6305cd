"""The training loop: a run of mini-batches in one compiled call.

Per batch: gather the rows named by ``order`` -> forward (GEMM + epilogue)
-> loss and output sensitivity -> backward -> optimizer update in place.
Python enters once per call (an epoch, or a chunk of one when a callback or
the progress display wants control back), never once per batch.
"""

import numpy as np

from .config import jit
from .memory import prefetch_rows
from .network import loss_grad, loss_grad_parallel
from .optim import step, step_parallel

#: ``run`` layout (int64)
RUN_BATCH_SIZE = 0
RUN_FIRST_BATCH = 1
RUN_END_BATCH = 2
RUN_LOSS = 3
RUN_OPTIMIZER = 4
RUN_FIELDS = 5


@jit
def train_batches(params, grad, layout, act_param, X, T, order, run, ws, wsl, opt_state,
                  opt_hyper, opt_count, stats, n_threads):
    """Train on batches ``run[1] .. run[2]-1`` of the epoch order ``order``.

    Shapes: params, grad (n_params,); X (n, n_in); T (n, n_out); order (n,)
    int64, a permutation of the rows (batch b is order[b*bs : (b+1)*bs], the
    last one possibly shorter); opt_state (slots, n_params); opt_hyper
    float64; opt_count (1,) int64; stats (n_threads, 3 + n_out) float64 as
    in :mod:`fastmlp.kernels.losses`.  ``n_threads`` threads share each batch
    (see :mod:`fastmlp.kernels.network`) and the optimizer update.

    Returns -1 when every batch had a finite loss; otherwise the index of the
    first batch whose loss was NaN or inf, which was not applied.
    """
    batch_size = run[RUN_BATCH_SIZE]
    loss_code = run[RUN_LOSS]
    kind = run[RUN_OPTIMIZER]
    n = X.shape[0]
    for b in range(run[RUN_FIRST_BATCH], run[RUN_END_BATCH]):
        start = b * batch_size
        stop = min(n, start + batch_size)
        # The next batch's scattered rows travel to cache while this one computes.
        prefetch_rows(X, order, stop, min(n, stop + batch_size))
        prefetch_rows(T, order, stop, min(n, stop + batch_size))
        if n_threads == 1:
            loss = loss_grad(params, grad, layout, act_param, loss_code, X, T, order, start,
                             stop, ws, wsl, stats)
        else:
            loss = loss_grad_parallel(params, grad, layout, act_param, loss_code, X, T, order,
                                      start, stop, ws, wsl, stats, n_threads)
        if not np.isfinite(loss):
            return b
        if n_threads == 1:
            step(kind, params, grad, opt_state, opt_hyper, opt_count)
        else:
            step_parallel(kind, params, grad, opt_state, opt_hyper, opt_count, 4 * n_threads)
    return -1
