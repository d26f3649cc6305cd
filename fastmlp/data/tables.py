"""Data as users have it, read: one reader for every file type and every command.

:func:`read_table` reads a ``.csv`` file (header row), a ``.npz`` or a
``.npy`` file -- the reader of each type found by its suffix in
:data:`READERS`, so a new file type is one more entry -- into a
:class:`Table` that keeps the cells as they are: CSV cells as text,
``.npz``/``.npy`` columns as arrays, with where each row came from
(``line 7`` of a CSV file, ``row index 6`` of an array), so every error can
name the row, the column and the value.  A ``.npy`` file written by
``fastmlp convert`` (with its companion files, :func:`companion_paths`) is
read as an :class:`EncodedTable` instead: its features are encoded
already and memory-mapped, never read whole.

CSV files are parsed by one parser, :func:`csv_records`, consumed two ways:
whole by :func:`read_table`, row by row by the conversion of files larger
than memory (:mod:`fastmlp.data.convert`).  It skips blank lines, strips
the cells, and names the line of a ragged row, of text that is not UTF-8
and of malformed CSV.
"""

import csv
import json
import os
import zipfile

import numpy as np

__all__ = ["Table", "EncodedTable", "read_table", "READERS", "csv_records", "CONVERT_FORMAT",
           "companion_paths", "is_converted", "open_converted"]

#: ``"format"`` of the ``OUT.meta.json`` files that ``fastmlp convert`` writes.
CONVERT_FORMAT = "fastmlp.convert/1"


class Table:
    """Columns of a file, by name, with the origin of every row.

    Parameters
    ----------
    names : list of str
    columns : list of ndarray (n_rows,)
        Text (CSV cells) or numbers (arrays; NaN is a missing value).
    source : str
        The file, for messages.
    lines : sequence of int, optional
        The CSV line of each row; without it rows are named by index.
    positional : bool, default False
        The names were made up (``x0, x1, ...`` of a 2-D array): an encoder
        matches the columns by position.
    """

    def __init__(self, names, columns, source, lines=None, positional=False):
        self.names = list(names)
        self.columns = list(columns)
        self.source = source
        self.lines = None if lines is None else list(lines)
        self.positional = positional

    @property
    def n_rows(self):
        """Number of data rows."""
        return len(self.columns[0]) if self.columns else 0

    def where(self, row):
        """Where row ``row`` (from 0) is in the file: ``"line 7"`` or ``"row index 6"``."""
        return f"row index {row}" if self.lines is None else f"line {self.lines[row]}"

    def column(self, name):
        """The column called ``name``; ValueError listing the columns if there is none."""
        if name not in self.names:
            raise ValueError(f"{self.source}: no column named {name!r}; columns are: "
                             f"{', '.join(self.names)}")
        return self.columns[self.names.index(name)]

    def without(self, name):
        """A table without the column ``name`` (the same table when it has none)."""
        keep = [j for j, n in enumerate(self.names) if n != name]
        return Table([self.names[j] for j in keep], [self.columns[j] for j in keep],
                     self.source, self.lines, self.positional)


class EncodedTable:
    """Rows whose features are encoded already: a file of ``fastmlp convert``.

    The commands take its features as they are (no :class:`TabularEncoder
    <fastmlp.data.encoding.TabularEncoder>`), so a file type that holds a
    matrix -- dense or sparse -- is read as one of these.

    Parameters
    ----------
    X : ndarray (n_rows, n_features)
        The encoded features; of a converted file, memory-mapped read-only:
        nothing is read until used.
    target : ndarray (n_rows,)
        float64 values, or int64 indices into ``classes``.
    meta : dict
        The conversion's metadata (see :func:`fastmlp.data.convert.convert_csv`):
        ``"target"`` (the target column's name), ``"classes"`` (the labels of
        a text target, else None) and ``"features"`` (the encoding,
        ``TabularEncoder.to_dict()``).
    source : str
        The file, for messages.
    """

    def __init__(self, X, target, meta, source):
        self.X, self.target, self.meta, self.source = X, target, meta, source

    @property
    def n_rows(self):
        """Number of data rows."""
        return self.X.shape[0]

    @property
    def target_name(self):
        """The name of the target column the file was converted with."""
        return self.meta["target"]

    @property
    def classes(self):
        """The labels of a text target (``target`` indexes them), else None."""
        return self.meta["classes"]

    @property
    def encoding(self):
        """How the features were encoded (``TabularEncoder.to_dict()``)."""
        return self.meta["features"]


