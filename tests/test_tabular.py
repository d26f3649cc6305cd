"""Reading and encoding raw tables: one-hot categories, gaps, labels, row-naming errors."""

import io

import numpy as np
import pytest

from fastmlp.data.convert import convert_csv
from fastmlp.data.encoding import TabularEncoder, fit_labels, label_indices, target_values
from fastmlp.data.tables import READERS, EncodedTable, csv_records, read_table

TRAIN = "size,color,label\n1.5,red,yes\n2,blue,no\n\n3,red,yes\n4,green,no\n"


def _table(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return read_table(path)


def test_text_columns_are_one_hot_encoded_with_sorted_categories(tmp_path):
    table = _table(tmp_path, TRAIN)
    encoder = TabularEncoder.fit(table.without("label"))
    assert encoder.feature_names == ["size", "color=blue", "color=green", "color=red"]
    np.testing.assert_array_equal(encoder.transform(table.without("label")),
                                  [[1.5, 0, 0, 1], [2, 1, 0, 0], [3, 0, 0, 1], [4, 0, 1, 0]])
    # the stored description rebuilds the same encoder
    again = TabularEncoder.from_dict(encoder.to_dict())
    assert again.to_dict() == encoder.to_dict()


def test_columns_are_matched_by_name_and_extra_ones_reported(tmp_path):
    encoder = TabularEncoder.fit(_table(tmp_path, TRAIN).without("label"))
    new = _table(tmp_path, "id,color,size\n7,blue,9\n", "new.csv")
    np.testing.assert_array_equal(encoder.transform(new), [[9, 1, 0, 0]])
    assert encoder.unused_columns(new) == ["id"]
    with pytest.raises(ValueError, match="missing the feature column.*'size'"):
        encoder.transform(_table(tmp_path, "color\nred\n", "few.csv"))


def test_an_unseen_category_names_the_column_value_and_line(tmp_path):
    encoder = TabularEncoder.fit(_table(tmp_path, TRAIN).without("label"))
    new = _table(tmp_path, "size,color\n1,red\n2,purple\n", "new.csv")
    with pytest.raises(ValueError, match=r"new.csv, line 3, column 'color': category 'purple' "
                                         r"was not seen in training \(known: blue, green, red\)"):
        encoder.transform(new)


@pytest.mark.parametrize("cell", ["", "NA", "nan", "N/A"])
def test_missing_values_are_refused_with_line_and_column(cell, tmp_path):
    table = _table(tmp_path, f"size,color,label\n1,red,yes\n{cell},blue,no\n")
    with pytest.raises(ValueError, match=r"line 3, column 'size': missing value.*--impute"):
        TabularEncoder.fit(table.without("label"))


@pytest.mark.parametrize("method, fill", [("mean", 3.0), ("median", 2.0)])
def test_imputation_uses_the_training_rows_statistics(method, fill, tmp_path):
    text = "size,color,label\n1,red,a\n2,,b\nNA,blue,a\n6,red,b\n100,blue,a\n"
    table = _table(tmp_path, text).without("label")
    # rows 0, 1 and 3 train: size statistics from 1, 2, 6; color from red, red (row 1 is empty)
    encoder = TabularEncoder.fit(table, train_rows=[0, 1, 3], impute=method)
    X = encoder.transform(table)
    assert X[2, 0] == fill
    np.testing.assert_array_equal(X[1, 1:], [0, 1])  # the most frequent category: red
    gaps = _table(tmp_path, "size,color\n,\n", "new.csv")
    np.testing.assert_array_equal(encoder.transform(gaps), [[fill, 0, 1]])


def test_a_stray_word_in_a_numeric_column_is_an_error_unless_declared_categorical(tmp_path):
    table = _table(tmp_path, "a,b,y\n1,x,0\n2,3,1\n").without("y")
    with pytest.raises(ValueError, match=r"line 2, column 'b': 'x' is not numeric"):
        TabularEncoder.fit(table)
    encoder = TabularEncoder.fit(table, categorical=["b"])
    assert encoder.feature_names == ["a", "b=3", "b=x"]


def test_a_text_cell_in_a_numeric_column_at_predict_time_names_the_line(tmp_path):
    encoder = TabularEncoder.fit(_table(tmp_path, TRAIN).without("label"))
    with pytest.raises(ValueError, match=r"line 2, column 'size': 'big' is not a number"):
        encoder.transform(_table(tmp_path, "size,color\nbig,red\n", "new.csv"))


def test_labels_come_back_as_written_and_numbers_match_by_value(tmp_path):
    labels, numeric, y = fit_labels(_table(tmp_path, TRAIN), "label")
    assert (labels, numeric, y.tolist()) == (["no", "yes"], False, [1, 0, 1, 0])
    table = _table(tmp_path, "x,k\n1,10\n2,2\n3,10.0\n", "n.csv")
    labels, numeric, y = fit_labels(table, "k")
    assert (labels, numeric, y.tolist()) == (["2", "10"], True, [1, 0, 1])
    assert label_indices(table, "k", labels, numeric).tolist() == [1, 0, 1]
    other = _table(tmp_path, "x,k\n1,3\n", "o.csv")
    with pytest.raises(ValueError, match=r"line 2: the target 'k' is '3', not one of"):
        label_indices(other, "k", labels, numeric)


def test_a_missing_target_names_the_line(tmp_path):
    with pytest.raises(ValueError, match=r"line 3: the target 'label' is missing"):
        target_values(_table(tmp_path, "a,label\n1,x\n2,NA\n"), "label")


def test_arrays_are_read_without_pickle_and_rows_named_by_index(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1.0, 2.0], [np.nan, 4.0]]))
    table = read_table(tmp_path / "x.npy")
    assert table.positional and table.names == ["x0", "x1"]
    with pytest.raises(ValueError, match=r"row index 1, column 'x0': missing value"):
        TabularEncoder.fit(table)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="refused"):
        read_table(tmp_path / "o.npy")


