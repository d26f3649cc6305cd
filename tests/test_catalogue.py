"""The bad-input catalogue: every public entry point x every kind of bad input.

Each case feeds one entry point one kind of bad input and expects either a
clear error -- the exception type and a message that names the problem --
or, for inputs that must simply work (non-contiguous and read-only arrays,
booleans as numbers), the same result as the clean input.  After a refused
call the model (parameters, running statistics, preprocessing) and the
trainer (epoch, history, optimizer state, random state) must be unchanged.

A case may carry a known engine bug as ``xfail(strict=True)`` with the
reason, so the mark has to go when the bug is fixed (none is open now).
``test_catalogue_counts`` prints the entry points x kinds matrix
(``pytest -s``).
"""

import contextlib
import io
import os
import pickle
import re
from collections import namedtuple

import numpy as np
import pytest
from test_io import BAD_FILE_MESSAGES, write_bad_files

import fastmlp as fm
import fastmlp.cli

pytestmark = [pytest.mark.filterwarnings("ignore:the solver ran max_iter"),
              pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]

KINDS = ("nan", "inf", "empty", "zero_features", "wrong_features", "mismatched_lengths",
         "three_d", "strings", "object_dtype", "complex_dtype", "booleans",
         "labels_out_of_range", "negative", "zero", "unknown_option", "non_contiguous",
         "read_only", "missing_file", "unreadable_file", "truncated_file", "malicious_file",
         "wrong_format", "huge_values", "out_of_range", "concurrent")

Case = namedtuple("Case", "entry kind label call expect bug")
Refuse = namedtuple("Refuse", "exc pattern")
Works = namedtuple("Works", "check")  # check(result, env) asserts the result is right
#: Overflow-prone input: a finite result, or one of ``exc`` naming the overflow.
FiniteOrError = namedtuple("FiniteOrError", "exc pattern")

CASES = []


def case(entry, kind, label, call, expect, bug=None):
    assert kind in KINDS, kind
    CASES.append(Case(entry, kind, label, call, expect, bug))


# ---------------------------------------------------------------------- the world
class World:
    """Data, files and a trained model shared (read-only) by every case."""

    def __init__(self, directory):
        rng = np.random.default_rng(0)
        self.dir = str(directory)
        self.X = rng.standard_normal((24, 4)) * [1, 2, 3, 4] + 1
        self.y = np.arange(24) % 3
        self.model = fm.Model([4, 6, 3], seed=0, batch_norm=True, preprocessing="standardize")
        fm.Trainer(self.model, batch_size=8, epochs=2, seed=0, verbose=0).fit(self.X, self.y)
        self.model_file = self.path("good.npz")
        fm.save(self.model, self.model_file)
        self.bad_files = write_bad_files(self.dir, self.model_file)
        self._write_tables(rng)
        self._write_checkpoints()

    def path(self, name):
        return os.path.join(self.dir, name)

    def _write_tables(self, rng):
        X, y = rng.standard_normal((40, 3)), rng.integers(0, 2, 40)
        rows = [[f"{v:.6f}" for v in x] + [str(t)] for x, t in zip(X, y)]
        self.csv("good.csv", rows)
        self.csv("nan.csv", rows[:-1] + [["nan", "1", "2", "0"]])
        self.csv("inf.csv", rows[:-1] + [["1", "-inf", "2", "0"]])
        self.csv("empty.csv", [])
        self.csv("zero_features.csv", [[r[-1]] for r in rows], header="y")
        self.csv("strings.csv", rows[:-1] + [["abc", "1", "2", "0"]])
        self.csv("complex.csv", rows[:-1] + [["1+2j", "1", "2", "0"]])
        self.csv("booleans.csv", [["True", "False", "True", r[-1]] for r in rows])
        self.csv("ragged.csv", rows[:-1] + [["1", "2"]])
        np.savez(self.path("three_d.npz"), X=X.reshape(40, 3, 1), y=y)
        np.savez(self.path("object.npz"), X=np.array([[1, None]] * 40, dtype=object), y=y)
        np.savez(self.path("mismatched.npz"), X=X, y=y[:10])
        np.savez(self.path("table.npz"), X=X, y=y)
        with open(self.path("table.npz"), "rb") as f:
            self.write("truncated_table.npz", f.read()[:300])
        self.write("pickle_table.npz", pickle.dumps({"X": X, "y": y}))

    def _write_checkpoints(self):
        directory = self.path("checkpoints")
        trainer = fm.Trainer(self.model.copy(), batch_size=8, epochs=1, verbose=0,
                             checkpoint_dir=directory)
        trainer.fit(self.X, self.y)
        good = os.path.join(directory, "checkpoint-00000001.npz")
        for name, content in (("truncated", open(good, "rb").read()[:-50]),
                              ("malicious", pickle.dumps({"params": 1})),
                              ("model_file", open(self.model_file, "rb").read())):
            os.makedirs(self.path(f"ckpt_{name}"))
            self.write(f"ckpt_{name}/checkpoint-00000001.npz", content)
        os.makedirs(self.path("ckpt_empty"))

    def csv(self, name, rows, header="a,b,c,y"):
        self.write(name, (header + "\n" + "".join(",".join(r) + "\n" for r in rows)).encode())

    def write(self, name, content):
        with open(self.path(name), "wb") as f:
            f.write(content)


class Env:
    """Fresh copies for one case: the model, and a trainer that has trained one epoch."""

    def __init__(self, world):
        self.world, self.X, self.y = world, world.X.copy(), world.y.copy()
        self.model = world.model.copy()
        self.trainer = _trainer(self.model)
        self.trainer.fit(self.X, self.y)

    def twin(self):
        """A second Env in the same state, to compare a result with the clean input's."""
        return Env(self.world)


def _trainer(model, **kwargs):
    options = dict(batch_size=8, epochs=1, seed=0, verbose=0, n_threads=1)
    return fm.Trainer(model, fm.optim.Adam(lr=0.01), **{**options, **kwargs})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("catalogue"))


