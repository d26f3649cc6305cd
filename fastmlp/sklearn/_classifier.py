"""Classification: :class:`MLPClassifier`."""

import math

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._base import ADDED_PARAMS, BaseMLP
from ._docs import fill_doc
from ._inputs import SPARSE_FORMAT, sample_weights, validate_data
from ._params import partial_fit_available

__all__ = ["MLPClassifier"]


@fill_doc
class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multilayer perceptron classifier trained by fastmlp: scikit-learn's ``MLPClassifier``.

    Minimises the log-loss (softmax output for multiclass targets, logistic
    outputs for binary and multilabel targets) with the chosen solver.  See
    the :mod:`fastmlp.sklearn` docstring for where it departs from scikit-learn.

    Parameters
    ----------
{common_params}
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss: ``{label: weight}`` (classes
        left out weigh 1), or "balanced", ``n_samples / (n_classes *
        count(label))`` from the training labels.  For multilabel targets,
        a list of such dicts (keys 0 and 1), one per label, or "balanced".
        Multiplies ``sample_weight``: a fit with ``class_weight`` is the fit
        with ``sample_weight`` times each sample's class weight, bit for bit
        (``sklearn.utils.class_weight.compute_sample_weight``).  The
        early-stopping validation score and loss are weighted the same way.
        ``partial_fit`` takes a dict only.  None (scikit-learn's behaviour):
        every class weighs 1.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel targets, the label indices).
{common_attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastmlp.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9                       # doctest: +SKIP
    True
    """

    # the public path: reprs, documentation and new pickles name fastmlp.sklearn
    __module__ = "fastmlp.sklearn"

    _score_function = staticmethod(accuracy_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 solver_params=None, dropout=0.0, batch_norm=False, l1=0.0, n_threads=None,
                 dtype=None, class_weight=None, scoring=None, sparse_update="exact"):
        self.class_weight = class_weight
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss="log_loss", shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            solver_params=solver_params, dropout=dropout, batch_norm=batch_norm, l1=l1,
            n_threads=n_threads, dtype=dtype, scoring=scoring, sparse_update=sparse_update)

    # scikit-learn's get_params reads the subclass signature, which has no
    # ``loss``; the attribute stays for the shared code.

    _added_params = {**ADDED_PARAMS, "class_weight": None}

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"  # binary (one unit) and multilabel (one unit per label)

    def _validate_input(self, X, y, incremental, reset):
        """Checked X (dense or CSR), the binarized targets, and the labels for scoring."""
        X, y = validate_data(self, X, y, reset=reset, accept_sparse=SPARSE_FORMAT,
                             multi_output=True, dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])
            known = self.classes_
            # scikit-learn's messages, word for word (its tests match on them)
            if self.warm_start and not incremental:
                if set(classes.tolist()) != set(np.asarray(known).tolist()):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously "
                                     f"got {known}, `y` has {classes}")
            elif np.setdiff1d(classes, known).size:
                raise ValueError("`y` has classes not in `self.classes_`. `self.classes_` has "
                                 f"{known}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        return X, Y, y

    def _stratify_labels(self, y, Y, n):
        """What to stratify the validation split on (single-label targets only).

        Binary targets are stratified as scikit-learn does, on the boolean
        network target (the same split as on the labels), so that a class
        too small to split raises scikit-learn's own error.  scikit-learn
        does not stratify multiclass targets; fastmlp does when the classes
        allow it, and otherwise falls back to a plain split, as scikit-learn.
        """
        if y.ndim != 1:
            return None
        if Y.shape[1] == 1:
            return Y.astype(bool)
        _, counts = np.unique(y, return_counts=True)
        n_val = math.ceil(self.validation_fraction * n)
        if counts.min() < 2 or n_val < counts.size or n - n_val < counts.size:
            return None
        return y

    def _training_weights(self, sample_weight, y, incremental):
        """sample_weight times the weight ``class_weight`` gives each sample's class.

        Both are validated; the product goes through the same checks as a
        sample_weight would (so a fit with the equivalent sample weights is
        the same fit, bit for bit).  None means unweighted.
        """
        n = y.shape[0]
        weights = sample_weights(sample_weight, n)
        if self.class_weight is None:
            return weights
        if incremental and isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' is not supported by partial_fit (one "
                             "batch's class counts are not the data's): pass a dict, for "
                             "instance from sklearn.utils.class_weight.compute_class_weight")
        per_class = compute_sample_weight(self.class_weight, y)
        return sample_weights(per_class if weights is None else weights * per_class, n)

    def _decode(self, proba):
        """Labels from the network's output."""
        if proba.shape[1] == 1:
            proba = proba.ravel()
        return self._label_binarizer.inverse_transform(proba)

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and the labels ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; a sparse matrix or array is read as compressed sparse
            rows (other formats converted once), never densified.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss (a batch's loss is the weighted
            mean over its samples).

        Returns
        -------
        self : MLPClassifier
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(partial_fit_available)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train one epoch on ``(X, y)``, continuing from the current state.

        ``k`` calls give the same network as ``fit`` with ``max_iter=k`` on
        the same data (same shuffling, optimizer state and weights).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Labels of this batch of data.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample.
        classes : array-like of shape (n_classes,), default=None
            Every class of the whole data; required on the first call (for
            multilabel targets it may be omitted).

        Returns
        -------
        self : MLPClassifier
            The updated estimator.
        """
        if not self.__sklearn_is_fitted__() or not hasattr(self, "_label_binarizer"):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            elif classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit "
                                 "(the labels of the whole data set)")
            else:
                self._label_binarizer.fit(np.asarray(classes))
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(np.asarray(classes), self.classes_):
            raise ValueError(f"classes={np.asarray(classes)} differs from the classes of the "
                             f"earlier partial_fit calls, {self.classes_}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predicted labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
            Class labels (a multilabel indicator matrix for multilabel fits).
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities; for binary targets the two columns are ``1 - p``
            and ``p``, for multilabel targets one column per label.
        """
        proba = self._forward(X)
        if proba.shape[1] == 1:
            p = proba.ravel()
            return np.column_stack([1 - p, p])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities (``-inf`` where a probability is 0).
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
