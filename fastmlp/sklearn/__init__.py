"""scikit-learn estimators trained by fastmlp: :class:`MLPClassifier` and :class:`MLPRegressor`.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and
``MLPRegressor``: the same constructor parameters, defaults, fitted
attributes and methods, so changing the import is enough::

    from fastmlp.sklearn import MLPClassifier   # was: from sklearn.neural_network import ...

    clf = MLPClassifier(hidden_layer_sizes=(256, 128), batch_size=64, random_state=0)
    clf.fit(X_train, y_train).score(X_test, y_test)

Training runs in fastmlp's compiled kernels (one call per epoch, several
threads), and the estimators take more than scikit-learn's: every fastmlp
optimizer as ``solver``, every fastmlp schedule as ``learning_rate``, more
activations, dropout, batch normalisation, an L1 penalty, ``n_threads`` and
float32 training (``dtype``); and what scikit-learn's MLP users asked for:
``class_weight``, ``validation_loss_curve_`` beside ``loss_curve_`` with
early stopping, and early stopping on a chosen scorer (``scoring``).

How scikit-learn's definitions are reproduced, and where they are only
approximated:

* Weights and biases start as in scikit-learn (Glorot-uniform, drawn from
  ``random_state`` in the same order), so with the same ``random_state`` both
  libraries start from the same network.  The early-stopping split is drawn
  from the same generator too (stratified for every single-label
  classification, where scikit-learn stratifies binary targets only; a
  binary class too small to split raises scikit-learn's error, a multiclass
  one falls back to a plain split).
* scikit-learn's L2 term is ``alpha / 2 * ||W||^2`` divided by the batch's
  sample count (weight sum with ``sample_weight``), in the loss and the
  gradient.  fastmlp's penalty is a fixed coefficient per model, so it is set
  to ``alpha / batch_size`` (times the mean sample weight): exact for every
  full batch and for L-BFGS, an approximation for an epoch's last, smaller
  batch.
* ``solver="adam"`` is ``fastmlp.optim.Adam``, PyTorch's update rule, whose
  ``epsilon`` sits outside the bias correction of the second moment (in
  scikit-learn it sits inside); ``solver="sgd"`` is ``fastmlp.optim.SGD``,
  identical to scikit-learn's momentum and Nesterov updates at a constant
  learning rate.
* ``loss_`` and ``loss_curve_`` follow scikit-learn's definitions (the mean
  over an epoch's batches, penalty included; half the squared error averaged
  over the outputs for multi-output regression, from the epoch's mean penalty
  estimated at its start and end).
* Sparse input (any SciPy format, ``csr_matrix`` or ``csr_array``, int32
  or int64 indices) is never densified: it is converted to compressed
  sparse rows once, kept in float32 when its values are float32, and the
  network's first layer reads its rows where they are, in ``fit``,
  ``partial_fit``, the early-stopping split and the predictions.  The fit
  equals that of the same data dense; ``sparse_update="lazy"`` trades that
  for speed on very wide data.

Training stops as scikit-learn's does (``tol`` and ``n_iter_no_change`` on
the training loss or, with ``early_stopping``, on the validation score,
whose best weights are restored); ``max_iter`` reached without converging
raises :class:`ConvergenceWarning`, a subclass of both scikit-learn's and
fastmlp's ``ConvergenceWarning``.
"""

try:
    from ._classifier import MLPClassifier
    from ._exceptions import ConvergenceWarning
    from ._poisson import PoissonTrainer  # noqa: F401  (named by pickles of Poisson fits)
    from ._regressor import MLPRegressor
except ImportError as exc:  # pragma: no cover - depends on the environment
    if not (exc.name or "").startswith("sklearn"):
        raise
    raise ImportError("fastmlp.sklearn needs scikit-learn (>= 1.3): "
                      "pip install 'fastmlp[sklearn]'") from exc

__all__ = ["MLPClassifier", "MLPRegressor", "ConvergenceWarning"]

#: Names that pickles of earlier versions hold, each with the name of the object it now is.
_NAMES_IN_OLD_PICKLES = {
    # a fitted Poisson regressor's trainer, up to fastmlp 0.1.0 as of commit a59718a
    "_PoissonTrainer": "PoissonTrainer",
}


def __getattr__(name):
    """Resolve the names that pickles written by earlier versions hold (PEP 562).

    Kept for pickles only: ``pickle`` looks classes up by module and name,
    and fitted Poisson regressors pickled up to fastmlp 0.1.0 (as of commit
    a59718a) name ``fastmlp.sklearn._PoissonTrainer``.  Code should not use
    these names.
    """
    if name in _NAMES_IN_OLD_PICKLES:
        return globals()[_NAMES_IN_OLD_PICKLES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
