"""Streams of chunks: statistics by merging, validation rows by hash, the shuffle buffer,
files read a block at a time, and ``import chainrule`` staying free of Dask."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from chainrule.data import Scaler
from chainrule.errors import ConfigError, DataError
from chainrule.stream import Moments, TableStream, chunks, files, scan, shuffled, validation_rows


def cut(X: np.ndarray, y: np.ndarray, sizes: list[int]):
    """X and y cut into chunks of the given sizes (the last takes the rest)."""
    edges = np.cumsum([0] + sizes)
    parts = [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]
    if edges[-1] < len(X):
        parts.append((X[edges[-1]:], y[edges[-1]:]))
    return parts


def test_import_chainrule_leaves_dask_and_pyarrow_alone():
    code = ("import sys, chainrule, chainrule.stream; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ))
    assert out.stdout.strip() == "[]"


def test_merged_moments_equal_numpy_to_1e_12():
    # offset data (mean 1e6, spread ~1): where Σx² − n·mean² would lose ~12 digits
    rng = np.random.default_rng(3)
    X = 1e6 + rng.normal(size=(10_007, 3)) * np.array([1.0, 1e-3, 50.0])
    y = rng.normal(size=10_007)
    summary = scan(cut(X, y, [1, 2, 997, 4096, 13]))
    assert summary.rows == 10_007 and summary.chunk_rows == [1, 2, 997, 4096, 13, 4898]
    np.testing.assert_allclose(summary.x.mean, X.mean(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(summary.x.std, X.std(axis=0), rtol=1e-12, atol=0)
    np.testing.assert_allclose(summary.y.std, [y.std()], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(summary.x.low, X.min(axis=0))
    np.testing.assert_array_equal(summary.x.high, X.max(axis=0))
    for kind in ("standard", "minmax"):
        streamed, whole = summary.x.scaler(kind), Scaler.fit(kind, X)
        np.testing.assert_allclose(streamed.offset, whole.offset, rtol=1e-12, atol=0)
        np.testing.assert_allclose(streamed.scale, whole.scale, rtol=1e-12, atol=0)
    assert summary.x.scaler("none") is None


def test_merge_by_hand():
    # {1, 2} and {4}: mean 7/3; m2 = ½ + 0 + (3 − 1.5)²·2·1/3 = 0.5 + 1.5 = 14/3 − … check:
    # Σ(x − 7/3)² = 16/9 + 1/9 + 25/9 = 42/9 = 14/3
    m = Moments.of(np.array([[1.0], [2.0]])).merge(Moments.of(np.array([[4.0]])))
    assert m.n == 3 and m.mean[0] == pytest.approx(7 / 3, abs=1e-15)
    assert m.m2[0] == pytest.approx(14 / 3, abs=1e-14)
    constant = Moments.of(np.full((5, 1), 2.0)).scaler("standard")
    assert constant.scale[0] == 1.0  # a constant column keeps scale 1, as Scaler.fit


def test_class_set_and_chunk_width_check():
    y = np.array(["b", "a", "c", "a", "b"])
    X = np.arange(10.0).reshape(5, 2)
    summary = scan(cut(X, y, [2, 2]), labels=True)
    assert list(summary.classes) == ["a", "b", "c"]
    with pytest.raises(DataError, match="3 columns, the chunks before it 2"):
        scan([(X, y), (np.ones((2, 3)), y[:2])], labels=True)
    with pytest.raises(DataError, match="3 rows of inputs but 2 targets"):
        scan([(X[:3], y[:2])], labels=True)
    with pytest.raises(DataError, match="chunk 2.s inputs hold .* not numbers"):
        scan([(X, y), (y[:, None], y)], labels=True)


def test_validation_rows_do_not_depend_on_chunking():
    whole = validation_rows(0, 100_000, 0.2, seed=7)
    pieces = np.concatenate([validation_rows(s, 1000, 0.2, seed=7) for s in range(0, 100_000, 1000)])
    np.testing.assert_array_equal(whole, pieces)
    # a fair share: binomial(100000, 0.2) has sd ≈ 126, so ± 800 is over 6 sd
    assert abs(int(whole.sum()) - 20_000) < 800
    assert not np.array_equal(whole, validation_rows(0, 100_000, 0.2, seed=8))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        validation_rows(0, 10, 1.5)


def test_shuffle_buffer_exact_when_the_data_fit():
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20.0)
    blocks = list(shuffled(cut(X, y, [3, 5, 7]), 20, np.random.default_rng(1)))
    order = np.random.default_rng(1).permutation(20)
    assert len(blocks) == 1
    np.testing.assert_array_equal(blocks[0][0], X[order])
    np.testing.assert_array_equal(blocks[0][1], y[order])


def test_shuffle_buffer_smaller_than_the_data_keeps_every_row_once():
    X = np.arange(1000.0)[:, None]
    blocks = list(shuffled(cut(X, X[:, 0], [100] * 9), 150, np.random.default_rng(2)))
    rows = np.concatenate([b[1] for b in blocks])
    np.testing.assert_array_equal(np.sort(rows), np.arange(1000.0))  # each row exactly once
    assert len(blocks) > 1 and not np.array_equal(rows, np.arange(1000.0))
    # a row can leave no earlier than the buffer lets it: the first block comes after 200
    # rows were read, with 150 kept, so it holds 50 rows, all from the first 200
    assert len(blocks[0][1]) == 50 and blocks[0][1].max() < 200
    with pytest.raises(ConfigError, match="shuffle_buffer"):
        list(shuffled([(X, X)], 0, np.random.default_rng(0)))


@pytest.mark.parametrize("capacity", [1, 7, 50, 400])
def test_shuffle_buffer_is_tf_datas_rule_row_by_row(capacity):
    # the rule, one row at a time, by hand: fill the buffer; then each row of a chunk draws
    # a slot j (the chunk's draws in one call, as the buffer makes them), the row held at j
    # leaves and the new row takes its place; at the end the rest leave in a random order
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 2))
    y = np.arange(300.0)[:, None]
    sizes = [13, 1, 90, 40, 0, 156]
    expected, held, draws = [], [], np.random.default_rng(capacity)
    for a, b in zip(np.cumsum([0] + sizes[:-1]), np.cumsum(sizes)):
        rows = list(range(a, b))
        room = capacity - len(held)
        held += rows[:room]
        rows = rows[room:]
        if rows:
            leaving = []
            for row, j in zip(rows, draws.integers(0, capacity, size=len(rows))):
                leaving.append(held[j])
                held[j] = row
            expected.append(leaving)
    if held:
        expected.append([held[k] for k in draws.permutation(len(held))])
    got = list(shuffled(cut(X, y, sizes), capacity, np.random.default_rng(capacity)))
    assert [len(b[0]) for b in got] == [len(e) for e in expected]
    for (bx, by), rows in zip(got, expected):
        np.testing.assert_array_equal(bx, X[rows])
        np.testing.assert_array_equal(by, y[rows])


@pytest.fixture
def parquet_parts(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(5)
    X = rng.normal(size=(500, 2))
    y = X @ [1.5, -2.0] + 0.25
    folder = tmp_path / "parts"
    folder.mkdir()
    for k, (a, b) in enumerate([(0, 200), (200, 350), (350, 500)]):
        table = pa.table({"a": X[a:b, 0], "b": X[a:b, 1], "target": y[a:b]})
        pq.write_table(table, folder / f"part-{k}.parquet")
    return folder, X, y


def test_parquet_folder_and_glob_stream_every_row_in_order(parquet_parts):
    folder, X, y = parquet_parts
    for source in (folder, str(folder / "part-*.parquet")):
        stream = chunks(source, block_rows=64)
        assert stream.features == ["a", "b"] and stream.target == ["target"]
        parts = list(stream)
        assert max(len(p[0]) for p in parts) == 64
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), X)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts])[:, 0], y)
        assert len(list(stream)) == len(parts)  # re-readable: one pass per epoch


def test_parquet_bad_input_one_line_each(parquet_parts, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    folder, X, y = parquet_parts
    with pytest.raises(DataError, match="no files match"):
        files(str(tmp_path / "nothing-*.parquet"))
    stream = TableStream.open(str(folder / "*.parquet"))
    os.remove(folder / "part-1.parquet")  # gone between listing and reading
    with pytest.raises(DataError, match=r"part-1.parquet is gone") as err:
        list(stream)
    assert "\n" not in str(err.value)
    pq.write_table(pa.table({"a": ["x"] * 3, "b": [1.0] * 3, "target": [1.0] * 3}),
                   folder / "part-1.parquet")  # a column that turns to text
    with pytest.raises(DataError, match=r"part-1.parquet, column 'a' holds string, not numbers"):
        list(TableStream.open(folder))
    with pytest.raises(DataError, match="no column named 'z'"):
        TableStream.open(folder, target="z")


@pytest.mark.parametrize("name", ["pipe.parquet", "pipe.csv"])
def test_a_fifo_named_as_data_is_refused_at_once(tmp_path, name):
    """A FIFO would block pyarrow's reader until killed: one line instead, before opening."""
    path = tmp_path / name
    os.mkfifo(path)
    with pytest.raises(DataError, match="not a data file"):
        files(path)