# ------------------------------------------------------------------ bad arrays
def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


def _non_contiguous(X):
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3))
    wide[::2, ::3] = X
    return wide[::2, ::3]


def _read_only(X):
    X = X.copy()
    X.setflags(write=False)
    return X


def _huge(X, magnitude=3e38):
    return np.where(X >= 0, magnitude, -magnitude)


def bad_features(X, what="X"):
    """(kind, label, bad X, expectation); a None expectation means "same as clean X"."""
    return [
        ("nan", "nan", _with(X, 2, 1, np.nan), Refuse(ValueError, f"{what} contains NaN")),
        ("inf", "inf", _with(X, 0, 3, -np.inf), Refuse(ValueError, f"{what} contains NaN or inf")),
        ("empty", "0 rows", X[:0], Refuse(ValueError, f"{what} is empty")),
        ("empty", "list", [], Refuse(ValueError, f"{what} must be 2-D")),
        ("zero_features", "0 columns", np.zeros((len(X), 0)),
         Refuse(ValueError, f"{what} has 0 features")),
        ("wrong_features", "3 of 4", X[:, :3],
         Refuse(ValueError, f"{what} has 3 features but the model expects 4")),
        ("three_d", "3-D", X[None], Refuse(ValueError, f"{what} must be 2-D")),
        ("three_d", "1-D", X[0], Refuse(ValueError, f"{what} must be 2-D.*reshape")),
        ("strings", "str dtype", X.astype(str), Refuse(TypeError, "non-numeric")),
        ("strings", "ragged lists", [[1, 2, 3, 4], [1, 2]],
         Refuse(ValueError, "could not be converted")),
        ("object_dtype", "objects", np.array([["a", 1, 2, 3]] * len(X), dtype=object),
         Refuse(TypeError, "non-numeric.*object")),
        ("complex_dtype", "complex", X + 1j, Refuse(TypeError, "complex")),
        ("booleans", "bool array", X > 1, None),
        ("non_contiguous", "strided", _non_contiguous(X), None),
        ("non_contiguous", "Fortran order", np.asfortranarray(X), None),
        ("read_only", "read-only", _read_only(X), None),
        ("huge_values", "beyond float32", np.full_like(X, 1e300),
         Refuse(ValueError, "too large for float32")),
    ]


def bad_labels(y, what="y"):
    """Like :func:`bad_features`, for integer class labels of a 3-output softmax model."""
    return [
        ("nan", "nan", np.where(y == 1, np.nan, y), Refuse(ValueError, f"{what} contains NaN")),
        ("inf", "inf", np.where(y == 1, np.inf, y), Refuse(ValueError, f"{what} contains NaN")),
        ("mismatched_lengths", "one short", y[:-1],
         Refuse(ValueError, "different numbers of samples")),
        ("labels_out_of_range", "label 3", np.where(y == 2, 3, y),
         Refuse(ValueError, "outside 0..2")),
        ("labels_out_of_range", "label -1", np.where(y == 0, -1, y), Refuse(ValueError,
                                                                             "outside 0..2")),
        ("labels_out_of_range", "fractional", y + 0.5, Refuse(ValueError, "non-integer")),
        ("three_d", "3-D", y[:, None, None], Refuse(ValueError, f"{what} must be 1-D or 2-D")),
        ("strings", "text labels", np.array(["a", "b", "c"])[y], Refuse(TypeError,
                                                                          "non-numeric")),
        ("object_dtype", "objects", y.astype(object), Refuse(TypeError, "non-numeric")),
        ("complex_dtype", "complex", y + 0j, Refuse(TypeError, "complex")),
        ("wrong_features", "5 one-hot columns", np.eye(5)[y],
         Refuse(ValueError, "5 columns but the model has 3 outputs")),
        ("booleans", "bool labels", y > 0, None),
        ("non_contiguous", "strided", np.repeat(y, 2)[::2], None),
        ("read_only", "read-only", _read_only(y), None),
    ]


