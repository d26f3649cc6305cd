"""svmlight / libsvm files: the reader (against a hand-written file and scikit-learn's
writer and loader), its errors by line, the conversion into memory-mapped CSR arrays, and
the row ranges that split them without a copy."""

import io
import os

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, load_svmlight_file

from fastmlp._utils.sparse import csr_on, row_range
from fastmlp.data import convert as convert_module
from fastmlp.data.convert import convert_svmlight
from fastmlp.data.svmlight import SparseTable, load_svmlight, read_svmlight
from fastmlp.data.tables import EncodedTable, open_converted_csr, read_table, sparse_paths

HAND_WRITTEN = (b"# a comment line, then a blank one\n"
                b"\n"
                b"1 qid:3 2:0.5 7:-1.25e1 # two features\n"
                b"-1 1:3\r\n"
                b"2.5   \t 4:1 5:2 6:3\n"
                b"0\n"
                b"   # an indented comment\n"
                b"1 qid:4 9:0.125")


def _write(tmp_path, content, name="d.svm"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_a_hand_written_file(tmp_path):
    table = read_table(_write(tmp_path, HAND_WRITTEN))
    assert isinstance(table, SparseTable) and table.n_rows == 5
    assert table.lines.tolist() == [3, 4, 5, 6, 8]
    assert table.single_labels().tolist() == [1.0, -1.0, 2.5, 0.0, 1.0]
    # no index 0: one-based, so that index 9 is the 9th of 9 columns
    assert table.zero_based() is False
    X = table.features()
    assert isinstance(X, sp.csr_matrix) and X.shape == (5, 9) and X.dtype == np.float64
    expected = np.zeros((5, 9))
    expected[0, [1, 6]] = [0.5, -12.5]
    expected[1, 0] = 3
    expected[2, [3, 4, 5]] = [1, 2, 3]
    expected[4, 8] = 0.125
    np.testing.assert_array_equal(X.toarray(), expected)
    # said to be zero-based: one more column, nothing shifted
    X0 = table.features(zero_based=True, dtype=np.float32)
    assert X0.shape == (5, 10) and X0.dtype == np.float32
    np.testing.assert_array_equal(X0.toarray()[:, 1:], expected)


@pytest.mark.parametrize("zero_based", [True, False])
@pytest.mark.parametrize("with_qid", [False, True])
def test_files_written_by_scikit_learn_read_as_its_loader_reads_them(tmp_path, zero_based,
                                                                     with_qid):
    rng = np.random.default_rng(4)
    X = sp.random(60, 40, density=0.15, format="csr", random_state=4)
    X.data = rng.standard_normal(X.nnz) * 10.0 ** rng.integers(-5, 5, X.nnz)
    y = rng.integers(-2, 3, 60).astype(float)
    path = tmp_path / "sk.svm"
    dump_svmlight_file(X, y, str(path), zero_based=zero_based, comment="written by scikit-learn",
                       query_id=rng.integers(0, 5, 60) if with_qid else None)
    ours, labels = load_svmlight(path)
    theirs, their_labels = load_svmlight_file(str(path))
    assert ours.shape == theirs.shape
    assert (ours != theirs).nnz == 0 and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(labels, their_labels)
    # the same file and width scikit-learn reads with explicit indexing
    for zb in (True, False):
        try:
            theirs, _ = load_svmlight_file(str(path), zero_based=zb, n_features=45)
        except ValueError:  # an index 0 read as one-based
            assert zero_based and not zb
            with pytest.raises(ValueError, match="index 0 in a file read with one-based"):
                load_svmlight(path, zero_based=zb, n_features=45)
            continue
        mine, _ = load_svmlight(path, zero_based=zb, n_features=45)
        assert mine.shape == (60, 45) and (mine != theirs).nnz == 0


def test_multilabel_rows_read_as_scikit_learn_reads_them(tmp_path):
    rng = np.random.default_rng(5)
    X = sp.random(50, 30, density=0.2, format="csr", random_state=5)
    Y = (rng.random((50, 4)) < 0.35).astype(int)
    Y[3] = 0  # a row without labels
    path = tmp_path / "multi.svm"
    dump_svmlight_file(X, Y, str(path), multilabel=True, zero_based=False)
    ours, labels = load_svmlight(path, multilabel=True)
    theirs, their_labels = load_svmlight_file(str(path), multilabel=True)
    assert (ours != theirs).nnz == 0 and labels == their_labels and labels[3] == ()
    table = read_svmlight(path)
    classes, indicator = table.label_indicator()
    np.testing.assert_array_equal(classes, np.flatnonzero(Y.any(axis=0)))
    np.testing.assert_array_equal(indicator, Y[:, classes.astype(int)])
    first = int(np.argmax(Y.sum(axis=1) != 1))  # a row not of one label
    fault = "missing label" if Y[first].sum() == 0 else "several labels .*multilabel"
    with pytest.raises(ValueError, match=rf"multi.svm, line {first + 1}: {fault}"):
        table.single_labels()
    with pytest.raises(ValueError, match=rf"line {first + 1}: {fault}"):
        load_svmlight(path)


def test_blocks_of_any_size_read_the_same_rows(tmp_path):
    path = _write(tmp_path, (HAND_WRITTEN + b"\n") * 7)
    whole = read_svmlight(path)
    for block_bytes in (1, 17, 100, 10_000):
        parts = read_svmlight(path, block_bytes=block_bytes)
        for name in ("indices", "values", "indptr", "labels", "label_ptr", "lines"):
            np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name))
    assert whole.lines[-1] == 7 * 8 and whole.n_rows == 35


