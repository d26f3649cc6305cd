"""Tables encoded for a model: text columns, gaps, class labels, the task.

:class:`TabularEncoder` turns a :class:`~fastmlp.data.tables.Table` (the
cells as the file holds them) into the float matrix a model takes, and
stores how as plain JSON (``to_dict``/``from_dict``; the command line keeps
it in :attr:`fastmlp.Model.metadata`):

- a column whose cells all read as numbers is numeric;
- any other column is categorical: one-hot encoded, one input per category
  seen in the training file (sorted), named ``column=category``.  A
  category not seen in training is an error naming the column, the value
  and the row -- not an all-zero row -- because such a value is usually a
  typo or a change in the data that a silent encoding would hide;
- a missing cell (empty, ``NA``, ``nan``, ``N/A``, ``null``, any case, or
  NaN in an array) is an error naming the row and the column, unless the
  encoder imputes: ``impute="mean"`` or ``"median"`` fills numeric columns
  with that statistic of the training rows, categorical columns with their
  most frequent training category; the same values fill gaps at predict
  time.

:func:`fit_labels` and :func:`label_indices` do the same for a
classification target: the labels come back as the training file wrote
them (``"yes"``, ``"3"``); :func:`infer_task` tells classification from
regression by the target's values.  :func:`load_table` reads a file and
encodes it in one call.
"""

import numpy as np

from .svmlight import SparseTable, is_svmlight_encoding
from .tables import EncodedTable, Table, read_table

# Table and read_table are fastmlp.data.tables'; they are named here too, as
# fastmlp 0.1.0's fastmlp.tabular had them beside the encoder
__all__ = ["TabularEncoder", "MISSING", "IMPUTE_METHODS", "fit_labels", "label_indices",
           "numeric_column", "target_values", "infer_task", "load_table", "Table", "read_table"]

#: Cell texts read as missing (compared stripped and lower-cased).
MISSING = frozenset({"", "na", "nan", "n/a", "null"})
#: Values of ``TabularEncoder.fit(impute=...)`` besides None.
IMPUTE_METHODS = ("mean", "median")


# ------------------------------------------------------------------ cells
def _missing(column):
    """Boolean mask of the missing cells of a text or numeric column."""
    if column.dtype.kind in "biu":
        return np.zeros(len(column), dtype=bool)
    if column.dtype.kind == "f":
        return np.isnan(column)
    return np.isin(np.char.lower(np.char.strip(column)), list(MISSING))


def numeric_column(column, name, table):
    """``column`` as float64 with NaN for the missing cells.

    Raises
    ------
    ValueError
        A cell that is not a number, or an infinite one, naming the row.
    """
    if column.dtype.kind in "biuf":
        values = column.astype(np.float64)
    else:
        missing = _missing(column)
        values = np.full(len(column), np.nan)
        try:
            values[~missing] = column[~missing].astype(np.float64)
        except ValueError:
            row = next(i for i, cell in enumerate(column)
                       if not missing[i] and not _is_number(cell))
            raise ValueError(f"{table.source}, {table.where(row)}, column {name!r}: "
                             f"{_shown(column[row])} is not a number") from None
    infinite = np.flatnonzero(np.isinf(values))
    if infinite.size:
        row = int(infinite[0])
        raise ValueError(f"{table.source}, {table.where(row)}, column {name!r}: "
                         f"{values[row]} is not a finite number")
    return values


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _shown(cell):
    """A cell for messages: text quoted, numbers as numbers (never ``np.str_(...)``)."""
    if isinstance(cell, (str, np.str_)):
        return repr(str(cell))
    return repr(cell.item() if isinstance(cell, np.generic) else cell)


def _missing_error(table, row, name, value, what="value"):
    cell = "" if value is None else f" ({_shown(value)})"
    return ValueError(f"{table.source}, {table.where(row)}, column {name!r}: missing "
                      f"{what}{cell}; fill it in, or impute the features with statistics "
                      f"of the training rows (--impute mean or median)")


