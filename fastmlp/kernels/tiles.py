"""Matrix products whose right operand is read in rows: register tiles written in LLVM IR.

:func:`tiled_product` computes ``C = alpha A B + beta C`` where B is read
row by row (B stored (k, n), row-major: a layer's weights W, or a
sensitivity block D) and A element by element (stored (m, k) or, for
``A^T``, (k, m): the product ``A^T D`` of a weight gradient is the same
loop).  Each tile of TILE_ROWS rows of C by TILE_VECTORS vectors of
columns keeps its sums in vector registers for the whole inner dimension:
per step p, it loads the tile's slice of row p of B once and adds each of
its rows' ``A(i, p)`` times it (one broadcast and TILE_VECTORS fused
multiply-adds per row).  Nothing is copied first.

Why not BLAS: OpenBLAS packs ("copies") B for each call before its kernel
runs, and for the thin products of small batches the copy is most of the
time: ``python bench/products.py`` (one thread, float32, Zen 4), 8 x 784 @
784 x 256 takes 59 us in OpenBLAS and 28.5 us here, 64 x 64 @ 64 x 256 24
and 19, 512 x 784 @ 784 x 256 2,038 and 1,851 (``bench/predict.py`` and
``bench/compare.py`` for the whole passes).  Numba's loop vectoriser does
not keep such a tile in registers (scalar sums across the inner loop stay
scalar: ~10x slower), so the tile is written as vector IR directly,
through an intrinsic.

The vector width is the target CPU's (64 bytes with AVX-512, 32 with
AVX/AVX2, 16 otherwise; :data:`VECTOR_BYTES`) and the tile is sized to its
register file: 8 rows x 2 vectors on AVX-512 (16 of 32 registers hold
sums), 6 x 2 elsewhere (12 of 16).  Numba's cache is keyed on the CPU, so
a cache filled on another machine is compiled again here.  The last
columns (fewer than a tile's) are loaded and stored with masks, so
nothing outside the block is read past its end or written.
"""

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import cfunc, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import CFUNC_OPTIONS

__all__ = ["VECTOR_BYTES", "TILE_ROWS", "TILE_VECTORS", "MOST_VECTORS", "SYMBOLS",
           "tile_vectors", "tiled_product", "call_tiled_product", "bind"]


def _target_vector_bytes():
    """The widest vector registers of the CPU Numba compiles for (NUMBA_CPU_NAME /
    NUMBA_CPU_FEATURES when set, else this machine)."""
    features = numba.config.CPU_FEATURES
    if features:
        names = {f[1:] for f in features.split(",") if f.startswith("+")}
    elif numba.config.CPU_NAME and numba.config.CPU_NAME != "host":
        return 16  # a named generic target: assume the narrowest common vectors
    else:
        names = {name for name, on in llvm.get_host_cpu_features().items() if on}
    if "avx512f" in names:
        return 64
    if "avx2" in names or "avx" in names:
        return 32
    return 16


#: Bytes in one vector register of the target CPU.
VECTOR_BYTES = _target_vector_bytes()
#: Rows of C per tile: its sums take TILE_ROWS * TILE_VECTORS registers, and a
#: row of B's tile, one broadcast and the addresses must fit beside them.
TILE_ROWS = 8 if VECTOR_BYTES == 64 else 6
#: Vectors of columns per tile of TILE_ROWS rows.
TILE_VECTORS = 2
#: The most vectors of columns per tile: a tile of fewer rows (the last rows of
#: C, or a product of one or two rows) takes more of them, up to this many, so
#: that enough independent sums are in flight to hide the multiply-add's latency.
MOST_VECTORS = 8
#: Tiles of rows per block of rows (see :meth:`_Emitter.product`).
BLOCK_TILES = 8


