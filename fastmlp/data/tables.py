"""Data as users have it, read: one reader for every file type and every command.

:func:`read_table` reads a ``.csv`` file (header row), a ``.npz`` or a
``.npy`` file -- the reader of each type found by its suffix in
:data:`READERS`, so a new file type is one more entry -- into a
:class:`Table` that keeps the cells as they are: CSV cells as text,
``.npz``/``.npy`` columns as arrays, with where each row came from
(``line 7`` of a CSV file, ``row index 6`` of an array), so every error can
name the row, the column and the value.  An svmlight / libsvm file
(``.svm``, ``.svmlight``, ``.libsvm``) is read as a
:class:`~fastmlp.data.svmlight.SparseTable`: sparse rows and their labels.

The files of ``fastmlp convert`` are read as an :class:`EncodedTable`: their
features are encoded already and memory-mapped, never read whole -- a
``.npy`` matrix with its companion files (:func:`companion_paths`), or the
three arrays of a sparse matrix in compressed sparse rows
(:func:`sparse_paths`, opened as a SciPy CSR matrix on the mapped files).
Either is named by its ``.meta.json`` file (or its ``.npy`` file, or the
directory that holds it alone).

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
from collections import namedtuple

import numpy as np

from .._utils.sparse import csr_on
from .svmlight import SUFFIXES as SVMLIGHT_SUFFIXES
from .svmlight import read_svmlight

__all__ = ["Table", "EncodedTable", "read_table", "READERS", "csv_records", "CONVERT_FORMAT",
           "CSR_LAYOUT", "companion_paths", "sparse_paths", "SparsePaths", "is_converted",
           "open_converted", "open_converted_csr"]

#: ``"format"`` of the ``OUT.meta.json`` files that ``fastmlp convert`` writes.
CONVERT_FORMAT = "fastmlp.convert/1"
#: ``"layout"`` of the metadata of a converted sparse matrix (three arrays).
CSR_LAYOUT = "csr"
#: The end of a converted file's metadata file.
META_SUFFIX = ".meta.json"


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
    X : ndarray or scipy.sparse.csr_matrix (n_rows, n_features)
        The encoded features; of a converted file, memory-mapped read-only:
        nothing is read until used.
    target : ndarray (n_rows,) or (n_rows, n_classes)
        float64 values, int64 indices into ``classes``, or (multi-label)
        0/1 rows over ``classes``.
    meta : dict
        The conversion's metadata (see :func:`fastmlp.data.convert.convert_csv`
        and :func:`~fastmlp.data.convert.convert_svmlight`): ``"target"`` (the
        target column's name), ``"classes"`` (the labels of a text or
        multi-label target, else None) and ``"features"`` (the encoding:
        ``TabularEncoder.to_dict()``, or that of svmlight rows).
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
        """How the features were encoded (``TabularEncoder.to_dict()``, or for svmlight rows
        :func:`~fastmlp.data.svmlight.svmlight_encoding`)."""
        return self.meta["features"]

    @property
    def multilabel(self):
        """Whether each row's target is a 0/1 row over ``classes`` (a multi-label file)."""
        return bool(self.meta.get("multilabel", False))


def read_table(path):
    """The rows of a ``.csv`` (header row), ``.npz``, ``.npy`` or svmlight file.

    A ``.npz`` file holds a 2-D array ``X`` (columns ``x0, x1, ...``) and/or
    1-D arrays, one per column; a ``.npy`` file one 2-D array, or the
    encoded features of ``fastmlp convert`` (:func:`is_converted`).  Arrays
    are read with ``allow_pickle=False``: object arrays are refused.  The
    files of ``fastmlp convert`` are also named by their ``.meta.json``
    file, or by the directory that holds them alone.

    Returns
    -------
    Table, SparseTable or EncodedTable
        A :class:`~fastmlp.data.svmlight.SparseTable` for an svmlight file,
        an :class:`EncodedTable` for a converted file.

    Raises
    ------
    ValueError
        Unreadable or unsupported file, ragged rows, no data rows.
    """
    if os.path.isdir(path):
        return _read_meta(_only_meta_file(path))
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
    stem = str(path)[:-len(".data.npy")]
    if str(path).lower().endswith(".data.npy") and os.path.isfile(stem + META_SUFFIX):
        return _read_meta(stem + META_SUFFIX)  # the values of a converted sparse matrix
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


