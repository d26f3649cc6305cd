"""fastmlp.sklearn's estimators against scikit-learn's MLP and its documented behaviour."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import joblib  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_digits,
    load_iris,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp.schedules import CosineAnnealing
from fastmlp.sklearn import ConvergenceWarning, MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=240, n_features=6, n_targets=3, noise=1.0,
                           random_state=0)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def quiet(fit, *args, **kwargs):
    """Call ``fit`` with convergence warnings silenced (short runs on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        return fit(*args, **kwargs)


def assert_same_network(a, b, rtol=1e-9, atol=1e-12):
    for mine, theirs in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- parity with scikit-learn
# With the same random_state both libraries start from the same weights, so
# deterministic training (shuffle=False, batches that divide the data) must
# follow scikit-learn's trajectory up to rounding.

SGD_SETTINGS = dict(hidden_layer_sizes=(16, 8), solver="sgd", shuffle=False, batch_size=50,
                    learning_rate_init=0.05, random_state=3)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_follows_sklearn(iris, momentum, nesterov):
    X, y = iris
    kw = dict(SGD_SETTINGS, max_iter=8, alpha=1e-2, momentum=momentum,
              nesterovs_momentum=nesterov)
    ours = quiet(MLPClassifier(**kw).fit, X, y)
    ref = quiet(SkClassifier(**kw).fit, X, y)
    assert_same_network(ours, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
    assert ours.n_iter_ == ref.n_iter_ == 8
    assert ours.t_ == ref.t_ == 8 * len(y)


def test_multioutput_regression_loss_is_sklearns(regression):
    # scikit-learn halves the squared error averaged over the outputs, the
    # engine sums over them: loss_curve_ must still be scikit-learn's.
    X, Y = regression
    kw = dict(SGD_SETTINGS, batch_size=60, learning_rate_init=0.01, max_iter=6, alpha=0.0)
    ours = quiet(MLPRegressor(**kw).fit, X, Y)
    ref = quiet(SkRegressor(**kw).fit, X, Y)
    assert_same_network(ours, ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-10)
    # with a penalty the epoch's mean penalty is estimated: close, not exact
    kw["alpha"] = 0.1
    ours = quiet(MLPRegressor(**kw).fit, X, Y)
    ref = quiet(SkRegressor(**kw).fit, X, Y)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-3)


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_learning_rate_schedules_follow_sklearn(iris, schedule):
    X, y = iris
    # a large tol makes "adaptive" divide the rate several times
    kw = dict(SGD_SETTINGS, momentum=0.0, max_iter=30, learning_rate=schedule, tol=0.05,
              n_iter_no_change=2, power_t=0.3)
    ours = quiet(MLPClassifier(**kw).fit, X, y)
    ref = quiet(SkClassifier(**kw).fit, X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert_same_network(ours, ref, rtol=1e-7, atol=1e-10)


def test_tol_stopping_matches_sklearn(iris):
    X, y = iris
    kw = dict(SGD_SETTINGS, momentum=0.0, max_iter=200, tol=1e-2, n_iter_no_change=3)
    ours = MLPClassifier(**kw).fit(X, y)
    ref = SkClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ < 200
    assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-10)


def test_lbfgs_follows_sklearn(regression, cancer):
    # one output: for several, scikit-learn's L-BFGS is handed a loss value
    # averaged over the outputs but a gradient summed over them, so its line
    # search differs from fastmlp's (whose value and gradient agree)
    X, Y = regression[0], regression[1][:, 0]
    kw = dict(hidden_layer_sizes=(12,), solver="lbfgs", alpha=1e-2, max_iter=15,
              random_state=0)
    ours = quiet(MLPRegressor(**kw).fit, X, Y)
    ref = quiet(SkRegressor(**kw).fit, X, Y)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    assert_same_network(ours, ref, rtol=1e-4, atol=1e-6)
    X, y = cancer
    ours = quiet(MLPClassifier(**kw).fit, X, y)
    ref = quiet(SkClassifier(**kw).fit, X, y)
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    assert not hasattr(ours, "loss_curve_")  # scikit-learn keeps no curve for L-BFGS


def test_lbfgs_sample_weight_objective_matches_sklearn(cancer):
    # scikit-learn divides alpha by the weight sum; so must the engine's L2
    X, y = cancer
    sw = np.random.default_rng(0).uniform(0.2, 3.0, size=len(y))
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", alpha=0.5, max_iter=10, random_state=1)
    ours = quiet(MLPClassifier(**kw).fit, X, y, sample_weight=sw)
    ref = quiet(SkClassifier(**kw).fit, X, y, sample_weight=sw)
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    assert_same_network(ours, ref, rtol=1e-4, atol=1e-6)


def test_poisson_follows_sklearn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    kw = dict(loss="poisson", hidden_layer_sizes=(8,), alpha=1e-3, random_state=0)
    ours = quiet(MLPRegressor(solver="lbfgs", max_iter=20, **kw).fit, X, y)
    ref = quiet(SkRegressor(solver="lbfgs", max_iter=20, **kw).fit, X, y)
    assert ours.out_activation_ == ref.out_activation_ == "exp"
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-4)
    sgd = dict(kw, solver="sgd", momentum=0.0, shuffle=False, batch_size=50,
               learning_rate_init=0.01, max_iter=5)
    ours = quiet(MLPRegressor(**sgd).fit, X, y)
    ref = quiet(SkRegressor(**sgd).fit, X, y)
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-8)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(X, y - 1.0)