# -------------------------------------------------------------------- Model(...)
def _model_cases():
    def make(**kwargs):
        return lambda env: fm.Model(**{"layer_sizes": [4, 5, 3], **kwargs})

    def sizes_work(result, env):
        assert result.layer_sizes == [4, 5, 3]

    strided = np.array([4, 0, 5, 0, 3])[::2]
    for kind, label, kwargs, expect, *bug in [
        ("nan", "l2", dict(l2=np.nan), Refuse(ValueError, "l2 must be a finite")),
        ("nan", "dropout", dict(dropout=np.nan), Refuse(ValueError, r"dropout must be in")),
        ("inf", "l1", dict(l1=np.inf), Refuse(ValueError, "l1 must be a finite")),
        ("inf", "layer size", dict(layer_sizes=[4, np.inf, 3]), Refuse(ValueError,
                                                                      "positive integers")),
        ("inf", "bn_eps", dict(bn_eps=np.inf), Refuse(ValueError, "bn_eps")),
        ("empty", "no layers", dict(layer_sizes=[]), Refuse(ValueError, "at least an input")),
        ("empty", "one layer", dict(layer_sizes=[4]), Refuse(ValueError, "at least an input")),
        ("zero_features", "0 inputs", dict(layer_sizes=[0, 3]), Refuse(ValueError, "positive")),
        ("three_d", "nested sizes", dict(layer_sizes=[[4, 5], [3]]),
         Refuse(ValueError, "positive integers")),
        ("strings", "sizes as text", dict(layer_sizes="4,5,3"), Refuse(ValueError,
                                                                      "positive integers")),
        ("strings", "activation type", dict(activation=5), Refuse(TypeError, "activation")),
        ("strings", "dropout as text", dict(dropout="0.1"), Refuse((ValueError, TypeError),
                                                                   "dropout")),
        ("strings", "bn_momentum as text", dict(bn_momentum="0.1"),
         Refuse((ValueError, TypeError), "bn_momentum")),
        ("strings", "flag as text", dict(penalize_biases="no"),
         Refuse((ValueError, TypeError), "penalize_biases")),
        ("object_dtype", "object sizes", dict(layer_sizes=np.array([4, None, 3], dtype=object)),
         Refuse(ValueError, "positive integers")),
        ("complex_dtype", "l2", dict(l2=1j), Refuse(ValueError, "l2")),
        ("booleans", "size True", dict(layer_sizes=[True, 3]), Refuse(ValueError, "positive")),
        ("booleans", "dropout True", dict(dropout=True), Refuse(ValueError, "dropout")),
        ("booleans", "batch_norm text", dict(batch_norm="yes"), Refuse(ValueError,
                                                                       "True or False")),
        ("negative", "layer size", dict(layer_sizes=[4, -5, 3]), Refuse(ValueError,
                                                                        "positive integers")),
        ("negative", "l2", dict(l2=-1.0), Refuse(ValueError, "l2 must be a finite number >= 0")),
        ("negative", "dropout", dict(dropout=-0.1), Refuse(ValueError, "dropout")),
        ("negative", "seed", dict(seed=-1), Refuse(ValueError, "seed")),
        ("zero", "layer size", dict(layer_sizes=[4, 0, 3]), Refuse(ValueError, "positive")),
        ("zero", "bn_eps", dict(bn_eps=0.0), Refuse(ValueError, "bn_eps")),
        ("out_of_range", "dropout 1", dict(dropout=1.0), Refuse(ValueError, "dropout")),
        ("out_of_range", "bn_momentum 2", dict(bn_momentum=2.0),
         Refuse(ValueError, "bn_momentum")),
        ("unknown_option", "activation", dict(activation="relux"), Refuse(ValueError,
                                                                         "valid names")),
        ("unknown_option", "output", dict(output="maxout"), Refuse(ValueError, "output")),
        ("unknown_option", "loss", dict(loss="hinge"), Refuse(ValueError, "valid names")),
        ("unknown_option", "init", dict(init="ones"), Refuse(ValueError, "valid names")),
        ("unknown_option", "dtype", dict(dtype="float16"), Refuse(ValueError, "float32")),
        ("unknown_option", "preprocessing", dict(preprocessing="minmax"),
         Refuse(ValueError, "unknown preprocessing")),
        ("unknown_option", "keyword", dict(hidden=[5]), Refuse(TypeError, "hidden")),
        ("non_contiguous", "strided sizes", dict(layer_sizes=strided), Works(sizes_work)),
        ("read_only", "read-only sizes", dict(layer_sizes=_read_only(np.array([4, 5, 3]))),
         Works(sizes_work)),
    ]:
        case("Model()", kind, label, make(**kwargs), expect, *bug)


# ------------------------------------------------------------------ Trainer(...)
def _trainer_cases():
    def make(**kwargs):
        options = {k: v for k, v in kwargs.items() if k != "model"}
        return lambda env: fm.Trainer(kwargs.get("model", env.model), **options)

    for kind, label, kwargs, expect, *bug in [
        ("nan", "epochs", dict(epochs=np.nan), Refuse(ValueError, "epochs must be a positive")),
        ("inf", "batch_size", dict(batch_size=np.inf), Refuse(ValueError, "batch_size")),
        ("empty", "optimizer ''", dict(optimizer=""), Refuse(ValueError, "unknown optimizer")),
        ("strings", "batch_size", dict(batch_size="32"), Refuse(ValueError, "batch_size")),
        ("strings", "model", dict(model="model"), Refuse(TypeError, "model")),
        ("strings", "shuffle", dict(shuffle="no"), Refuse((ValueError, TypeError), "shuffle")),
        ("object_dtype", "batch_size", dict(batch_size=np.array(32, dtype=object)),
         Refuse(ValueError, "batch_size")),
        ("object_dtype", "callback", dict(callbacks=[object()]), Refuse(TypeError, "callbacks")),
        ("complex_dtype", "batch_size", dict(batch_size=4j), Refuse(ValueError, "batch_size")),
        ("booleans", "batch_size", dict(batch_size=True), Refuse(ValueError, "batch_size")),
        ("booleans", "epochs", dict(epochs=False), Refuse(ValueError, "epochs")),
        ("negative", "batch_size", dict(batch_size=-8), Refuse(ValueError, "batch_size")),
        ("negative", "epochs", dict(epochs=-1), Refuse(ValueError, "epochs")),
        ("negative", "seed", dict(seed=-3), Refuse(ValueError, "seed")),
        ("negative", "checkpoint_every", dict(checkpoint_dir="unused", checkpoint_every=-1),
         Refuse(ValueError, "checkpoint_every")),
        ("zero", "batch_size", dict(batch_size=0), Refuse(ValueError, "batch_size")),
        ("zero", "epochs", dict(epochs=0), Refuse(ValueError, "epochs")),
        ("zero", "n_threads", dict(n_threads=0), Refuse(ValueError, "n_threads")),
        ("zero", "keep_checkpoints", dict(checkpoint_dir="unused", keep_checkpoints=0),
         Refuse(ValueError, "keep_checkpoints")),
        ("unknown_option", "optimizer", dict(optimizer="adamx"), Refuse(ValueError,
                                                                        "valid names")),
        ("unknown_option", "schedule", dict(schedule="cosinex"), Refuse(ValueError,
                                                                        "valid names")),
        ("unknown_option", "verbose", dict(verbose=5), Refuse(ValueError, "verbose")),
        ("unknown_option", "keyword", dict(learning_rate=0.1), Refuse(TypeError,
                                                                      "learning_rate")),
        ("unknown_option", "lbfgs + batch", dict(optimizer="lbfgs", batch_size=8),
         Refuse(ValueError, "full-batch")),
    ]:
        case("Trainer()", kind, label, make(**kwargs), expect, *bug)


