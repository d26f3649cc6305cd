"""svmlight / libsvm text files: sparse rows and their labels, read fast, checked by line.

One row per line: ``label index:value index:value ... # comment``.

- ``label`` is a number; a multi-label row lists its labels separated by
  commas (``1,3``) and may list none (the line starts with its features).
- An optional ``qid:N`` after the label (a ranking group) is checked and
  ignored.
- The indices are integers, strictly increasing within a row; whether they
  count from 0 or 1 is decided when the features are taken
  (:meth:`SparseTable.features`): ``zero_based="auto"`` reads a file as
  one-based unless an index 0 appears in it, as scikit-learn's
  ``load_svmlight_file`` does.
- ``#`` starts a comment; blank lines and comment lines are skipped.

A file is parsed a block of text at a time (:func:`svmlight_blocks`, which
``fastmlp convert`` streams into memory-mappable arrays): the per-line work
in Python is a split of the label from the features; the features of a
block are checked and parsed as one buffer with NumPy.  When that finds a
problem, the lines up to it are read again one by one to name the first
bad line and what is wrong with it: a value that is not a number, an index
that is not an integer, is negative or does not increase, a token that is
not ``index:value``, a malformed label or ``qid``.  Rows without a label
are kept (a multi-label row may have none) and refused, naming the line,
where one label per row is needed (:meth:`SparseTable.single_labels`).
"""

from collections import namedtuple

import numpy as np

from .._utils.sparse import csr_on, index_dtype

__all__ = ["SparseTable", "Block", "svmlight_blocks", "read_svmlight", "load_svmlight",
           "label_text", "resolve_zero_based", "svmlight_encoding", "is_svmlight_encoding",
           "SUFFIXES", "ZERO_BASED_CHOICES", "SVMLIGHT"]

#: The file name endings read as svmlight / libsvm text.
SUFFIXES = (".svm", ".svmlight", ".libsvm")
#: The values of ``zero_based``.
ZERO_BASED_CHOICES = ("auto", True, False)
#: Bytes of text parsed at a time (a block ends at a line end): parsing one takes ~15x
#: its size in temporaries (a 4 MB block: ~60 MB).
BLOCK_BYTES = 1 << 22
#: ``"format"`` of the feature encoding of svmlight rows (:func:`svmlight_encoding`).
SVMLIGHT = "svmlight"

#: The rows of a block of lines, as written: ``labels`` (float64, every row's
#: labels one after another) and ``label_counts`` (per row), ``indices``
#: (int64, not shifted) and ``values`` (float64) of the features one row after
#: another, ``row_nnz`` (features per row) and ``lines`` (each row's line).
Block = namedtuple("Block", ["labels", "label_counts", "indices", "values", "row_nnz",
                             "lines"])

# bytes.split()'s whitespace: the bytes between tokens
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True
_COLON = ord(":")
_COLON_TO_SPACE = bytes.maketrans(b":", b" ")


