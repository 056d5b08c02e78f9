"""One CSV reader for the whole library: pyarrow's parser, with chainrule's checks and messages.

``CsvFile(path)`` looks at the start of the file only: it checks that it is UTF-8 text
(a byte-order mark is fine), refuses a header wider than ``MAX_COLUMNS`` before parsing
it (one linear count over the first line), sniffs the delimiter (``,`` ``;`` tab ``|``:
the one that splits the header into the most columns and agrees with the next lines)
unless one is given, and reads the header (unique, non-empty names).  Then

- ``read()`` parses the whole table at once with pyarrow (multi-threaded, zero-copy from
  a memory map): number-looking columns straight to float64, the others as text;
- ``batches()`` yields the same columns a block at a time, for a table bigger than
  memory (the streaming reader reads through this).

Blank lines are skipped; a row with too few or too many cells, an unterminated quote, or
bytes that are not UTF-8 are ``DataError`` s naming the file and the line.  Numbers are
what the table says they are: plain decimal numbers (``-1.5``, ``2e-3``, ``+.5``), with
surrounding spaces allowed; ``1_000``, ``0x10``, ``١٢`` or ``１２`` are text, as any other
word.  Row ``r`` of the data is on line ``line_of(r)`` (found by a second, slow pass over
the file, only when a message needs it).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from typing import Any, Callable, Iterator

from . import files
from .errors import ConfigError, DataError

MAX_COLUMNS = 100_000  # a wider header is surely not a table of inputs for a network
DELIMITERS = (",", ";", "\t", "|")
BIG_FILE = 50_000_000  # bytes: say that reading has started
PIECE_THREADS = 8  # at most this many blocks parsed at once (``CsvFile.batches``)
_SNIFF_BYTES = 65_536


def _names(delimiter: str) -> str:
    return {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(delimiter, repr(delimiter))


class CsvFile:
    """A CSV file with a header line, opened for reading (see the module docstring).

    ``delimiter``: force one (None: sniffed); ``progress``: called with one line before a
    file over ~50 MB is read.
    """

    def __init__(self, path: str | os.PathLike, delimiter: str | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.path = os.fspath(path)
        self.progress = progress
        files.regular(self.path, "file")  # a FIFO, a device or a folder: one line, no wait
        if delimiter is not None and (len(delimiter) != 1 or delimiter in "\"\r\n"):
            raise DataError(f"the delimiter must be one character (e.g. ';' or a tab), got "
                            f"{delimiter!r}")
        require_pyarrow()
        self.size = os.path.getsize(self.path)
        self.sniffed = delimiter is None
        self.delimiter, self.header, self.offset = self._open(delimiter)
        self._lines: list[int] | None = None

    # -- the start of the file ----------------------------------------------------------
    def _open(self, forced: str | None) -> tuple[str, list[str], int]:
        """(delimiter, header, byte offset of the first data line)."""
        with open(self.path, "rb") as fh:
            start = fh.read(_SNIFF_BYTES)
            bom = 3 if start.startswith(b"\xef\xbb\xbf") else 0
            first, pos = b"", bom
            while True:  # the first non-blank line, read whole however long it is
                end = start.find(b"\n", pos)
                while end < 0 and len(start) < self.size:
                    more = fh.read(max(_SNIFF_BYTES, len(start)))
                    if not more:
                        break
                    start += more
                    end = start.find(b"\n", pos)
                line = start[pos:] if end < 0 else start[pos:end]
                if line.strip() or end < 0:
                    first = line
                    break
                pos = end + 1
            wide = max(first.count(d.encode()) for d in ((forced,) if forced else DELIMITERS))
            if wide + 1 > MAX_COLUMNS:
                raise DataError(f"{self.path}: the header line has about {wide + 1:,} columns; "
                                f"chainrule reads at most {MAX_COLUMNS:,} (keep only the columns "
                                "you need)")
            sample = start[pos:pos + max(_SNIFF_BYTES, len(first) + 1)]
        try:
            text = sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # not merely a character cut at the sample's end
                raise DataError(f"{self.path} is not UTF-8 text; save it as a UTF-8 CSV file") from None
            text = sample[:exc.start].decode("utf-8")
        if not text.strip():
            raise DataError(f"{self.path} is empty; a CSV needs a header line of column names "
                            "and rows of numbers")
        delimiter = forced or self._sniff(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            header = [cell.strip() for cell in next(reader, [])]
        except csv.Error as exc:
            raise DataError(f"{self.path}: the header line is not readable CSV ({exc})") from None
        if not any(header):
            raise DataError(f"{self.path} has no header line of column names; a CSV needs one "
                            "before its rows")
        consumed = len("\n".join(text.split("\n")[:reader.line_num]).encode("utf-8")) + 1
        _check_header(header, self.path)
        return delimiter, header, min(pos + consumed, self.size)

    @staticmethod
    def _sniff(text: str) -> str:
        """The delimiter giving the header the most columns, on lines that agree with it."""
        lines = [line for line in text.split("\n")[:20] if line.strip()]
        if len(text) >= _SNIFF_BYTES and len(lines) > 1:
            lines = lines[:-1]  # possibly cut in the middle
        best, best_key = ",", (-1, 1)  # (rows agreeing with the header, its width)
        for d in DELIMITERS:
            try:
                rows = list(csv.reader(lines, delimiter=d))
            except csv.Error:
                continue
            width = len(rows[0]) if rows else 1
            agree = sum(len(r) == width for r in rows[1:])
            if width < 2 or 2 * agree < len(rows) - 1:  # one column, or rows that disagree
                continue
            if (agree, width) > best_key:
                best, best_key = d, (agree, width)
        return best

    def note(self) -> str | None:
        """What was decided about the delimiter, when it was not the plain comma."""
        if self.sniffed and self.delimiter != ",":
            return f"columns separated by {_names(self.delimiter)}s (found from the header; " \
                   "--delimiter forces one)"
        return None

    # -- the data -----------------------------------------------------------------------
    def _options(self, types: dict[str, Any], bad_rows: list[str],
                 block_size: int = 1 << 22) -> dict[str, Any]:
        import pyarrow.csv as pcsv

        names = [f"c{i}" for i in range(len(self.header))]

        def invalid(row: Any) -> str:
            if row.text.strip(" \t\r\n" + self.delimiter):
                bad_rows.append(row.text)
            return "skip"  # a blank line (spaces, delimiters) is skipped like an empty one

        return dict(
            read_options=pcsv.ReadOptions(column_names=names, block_size=block_size),
            parse_options=pcsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True,
                                            invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(column_types=types, null_values=[""],
                                                strings_can_be_null=False,
                                                quoted_strings_can_be_null=False))

    def _source(self, streamed: bool = False) -> Any:
        """The data after the header: a memory map (whole-table reads), or (``streamed``) a
        plain file read block by block, whose pages never count in the process's memory
        as a map's touched pages would."""
        import pyarrow as pa

        if streamed:
            handle = pa.OSFile(self.path)
            handle.seek(self.offset)
            return handle
        return pa.BufferReader(pa.memory_map(self.path).read_buffer().slice(self.offset))

    def read(self, text: bool = False) -> list[Any]:
        """Every column as a pyarrow array: float64 (a blank cell is null) where every cell is
        a number, else text (all text with ``text=True``, cells as written)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        if self.progress is not None and self.size > BIG_FILE:
            self.progress(f"reading {self.path} ({self.size / 1e6:.0f} MB)…")
        as_text = set(range(len(self.header))) if text else set()
        while True:
            types = {f"c{i}": pa.string() if i in as_text else pa.float64()
                     for i in range(len(self.header))}
            bad_rows: list[str] = []
            try:
                table = pcsv.read_csv(self._source(), **self._options(types, bad_rows))
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):  # a header and nothing else
                    return [pa.array([], pa.string() if i in as_text else pa.float64())
                            for i in range(len(self.header))]
                column = re.search(r"In CSV column #(\d+)", str(exc))
                if column and int(column.group(1)) not in as_text:
                    as_text.add(int(column.group(1)))  # a cell that is not a number: read as text
                    continue
                self._refuse(str(exc))
            except UnicodeDecodeError:
                raise DataError(f"{self.path} is not UTF-8 text; save it as a UTF-8 CSV file") from None
            if bad_rows:
                self._refuse("a row with the wrong number of values")
            if self._odd_quotes():  # pyarrow lets a quote run to the end of the file
                self._refuse("a quote that is never closed", strict=False)
            return [table.column(i).combine_chunks() for i in range(len(self.header))]

    def text_column(self, k: int) -> Any:
        """Column ``k``'s cells as written (one pyarrow text array; blank lines skipped)."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        options = self._options({f"c{k}": pa.string()}, [])
        options["convert_options"].include_columns = [f"c{k}"]
        return pcsv.read_csv(self._source(), **options).column(0).combine_chunks()

    def batches(self, types: dict[int, Any] | None = None, block_size: int = 1 << 22,
                threads: bool = False, convert: Callable[[list[Any]], Any] | None = None
                ) -> Iterator[Any]:
        """The rows a block (``block_size`` bytes, ~4 MB) at a time: each a list of one
        pyarrow array per column, typed as ``types`` says (column index → pyarrow type;
        default: text), or what ``convert`` makes of that list.  ``threads``: parse several
        blocks at once, each on a thread of its own (``_in_pieces``: the same blocks, the
        same errors; ``convert`` runs there too), for a budget with room for them."""
        import pyarrow as pa

        kinds = {f"c{i}": (types or {}).get(i, pa.string()) for i in range(len(self.header))}
        given = 0  # (the blocks with rows given so far)
        if threads and hasattr(os, "pread"):  # (POSIX: each thread reads its own piece)
            try:
                for rows, item in self._in_pieces(kinds, block_size, convert):
                    given += rows > 0
                    yield item
                return
            except _QuoteAcross:
                pass  # (a quoted value across a cut: read on, one block after another)
        for rows, item in self._one_by_one(kinds, block_size, convert):
            if rows and given:
                given -= 1  # (given already, from the pieces)
            else:
                yield item

    def _one_by_one(self, kinds: dict[str, Any], block_size: int,
                    convert: Callable[[list[Any]], Any] | None) -> Iterator[tuple[int, Any]]:
        """(rows, block) by pyarrow's streaming reader, one block after another."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        bad_rows: list[str] = []
        try:
            options = self._options(kinds, bad_rows, block_size)
            options["read_options"].use_threads = False
            for batch in pcsv.open_csv(self._source(streamed=True),
                                       memory_pool=pa.system_memory_pool(), **options):
                if bad_rows:
                    self._refuse("a row with the wrong number of values")
                columns = list(batch.columns)
                yield batch.num_rows, columns if convert is None else convert(columns)
        except pa.ArrowInvalid as exc:
            self._unreadable(str(exc), block_size)

    def _in_pieces(self, kinds: dict[str, Any], block_size: int,
                   convert: Callable[[list[Any]], Any] | None) -> Iterator[tuple[int, Any]]:
        """(rows, block) as ``_one_by_one`` gives them, parsed several at once: the data cut
        after the last line end (``\\n`` or ``\\r``) in each ``block_size`` bytes from its
        start, the cuts pyarrow's streaming reader makes, each piece parsed whole on a
        thread of a pool (one core each), at most one more than the threads under way.
        A piece that holds an odd number of ``"`` (a quoted value may hold a line end:
        the cut may be inside it) raises ``_QuoteAcross`` in its place; a block with no
        line end is left to ``_one_by_one`` (which says the row is too long)."""
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, min(os.cpu_count() or 1, PIECE_THREADS))
        fd = os.open(self.path, os.O_RDONLY)
        pool = ThreadPoolExecutor(workers, thread_name_prefix="chainrule-csv")
        pending: list[Any] = []
        try:
            for start, end in self._cuts(fd, block_size):
                pending.append(pool.submit(self._piece, fd, start, end, kinds, convert))
                if len(pending) > workers:
                    yield pending.pop(0).result()
            while pending:
                yield pending.pop(0).result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            os.close(fd)

    def _cuts(self, fd: int, block_size: int) -> Iterator[tuple[int, int]]:
        """The pieces' (start, end) byte offsets: each ends after the last line end in its
        ``block_size`` bytes (counted from the data's start); ``_QuoteAcross`` when
        a block holds none."""
        start, window = self.offset, 1
        while start < self.size:
            edge = self.offset + window * block_size
            window += 1
            if edge >= self.size:
                yield start, self.size
                return
            look = min(1 << 16, edge - start)
            tail = os.pread(fd, look, edge - look)
            cut = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
            if cut < 0 and look < edge - start:  # (a long last row: look at the whole block)
                look = edge - start
                tail = os.pread(fd, look, start)
                cut = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
            if cut < 0:
                raise _QuoteAcross  # (no line end: the one-by-one reader says what to do)
            yield start, edge - look + cut + 1
            start = edge - look + cut + 1

    def _piece(self, fd: int, start: int, end: int, kinds: dict[str, Any],
               convert: Callable[[list[Any]], Any] | None) -> tuple[int, Any]:
        """One piece of the data (bytes ``start`` … ``end``) parsed, on a thread of the pool."""
        import pyarrow as pa
        import pyarrow.csv as pcsv

        data = os.pread(fd, end - start, start)
        if data.count(b'"') % 2:
            raise _QuoteAcross
        bad_rows: list[str] = []
        options = self._options(kinds, bad_rows, max(len(data) + 1, 1 << 16))
        options["read_options"].use_threads = False
        try:
            table = pcsv.read_csv(pa.BufferReader(data), **options)  # (pyarrow's own pool:
            # ~10 % faster than the system's here; a budget of 1 GiB has room for what it keeps)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" not in str(exc):  # (that: only blank lines)
                self._unreadable(str(exc), len(data))
            empty = [pa.array([], kinds[f"c{i}"]) for i in range(len(self.header))]
            return 0, empty if convert is None else convert(empty)
        if bad_rows:
            self._refuse("a row with the wrong number of values")
        columns = [table.column(i).combine_chunks() for i in range(len(self.header))]
        return table.num_rows, columns if convert is None else convert(columns)

    def _unreadable(self, why: str, block_size: int) -> None:
        """The ``DataError`` for what pyarrow's reader refused (``why``)."""
        if "straddl" in why:  # (pyarrow: "straddling object straddles two block …")
            raise DataError(f"{self.path} has a row longer than the blocks of {block_size:,} "
                            "bytes it is streamed in; raise the memory budget (--memory, "
                            "memory=: a block is a 512th of it, up to 4 MB) or read it "
                            "whole") from None
        self._refuse(why)

    # -- where things are, for messages --------------------------------------------------
    def line_of(self, row: int) -> int:
        """The line (1-based, in the file) on which data row ``row`` (0-based) begins."""
        if self._lines is None:
            self._lines = [line for line, _ in self._records()]
        return self._lines[row]

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(line, cells) of every non-blank data row, by Python's csv module (slow, exact)."""
        with open(self.path, "rb") as raw:
            head_lines = raw.read(self.offset).count(b"\n")
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            reader = csv.reader(text, delimiter=self.delimiter, strict=True)
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield head_lines + reader.line_num, cells

    def _odd_quotes(self) -> bool:
        """Whether the data hold an odd number of ``"`` (then a quote is never closed)."""
        import mmap

        if self.offset >= self.size:
            return False
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            first = m.find(b'"', self.offset)  # memchr over the mapped file: no copy
            if first < 0:
                return False
            return bool(m[first:].count(b'"') % 2)

    def _refuse(self, why: str, strict: bool = True) -> None:
        """Find the first bad row with the exact reader and say where it is (``strict``:
        even if that reader finds nothing wrong)."""
        try:
            for line, cells in self._records():
                if len(cells) != len(self.header):
                    raise DataError(
                        f"{self.path}, line {line}: {len(cells)} value(s) but the header has "
                        f"{len(self.header)} columns; every row needs one value per column")
        except UnicodeDecodeError:
            raise DataError(f"{self.path} is not UTF-8 text; save it as a UTF-8 CSV file") from None
        except csv.Error as exc:
            raise DataError(f"{self.path} is not a readable CSV file: {exc}") from None
        if not strict:
            return
        first = why.strip().splitlines()[0] if why.strip() else "unreadable"
        raise DataError(f"{self.path} is not a readable CSV file: {first}")


class _QuoteAcross(Exception):
    """A cut between pieces may fall inside a quoted value: the pieces can't be trusted."""


def require_pyarrow() -> None:
    """A ``ConfigError`` with the install line when pyarrow (a core dependency) is missing."""
    try:
        import pyarrow.compute  # noqa: F401
        import pyarrow.csv  # noqa: F401
    except ImportError:
        raise ConfigError("reading tables needs pyarrow, which is not installed; install it "
                          "with: pip install pyarrow (or reinstall chainrule)") from None


def _check_header(header: list[str], path: str) -> None:
    """Non-empty, unique column names (one pass: linear in the number of columns)."""
    for k, name in enumerate(header):
        if not name:
            raise DataError(f"{path}: column {k + 1} of the header has no name; name every column")
        if "\n" in name or "\r" in name:
            raise DataError(f"{path}: the name of column {k + 1} of the header holds a line break; "
                            "give every column a one-line name")
    counts = Counter(header)
    if len(counts) != len(header):
        dupes = sorted(name for name, n in counts.items() if n > 1)
        shown = dupes if len(dupes) <= 10 else dupes[:10] + ["…"]
        raise DataError(f"{path}: the header names {shown} more than once; give every column "
                        "its own name")
