"""MPI all-reduce from compiled code, for data-parallel training.

The training loop sums every rank's gradient once per step without
returning to Python: the calling thread of the team calls ``MPI_Allreduce``
through its address.  The function's address and the MPI handles (the
communicator, the float64/float32 datatypes, the sum, ``MPI_IN_PLACE``) are
run-time integers (and this process's rank) in an int64 array,
:data:`MPI_SIZE` long, that
:mod:`fastmlp.distributed` fills from mpi4py: nothing specific to one
process or one MPI library is compiled in, so the kernels stay in Numba's
on-disk cache and work with any communicator (numba-mpi, by comparison,
compiles in COMM_WORLD and cannot be cached).

Every argument is passed as a 64-bit integer.  MPICH's handles are C
``int``s, Open MPI's are pointers, and the count is an ``int``; on the
x86-64 and AArch64 C calling conventions, the first six integer arguments
travel in 64-bit registers of which a callee taking an ``int`` reads the low
half -- so one compiled call serves both libraries.  A single-process run
has ``mpi`` all zeros and never calls.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .config import jit

#: Slots of the ``mpi`` array.
MPI_ALLREDUCE = 0  # address of MPI_Allreduce
MPI_COMM = 1
MPI_DOUBLE = 2
MPI_FLOAT = 3
MPI_SUM = 4
MPI_IN_PLACE = 5  # the library's MPI_IN_PLACE sentinel address
MPI_RANK = 6  # this process's rank in the communicator
MPI_SIZE = 7


@intrinsic
def _allreduce_call(typingctx, function, send, receive, count, datatype, op, comm):
    """``MPI_Allreduce(send, receive, count, datatype, op, comm)`` through the address
    ``function``; every argument an int64 (see the module docstring)."""
    signature = types.int32(types.int64, types.int64, types.int64, types.int64, types.int64,
                            types.int64, types.int64)

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(ir.IntType(32), [i64] * 6)
        callee = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(callee, list(args[1:]))

    return signature, codegen


@jit
def is_first_rank(mpi):
    """Whether this process is rank 0 (always, outside data-parallel training)."""
    return mpi[MPI_RANK] == 0


@jit
def allreduce_sum(mpi, values):
    """Sum ``values`` (float64 or float32, contiguous) over the communicator's ranks,
    in place.  Returns the MPI error code (0 on success)."""
    datatype = mpi[MPI_DOUBLE] if values.itemsize == 8 else mpi[MPI_FLOAT]
    return _allreduce_call(mpi[MPI_ALLREDUCE], mpi[MPI_IN_PLACE], np.int64(values.ctypes.data),
                           np.int64(values.size), datatype, mpi[MPI_SUM], mpi[MPI_COMM])
