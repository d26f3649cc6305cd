"""The data that ``fastmlp train``, ``compare`` and ``search`` learn from, prepared one way.

Every command reads its file with the one reader
(:func:`fastmlp.data.tables.read_table`: ``.csv``, ``.npz``, ``.npy`` and
the ``.npy`` files of ``fastmlp convert``), takes the target as
:func:`fastmlp.data.encoding.fit_labels` does (class labels as the file
wrote them, or numbers for a regression), and one-hot encodes text feature
columns with :class:`~fastmlp.data.encoding.TabularEncoder`.  A converted
file is encoded already: its memory map is split into consecutive row
ranges (:func:`fastmlp.data.splits.contiguous_split`) and never copied.
"""

from collections import namedtuple

import numpy as np

from ..data.encoding import TabularEncoder, fit_labels, infer_task, target_values
from ..data.splits import contiguous_split, row_split
from ..data.tables import EncodedTable, Table, read_table
from ..datasets import load_digits

__all__ = ["DIGITS", "Target", "Prepared", "read_data", "prepare", "prepare_whole"]

#: The source of the data without ``--data``.
DIGITS = "UCI digits (shipped with fastmlp)"

#: A table's target for one task: its column ``name``, ``task``
#: (``"classification"`` or ``"regression"``), ``y`` (int64 class indices, or
#: float64 values), ``labels`` (the class names, None for a regression) and
#: ``numeric_labels`` (whether the classes are numbers: False for a regression
#: target read from a table; of a converted file, whether its target is), as
#: the model's metadata keeps them.
Target = namedtuple("Target", ["name", "task", "y", "labels", "numeric_labels"])


class Prepared:
    """The encoded features, the target and the split of a command's data.

    Parameters
    ----------
    X : ndarray (n_rows, n_features)
        float64, or the memory map of a converted file.
    target : Target
    encoding : dict
        How the features were encoded (``TabularEncoder.to_dict()``).
    source : str
        The file (or :data:`DIGITS`).
    in_place : bool
        ``X`` is a converted file's memory map: split it in order.
    rows : RowSplit, optional
        The train / validation / test rows.
    """

    def __init__(self, X, target, encoding, source, in_place, rows=None):
        self.X, self.target, self.encoding, self.source = X, target, encoding, source
        self.in_place, self.rows = in_place, rows

    @property
    def classification(self):
        """Whether the task is a classification."""
        return self.target.task == "classification"

    @property
    def n_out(self):
        """Output units of a model for the task: one per class, or one."""
        return len(self.target.labels) if self.classification else 1

    def part(self, rows):
        """``(X, y)`` of ``rows`` (an index array or a slice)."""
        return self.X[rows], self.target.y[rows]

    @property
    def train(self):
        """``(X, y)`` of the training rows."""
        return self.part(self.rows.train)

    @property
    def val(self):
        """``(X, y)`` of the validation rows."""
        return self.part(self.rows.val)

    @property
    def test(self):
        """``(X, y)`` of the test rows."""
        return self.part(self.rows.test)


def read_data(path, target=None):
    """The table of ``path`` (the shipped digits when None) and its target column's name.

    The target defaults to ``y`` for a ``.npz`` file, to the last column
    otherwise, and to the converted one for a file of ``fastmlp convert``.

    Returns
    -------
    data : Table or EncodedTable
    target : str

    Raises
    ------
    ValueError
        An unreadable file, or no column ``target``.
    """
    if path is None:
        X, y = load_digits()
        names = [f"x{j}" for j in range(X.shape[1])]
        return Table(names + ["y"], list(X.T) + [y], DIGITS, positional=True), "y"
    data = read_table(path)
    if isinstance(data, EncodedTable):
        if target not in (None, data.target_name):
            raise ValueError(f"{path} was converted with the target {data.target_name!r}, not "
                             f"{target!r}")
        return data, data.target_name
    if target is None:
        target = "y" if str(path).lower().endswith(".npz") else data.names[-1]
    data.column(target)  # ValueError naming the columns when there is no such one
    return data, target


def _table_target(table, name, task):
    values, _ = target_values(table, name)
    task = infer_task(values) if task == "auto" else task
    if task == "classification":
        labels, numeric_labels, y = fit_labels(table, name)
        return Target(name, task, y, labels, numeric_labels)
    if values.dtype.kind != "f":
        raise ValueError(f"{table.source}: regression needs a numeric target; {name!r} "
                         "holds text")
    return Target(name, task, values, None, False)