def test_early_stopping_split_and_scores_follow_sklearn(cancer):
    # binary targets: both libraries stratify the same split from the same generator
    X, y = cancer
    # 455 training samples: batches of 91 keep alpha / batch exact
    kw = dict(SGD_SETTINGS, momentum=0.0, max_iter=40, early_stopping=True, batch_size=91,
              n_iter_no_change=3, tol=1e-3, validation_fraction=0.2)
    ours = quiet(MLPClassifier(**kw).fit, X, y)
    ref = quiet(SkClassifier(**kw).fit, X, y)
    np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)
    assert ours.best_validation_score_ == ref.best_validation_score_
    assert ours.best_loss_ is None and ours.n_iter_ == ref.n_iter_
    assert_same_network(ours, ref, rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------- documented behaviour
def test_early_stopping_restores_best_weights():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, n_iter_no_change=4,
                        max_iter=200, learning_rate_init=0.01, random_state=0).fit(X, y)
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(scores)
    assert np.argmax(scores) < len(scores) - 1  # the last epoch was not the best
    # the restored network scores best_validation_score_ on the held-out part,
    # which is the same draw from random_state as in scikit-learn
    from sklearn.model_selection import train_test_split
    rs = np.random.RandomState(0)
    for W, b in zip(clf.coefs_, clf.intercepts_):  # replay the initial draws
        rs.uniform(size=W.shape), rs.uniform(size=b.shape)
    _, X_val, _, y_val = train_test_split(X, y, random_state=rs, test_size=0.1, stratify=y)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_early_stopping_switched_on_for_a_warm_start(iris):
    # the best epoch's copy of the weights exists only with early stopping: a warm
    # start that switches it on takes the copy then, and restores the best epoch
    X, y = iris
    X = StandardScaler().fit_transform(X)
    clf = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                              random_state=0).fit, X, y)
    clf.set_params(early_stopping=True, max_iter=30, n_iter_no_change=3,
                   learning_rate_init=0.05)
    quiet(clf.fit, X, y)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    from sklearn.model_selection import train_test_split
    # a warm start draws no weights: the held-out part is random_state's first draw
    _, X_val, _, y_val = train_test_split(X, y, random_state=np.random.RandomState(0),
                                          test_size=0.1, stratify=y)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)