def tile_vectors(rows):
    """Vectors of columns in a tile of ``rows`` rows: as many as the registers hold."""
    return min(MOST_VECTORS, max(TILE_VECTORS, TILE_ROWS * TILE_VECTORS // rows))


_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _suffix(vector):
    """How LLVM's overloaded intrinsics name ``vector``'s type (v16f32, v8f64, ...)."""
    return f"v{vector.count}{'f32' if vector.element == ir.FloatType() else 'f64'}"


def _masked_names(vector):
    """LLVM's masked load and store intrinsics for ``vector``, named for this LLVM's pointers
    (opaque since LLVM 15, typed before)."""
    suffix = _suffix(vector)
    pointer = "p0" if llvm.llvm_version_info[0] >= 15 else f"p0{suffix}"
    return f"llvm.masked.load.{suffix}.{pointer}", f"llvm.masked.store.{suffix}.{pointer}"


#: :func:`tiled_product`'s parameters, in order.
_PARAMETERS = ("m", "n", "k", "alpha", "a", "a_off", "a_row", "a_step", "b", "b_off", "ldb",
               "beta", "c", "c_off", "ldc")


class _Emitter:
    """Writes the IR of one :func:`tiled_product` call site (see the module docstring)."""

    def __init__(self, context, builder, signature, args):
        value = dict(zip(_PARAMETERS, args))
        typ = dict(zip(_PARAMETERS, signature.args))
        for name in ("m", "n", "k", "a_off", "a_row", "a_step", "b_off", "ldb", "c_off", "ldc"):
            setattr(self, name, value[name])
        self.builder = builder
        element = context.get_value_type(_element_type(typ["a"]))
        self.lanes = VECTOR_BYTES // context.get_abi_sizeof(element)
        self.vector = ir.VectorType(element, self.lanes)
        self.a, self.b, self.c = (_data_pointer(context, builder, typ[x], value[x])
                                  for x in "abc")
        self.alpha, self.beta = self.splat(value["alpha"]), self.splat(value["beta"])
        self.beta_is_zero = builder.fcmp_ordered("==", value["beta"], ir.Constant(element, 0.0))
        module = builder.module
        self.fma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vector, [self.vector] * 3),
            f"llvm.fma.{_suffix(self.vector)}")
        mask = ir.VectorType(ir.IntType(1), self.lanes)
        load_name, store_name = _masked_names(self.vector)
        pointer = self.vector.as_pointer()
        self.masked_load = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vector, [pointer, _I32, mask, self.vector]), load_name)
        self.masked_store = cgutils.get_or_insert_function(
            module, ir.FunctionType(ir.VoidType(), [self.vector, pointer, _I32, mask]),
            store_name)
        self.alignment = ir.Constant(_I32, context.get_abi_sizeof(element))
        # the sums: allocas that LLVM turns into registers (one set for every tile)
        self.sums = [[cgutils.alloca_once(builder, self.vector) for _ in range(MOST_VECTORS)]
                     for _ in range(TILE_ROWS)]

    def splat(self, scalar):
        """A vector of ``scalar`` in every lane."""
        builder, vector = self.builder, self.vector
        one = builder.insert_element(ir.Constant(vector, ir.Undefined), scalar,
                                     ir.Constant(_I32, 0))
        return builder.shuffle_vector(one, ir.Constant(vector, ir.Undefined),
                                      ir.Constant(ir.VectorType(_I32, self.lanes),
                                                  [0] * self.lanes))

    def vector_at(self, base, index):
        """A pointer to the vector at element ``index`` of ``base``."""
        return self.builder.bitcast(self.builder.gep(base, [index]), self.vector.as_pointer())

    def load(self, base, index, mask):
        builder = self.builder
        if mask is None:
            return builder.load(self.vector_at(base, index), align=self.alignment.constant)
        return builder.call(self.masked_load, [self.vector_at(base, index), self.alignment, mask,
                                               ir.Constant(self.vector, None)])

    def store(self, value, base, index, mask):
        builder = self.builder
        if mask is None:
            builder.store(value, self.vector_at(base, index), align=self.alignment.constant)
        else:
            builder.call(self.masked_store,
                         [value, self.vector_at(base, index), self.alignment, mask])

    def masks(self, columns, vectors):
        """Per vector of a tile of ``vectors``, the lanes holding one of its first ``columns``
        columns."""
        builder = self.builder
        limit = builder.insert_element(ir.Constant(ir.VectorType(_I64, self.lanes), ir.Undefined),
                                       columns, ir.Constant(_I32, 0))
        limit = builder.shuffle_vector(limit, ir.Constant(ir.VectorType(_I64, self.lanes),
                                                          ir.Undefined),
                                       ir.Constant(ir.VectorType(_I32, self.lanes),
                                                   [0] * self.lanes))
        return [builder.icmp_signed("<", ir.Constant(ir.VectorType(_I64, self.lanes),
                                                     [v * self.lanes + i
                                                      for i in range(self.lanes)]), limit)
                for v in range(vectors)]

    def tile(self, rows, i0, j0, masks):
        """C[i0:i0+rows, j0:j0+tile_vectors(rows) vectors] (masked to the block's last
        columns when ``masks``)."""
        builder = self.builder
        vectors = range(tile_vectors(rows))
        for r in range(rows):
            for v in vectors:
                builder.store(ir.Constant(self.vector, None), self.sums[r][v])
        a_rows = [builder.add(self.a_off, builder.mul(builder.add(i0, ir.Constant(_I64, r)),
                                                      self.a_row)) for r in range(rows)]
        with cgutils.for_range(builder, self.k) as loop:
            p = loop.index
            b_at = builder.add(builder.add(self.b_off, builder.mul(p, self.ldb)), j0)
            b_row = [self.load(self.b, builder.add(b_at, ir.Constant(_I64, v * self.lanes)),
                               None if masks is None else masks[v]) for v in vectors]
            step = builder.mul(p, self.a_step)
            for r in range(rows):
                a_value = self.splat(builder.load(builder.gep(self.a, [builder.add(a_rows[r],
                                                                                   step)])))
                for v in vectors:
                    total = builder.call(self.fma, [a_value, b_row[v],
                                                    builder.load(self.sums[r][v])])
                    builder.store(total, self.sums[r][v])
        for r in range(rows):
            c_row = builder.add(self.c_off, builder.mul(builder.add(i0, ir.Constant(_I64, r)),
                                                        self.ldc))
            for v in vectors:
                at = builder.add(builder.add(c_row, j0), ir.Constant(_I64, v * self.lanes))
                mask = None if masks is None else masks[v]
                value = builder.fmul(builder.load(self.sums[r][v]), self.alpha)
                # as BLAS: beta = 0 ignores what C held (NaN included)
                kept = builder.call(self.fma, [self.beta, self.load(self.c, at, mask), value])
                self.store(builder.select(self.beta_is_zero, value, kept), self.c, at, mask)

    def row_block(self, rows, i0):
        """Rows i0 .. i0+rows of C, every column."""
        builder = self.builder
        vectors = tile_vectors(rows)
        width = ir.Constant(_I64, vectors * self.lanes)
        full = builder.mul(builder.sdiv(self.n, width), width)
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), full, width) as (j0, _):
            self.tile(rows, i0, j0, None)
        with builder.if_then(builder.icmp_signed("<", full, self.n)):
            self.tile(rows, i0, full, self.masks(builder.sub(self.n, full), vectors))

    def tiles_of_rows(self, i0, count):
        """Rows i0 .. i0 + count * TILE_ROWS of C in whole tiles, a panel of columns at a
        time: each panel of B (k rows, a tile wide) serves every tile of rows while it is
        in the core's cache, where a tile of rows at a time would read all of B again."""
        builder = self.builder
        width = ir.Constant(_I64, tile_vectors(TILE_ROWS) * self.lanes)
        full = builder.mul(builder.sdiv(self.n, width), width)
        tile_rows = ir.Constant(_I64, TILE_ROWS)
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), full, width) as (j0, _):
            with cgutils.for_range(builder, count) as t:
                self.tile(TILE_ROWS, builder.add(i0, builder.mul(t.index, tile_rows)), j0, None)
        with builder.if_then(builder.icmp_signed("<", full, self.n)):
            masks = self.masks(builder.sub(self.n, full), tile_vectors(TILE_ROWS))
            with cgutils.for_range(builder, count) as t:
                self.tile(TILE_ROWS, builder.add(i0, builder.mul(t.index, tile_rows)), full,
                          masks)

    def product(self):
        builder = self.builder
        tile_rows = ir.Constant(_I64, TILE_ROWS)
        whole = builder.mul(builder.sdiv(self.m, tile_rows), tile_rows)
        block = ir.Constant(_I64, BLOCK_TILES * TILE_ROWS)
        # blocks of rows whose slice of A stays in cache while the panels of B go by
        with cgutils.for_range_slice(builder, ir.Constant(_I64, 0), whole, block) as (i0, _):
            rows = builder.sub(whole, i0)
            rows = builder.select(builder.icmp_signed("<", rows, block), rows, block)
            self.tiles_of_rows(i0, builder.sdiv(rows, tile_rows))
        left = builder.sub(self.m, whole)
        for rows in range(1, TILE_ROWS):
            with builder.if_then(builder.icmp_signed("==", left, ir.Constant(_I64, rows))):
                self.row_block(rows, whole)