# ------------------------------------------------- one CSV parser, read whole or streamed
def _both_readers(path):
    """What read_table and the streaming reader of fastmlp convert make of ``path``."""
    header, rows = csv_records(path)
    return read_table(path), header, list(rows)


def test_the_whole_file_and_the_streamed_rows_are_parsed_alike(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b" a , b\r\n\r\n1, x \r\n,\r\n\"2\n3\",y\r\n")
    table, header, rows = _both_readers(path)
    assert table.names == header == ["a", "b"]
    # blank line skipped, cells stripped, a line of empty fields kept as gaps, a quoted
    # cell over two lines named by its last line
    assert rows == [(3, ["1", "x"]), (4, ["", ""]), (6, ["2\n3", "y"])]
    assert table.lines == [3, 4, 6]
    assert [list(c) for c in table.columns] == [["1", "", "2\n3"], ["x", "", "y"]]


@pytest.mark.parametrize("content, message", [
    (b"a,b\n1,2\n3\n", r"t.csv, line 3: 1 fields, the header has 2"),
    (b"a,b\n1,2\n3,\xe9t\xe9\n4,5\n", r"t.csv, line 3: not UTF-8 text"),
    (b"a,b\n1,2\n3," + b"4" * 200_000 + b"\n", r"t.csv, line 3: malformed CSV \(field larger"),
])
def test_bad_rows_are_named_by_line_by_both_readers(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_table(path)
    _, rows = csv_records(path)
    with pytest.raises(ValueError, match=message):
        list(rows)


def test_text_that_is_utf8_beyond_ascii_is_read(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("größe,farbe\n1,grün\n2,blau\n", encoding="utf-8")
    table = read_table(path)
    assert table.names == ["größe", "farbe"] and list(table.column("farbe")) == ["grün", "blau"]


def test_one_dispatch_reads_every_file_type(tmp_path):
    assert set(READERS) >= {".csv", ".npz", ".npy"}
    with pytest.raises(ValueError, match="unsupported file type"):
        read_table(tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("a,label\n1,yes\n2,no\n")
    convert_csv(tmp_path / "t.csv", tmp_path / "t.npy", "label", progress=io.StringIO())
    data = read_table(tmp_path / "t.npy")
    assert isinstance(data, EncodedTable) and isinstance(data.X, np.memmap)
    assert data.target_name == "label" and data.classes == ["no", "yes"]
    assert data.target.tolist() == [1, 0] and data.X[:, 0].tolist() == [1.0, 2.0]


def test_the_names_of_fastmlp_0_1_0_read_through_the_one_reader(tmp_path):
    from fastmlp.data_io import infer_task, load_table
    from fastmlp.tabular import Table
    from fastmlp.tabular import TabularEncoder as OldEncoder
    from fastmlp.tabular import read_table as old_read

    assert OldEncoder is TabularEncoder and old_read is read_table and Table is not None
    path = tmp_path / "t.csv"
    path.write_text(TRAIN)
    X, y, names = load_table(path, "label")
    assert names == ["size", "color=blue", "color=green", "color=red"]
    np.testing.assert_array_equal(X, [[1.5, 0, 0, 1], [2, 1, 0, 0], [3, 0, 0, 1], [4, 0, 1, 0]])
    assert y.tolist() == ["yes", "no", "yes", "no"] and infer_task(y) == "classification"