def read_table(path):
    """The rows of a ``.csv`` (header row), ``.npz`` or ``.npy`` file.

    A ``.npz`` file holds a 2-D array ``X`` (columns ``x0, x1, ...``) and/or
    1-D arrays, one per column; a ``.npy`` file one 2-D array, or the
    encoded features of ``fastmlp convert`` (:func:`is_converted`).  Arrays
    are read with ``allow_pickle=False``: object arrays are refused.

    Returns
    -------
    Table or EncodedTable
        An :class:`EncodedTable` for a converted ``.npy`` file.

    Raises
    ------
    ValueError
        Unreadable or unsupported file, ragged rows, no data rows.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: Is a directory, not a data file ({FILE_TYPES})")
    lower = str(path).lower()
    for suffix, reader in READERS.items():
        if lower.endswith(suffix):
            return reader(path)
    raise ValueError(f"{path}: unsupported file type; use {FILE_TYPES_HINT}")


def csv_records(path):
    """The header of a CSV file and an iterator over its data rows, parsed as they are read.

    The one CSV parser: :func:`read_table` reads all the rows, the
    conversion of a large file one at a time.  Blank lines are skipped (a
    line of empty fields is a row of gaps); cells are stripped.

    Returns
    -------
    header : list of str
    rows : iterator of (int, list of str)
        Each data row's line (the last line of a quoted multi-line cell)
        and its cells.  Reading it raises ValueError naming the line of a
        row whose number of fields is not the header's, of text that is
        not UTF-8, or of malformed CSV.

    Raises
    ------
    ValueError
        Unreadable file, or no header row.
    """
    try:
        # undecodable bytes pass as lone surrogates, so that the line that
        # holds them can be named (a strict decoder fails a whole block)
        f = open(path, newline="", encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    records = _records(path, f)
    header = next(records, None)
    if header is None:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    return header, records


def _records(path, f):
    """The header's cells, then ``(line, cells)`` of every data row of the open file ``f``."""
    with f:
        reader = csv.reader(_utf8_lines(path, f))
        header = None
        try:
            for cells in reader:
                if len(cells) > 1 or (cells and cells[0].strip()):
                    cells = [cell.strip() for cell in cells]
                    if header is None:
                        header = cells
                        yield header
                    elif len(cells) != len(header):
                        raise ValueError(f"{path}, line {reader.line_num}: {len(cells)} fields, "
                                         f"the header has {len(header)}")
                    else:
                        yield reader.line_num, cells
        except csv.Error as exc:
            raise ValueError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None


def _utf8_lines(path, f):
    """The lines of ``f`` (opened with ``errors="surrogateescape"``); ValueError naming the
    first line that is not UTF-8."""
    for number, line in enumerate(f, start=1):
        if not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{path}, line {number}: not UTF-8 text; {path} is not a "
                                 "UTF-8 text CSV file") from None
        yield line


def _read_csv(path):
    header, records = csv_records(path)
    lines, rows = [], []
    for line, cells in records:
        lines.append(line)
        rows.append(cells)
    if not rows:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    columns = [np.array(column, dtype=str) for column in zip(*rows)]
    return Table(header, columns, str(path), lines)


def _load_arrays(path):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path} as a NumPy file (refused or corrupt): "
                         f"{exc}") from None
    if isinstance(data, np.ndarray):
        return {"X": data}
    with data:
        try:
            return {k: data[k] for k in data.files}
        except ValueError as exc:  # object arrays need pickle: refused
            raise ValueError(f"{path}: refused to load ({exc})") from None