def _read_meta(path):
    """The converted file whose metadata is ``path`` (``OUT.meta.json``)."""
    stem = str(path)[:-len(META_SUFFIX)]
    if os.path.isfile(stem + ".npy") and not os.path.isfile(stem + ".data.npy"):
        return _read_npy(stem + ".npy")
    X, target, meta = open_converted_csr(stem)
    return EncodedTable(X, target, meta, str(path))


def _only_meta_file(folder):
    """The one ``.meta.json`` file in ``folder``; an error if there is none or several."""
    found = sorted(name for name in os.listdir(folder) if name.lower().endswith(META_SUFFIX))
    if len(found) != 1:
        which = f"holds {len(found)} ({', '.join(found)})" if found else "holds none"
        raise IsADirectoryError(f"{folder}: Is a directory, not a data file ({FILE_TYPES}); as "
                                "a directory it names the one file of fastmlp convert in it, "
                                f"but it {which}")
    return os.path.join(folder, found[0])


#: The reader of each file type, by the end of its name (lower case): a
#: function of the path that returns a :class:`Table`, a
#: :class:`~fastmlp.data.svmlight.SparseTable` or an :class:`EncodedTable`.
#: A new file type is one more entry (and a word in the hints below).
READERS = {".csv": _read_csv, ".txt": _read_csv, ".npz": _read_npz, ".npy": _read_npy,
           META_SUFFIX: _read_meta, **{suffix: read_svmlight for suffix in SVMLIGHT_SUFFIXES}}
#: The file types, for messages.
FILE_TYPES = ".csv, .npz, .npy or svmlight (.svm)"
FILE_TYPES_HINT = (".csv (with a header row), .npz, .npy, svmlight / libsvm (.svm, .svmlight, "
                   ".libsvm) or the .meta.json of fastmlp convert")


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



#: The files of a converted sparse matrix ``PREFIX``: ``PREFIX.data.npy``,
#: ``PREFIX.indices.npy`` and ``PREFIX.indptr.npy`` (the CSR arrays),
#: ``PREFIX.target.npy`` and ``PREFIX.meta.json``.
SparsePaths = namedtuple("SparsePaths", ["data", "indices", "indptr", "target", "meta"])


def sparse_paths(prefix):
    """The :class:`SparsePaths` of the converted sparse matrix ``prefix``."""
    prefix = str(prefix)
    return SparsePaths(*(prefix + end for end in (".data.npy", ".indices.npy", ".indptr.npy",
                                                  ".target.npy", META_SUFFIX)))


def open_converted_csr(prefix):
    """The features (a CSR matrix on the memory-mapped arrays), target and metadata of a
    sparse matrix converted to ``prefix`` (:func:`sparse_paths`).

    Returns
    -------
    X : scipy.sparse.csr_matrix (n_rows, n_features)
        Its three arrays opened with ``mmap_mode="r"``: nothing is read
        until used, nothing copied.
    target : ndarray (n_rows,) float64, or (n_rows, n_classes) uint8 (multi-label)
    meta : dict
        See :func:`fastmlp.data.convert.convert_svmlight`.

    Raises
    ------
    ValueError
        Missing, unreadable or inconsistent files.
    """
    paths = sparse_paths(prefix)
    try:
        with open(paths.meta, encoding="utf-8") as f:
            meta = json.load(f)
        data, indices, indptr = (np.load(p, mmap_mode="r", allow_pickle=False)
                                 for p in (paths.data, paths.indices, paths.indptr))
        target = np.load(paths.target, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the converted data {paths.meta}: {exc}") from None
    if meta.get("format") != CONVERT_FORMAT or meta.get("layout") != CSR_LAYOUT:
        raise ValueError(f"{paths.meta} was not written by fastmlp convert of a sparse file")
    n, d = meta["rows"], meta["features"]["n_features"]
    width = len(meta["classes"]) if meta.get("multilabel") else None
    if indptr.shape != (n + 1,) or data.shape != indices.shape or data.ndim != 1 \
            or int(indptr[0]) != 0 or int(indptr[-1]) != data.size \
            or target.shape != ((n,) if width is None else (n, width)):
        raise ValueError(f"{prefix}: the arrays' shapes (data {data.shape}, indices "
                         f"{indices.shape}, indptr {indptr.shape}, target {target.shape}) do "
                         f"not match each other and {paths.meta}")
    return csr_on(data, indices, indptr, (n, d)), target, meta
