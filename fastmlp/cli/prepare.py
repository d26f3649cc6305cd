"""The data that ``fastmlp train``, ``compare`` and ``search`` learn from, prepared one way.

Every command reads its file with the one reader
(:func:`fastmlp.data.tables.read_table`: ``.csv``, ``.npz``, ``.npy`` and
the ``.npy`` files of ``fastmlp convert``), takes the target as
:func:`fastmlp.data.encoding.fit_labels` does (class labels as the file
wrote them, or numbers for a regression), and one-hot encodes text feature
columns with :class:`~fastmlp.data.encoding.TabularEncoder`.  A converted
file is encoded already: its memory map is split into consecutive row
ranges (:func:`fastmlp.data.splits.contiguous_split`) and never copied.

An svmlight file's rows are a sparse matrix, its columns the features (no
encoder): it stays sparse on every path, split by rows -- a converted one
into row ranges on the mapped files (:func:`fastmlp._utils.sparse.row_range`).
Its labels are the target: classes, values, or for ``--task multilabel``
(chosen by "auto" when a row lists several labels) 0/1 rows over every
label, for sigmoid outputs and binary cross-entropy.
"""

from collections import namedtuple

import numpy as np

from .._utils.sparse import is_sparse, row_range
from ..data.encoding import TabularEncoder, fit_labels, infer_task, target_values
from ..data.splits import contiguous_split, row_split
from ..data.svmlight import SparseTable, label_text, svmlight_encoding
from ..data.tables import EncodedTable, Table, read_table
from ..datasets import load_digits

__all__ = ["DIGITS", "LABEL", "OUTPUTS", "Target", "Prepared", "read_data", "prepare",
           "prepare_whole"]

#: The source of the data without ``--data``.
DIGITS = "UCI digits (shipped with fastmlp)"
#: The output activation of a model for each task.
OUTPUTS = {"classification": "softmax", "multilabel": "sigmoid", "regression": "identity"}
#: The name of an svmlight file's target (the labels that start its lines).
LABEL = "label"

#: A table's target for one task: its column ``name``, ``task``
#: (``"classification"``, ``"regression"`` or ``"multilabel"``), ``y`` (int64
#: class indices, float64 values, or 0/1 rows over the classes), ``labels``
#: (the class names, None for a regression) and ``numeric_labels`` (whether the
#: classes are numbers: False for a regression target read from a table; of a
#: converted file, whether its target is), as the model's metadata keeps them.
Target = namedtuple("Target", ["name", "task", "y", "labels", "numeric_labels"])


class Prepared:
    """The encoded features, the target and the split of a command's data.

    Parameters
    ----------
    X : ndarray or scipy.sparse.csr_matrix (n_rows, n_features)
        float64, or the memory map of a converted file; the rows of an
        svmlight file (sparse).
    target : Target
    encoding : dict
        How the features were encoded (``TabularEncoder.to_dict()``, or
        :func:`~fastmlp.data.svmlight.svmlight_encoding`).
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
        """Whether the task is a classification (one class per row)."""
        return self.target.task == "classification"

    @property
    def output(self):
        """The output activation of a model for the task."""
        return OUTPUTS[self.target.task]

    @property
    def n_out(self):
        """Output units of a model for the task: one per class, or one."""
        return 1 if self.target.labels is None else len(self.target.labels)

    def part(self, rows):
        """``(X, y)`` of ``rows`` (an index array or a slice; a slice of a sparse X is a
        view of its arrays)."""
        if is_sparse(self.X) and isinstance(rows, slice):
            return row_range(self.X, rows.start, rows.stop), self.target.y[rows]
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
    otherwise, to the converted one for a file of ``fastmlp convert``, and
    is the labels (:data:`LABEL`) of an svmlight file.

    Returns
    -------
    data : Table, SparseTable or EncodedTable
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
    if isinstance(data, SparseTable):
        if target not in (None, LABEL):
            raise ValueError(f"{path}: an svmlight file has no named columns; its target is "
                             f"the label that starts each line (leave out --target)")
        return data, LABEL
    if target is None:
        target = "y" if str(path).lower().endswith(".npz") else data.names[-1]
    data.column(target)  # ValueError naming the columns when there is no such one
    return data, target


def _table_target(table, name, task):
    if task == "multilabel":
        raise ValueError(f"{table.source}: --task multilabel takes svmlight files (labels "
                         "separated by commas: 1,3 index:value ...), not tables")
    values, _ = target_values(table, name)
    task = infer_task(values) if task == "auto" else task
    if task == "classification":
        labels, numeric_labels, y = fit_labels(table, name)
        return Target(name, task, y, labels, numeric_labels)
    if values.dtype.kind != "f":
        raise ValueError(f"{table.source}: regression needs a numeric target; {name!r} "
                         "holds text")
    return Target(name, task, values, None, False)


def _sparse_target(table, task):
    """The target of an svmlight file's labels (see the module notes)."""
    if task == "auto":
        several = (np.diff(table.label_ptr) > 1).any()
        task = "multilabel" if several else infer_task(table.single_labels())
    if task == "multilabel":
        classes, Y = table.label_indicator()
        if classes.size == 0:
            raise ValueError(f"{table.source}: no labels in the file")
        return Target(LABEL, task, Y, [label_text(c) for c in classes], True)
    values = table.single_labels()
    if task == "regression":
        return Target(LABEL, task, values, None, False)
    classes, y = np.unique(values, return_inverse=True)
    return Target(LABEL, task, y.astype(np.int64), [label_text(c) for c in classes], True)


