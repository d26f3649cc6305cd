"""Docstring pieces the two estimators share: parameters and fitted attributes."""

_COMMON_PARAMS = """
    hidden_layer_sizes : int or array-like of int, default=(100,)
        Width of each hidden layer (an empty tuple gives a linear model).
    activation : str, default="relu"
        Hidden-layer activation: scikit-learn's "identity", "logistic",
        "tanh", "relu", or fastmlp's "leaky_relu", "elu", "selu",
        "softplus", "gelu", "swish" ("sigmoid" is "logistic").
    solver : str or optimizer instance, default="adam"
        "adam", "sgd" and "lbfgs" as in scikit-learn; any other fastmlp
        optimizer name ("nadam", "rmsprop", "adagrad", "adamw", "radam",
        "adamax", "adadelta", "rprop"), or an instance from
        :mod:`fastmlp.optim` (copied at each fit).  Named optimizers get
        ``learning_rate_init`` as ``lr``; the Adam family also ``beta_1``,
        ``beta_2`` and ``epsilon``; ``solver_params`` adds to these.
    alpha : float, default=0.0001
        Strength of the L2 penalty ``alpha / 2 * ||W||^2`` (weights only),
        divided by the batch size as in scikit-learn.
    batch_size : int or "auto", default="auto"
        Samples per mini-batch; "auto" is ``min(200, n_samples)`` (the whole
        training set for full-batch optimizers such as "rprop").  Ignored by
        L-BFGS.  Values above the sample count are clipped, with a warning.
    learning_rate : str or Schedule, default="constant"
        "constant", "invscaling" (``learning_rate_init / (t + 1)^power_t``
        after each epoch, ``t`` the samples seen) and "adaptive" (divide by 5
        whenever the loss stalls) as in scikit-learn, used by solver="sgd"
        only.  Any other fastmlp schedule name or a
        :class:`fastmlp.schedules.Schedule` instance applies to every
        first-order solver.
    learning_rate_init : float, default=0.001
        Initial learning rate of the first-order solvers.
    power_t : float, default=0.5
        Exponent of "invscaling".
    max_iter : int, default=200
        Epochs of the first-order solvers; iterations of L-BFGS.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the early-stopping split, the shuffling
        and the dropout masks.
    tol : float, default=1e-4
        Training stops (or "adaptive" lowers the rate) when the loss (the
        validation score with ``early_stopping``) has not improved by
        ``tol`` for ``n_iter_no_change`` consecutive epochs.  L-BFGS's
        gradient tolerance.
    verbose : bool or int, default=False
        Print scikit-learn's "Iteration N, loss = ..." line every epoch (and
        the validation score with ``early_stopping``); 2 or more adds
        fastmlp's progress lines (learning rate, samples per second).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution (with a fresh optimizer).
    momentum : float, default=0.9
        Momentum of solver="sgd", in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov momentum for solver="sgd" (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score (see ``scoring``) stops improving and restore the weights of the
        best epoch.  First-order solvers only.  Should the weights diverge,
        the epoch is recorded with NaN loss and score, training stops with a
        ConvergenceWarning and the best epoch's weights are kept.
    validation_fraction : float, default=0.1
        Share of the training data held out with ``early_stopping``.
    beta_1 : float, default=0.9
        Adam's first-moment decay rate, in [0, 1).
    beta_2 : float, default=0.999
        Adam's second-moment decay rate, in [0, 1).
    epsilon : float, default=1e-8
        Adam's denominator offset.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping.
    max_fun : int, default=15000
        L-BFGS's limit on loss evaluations.
    solver_params : dict, optional
        Extra keyword arguments of the fastmlp optimizer named by ``solver``
        (for instance ``{"weight_decay": 1e-4}`` for "adamw").
    dropout : float or sequence of float, default=0.0
        Inverted dropout rate on every hidden layer's output (a sequence:
        one rate per weight layer's input, see :class:`fastmlp.Model`).
        Not with L-BFGS.
    batch_norm : bool or sequence of bool, default=False
        Batch normalisation in every (or each marked) hidden layer.
    l1 : float, default=0.0
        L1 penalty ``l1 * |W|_1``, scaled like ``alpha``.
    n_threads : int or None, default=None
        Threads for training and prediction (None: all available).
    dtype : {None, "float32", "float64"}, default=None
        Precision of the network.  None keeps float32 input in float32 and
        trains everything else in float64.
    scoring : str, callable or None, default=None
        The validation score ``early_stopping`` watches: a scikit-learn
        scorer name (such as "balanced_accuracy", "f1_macro",
        "neg_log_loss", "neg_mean_absolute_error") or a callable
        ``scorer(estimator, X, y)``, greater being better (the
        ``sample_weight`` keyword is passed when the fit is weighted).
        None is scikit-learn's behaviour: accuracy (classifier) or R^2
        (regressor).  Only used with ``early_stopping``; ``score`` is not
        affected.
    sparse_update : {"exact", "lazy"}, default="exact"
        How the first layer's weights are updated when ``X`` is sparse
        (passed to :class:`fastmlp.Trainer`).  "exact": every weight at
        every step, so a fit on a sparse ``X`` is the fit on the same data
        dense.  "lazy": only the weight rows of the features a batch's
        non-zeros pick, their optimizer state too (``torch.optim.SparseAdam``'s
        rule), much cheaper with hundreds of thousands of features.
        First-order solvers only (L-BFGS updates every weight; "lazy" is
        refused with ``loss="poisson"``); dense input ignores it.
"""

_COMMON_ATTRIBUTES = """
    loss_ : float
        Training loss of the last epoch (L-BFGS: at the solution), L2
        penalty included.
    best_loss_ : float or None
        Lowest training loss seen (None with ``early_stopping``).  First-order
        solvers only.
    loss_curve_ : list of float
        Training loss of every epoch.  First-order solvers only.
    validation_scores_ : list of float or None
        Validation score (``scoring``'s) of every epoch with
        ``early_stopping``, else None.
    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the loss on the held-out set after every
        epoch: the objective ``loss_curve_`` records (same loss, same
        penalty term, sample and class weights applied), so the two curves
        can be plotted together.  NaN where the outputs were not finite.
        None without ``early_stopping``.  First-order solvers only.
    best_validation_score_ : float or None
        Best validation score with ``early_stopping``, else None.
    t_ : int
        Training samples seen by the solver (sum over epochs).
    coefs_ : list of ndarray
        ``coefs_[i]`` (fan_in, fan_out) weights of layer i: views into the
        network's parameter buffer, so in-place changes reach predictions.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` biases of layer i (views, as ``coefs_``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit (only when ``X`` had string column names).
    n_iter_ : int
        Epochs (L-BFGS: iterations) run by the last fit or partial_fit.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output activation.
    model_ : fastmlp.Model
        The fitted fastmlp network (for fastmlp's own tools).
"""


def fill_doc(cls):
    """Class decorator: put the shared pieces into ``cls``'s docstring.

    Parameters
    ----------
    cls : type
        A class whose docstring holds the ``{common_params}`` and
        ``{common_attributes}`` placeholders.

    Returns
    -------
    type
        ``cls``, its docstring filled in.
    """
    cls.__doc__ = (cls.__doc__.replace("{common_params}", _COMMON_PARAMS.strip("\n"))
                   .replace("{common_attributes}", _COMMON_ATTRIBUTES.strip("\n")))
    return cls
