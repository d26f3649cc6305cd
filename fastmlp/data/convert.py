"""``fastmlp convert``: a file too large for memory as memory-mappable ``.npy`` files.

A CSV file becomes a dense ``.npy`` matrix (:func:`convert_csv`, below); an
svmlight / libsvm file the three arrays of a sparse matrix in compressed
sparse rows (:func:`convert_svmlight`, at the end).

The CSV is read row by row, twice, by the parser every CSV reader shares
(:func:`fastmlp.data.tables.csv_records`: the same blank lines skipped, the
same cells, the same errors naming the line).  The first pass learns what
:class:`~fastmlp.data.encoding.TabularEncoder` would learn from the whole file
(each column's kind, its sorted categories, the imputation values) and
counts the rows; the second pass encodes blocks of rows with that encoder
-- the same code as in-memory training, so the same numbers and the same
errors naming the line and the column -- and writes them into the output
with :func:`numpy.lib.format.open_memmap`.  Next to ``OUT.npy``:

- ``OUT.target.npy``: the target, float64 values (a numeric target) or
  int64 indices into the class labels (a text target);
- ``OUT.meta.json``: the target's name and labels, and the feature encoding
  (``TabularEncoder.to_dict()``) that a model trained on the file keeps, so
  that ``fastmlp predict`` encodes new CSV rows the same way.

Memory: one block of rows, the categories of the text columns, and with
``impute`` one column at a time while its statistic is computed (the known
values of every column are spilled to a temporary float64 file next to the
output during the first pass).
"""

import json
import math
import os
import sys
import tempfile
import time

import numpy as np

from .._utils.sparse import index_dtype
from .encoding import IMPUTE_METHODS, MISSING, TabularEncoder
from .svmlight import (
    BLOCK_BYTES,
    label_text,
    resolve_zero_based,
    svmlight_blocks,
    svmlight_encoding,
)
from .tables import (
    CONVERT_FORMAT,
    CSR_LAYOUT,
    Table,
    companion_paths,
    csv_records,
    is_converted,
    open_converted,
    sparse_paths,
)

# the reading of converted files is fastmlp.data.tables'; its names are here
# too, where fastmlp 0.1.0's fastmlp.convert had them
__all__ = ["convert_csv", "convert_svmlight", "svmlight_prefix", "ProgressLine",
           "CONVERT_FORMAT", "companion_paths", "is_converted", "open_converted"]
#: Rows encoded and written at a time in the second pass.
BLOCK_ROWS = 4096
#: Most classes a text target may have (their names are kept in memory).
MAX_CLASSES = 100_000
#: Values copied at a time from the spilled arrays of a sparse file into the output.
COPY_VALUES = 1 << 22


class ProgressLine:
    """Rows done and rows per second on ``stream``: in place on a terminal, else a final line.

    Parameters
    ----------
    stream : file
    label : str
        What is being counted, e.g. ``"pass 1/2"``.
    interval : float
        Seconds between updates on a terminal.
    """

    def __init__(self, stream, label, interval=0.5):
        self.stream, self.label, self.interval = stream, label, interval
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())
        self.start = self.last = time.perf_counter()
        self.rows = 0

    def _text(self, now):
        rate = self.rows / max(now - self.start, 1e-9)
        return f"{self.label}: {self.rows:,} rows, {rate:,.0f} rows/s"

    def update(self, rows):
        """Record ``rows`` rows done; redraw on a terminal at most every ``interval`` s."""
        self.rows = rows
        now = time.perf_counter()
        if self.interactive and now - self.last >= self.interval:
            self.last = now
            self.stream.write("\r" + self._text(now))
            self.stream.flush()

    def close(self):
        """Write the final line (ending the in-place one on a terminal)."""
        self.stream.write(("\r" if self.interactive else "") + self._text(time.perf_counter())
                          + "\n")
        self.stream.flush()


def _is_missing(cell):
    return cell.lower() in MISSING


def _number(cell):
    try:
        return float(cell)
    except ValueError:
        return None