def test_initial_weights_are_sklearns_and_reinitialize_draws_afresh():
    # the estimator draws scikit-learn's weights (a block of rows at a time) over a
    # model whose own initialisation wrote nothing; the model keeps fastmlp's "auto"
    # scheme for a later reinitialize
    X = np.random.default_rng(0).standard_normal((50, 300))
    y = np.arange(50) % 3
    ours = quiet(MLPClassifier(hidden_layer_sizes=(700,), max_iter=1, batch_size=50,
                               learning_rate_init=1e-12, random_state=4).fit, X, y)
    rs = np.random.RandomState(4)
    for W, b in zip(ours.coefs_, ours.intercepts_):
        bound = np.sqrt(6.0 / (W.shape[0] + W.shape[1]))
        np.testing.assert_allclose(W, rs.uniform(-bound, bound, W.shape), atol=1e-9)
        np.testing.assert_allclose(b, rs.uniform(-bound, bound, b.shape), atol=1e-9)
    ours.model_.reinitialize(1)
    fresh = fastmlp.Model([300, 700, 3], dtype="float64", seed=1)
    for W, expected in zip(ours.model_.weights, fresh.weights):
        np.testing.assert_array_equal(W, expected)


@pytest.mark.parametrize("make", [
    lambda: (MLPClassifier, load_iris(return_X_y=True), {"classes": [0, 1, 2]}),
    lambda: (MLPRegressor, make_regression(120, 5, n_targets=2, random_state=1), {}),
])
def test_partial_fit_equals_fit_bit_for_bit(make):
    cls, (X, y), first_kwargs = make()
    X = StandardScaler().fit_transform(X)
    kw = dict(hidden_layer_sizes=(20,), batch_size=32, random_state=7, tol=0.0,
              n_iter_no_change=1000, max_iter=6)
    fitted = quiet(cls(**kw).fit, X, y)
    stepped = cls(**kw)
    for i in range(6):
        stepped.partial_fit(X, y, **(first_kwargs if i == 0 else {}))
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fitted.loss_curve_ == stepped.loss_curve_
    assert stepped.n_iter_ == 1 and stepped.t_ == fitted.t_  # n_iter_ counts the last call


def test_partial_fit_continues_fit_and_checks_classes(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match=r"not in `self\.classes_`"):  # scikit-learn's text
        clf.partial_fit(X, y + 1)
    loss = clf.loss_
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.loss_ < loss
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")


def test_warm_start_continues(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, warm_start=True, random_state=0)
    quiet(clf.fit, X, y)
    first = clf.loss_curve_[:]
    quiet(clf.fit, X, y)
    assert len(clf.loss_curve_) == 20 and clf.loss_curve_[:10] == first
    assert clf.loss_curve_[10] < first[0]
    cold = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=10, random_state=0).fit, X, y)
    assert cold.loss_curve_ == first  # without warm_start a fit starts over
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same "
                       r"classes as in the previous call to fit\. Previously got \[0 1 2\]"):
        clf.fit(X[y < 2], y[y < 2])  # scikit-learn's text


def test_convergence_warning_is_sklearns_and_fastmlps(iris):
    X, y = iris
    with pytest.warns(SkConvergenceWarning, match="max_iter=5") as record:
        MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    assert issubclass(record[0].category, fastmlp.ConvergenceWarning)
    assert record[0].filename == __file__  # attributed to the user's fit call
    with pytest.warns(ConvergenceWarning, match="L-BFGS") as record:
        MLPClassifier(solver="lbfgs", max_iter=2, random_state=0).fit(X, y)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converging runs warn about nothing
        MLPClassifier(max_iter=500, tol=1e-2, random_state=0).fit(X, y)


def test_non_finite_weights_raise_clearly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3)) * 1e154
    y = rng.normal(size=100)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=5).fit(X, y)


# ---------------------------------------------------------------- targets and inputs
def test_string_labels_binary_and_log_proba(cancer):
    X, y = cancer
    labels = np.where(y == 1, "benign", "malignant").astype(object)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    quiet(clf.fit, X, labels)
    assert list(clf.classes_) == ["benign", "malignant"]
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, labels) > 0.97