# ---------------------------------------------------------------- optimizers
def _optimizer_cases():
    classes = [fm.optim.SGD, fm.optim.Adam, fm.optim.AdamW, fm.optim.Adamax, fm.optim.NAdam,
               fm.optim.RAdam, fm.optim.Adagrad, fm.optim.RMSprop, fm.optim.Adadelta,
               fm.optim.Rprop]
    for kind, value in [("nan", np.nan), ("inf", np.inf), ("negative", -0.1), ("zero", 0.0),
                        ("strings", "0.1"), ("complex_dtype", 0.1j), ("booleans", True),
                        ("object_dtype", np.array(0.1, dtype=object))]:
        for cls in classes:
            case("optim.*(lr=)", kind, cls.__name__, lambda env, c=cls, v=value: c(lr=v),
                 Refuse(ValueError, "lr must be a positive finite number"))
    for kind, label, make, expect, *bug in [
        ("negative", "momentum", lambda: fm.optim.SGD(momentum=-0.5), "momentum"),
        ("out_of_range", "momentum 1", lambda: fm.optim.SGD(momentum=1.0), "momentum"),
        ("out_of_range", "beta 1.5", lambda: fm.optim.Adam(betas=(1.5, 0.9)), "betas"),
        ("strings", "momentum", lambda: fm.optim.SGD(momentum="0.9"), "momentum"),
        ("empty", "betas", lambda: fm.optim.Adam(betas=()), "betas"),
        ("unknown_option", "nesterov without momentum", lambda: fm.optim.SGD(nesterov=True),
         "nesterov"),
    ]:
        case("optim.*(lr=)", kind, label, lambda env, m=make: m(),
             Refuse((ValueError, TypeError), expect), *bug)


# ----------------------------------------------- fit / predict / evaluate / loss_and_grad
def _same_as_clean(clean_call):
    """A Works check: the result, and the model after the call, equal the clean call's."""
    def check(result, env):
        twin = env.twin()
        expected = clean_call(twin)
        if isinstance(result, tuple):  # loss_and_grad
            assert result[0] == expected[0] and np.array_equal(result[1], expected[1])
        elif isinstance(result, dict):  # evaluate, or a fit's history
            assert _without_timing(result) == _without_timing(expected)
        else:
            assert np.array_equal(result, expected)
        assert np.array_equal(env.model.params, twin.model.params)
    return Works(check)


def _without_timing(logs):
    return {k: v for k, v in logs.items() if k not in ("time", "samples_per_sec")}


def _array_entry_cases():
    ref_X = np.random.default_rng(0).standard_normal((24, 4)) * [1, 2, 3, 4] + 1
    ref_y = np.arange(24) % 3
    entries = {
        "Model.predict": lambda env, X, y: env.model.predict(X),
        "Model.evaluate": lambda env, X, y: env.model.evaluate(X, y),
        "Model.loss_and_grad": lambda env, X, y: env.model.loss_and_grad(X, y),
        "Trainer.fit": lambda env, X, y: env.trainer.fit(X, y),
        "Trainer.fit(validation_data)": lambda env, X, y: env.trainer.fit(
            env.X, env.y, validation_data=(X, y)),
    }
    for entry, call in entries.items():
        what = "X_val" if "validation" in entry else "X"
        for kind, label, X, expect in bad_features(ref_X, what):
            if expect is None:
                expect = _same_as_clean(lambda env, c=call, X=X: c(env, np.array(X, float),
                                                                     env.y))
            case(entry, kind, label, lambda env, c=call, X=X: c(env, X, env.y), expect)
        if entry == "Model.predict":
            continue
        ywhat = "y_val" if "validation" in entry else ("Y" if entry.startswith("Model") else "y")
        for kind, label, y, expect in bad_labels(ref_y, ywhat):
            if expect is None:
                clean = y.astype(np.int64)
                expect = _same_as_clean(lambda env, c=call, y=clean: c(env, env.X, y))
            case(entry, kind, label, lambda env, c=call, y=y: c(env, env.X, y), expect)
    _extra_array_cases(ref_X, ref_y)


def _assert_finite(result):
    values = result if isinstance(result, tuple) else (result,)
    for value in values:
        if isinstance(value, dict):
            value = [v for v in value.values() if isinstance(v, float)]
        assert np.isfinite(value).all(), "non-finite values returned silently"


_OVERFLOW = FiniteOrError((ValueError, FloatingPointError), "NaN or inf|overflow|too large")


