"""Cache prefetching for the row gathers of the training loop.

Shuffled mini-batches read rows scattered over the whole data set: each
row is a cache miss, and a batch of 32 small rows measured 8-10 us of
memory latency per batch on the S workload, a third of the step.  The
training loop asks for the next batch's rows while the current batch
computes (``llvm.prefetch`` into L2; a hint, never a fault), so the
gather finds them in cache.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import jit

#: bytes per cache line on every x86-64 and ARM64 CPU fastmlp targets
CACHE_LINE = 64


@intrinsic
def _prefetch(typingctx, arr, index):
    """Prefetch the cache line holding ``arr[index]`` (1-D array) for reading."""
    if not isinstance(arr, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, locality 2 (prefetcht1: into L2), data cache.  Measured on the S
        # workload: L2 prefetches leave 2 us of gather per batch, L1 ones
        # (locality 3) 6-8 us: a burst of L1 prefetches overruns the L1 miss
        # buffers, L2's queue takes them all.
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 2),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(arr, index), codegen


@jit
def prefetch(arr, index):
    """Prefetch the cache line holding ``arr[index]`` (1-D array) into L2."""
    _prefetch(arr, index)


@jit
def prefetch_rows(src, index, start, stop):
    """Prefetch rows index[start..stop) of the 2-D C-contiguous ``src``."""
    flat = src.reshape(-1)
    width = src.shape[1]
    step = max(1, CACHE_LINE // src.itemsize)
    for i in range(start, stop):
        base = index[i] * width
        for j in range(0, width, step):
            _prefetch(flat, base + j)
        _prefetch(flat, base + width - 1)
