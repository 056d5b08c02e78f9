"""read_csv and as_arrays: good tables read exactly, bad ones refused with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import DataError, read_csv
from chainrule.data import as_arrays


def write(tmp_path, text: str, name: str = "data.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_a_good_file(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,3\n4.5,-5,6e1\n")
    d = read_csv(path)
    np.testing.assert_array_equal(d.X, [[1.0, 2.0], [4.5, -5.0]])
    np.testing.assert_array_equal(d.y, [[3.0], [60.0]])
    assert d.X.dtype == np.float64
    assert d.feature_names == ["a", "b"] and d.target_names == ["y"]
    assert d.source == str(path) and len(d) == 2
    assert any("'y'" in note and "last column" in note for note in d.notes)


def test_target_default_is_the_last_column(tmp_path):
    path = write(tmp_path, "y,a,z\n1,2,3\n4,5,6\n")
    d = read_csv(path)
    assert d.target_names == ["z"] and d.feature_names == ["y", "a"]
    np.testing.assert_array_equal(d.y, [[3.0], [6.0]])


def test_named_target_and_features(tmp_path):
    path = write(tmp_path, "a,b,c,y\n1,2,3,4\n5,6,7,8\n")
    d = read_csv(path, target="a")
    assert d.feature_names == ["b", "c", "y"] and d.notes == []
    np.testing.assert_array_equal(d.y, [[1.0], [5.0]])
    d = read_csv(path, target="y", features="c,a")
    assert d.feature_names == ["c", "a"]
    np.testing.assert_array_equal(d.X, [[3.0, 1.0], [7.0, 5.0]])
    d = read_csv(path, target=["y", "b"], features=["a"])
    np.testing.assert_array_equal(d.y, [[4.0, 2.0], [8.0, 6.0]])
    np.testing.assert_array_equal(d.X, [[1.0], [5.0]])


def test_byte_order_mark(tmp_path):
    path = write(tmp_path, "a,y\n1,2\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    d = read_csv(path, target="y")
    assert d.feature_names == ["a"]
    np.testing.assert_array_equal(d.X, [[1.0]])


def test_blank_lines_and_windows_line_ends(tmp_path):
    path = write(tmp_path, "\n a , y \r\n\r\n1, 2\r\n\n  \n3,4\r\n\n")
    d = read_csv(path)
    assert d.feature_names == ["a"] and d.target_names == ["y"]
    np.testing.assert_array_equal(d.X, [[1.0], [3.0]])
    np.testing.assert_array_equal(d.y, [[2.0], [4.0]])


def test_quoted_fields(tmp_path):
    path = write(tmp_path, '"IQ","grade, final","Package (LPA)"\n"80","8",5\n60,"5","3"\n')
    d = read_csv(path)
    assert d.feature_names == ["IQ", "grade, final"] and d.target_names == ["Package (LPA)"]
    np.testing.assert_array_equal(d.X, [[80.0, 8.0], [60.0, 5.0]])
    d = read_csv(path, target="grade, final")  # a name containing the comma
    assert d.target_names == ["grade, final"]


def test_float32(tmp_path):
    d = read_csv(write(tmp_path, "a,y\n0.1,2\n"), dtype=np.float32)
    assert d.X.dtype == np.float32 and d.X[0, 0] == np.float32(0.1)


# -- errors -----------------------------------------------------------------------------

def message_of(path, **kwargs) -> str:
    with pytest.raises(DataError) as err:
        read_csv(path, **kwargs)
    assert isinstance(err.value, chainrule.ChainruleError)
    text = str(err.value)
    assert "\n" not in text  # one line
    return text


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    text = message_of(path)
    assert "no such file" in text and "nope.csv" in text


def test_a_folder_is_not_a_file(tmp_path):
    assert "folder" in message_of(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    text = message_of(write(tmp_path, content))
    assert "empty" in text and "header" in text


def test_header_only(tmp_path):
    assert "no rows" in message_of(write(tmp_path, "a,b,y\n"))


def test_missing_target_column_lists_the_columns(tmp_path):
    text = message_of(write(tmp_path, "IQ,CGPA,Package\n1,2,3\n"), target="salary")
    assert "'salary'" in text and "IQ, CGPA, Package" in text


def test_missing_feature_column_lists_the_columns(tmp_path):
    text = message_of(write(tmp_path, "a,b,y\n1,2,3\n"), target="y", features="a,q")
    assert "'q'" in text and "a, b, y" in text


def test_feature_that_is_also_the_target(tmp_path):
    text = message_of(write(tmp_path, "a,b,y\n1,2,3\n"), target="y", features="a,y")
    assert "both" in text and "'y'" in text


def test_non_numeric_cell_names_line_and_column(tmp_path):
    text = message_of(write(tmp_path, "a,b,y\n1,2,3\n4,five,6\n"))
    assert "line 3" in text and "'b'" in text and "'five'" in text and "not a number" in text


def test_non_numeric_cell_in_an_unused_column_is_fine(tmp_path):
    d = read_csv(write(tmp_path, "name,a,y\nann,1,2\nbob,3,4\n"), target="y", features="a")
    np.testing.assert_array_equal(d.X, [[1.0], [3.0]])


def test_empty_cell(tmp_path):
    text = message_of(write(tmp_path, "a,b,y\n1,2,3\n4,,6\n"))
    assert "line 3" in text and "'b'" in text and "empty" in text


@pytest.mark.parametrize("cell", ["nan", "NaN", " NAN "])
def test_nan_cell(tmp_path, cell):
    text = message_of(write(tmp_path, f"a,y\n1,2\n{cell},4\n"))
    assert "line 3" in text and "'a'" in text and "NaN" in text


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e999"])
def test_infinite_cell(tmp_path, cell):
    text = message_of(write(tmp_path, f"a,y\n1,2\n3,{cell}\n"))
    assert "line 3" in text and "'y'" in text and cell.strip() in text


@pytest.mark.parametrize("row", ["1,2", "1,2,3,4"])
def test_ragged_row(tmp_path, row):
    text = message_of(write(tmp_path, f"a,b,y\n1,2,3\n{row}\n"))
    n = len(row.split(","))
    assert "line 3" in text and f"{n} value(s)" in text and "3 columns" in text


def test_duplicate_column_names(tmp_path):
    text = message_of(write(tmp_path, "a,b,a,y\n1,2,3,4\n"))
    assert "['a']" in text and "more than once" in text


def test_unnamed_column(tmp_path):
    assert "column 2" in message_of(write(tmp_path, "a,,y\n1,2,3\n"))


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9,y\n1,2\n".encode("latin-1"))
    assert "UTF-8" in message_of(path)


# -- arrays -----------------------------------------------------------------------------

def test_as_arrays_makes_columns_and_names():
    d = as_arrays([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert d.X.shape == (3, 1) and d.y.shape == (3, 1)
    assert d.feature_names == ["x1"] and d.target_names == ["y1"]


def test_as_arrays_points_at_the_first_bad_value():
    X = np.ones((4, 3))
    X[2, 1] = np.nan
    X[3, 0] = np.nan
    with pytest.raises(DataError, match=r"2 NaN .*row 3, column 'x2'"):
        as_arrays(X, np.ones(4))
    with pytest.raises(DataError, match="table"):
        as_arrays(np.ones((2, 2, 2)), np.ones(2))


def test_labels_are_coded_by_the_given_classes_in_their_order():
    from chainrule.data import encode_labels
    classes = np.array(["virginica", "setosa", "versicolor"])  # not sorted
    found, onehot = encode_labels(["setosa", "virginica", "setosa", "versicolor"], classes)
    assert found.tolist() == classes.tolist()
    assert onehot.argmax(axis=1).tolist() == [1, 0, 1, 2]
    mixed = np.array([1, "one"], dtype=object)  # labels that don't compare: looked up one by one
    assert encode_labels(np.array(["one", 1, 1], dtype=object), mixed)[1].argmax(axis=1).tolist() == [1, 0, 0]
    with pytest.raises(DataError, match="'two' is not one of the model's classes"):
        encode_labels(["one", "two"], np.array(["one", "three"]))
    with pytest.raises(DataError, match="label 0.5 is not one"):
        encode_labels([0.0, 0.5], np.array([0, 1]))


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf")])
def test_missing_labels_among_text_are_an_error_not_a_class(missing):
    from chainrule.data import encode_labels
    labels = np.array(["cat", missing, "dog", missing], dtype=object)
    with pytest.raises(DataError, match="missing"):
        encode_labels(labels)
    with pytest.raises(DataError, match="missing"):
        chainrule.fit(chainrule.mlp([1, 2]), np.ones((4, 1)), labels, loss="cross_entropy",
                      epochs=1)


def test_pandas_missing_labels_are_an_error_too():
    pd = pytest.importorskip("pandas")
    from chainrule.data import encode_labels
    with pytest.raises(DataError, match="missing"):
        encode_labels(pd.Series(["cat", pd.NA, "dog"], dtype=object))


def test_label_codes_agree_with_python_equality_in_the_corner_cases():
    from chainrule.data import encode_labels
    # duplicate classes: the last one wins, as a dict lookup gives
    assert encode_labels(["a", "b"], np.array(["a", "a", "b"]))[1].argmax(axis=1).tolist() == [1, 2]
    with pytest.raises(DataError, match="not one of the model's classes"):
        encode_labels([1], np.array([], dtype=int))
    with pytest.raises(DataError, match="not one of the model's classes"):  # 2**53 + 1 ≠ 2.0**53
        encode_labels(np.array([2.0 ** 53]), np.array([2 ** 53 + 1, 3]))
    assert encode_labels(np.array([1.0, 2.0]), np.array([2, 1]))[1].argmax(axis=1).tolist() == [1, 0]


@pytest.mark.parametrize("labels", [
    [3, 1, 3, 7], np.array([-5, 2, -5, 0], dtype=np.int8), np.array([-128, 127, 0], dtype=np.int8),
    np.array([0], dtype=np.uint8), np.array([65535, 0], dtype=np.uint16),
    np.array([2**64 - 1, 2**64 - 3], dtype=np.uint64), [2**63 - 1, 2**63 - 2], [-2**63, -2**63 + 5],
    [2**62, -2**62], [10**9 + 3, 10**9], np.array([4, 4, 4], dtype=np.int32),
    np.random.default_rng(0).integers(0, 10, 1797), np.random.default_rng(1).integers(-900, 900, 50),
    np.random.default_rng(2).integers(-400, 500, 50),  # wider than 50 labels, within 1,024
    np.arange(40, dtype=">i8")[::-3], np.arange(12, dtype=np.uint32).repeat(2)[::2],
    [True, False, True], [1.5, 0.5, 1.5], ["b", "a", "b"],
])
def test_classes_found_by_counting_are_numpys_unique(labels):
    # integers over a narrow range are counted, not sorted: the same classes, same dtype
    from chainrule.data import _unique
    arr = np.asarray(labels)
    arr.flags.writeable = False
    found, codes = _unique(arr)
    want, want_codes = np.unique(arr, return_inverse=True)
    assert found.dtype == want.dtype and found.tolist() == want.tolist()
    assert codes.dtype == want_codes.dtype and codes.tolist() == want_codes.tolist()


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, below
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("shape", [(3, 2), (300, 120)])  # big float32/64: Σ a² first
def test_all_finite_finds_any_bad_number_and_survives_sums_that_overflow(dtype, shape):
    from chainrule.data import all_finite
    arr = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    assert all_finite(arr) and all_finite(arr[:, ::2])  # contiguous or not
    for bad in (np.nan, np.inf, -np.inf):
        for where in ((0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, 1)):
            spoilt = arr.copy()
            spoilt[where] = bad
            assert not all_finite(spoilt)
    huge = np.full(shape, np.finfo(dtype).max / 2, dtype=dtype)  # Σ a² overflows; all finite
    tiny = np.full(shape, np.finfo(dtype).smallest_subnormal, dtype=dtype)  # Σ a² underflows
    with np.errstate(all="raise"):  # and no warning escapes, nor an error
        assert all_finite(huge) and all_finite(tiny)
    assert all_finite(np.arange(6).reshape(3, 2))
    assert all_finite(np.asmatrix(arr)) and not all_finite(np.asmatrix(spoilt))


@pytest.mark.parametrize("columns", [1, 2, 3, 16, 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["standard", "minmax"])
@pytest.mark.parametrize("rows", [300, 25_001, "strided"])
def test_a_scaler_gives_numpys_broadcast_numbers_for_narrow_and_wide_tables(columns, dtype, kind,
                                                                            rows):
    """(x − offset) / scale and back, with NumPy's broadcasting as the reference: a table
    of up to 16 columns is scaled in tiles of rows (25,001 rows: several tiles, the last
    one short), a wider one or one whose rows are not in order by broadcasting; all give
    these very numbers, in the table's number type."""
    from chainrule.data import Scaler
    n = 600 if rows == "strided" else rows
    X = (np.random.default_rng(columns).normal(size=(n, columns)) * 7 + 3).astype(dtype)
    if rows == "strided":
        X = X[::2]
    scaler = Scaler.fit(kind, X)
    offset, scale = scaler.offset.astype(dtype), scaler.scale.astype(dtype)
    Z = scaler.transform(X)
    assert Z.dtype == dtype
    np.testing.assert_array_equal(Z, (X - offset) / scale)
    np.testing.assert_array_equal(scaler.inverse(Z), Z * scale + offset)
    np.testing.assert_allclose(scaler.inverse(Z), X, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