def _extra_array_cases(X, y):
    huge = _huge(X)
    elu = lambda env: fm.Model([4, 6, 3], activation="elu", seed=0)  # noqa: E731
    identity = lambda env: fm.Model([4, 6, 1], output="identity", seed=0)  # noqa: E731
    y_col = y[:, None].astype(float)
    for entry, label, call, expect, *bug in [
        ("Model.predict", "relu, 3e38", lambda env: env.model.predict(huge),
         _OVERFLOW),
        ("Model.predict", "elu, 3e38", lambda env: elu(env).predict(huge), _OVERFLOW),
        ("Model.evaluate", "identity output, 3e38", lambda env: identity(env).evaluate(huge,
                                                                                     y_col),
         _OVERFLOW),
        ("Model.loss_and_grad", "identity output, 1e20",
         lambda env: identity(env).loss_and_grad(_huge(X, 1e20), y_col),
         _OVERFLOW),
        ("Trainer.fit", "3e38", lambda env: env.trainer.fit(huge, env.y),
         FiniteOrError(fm.DivergenceError, "epoch 2.*unscaled inputs")),
    ]:
        case(entry, "huge_values", label, call, expect, *bug)
    for kind, label, call, expect, *bug in [
        ("negative", "epochs", lambda env: env.trainer.fit(env.X, env.y, epochs=-2),
         Refuse(ValueError, "epochs")),
        ("zero", "epochs", lambda env: env.trainer.fit(env.X, env.y, epochs=0),
         Refuse(ValueError, "epochs")),
        ("booleans", "epochs", lambda env: env.trainer.fit(env.X, env.y, epochs=True),
         Refuse(ValueError, "epochs")),
        ("strings", "epochs", lambda env: env.trainer.fit(env.X, env.y, epochs="3"),
         Refuse(ValueError, "epochs")),
        ("empty", "validation_data ()", lambda env: env.trainer.fit(env.X, env.y,
                                                                    validation_data=()),
         Refuse(ValueError, "pair")),
        ("labels_out_of_range", "one-hot rows of 5", lambda env: env.trainer.fit(
            env.X, np.full((24, 3), 5.0)), Refuse(ValueError, "probabilit")),
        ("mismatched_lengths", "BN batch of 1", lambda env: _trainer(
            env.model, batch_size=23).fit(env.X, env.y), Refuse(ValueError, "batch of 1")),
    ]:
        case("Trainer.fit", kind, label, call, expect, *bug)
    n = fm.Model([4, 6, 3], batch_norm=True, preprocessing="standardize").n_params
    for kind, label, out, expect in [
        ("wrong_features", "out too short", np.zeros(n - 1, np.float32), "out must be"),
        ("complex_dtype", "out float64", np.zeros(n), "out must be"),
        ("non_contiguous", "out strided", np.zeros(2 * n, np.float32)[::2], "out must be"),
        ("read_only", "out read-only", _read_only(np.zeros(n, np.float32)), "writeable"),
    ]:
        case("Model.loss_and_grad", kind, label,
             lambda env, o=out: env.model.loss_and_grad(env.X, env.y, out=o),
             Refuse(ValueError, expect))
    for kind, seed in [("negative", -1), ("strings", "1"), ("booleans", True)]:
        case("Model.loss_and_grad", kind, f"seed {seed!r}",
             lambda env, s=seed: env.model.loss_and_grad(env.X, env.y, training=True, seed=s),
             Refuse(ValueError, "seed"))


# -------------------------------------------------------------------- files
def _file_cases():
    def load(name):
        return lambda env: fm.load(env.world.bad_files[name][0])

    for kind, name in [("malicious_file", "pickle_renamed"), ("malicious_file", "object_array"),
                       ("malicious_file", "pickled_model"), ("truncated_file", "truncated_half"),
                       ("truncated_file", "truncated_head"), ("empty", "empty_file"),
                       ("strings", "text_file"), ("wrong_format", "npy_not_npz"),
                       ("wrong_format", "foreign_npz"), ("wrong_format", "newer_version"),
                       ("wrong_format", "wrong_format"),
                       ("mismatched_lengths", "size_mismatch"),
                       ("wrong_features", "bad_preprocessing"),
                       ("complex_dtype", "dtype_mismatch"), ("nan", "nan_params"),
                       ("unknown_option", "bad_config"), ("huge_values", "bigger_architecture")]:
        case("fastmlp.load", kind, name, lambda env, n=name: fm.load(env.world.bad_files[n]),
             Refuse(ValueError, BAD_FILE_MESSAGES[name]))
    case("fastmlp.load", "missing_file", "no such file",
         lambda env: fm.load(env.world.path("missing.npz")), Refuse(FileNotFoundError, "missing"))
    case("fastmlp.load", "unreadable_file", "a directory", lambda env: fm.load(env.world.dir),
         Refuse(IsADirectoryError, "Is a directory"))
    case("fastmlp.load", "booleans", "path True", lambda env: fm.load(True),
         Refuse(TypeError, "bool"))

    def saved(model_change=None, path="out.npz"):
        def call(env):
            model = env.model
            if model_change:
                model = env.model.copy()
                model.params[0] = model_change
            fm.save(model, os.path.join(env.world.dir, path))
        return call

    for kind, label, call, expect in [
        ("nan", "NaN parameter", saved(np.nan), Refuse(ValueError, "NaN or inf")),
        ("inf", "inf parameter", saved(np.inf), Refuse(ValueError, "NaN or inf")),
        ("strings", "not a model", lambda env: fm.save("model", env.world.path("s.npz")),
         Refuse(TypeError, "fastmlp.Model")),
        ("booleans", "path True", lambda env: fm.save(env.model, True), Refuse(TypeError,
                                                                              "bool")),
        ("missing_file", "missing directory", saved(path="nowhere/m.npz"),
         Refuse(FileNotFoundError, "nowhere")),
        ("unreadable_file", "path is a directory", saved(path="checkpoints"),
         Refuse(IsADirectoryError, "checkpoints")),
    ]:
        case("fastmlp.save", kind, label, call, expect)

    for kind, label, sub, expect in [
        ("missing_file", "no directory", "absent", Refuse(FileNotFoundError, "absent")),
        ("empty", "no checkpoint", "ckpt_empty", Refuse(FileNotFoundError, "no checkpoint")),
        ("truncated_file", "truncated", "ckpt_truncated", Refuse(ValueError, "truncated")),
        ("malicious_file", "pickle", "ckpt_malicious", Refuse(ValueError, "not an .npz")),
        ("wrong_format", "a model file", "ckpt_model_file",
         Refuse(ValueError, "not a fastmlp.checkpoint")),
        ("unreadable_file", "a CSV file", "good.csv", Refuse(ValueError, "not an .npz")),
    ]:
        case("Trainer.from_checkpoint", kind, label,
             lambda env, s=sub: fm.Trainer.from_checkpoint(env.world.path(s)), expect)


# ---------------------------------------------------------------------- CLI
def _cli(args):
    def call(env):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = fastmlp.cli.main(["train", "--epochs", "2", "--hidden", "4", "--quiet",
                                         *[a.format(dir=env.world.dir) for a in args]])
            except SystemExit as exc:  # argparse's own refusals
                code = exc.code
        return code, err.getvalue()
    return call