def test_multiclass_and_multilabel(iris):
    X, y = iris
    clf = quiet(MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01,
                              random_state=0).fit, X, y)
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3 and clf.n_layers_ == 3
    assert clf.score(X, y) > 0.95
    Xm, Ym = make_multilabel_classification(n_samples=200, n_classes=4, random_state=0)
    ml = quiet(MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit,
               Xm, Ym)
    assert ml.out_activation_ == "logistic" and ml.n_outputs_ == 4
    pred = ml.predict(Xm)
    assert pred.shape == Ym.shape and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (ml.predict_proba(Xm) > 0.5).astype(int))
    ref = quiet(SkClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit,
                Xm, Ym)
    assert ml.score(Xm, Ym) >= ref.score(Xm, Ym) - 0.05


def test_float32_stays_float32(iris):
    X, y = iris
    clf = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit,
                X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float32 and clf.model_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    clf64 = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                                dtype="float64").fit, X.astype(np.float32), y)
    assert clf64.coefs_[0].dtype == np.float64
    int_fit = quiet(MLPRegressor(max_iter=5).fit, np.arange(20).reshape(10, 2), np.arange(10))
    assert int_fit.coefs_[0].dtype == np.float64


def test_coefs_are_views_of_the_network(iris):
    X, y = iris
    clf = quiet(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit, X, y)
    assert np.shares_memory(clf.coefs_[0], clf.model_.params)
    clf.coefs_[1][...] = 0
    clf.intercepts_ = [clf.intercepts_[0], np.array([0.0, 5.0, 0.0])]
    assert np.all(clf.predict(X) == 1)
    with pytest.raises(ValueError, match="shape"):
        clf.coefs_ = [np.zeros((2, 2)), clf.coefs_[1]]


def test_sample_weight_equals_repetition_and_zero_equals_removal(cancer):
    X, y = cancer
    X, y = X[:120], y[:120]
    sw = np.random.default_rng(1).integers(0, 4, size=len(y))
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=40, random_state=0)
    weighted = quiet(MLPClassifier(**kw).fit, X, y, sample_weight=sw)
    repeated = quiet(MLPClassifier(**kw).fit, np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-5, atol=1e-7)
    ones = quiet(MLPClassifier(**kw).fit, X, y, sample_weight=np.ones(len(y)))
    plain = quiet(MLPClassifier(**kw).fit, X, y)
    np.testing.assert_array_equal(ones.coefs_[0], plain.coefs_[0])
    with pytest.raises(ValueError, match="zero"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier().fit(X, y, sample_weight=np.ones(3))


def test_bad_parameters_are_reported(iris):
    X, y = iris
    for params, match in [({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
                          ({"activation": "bogus"}, "activation"),
                          ({"solver": "bogus"}, "unknown optimizer"),
                          ({"batch_size": 0}, "batch_size"),
                          ({"learning_rate_init": 0.0}, "learning_rate_init"),
                          ({"validation_fraction": 1.0}, "validation_fraction"),
                          ({"n_iter_no_change": 0}, "n_iter_no_change"),
                          ({"dtype": "float16"}, "dtype")]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        MLPRegressor(loss="huber").fit(X, y)
    with pytest.warns(UserWarning, match="clipped"):
        quiet(MLPClassifier(batch_size=1000, max_iter=2).fit, X, y)


# ---------------------------------------------------------------- fastmlp extras
@pytest.mark.parametrize("extra", [
    dict(solver="nadam", learning_rate_init=0.01),
    dict(solver="rmsprop", learning_rate_init=0.003),
    dict(solver="adamw", solver_params={"weight_decay": 1e-3}),
    dict(learning_rate=CosineAnnealing(T_max=60), learning_rate_init=0.01),
    dict(activation="gelu"),
    dict(dropout=0.1),
    dict(batch_norm=True),
    dict(l1=1e-3),
    dict(n_threads=1),
    dict(solver=fastmlp.optim.Adam(lr=0.01)),
])
def test_fastmlp_extras_train_well(iris, extra):
    X, y = iris
    kw = dict(hidden_layer_sizes=(32,), max_iter=60, batch_size=32, random_state=0)
    clf = quiet(MLPClassifier(**{**kw, **extra}).fit, X, y)
    assert clf.score(X, y) > 0.9


def test_optimizer_instance_is_not_modified(iris):
    X, y = iris
    opt = fastmlp.optim.SGD(lr=0.05, momentum=0.9)
    clf = quiet(MLPClassifier(hidden_layer_sizes=(8,), solver=opt, max_iter=5).fit, X, y)
    assert opt.state is None and clf.get_params()["solver"] is opt


# ---------------------------------------------------------------- scikit-learn tooling
def test_pipeline_grid_search_cross_val(iris):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(16,), max_iter=150,
                                       learning_rate_init=0.01, random_state=0))
    scores = quiet(cross_val_score, pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                               "mlpclassifier__solver": ["adam", "lbfgs"]}, cv=3)
    quiet(grid.fit, X, y)
    assert grid.best_score_ > 0.85 and len(grid.cv_results_["params"]) == 4
    assert clone(grid.best_estimator_).get_params()["mlpclassifier__alpha"] in (1e-4, 1e-1)


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_and_joblib_roundtrip_keep_training(iris, tmp_path, dump):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    if dump == "pickle":
        copy = pickle.loads(pickle.dumps(clf))
    else:
        joblib.dump(clf, tmp_path / "clf.joblib")
        copy = joblib.load(tmp_path / "clf.joblib", mmap_mode="r")  # read-only buffers
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert np.shares_memory(copy.coefs_[0], copy.model_.params)
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)  # the optimizer state and shuffling stream came along
    np.testing.assert_array_equal(copy.coefs_[0], clf.coefs_[0])


