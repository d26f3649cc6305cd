"""Cold start: seconds from interpreter start to the end of a first epoch plus one predict.

Every run is a fresh ``python`` process with an empty ``NUMBA_CACHE_DIR``
(cold: the kernels compile on all cores, ``fastmlp.engine.compile_pool``) --
or, for the serial column, the same with ``FASTMLP_COMPILE_PROCESSES=1``
(every kernel compiled in the process itself, as before the parallel
compile), and for the warm column a second process on the cache the cold
one left.  Cases:

(a) the README's main job, ``fastmlp train`` (30 epochs on the digits);
(b) 784-256-256-10 ReLU, softmax cross-entropy, Adam, batch 128, float32,
    all cores, one epoch of 4,096 rows then ``predict``;
(c) the same in float64;
(d) ``fastmlp.sklearn.MLPClassifier().fit`` + ``predict_proba`` on the digits;
(jax) JAX's cold jit of (b): one ``lax.scan`` epoch with hand-written Adam and a
    jitted predict, when JAX is installed;
(floor) the least a Numba program compiles for (b) (``bench/numba_floor.py``:
    naive loops, no options): the floor under any Numba implementation.

Cases run interleaved, round after round, and the medians are reported
with each fastmlp case's cold time over its serial one (the gain of the
parallel compile, side by side in one run), and (b)'s ratio to JAX and to
the floor.  ``--no-serial`` leaves the serial column out.  ``--before DIR`` also runs every
fastmlp case from another checkout (a source tree whose ``fastmlp`` package
imports, e.g. a ``git worktree`` of an older commit), side by side;
``--jax-python`` runs the JAX case with another interpreter (a virtual
environment with JAX).  Usage::

    python bench/cold_start.py [--rounds 3] [--cases a,b,c,d,jax,floor] [--before DIR]
                               [--jax-python PATH] [--no-serial]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = {
    "b": """
import numpy as np, fastmlp as fm
rng = np.random.default_rng(0)
X = rng.standard_normal((4096, 784)).astype("{dtype}"); y = rng.integers(0, 10, 4096)
model = fm.Model([784, 256, 256, 10], activation="relu", dtype="{dtype}", seed=0)
fm.Trainer(model, fm.optim.Adam(1e-3), batch_size=128, epochs=1, seed=0, verbose=0).fit(X, y)
model.predict(X[:256])
""",
    "d": """
from fastmlp.datasets import load_digits
from fastmlp.sklearn import MLPClassifier
X, y = load_digits()
MLPClassifier(max_iter=1).fit(X, y).predict_proba(X)
""",
    "jax": """
import numpy as np, jax, jax.numpy as jnp
rng = np.random.default_rng(0)
X = rng.standard_normal((4096, 784)).astype(np.float32); y = rng.integers(0, 10, 4096)
sizes = [784, 256, 256, 10]
params = [(jnp.asarray(rng.standard_normal((a, b)).astype(np.float32) * np.sqrt(2 / a)),
           jnp.zeros(b, jnp.float32)) for a, b in zip(sizes, sizes[1:])]
def forward(p, x):
    for W, b in p[:-1]:
        x = jax.nn.relu(x @ W + b)
    return x @ p[-1][0] + p[-1][1]
def loss(p, x, t):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x)), t[:, None], 1))
@jax.jit
def epoch(p, m, v, Xs, ys):
    def step(carry, batch):
        p, m, v, t = carry
        g = jax.grad(loss)(p, *batch)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        a = 1e-3 / (1 - 0.9 ** t)
        c = 1 / jnp.sqrt(1 - 0.999 ** t)
        p = jax.tree_util.tree_map(lambda p, m, v: p - a * m / (jnp.sqrt(v) * c + 1e-8), p, m, v)
        return (p, m, v, t), None
    (p, m, v, _), _ = jax.lax.scan(step, (p, m, v, 0.0), (Xs, ys))
    return p, m, v
zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
order = rng.permutation(4096)
p, m, v = epoch(params, zeros, zeros, X[order].reshape(32, 128, 784), y[order].reshape(32, 128))
jax.block_until_ready(jax.jit(forward)(p, X[:256]))
""",
}


def _command(case, python):
    if case == "a":
        return [python, "-m", "fastmlp", "train", "--quiet"]
    if case == "floor":
        return [python, os.path.join(HERE, "numba_floor.py")]
    code = CHILD["b"].format(dtype="float64" if case == "c" else "float32") if case in "bc" \
        else CHILD[case]
    return [python, "-c", code]


#: The cases that run fastmlp (they get a serial column).
FASTMLP_CASES = ("a", "b", "c", "d")

#: The variable that keeps the compile in one process (``fastmlp.engine.compile_processes``).
SERIAL_VARIABLE = "FASTMLP_COMPILE_PROCESSES"


def environment(cache_dir, source=None, serial=False, base=None):
    """The child's environment: ``cache_dir`` as Numba's cache, ``source`` first on the
    path, and with ``serial`` every kernel compiled in the process itself."""
    env = dict(os.environ if base is None else base, NUMBA_CACHE_DIR=cache_dir)
    env.pop(SERIAL_VARIABLE, None)
    if serial:
        env[SERIAL_VARIABLE] = "1"
    if source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


def run(case, cache_dir, source=None, python=sys.executable, serial=False):
    """Wall seconds of one process of ``case`` using ``cache_dir`` as Numba's cache.

    ``source``: a directory put first on the child's path (another checkout);
    ``serial``: the kernels compiled in the process itself.
    """
    env = environment(cache_dir, source, serial)
    start = time.perf_counter()
    done = subprocess.run(_command(case, python), env=env, capture_output=True, text=True,
                          cwd=source or None)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{done.stderr[-2000:]}")
    return seconds


def has_jax(python):
    return subprocess.run([python, "-c", "import jax"], capture_output=True).returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="a,b,c,d,jax,floor")
    parser.add_argument("--before", default=None, metavar="DIR",
                        help="also run the fastmlp cases from this checkout")
    parser.add_argument("--jax-python", default=sys.executable, metavar="PATH",
                        help="interpreter for the JAX case (default: this one)")
    parser.add_argument("--no-serial", action="store_true",
                        help="no serial column (FASTMLP_COMPILE_PROCESSES=1)")
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    if "jax" in cases and not has_jax(args.jax_python):
        print("(JAX not installed: no JAX column)")
        cases.remove("jax")
    runs = [(c, None) for c in cases]
    if args.before:
        runs += [(c, args.before) for c in cases if c not in ("jax", "floor")]
    cold = {key: [] for key in runs}
    warm = {key: [] for key in runs}
    serial = {key: [] for key in runs if with_serial(key, args.no_serial)}
    for r in range(args.rounds):
        for key in runs:
            case, source = key
            python = args.jax_python if case == "jax" else sys.executable
            line = f"round {r + 1} {_label(key)}:"
            if key in serial:
                serial[key].append(_fresh(case, source, python, serial=True))
                line += f" serial {serial[key][-1]:.1f} s,"
            cache = tempfile.mkdtemp(prefix="fastmlp-cold-")
            try:
                cold[key].append(run(case, cache, source, python))
                warm[key].append(run(case, cache, source, python))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            print(f"{line} cold {cold[key][-1]:.1f} s, warm {warm[key][-1]:.1f} s", flush=True)
    print(f"\nmedians of {args.rounds} rounds (fresh process, empty NUMBA_CACHE_DIR; serial: "
          f"{SERIAL_VARIABLE}=1):")
    for line in table(runs, cold, warm, serial):
        print(line)


def with_serial(key, no_serial=False):
    """Whether run ``key`` (case, source) gets a serial column: this checkout's fastmlp cases."""
    case, source = key
    return not no_serial and source is None and case in FASTMLP_CASES


def _fresh(case, source, python, serial):
    cache = tempfile.mkdtemp(prefix="fastmlp-cold-")
    try:
        return run(case, cache, source, python, serial=serial)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def table(runs, cold, warm, serial):
    """The lines of the summary: medians per run and the ratios the targets are stated in.

    ``cold``, ``warm``, ``serial``: seconds per run key, lists of rounds
    (``serial`` only for the keys that have the column).
    """
    median = statistics.median
    lines = [f"{'case':<12}{'cold s':>9}{'serial s':>10}{'cold/serial':>13}{'warm s':>9}"]
    for key in runs:
        cold_s = median(cold[key])
        if serial.get(key):
            serial_s = median(serial[key])
            extra = f"{serial_s:>10.1f}{cold_s / serial_s:>12.2f}x"
        else:
            extra = f"{'-':>10}{'-':>13}"
        lines.append(f"{_label(key):<12}{cold_s:>9.1f}{extra}{median(warm[key]):>9.1f}")
    for case, reference in (("b", "jax"), ("floor", "jax"), ("b", "floor")):
        if cold.get((case, None)) and cold.get((reference, None)):
            ratio = median(cold[case, None]) / median(cold[reference, None])
            lines.append(f"({case}) / ({reference}) cold: {ratio:.1f}x")
    return lines


def _label(key):
    case, source = key
    return case if source is None else f"{case} before"


if __name__ == "__main__":
    main()