def _cli_refuses(pattern, code=2):
    """Exit ``code`` (2: a usage or input error; 1: the training failed) with a message."""
    def check(result, env):
        got, err = result
        assert got == code, f"exit code {got}, stderr: {err}"
        assert "error" in err or "failed" in err, err
        assert re.search(pattern, err), err
    return Works(check)


def _cli_succeeds():
    def check(result, env):
        code, err = result
        assert code == 0, f"exit code {code}, stderr: {err}"
    return Works(check)


def _cli_cases():
    data = ["--data", "{dir}/good.csv"]
    for kind, label, args, pattern, *bug in [
        ("nan", "NaN cell", ["--data", "{dir}/nan.csv"], "line 41, column 'a': missing value"),
        ("inf", "inf cell", ["--data", "{dir}/inf.csv"], "column 'b': -inf is not a finite"),
        ("empty", "header only", ["--data", "{dir}/empty.csv"], "at least one data row"),
        ("zero_features", "target only", ["--data", "{dir}/zero_features.csv"],
         "no feature columns"),
        ("strings", "text cell", ["--data", "{dir}/strings.csv"], "'abc' is not numeric"),
        ("complex_dtype", "complex cell", ["--data", "{dir}/complex.csv"], "not numeric"),
        ("mismatched_lengths", "ragged CSV", ["--data", "{dir}/ragged.csv"], "2 fields"),
        ("mismatched_lengths", "NPZ lengths", ["--data", "{dir}/mismatched.npz"],
         "same, non-zero number of rows"),
        ("three_d", "3-D NPZ", ["--data", "{dir}/three_d.npz"], "2-D"),
        ("object_dtype", "object NPZ", ["--data", "{dir}/object.npz"], "refused"),
        ("negative", "--epochs -1", data + ["--epochs", "-1"], "epochs"),
        ("negative", "--batch-size -5", data + ["--batch-size", "-5"], "batch_size"),
        ("negative", "--lr -1", data + ["--lr", "-1"], "lr must be"),
        ("zero", "--epochs 0", data + ["--epochs", "0"], "epochs"),
        ("zero", "--lr 0", data + ["--lr", "0"], "lr must be"),
        ("zero", "--hidden 0", data + ["--hidden", "0"], "hidden"),
        ("zero", "--threads 0", data + ["--threads", "0"], "n_threads"),
        ("nan", "--lr nan", data + ["--lr", "nan"], "lr must be"),
        ("unknown_option", "--optimizer", data + ["--optimizer", "adamx"], "valid names"),
        ("unknown_option", "--activation", data + ["--activation", "relux"], "valid names"),
        ("unknown_option", "--task", data + ["--task", "ranking"], "invalid choice"),
        ("unknown_option", "--target", data + ["--target", "zz"], "no column named 'zz'"),
        ("unknown_option", "unknown flag", data + ["--bogus"], "unrecognized arguments"),
        ("out_of_range", "--test-size 2", data + ["--test-size", "2"], "test_size"),
        ("missing_file", "missing", ["--data", "{dir}/missing.csv"], "No such file"),
        ("unreadable_file", "a directory", ["--data", "{dir}"], "Is a directory"),
        ("truncated_file", "truncated NPZ", ["--data", "{dir}/truncated_table.npz"],
         "truncated|cannot read"),
        ("malicious_file", "pickle NPZ", ["--data", "{dir}/pickle_table.npz"], "pickle"),
    ]:
        case("fastmlp.cli.main", kind, label, _cli(args), _cli_refuses(pattern), *bug)
    # a training failure exits 1; a column of True/False cells is a text column: one-hot
    case("fastmlp.cli.main", "huge_values", "--lr 1e30",
         _cli(data + ["--optimizer", "sgd", "--lr", "1e30"]),
         _cli_refuses("training failed.*NaN or infinite", code=1))
    case("fastmlp.cli.main", "booleans", "True/False cells",
         _cli(["--data", "{dir}/booleans.csv"]), _cli_succeeds())


# ---------------------------------------------------------------- estimators
def _sklearn_cases():
    try:
        from fastmlp import sklearn as fsk
    except ImportError:
        return
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 4)), np.arange(30) % 3

    def estimator(cls):
        wanted = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        return cls(**{k: v for k, v in wanted.items() if k in cls().get_params()})

    for name in ("MLPClassifier", "MLPRegressor"):
        cls = getattr(fsk, name, None)
        if cls is None:
            continue
        for kind, label, bad, expect in bad_features(X):
            if expect is None or kind in ("huge_values", "wrong_features", "strings"):
                continue  # "must work" cases are the estimators' own test suite's
            case(f"{name}.fit", kind, label,
                 lambda env, c=cls, b=bad: estimator(c).fit(b, y[:len(np.asarray(b))] if
                                                             np.ndim(b) == 2 else y),
                 Refuse((ValueError, TypeError), "."))
        case(f"{name}.fit", "strings", "text", lambda env, c=cls: estimator(c).fit(
            np.full(X.shape, "abc"), y), Refuse((ValueError, TypeError), "."))
        case(f"{name}.fit", "mismatched_lengths", "y short",
             lambda env, c=cls: estimator(c).fit(X, y[:-1]), Refuse(ValueError, "."))
        case(f"{name}.predict", "wrong_features", "3 of 4",
             lambda env, c=cls: estimator(c).fit(X, y).predict(X[:, :3]),
             Refuse(ValueError, "feature"))
        case(f"{name}()", "negative", "hidden -5",
             lambda env, c=cls: c(hidden_layer_sizes=(-5,)).fit(X, y),
             Refuse((ValueError, TypeError), "."))


# ------------------------------------------------------------- populations
def _population(**kwargs):
    template = fm.Model([4, 6, 3], seed=0, preprocessing="standardize")
    return fm.Population(template, **{"size": 3, "seed": 0, **kwargs})