class _ColumnFacts:
    """What the first pass learns about one feature column."""

    def __init__(self, name, categorical):
        self.name, self.forced_categorical = name, categorical
        self.counts = {}  # text cell -> rows (text columns only: numbers are not kept)
        self.first_number = self.first_text = None  # (line, cell) of the first of each
        self.first_missing = None

    def see(self, line, cell):
        if _is_missing(cell):
            self.first_missing = self.first_missing or (line, cell)
            return math.nan
        value = None if self.forced_categorical else _number(cell)
        if value is None:
            self.first_text = self.first_text or (line, cell)
            self.counts[cell] = self.counts.get(cell, 0) + 1
            return math.nan
        self.first_number = self.first_number or (line, cell)
        if self.first_text is None and math.isinf(value):
            raise ValueError(f"line {line}, column {self.name!r}: {value} is not a finite "
                             "number")
        return value


def _first_pass(path, target, categorical, spill, progress):
    """Header, column facts, target facts and row count; known values go to ``spill``."""
    header, rows = csv_records(path)
    if target not in header:
        raise ValueError(f"{path}: no column named {target!r}; columns are: "
                         f"{', '.join(header)}")
    unknown = [c for c in categorical if c not in header or c == target]
    if unknown:
        raise ValueError(f"{path}: no feature column(s) {', '.join(unknown)} to treat as "
                         f"categorical; columns are: {', '.join(header)}")
    t = header.index(target)
    facts = [_ColumnFacts(n, n in categorical) for j, n in enumerate(header) if j != t]
    labels, numeric_target, n_rows, block = set(), True, 0, []
    for line, cells in rows:
        label = cells[t]
        if _is_missing(label):
            raise ValueError(f"{path}, line {line}: the target {target!r} is missing "
                             f"({label!r}); rows without a target cannot be used")
        numeric_target = numeric_target and _number(label) is not None
        if len(labels) <= MAX_CLASSES:  # a numeric target's values may all be distinct
            labels.add(label)
        elif not numeric_target:
            raise ValueError(f"{path}, line {line}: the text target {target!r} has more "
                             f"than {MAX_CLASSES:,} classes")
        try:
            block.append([fact.see(line, cell) for fact, cell
                          in zip(facts, cells[:t] + cells[t + 1:])])
        except ValueError as exc:
            raise ValueError(f"{path}, {exc}") from None
        n_rows += 1
        if len(block) == BLOCK_ROWS:
            spill.write(np.array(block, dtype=np.float64).tobytes())
            block = []
            progress.update(n_rows)
    if block:
        spill.write(np.array(block, dtype=np.float64).tobytes())
    progress.update(n_rows)
    progress.close()
    if n_rows == 0:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    return header, t, facts, (sorted(labels) if not numeric_target else None), n_rows


def _fitted_encoder(path, facts, spill_path, n_rows, impute):
    """The :class:`TabularEncoder` that ``TabularEncoder.fit`` would learn from the whole file."""
    spilled = None
    if impute is not None and facts:
        spilled = np.memmap(spill_path, dtype=np.float64, mode="r", shape=(n_rows, len(facts)))
    columns = []
    for j, fact in enumerate(facts):
        name = fact.name
        if impute is None and fact.first_missing is not None:
            line, cell = fact.first_missing
            raise ValueError(f"{path}, line {line}, column {name!r}: missing value ({cell!r}); "
                             "fill it in, or impute the features with statistics of the rows "
                             "(--impute mean or median)")
        if fact.first_text is not None and fact.first_number is not None:
            line, cell = fact.first_text
            raise ValueError(f"{path}, line {line}, column {name!r}: {cell!r} is not numeric, "
                             "but other cells of the column are numbers; correct the cell, or "
                             f"encode the column as categories (--categorical {name})")
        if fact.first_text is None:  # numbers (or only gaps) only
            fill = None
            if spilled is not None:
                column = np.asarray(spilled[:, j])  # one column in memory, for its statistic
                known = column[~np.isnan(column)]
                if known.size == 0:
                    raise ValueError(f"{path}: column {name!r} has no values to impute from")
                fill = float(np.mean(known) if impute == "mean" else np.median(known))
            columns.append({"name": name, "kind": "numeric", "fill": fill})
            continue
        fill = None
        if impute is not None:  # the most frequent category; ties: the first sorted
            fill = min(fact.counts, key=lambda c: (-fact.counts[c], c))
        columns.append({"name": name, "kind": "categorical",
                        "categories": sorted(fact.counts), "fill": fill})
    del spilled
    return TabularEncoder(columns, impute)