BAD_LINES = [
    (b"1 2:x", "the value 'x' of index 2 is not a number"),
    (b"1 2:0.5 3:1e", "the value '1e' of index 3 is not a number"),
    (b"1 two:1", "the index 'two' (in 'two:1') is not an integer"),
    (b"1 2.0:1", "the index '2.0' (in '2.0:1') is not an integer"),
    (b"1 -2:1", "the index -2 is negative"),
    (b"1 3:1 2:1", "the index 2 follows 3: indices must increase within a row"),
    (b"1 3:1 3:2", "the index 3 follows 3"),
    (b"1 3", "'3' is not index:value"),
    (b"1 3:", "'3:' is not index:value"),
    (b"1 :3", "':3' is not index:value"),
    (b"1 3:1:2 5", "'3:1:2' is not index:value"),
    (b"1 3:nan", "the value 'nan' of index 3 is not a finite number"),
    (b"1 3:inf", "the value 'inf' of index 3 is not a finite number"),
    (b"yes 3:1", "the label 'yes' is not a number"),
    (b"1,,2 3:1", "the label '1,,2' is not a number"),
    (b"nan 3:1", "the label 'nan' is not a finite number"),
    (b"1 qid:a 3:1", "'qid:a' is not qid:INTEGER"),
]


@pytest.mark.parametrize("bad, message", BAD_LINES)
@pytest.mark.parametrize("block_bytes", [1 << 20, 25])
def test_a_bad_line_is_named_with_what_is_wrong(tmp_path, bad, message, block_bytes):
    good = b"1 1:0.5 4:2\n# comment\n\n0 2:1\n"  # lines 1 to 4
    path = _write(tmp_path, good * 3 + bad + b"\n" + good + b"1 1:x\n")
    with pytest.raises(ValueError) as caught:
        read_svmlight(path, block_bytes=block_bytes)
    assert str(caught.value).startswith(f"{path}, line 13: {message}")


def test_labels_indexing_and_width_are_checked_by_line(tmp_path):
    path = _write(tmp_path, b"1 1:1\n2:1 5:1\n0 3:1 8:2\n0 0:1\n")
    table = read_svmlight(path)
    with pytest.raises(ValueError, match=r"d.svm, line 2: missing label"):
        table.single_labels()
    with pytest.raises(ValueError, match=r"line 4: index 0 in a file read with one-based"):
        table.features(zero_based=False)
    with pytest.raises(ValueError, match=r"line 3: index 8 is out of range: the data have 6 "
                                         r"features \(indices 0 to 5\)"):
        table.features(n_features=6)
    # an index 0 makes "auto" zero-based; a narrower file is padded to n_features
    assert table.features().shape == (4, 9) and table.features(n_features=12).shape == (4, 12)
    with pytest.raises(ValueError, match=r"line 3: label 0 is not one of the classes \(1, 2\)"):
        table.label_indicator(classes=[1.0, 2.0])
    for content, message in ((b"", "no data rows"), (b"# only a comment\n\n", "no data rows"),
                             (b"1\n2\n", "no features in the file")):
        with pytest.raises(ValueError, match=message):
            read_svmlight(_write(tmp_path, content)).features()


def test_the_file_types_are_read_by_the_one_dispatch(tmp_path):
    for suffix in (".svm", ".svmlight", ".libsvm", ".SVM"):
        assert isinstance(read_table(_write(tmp_path, HAND_WRITTEN, "d" + suffix)),
                          SparseTable)
    with pytest.raises(ValueError, match="cannot read .*missing.svm"):
        read_table(tmp_path / "missing.svm")