def _refused_unchanged(call):
    """Run ``call(population, trainer)`` on a population that has trained one epoch; the
    population's parameters and its trainer's counters must be as before when it raises."""
    def run(env):
        pop = _population()
        trainer = fm.Trainer(pop, fm.optim.Adam(lr=[0.01, 0.02, 0.03]), batch_size=8, epochs=1,
                             seed=0, verbose=0)
        trainer.fit(env.X, env.y)
        before = (pop.params.copy(), trainer.epoch, trainer.member_optimizers.count.copy())
        try:
            return call(pop, trainer)
        except Exception:
            assert np.array_equal(pop.params, before[0]) and trainer.epoch == before[1]
            assert np.array_equal(trainer.member_optimizers.count, before[2])
            raise
    return run


def _population_cases():
    for kind, label, kwargs, expect in [
        ("nan", "l2 per member", dict(l2=[0.0, np.nan, 0.0]), Refuse(ValueError, "member 1")),
        ("negative", "l1 per member", dict(l1=[0.0, 0.0, -1.0]), Refuse(ValueError, "member 2")),
        ("out_of_range", "dropout 1.5", dict(dropout=[0.1, 1.5, 0.0]), Refuse(ValueError,
                                                                              "member 1")),
        ("mismatched_lengths", "size 3, 2 values", dict(l2=[0.0, 1.0]),
         Refuse(ValueError, "ambiguous")),
        ("zero", "size 0", dict(size=0), Refuse(ValueError, "size")),
        ("empty", "no seeds", dict(size=None, seeds=[]), Refuse(ValueError, "ambiguous")),
        ("booleans", "size True", dict(size=True), Refuse(ValueError, "size")),
        ("strings", "seeds as text", dict(size=None, seeds=["1", "2"]), Refuse(ValueError,
                                                                               "seed")),
        ("unknown_option", "keyword", dict(momentum=[0.9] * 3), Refuse(TypeError, "momentum")),
    ]:
        case("Population()", kind, label, lambda env, k=kwargs: _population(**k), expect)
    case("Population()", "strings", "template", lambda env: fm.Population("m", size=2),
         Refuse(TypeError, "fastmlp.Model"))
    for kind, label, make, expect in [
        ("mismatched_lengths", "2 lrs for 3", lambda: fm.Trainer(
            _population(), fm.optim.Adam(lr=[1e-3, 1e-2])), "2 members but the population"),
        ("unknown_option", "lbfgs", lambda: fm.Trainer(_population(), "lbfgs"),
         "first-order optimizer"),
        ("unknown_option", "comm", lambda: fm.Trainer(_population(), comm=object()),
         "one Model"),
        ("unknown_option", "diagnostics", lambda: fm.Trainer(_population(), diagnostics=True),
         "diagnostics"),
        ("mismatched_lengths", "lrs for a Model", lambda: fm.Trainer(
            fm.Model([4, 6, 3]), fm.optim.Adam(lr=[1e-3, 1e-2])), "Population of that size"),
    ]:
        case("Trainer(population)", kind, label, lambda env, m=make: m(),
             Refuse(ValueError, expect))
    ref_X = np.random.default_rng(0).standard_normal((24, 4)) * [1, 2, 3, 4] + 1
    for kind, label, X, expect in bad_features(ref_X):
        if expect is None:
            continue  # the "must work" kinds: as Model's (each member is a Model)
        case("Population.fit", kind, label,
             _refused_unchanged(lambda pop, t, X=X: t.fit(X, np.arange(len(X)) % 3)), expect)
        case("Population.predict", kind, label,
             _refused_unchanged(lambda pop, t, X=X: pop.predict(X)), expect)
    for kind, label, y, expect in bad_labels(np.arange(24) % 3):
        if expect is not None:
            case("Population.fit", kind, label,
                 _refused_unchanged(lambda pop, t, y=y: t.fit(ref_X, y)), expect)
    case("Population.fit", "huge_values", "lr 1e30, every member", lambda env: fm.Trainer(
        _population(), fm.optim.SGD(lr=1e30), batch_size=8, verbose=0).fit(_huge(ref_X), env.y),
        FiniteOrError(fm.DivergenceError, "every member diverged"))

    def bad_population_file(env, damage):
        pop = _population()
        path = env.world.path("pop.npz")
        fm.save(pop, path)
        broken = env.world.path(f"pop_{damage}.npz")
        data = open(path, "rb").read()
        with open(broken, "wb") as f:
            f.write(data[:len(data) // 2] if damage == "truncated" else data)
        return fm.load(broken)

    case("fastmlp.load", "truncated_file", "population, half", lambda env: bad_population_file(
        env, "truncated"), Refuse(ValueError, "truncated or corrupt"))
    case("fastmlp.save", "nan", "population with a NaN member", lambda env: fm.save(
        _nan_member(), env.world.path("p.npz")), Refuse(ValueError, "member 1.*NaN"))


def _nan_member():
    pop = _population()
    pop.members[1].params[0] = np.nan
    return pop


# ------------------------------------------------------------- concurrency
def _while_fitting(model_of, second):
    """``second(env, model)`` while another thread fits ``model_of(env)``: what it raises."""
    def call(env):
        import threading

        model = model_of(env)
        started, release = threading.Event(), threading.Event()

        class Hold(fm.Callback):
            chunk_batches = 1

            def on_chunk_end(self, trainer, epoch, batches_done, n_batches):
                started.set()
                release.wait(30)

        first = threading.Thread(target=lambda: fm.Trainer(
            model, batch_size=8, epochs=1, verbose=0, callbacks=[Hold()]).fit(env.X, env.y))
        first.start()
        try:
            assert started.wait(30)
            return second(env, model)
        finally:
            release.set()
            first.join()
    return call


def _concurrency_cases():
    refused = Refuse(fm.ConcurrentFitError, "another thread")
    made = {}

    def population_member(env):  # a member fitted alone, while its population would train
        made["population"] = _population()
        return made["population"].members[1]

    for entry, model_of, second in [
        ("Trainer.fit", lambda env: env.model.copy(),
         lambda env, m: fm.Trainer(m, epochs=1, verbose=0).fit(env.X, env.y)),
        ("optim.step", lambda env: env.model.copy(),
         lambda env, m: fm.optim.SGD(lr=0.1).step(m.params, np.zeros_like(m.params))),
        ("Model.reinitialize", lambda env: env.model.copy(), lambda env, m: m.reinitialize(1)),
        ("Population.fit", population_member,
         lambda env, m: fm.Trainer(made["population"], epochs=1, verbose=0).fit(env.X, env.y)),
    ]:
        case(entry, "concurrent", "while another thread fits", _while_fitting(
            model_of, second), refused)

    def predict_whole(env, m):
        return m.predict(env.X)

    case("Model.predict", "concurrent", "while another thread fits",
         _while_fitting(lambda env: env.model.copy(), predict_whole),
         Works(lambda result, env: _assert_finite(result)))


_model_cases()
_population_cases()
_concurrency_cases()
_trainer_cases()
_optimizer_cases()
_array_entry_cases()
_file_cases()
_cli_cases()
_sklearn_cases()


def _case_id(c):
    return f"{c.entry}-{c.kind}-{c.label}".replace(" ", "_")


def _param(c):
    marks = [pytest.mark.xfail(strict=True, reason=c.bug)] if c.bug else []
    return pytest.param(c, id=_case_id(c), marks=marks)


# ---------------------------------------------------------------------- the tests
def _state(env):
    model, trainer = env.model, env.trainer
    prep = model.preprocessing.state_dict() if model.preprocessing is not None else {}
    opt = trainer.optimizer
    return dict(params=model.params.copy(), running=model.running_stats.copy(),
                prep={k: v.copy() for k, v in prep.items()}, epoch=trainer.epoch,
                steps=trainer.steps, history={k: list(v) for k, v in trainer.history.items()},
                opt_state=None if opt.state is None else opt.state.copy(),
                opt_step=int(opt.step_count[0]), rng=trainer._rng.bit_generator.state)


def _assert_same_state(before, after, keys=None):
    for key in keys or before:
        a, b = before[key], after[key]
        if key == "prep":
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), key
        elif isinstance(a, np.ndarray):
            assert np.array_equal(a, b), f"{key} changed by a refused call"
        else:
            assert a == b, f"{key} changed by a refused call"


@pytest.mark.parametrize("c", [_param(c) for c in CASES])
def test_bad_input(c, world):
    env = Env(world)
    before = _state(env)
    if isinstance(c.expect, Refuse):
        with pytest.raises(c.expect.exc, match=c.expect.pattern):
            c.call(env)
        _assert_same_state(before, _state(env))
    elif isinstance(c.expect, FiniteOrError):
        try:
            result = c.call(env)
        except c.expect.exc as exc:
            assert re.search(c.expect.pattern, str(exc)), exc
            # the model is back where it was (a diverged fit resets the optimizer)
            _assert_same_state(before, _state(env), ("params", "running", "prep"))
        else:
            _assert_finite(result)
    else:
        c.expect.check(c.call(env), env)


def test_catalogue_counts():
    """Print the matrix; require the array entry points to try every array kind."""
    entries = sorted({c.entry for c in CASES})
    pairs = {(c.entry, c.kind) for c in CASES}
    width = max(len(e) for e in entries)
    print(f"\n{len(CASES)} cases, {len(entries)} entry points x {len(KINDS)} kinds: "
          f"{len(pairs)} (entry, kind) pairs tried; {sum(1 for c in CASES if c.bug)} known bugs")
    print(" " * width + "  " + " ".join(f"{i:>4}" for i in range(len(KINDS))))
    print("kinds: " + ", ".join(f"{i} {k}" for i, k in enumerate(KINDS)))
    for e in entries:
        print(e.ljust(width) + "  " + " ".join(
            f"{sum(1 for c in CASES if (c.entry, c.kind) == (e, k)):>4}" if (e, k) in pairs
            else "   ." for k in KINDS))
    array_kinds = {"nan", "inf", "empty", "zero_features", "wrong_features", "three_d",
                   "strings", "object_dtype", "complex_dtype", "booleans", "non_contiguous",
                   "read_only", "huge_values"}
    label_kinds = {"mismatched_lengths", "labels_out_of_range"}
    for entry in ("Model.predict", "Model.evaluate", "Model.loss_and_grad", "Trainer.fit"):
        wanted = array_kinds | (label_kinds if entry != "Model.predict" else set())
        assert wanted <= {k for e, k in pairs if e == entry}, entry
    for entry in ("fastmlp.load", "Trainer.from_checkpoint", "fastmlp.cli.main"):
        assert {"missing_file", "unreadable_file", "truncated_file", "malicious_file"} <= \
            {k for e, k in pairs if e == entry}, entry
    assert len(KINDS) == len({c.kind for c in CASES})


# ------------------------------------------------------------- divergence
def test_divergence_names_the_epoch_and_restores_weights(world):
    env = Env(world)
    trainer = _trainer(env.model)
    trainer.optimizer = fm.optim.SGD(lr=1e30)
    before = env.model.params.copy()
    with pytest.raises(fm.DivergenceError, match=r"epoch \d+.*learning rate too high"):
        trainer.fit(env.X, env.y, epochs=3)
    assert np.isfinite(env.model.params).all()
    assert len(trainer.history.get("loss", [])) == trainer.epoch
    if trainer.epoch == 0:
        assert np.array_equal(env.model.params, before)


def test_terminate_on_nan_stops_quietly(world):
    env = Env(world)
    guard = fm.TerminateOnNaN()
    trainer = _trainer(env.model, callbacks=[guard])
    trainer.optimizer = fm.optim.SGD(lr=1e30)
    history = trainer.fit(env.X, env.y, epochs=3)
    assert isinstance(guard.error, fm.DivergenceError)
    assert guard.stopped_epoch == trainer.epoch
    assert len(history.get("loss", [])) == trainer.epoch
    assert np.isfinite(env.model.params).all()