# ------------------------------------------------------------------ encoder
class TabularEncoder:
    """Encodes a table's feature columns as a float matrix (see the module notes).

    Parameters
    ----------
    columns : list of dict
        One entry per input column, in order: ``{"name", "kind": "numeric"
        or "categorical", "categories" (categorical), "fill"}`` (``fill``:
        the imputed value, None when gaps are refused).
    impute : {None, "mean", "median"}
    """

    def __init__(self, columns, impute=None):
        if impute is not None and impute not in IMPUTE_METHODS:
            raise ValueError(f"impute must be None, 'mean' or 'median', got {impute!r}")
        self.columns = [dict(c) for c in columns]
        self.impute = impute

    @classmethod
    def fit(cls, table, train_rows=None, impute=None, categorical=()):
        """Learn the columns' kinds and categories (all rows) and fill values (``train_rows``).

        A column mixing numbers and text is refused (usually a typo in a
        numeric column) unless it is named in ``categorical``.

        Parameters
        ----------
        table : Table
            The feature columns (the target removed).
        train_rows : array of int, optional
            Rows whose statistics fill gaps (default: all); categories come
            from every row, so that held-out rows always encode.
        impute : {None, "mean", "median"}
            None refuses missing cells (ValueError naming the first).
        categorical : sequence of str
            Columns encoded as categories even where their cells are numbers.

        Returns
        -------
        TabularEncoder
        """
        encoder = cls([], impute)
        rows = np.arange(table.n_rows) if train_rows is None else np.asarray(train_rows)
        unknown = [n for n in categorical if n not in table.names]
        if unknown:
            raise ValueError(f"{table.source}: no feature column(s) {', '.join(unknown)} to "
                             f"treat as categorical; columns are: {', '.join(table.names)}")
        for name, column in zip(table.names, table.columns):
            missing = _missing(column)
            if impute is None and missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise _missing_error(table, row, name, column[row])
            if name in categorical:
                column = column.astype(str)
            elif column.dtype.kind not in "biuf":
                _refuse_mixed(table, name, column, missing)
            if column.dtype.kind in "biuf" or all(_is_number(c) for c in column[~missing]):
                spec = _fit_numeric(table, name, column, rows, impute)
            else:
                spec = _fit_categorical(table, name, column, missing, rows, impute)
            encoder.columns.append(spec)
        return encoder

    @property
    def input_names(self):
        """The names of the columns the encoder reads, in order."""
        return [c["name"] for c in self.columns]

    @property
    def feature_names(self):
        """The names of the encoded features (``column=category`` for one-hot inputs)."""
        names = []
        for c in self.columns:
            if c["kind"] == "numeric":
                names.append(c["name"])
            else:
                names += [f"{c['name']}={cat}" for cat in c["categories"]]
        return names

    def unused_columns(self, table):
        """Columns of ``table`` the encoder does not read (an id, a target...)."""
        if table.positional:
            return []
        return [n for n in table.names if n not in self.input_names]

    def transform(self, table):
        """The encoded float64 matrix of ``table`` (n_rows, len(feature_names)).

        Columns are matched by name (a 2-D ``.npy`` array: by position).

        Raises
        ------
        ValueError
            A missing column, a text cell in a numeric column, an unseen
            category, or a missing cell without imputation -- each naming
            the column (and the row and the value).
        """
        if table.positional:
            if len(table.columns) != len(self.columns):
                raise ValueError(f"{table.source}: {len(table.columns)} columns, the model "
                                 f"reads {len(self.columns)} ({', '.join(self.input_names)})")
            columns = table.columns
        else:
            absent = [n for n in self.input_names if n not in table.names]
            if absent:
                raise ValueError(f"{table.source}: missing the feature column(s) "
                                 f"{', '.join(map(repr, absent))} the model was trained on")
            columns = [table.column(n) for n in self.input_names]
        parts = [_encode_numeric(table, spec, column) if spec["kind"] == "numeric"
                 else _encode_categorical(table, spec, column)
                 for spec, column in zip(self.columns, columns)]
        return np.column_stack(parts) if parts else np.zeros((table.n_rows, 0))

    def to_dict(self):
        """The encoder as JSON-able values (for :attr:`fastmlp.Model.metadata`)."""
        return {"impute": self.impute, "columns": [dict(c) for c in self.columns],
                "feature_names": self.feature_names}

    @classmethod
    def from_dict(cls, data):
        """The encoder that :meth:`to_dict` described; ValueError if malformed."""
        try:
            columns = data["columns"]
            for c in columns:
                if c["kind"] not in ("numeric", "categorical") or not isinstance(c["name"], str):
                    raise ValueError(f"bad column entry {c!r}")
                if c["kind"] == "categorical" and not isinstance(c["categories"], list):
                    raise ValueError(f"column {c['name']!r} has no category list")
            return cls(columns, data.get("impute"))
        except (TypeError, KeyError) as exc:
            raise ValueError(f"malformed feature encoding ({exc!r})") from None