# ------------------------------------------------------------------ conversion
def _random_svm(path, rng, n=80, d=50, multilabel=False):
    X = sp.random(n, d, density=0.1, format="csr", random_state=rng)
    y = (rng.random((n, 3)) < 0.4).astype(int) if multilabel else rng.integers(0, 3, n)
    dump_svmlight_file(X, y, str(path), zero_based=False, multilabel=multilabel)
    return path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conversion_maps_the_rows_the_reader_reads(tmp_path, dtype):
    path = _random_svm(tmp_path / "news.svm", np.random.default_rng(6))
    stream = io.StringIO()
    meta = convert_svmlight(path, str(tmp_path / "out") + os.sep, dtype=dtype, progress=stream,
                            block_bytes=500)
    assert stream.getvalue().startswith("read: 80 rows, ")
    paths = sparse_paths(tmp_path / "out" / "news")
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.path.basename(p) for p in paths)
    table = read_svmlight(path)
    expected = table.features()
    X, target, stored = open_converted_csr(tmp_path / "out" / "news")
    assert stored == meta and meta["features"] == {"format": "svmlight", "n_features": 50,
                                                   "zero_based": False}
    assert meta["rows"] == 80 and meta["nnz"] == expected.nnz and not meta["multilabel"]
    for name in ("data", "indices", "indptr"):  # the files themselves, read in place
        array = getattr(X, name)
        assert isinstance(array, np.memmap) and not array.flags.writeable
    assert X.data.dtype == dtype and X.indices.dtype == np.int32
    assert (X != expected.astype(dtype)).nnz == 0
    np.testing.assert_array_equal(target, table.single_labels())
    # the metadata, the values' file or the folder name the conversion alike
    for name in (paths.meta, paths.data, tmp_path / "out"):
        data = read_table(name)
        assert isinstance(data, EncodedTable) and (data.X != X).nnz == 0


def test_a_multilabel_conversion_stores_rows_of_labels(tmp_path):
    path = _random_svm(tmp_path / "m.svm", np.random.default_rng(7), multilabel=True)
    meta = convert_svmlight(path, tmp_path / "conv", progress=io.StringIO())
    classes, indicator = read_svmlight(path).label_indicator()
    X, target, _ = open_converted_csr(tmp_path / "conv")
    assert meta["multilabel"] and meta["classes"] == [str(int(c)) for c in classes]
    assert target.dtype == np.uint8
    np.testing.assert_array_equal(target, indicator)


def _leftovers(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else None


@pytest.mark.parametrize("where", ["parse", "arrays", "target"])
def test_a_failed_or_interrupted_conversion_leaves_nothing(tmp_path, monkeypatch, where):
    path = _random_svm(tmp_path / "in.svm", np.random.default_rng(8), n=200)
    if where == "parse":  # a bad line near the end
        path.write_bytes(path.read_bytes() + b"1 3:x\n")
        with pytest.raises(ValueError, match="line 201"):
            convert_svmlight(path, str(tmp_path / "new") + os.sep, progress=io.StringIO(),
                             block_bytes=300)
        assert _leftovers(tmp_path / "new") is None  # the folder it made is gone too
        return

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert_module, "_write_csr" if where == "arrays" else "_write_target",
                        interrupted)
    (tmp_path / "out").mkdir()
    with pytest.raises(KeyboardInterrupt):
        convert_svmlight(path, tmp_path / "out", progress=io.StringIO())
    assert _leftovers(tmp_path / "out") == []


def test_a_conversion_refuses_rows_its_target_cannot_take(tmp_path):
    path = _write(tmp_path, b"1 1:1\n2:1\n0 3:1\n")
    with pytest.raises(ValueError, match=r"line 2: missing label .*--multilabel"):
        convert_svmlight(path, tmp_path / "a", progress=io.StringIO())
    meta = convert_svmlight(path, tmp_path / "b", multilabel=True, progress=io.StringIO())
    assert meta["classes"] == ["0", "1"]
    path = _write(tmp_path, b"1 1:1\n2 2:1\n0 0:1\n")
    with pytest.raises(ValueError, match=r"line 3: index 0 in a file read with one-based"):
        convert_svmlight(path, tmp_path / "c", zero_based=False, progress=io.StringIO())
    assert not any(p.name.startswith(("a.", "c.", ".fastmlp")) for p in tmp_path.iterdir())


# ------------------------------------------------------------------ row ranges
def test_row_ranges_are_views_of_the_arrays():
    X = sp.random(30, 12, density=0.3, format="csr", random_state=9, dtype=np.float32)
    for start, stop in ((0, 30), (5, 17), (29, 30), (10, 10)):
        part = row_range(X, start, stop)
        assert (part != X[start:stop]).nnz == 0 and part.shape == (stop - start, 12)
        if part.nnz:
            assert np.shares_memory(part.data, X.data)
            assert np.shares_memory(part.indices, X.indices)
    with pytest.raises(ValueError, match="inconsistent CSR arrays"):
        csr_on(X.data, X.indices, X.indptr, (31, 12))