def _element_type(typ):
    """The float type of an operand: an array's dtype, or what a pointer points to."""
    return typ.dtype if isinstance(typ, (types.Array, types.CPointer)) else None


def _data_pointer(context, builder, typ, value):
    """The address of an operand's first element: an array's data, or the pointer itself."""
    if isinstance(typ, types.CPointer):
        return value
    return context.make_array(typ)(context, builder, value).data


def _operands_typing(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off,
                     ldc):
    """The signature of a product on these argument types, or None when they are not one:
    A, B and C 1-D C-contiguous arrays (or pointers) of one float type, every index an
    int64, alpha and beta of that float type."""
    operands = (a, b, c)
    floats = {_element_type(x) for x in operands}
    indices = (m, n, k, a_off, a_row, a_step, b_off, ldb, c_off, ldc)
    if not (len(floats) == 1 and floats <= {types.float32, types.float64}
            and all(isinstance(x, types.CPointer) or (x.ndim == 1 and x.layout == "C")
                    for x in operands)
            and all(x == types.int64 for x in indices) and alpha in floats and beta in floats):
        return None
    return types.void(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off,
                      ldc)


@intrinsic
def tiled_product(typingctx, m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c,
                  c_off, ldc):
    """``C = alpha A B + beta C`` on blocks of flat buffers, B read in rows, written out here.

    Shapes (every index an int64; a, b and c 1-D C-contiguous arrays, or
    pointers, of one float type; ``alpha`` and ``beta`` of that type): C is
    (m, n) at ``c[c_off + i * ldc + j]``; B is (k, n) at ``b[b_off + p *
    ldb + j]``; A(i, p) is ``a[a_off + i * a_row + p * a_step]`` -- (a_row,
    a_step) = (lda, 1) for A stored (m, k), (1, lda) for A^T of a (k, m)
    block.  beta = 0 never reads C.  Does nothing when m or n is 0; k = 0
    gives beta C.  No bounds are checked: the caller's layout guarantees
    them.  The kernels call :func:`call_tiled_product` instead: the code of
    this one is ~0.5 s of LLVM's time in every compiled unit that holds it.
    """
    signature = _operands_typing(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta,
                                 c, c_off, ldc)
    if signature is None:
        return None

    def codegen(context, builder, signature, args):
        _Emitter(context, builder, signature, args).product()
        return context.get_dummy_value()

    return signature, codegen