def test_early_stopping_for_regression_and_multilabel(regression):
    X, Y = regression
    reg = MLPRegressor(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3,
                       learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, Y)
    assert reg.n_iter_ < 300 and reg.best_validation_score_ == max(reg.validation_scores_)
    Xm, Ym = make_multilabel_classification(n_samples=200, n_classes=3, random_state=1)
    clf = quiet(MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                              max_iter=30, random_state=0).fit, Xm, Ym)
    assert len(clf.validation_scores_) == clf.n_iter_
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:10], Y[:10])


def test_verbose_prints_sklearn_style_lines(iris, capsys):
    X, y = iris
    quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True,
                        early_stopping=True).fit, X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Validation score")
    assert len(out) == 6
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, verbose=True,
                        n_iter_no_change=np.inf)
    quiet(clf.fit, X, y)
    assert capsys.readouterr().out.count("Iteration") == 3
    lbfgs = quiet(MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3,
                                verbose=True).fit, X, y)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == lbfgs.n_iter_ and out[0].startswith("Iteration 1, loss = ")


# ---------------------------------------------------------------- scikit-learn's MLP behaviour
def test_verbose_2_adds_progress_lines_to_sklearns(iris, capsys):
    X, y = iris
    quiet(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=2).fit, X, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out


def test_early_stopping_split_errors_are_sklearns():
    X = np.arange(16.0).reshape(8, 2)
    binary = np.array([0] * 7 + [1])
    with pytest.raises(ValueError, match=r"least populated classes in y have only 1 member.*"
                                         r"Classes with too few members are: \['True'\]"):
        MLPClassifier(early_stopping=True).fit(X, binary)
    with pytest.raises(ValueError, match=r"least populated classes"):
        SkClassifier(early_stopping=True).fit(X, binary)  # the same error in scikit-learn
    # scikit-learn does not stratify multiclass targets: no error, a plain split
    multiclass = np.array([0, 0, 0, 1, 1, 1, 2, 2] * 3)
    multiclass[0] = 3
    quiet(MLPClassifier(early_stopping=True, max_iter=2, validation_fraction=0.25).fit,
          np.tile(X, (3, 1)), multiclass)


