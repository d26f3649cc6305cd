"""Rebuild a configuration's functions inside compiled code from their addresses.

The entry points receive an :class:`~fastmlp.kernels.ops.Ops` as the int64
array of its functions' addresses (:func:`fastmlp.kernels.ops.addresses`)
and call :func:`unpack_ops` where they need it: typing and unboxing the
nested tuple of ~30 functions cost ~0.6 ms per call, an array nothing.
The type of the result depends only on the dtype, so one compiled entry
point serves every configuration.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .ops import ops_type


@intrinsic
def unpack_ops(typingctx, addresses, like):
    """The :class:`~fastmlp.kernels.ops.Ops` whose function addresses are ``addresses``.

    ``like``: an array of the kernels' float dtype (it selects the
    functions' signatures).
    """
    if not (isinstance(addresses, types.Array) and addresses.dtype == types.int64
            and isinstance(like, types.Array) and like.dtype in (types.float32, types.float64)):
        return None
    result = ops_type(str(like.dtype))

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        position = [0]

        def build(typ):
            if isinstance(typ, types.BaseTuple):
                return context.make_tuple(builder, typ, [build(t) for t in typ])
            pointer = cgutils.get_item_pointer(context, builder, signature.args[0], array,
                                               [context.get_constant(types.intp, position[0])],
                                               wraparound=False)
            position[0] += 1
            function = cgutils.create_struct_proxy(typ)(context, builder)
            # the C-callable address; no Python object, no Numba-ABI address
            function.c_addr = builder.inttoptr(builder.load(pointer),
                                               context.get_value_type(types.voidptr))
            return function._getvalue()

        return build(result)

    return result(addresses, like), codegen


@intrinsic
def predict_member_at(typingctx, address, net, ops, X, out, work):
    """The compiled predict member (:func:`fastmlp.kernels.inference.predict_unit`) whose
    C address is ``address``, as a function value: ``member(net, ops, X, out, work, c0, r0,
    r1)``.

    Its signature follows from the types of the arguments given here, so the
    caller passes an int64 instead of the function object (which Numba's
    dispatcher types in Python, ~10 us a call).
    """
    if not isinstance(address, types.Integer):
        return None
    i64 = types.int64
    function_type = types.FunctionType(types.void(net, ops, X, out, work, i64, i64, i64))

    def codegen(context, builder, signature, args):
        function = cgutils.create_struct_proxy(function_type)(context, builder)
        function.c_addr = builder.inttoptr(args[0], context.get_value_type(types.voidptr))
        return function._getvalue()

    return function_type(address, net, ops, X, out, work), codegen