# ------------------------------------------------------------------ against a reference
def _reference_rows(lines):
    """Each row's (labels, {index: value}) as the format defines them, or the number of the
    first line that breaks it: a slow, obvious reading of the lines (from 1)."""
    rows = []
    for number, line in enumerate(lines, start=1):
        tokens = line.split("#")[0].split()
        try:
            labels = []
            if tokens and ":" not in tokens[0]:
                labels = [float(v) for v in tokens.pop(0).split(",")]
            if tokens and tokens[0].startswith("qid:"):
                int(tokens.pop(0)[4:])
            features = {}
            for token in tokens:
                index, value = token.split(":")  # exactly one colon
                index, value = int(index), float(value)
                assert index >= 0 and (not features or index > max(features))
                features[index] = value
            assert all(np.isfinite(labels)) and all(np.isfinite(list(features.values())))
        except (ValueError, AssertionError):
            return number
        if tokens or labels or line.split("#")[0].strip():
            rows.append((labels, features))
    return rows


def _random_line(rng):
    """A line of the format, or now and then one with a fault somewhere."""
    parts = [str(rng.choice(["1", "-2", "0.5", "3", "1,2", "7"]))] if rng.random() < 0.9 else []
    if rng.random() < 0.2:
        parts.append("qid:7")
    indices = np.sort(rng.choice(20, rng.integers(0, 5), replace=False))
    parts += [f"{i}:{rng.choice(['1', '-2.5', '3e-2', '0'])}" for i in indices]
    if rng.random() < 0.15:  # a fault anywhere in the line
        bad = str(rng.choice(["5:x", "x:1", "2:", ":2", "1:2:3", "7", "6:nan", "qid:x",
                              "-1:1", "0:1", "19:1", "inf"]))
        parts.insert(int(rng.integers(0, len(parts) + 1)), bad)
    if rng.random() < 0.1:
        parts.append("# a comment 3:x")
    return " ".join(parts)


def test_random_lines_read_as_the_reference_reads_them(tmp_path):
    rng = np.random.default_rng(10)
    outcomes = {"read": 0, "refused": 0}
    for case in range(300):
        lines = [_random_line(rng) for _ in range(int(rng.integers(1, 8)))]
        path = _write(tmp_path, "\n".join(lines).encode())
        expected = _reference_rows(lines)
        block_bytes = int(rng.integers(1, 80))
        if isinstance(expected, int):
            outcomes["refused"] += 1
            with pytest.raises(ValueError, match=rf"d.svm, line {expected}: "):
                read_svmlight(path, block_bytes=block_bytes)
            continue
        outcomes["read"] += 1
        table = read_svmlight(path, block_bytes=block_bytes)
        assert table.n_rows == len(expected), case
        for row, (labels, features) in enumerate(expected):
            a, b = table.indptr[row], table.indptr[row + 1]
            assert table.indices[a:b].tolist() == list(features)
            assert table.values[a:b].tolist() == list(features.values())
            assert table.labels[table.label_ptr[row]:table.label_ptr[row + 1]].tolist() == labels
    assert min(outcomes.values()) > 50, outcomes  # both kinds of file were tried


def test_conversions_are_named_by_their_metadata_and_checked(tmp_path):
    (tmp_path / "t.csv").write_text("a,label\n1,yes\n2,no\n")
    convert_module.convert_csv(tmp_path / "t.csv", tmp_path / "t.npy", "label",
                               progress=io.StringIO())
    dense = read_table(tmp_path / "t.meta.json")  # a dense conversion: its .npy matrix
    assert isinstance(dense, EncodedTable) and isinstance(dense.X, np.memmap)
    path = _random_svm(tmp_path / "s.svm", np.random.default_rng(11))
    convert_svmlight(path, tmp_path / "s", progress=io.StringIO())
    with pytest.raises(IsADirectoryError, match=r"holds 2 \(s.meta.json, t.meta.json\)"):
        read_table(tmp_path)
    paths = sparse_paths(tmp_path / "s")
    np.save(paths.indptr, np.load(paths.indptr)[:-1])  # a row pointer cut short
    with pytest.raises(ValueError, match=r"the arrays' shapes .* do not match each other"):
        read_table(paths.meta)
    os.remove(paths.indices)
    with pytest.raises(ValueError, match=r"cannot read the converted data .*s.meta.json"):
        read_table(paths.meta)