def _refuse_mixed(table, name, column, missing):
    """ValueError for a column of numbers with some text: a typo more often than categories."""
    is_number = np.array([_is_number(c) for c in column.tolist()]) & ~missing
    is_text = ~is_number & ~missing
    if is_number.any() and is_text.any():
        row = int(np.flatnonzero(is_text)[0])
        raise ValueError(f"{table.source}, {table.where(row)}, column {name!r}: "
                         f"{_shown(column[row])} is not numeric, but other cells of the column "
                         f"are numbers; correct the cell, or encode the column as categories "
                         f"(--categorical {name})")


def _fit_numeric(table, name, column, rows, impute):
    values = numeric_column(column, name, table)
    fill = None
    if impute is not None:
        known = values[rows][~np.isnan(values[rows])]
        if known.size == 0:
            raise ValueError(f"{table.source}: column {name!r} has no values in the training "
                             "rows to impute from")
        fill = float(np.mean(known) if impute == "mean" else np.median(known))
    return {"name": name, "kind": "numeric", "fill": fill}


def _fit_categorical(table, name, column, missing, rows, impute):
    text = np.char.strip(column)
    categories = sorted(set(text[~missing].tolist()))
    fill = None
    if impute is not None:
        seen = text[rows][~missing[rows]]
        if seen.size == 0:
            raise ValueError(f"{table.source}: column {name!r} has no values in the training "
                             "rows to impute from")
        values, counts = np.unique(seen, return_counts=True)
        fill = str(values[np.argmax(counts)])  # the most frequent; ties: the first sorted
    return {"name": name, "kind": "categorical", "categories": categories, "fill": fill}


def _encode_numeric(table, spec, column):
    values = numeric_column(column, spec["name"], table)
    missing = np.isnan(values)
    if missing.any():
        if spec.get("fill") is None:
            row = int(np.flatnonzero(missing)[0])
            raise _missing_error(table, row, spec["name"], column[row])
        values[missing] = spec["fill"]
    return values


def _encode_categorical(table, spec, column):
    name, categories = spec["name"], spec["categories"]
    column = column.astype(str)  # numbers of an array column forced categorical: as text
    text = np.char.strip(column)
    missing = _missing(column)
    if missing.any():
        if spec.get("fill") is None:
            row = int(np.flatnonzero(missing)[0])
            raise _missing_error(table, row, name, column[row])
        text = np.where(missing, spec["fill"], text)
    index = {c: k for k, c in enumerate(categories)}
    codes = np.array([index.get(v, -1) for v in text.tolist()], dtype=np.int64)
    unseen = np.flatnonzero(codes < 0)
    if unseen.size:
        row = int(unseen[0])
        shown = ", ".join(categories[:10]) + (", ..." if len(categories) > 10 else "")
        raise ValueError(f"{table.source}, {table.where(row)}, column {name!r}: category "
                         f"{_shown(text[row])} was not seen in training (known: {shown})")
    one_hot = np.zeros((len(codes), len(categories)))
    one_hot[np.arange(len(codes)), codes] = 1.0
    return one_hot