def test_reading_ahead_on_a_thread_gives_the_same_chunks_and_errors(tmp_path):
    import threading
    from dataclasses import replace

    rng = np.random.default_rng(4)
    rows = rng.normal(size=(3000, 3))
    path = tmp_path / "t.csv"
    lines = ["a,b,y"] + [",".join(repr(v) for v in row) for row in rows.tolist()]
    path.write_text("\n".join(lines) + "\n")
    plain = TableStream.open(path, block_bytes=1 << 16)
    threaded = replace(plain, threads=True)
    one, other = list(plain), list(threaded)
    assert len(one) == len(other) > 1
    for (X1, y1), (X2, y2) in zip(one, other):
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(np.concatenate([X for X, _ in other]), rows[:, :2])
    # a reader that stops early stops the thread; an error on the thread is raised here
    before = threading.active_count()
    reading = iter(threaded)
    next(reading)
    reading.close()
    assert threading.active_count() == before
    lines[2900] = "1.0,oops,2.0"  # (line 2901 of the file: the header is line 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 2901, column 'b': 'oops' is not a number "
                                         r"\(the 2,899 rows"):
        list(threaded)


def _blocks(source, block, threads):
    """Each block of ``source.batches`` as a list of rows (tuples of cells)."""
    return [list(zip(*(column.to_pylist() for column in columns)))
            for columns in source.batches(None, block, threads)]