def _write_block(path, names, encoder, block, lines, features, start):
    """Encode ``block`` (rows of feature cells) into ``features[start:...]``."""
    table = Table(names, [np.array(col, dtype=str) for col in zip(*block)], str(path), lines)
    features[start:start + len(block)] = encoder.transform(table)


def _second_pass(path, t, encoder, classes, features, target_out, progress):
    """Encode every row into the memory maps ``features`` and ``target_out``."""
    _, rows = csv_records(path)
    names = encoder.input_names
    index = None if classes is None else {c: k for k, c in enumerate(classes)}
    block, lines, done = [], [], 0
    for line, cells in rows:
        label = cells[t]
        target_out[done + len(block)] = float(label) if index is None else index[label]
        block.append(cells[:t] + cells[t + 1:])
        lines.append(line)
        if len(block) == BLOCK_ROWS:
            _write_block(path, names, encoder, block, lines, features, done)
            done += len(block)
            block, lines = [], []
            progress.update(done)
    if block:
        _write_block(path, names, encoder, block, lines, features, done)
        done += len(block)
    progress.update(done)
    progress.close()
    return done


def convert_csv(path, out, target, dtype="float32", impute=None, categorical=(),
                progress=None):
    """Convert the CSV file ``path`` into ``out`` (``.npy``) and its companion files.

    The rows are streamed (never all in memory); see the module notes.

    Parameters
    ----------
    path : str
        CSV file with a header row.
    out : str
        The features' ``.npy`` file; ``OUT.target.npy`` and ``OUT.meta.json``
        are written next to it (see :func:`companion_paths`).
    target : str
        The target column.
    dtype : {"float32", "float64"}
        The features' dtype (the target is float64 or int64).
    impute : {None, "mean", "median"}
        Fill missing feature cells with statistics of all rows; None refuses
        them (ValueError naming the line and the column).
    categorical : sequence of str
        Columns one-hot encoded even where their cells are numbers.
    progress : file, optional
        Where the progress lines go (default: stderr).

    Returns
    -------
    dict
        The metadata written to ``OUT.meta.json``.

    Raises
    ------
    ValueError
        Unreadable file, missing target, ragged rows, a missing value without
        ``impute``, a malformed cell -- naming the line and the column.
    """
    if impute is not None and impute not in IMPUTE_METHODS:
        raise ValueError(f"impute must be None, 'mean' or 'median', got {impute!r}")
    if not str(out).lower().endswith(".npy"):
        raise ValueError(f"{out}: the output must be a .npy file")
    progress = sys.stderr if progress is None else progress
    folder = os.path.dirname(os.path.abspath(out))
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fastmlp-convert-") as scratch:
        spill_path = os.path.join(scratch, "known-values.f64")
        with open(spill_path, "wb") as spill:
            header, t, facts, classes, n_rows = _first_pass(
                path, target, list(categorical), spill, ProgressLine(progress, "pass 1/2"))
        encoder = _fitted_encoder(path, facts, spill_path, n_rows, impute)
        os.remove(spill_path)
        features_tmp = os.path.join(scratch, "features.npy")
        target_tmp = os.path.join(scratch, "target.npy")
        features = np.lib.format.open_memmap(features_tmp, mode="w+", dtype=np.dtype(dtype),
                                             shape=(n_rows, len(encoder.feature_names)))
        target_out = np.lib.format.open_memmap(
            target_tmp, mode="w+", shape=(n_rows,),
            dtype=np.float64 if classes is None else np.int64)
        _second_pass(path, t, encoder, classes, features, target_out,
                     ProgressLine(progress, "pass 2/2"))
        features.flush()
        target_out.flush()
        del features, target_out
        meta = {"format": CONVERT_FORMAT, "source": str(path), "rows": n_rows,
                "dtype": np.dtype(dtype).name, "target": header[t], "classes": classes,
                "features": encoder.to_dict()}
        target_path, meta_path = companion_paths(out)
        meta_tmp = os.path.join(scratch, "meta.json")
        with open(meta_tmp, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
        # renamed within one file system; the metadata last, so that a converted
        # file is only recognised (is_converted) once its parts are all in place
        os.replace(target_tmp, target_path)
        os.replace(features_tmp, out)
        os.replace(meta_tmp, meta_path)
    return meta


# ------------------------------------------------------------------ svmlight files
def svmlight_prefix(path, out):
    """The prefix of the files that :func:`convert_svmlight` writes for ``path`` into ``out``:
    ``out/STEM`` for a directory ``out`` (existing, or written with a trailing separator),
    else ``out`` itself (a ``.meta.json`` ending dropped)."""
    out = str(out)
    if os.path.isdir(out) or out.endswith((os.sep, "/")):
        stem = os.path.splitext(os.path.basename(str(path)))[0]
        return os.path.join(out, stem)
    return out[:-len(".meta.json")] if out.lower().endswith(".meta.json") else out


class _Spill:
    """The rows of an svmlight file as they are parsed, appended to raw files in ``scratch``,
    with what the conversion needs to know of them at the end."""

    NAMES = ("values", "indices", "row_nnz", "labels", "label_counts")

    def __init__(self, scratch, dtype):
        self.paths = {name: os.path.join(scratch, name + ".bin") for name in self.NAMES}
        self.dtypes = {"values": np.dtype(dtype), "indices": np.dtype(np.int64),
                       "row_nnz": np.dtype(np.int64), "labels": np.dtype(np.float64),
                       "label_counts": np.dtype(np.int64)}
        self.files = {name: open(path, "wb") for name, path in self.paths.items()}
        self.rows = self.nnz = self.n_labels = 0
        self.min_index, self.max_index = None, -1
        self.first_zero_line = self.unlabelled_line = self.multilabel_line = None
        self.classes = set()

    def add(self, block):
        """Append a :class:`~fastmlp.data.svmlight.Block` and note its facts."""
        for name in self.NAMES:
            self.files[name].write(getattr(block, name).astype(self.dtypes[name]).tobytes())
        if block.indices.size:
            low = int(block.indices.min())
            self.min_index = low if self.min_index is None else min(self.min_index, low)
            self.max_index = max(self.max_index, int(block.indices.max()))
            if low == 0 and self.first_zero_line is None:
                row = np.searchsorted(np.cumsum(block.row_nnz), np.argmin(block.indices), "right")
                self.first_zero_line = int(block.lines[row])
        counts = block.label_counts
        if self.unlabelled_line is None and (counts == 0).any():
            self.unlabelled_line = int(block.lines[np.argmax(counts == 0)])
        if self.multilabel_line is None and (counts > 1).any():
            self.multilabel_line = int(block.lines[np.argmax(counts > 1)])
        if len(self.classes) <= MAX_CLASSES:  # kept for a multi-label target
            self.classes.update(np.unique(block.labels).tolist())
        self.rows += block.lines.size
        self.nnz += block.values.size
        self.n_labels += block.labels.size

    def close(self):
        for f in self.files.values():
            f.close()

    def array(self, name):
        """The spilled array ``name`` (a read-only memory map; empty: an array)."""
        size = {"values": self.nnz, "indices": self.nnz, "row_nnz": self.rows,
                "label_counts": self.rows, "labels": self.n_labels}[name]
        if size == 0:
            return np.zeros(0, dtype=self.dtypes[name])
        return np.memmap(self.paths[name], dtype=self.dtypes[name], mode="r", shape=(size,))


def _multilabel_choice(path, spill, multilabel):
    """Whether the converted target is multi-label: ``multilabel``, or for None whether a
    row lists several labels; ValueError naming the line of a row a single-label target
    cannot take."""
    if multilabel is None:
        multilabel = spill.multilabel_line is not None
    if not multilabel and spill.unlabelled_line is not None:
        raise ValueError(f"{path}, line {spill.unlabelled_line}: missing label (each row starts "
                         "with its label; a multi-label file may list none: --multilabel)")
    if not multilabel and spill.multilabel_line is not None:
        raise ValueError(f"{path}, line {spill.multilabel_line}: several labels; convert a "
                         "multi-label file with --multilabel")
    if multilabel and not spill.classes:
        raise ValueError(f"{path}: no labels in the file")
    if multilabel and len(spill.classes) > MAX_CLASSES:
        raise ValueError(f"{path}: more than {MAX_CLASSES:,} distinct labels for a "
                         "multi-label target")
    return multilabel


def _write_csr(spill, scratch, offset, n_features):
    """The CSR arrays, with indices from 0, written into ``scratch`` from the spilled rows."""
    kind = index_dtype(n_features, spill.nnz)
    written = {}
    for name, dtype, size in (("data", spill.dtypes["values"], spill.nnz),
                              ("indices", kind, spill.nnz), ("indptr", kind, spill.rows + 1)):
        written[name] = os.path.join(scratch, name + ".npy")
        out = np.lib.format.open_memmap(written[name], mode="w+", dtype=dtype, shape=(size,))
        if name == "indptr":
            out[0] = 0
            np.cumsum(spill.array("row_nnz"), out=out[1:])
        else:
            source = spill.array("values" if name == "data" else "indices")
            for start in range(0, size, COPY_VALUES):
                part = source[start:start + COPY_VALUES]
                out[start:start + part.size] = part - offset if name == "indices" else part
        out.flush()
        del out
    return written


def _write_target(spill, scratch, multilabel):
    """The target, into ``scratch``: float64 values, or 0/1 rows over the classes."""
    target_path = os.path.join(scratch, "target.npy")
    labels, counts = spill.array("labels"), spill.array("label_counts")
    if not multilabel:
        out = np.lib.format.open_memmap(target_path, mode="w+", dtype=np.float64,
                                        shape=(spill.rows,))
        out[:] = labels
        out.flush()
        return target_path, None
    classes = np.array(sorted(spill.classes), dtype=np.float64)
    out = np.lib.format.open_memmap(target_path, mode="w+", dtype=np.uint8,
                                    shape=(spill.rows, classes.size))
    label_ptr = np.concatenate(([0], np.cumsum(counts)))
    for start in range(0, spill.rows, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, spill.rows)
        part = np.asarray(labels[label_ptr[start]:label_ptr[stop]])
        rows = np.repeat(np.arange(stop - start), counts[start:stop])
        block = np.zeros((stop - start, classes.size), dtype=np.uint8)
        block[rows, np.searchsorted(classes, part)] = 1
        out[start:stop] = block
    out.flush()
    return target_path, [label_text(c) for c in classes]


def convert_svmlight(path, out, dtype="float32", zero_based="auto", multilabel=None,
                     progress=None, block_bytes=BLOCK_BYTES):
    """Convert the svmlight / libsvm file ``path`` into a memory-mappable sparse matrix.

    The text is parsed once, a block at a time (never all in memory; never
    a dense matrix), into raw files next to the output; the CSR arrays are
    then written from them, the indices shifted to count from 0.  Every
    file is written under a temporary name and renamed into place at the
    end -- the metadata last -- so that a failed or interrupted conversion
    leaves nothing behind.

    Parameters
    ----------
    path : str
        svmlight / libsvm file (see :mod:`fastmlp.data.svmlight`).
    out : str
        A directory (the files are then ``out/STEM.*``, ``STEM`` the
        input's name without its suffix) or the prefix of the files:
        ``PREFIX.data.npy``, ``PREFIX.indices.npy``, ``PREFIX.indptr.npy``
        (the CSR arrays), ``PREFIX.target.npy``, ``PREFIX.meta.json``
        (:func:`~fastmlp.data.tables.sparse_paths`).
    dtype : {"float32", "float64"}
        The values' dtype (the indices are int32, or int64 when needed).
    zero_based : {"auto", True, False}
        Whether the file's indices count from 0 ("auto": when an index 0
        appears).
    multilabel : bool, optional
        Rows list any number of labels (the target is then 0/1 rows over
        the sorted labels, uint8); default: when a row lists several.
        Otherwise the target is each row's label, float64.
    progress : file, optional
        Where the progress line goes (default: stderr).
    block_bytes : int
        Bytes of text parsed at a time.

    Returns
    -------
    dict
        The metadata written to ``PREFIX.meta.json``: ``format``,
        ``layout`` (``"csr"``), ``source``, ``rows``, ``nnz``, ``dtype``,
        ``target`` (``"label"``), ``classes`` (the labels of a multi-label
        target, else None), ``multilabel`` and ``features``
        (:func:`~fastmlp.data.svmlight.svmlight_encoding`: the number of
        features and whether the file counted from 0).

    Raises
    ------
    ValueError
        A bad line (naming it), a row without a label in a single-label
        file, an index 0 in a file said to be one-based, no rows.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    resolve_zero_based(zero_based, np.zeros(0))  # ValueError for a bad value, before reading
    progress = sys.stderr if progress is None else progress
    prefix = svmlight_prefix(path, out)
    folder = os.path.dirname(os.path.abspath(prefix))
    made = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".fastmlp-convert-") as scratch:
            return _convert_svmlight(path, prefix, scratch, dtype, zero_based, multilabel,
                                     ProgressLine(progress, "read"), block_bytes)
    except BaseException:
        if made and not os.listdir(folder):
            os.rmdir(folder)
        raise


def _convert_svmlight(path, prefix, scratch, dtype, zero_based, multilabel, progress,
                      block_bytes):
    spill = _Spill(scratch, dtype)
    try:
        for block in svmlight_blocks(path, block_bytes):
            spill.add(block)
            progress.update(spill.rows)
    finally:
        spill.close()
    progress.close()
    if spill.rows == 0:
        raise ValueError(f"{path}: no data rows (an svmlight file has a row per line: "
                         "label index:value ...)")
    multilabel = _multilabel_choice(path, spill, multilabel)
    zero_based = zero_based if zero_based != "auto" else spill.min_index == 0
    offset = 0 if zero_based else 1
    if offset and spill.first_zero_line is not None:
        raise ValueError(f"{path}, line {spill.first_zero_line}: index 0 in a file read with "
                         "one-based indices (--zero-based false)")
    n_features = spill.max_index + 1 - offset
    if n_features <= 0:
        raise ValueError(f"{path}: no features in the file (every row is empty)")
    written = _write_csr(spill, scratch, offset, n_features)
    written["target"], classes = _write_target(spill, scratch, multilabel)
    meta = {"format": CONVERT_FORMAT, "layout": CSR_LAYOUT, "source": str(path),
            "rows": spill.rows, "nnz": spill.nnz, "dtype": np.dtype(dtype).name,
            "target": "label", "classes": classes, "multilabel": multilabel,
            "features": svmlight_encoding(n_features, zero_based)}
    written["meta"] = os.path.join(scratch, "meta.json")
    with open(written["meta"], "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    final = sparse_paths(prefix)
    # renamed within one file system; the metadata last, so that the files are only
    # read as a conversion once they are all in place
    for name in ("data", "indices", "indptr", "target", "meta"):
        os.replace(written[name], getattr(final, name))
    return meta
