"""The cores' arithmetic ceiling: how many float32 operations per second fused
multiply-adds give when every core does nothing else, measured here and now.

A forward pass is almost all multiply-adds, so its GFLOP/s over this ceiling
says how much of the machine it uses: at ~95%, no implementation can be much
faster, and two engines that both reach it can only tie (which of them comes
out ahead in a run is the machine's noise).  The loop is written in LLVM IR
(through llvmlite, which Numba brings): independent chains of vector FMAs of
the widest vectors the CPU has, enough of them to cover the FMA latency of
every pipe, with nothing else in the loop -- one copy per core, run at once.

    python bench/fma_ceiling.py
"""

import ctypes
import threading
import time

import llvmlite.binding as llvm
import llvmlite.ir as ir

#: Independent accumulators: at least the FMA latency (4 cycles on recent x86)
#: times the FMA pipes (2), with some to spare.
CHAINS = 12


def _loop_ir(width):
    """LLVM IR of ``float peak(i64 n)``: n rounds of CHAINS vector FMAs of ``width`` floats."""
    f32, i64 = ir.FloatType(), ir.IntType(64)
    vector = ir.VectorType(f32, width)
    module = ir.Module(name="fma_ceiling")
    function = ir.Function(module, ir.FunctionType(f32, [i64]), name="peak")
    fma = ir.Function(module, ir.FunctionType(vector, [vector] * 3), name=f"llvm.fma.v{width}f32")
    entry, loop, done = (function.append_basic_block(n) for n in ("entry", "loop", "done"))
    ir.IRBuilder(entry).branch(loop)
    body = ir.IRBuilder(loop)
    start = ir.Constant(vector, [1.0] * width)
    scale, shift = ir.Constant(vector, [0.999999] * width), ir.Constant(vector, [1e-6] * width)
    count = body.phi(i64)
    chains = [body.phi(vector) for _ in range(CHAINS)]
    updated = [body.call(fma, [chain, scale, shift]) for chain in chains]
    following = body.add(count, ir.Constant(i64, 1))
    count.add_incoming(ir.Constant(i64, 0), entry)
    count.add_incoming(following, loop)
    for chain, new in zip(chains, updated):
        chain.add_incoming(start, entry)
        chain.add_incoming(new, loop)
    body.cbranch(body.icmp_signed("<", following, function.args[0]), loop, done)
    # the sum of the chains is returned, so that the loop cannot be optimised away
    tail = ir.IRBuilder(done)
    total = updated[0]
    for new in updated[1:]:
        total = tail.fadd(total, new)
    tail.ret(tail.extract_element(total, ir.Constant(ir.IntType(32), 0)))
    return str(module)


def _compiled_loop():
    """(the loop as a ctypes function, its vector width), compiled for this CPU."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features().flatten()
    width = 16 if "+avx512f" in features else 8 if "+avx" in features else 4
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features, opt=3)
    module = llvm.parse_assembly(_loop_ir(width))
    module.verify()
    engine = llvm.create_mcjit_compiler(module, machine)
    engine.finalize_object()
    loop = ctypes.CFUNCTYPE(ctypes.c_float, ctypes.c_int64)(engine.get_function_address("peak"))
    loop.engine = engine  # the compiled code lives as long as the function
    return loop, width


def fma_ceiling(threads, seconds=0.1, tries=3):
    """GFLOP/s of float32 FMAs (2 operations each) of ``threads`` threads running at once.

    Each thread runs the loop for about ``seconds`` (ctypes lets go of the
    GIL during the call); a try's result is the sum of the threads' rates,
    and the ceiling the best of ``tries`` tries (a thread that lost its
    core for a moment to another program lowers a try).
    """
    loop, width = _compiled_loop()
    per_round = 2 * width * CHAINS
    start = time.perf_counter()
    loop(1_000_000)
    rounds = max(1, int(seconds * 1_000_000 / (time.perf_counter() - start)))

    def one_try():
        rates = []
        meeting = threading.Barrier(threads)

        def run():
            meeting.wait()
            began = time.perf_counter()
            loop(rounds)
            rates.append(per_round * rounds / (time.perf_counter() - began) / 1e9)

        team = [threading.Thread(target=run) for _ in range(threads)]
        for thread in team:
            thread.start()
        for thread in team:
            thread.join()
        return sum(rates)

    return max(one_try() for _ in range(tries))


if __name__ == "__main__":
    import os
    one = fma_ceiling(1)
    every = fma_ceiling(os.cpu_count())
    print(f"float32 FMA ceiling: one core {one:.1f} GFLOP/s; {os.cpu_count()} cores at once "
          f"{every:.1f} GFLOP/s")