@pytest.mark.parametrize("ends", [["\n"], ["\r\n"], ["\n", "\r", "\r\n"]])
def test_csv_pieces_on_threads_are_the_streaming_readers_blocks(tmp_path, monkeypatch, ends):
    # the pieces parsed on threads are cut where pyarrow's streaming reader cuts its blocks
    # (after the last line end in each block of bytes from the data's start): the same
    # blocks, row for row, with blank lines, quoted cells without line breaks, a last line
    # with no line end; and no block went to the one-by-one reader
    from chainrule import csvfile

    rng = np.random.default_rng(7)
    rows = [f'{v:.6g},"q{k}",{-v:.3g}' if k % 7 == 0 else f"{v:.6g},w{k},{k}"
            for k, v in enumerate(rng.normal(size=900))]
    rows[40:40] = ["", "  ,"]  # (a blank line; a line of spaces and delimiters)
    path = tmp_path / "p.csv"
    text = "a,b,c\n" + "".join(row + ends[k % len(ends)] for k, row in enumerate(rows))
    path.write_bytes(text.rstrip("\r\n").encode())  # (a last line with no line end)
    source = csvfile.CsvFile(path)
    one = _blocks(source, 1024, False)
    used = []
    monkeypatch.setattr(csvfile.CsvFile, "_one_by_one",
                        lambda *a: used.append(a) or iter(()))
    pieces = _blocks(source, 1024, True)
    assert not used
    assert len(pieces) == len(one) > 10
    assert pieces == one
    assert sum(map(len, one)) == 900


def test_csv_pieces_hand_over_to_the_one_by_one_reader_at_a_quoted_line_break(tmp_path):
    # a quoted cell holding a line break (an odd count of quotes in a piece: a cut may be
    # inside it) from the 13th block on: the blocks before came from the threads, the
    # rest from pyarrow's streaming reader; together, the streaming reader's blocks
    from chainrule import csvfile

    rows = [f"{k},{k * 0.5}" for k in range(2000)]
    rows[1500] = '1500,"7\n.5"'
    path = tmp_path / "q.csv"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    source = csvfile.CsvFile(path)
    one, pieces = _blocks(source, 512, False), _blocks(source, 512, True)
    assert len(one) > 40 and pieces == one
    # a row with too many cells in a piece: the one line of the whole-file reader
    rows[1500] = "1500,1,2"
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"line 1502: 3 value\(s\) but the header has 2"):
        _blocks(csvfile.CsvFile(path), 512, True)


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("block", [256, 1 << 20])
def test_csv_blocks_read_as_the_whole_file_does(tmp_path, threads, block):
    # blocks of a few rows: quoted commas and line breaks, CRLF and lone CR line ends,
    # blank lines and a byte-order mark all read as the whole-file parse reads them (the
    # same cells, in order); a row longer than a block is one line saying what to do
    from chainrule.csvfile import CsvFile

    rows = ['1,"a, b",2', '3,"two\nlines",4', "", '5,"say ""hi""\r\nthere",6', "7,x,8",
            "  ", "9," + "y" * 200 + ",10", '11,"",12']
    path = tmp_path / "q.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("n,t,m\r\n" + "\r\n".join(rows[:4]) + "\r"
                                       + "\n".join(rows[4:]) + "\n").encode())
    source = CsvFile(path)
    whole = [column.to_pylist() for column in source.read(text=True)]
    assert whole[1] == ["a, b", "two\nlines", 'say "hi"\r\nthere', "x", "y" * 200, ""]
    got = [[], [], []]
    for columns in source.batches(None, block, threads):
        for k, column in enumerate(columns):
            got[k] += column.to_pylist()
    assert got == whole
    with pytest.raises(DataError) as err:
        list(source.batches(None, 64, threads))
    assert str(err.value) == (f"{path} has a row longer than the blocks of 64 bytes it is "
                              "streamed in; raise the memory budget (--memory, memory=: a block "
                              "is a 512th of it, up to 4 MB) or read it whole")