class SparseTable:
    """The rows of an svmlight file: features with their indices as written, label sets.

    Parameters
    ----------
    indices : ndarray (nnz,) int64
        The feature indices as the file writes them (not shifted).
    values : ndarray (nnz,) float64
    indptr : ndarray (n_rows + 1,) int64
        Row ``i``'s features are ``indptr[i]:indptr[i + 1]``.
    labels : ndarray float64
        Every row's labels, one row after another.
    label_ptr : ndarray (n_rows + 1,) int64
        Row ``i``'s labels are ``labels[label_ptr[i]:label_ptr[i + 1]]``.
    lines : ndarray (n_rows,) int64
        Each row's line in the file (from 1).
    source : str
        The file, for messages.
    """

    def __init__(self, indices, values, indptr, labels, label_ptr, lines, source):
        self.indices, self.values, self.indptr = indices, values, indptr
        self.labels, self.label_ptr, self.lines = labels, label_ptr, lines
        self.source = source

    @property
    def n_rows(self):
        """Number of data rows."""
        return self.lines.size

    @property
    def nnz(self):
        """Number of stored features."""
        return self.values.size

    def where(self, row):
        """Where row ``row`` (from 0) is in the file: ``"line 7"``."""
        return f"line {self.lines[row]}"

    def _line_of_value(self, k):
        """The line of the row that stores the ``k``-th value."""
        return int(self.lines[np.searchsorted(self.indptr, k, side="right") - 1])

    def zero_based(self, zero_based="auto"):
        """Whether the indices count from 0: ``zero_based``, or for "auto" whether an index 0
        appears."""
        return resolve_zero_based(zero_based, self.indices)

    def features(self, zero_based="auto", n_features=None, dtype=np.float64):
        """The features as a SciPy CSR matrix, indexed from 0.

        Parameters
        ----------
        zero_based : {"auto", True, False}
            How the file counts its indices ("auto": see :meth:`zero_based`).
        n_features : int, optional
            The matrix's width (a file whose indices stop short of it is
            padded by the shape); default: the largest index's.
        dtype : float32 or float64

        Returns
        -------
        scipy.sparse.csr_matrix (n_rows, n_features)

        Raises
        ------
        ValueError
            An index 0 in a one-based file, an index beyond ``n_features``,
            naming the line; no feature in the file and no ``n_features``.
        """
        offset = 0 if self.zero_based(zero_based) else 1
        if offset and self.nnz and self.indices.min() == 0:
            k = int(np.argmin(self.indices))
            raise ValueError(f"{self.source}, line {self._line_of_value(k)}: index 0 in a file "
                             "read with one-based indices (zero_based=False, --zero-based "
                             "false)")
        width = int(self.indices.max()) + 1 - offset if self.nnz else 0
        if n_features is None:
            if width == 0:
                raise ValueError(f"{self.source}: no features in the file (every row is empty)")
            n_features = width
        elif width > n_features:
            k = int(np.argmax(self.indices >= n_features + offset))
            raise ValueError(f"{self.source}, line {self._line_of_value(k)}: index "
                             f"{self.indices[k]} is out of range: the data have {n_features} "
                             f"features (indices {offset} to {n_features - 1 + offset})")
        kind = index_dtype(n_features, self.nnz)
        indices = (self.indices - offset).astype(kind, copy=False)
        return csr_on(self.values.astype(dtype), indices, self.indptr.astype(kind),
                      (self.n_rows, n_features))

    def single_labels(self):
        """Every row's one label (float64).

        Raises
        ------
        ValueError
            A row without a label or with several, naming the line.
        """
        counts = np.diff(self.label_ptr)
        if (counts != 1).any():
            row = int(np.argmax(counts != 1))
            if counts[row] == 0:
                raise ValueError(f"{self.source}, {self.where(row)}: missing label (each row "
                                 "starts with its label)")
            shown = ",".join(label_text(v) for v in self._labels_of(row))
            raise ValueError(f"{self.source}, {self.where(row)}: several labels ({shown}); "
                             "a multi-label file is read as one (task 'multilabel', fastmlp "
                             "--task multilabel)")
        return self.labels.copy()

    def _labels_of(self, row):
        return self.labels[self.label_ptr[row]:self.label_ptr[row + 1]]

    def label_indicator(self, classes=None):
        """Each row's labels as a 0/1 row over ``classes`` (multi-label targets).

        Parameters
        ----------
        classes : array of float, optional
            The classes, sorted; default: every label in the file.

        Returns
        -------
        classes : ndarray (k,) float64
        Y : ndarray (n_rows, k) uint8
            ``Y[i, j]`` is 1 when row ``i`` lists ``classes[j]``.

        Raises
        ------
        ValueError
            A label not in ``classes``, naming the line.
        """
        classes = np.unique(self.labels) if classes is None else np.asarray(classes, np.float64)
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.label_ptr))
        columns = np.searchsorted(classes, self.labels).clip(0, max(classes.size - 1, 0))
        unknown = np.flatnonzero(classes[columns] != self.labels) if classes.size \
            else np.arange(self.labels.size)
        if unknown.size:
            k = int(unknown[0])
            known = ", ".join(label_text(c) for c in classes[:20])
            raise ValueError(f"{self.source}, {self.where(rows[k])}: label "
                             f"{label_text(self.labels[k])} is not one of the classes ({known})")
        Y = np.zeros((self.n_rows, classes.size), dtype=np.uint8)
        Y[rows, columns] = 1
        return classes, Y


def resolve_zero_based(zero_based, indices):
    """``zero_based`` (True or False) as given, or for "auto" whether ``indices`` (as written
    in a file) hold a 0.

    Raises
    ------
    ValueError
        Not one of :data:`ZERO_BASED_CHOICES`.
    """
    if zero_based == "auto":
        return bool(indices.size) and bool(indices.min() == 0)
    if zero_based is True or zero_based is False:
        return zero_based
    raise ValueError(f"zero_based must be 'auto', True or False, got {zero_based!r}")


