"""Views of blocks of the flat buffers, and pointers into them, without reference counting.

The kernels keep every matrix in flat 1-D buffers (parameters, workspace)
and look at a block of one as a (rows, width) array many times a batch.
``buf[a:b].reshape(rows, width)`` does that through a C helper
(``numba_attempt_nocopy_reshape``) and makes a new owner of the memory:
two atomic reference-count updates per view, and per call of a kernel
taking it; a BLAS call took four slices for its pointers.
:func:`block_view` and :func:`flat_view` instead build the array header
directly (like ``numba.carray`` over a pointer): no owner, so their
reference counting does nothing; :func:`element_pointer` is the pointer
alone.  Measured: S +3.6%, M +5% samples/s (interleaved runs, medians).
A view must not outlive the call that made it -- true of every use in the
kernels, which only pass views down to the functions they call."""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

from .config import jit


def _is_c_array(buf):
    return isinstance(buf, types.Array) and buf.layout == "C"


def _unowned_codegen(result):
    """Code building the unowned ``result`` array at element ``args[1]`` of ``args[0]``,
    of shape ``args[2:]``."""

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        start, *shape = (context.cast(builder, value, typ, types.intp)
                         for value, typ in zip(args[1:], signature.args[1:]))
        itemsize = context.get_constant(
            types.intp, context.get_abi_sizeof(context.get_data_type(result.dtype)))
        strides = [itemsize] if result.ndim == 1 else [builder.mul(shape[1], itemsize), itemsize]
        view = context.make_array(result)(context, builder)
        populate_array(view, data=builder.gep(source.data, [start]), shape=shape,
                       strides=strides, itemsize=itemsize, meminfo=None)
        return view._getvalue()

    return codegen


@intrinsic
def _unowned_vector(typingctx, buf, offset, n):
    """The (n,) array at flat element ``offset`` of the C-contiguous ``buf``, with no owner."""
    if not (_is_c_array(buf) and isinstance(offset, types.Integer)
            and isinstance(n, types.Integer)):
        return None
    result = types.Array(buf.dtype, 1, "C")
    return result(buf, offset, n), _unowned_codegen(result)


@intrinsic
def _unowned_block(typingctx, buf, offset, rows, width):
    """The (rows, width) array at flat element ``offset`` of the C-contiguous ``buf``, no owner."""
    if not (_is_c_array(buf) and all(isinstance(n, types.Integer)
                                     for n in (offset, rows, width))):
        return None
    result = types.Array(buf.dtype, 2, "C")
    return result(buf, offset, rows, width), _unowned_codegen(result)


@jit
def flat_view(buf, offset, n):
    """``buf.flat[offset:offset + n]`` of a C-contiguous ``buf``, as an unowned 1-D array.

    Shapes: buf any C-contiguous array of size >= offset + n (not checked).
    Same lifetime rule as :func:`block_view`.
    """
    return _unowned_vector(buf, offset, n)


@jit
def block_view(buf, offset, rows, width):
    """A (rows, width) C-contiguous view of the flat ``buf`` starting at ``offset``.

    Shapes: buf any C-contiguous array (counted flat) of size >= offset +
    rows * width (the callers' layout guarantees it; not checked).  The view
    has no owner: use it only while ``buf`` is alive, inside the call that
    made it.
    """
    return _unowned_block(buf, offset, rows, width)


@intrinsic
def element_pointer(typingctx, buf, offset):
    """The address of flat element ``offset`` of the C-contiguous ``buf``, as a typed pointer.

    For C functions taking a pointer into a buffer (BLAS): a slice
    ``buf[offset:]`` and its ``.ctypes`` would cost a new owner and its
    reference counting per call.
    """
    if not (_is_c_array(buf) and isinstance(offset, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        start = context.cast(builder, args[1], signature.args[1], types.intp)
        return builder.gep(source.data, [start])

    return types.CPointer(buf.dtype)(buf, offset), codegen


def _without_owners(context, builder, typ, value):
    """``value`` of Numba type ``typ`` with every array in it (nested tuples included) unowned."""
    if isinstance(typ, types.Array):
        array = context.make_array(typ)(context, builder, value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)
        return array._getvalue()
    if isinstance(typ, types.BaseTuple):
        for i, member in enumerate(typ):
            item = _without_owners(context, builder, member, builder.extract_value(value, i))
            value = builder.insert_value(value, item, i)
    return value


@intrinsic
def unowned(typingctx, value):
    """``value`` -- an array, or a (named) tuple holding arrays -- with no owner on its arrays.

    The same type and data; only the owner (Numba's meminfo) is left out,
    so that the reference counting of the arrays, and of every view taken
    of them, does nothing.  Counting references is an atomic update of the
    owner's count: cheap on one thread, but when a team's threads count the
    same arrays at once (every kernel call takes the network's arrays out of
    its named tuple) the count's cache line travels between the cores at
    each update -- measured 25% of a two-thread S step.  Use only where
    the caller keeps the arrays alive for the whole call (the team's
    launchers: the Python caller holds them until the team returns).
    """
    def codegen(context, builder, signature, args):
        return _without_owners(context, builder, signature.args[0], args[0])

    return value(value), codegen