def _read_npz(path):
    arrays = _load_arrays(path)
    names, columns = [], []
    matrix = arrays.pop("X", None)
    if matrix is not None and matrix.ndim == 2:
        names += [f"x{j}" for j in range(matrix.shape[1])]
        columns += list(matrix.T)
    elif matrix is not None:
        arrays["X"] = matrix
    for name, value in arrays.items():
        if value.ndim != 1:
            raise ValueError(f"{path}: array {name!r} has shape {value.shape}; expected a 2-D "
                             "'X' and 1-D columns")
        names.append(name)
        columns.append(value)
    return _checked_arrays(path, names, columns, positional=False)


def _read_npy(path):
    if is_converted(path):
        X, target, meta = open_converted(path)
        return EncodedTable(X, target, meta, str(path))
    matrix = _load_arrays(path)["X"]
    if matrix.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (rows, features), got shape "
                         f"{matrix.shape}")
    names = [f"x{j}" for j in range(matrix.shape[1])]
    return _checked_arrays(path, names, list(matrix.T), positional=True)


def _checked_arrays(path, names, columns, positional):
    lengths = {name: len(c) for name, c in zip(names, columns)}
    if not columns or len(set(lengths.values())) != 1 or len(columns[0]) == 0:
        raise ValueError(f"{path}: the columns must have the same, non-zero number of rows; "
                         f"rows per column: {lengths}")
    for name, col in zip(names, columns):
        if col.dtype.kind not in "biufUS":
            raise ValueError(f"{path}: column {name!r} has dtype {col.dtype}; expected numbers "
                             "or text")
    columns = [c.astype(str) if c.dtype.kind == "S" else c for c in columns]
    return Table(names, columns, str(path), positional=positional)


#: The reader of each file type, by the end of its name (lower case): a
#: function of the path that returns a :class:`Table` or an
#: :class:`EncodedTable`.  A new file type is one more entry (and a word in
#: the hints below).
READERS = {".csv": _read_csv, ".txt": _read_csv, ".npz": _read_npz, ".npy": _read_npy}
#: The file types, for messages.
FILE_TYPES = ".csv, .npz or .npy"
FILE_TYPES_HINT = ".csv (with a header row), .npz or .npy"


# ------------------------------------------------------------------ converted files
def companion_paths(path):
    """The target and metadata files that go with a converted ``path`` (``X.npy``).

    Returns
    -------
    target_path, meta_path : str
        ``X.target.npy`` and ``X.meta.json``.
    """
    stem = str(path)[:-4] if str(path).lower().endswith(".npy") else str(path)
    return stem + ".target.npy", stem + ".meta.json"


def is_converted(path):
    """Whether ``path`` is a ``.npy`` file with the companion files of ``fastmlp convert``."""
    if not str(path).lower().endswith(".npy"):
        return False
    target_path, meta_path = companion_paths(path)
    return os.path.isfile(target_path) and os.path.isfile(meta_path)


def open_converted(path):
    """The features (memory-mapped, read-only), target and metadata of a converted file.

    Returns
    -------
    X : numpy.memmap (n_rows, n_features)
        Opened with ``mmap_mode="r"``: nothing is read until used.
    target : ndarray (n_rows,)
        float64 values, or int64 indices into ``meta["classes"]``.
    meta : dict
        See :func:`fastmlp.data.convert.convert_csv`.

    Raises
    ------
    ValueError
        Unreadable or inconsistent files.
    """
    target_path, meta_path = companion_paths(path)
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        X = np.load(path, mmap_mode="r", allow_pickle=False)
        target = np.load(target_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the converted data {path}: {exc}") from None
    if meta.get("format") != CONVERT_FORMAT:
        raise ValueError(f"{meta_path} was not written by fastmlp convert")
    if X.ndim != 2 or target.shape != (X.shape[0],) or \
            X.shape[1] != len(meta["features"]["feature_names"]):
        raise ValueError(f"{path}: shape {X.shape} does not match its target "
                         f"{target.shape} and {meta_path}")
    return X, target, meta