def svmlight_encoding(n_features, zero_based):
    """How svmlight rows became a model's inputs, as JSON-able values: ``{"format":
    "svmlight", "n_features": ..., "zero_based": ...}``.

    The command line keeps it in the model's metadata (where a table's
    ``TabularEncoder.to_dict()`` goes), so that new files are read with the
    same indexing and width.
    """
    return {"format": SVMLIGHT, "n_features": int(n_features), "zero_based": bool(zero_based)}


def is_svmlight_encoding(encoding):
    """Whether a feature encoding (a model's ``metadata["features"]``) is
    :func:`svmlight_encoding`'s."""
    return isinstance(encoding, dict) and encoding.get("format") == SVMLIGHT


def label_text(value):
    """A label as text: ``3`` for 3.0, else ``repr(value)``."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# ------------------------------------------------------------------ reading
def read_svmlight(path, block_bytes=BLOCK_BYTES):
    """The rows of an svmlight / libsvm file, checked (see the module notes).

    Returns
    -------
    SparseTable

    Raises
    ------
    ValueError
        An unreadable file, a file without rows, a bad line (naming it).
    """
    blocks = list(svmlight_blocks(path, block_bytes))
    if not blocks or sum(b.lines.size for b in blocks) == 0:
        raise ValueError(f"{path}: no data rows (an svmlight file has a row per line: "
                         "label index:value ...)")

    def joined(name, dtype):
        return np.concatenate([getattr(b, name) for b in blocks]).astype(dtype, copy=False)

    indptr = np.concatenate(([0], np.cumsum(joined("row_nnz", np.int64))))
    label_ptr = np.concatenate(([0], np.cumsum(joined("label_counts", np.int64))))
    return SparseTable(joined("indices", np.int64), joined("values", np.float64), indptr,
                       joined("labels", np.float64), label_ptr, joined("lines", np.int64),
                       str(path))


def load_svmlight(path, zero_based="auto", n_features=None, dtype=np.float64, multilabel=False):
    """Features and targets of an svmlight / libsvm file, as scikit-learn's loader gives them.

    Parameters
    ----------
    path : str
    zero_based : {"auto", True, False}
        Whether the indices count from 0 ("auto": when an index 0 appears).
    n_features : int, optional
        The width of X (default: the largest index's).
    dtype : float32 or float64
        X's values.
    multilabel : bool
        Rows list any number of labels, separated by commas.

    Returns
    -------
    X : scipy.sparse.csr_matrix (n_rows, n_features)
    y : ndarray (n_rows,) float64, or for ``multilabel`` a list of tuples of float

    Raises
    ------
    ValueError
        A bad line (naming it); a missing label or several labels in a row
        unless ``multilabel``.
    """
    table = read_svmlight(path)
    X = table.features(zero_based, n_features, dtype)
    if not multilabel:
        return X, table.single_labels()
    y = [tuple(float(v) for v in table.labels[a:b])
         for a, b in zip(table.label_ptr[:-1], table.label_ptr[1:])]
    return X, y


def svmlight_blocks(path, block_bytes=BLOCK_BYTES):
    """The rows of an svmlight file as :class:`Block`\\ s, parsed ``block_bytes`` of text at a
    time (each block ending at a line end).

    Raises
    ------
    ValueError
        An unreadable file, or a bad line (naming it).
    """
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        first_line = 1
        while True:
            text = f.read(block_bytes)
            if not text:
                return
            if not text.endswith(b"\n"):
                text += f.readline()
            yield _parse_block(path, text.split(b"\n"), first_line)
            first_line += text.count(b"\n")


def _parse_block(path, lines, first_line):
    """The :class:`Block` of ``lines`` (bytes, without their ends), the first being line
    ``first_line`` of the file."""
    labels, label_counts, features, numbers = [], [], [], []
    for offset, line in enumerate(lines):
        head = line.split(b"#", 1)[0].split(None, 1)
        if not head:
            continue
        rest = head[1] if len(head) > 1 else b""
        try:
            if b":" in head[0]:  # no label: the features start the line
                row_labels, rest = (), head[0] + b" " + rest
            else:
                row_labels = [float(text) for text in head[0].split(b",")]
            if rest.startswith(b"qid:"):
                qid = rest.split(None, 1)
                int(qid[0][4:])
                rest = qid[1] if len(qid) > 1 else b""
        except ValueError:
            _raise_first_error(path, lines[:offset + 1], first_line)
        labels += row_labels
        label_counts.append(len(row_labels))
        features.append(rest)
        numbers.append(first_line + offset)
    labels = np.array(labels, dtype=np.float64)
    if not np.isfinite(labels).all():
        row = np.searchsorted(np.cumsum(label_counts), np.argmax(~np.isfinite(labels)), "right")
        _raise_first_error(path, lines, first_line, numbers[row])
    indices, values, row_nnz = _parse_features(path, lines, first_line, features, numbers)
    return Block(labels, np.array(label_counts, dtype=np.int64), indices, values, row_nnz,
                 np.array(numbers, dtype=np.int64))


def _parse_features(path, lines, first_line, features, numbers):
    """Indices, values and per-row counts of the rows' feature texts ``features``."""
    text = b"\n".join(features)
    chars = np.frombuffer(text, dtype=np.uint8)
    space = _WHITESPACE[chars]
    # a token starts after whitespace (or at the start) and ends before whitespace (or the end)
    starts, ends = ~space, ~space
    starts[1:] &= space[:-1]
    ends[:-1] &= space[1:]
    starts, ends = np.flatnonzero(starts), np.flatnonzero(ends) + 1
    row_ends = np.flatnonzero(chars == ord("\n"))
    row = np.searchsorted(row_ends, starts)  # each token's row
    colons = np.flatnonzero(chars == _COLON)
    token = np.searchsorted(starts, colons, side="right") - 1
    # each token holds one colon, with text on both sides of it
    bad = np.bincount(token, minlength=starts.size) != 1
    bad[token[(colons == starts[token]) | (colons + 1 == ends[token])]] = True
    if bad.any():
        _raise_first_error(path, lines, first_line, numbers[row[np.argmax(bad)]])
    halves = text.translate(_COLON_TO_SPACE).split()
    try:
        indices = np.fromiter(map(int, halves[0::2]), dtype=np.int64, count=starts.size)
        values = np.fromiter(map(float, halves[1::2]), dtype=np.float64, count=starts.size)
    except (ValueError, OverflowError):
        _raise_first_error(path, lines, first_line)
    wrong = (indices < 0) | ~np.isfinite(values)
    wrong[1:] |= (np.diff(indices) <= 0) & (row[1:] == row[:-1])  # not increasing in a row
    if wrong.any():
        _raise_first_error(path, lines, first_line, numbers[row[np.argmax(wrong)]])
    return indices, values, np.bincount(row, minlength=len(features))


# ------------------------------------------------------------------ errors
def _raise_first_error(path, lines, first_line, last=None):
    """ValueError naming the first bad line of ``lines`` (up to line ``last``) and its fault.

    The fast parse found a fault no later than ``last``; this reads the
    lines one by one, as the format defines them, to find the first.
    """
    for offset, line in enumerate(lines):
        number = first_line + offset
        problem = _line_problem(line.split(b"#", 1)[0])
        if problem is not None:
            raise ValueError(f"{path}, line {number}: {problem}")
        if last is not None and number >= last:
            break
    raise AssertionError(f"{path}: the fast parse found a fault that the line check did not "
                         f"(lines {first_line} to {last})")  # pragma: no cover


def _shown(token):
    return repr(token.decode("utf-8", errors="replace"))


def _line_problem(content):
    """What is wrong with one line's content (its comment removed), or None."""
    tokens = content.split()
    if not tokens:
        return None
    if b":" not in tokens[0]:
        label = tokens.pop(0)
        for text in label.split(b","):
            try:
                value = float(text)
            except ValueError:
                return f"the label {_shown(label)} is not a number (or numbers separated by " \
                       "commas)"
            if not np.isfinite(value):
                return f"the label {_shown(label)} is not a finite number"
    if tokens and tokens[0].startswith(b"qid:"):
        qid = tokens.pop(0)
        try:
            int(qid[4:])
        except ValueError:
            return f"{_shown(qid)} is not qid:INTEGER"
    previous = -1
    for token in tokens:
        index, colon, value = token.partition(b":")
        if not colon or not index or not value or b":" in value:
            return f"{_shown(token)} is not index:value"
        try:
            index = int(index)
        except ValueError:
            return f"the index {_shown(token.partition(b':')[0])} (in {_shown(token)}) is not " \
                   "an integer"
        try:
            number = float(value)
        except ValueError:
            return f"the value {_shown(value)} of index {index} is not a number"
        if not np.isfinite(number):
            return f"the value {_shown(value)} of index {index} is not a finite number"
        if index < 0:
            return f"the index {index} is negative"
        if index <= previous:
            return f"the index {index} follows {previous}: indices must increase within a row"
        previous = index
    return None
