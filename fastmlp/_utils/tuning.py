"""The Python side's tunables in one place: the sizes and thresholds that decide how work runs.

Each value says what it trades and how it was chosen.  None is read by
compiled code: the two constants the kernels compile in stand beside the
code that reads them (``SPINS_BEFORE_YIELD`` in :mod:`fastmlp.kernels.sync`,
``OPTIMIZER_PARALLEL_MIN_SIZE`` in :mod:`fastmlp.kernels.optim`), so that
changing a value here never invalidates the compiled cache (keyed on the
kernels' sources, see :mod:`fastmlp.kernels`).  No imports: every layer may
read it.
"""

__all__ = ["ROWS_PER_THREAD", "TRAIN_CHUNK_ROWS", "CALL_SECONDS", "GRADIENT_CALL_FLOPS",
           "CALL_MAX_BYTES",
           "INPUT_COPY_MAX_BYTES", "PARALLEL_MIN_FLOPS", "INFERENCE_TEAM_MIN_FLOPS",
           "BLAS_ONE_THREAD_MAX_MNK", "PLANS_KEPT",
           "COLUMN_SPLIT_MAX_ROWS_PER_THREAD", "COLUMN_SPLIT_MIN_UNITS_PER_THREAD",
           "COLUMN_SPLIT_MIN_FLOPS_PER_THREAD", "UPSTREAM_TRANSPOSE_MAX_FAN_OUT",
           "COMPILE_NOTICE_AFTER",
           "PROGRESS_AFTER", "DIAGNOSTIC_SAMPLE_ROWS", "SHUFFLE_BLOCK_ROWS",
           "SHUFFLE_BUFFER_BLOCKS"]

# ----------------------------------------------------------- blocks and threads
#: Rows per thread per block for predict/evaluate/loss_and_grad: enough for
#: an efficient GEMM, small enough that a block's activations stay in cache
#: for the epilogue.
ROWS_PER_THREAD = 512

#: The most predict plans (threads and block size) an engine keeps, one per
#: row count seen -- a scoring loop's batch sizes -- cleared when full: a plan
#: costs ~2.7 us to make, a small predict's whole time is ~10-50 us.
PLANS_KEPT = 64

#: Most rows the compiled training loop processes at once; larger batches
#: (full-batch training on big data) are accumulated chunk by chunk.
TRAIN_CHUNK_ROWS = 4096

#: Seconds a call into the compiled training loop should last (sized from the
#: speed of the previous call): Ctrl-C, the progress display and mid-epoch
#: checkpoints get control back within about this long.  A call costs a few
#: hundred microseconds of Python, well under 1% of this.
CALL_SECONDS = 0.5

#: The work of one call of a long gradient pass (an L-BFGS evaluation over
#: many rows; 6 floating-point operations per weight and row): about half
#: a second on two cores of the dev machine, so Ctrl-C is felt within about
#: that long.  A number of operations rather than of seconds, so that where
#: a pass is cut -- and its loss's rounding -- does not depend on timing.
GRADIENT_CALL_FLOPS = 20_000_000_000

#: The most input one call converts, preprocesses or gathers at a time, in
#: bytes -- predict and evaluate's blocks, and the rows one call of the
#: training loop gathers and prepares from a large input read where it is (a
#: memory map with the model's preprocessing, a held-out split of one): a
#: huge input is never copied whole, and a call's temporaries stay a small
#: part of the ~64 MB a large dataset may add.  At 16 MB a call still holds
#: thousands of rows, so its fixed cost (~0.1 ms) stays negligible.
CALL_MAX_BYTES = 16 << 20

#: An input up to this size that is read-only or of another float dtype than
#: the model's is copied or converted (milliseconds); a larger one -- a
#: memory-mapped dataset, a float64 file for a float32 model -- is read where
#: it is, for which the kernels are compiled once more (seconds, the first
#: time only): read-only arrays as such, other dtypes converted row by row
#: where the training gathers its batches.
INPUT_COPY_MAX_BYTES = 64 << 20

#: Below this many floating-point operations per chunk, one thread is faster
#: than splitting the work over a team (handing work to the team's threads
#: costs ~10 us a call, :mod:`fastmlp.kernels.workers`; then ~0.2 us a barrier).
#: Set when the handoff cost tens of microseconds: not measured again since.
PARALLEL_MIN_FLOPS = 4_000_000

