"""Sparse inputs: a CSR X gives what the same data densified give, and is never densified.

The reference is fastmlp itself on ``X.toarray()`` -- the dense path, checked
against the naive NumPy network elsewhere -- with the same seeds: the
forward pass, the objective and its gradient, and whole fits (float64,
within 1e-8 relative) for several optimizers, penalties and dropout, on one
and two threads.  The lazy update is checked against a NumPy transcription
of its rule (torch.optim.SparseAdam's: touched rows only).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from naive import adam_step

import fastmlp as fm
from fastmlp.engine import calls as engine_calls

N, D, K = 240, 60, 4


def _sparse_data(rng, n=N, d=D, density=0.08, dtype=np.float64):
    X = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=dtype)
    X.data = (X.data * 4 - 2).astype(dtype)  # values of both signs
    X.indices = X.indices.astype(np.int32)
    y = rng.integers(0, K, n)
    return X, y


@pytest.fixture
def data(rng):
    return _sparse_data(rng)


def _close(a, b, rtol=1e-8):
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


def _model(**kw):
    kw.setdefault("dtype", "float64")
    return fm.Model([D, 16, 8, K], seed=3, **kw)


def test_predict_evaluate_and_gradient_equal_the_dense_ones(data):
    X, y = data
    model = _model()
    _close(model.predict(X), model.predict(X.toarray()), 1e-12)
    sparse_eval, dense_eval = model.evaluate(X, y), model.evaluate(X.toarray(), y)
    assert sparse_eval["loss"] == pytest.approx(dense_eval["loss"], rel=1e-12)
    assert sparse_eval["accuracy"] == dense_eval["accuracy"]
    loss, grad = model.loss_and_grad(X, y)
    dense_loss, dense_grad = model.loss_and_grad(X.toarray(), y)
    assert loss == pytest.approx(dense_loss, rel=1e-12)
    _close(grad, dense_grad, 1e-12)


def test_the_gradient_buffer_is_overwritten_not_added_to(data):
    X, y = data
    model = _model()
    out = np.full_like(model.params, 7.0)
    _, grad = model.loss_and_grad(X, y, out=out)
    _close(grad, model.loss_and_grad(X.toarray(), y)[1], 1e-12)


def test_training_mode_gradient_with_input_dropout_drops_what_the_dense_path_drops(data):
    X, y = data
    model = _model(dropout=[0.3, 0.2, 0.1])
    for seed in (0, 5):
        loss, grad = model.loss_and_grad(X, y, training=True, seed=seed)
        dense_loss, dense_grad = model.loss_and_grad(X.toarray(), y, training=True, seed=seed)
        assert loss == pytest.approx(dense_loss, rel=1e-12)
        _close(grad, dense_grad, 1e-12)


FITS = {
    "adam": dict(optimizer=lambda: fm.optim.Adam(1e-2)),
    "sgd_nesterov_l2": dict(optimizer=lambda: fm.optim.SGD(0.05, momentum=0.9, nesterov=True),
                            model=dict(l2=1e-3)),
    "rmsprop_l1": dict(optimizer=lambda: fm.optim.RMSprop(1e-3), model=dict(l1=1e-4)),
    "adamw_dropout": dict(optimizer=lambda: fm.optim.AdamW(1e-2),
                          model=dict(dropout=[0.2, 0.1, 0.0])),
    "clipped_adam": dict(optimizer=lambda: fm.optim.chain(fm.optim.ClipByGlobalNorm(0.5),
                                                         fm.optim.Adam(1e-2))),
    "dropconnect_bn": dict(optimizer=lambda: fm.optim.Adam(1e-2),
                           model=dict(dropconnect=[0.2, 0.0, 0.0], batch_norm=True)),
}


def _fit(X, y, case, n_threads, sample_weight=None, batch_size=32, lazy=False, epochs=3):
    spec = FITS[case]
    model = _model(**spec.get("model", {}))
    trainer = fm.Trainer(model, spec["optimizer"](), batch_size=batch_size, epochs=epochs,
                         seed=4, verbose=0, n_threads=n_threads,
                         sparse_update="lazy" if lazy else "exact")
    history = trainer.fit(X, y, sample_weight=sample_weight)
    return model, history


@pytest.mark.parametrize("case", sorted(FITS))
@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_sparse_fit_equals_the_dense_fit(data, case, n_threads):
    if n_threads > fm.max_threads():
        pytest.skip("needs 2 threads")
    X, y = data
    sparse_model, sparse_history = _fit(X, y, case, n_threads)
    dense_model, dense_history = _fit(X.toarray(), y, case, n_threads)
    _close(sparse_model.params, dense_model.params)
    np.testing.assert_allclose(sparse_history["loss"], dense_history["loss"], rtol=1e-8)


def test_sparse_fit_with_sample_weights_and_validation_data(data, rng):
    X, y = data
    weights = rng.uniform(0.2, 2.0, N)
    fits = []
    for inputs in (X, X.toarray()):
        model = _model()
        trainer = fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=50, epochs=2, seed=1,
                             verbose=0)
        history = trainer.fit(inputs[:200], y[:200], sample_weight=weights[:200],
                              validation_data=(inputs[200:], y[200:]))
        fits.append((model.params, history["val_loss"]))
    _close(fits[0][0], fits[1][0])
    np.testing.assert_allclose(fits[0][1], fits[1][1], rtol=1e-8)


def test_batches_larger_than_a_chunk_accumulate_the_scatter(data, monkeypatch):
    # batches of more rows than the compiled loop takes at once are summed
    # chunk by chunk, and the penalty then goes through the unfused update
    monkeypatch.setattr(engine_calls, "TRAIN_CHUNK_ROWS", 64)
    X, y = data
    sparse_model, _ = _fit(X, y, "sgd_nesterov_l2", 1, batch_size=200)
    dense_model, _ = _fit(X.toarray(), y, "sgd_nesterov_l2", 1, batch_size=200)
    _close(sparse_model.params, dense_model.params)


@pytest.mark.filterwarnings("ignore::fastmlp.ConvergenceWarning")
def test_lbfgs_on_sparse_data_equals_dense(data):
    X, y = data
    models = []
    for inputs in (X, X.toarray()):
        model = _model(l2=1e-3)
        fm.Trainer(model, fm.optim.LBFGS(max_iter=15), verbose=0).fit(inputs, y)
        models.append(model)
    _close(models[0].params, models[1].params, 1e-7)


@pytest.mark.parametrize("make", [sp.csr_matrix, sp.csr_array, sp.csc_matrix, sp.coo_array])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_every_scipy_format_and_index_type_is_accepted(data, make, index_dtype):
    X, y = data
    X = sp.csr_matrix(X)
    X.indices, X.indptr = X.indices.astype(index_dtype), X.indptr.astype(index_dtype)
    model = _model(dtype="float32")
    given = make(X)
    np.testing.assert_allclose(model.predict(given), model.predict(X.toarray()), rtol=1e-5,
                               atol=1e-6)
    fm.Trainer(model, batch_size=64, epochs=1, verbose=0).fit(given, y)
    assert np.isfinite(model.params).all()


def test_float32_model_keeps_float32_with_float64_sparse_values(data):
    X, y = data
    model = _model(dtype="float32")
    assert model.predict(X).dtype == np.float32
    assert model.prepare_inputs(X).dtype == np.float32 and sp.issparse(model.prepare_inputs(X))


def test_standardize_scales_sparse_data_without_centring(data):
    X, y = data
    model = _model(preprocessing="standardize")
    fm.Trainer(model, batch_size=64, epochs=1, verbose=0).fit(X, y)
    dense = X.toarray()
    std = dense.std(axis=0)
    np.testing.assert_allclose(model.preprocessing.scale_, np.where(std > 0, std, 1.0),
                               rtol=1e-10)
    assert not model.preprocessing.mean_.any()
    prepared = model.prepare_inputs(X)
    assert sp.issparse(prepared) and prepared.nnz == X.nnz
    np.testing.assert_allclose(prepared.toarray(), dense / model.preprocessing.scale_,
                               rtol=1e-12)
    # dense inputs then get the same scaling, so the two agree
    _close(model.predict(X), model.predict(dense), 1e-12)


def test_whiten_refuses_sparse_data_with_a_clear_error(data):
    X, y = data
    model = _model(preprocessing="whiten")
    with pytest.raises(ValueError, match="sparse input dense"):
        fm.Trainer(model, verbose=0, epochs=1).fit(X, y)


@pytest.mark.parametrize("break_it, message", [
    (lambda X: sp.csr_matrix((X.data, X.indices, X.indptr), shape=(X.shape[0], D + 1)),
     "features but the model expects"),
    (lambda X: _with_data(X, np.where(np.arange(X.nnz) == 5, np.nan, X.data)),
     "NaN or inf: first at row"),
    (lambda X: sp.csr_matrix(np.zeros((0, D))), "empty"),
])
def test_bad_sparse_input_names_the_problem(data, break_it, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        _model().predict(break_it(X))


def _with_data(X, values):
    return sp.csr_matrix((values, X.indices, X.indptr), shape=X.shape)


def test_column_indices_out_of_range_are_refused(data):
    X, _ = data
    bad = sp.csr_matrix((X.data, X.indices.copy(), X.indptr), shape=X.shape)
    bad.indices[3] = D + 5  # scipy does not check after construction
    with pytest.raises(ValueError, match="column indices outside"):
        _model().predict(bad)


def test_lazy_update_equals_exact_for_plain_sgd(data):
    X, y = data
    exact = _model()
    lazy = _model()
    for model, mode in ((exact, "exact"), (lazy, "lazy")):
        fm.Trainer(model, fm.optim.SGD(0.1), batch_size=16, epochs=2, seed=2, verbose=0,
                   sparse_update=mode).fit(X, y)
    np.testing.assert_array_equal(lazy.params, exact.params)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("penalties", [{}, {"l2": 0.03}, {"l1": 0.01, "l2": 0.01}])
def test_lazy_adam_updates_only_the_rows_each_batch_touches(rng, n_threads, penalties):
    # with a penalty, its gradient reaches the touched rows only, and the loss of each
    # step is the whole objective: W_0's part comes from per-row sums the lazy steps
    # keep up to date, checked here against the penalty of all weights at each step
    if n_threads > fm.max_threads():
        pytest.skip("needs 2 threads")
    X, y = _sparse_data(rng, n=64, density=0.05)
    batch = 16
    model = _model(**penalties)
    # the reference: torch.optim.SparseAdam's rule on the first layer's weights
    # (rows of W_0 no non-zero of the batch picks keep their values and
    # moments), Adam everywhere else, with the step count of the optimizer
    params = model.params.copy()
    m, v = np.zeros_like(params), np.zeros_like(params)
    w0 = model.layout.weight_slice(0)
    reference = _model(**penalties)
    losses = []
    for step, start in enumerate(range(0, 64, batch), start=1):
        rows = np.arange(start, start + batch)  # the trainer does not shuffle
        reference.params[...] = params
        loss, grad = reference.loss_and_grad(X[rows], y[rows])
        losses.append(loss)
        touched = np.zeros((D, 16), dtype=bool)
        touched[np.unique(X[rows].indices)] = True
        mask = np.ones_like(params, dtype=bool)
        mask[w0] = touched.ravel()
        new_p, new_m, new_v, _ = adam_step(params, grad, m, v, None, step, lr=1e-2)
        params, m, v = (np.where(mask, a, b) for a, b in ((new_p, params), (new_m, m),
                                                           (new_v, v)))
    history = fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=batch, epochs=1,
                         shuffle=False, verbose=0, n_threads=n_threads,
                         sparse_update="lazy").fit(X, y)
    _close(model.params, params, 1e-10)
    np.testing.assert_allclose(history["loss"][0], np.mean(losses), rtol=1e-12)


def test_lazy_and_exact_differ_for_adam_and_lazy_is_reproducible(data):
    X, y = data
    runs = [_fit(X, y, "adam", 1, lazy=lazy)[0].params for lazy in (True, True, False)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_sparse_checkpoint_resume_is_exact(data, tmp_path):
    X, y = data
    reference = _model()
    fm.Trainer(reference, fm.optim.Adam(1e-2), batch_size=32, epochs=4, seed=2, verbose=0,
               sparse_update="lazy").fit(X, y)
    model = _model()
    fm.Trainer(model, fm.optim.Adam(1e-2), batch_size=32, epochs=2, seed=2, verbose=0,
               sparse_update="lazy", checkpoint_dir=tmp_path).fit(X, y, epochs=2)
    resumed = fm.Trainer.from_checkpoint(tmp_path)
    assert resumed.sparse_update == "lazy"
    resumed.fit(X, y, epochs=2)
    np.testing.assert_array_equal(resumed.model.params, reference.params)


def test_sparse_update_is_checked():
    with pytest.raises(ValueError, match="sparse_update must be one of exact, lazy"):
        fm.Trainer(_model(), sparse_update="sometimes")
