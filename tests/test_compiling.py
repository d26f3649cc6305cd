"""Compilation: only what a configuration uses compiles, the first-run notice, warm-up."""

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

import fastmlp as fm
from fastmlp.cli.warmup import warm_up
from fastmlp.engine.compiling import first_use, silenced
from fastmlp.kernels import ops

# Run in a fresh process: it lists what that process compiled or loaded.
PROGRAM = textwrap.dedent("""
    import numpy as np, fastmlp as fm
    from fastmlp.kernels import ops
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)); y = rng.integers(0, 3, 64)
    model = fm.Model([5, 8, 3], activation="relu", output="softmax", {extra} seed=0)
    fm.Trainer(model, "adam", batch_size=16, epochs=1, verbose=0).fit(X, y)
    model.predict(X)
    print(" ".join(sorted({{info.name for info in ops.compiled()}})))
""")


def _compiled_names(extra=""):
    result = subprocess.run([sys.executable, "-c", PROGRAM.format(extra=extra)],
                            capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_a_plain_model_compiles_only_its_own_functions():
    names = _compiled_names()
    assert {"relu_forward", "relu_backward", "softmax_forward", "cross_entropy_rows",
            "adam_range", "adam_constants", "train_member"} <= names
    unused = {"tanh_forward", "gelu_forward", "sigmoid_backward", "squared_error_rows",
              "sgd_range", "nadam_range", "rprop_constants", "forward_train", "forward_infer",
              "drop_rows", "prepare_dropconnect", "value_share", "add_gradient_share"}
    assert not unused & names, unused & names
    assert {"no_forward_train", "no_drop_rows", "no_value_share"} <= names


def test_features_compile_their_functions_when_used():
    names = _compiled_names("batch_norm=True, dropout=0.2, l2=1e-3,")
    assert {"forward_train", "forward_infer", "drop_rows", "value_share",
            "add_gradient_share"} <= names
    assert "no_forward_train" not in names and "no_drop_rows" not in names


def test_notice_only_when_the_first_call_is_slow():
    out = io.StringIO()
    key = ("test", time.perf_counter())
    with first_use(key, "slow thing", 7, stream=out):
        time.sleep(1.2)
    assert out.getvalue() == ("compiling fastmlp kernels for slow thing -- first run only, "
                              "about 7 s\n")
    with first_use(key, "slow thing", 7, stream=out):  # known: silent however long
        time.sleep(1.2)
    with first_use(("test", "fast"), lambda: "never described", 7, stream=out):
        pass
    assert out.getvalue().count("\n") == 1
    with silenced(), first_use(("test", "silenced"), "quiet thing", 7, stream=out):
        time.sleep(1.2)
    assert out.getvalue().count("\n") == 1


def test_warm_up_compiles_what_a_fit_then_uses():
    out = io.StringIO()
    done = warm_up(("float64",), n_threads=1,
                   configurations=[("tanh", "identity", "squared_error", "rmsprop")], stream=out)
    assert [name for name, _ in done] == ["float64 tanh/identity/rmsprop"]
    assert out.getvalue().startswith("float64 tanh/identity/rmsprop: ")
    before = ops.compiled()
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 4))
    model = fm.Model([4, 6, 2], activation="tanh", output="identity", loss="squared_error",
                     dtype="float64", seed=1)
    fm.Trainer(model, "rmsprop", batch_size=10, epochs=1, verbose=0, n_threads=1).fit(
        X, rng.standard_normal((30, 2)))
    model.predict(X)
    assert ops.compiled() == before  # nothing new: the warm-up had compiled it all