#: OpenBLAS runs a product of at most this many multiply-adds (m n k) on the
#: calling thread whatever its thread count (its SMP_THRESHOLD_MIN 65,536
#: times GEMM_MULTITHREAD_THRESHOLD 4): a small predict whose products all
#: stay below it needs no switch of BLAS to one thread (~10 us), while a
#: larger one on the calling thread does -- BLAS's own threads fought
#: Numba's spinning ones, 64 rows of the digits shape took 30 ms instead of
#: 0.1 ms.
BLAS_ONE_THREAD_MAX_MNK = 65_536 * 4

#: The same for inference passes (predict, evaluate, the per-epoch
#: validation): below this many floating-point operations per block the
#: calling thread runs the block alone, with no team to wake and no BLAS
#: thread count to switch.  A predict has no optimizer update to share and
#: its products are thin, so a team repays itself later than a training
#: step does.  Measured (``bench/predict.py --sections threshold``, AMD EPYC
#: Zen 4, 2 cores, one thread against two, with the register tiles, the
#: workers' wait for the caller to enter compiled code made without the GIL,
#: and rows claimed in halves of a thread's share): the digits shape's 32 rows
#: (3.2 MFLOP) 45.2 against 43.5 us, 64 rows (6.5) 75.3 against 67.0; M's 8
#: rows (4.3) 54.4 against 78.2, 16 rows (8.6) 99.5 against 83.4.
INFERENCE_TEAM_MIN_FLOPS = 6_000_000

#: Threads share a hidden layer by units rather than by samples when a batch
#: is thin -- fewer than this many rows per thread -- as long as each slice
#: keeps at least COLUMN_SPLIT_MIN_UNITS_PER_THREAD units; measured
#: single-thread sgemm: 256x1024x512 at 92 GFLOP/s against 128x1024x1024 at
#: 80, 128x784x128 at 88 against 64x784x256 at 82.
COLUMN_SPLIT_MAX_ROWS_PER_THREAD = 256
COLUMN_SPLIT_MIN_UNITS_PER_THREAD = 64

#: ... and as long as each thread's share of the layer's forward product is
#: at least this many floating-point operations: a column-split layer ends
#: with a barrier, which a small layer does not repay.  Measured (2 threads,
#: interleaved runs): M (8-26 MFLOP a thread) 3-6% faster and L 3-30% faster
#: by columns; 64-256-128-10 at batch 64 (1-2 MFLOP a thread) 18-37% faster
#: by rows while a column-split layer's epilogue took one call per row, ~5%
#: faster by columns since it takes one (``bench/sklearn_speed.py --float32``,
#: 2 alternating pairs: 0.563/0.602 s, 0.583/0.611 s; 11 of 12 clean
#: training pairs faster, median +9%).  Smaller layers: not measured, left
#: to the rows.
COLUMN_SPLIT_MIN_FLOPS_PER_THREAD = 500_000

#: A layer with at most this many units (a classifier's output layer) has
#: its weights transposed, each step, before the upstream product D W^T, which
#: then multiplies without a transposition.  OpenBLAS sends D W^T with a short
#: inner dimension through its general kernel, packing both operands, and the
#: transposed product stays slower up to an inner dimension of 32 at least.
#: Measured, one thread, D (rows, fan_out) times W^T (fan_out, fan_in),
#: the transposition included: 32 x 10 x 128 1.23 against 1.58 us, 64 x 10 x
#: 128 2.40 against 3.47 us, 32 x 31 x 128 3.54 against 3.96 us, 32 x 32 x 128
#: 3.63 against 5.11 us; but 128 x 256 x 128 116 against 99 us (the
#: transposition of a wide layer costs more than it saves).
UPSTREAM_TRANSPOSE_MAX_FAN_OUT = 32

#: ``Trainer(shuffle="blocks")`` (data larger than the page cache): blocks of
#: this many consecutive rows are put in a random order, and the rows of each
#: run of SHUFFLE_BUFFER_BLOCKS blocks are shuffled together
#: (:mod:`fastmlp.data.shuffling`).  4096 rows of 784 float32 are 12.5 MB: one
#: long read instead of 4096 scattered ones.
SHUFFLE_BLOCK_ROWS = 4096
SHUFFLE_BUFFER_BLOCKS = 16

# ----------------------------------------------------------------- the Python layer
#: Seconds a first call may take before the "compiling" notice appears:
#: loading from the cache takes well under this, compiling takes seconds.
COMPILE_NOTICE_AFTER = 0.75

#: An epoch shows its progress in place (on a terminal) once it has run this
#: many seconds; shorter epochs print their one line only.
PROGRESS_AFTER = 1.0

#: Rows of the training data on which ``Trainer(diagnostics=True)`` measures
#: the per-layer statistics every epoch.
DIAGNOSTIC_SAMPLE_ROWS = 512