#: The names the kernels call :func:`tiled_product` by, compiled once per float type
#: (:func:`bind`): each kernel then holds a call, not the product's code.
SYMBOLS = {"float32": "fastmlp_tiled_sgemm", "float64": "fastmlp_tiled_dgemm"}


def _c_signature(number):
    """The C signature of the compiled product for float type ``number``."""
    i64, pointer = types.int64, types.CPointer(number)
    return types.void(i64, i64, i64, number, pointer, i64, i64, i64, pointer, i64, i64, number,
                      pointer, i64, i64)


def _compiled(number):
    """:func:`tiled_product` for float type ``number`` as a C function (cached); its address."""
    def product(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off, ldc):
        tiled_product(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta, c, c_off,
                      ldc)

    return cfunc(_c_signature(number), **CFUNC_OPTIONS)(product).address


_bound = False


def bind():
    """Compile (or load) the product once per float type and bind it to its name in
    :data:`SYMBOLS`, before any kernel calling it is compiled or loaded: their machine
    code holds the names only, resolved when it is linked (an unbound name would crash
    the process there).  Called when :mod:`fastmlp.kernels.blas` is imported: ~10 ms
    from Numba's cache, ~1.2 s for both the first time (an empty cache)."""
    global _bound
    if not _bound:
        for name, number in (("float32", types.float32), ("float64", types.float64)):
            llvm.add_symbol(SYMBOLS[name], _compiled(number))
        _bound = True


@intrinsic
def call_tiled_product(typingctx, m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta,
                       c, c_off, ldc):
    """:func:`tiled_product` (the same arguments) through its compiled function
    (:data:`SYMBOLS`, bound by :func:`bind`)."""
    signature = _operands_typing(m, n, k, alpha, a, a_off, a_row, a_step, b, b_off, ldb, beta,
                                 c, c_off, ldc)
    if signature is None:
        return None
    number = _element_type(a)

    def codegen(context, builder, signature, args):
        value = dict(zip(_PARAMETERS, args))
        typ = dict(zip(_PARAMETERS, signature.args))
        c_types = _c_signature(number).args
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [context.get_value_type(t) for t in c_types]),
            SYMBOLS[str(number)])
        builder.call(function, [_data_pointer(context, builder, typ[name], value[name])
                                if name in "abc" else value[name] for name in _PARAMETERS])
        return context.get_dummy_value()

    return signature, codegen
