"""``fastmlp convert``: a CSV file too large for memory as a memory-mappable ``.npy`` file.

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

from .encoding import IMPUTE_METHODS, MISSING, TabularEncoder
from .tables import (
    CONVERT_FORMAT,
    Table,
    companion_paths,
    csv_records,
    is_converted,
    open_converted,
)

# the reading of converted files is fastmlp.data.tables'; its names are here
# too, where fastmlp 0.1.0's fastmlp.convert had them
__all__ = ["convert_csv", "ProgressLine", "CONVERT_FORMAT", "companion_paths", "is_converted",
           "open_converted"]
#: Rows encoded and written at a time in the second pass.
BLOCK_ROWS = 4096
#: Most classes a text target may have (their names are kept in memory).
MAX_CLASSES = 100_000


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