# ------------------------------------------------------------------ labels
def target_values(table, name):
    """The target column as numbers when every cell is one, else as text; no gaps allowed.

    Returns
    -------
    values : ndarray (n_rows,)
        float64, or text.
    raw : ndarray (n_rows,)
        The cells as the file holds them.

    Raises
    ------
    ValueError
        No such column, or a missing target (naming the row).
    """
    column = table.column(name)
    missing = _missing(column)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{table.source}, {table.where(row)}: the target {name!r} is missing "
                         f"({_shown(column[row])}); rows without a target cannot be used")
    if column.dtype.kind in "biuf":
        return column.astype(np.float64), column
    text = np.char.strip(column)
    if all(_is_number(c) for c in text.tolist()):
        return numeric_column(text, name, table), text
    return text, text


def fit_labels(table, name):
    """The class labels of a target column and each row's class index.

    Returns
    -------
    labels : list of str
        The classes as the file wrote them (numbers: their first spelling in
        the file), sorted by value.
    numeric : bool
        Whether the labels are numbers (``"1"`` and ``"1.0"`` are one class).
    y : ndarray (n_rows,) int64
    """
    values, raw = target_values(table, name)
    classes, first, y = np.unique(values, return_index=True, return_inverse=True)
    numeric = values.dtype.kind == "f"
    labels = [_label_text(raw[i]) for i in first] if numeric else [str(c) for c in classes]
    return labels, numeric, y.astype(np.int64)


def _label_text(cell):
    if isinstance(cell, (str, np.str_)):
        return str(cell)
    value = float(cell)
    return str(int(value)) if value.is_integer() else repr(value)


def label_indices(table, name, labels, numeric):
    """The class index of every row's target (see :func:`fit_labels`).

    Raises
    ------
    ValueError
        A missing target or a label the model does not know, naming the row.
    """
    values, raw = target_values(table, name)
    if numeric:
        if values.dtype.kind != "f":
            row = next(i for i, c in enumerate(values.tolist()) if not _is_number(c))
            raise ValueError(f"{table.source}, {table.where(row)}: the target {name!r} is "
                             f"{_shown(raw[row])}; the model's classes are numbers")
        keys, known = values.tolist(), {float(c): k for k, c in enumerate(labels)}
    else:
        keys, known = [str(v) for v in raw.tolist()], {c: k for k, c in enumerate(labels)}
    codes = np.array([known.get(k, -1) for k in keys], dtype=np.int64)
    unknown = np.flatnonzero(codes < 0)
    if unknown.size:
        row = int(unknown[0])
        raise ValueError(f"{table.source}, {table.where(row)}: the target {name!r} is "
                         f"{_shown(raw[row])}, not one of the model's classes "
                         f"({', '.join(labels)})")
    return codes


def infer_task(y):
    """'classification' for text or few integer values (<= 50 distinct), else 'regression'."""
    if y.dtype.kind in "USO" or y.dtype.kind == "b":
        return "classification"
    values = np.unique(y)
    if np.all(values == np.round(values)) and values.size <= 50:
        return "classification"
    return "regression"


def load_table(path, target):
    """The features, the target and the feature names of a file (``fastmlp.data_io``'s).

    The function of fastmlp 0.1.0, now on the one reader: text feature
    columns are one-hot encoded (:class:`TabularEncoder`, all rows),
    missing cells refused.

    Returns
    -------
    X : ndarray (n, d)
        float64; a converted file's memory map.
    y : ndarray (n,)
        The target: numbers when its cells all are, else text.
    feature_names : list of str

    Raises
    ------
    ValueError
        Unreadable file, no such target, no feature columns, a bad cell.
    """
    data = read_table(path)
    if isinstance(data, SparseTable) or isinstance(data, EncodedTable) and \
            is_svmlight_encoding(data.encoding):
        raise ValueError(f"{path} holds svmlight rows (sparse, no column names): read it with "
                         "fastmlp.data.svmlight.load_svmlight")
    if isinstance(data, EncodedTable):
        if target != data.target_name:
            raise ValueError(f"{path} was converted with the target {data.target_name!r}, "
                             f"not {target!r}")
        y = data.target if data.classes is None else np.asarray(data.classes)[data.target]
        return data.X, y, list(data.encoding["feature_names"])
    y, _ = target_values(data, target)
    features = data.without(target)
    if not features.names:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    encoder = TabularEncoder.fit(features)
    return encoder.transform(features), y, encoder.feature_names