def test_diverging_fit_with_early_stopping_keeps_best_epoch():
    X, y = load_iris(return_X_y=True)
    kw = dict(hidden_layer_sizes=(20,), activation="identity", solver="sgd",
              learning_rate_init=1.0, max_iter=20, random_state=0)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(**kw).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="diverged"), np.errstate(all="ignore"):
        reg = MLPRegressor(early_stopping=True, **kw).fit(X, y)
    assert np.isnan(reg.validation_scores_[-1]) and np.isnan(reg.validation_loss_curve_[-1])
    assert np.isnan(reg.loss_curve_[-1]) and len(reg.loss_curve_) == reg.n_iter_
    assert all(np.all(np.isfinite(w)) for w in reg.coefs_ + reg.intercepts_)
    assert np.all(np.isfinite(reg.predict(X)))


# ---------------------------------------------------------------- class_weight
def _by_hand_class_weights(y, class_weight):
    """Each sample's class weight, computed without scikit-learn."""
    if class_weight == "balanced":
        labels, counts = np.unique(y, return_counts=True)
        per_label = {lab: len(y) / (len(labels) * c) for lab, c in zip(labels, counts)}
        return np.array([per_label[lab] for lab in y])
    return np.array([class_weight.get(lab, 1.0) for lab in y], dtype=np.float64)


@pytest.mark.parametrize("class_weight", [{0: 3.0, 2: 0.25}, "balanced"])
@pytest.mark.parametrize("settings", [
    dict(solver="adam"),
    dict(solver="sgd", early_stopping=True, n_iter_no_change=2),
    dict(solver="lbfgs"),
])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_class_weight_is_the_equivalent_sample_weight_bit_for_bit(iris, class_weight, settings,
                                                                  with_sample_weight):
    X, y = iris
    keep = np.r_[0:50, 50:80, 100:150]  # unbalanced classes: 50, 30, 50
    X, y = X[keep], y[keep]
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y)) if with_sample_weight else None
    equivalent = _by_hand_class_weights(y, class_weight) * (1.0 if sw is None else sw)
    kw = dict(hidden_layer_sizes=(8,), max_iter=15, batch_size=40, random_state=0, **settings)
    weighted = quiet(MLPClassifier(class_weight=class_weight, **kw).fit, X, y, sample_weight=sw)
    reference = quiet(MLPClassifier(**kw).fit, X, y, sample_weight=equivalent)
    for a, b in zip(weighted.coefs_ + weighted.intercepts_,
                    reference.coefs_ + reference.intercepts_):
        np.testing.assert_array_equal(a, b)
    unweighted = quiet(MLPClassifier(**kw).fit, X, y, sample_weight=sw)
    assert not np.array_equal(weighted.coefs_[0], unweighted.coefs_[0])


def test_class_weight_shifts_predictions_and_partial_fit_takes_dicts(iris):
    X, y = iris
    kw = dict(hidden_layer_sizes=(8,), max_iter=40, random_state=0, learning_rate_init=0.01)
    plain = quiet(MLPClassifier(**kw).fit, X, y)
    heavy = quiet(MLPClassifier(class_weight={1: 20.0}, **kw).fit, X, y)
    assert np.mean(heavy.predict(X) == 1) > np.mean(plain.predict(X) == 1)
    with pytest.raises(ValueError, match="balanced"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    stepped = MLPClassifier(class_weight={1: 2.0}, **kw)
    reference = MLPClassifier(**kw)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=[0, 1, 2])
        reference.partial_fit(X, y, classes=[0, 1, 2], sample_weight=np.where(y == 1, 2.0, 1.0))
    np.testing.assert_array_equal(stepped.coefs_[0], reference.coefs_[0])
    assert "class_weight" not in MLPRegressor().get_params()


