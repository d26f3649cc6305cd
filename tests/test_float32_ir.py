"""float32 kernels do their arithmetic in float32: no silent promotion to float64.

A Python float literal or scalar in a float32 expression makes Numba convert
the float32 operands to double (an ``fpext`` in the LLVM IR) and round back.
The hot kernels -- activation epilogues and every optimizer's per-element
update -- are compiled fresh in a subprocess (cached code cannot be
inspected) and their IR is searched for such conversions.  (Reductions such
as the loss and the gradient norm accumulate in float64 on purpose.)
"""

import os
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import re
    import numpy as np
    from fastmlp.kernels.activations import forward_block, backward_block
    from fastmlp.kernels.optim import update_range
    f = np.float32
    Z, b, Zs = np.ones((3, 4), f), np.ones(4, f), np.ones((3, 4), f)
    for code in range(12):
        forward_block(code, Z, b, f(0.1), Zs, 0)
    for code in range(11):
        backward_block(code, Z, Z, Zs, f(0.1), 0, 4)
    p = np.ones(8, f)
    c = (0.5,) * 16
    for kind in range(9):
        update_range(kind, p, p, np.ones((3, 8), f), c, 0, 8)
    for kernel in (forward_block, backward_block, update_range):
        for sig in kernel.signatures:
            ir = kernel.inspect_llvm(sig)
            print(kernel.__name__, len(re.findall(r"fpext float [^ ]+ to double", ir)))
""")


def test_no_float64_conversions_in_float32_kernels(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    counts = dict(line.split() for line in result.stdout.strip().splitlines())
    assert counts == {"forward_block": "0", "backward_block": "0", "update_range": "0"}, \
        result.stdout
