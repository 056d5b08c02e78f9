"""Real-world tables: one-hot text columns, ids, missing values, thousands separators,
sniffed delimiters, wide headers, the encoding a model keeps, and DataFrames in fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import DataError, read_csv
from chainrule.tables import Encoding, check_encoding

MESSY = Path(__file__).parent / "data" / "messy.csv"


def write(tmp_path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


# -- reading ---------------------------------------------------------------------------

def test_text_columns_become_one_hot_inputs_in_sorted_order(tmp_path):
    d = read_csv(write(tmp_path, "age,city,y\n20,Paris,1\n30,Lyon,2\n40,Paris,3\n50,Nice,4\n"))
    assert d.feature_names == ["age", "city=Lyon", "city=Nice", "city=Paris"]
    # row by row: age, then 1 in the column of the row's city
    np.testing.assert_array_equal(d.X, [[20, 0, 0, 1], [30, 1, 0, 0], [40, 0, 0, 1], [50, 0, 1, 0]])
    assert d.encoding == Encoding(["age", "city"], {"city": ["Lyon", "Nice", "Paris"]})
    assert any("'city' → 3 one-hot inputs" in note for note in d.notes)


def test_ids_are_left_out_with_a_note_unless_named(tmp_path):
    path = write(tmp_path, "id,name,x,y\n7,ann,1,2\n8,bob,3,4\n9,cy,5,6\n")
    d = read_csv(path)
    assert d.feature_names == ["x"]  # id by its name, name by being different on every row
    assert sum("left out" in note for note in d.notes) == 2
    d = read_csv(path, features="id,x")  # asked for: used as a number
    np.testing.assert_array_equal(d.X, [[7, 1], [8, 3], [9, 5]])


def test_thousands_separators_in_quoted_numbers(tmp_path):
    d = read_csv(write(tmp_path, 'size,price\n"1,200",5\n900,"1,234,567.5"\n'))
    np.testing.assert_array_equal(d.X, [[1200.0], [900.0]])
    np.testing.assert_array_equal(d.y, [[5.0], [1234567.5]])
    assert any("thousands separators" in note for note in d.notes)


@pytest.mark.parametrize("cell", ['"1,5"', '"12,34"'])
def test_a_decimal_comma_is_not_guessed_at(tmp_path, cell):
    # not groups of three digits: 1.5 or 15? chainrule says so instead of guessing
    with pytest.raises(DataError, match=r"line 3, column 'a': '1?2?,\d+' is not a number"):
        read_csv(write(tmp_path, f"a,y\n2,1\n{cell},2\n"))


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_the_delimiter_is_sniffed_and_said(tmp_path, sep, name):
    d = read_csv(write(tmp_path, sep.join(["a", "b", "y"]) + "\n" + sep.join(["1", "2.5", "3"]) +
                       "\n" + sep.join(["4", "5", "6"]) + "\n"))
    np.testing.assert_array_equal(d.X, [[1, 2.5], [4, 5]])
    assert any(name in note for note in d.notes)


def test_the_sniffer_wants_rows_that_agree_and_a_forced_delimiter_wins(tmp_path):
    # ',' and ';' both split the header in two; only ';' splits the rows the same way
    path = write(tmp_path, "a;b,c\n1;2\n4;5\n7;8\n")
    d = read_csv(path)
    assert d.feature_names == ["a"] and d.target_names == ["b,c"]
    np.testing.assert_array_equal(d.y, [[2], [5], [8]])
    with pytest.raises(DataError, match="line 2: 1 value"):
        read_csv(path, delimiter=",")
    # split at the wrong character, nothing is left to learn from: the message says so
    path = write(tmp_path, "a;b,c\n1;2,3\n4;5,6\n7;8,9\n")
    with pytest.raises(DataError, match=r"no columns left .*split at commas: a;b, c\); "
                                        "--delimiter sets the separator"):
        read_csv(path)


def test_missing_values_error_counts_rows_and_names_the_option(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,3\n4,,6\n,8,9\n10,11,12\n")
    with pytest.raises(DataError) as err:
        read_csv(path)
    text = str(err.value)
    assert "line 3, column 'b' is empty" in text and "2 row(s)" in text
    assert "--missing drop" in text and "--missing mean" in text and "\n" not in text


def test_missing_drop_and_mean(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,3\n4,,6\n,8,9\n10,11,\n")
    d = read_csv(path, missing="drop")
    np.testing.assert_array_equal(d.X, [[1, 2]])
    d = read_csv(path, missing="mean")
    # the last row has no target: left out; then a's mean over (1, 4) = 2.5, b's over (2, 8) = 5
    np.testing.assert_array_equal(d.X, [[1, 2], [4, 5], [2.5, 8]])
    np.testing.assert_array_equal(d.y, [[3], [6], [9]])
    assert any("without a target" in note for note in d.notes)


@pytest.mark.parametrize("blob", [b"\r\x00", b"\r", b" \r\x00\n1\n"])
def test_a_first_line_without_names_is_refused(tmp_path, blob):
    path = tmp_path / "odd.csv"  # found by hypothesis: a lone carriage return, a NUL
    path.write_bytes(blob)
    with pytest.raises(DataError, match="no header line|empty"):
        read_csv(path)


@pytest.mark.parametrize("text", ['id0,a1\r\n"1,000",', 'a\nx\n', 'n\n"a\nb"\n'])
def test_tables_a_fuzzer_found_give_one_clear_error(tmp_path, text):
    # a blank target column, a lone text column, a header with a line break in a name
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text.encode())
    for kwargs in ({}, {"task": "auto", "missing": "mean"}):
        with pytest.raises(DataError) as err:
            read_csv(path, **kwargs)
        assert "\n" not in str(err.value) and "\r" not in str(err.value)
    header_break = tmp_path / "names.csv"
    header_break.write_bytes(b'"a\nb",y\n1,2\n')
    with pytest.raises(DataError, match="holds a line break"):
        read_csv(header_break)


def test_a_column_of_blanks_is_refused_not_filled(tmp_path):
    path = write(tmp_path, "a,b,y\n1,,3\n4, ,6\n")
    with pytest.raises(DataError, match="column 'b' has no values at all"):
        read_csv(path, missing="mean")
    assert read_csv(path, features="a", missing="mean").X.tolist() == [[1], [4]]


@pytest.mark.parametrize("cell", ["1_000", "0x10", "١٢", "１２"])
def test_only_plain_decimal_numbers_are_numbers(tmp_path, cell):
    # one such cell among numbers: a mistake, named with its line
    with pytest.raises(DataError, match=f"line 3, column 'a': '{cell}' is not a number"):
        read_csv(write(tmp_path, f"a,y\n1,1\n{cell},2\n3,3\n"))


def test_a_million_column_header_is_refused_at_the_limit(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n")
    with pytest.raises(DataError, match=r"about 1,000,000 columns; chainrule reads at most 100,000"):
        read_csv(path)


def test_wide_but_allowed_headers_read(tmp_path):
    n = 3000
    path = write(tmp_path, ",".join(f"c{i}" for i in range(n)) + "\n" +
                 ",".join(str(i) for i in range(n)) + "\n")
    d = read_csv(path)
    assert d.X.shape == (1, n - 1) and d.X[0, -1] == n - 2 and d.y[0, 0] == n - 1


def test_duplicate_names_in_a_wide_header_are_listed_once(tmp_path):
    names = [f"c{i}" for i in range(5000)] + ["c7", "c7", "c9"]
    with pytest.raises(DataError, match=r"\['c7', 'c9'\] more than once"):
        read_csv(write(tmp_path, ",".join(names) + "\n" + ",".join("1" * len(names)) + "\n"))


def test_a_big_file_says_it_is_being_read(tmp_path, monkeypatch):
    from chainrule import csvfile

    monkeypatch.setattr(csvfile, "BIG_FILE", 10)  # bytes: this small file counts as big
    lines: list[str] = []
    read_csv(write(tmp_path, "a,y\n1,2\n3,4\n"), progress=lines.append)
    assert len(lines) == 1 and lines[0].startswith("reading ") and "MB" in lines[0]


# -- the encoding a model keeps --------------------------------------------------------

GOOD = {"inputs": ["age", "city"], "categories": {"city": ["Lyon", "Paris"]}}


@pytest.mark.parametrize("spec, field", [
    ([], "encoding must be an object"),
    ({"inputs": ["a"]}, "encoding must be an object"),
    ({**GOOD, "extra": 1}, "encoding must be an object"),
    ({**GOOD, "inputs": "age"}, "encoding.inputs"),
    ({**GOOD, "inputs": []}, "encoding.inputs"),
    ({**GOOD, "inputs": ["age", 3]}, "encoding.inputs"),
    ({**GOOD, "inputs": ["age", "city", "age"]}, "encoding.inputs"),
    ({**GOOD, "categories": []}, "encoding.categories"),
    ({**GOOD, "categories": {"town": ["a"]}}, "encoding.categories['town']"),
    ({**GOOD, "categories": {"city": []}}, "encoding.categories['city']"),
    ({**GOOD, "categories": {"city": ["a", 1]}}, "encoding.categories['city']"),
    ({**GOOD, "categories": {"city": ["a", "a"]}}, "encoding.categories['city']"),
    ({**GOOD, "categories": {"city": ["a", "b", "c"]}}, "make 4 inputs but the network takes 3"),
])
def test_a_bad_encoding_is_one_line_naming_the_field_and_file(spec, field):
    assert check_encoding(GOOD, 3, "m.safetensors").names() == ["age", "city=Lyon", "city=Paris"]
    with pytest.raises(DataError) as err:
        check_encoding(spec, 3, "m.safetensors")
    text = str(err.value)
    assert field in text and text.startswith("m.safetensors") and "\n" not in text


def test_an_edited_encoding_in_a_model_file_is_refused(tmp_path):
    model = cr.mlp([3, 1], seed=0)
    model.encoding = Encoding(["age", "city"], {"city": ["Lyon", "Paris"]})
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    assert cr.load(path).encoding == model.encoding
    import safetensors.numpy
    from safetensors import safe_open

    tensors = safetensors.numpy.load_file(str(path))
    with safe_open(str(path), "np") as fh:
        meta = json.loads(fh.metadata()["chainrule"])
    for edit, words in ((lambda e: e["categories"].update(city="Lyon"),  # the schema's types
                         r"m.safetensors.*encoding.categories.city"),
                        (lambda e: e["categories"]["city"].append("Nice"),  # how parts agree
                         r"m.safetensors is not a usable model file: its encoding.categories "
                         r"make 4 inputs but the network takes 3")):
        edited = json.loads(json.dumps(meta))
        edit(edited["encoding"])
        safetensors.numpy.save_file(tensors, str(path),
                                    metadata={"chainrule": json.dumps(edited)})
        with pytest.raises(DataError, match=words) as err:
            cr.load(path)
        assert "\n" not in str(err.value)


# -- DataFrames in fit -----------------------------------------------------------------

def test_fit_on_a_dataframe_with_text_is_fit_on_its_one_hot_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"age": [20.0, 30, 40, 50, 25, 35],
                       "city": ["Lyon", "Paris", "Lyon", "Nice", "Paris", "Lyon"]})
    y = np.array([1.0, 2, 3, 4, 1.5, 2.5])
    by_hand = np.column_stack([df["age"], df["city"] == "Lyon", df["city"] == "Nice",
                               df["city"] == "Paris"]).astype(float)
    a, b = cr.mlp([4, 3, 1], activation="tanh", seed=0), cr.mlp([4, 3, 1], activation="tanh", seed=0)
    cr.fit(a, df, y, epochs=3, lr=0.01, seed=0, scale="standard", engine="graph")
    cr.fit(b, by_hand, y, epochs=3, lr=0.01, seed=0, scale="standard", engine="graph")
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(wa, wb, err_msg=name)  # the same numbers, the same steps
    np.testing.assert_array_equal(a.predict(df), b.predict(by_hand))
    with pytest.warns(UserWarning, match="never saw \\(Rome\\)"):
        unseen = a.predict(pd.DataFrame({"age": [20.0], "city": ["Rome"]}))
    np.testing.assert_array_equal(unseen, b.predict(np.array([[20.0, 0, 0, 0]])))  # all zeros
    path = tmp_path / "m.safetensors"
    cr.save(a, path)
    np.testing.assert_array_equal(cr.load(path).predict(df), a.predict(df))
    with pytest.raises(DataError, match="a DataFrame with the columns age, city"):
        a.predict(df.to_numpy())  # text in an array: the model can't tell which column is which
    with pytest.raises(DataError, match="4 columns .*city → 3.* the network takes 2"):
        cr.fit(cr.mlp([2, 1]), df, y, epochs=1)


def test_a_fit_on_a_text_dataframe_resumes_into_a_fresh_model(tmp_path):
    """The checkpoint holds weights, not the encoding: a fresh model finds the same one-hot
    columns in the same data, and the resumed run ends where an unbroken run ends."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"age": [20.0, 30, 40, 50, 25, 35],
                       "city": ["Lyon", "Paris", "Lyon", "Nice", "Paris", "Lyon"]})
    y = np.array([1.0, 2, 3, 4, 1.5, 2.5])
    whole = cr.mlp([4, 3, 1], activation="tanh", seed=0)
    cr.fit(whole, df, y, epochs=4, lr=0.01, seed=0, engine="graph")
    first = cr.mlp([4, 3, 1], activation="tanh", seed=0)
    cr.fit(first, df, y, epochs=2, lr=0.01, seed=0, engine="graph", checkpoint=str(tmp_path / "c"))
    fresh = cr.mlp([4, 3, 1], activation="tanh", seed=0)
    cr.fit(fresh, df, y, epochs=4, lr=0.01, seed=0, engine="graph", resume=str(tmp_path / "c"))
    for (name, wa), wb in zip(whole.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(wa, wb, err_msg=name)


def test_a_dataframe_in_fit_leaves_its_ids_out_as_read_csv_does():
    """An ``id`` column and a text that differs on every row are ids: left out with a
    warning, so the model learns from age and city alone (one-hot) and predicts on frames
    that still carry them."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "name": list("abcdef"),
                       "age": [20.0, 30, 40, 50, 25, 35],
                       "city": ["Lyon", "Paris", "Lyon", "Nice", "Paris", "Lyon"]})
    y = np.array([1.0, 2, 3, 4, 1.5, 2.5])
    by_hand = np.column_stack([df["age"], df["city"] == "Lyon", df["city"] == "Nice",
                               df["city"] == "Paris"]).astype(float)
    a, b = cr.mlp([4, 3, 1], activation="tanh", seed=0), cr.mlp([4, 3, 1], activation="tanh", seed=0)
    with pytest.warns(UserWarning, match="left out 'id', an id \\(named id\\), 'name', an id"):
        cr.fit(a, df, y, epochs=3, lr=0.01, seed=0, scale="standard", engine="graph")
    cr.fit(b, by_hand, y, epochs=3, lr=0.01, seed=0, scale="standard", engine="graph")
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(wa, wb, err_msg=name)
    assert a.encoding.inputs == ["age", "city"]
    np.testing.assert_array_equal(a.predict(df), b.predict(by_hand))
    numbers = pd.DataFrame({"id": [7, 8, 9], "age": [20.0, 30, 40]})  # no text: ids still go
    c, d = cr.mlp([1, 1], seed=0), cr.mlp([1, 1], seed=0)
    with pytest.warns(UserWarning, match="left out 'id'"):
        cr.fit(c, numbers, y[:3], epochs=2, lr=0.01, seed=0, scale="standard", engine="graph")
    cr.fit(d, numbers[["age"]].to_numpy(), y[:3], epochs=2, lr=0.01, seed=0, scale="standard",
           engine="graph")
    np.testing.assert_array_equal(c.layers[0].weight.data, d.layers[0].weight.data)


def test_explain_of_a_one_hot_model_reads_its_data_with_missing_and_its_categories(tmp_path):
    """explain --model on a model with text inputs: the CSV is read once, with the
    command's --missing, through the model's own categories; the row's inputs are the
    model's scaled one-hot inputs (city Lyon → 1, 0, 0 before scaling)."""
    model = tmp_path / "m.safetensors"
    trained = cli("train", str(MESSY), "--missing", "drop", "--hidden", "2", "--epochs", "1",
                  "--engine", "graph", "--save", str(model))
    assert trained.returncode == 0, trained.stderr
    stopped = cli("explain", "--model", str(model), "--data", str(MESSY), "--row", "1")
    assert stopped.returncode == 1 and "--missing" in stopped.stderr
    assert len(stopped.stderr.strip().splitlines()) == 1
    shown = cli("explain", "--model", str(model), "--data", str(MESSY), "--missing", "drop",
                "--row", "1", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    row = json.loads(shown.stdout)["rows"][0]
    m = cr.load(model)
    names = m.metadata["features"]
    raw = np.array([[1200.0 if n == "size" else 50.0 if n == "income" else 3.0 if n == "rooms"
                     else float(n == "city=Lyon") for n in names]])  # line 2 of messy.csv
    np.testing.assert_allclose(row["x"], m.x_scaler.transform(raw)[0], rtol=1e-12)


# -- the command line, on a messy file -------------------------------------------------

def test_a_messy_csv_trains_in_one_command_and_predicts_an_unseen_category(tmp_path):
    # BOM, CRLF, an id, a text category, thousands separators, blank cells, a blank line
    assert MESSY.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in MESSY.read_bytes()
    model = tmp_path / "m.safetensors"
    result = cli("train", str(MESSY), "--missing", "mean", "--hidden", "3", "--epochs", "2",
                 "--engine", "graph", "--save", str(model))
    assert result.returncode == 0, result.stderr
    head = result.stdout.split("training loss")[0]  # the decisions, in one block before training
    for said in ("left out 'id'", "thousands separators", "filled missing values",
                 "'city' → 3 one-hot inputs", "regression"):
        assert said in head, said
    semi = MESSY.with_name("messy_semicolons.csv")  # the same table, ';' between columns
    again = cli("train", str(semi), "--missing", "mean", "--hidden", "3", "--epochs", "2",
                "--engine", "graph")
    assert again.returncode == 0, again.stderr
    assert "semicolons" in again.stdout.split("training loss")[0]
    new = write(tmp_path, 'city,size,income,rooms\nLyon,"1,000",50,3\nRome,1500,60,4\n', "new.csv")
    predicted = cli("predict", str(model), str(new))
    assert predicted.returncode == 0, predicted.stderr
    assert "never saw (Rome)" in predicted.stderr and "all 0" in predicted.stderr
    info = cli("info", str(model)).stdout
    assert "one-hot         city: Lyon, Nice, Paris" in info
    assert "inputs          city=Lyon, city=Nice, city=Paris, size, income, rooms" in info
    loaded = cr.load(model)
    by_hand = np.array([[1, 0, 0, 1000, 50, 3], [0, 0, 0, 1500, 60, 4]], dtype=float)
    expected = loaded.predict(by_hand)[:, 0]  # the one-hot inputs of Rome: all 0
    got = [float(line.rsplit(",", 1)[1]) for line in predicted.stdout.strip().splitlines()[1:]]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_missing_values_stop_the_cli_with_the_option_to_use():
    result = cli("train", str(MESSY), "--epochs", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error:") and "2 row(s)" in result.stderr
    assert "--missing drop" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_playground_upload_reads_a_messy_table_the_same_way():
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    import warnings

    with warnings.catch_warnings():  # Starlette ≥ 1.x prefers httpx2 but still takes httpx
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from chainrule.web.app import create_app

    client = TestClient(create_app())
    r = client.post("/api/upload", params={"name": "messy.csv"},
                    content=MESSY.with_name("messy_semicolons.csv").read_bytes(),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    state = r.json()
    # id left out, city one-hot (3), size, income, rooms; the two rows with a blank income
    # left out (the page has no --missing: it drops them and says so)
    assert state["network"]["inputs"] == ["city=Lyon", "city=Nice", "city=Paris", "size",
                                          "income", "rooms"]
    notes = " ".join(state["notes"])
    assert "left out 2 row(s)" in notes and "'id'" in notes and "semicolons" in notes
    assert len(state["data"]["rows"]) == 8


def test_the_reader_streams_the_same_cells_it_reads_whole(tmp_path):
    # one reader for the whole table or for blocks of it (the streaming reader's way in)
    from chainrule.csvfile import CsvFile

    lines = "".join(f"{i},{i * 0.5},{'abc'[i % 3]}\n" for i in range(70_000))  # ~1 MB
    path = write(tmp_path, "\ufeffa,b,c\n" + lines)
    source = CsvFile(path)
    whole = source.read(text=True)
    blocks = list(source.batches(block_size=1 << 16))
    assert len(blocks) > 10 and source.header == ["a", "b", "c"] and len(whole[0]) == 70_000
    for k in range(3):
        streamed = [cell for block in blocks for cell in block[k].to_pylist()]
        assert streamed == whole[k].to_pylist()
    assert whole[1][3].as_py() == "1.5" and whole[2][4].as_py() == "b"
