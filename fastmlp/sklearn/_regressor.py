"""Regression: :class:`MLPRegressor`."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if

from ._base import BaseMLP
from ._docs import fill_doc
from ._inputs import SPARSE_FORMAT, validate_data
from ._params import partial_fit_available

__all__ = ["MLPRegressor"]


@fill_doc
class MLPRegressor(RegressorMixin, BaseMLP):
    """Multilayer perceptron regressor trained by fastmlp: scikit-learn's ``MLPRegressor``.

    Minimises half the squared error (identity output; several outputs for
    2-D targets) or the half Poisson deviance with a log link.  See the
    :mod:`fastmlp.sklearn` docstring for where it departs from scikit-learn.

    Parameters
    ----------
    loss : {"squared_error", "poisson"}, default="squared_error"
        "poisson" needs ``y >= 0`` and predicts ``exp`` of the network's
        output.  fastmlp's kernels have no Poisson loss: it trains through a
        per-batch Python loop (slower than "squared_error"), without dropout
        or batch normalisation.
{common_params}

    Attributes
    ----------
{common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastmlp.sklearn import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=10, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, random_state=0)
    >>> reg.fit(X, y).score(X, y) > 0.9                       # doctest: +SKIP
    True
    """

    # the public path: reprs, documentation and new pickles name fastmlp.sklearn
    __module__ = "fastmlp.sklearn"

    _score_function = staticmethod(r2_score)

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None, scoring=None, sparse_update="exact"):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            solver_params=solver_params, dropout=dropout, batch_norm=batch_norm, l1=l1,
            n_threads=n_threads, dtype=dtype, scoring=scoring, sparse_update=sparse_update)

    def _check_task_params(self):
        if self.loss not in ("squared_error", "poisson"):
            raise ValueError(f"loss must be 'squared_error' or 'poisson', got {self.loss!r}")
        if self.loss == "poisson" and self.sparse_update == "lazy":
            # its loop (PoissonTrainer) steps the optimizer over the whole parameter vector
            raise ValueError("loss='poisson' updates every weight at every step; "
                             "sparse_update='lazy' is not available with it (use 'exact')")

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        """Checked X (dense or CSR), 2-D float targets, and y as given for scoring."""
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=SPARSE_FORMAT,
                             multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets; y has negative values")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y, y

    def _decode(self, out):
        if self.out_activation_ == "exp":
            with np.errstate(over="ignore"):
                out = np.exp(out)
        return out.ravel() if out.shape[1] == 1 else out

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; a sparse matrix or array is read as compressed sparse
            rows (other formats converted once), never densified.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss.

        Returns
        -------
        self : MLPRegressor
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(partial_fit_available)
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        ``k`` calls give the same network as ``fit`` with ``max_iter=k`` on
        the same data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.

        Returns
        -------
        self : MLPRegressor
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions (1-D for a single output).
        """
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
