"""What fit trains and validates on: the validation data checked, the hold-out
split, the model's preprocessing fitted and applied (or left to each call, for
a large input read in place)."""

from collections import namedtuple

import numpy as np

from .._utils.validation import (
    check_array,
    check_lengths,
    check_sample_weight,
    is_large,
)
from ..data.rows import RowSubset, reads_in_place, take_rows
from ..data.splits import held_out_indices, split_count
from ..losses import encode_targets
from ..metrics import total_sum_of_squares

__all__ = ["Validation", "check_rows", "check_validation", "hold_out", "preprocess"]

#: Validation data as fit holds them: inputs, encoded targets, the targets' total
#: sum of squares (squared error, else None), sample weights (or empty), and
#: whether X's rows are still to be prepared (a large input).
Validation = namedtuple("Validation", ["X", "T", "sst", "sw", "raw_rows"])


def check_rows(model, X, y, sample_weight, names=("X", "y", "sample_weight")):
    """Inputs, targets and sample weights checked for ``model``: ``(X, T, sw)``.

    What fit checks of its training data and of its validation data alike;
    ``names`` are the arguments' names for the messages.  X keeps its own
    float dtype when it is large (converted where batches are gathered, not
    copied whole); T is the targets encoded for the model's loss; sw is
    float64, or empty for no weights.
    """
    X = check_array(X, model.dtype, model.n_inputs, names[0], convert="large", sparse=True)
    T = encode_targets(y, model.loss, model.n_outputs, model.dtype, names[1])
    check_lengths(X, T, names[:2])
    return X, T, check_sample_weight(sample_weight, X.shape[0], names[2])


def check_validation(model, validation_data):
    """``validation_data`` (a pair or a triple) checked for ``model``: a :class:`Validation`
    (None for None)."""
    if validation_data is None:
        return None
    try:
        X_val, y_val, *rest = validation_data
    except (TypeError, ValueError):
        raise ValueError("validation_data must be a pair (X_val, y_val) or a triple "
                         "(X_val, y_val, sample_weight_val)") from None
    if len(rest) > 1:
        raise ValueError("validation_data must be a pair (X_val, y_val) or a triple "
                         f"(X_val, y_val, sample_weight_val), got {len(rest) + 2} items")
    X_val, T_val, sw_val = check_rows(model, X_val, y_val, rest[0] if rest else None,
                                      ("X_val", "y_val", "validation sample_weight"))
    sst = total_sum_of_squares(T_val, sw_val) if model.loss == "squared_error" else None
    return Validation(X_val, T_val, sst, sw_val, False)


def hold_out(model, X, T, sw, fraction, seed):
    """Split off ``fraction`` of (X, T, sw) as validation data, drawn with ``seed``
    (stratified by class for a cross-entropy loss).

    Returns ``(X, T, sw, validation)``.  A large memory map is not copied:
    both sides read their rows from it (:func:`fastmlp.rows.take_rows`).
    """
    n = X.shape[0]
    try:
        n_val = split_count(fraction, n)
    except ValueError:
        raise ValueError(f"validation_fraction={fraction} of {n} samples "
                         "leaves no training or no validation sample") from None
    classes = T.argmax(axis=1) if model.loss == "cross_entropy" else None
    val_idx, train_idx = held_out_indices(n, n_val, np.random.default_rng(seed), classes)
    val_idx.sort()
    train_idx.sort()
    T_val = T[val_idx]
    sw_val = sw[val_idx] if sw.size else sw
    if sw.size and not sw_val.sum() > 0:
        raise ValueError("the validation split got only samples of weight 0")
    sst = total_sum_of_squares(T_val, sw_val) if model.loss == "squared_error" else None
    train_sw = sw[train_idx] if sw.size else sw
    if sw.size and not train_sw.sum() > 0:
        raise ValueError("the training split got only samples of weight 0")
    # a large X is not copied: the sides of the split read their rows from it
    return (take_rows(X, train_idx), T[train_idx], train_sw,
            Validation(take_rows(X, val_idx), T_val, sst, sw_val, False))


def preprocess(model, X, val, owned):
    """Fit the model's preprocessing on the training data (first fit only), apply it.

    Returns ``(X, val, staged)``.  A large memory map or read-only X (or
    a subset of one) is not transformed whole: ``staged`` says that its
    batches are gathered and prepared call by call; large validation
    inputs are prepared block by block when evaluated.  Otherwise X is
    transformed in place when ``owned`` (a copy fit made), else copied.
    """
    prep, dtype = model.preprocessing, model.dtype
    if prep is not None and not prep.is_fitted:
        prep.fit(X)
    staged = isinstance(X, RowSubset) or (prep is not None and reads_in_place(X))
    if prep is not None and not staged:
        X = model.prepare_rows(X, scratch=owned)
    if val is not None:
        if isinstance(val.X, RowSubset) or is_large(val.X) and (
                prep is not None or val.X.dtype != dtype):
            val = val._replace(raw_rows=True)
        elif prep is not None:
            val = val._replace(X=prep.transform(val.X, dtype))
    return X, val, staged
