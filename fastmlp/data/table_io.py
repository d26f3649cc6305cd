"""Reading tabular data for the command line: CSV with a header, or NPZ.

A CSV file has a header row naming its columns; every column but the target
must be numeric.  An NPZ file holds either a 2-D array ``X`` plus a 1-D
target array, or one 1-D array per column.  NPZ files are read with
``allow_pickle=False``: object arrays are refused, never unpickled.
"""

import csv
import zipfile

import numpy as np

__all__ = ["load_table", "infer_task"]


def load_table(path, target):
    """Features and target column of a CSV or NPZ file.

    Parameters
    ----------
    path : str
        ``.csv`` (header row required) or ``.npz`` file.
    target : str
        Name of the target column (CSV header entry, or NPZ array name).

    Returns
    -------
    X : ndarray (n, d) float64
    y : ndarray (n,)
        The target column, numeric when it parses as numbers, else strings.
    feature_names : list of str

    Raises
    ------
    ValueError
        Missing file or target, ragged rows, non-numeric features, no rows.
    """
    lower = str(path).lower()
    if lower.endswith(".npz"):
        return _load_npz(path, target)
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return _load_csv(path, target)
    raise ValueError(f"{path}: unsupported file type; "
                     "use a .csv file with a header row or a .npz file")


def _load_csv(path, target):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text CSV file") from None
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise ValueError(f"{path}: no column named {target!r}; columns are: {', '.join(header)}")
    body = rows[1:]
    for i, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}, line {i}: {len(r)} fields, the header has {len(header)}")
    t = header.index(target)
    columns = list(zip(*body))
    y = _maybe_numeric(np.array([c.strip() for c in columns[t]]))
    names = [h for j, h in enumerate(header) if j != t]
    feats = []
    for j, col in enumerate(columns):
        if j == t:
            continue
        try:
            feats.append(np.array([float(c) for c in col]))
        except ValueError:
            bad = next(c for c in col if not _is_float(c))
            raise ValueError(f"{path}: column {header[j]!r} is not numeric (value {bad!r}); "
                             "only the target column may hold text") from None
    if not feats:
        raise ValueError(f"{path}: no feature columns besides the target {target!r}")
    return np.column_stack(feats), y, names


def _load_npz(path, target):
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot read {path} as an NPZ file: {exc}") from None
    with data:
        try:
            arrays = {k: data[k] for k in data.files}
        except ValueError as exc:  # object arrays need pickle: refused
            raise ValueError(f"{path}: refused to load ({exc})") from None
    if target not in arrays:
        raise ValueError(f"{path}: no array named {target!r}; arrays are: {', '.join(arrays)}")
    y = arrays.pop(target)
    if y.ndim != 1:
        raise ValueError(f"{path}: target {target!r} must be 1-D, got shape {y.shape}")
    if "X" in arrays and arrays["X"].ndim == 2:
        X = arrays["X"]
        names = [f"x{j}" for j in range(X.shape[1])]
    else:
        names = list(arrays)
        cols = [arrays[k] for k in names]
        if not cols or any(c.ndim != 1 or c.shape[0] != y.shape[0] for c in cols):
            raise ValueError(f"{path}: expected a 2-D array 'X' or 1-D columns of length "
                             f"{y.shape[0]}")
        X = np.column_stack(cols)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: X has {X.shape[0]} rows but {target!r} has {y.shape[0]}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: features must be numeric, got dtype {X.dtype}")
    return X.astype(np.float64), _maybe_numeric(y), names


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _maybe_numeric(column):
    if column.dtype.kind in "biuf":
        return column
    try:
        return column.astype(np.float64)
    except ValueError:
        return column.astype(str)


def infer_task(y):
    """'classification' for text or few integer values (<= 50 distinct), else 'regression'."""
    if y.dtype.kind in "USO" or y.dtype.kind == "b":
        return "classification"
    values = np.unique(y)
    if np.all(values == np.round(values)) and values.size <= 50:
        return "classification"
    return "regression"