def _multilabel_target(data, task):
    """The target of a converted multi-label file, or one of single labels for
    ``--task multilabel``."""
    if data.multilabel:
        if task not in ("auto", "multilabel"):
            raise ValueError(f"{data.source} was converted as multi-label (rows list several "
                             "labels): train it with --task multilabel")
        return Target(data.target_name, "multilabel", data.target, data.classes, True)
    if data.classes is not None or not is_sparse(data.X):
        raise ValueError(f"{data.source}: --task multilabel takes svmlight files")
    values, y = np.unique(data.target, return_inverse=True)
    Y = np.zeros((y.size, values.size), dtype=np.uint8)
    Y[np.arange(y.size), y] = 1
    return Target(data.target_name, "multilabel", Y, [label_text(v) for v in values], True)


def _converted_target(data, task):
    if data.multilabel or task == "multilabel":
        return _multilabel_target(data, task)
    labels, target = data.classes, data.target
    if task == "auto":
        task = "classification" if labels is not None else infer_task(target)
    numeric_labels = labels is None
    if task == "classification" and numeric_labels:
        values, y = np.unique(target, return_inverse=True)
        labels = [label_text(v) for v in values]
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


def _refuse_encoding_flags(path, impute, categorical, what):
    if impute is not None or categorical:
        raise ValueError(f"{path} {what}: --impute and --categorical apply to tables"
                         + (" (give them to fastmlp convert, not to train)"
                            if what == "is encoded already" else ""))


def _sparse_features(table, zero_based):
    """An svmlight file's features (CSR) and their encoding for the model's metadata."""
    zero_based = table.zero_based(zero_based)
    X = table.features(zero_based)
    return X, svmlight_encoding(X.shape[1], zero_based)


def prepare(path, target, task, test_size, validation_size, seed, impute=None,
            categorical=(), zero_based="auto"):
    """Read, label, split (train / validation / test) and encode the data of ``path``.

    Parameters
    ----------
    path : str or None
        The data file; None: the shipped digits.
    target : str or None
        The target column (None: the default of :func:`read_data`).
    task : {"auto", "classification", "regression", "multilabel"}
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
    zero_based : {"auto", True, False}
        Whether an svmlight file's indices count from 0 ("auto": when an
        index 0 appears).

    Returns
    -------
    Prepared

    Raises
    ------
    ValueError
        Bad input, naming the file (and the row, column and value).
    """
    data, target = read_data(path, target)
    if isinstance(data, SparseTable):
        _refuse_encoding_flags(path, impute, categorical, "is an svmlight file")
        labelled = _sparse_target(data, task)
        X, encoding = _sparse_features(data, zero_based)
        rows = row_split(data.n_rows, test_size, validation_size, seed,
                         stratify=labelled.y if labelled.task == "classification" else None)
        return Prepared(X, labelled, encoding, data.source, False, rows)
    if isinstance(data, EncodedTable):
        _refuse_encoding_flags(path, impute, categorical, "is encoded already")
        _check_indexing(data, zero_based)
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


def _check_indexing(data, zero_based):
    """ValueError when a converted svmlight file was read with other indices than
    ``zero_based`` says."""
    converted = data.encoding.get("zero_based")
    if zero_based != "auto" and converted is not None and converted != zero_based:
        raise ValueError(f"{data.source} was converted with "
                         f"{'zero' if converted else 'one'}-based indices, not "
                         f"{'zero' if zero_based else 'one'}-based ones: convert it again "
                         f"with --zero-based {str(zero_based).lower()}")


def prepare_whole(path, target, task, test_size, validation_size, zero_based="auto"):
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
    if isinstance(data, SparseTable):
        labelled = _sparse_target(data, task)
        X, encoding = _sparse_features(data, zero_based)
        return Prepared(X, labelled, encoding, data.source, False)
    if isinstance(data, EncodedTable):
        _check_indexing(data, zero_based)
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