# ---------------------------------------------------------------- validation_loss_curve_, scoring
def _held_out(X, y, coefs, random_state=0, fraction=0.1, stratify=True):
    """The early-stopping validation rows, redrawn as scikit-learn draws them."""
    from sklearn.model_selection import train_test_split
    rs = np.random.RandomState(random_state)
    for W in coefs:  # replay the initial weight and bias draws
        rs.uniform(size=W.shape), rs.uniform(size=W.shape[1])
    _, X_val, _, y_val = train_test_split(X, y, random_state=rs, test_size=fraction,
                                          stratify=y if stratify else None)
    return X_val, y_val


def test_validation_loss_curve_is_the_held_out_objective(iris, regression):
    from sklearn.metrics import log_loss, mean_squared_error
    X, y = iris
    kw = dict(hidden_layer_sizes=(8,), alpha=0.05, learning_rate_init=0.01, max_iter=60,
              early_stopping=True, n_iter_no_change=5, random_state=0)
    clf = quiet(MLPClassifier(**kw).fit, X, y)
    curve = clf.validation_loss_curve_
    assert len(curve) == len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    best = int(np.argmax(clf.validation_scores_))  # the restored epoch
    X_val, y_val = _held_out(X, y, clf.coefs_)
    penalty = kw["alpha"] / (2 * 135) * sum(np.sum(W ** 2) for W in clf.coefs_)  # 135 rows
    expected = log_loss(y_val, clf.predict_proba(X_val)) + penalty
    assert curve[best] == pytest.approx(expected, rel=1e-10)
    X, Y = regression  # half the squared error averaged over outputs, as loss_curve_
    reg = quiet(MLPRegressor(**kw).fit, X, Y)
    best = int(np.argmax(reg.validation_scores_))
    X_val, Y_val = _held_out(X, Y, reg.coefs_, stratify=False)
    penalty = kw["alpha"] / (2 * 200) * sum(np.sum(W ** 2) for W in reg.coefs_)  # batch 200
    expected = 0.5 * mean_squared_error(Y_val, reg.predict(X_val)) + penalty
    assert reg.validation_loss_curve_[best] == pytest.approx(expected, rel=1e-10)
    assert quiet(MLPClassifier(max_iter=2).fit, X[:, :2], Y[:, 0] > 0).validation_loss_curve_ \
        is None


def test_scoring_chooses_the_early_stopping_score(iris):
    from sklearn.metrics import get_scorer
    X, y = iris
    kw = dict(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=60,
              early_stopping=True, n_iter_no_change=5, random_state=0)
    default = quiet(MLPClassifier(**kw).fit, X, y)
    accuracy = quiet(MLPClassifier(scoring="accuracy", **kw).fit, X, y)
    assert default.validation_scores_ == accuracy.validation_scores_  # None is accuracy
    clf = quiet(MLPClassifier(scoring="neg_log_loss", **kw).fit, X, y)
    assert clf.best_validation_score_ == max(clf.validation_scores_) < 0
    X_val, y_val = _held_out(X, y, clf.coefs_)
    reference = get_scorer("neg_log_loss")(clf, X_val, y_val)
    assert clf.best_validation_score_ == pytest.approx(reference, rel=1e-10)

    calls = []

    def negative_mae(estimator, X_held, y_held):
        calls.append(len(y_held))
        return -np.mean(np.abs(estimator.predict(X_held) - y_held))

    reg = quiet(MLPRegressor(scoring=negative_mae, **kw).fit, X, y.astype(float))
    assert calls == [15] * reg.n_iter_
    X_val, y_val = _held_out(X, y.astype(float), reg.coefs_, stratify=False)
    assert reg.best_validation_score_ == pytest.approx(negative_mae(reg, X_val, y_val))
    for bad in ("no_such_scorer", 3):
        with pytest.raises(ValueError, match="scoring|valid"):
            MLPClassifier(scoring=bad).fit(X, y)


def test_scoring_and_class_weight_together(cancer):
    X, y = cancer
    keep = np.r_[np.flatnonzero(y == 0)[:40], np.flatnonzero(y == 1)]  # 40 against 357
    clf = quiet(MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                              class_weight="balanced", scoring="balanced_accuracy",
                              max_iter=100, random_state=0).fit, X[keep], y[keep])
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ > 0.8