def _converted_target(data, task):
    labels, target = data.classes, data.target
    if task == "auto":
        task = "classification" if labels is not None else infer_task(target)
    numeric_labels = labels is None
    if task == "classification" and numeric_labels:
        values, y = np.unique(target, return_inverse=True)
        labels = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in values]
    elif task == "classification":
        y = target
    elif labels is not None:
        raise ValueError(f"{data.source}: regression needs a numeric target; "
                         f"{data.target_name!r} holds text")
    else:
        y = target
    return Target(data.target_name, task, y, labels if task == "classification" else None,
                  numeric_labels)


def _features(table, target):
    features = table.without(target)
    if not features.names:
        raise ValueError(f"{table.source}: no feature columns besides the target {target!r}")
    return features


def _in_order(data, target, test_size, validation_size):
    """A converted file's rows split into ranges; ValueError naming the file."""
    try:
        rows = contiguous_split(data.n_rows, test_size, validation_size)
    except ValueError as exc:
        raise ValueError(f"{data.source}: {exc}") from None
    return Prepared(data.X, target, data.encoding, data.source, True, rows)


def prepare(path, target, task, test_size, validation_size, seed, impute=None,
            categorical=()):
    """Read, label, split (train / validation / test) and encode the data of ``path``.

    Parameters
    ----------
    path : str or None
        The data file; None: the shipped digits.
    target : str or None
        The target column (None: the default of :func:`read_data`).
    task : {"auto", "classification", "regression"}
    test_size : float
        Fraction of the rows held out for the test.
    validation_size : float
        Fraction of the other rows held out for validation.
    seed : int
        Draws the split (test rows with ``seed``, validation rows with
        ``seed + 1``; stratified for a classification).  A converted file is
        split in order instead: validation and test are its last rows.
    impute : {None, "mean", "median"}
        Fill missing feature cells with statistics of the training rows.
    categorical : sequence of str
        Columns one-hot encoded even where their cells are numbers.

    Returns
    -------
    Prepared

    Raises
    ------
    ValueError
        Bad input, naming the file (and the row, column and value).
    """
    data, target = read_data(path, target)
    if isinstance(data, EncodedTable):
        if impute is not None or categorical:
            raise ValueError(f"{path} is encoded already: give --impute and --categorical to "
                             "fastmlp convert, not to train")
        prepared = _in_order(data, _converted_target(data, task), test_size, validation_size)
        if prepared.rows.test.start == prepared.rows.test.stop:  # test_size 0
            raise ValueError(f"{path}: {data.n_rows} rows are too few for a train / "
                             "validation / test split")
        return prepared
    features = _features(data, target)
    labelled = _table_target(data, target, task)
    rows = row_split(data.n_rows, test_size, validation_size, seed,
                     stratify=labelled.y if labelled.task == "classification" else None)
    # categories from every row (held-out rows always encode), fill values from training rows
    encoder = TabularEncoder.fit(features, train_rows=rows.train, impute=impute,
                                 categorical=categorical)
    return Prepared(encoder.transform(features), labelled, encoder.to_dict(), data.source,
                    False, rows)


def prepare_whole(path, target, task, test_size, validation_size):
    """Read, label and encode every row of ``path``, not split (``fastmlp search`` splits).

    A converted file, read in place, is split in order all the same:
    ``test_size`` of its rows (0: none) and ``validation_size`` of them
    before those are its last rows.

    Returns
    -------
    Prepared
        ``rows`` is None, but for a converted file (``in_place``).
    """
    data, target = read_data(path, target)
    if isinstance(data, EncodedTable):
        if not 0 <= test_size < 1:
            raise ValueError(f"--test-size must be a fraction in [0, 1), got {test_size!r}")
        # validation_size is of all rows; contiguous_split takes it of the rows before the test
        return _in_order(data, _converted_target(data, task), test_size,
                         validation_size / (1 - test_size))
    features = _features(data, target)
    labelled = _table_target(data, target, task)
    encoder = TabularEncoder.fit(features)
    return Prepared(encoder.transform(features), labelled, encoder.to_dict(), data.source,
                    False)
