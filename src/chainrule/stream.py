"""Data that arrives in chunks: tables bigger than memory, read a block at a time.

A *stream* is anything that yields ``(X, y)`` chunks of rows, in order: an iterable of
array pairs, or ``chunks(path)`` over a CSV or Parquet file, a folder of them or a glob
(read with pyarrow's streaming readers, one block at a time).  What training needs from
a stream, computed here without ever holding the whole table:

- ``scan``: one pass for the row count, the exact mean and standard deviation of every
  column (``Moments``: each chunk's own mean and sum of squared deviations, merged by
  Chan, Golub & LeVeque's pairwise update, which loses no precision to cancellation as
  ``Σx² − n·mean²`` would), the minimum, the maximum and the set of class labels;
- ``validation_rows``: whether each row is held out for validation, by a hash of the
  row's index in the whole stream (so the same rows every epoch and after a resume,
  whatever the chunk sizes);
- ``shuffled``: the rows in an approximately random order, as tf.data's shuffle buffer
  gives it: chunks in a random order, rows drawn at random from a buffer of
  ``buffer`` rows.  When the buffer holds every row the order is an exact random
  permutation (the one ``rng.permutation(n)`` draws for the whole table).

pyarrow is imported when a file is read; nothing here imports Dask.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import files as _files
from .data import Scaler
from .errors import ConfigError, DataError

Chunk = tuple[np.ndarray, np.ndarray]
SUFFIXES = (".csv", ".parquet", ".pq")


# ------------------------------------------------------------------------------------
# Statistics by merging chunks.


@dataclass
class Moments:
    """Per-column count ``n``, ``mean``, ``m2`` (Σ (x − mean)²), ``low`` and ``high``.

    ``add(X)`` takes a chunk of rows; ``merge`` combines two: with δ = mean_b − mean_a
    and n = n_a + n_b, ``mean = mean_a + δ·n_b/n`` and ``m2 = m2_a + m2_b + δ²·n_a·n_b/n``
    (Chan et al., 1979).  The sums run on ``x − shift`` (``shift``: the first row seen),
    so a column of large numbers that vary little (1e6 ± 0.001) keeps its digits: its
    chunk means are of numbers near zero.  ``std`` is the population standard deviation
    √(m2/n), as ``np.std`` (ddof 0) and ``Scaler`` use.
    """

    n: int = 0
    center: np.ndarray | None = None  # the mean of x − shift
    m2: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    shift: np.ndarray | None = None

    @classmethod
    def of(cls, X: np.ndarray, shift: np.ndarray | None = None) -> "Moments":
        """The moments of one chunk, computed directly (two passes over it)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if len(X) == 0:
            return cls()
        if shift is None or len(shift) != X.shape[1]:  # (a width that differs: ``merge`` says so)
            shift = X[0].copy()
        T = np.array(X.T, order="C")  # (a copy) one column a row: NumPy reduces along a row ~40×
        low, high = T.min(axis=1), T.max(axis=1)  # faster than down a narrow table's column
        T -= shift[:, None]
        center = T.mean(axis=1)
        T -= center[:, None]
        return cls(len(X), center, np.square(T, out=T).sum(axis=1), low, high, shift)

    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.center

    def merge(self, other: "Moments") -> "Moments":
        """The moments of both sets of rows together."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        if len(self.center) != len(other.center):
            raise DataError(f"a chunk has {len(other.center)} columns, the chunks before it "
                            f"{len(self.center)}; every chunk needs the same columns")
        other_center = other.center + (other.shift - self.shift)  # exact when shifts agree
        n = self.n + other.n
        delta = other_center - self.center
        center = self.center + delta * (other.n / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.n * other.n / n)
        return Moments(n, center, m2, np.minimum(self.low, other.low),
                       np.maximum(self.high, other.high), self.shift)

    def add(self, X: np.ndarray) -> "Moments":
        """These moments and those of the rows ``X`` (taken about the same shift)."""
        return self.merge(Moments.of(X, self.shift))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n)

    def scaler(self, kind: str) -> Scaler | None:
        """The ``Scaler`` that ``Scaler.fit(kind, X)`` would give for all the rows seen."""
        kind = str(kind).strip().lower()
        if kind not in Scaler.KINDS:
            raise DataError(f"unknown scaling {kind!r}; choose one of: {', '.join(Scaler.KINDS)}")
        if kind == "none":
            return None
        if self.n == 0:
            raise DataError("the data have no rows to fit a scaler to")
        if kind == "standard":
            offset, scale = self.mean, self.std
        else:
            offset, scale = self.low, self.high - self.low
        return Scaler(kind, offset, np.where(scale > 0, scale, 1.0))


@dataclass
class Summary:
    """What one pass over a stream found: ``rows``, the inputs' ``x`` moments, the
    targets' ``y`` moments (numbers) and their ``classes`` (sorted distinct labels, when
    asked for), and ``chunk_rows`` (the rows of each chunk, in order)."""

    rows: int = 0
    x: Moments = field(default_factory=Moments)
    y: Moments = field(default_factory=Moments)
    classes: np.ndarray | None = None
    chunk_rows: list[int] = field(default_factory=list)


def given_option(value: Any) -> bool:
    """Whether an optional argument was given: not None, False, 0 or empty."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and value == 0:
        return False
    if isinstance(value, (list, tuple, dict, str)) and len(value) == 0:
        return False
    return True


def _two_d(a: Any, what: str) -> np.ndarray:
    a = a.to_numpy() if hasattr(a, "to_numpy") else np.asarray(a)
    return a[:, None] if a.ndim == 1 else a


def scan(stream: Iterable[Chunk], labels: bool = False,
         keep: Callable[[int, int], np.ndarray] | None = None) -> Summary:
    """One pass over ``stream``: row count, moments of X and y, and (``labels``) the class
    set instead of y's moments.  ``keep(start, n)``, when given, picks the rows of the
    chunk starting at global row ``start`` that count (the training rows)."""
    summary, start, found = Summary(), 0, []
    for k, (X, y) in enumerate(stream):
        X = _two_d(X, "X")
        if X.dtype.kind not in "biuf":
            raise DataError(f"chunk {k + 1}'s inputs hold {X.dtype} values, not numbers; "
                            "inputs must be numbers")
        y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if len(X) != len(y_arr):
            raise DataError(f"a chunk has {len(X)} rows of inputs but {len(y_arr)} targets; "
                            "give one target per row")
        summary.chunk_rows.append(len(X))
        if keep is not None:
            mask = keep(start, len(X))
            X, y_arr = X[mask], y_arr[mask]
        start += summary.chunk_rows[-1]
        summary.rows += len(X)
        summary.x = summary.x.add(X)
        if labels:
            if len(y_arr):
                found.append(np.unique(y_arr.reshape(-1)))
        else:
            summary.y = summary.y.add(_two_d(y_arr, "y"))
    if labels:
        summary.classes = np.unique(np.concatenate(found)) if found else np.array([])
    return summary


# ------------------------------------------------------------------------------------
# Validation rows by hash, and the shuffle buffer.


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of 64-bit words that scatters nearby inputs."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def validation_rows(start: int, n: int, fraction: float, seed: int = 0) -> np.ndarray:
    """Which of the rows ``start … start+n−1`` (indices in the whole stream) are held out:
    row i is when ``u(i) < fraction``, u(i) ∈ [0, 1) the top 53 bits of a hash of
    (seed, i).  The same rows for the same seed, however the stream is cut into chunks."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"validation_split must be between 0 and 1, got {fraction!r}")
    with np.errstate(over="ignore"):
        index = np.arange(start, start + n, dtype=np.uint64)
        key = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) + np.uint64(0x9E3779B97F4A7C15))
        u = (_mix(index ^ key) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return u < fraction


class ShuffleBuffer:
    """The shuffle buffer of ``shuffled``, one chunk at a time, with its state in the open
    (``held()``: the rows held) so that a checkpoint can keep it.

    ``push(X, y)`` takes a chunk and returns the block of rows that leave (None while the
    buffer is not yet full).  Rows fill the buffer up to ``capacity``; after that each row,
    in turn, takes a slot drawn uniformly and the row held there leaves (tf.data's rule:
    each leaving row is a uniform draw from the buffer as it stands), done for the m rows
    of a chunk at once in O(m log m), never O(capacity).  ``drain()`` returns the rest in
    a random order (``rng.permutation``): with ``capacity`` ≥ the stream's rows that is the
    whole stream, in exactly the order ``rng.permutation(rows)`` gives.  The rows live in
    one array, grown by doubling up to ``capacity`` rows and then filled in place, so the
    buffer never needs more than its capacity and one chunk.
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
                or capacity < 1:
            raise ConfigError(f"shuffle_buffer must be a whole number of rows ≥ 1, got {capacity!r}")
        self.capacity, self.rng = int(capacity), rng
        # the rule compiled (``fastpath.Plan.buffer_rows``): the same rows, ~3× faster
        self.compiled: Callable[..., None] | None = None
        self.X: np.ndarray | None = None  # room for the rows; the first ``size`` are held
        self.y: np.ndarray | None = None
        self.size = 0

    def held(self) -> Chunk | None:
        """The rows held now (views), or None when empty."""
        if self.X is None or self.size == 0:
            return None
        return self.X[:self.size], self.y[:self.size]

    def restore(self, X: np.ndarray, y: np.ndarray) -> None:
        """Hold exactly these rows (a checkpoint's), as ``held`` gave them."""
        self.X = self.y = None
        self.size = 0
        if len(X):
            self._fill(np.asarray(X), np.asarray(y))

    def _fill(self, X: np.ndarray, y: np.ndarray) -> None:
        """Append rows (as many as there is room for: the caller sees to that)."""
        need = self.size + len(X)
        if self.X is None or need > len(self.X) or self.X.dtype != np.result_type(self.X, X) \
                or self.y.dtype != np.result_type(self.y, y):
            room = min(self.capacity, max(need, 2 * (len(self.X) if self.X is not None else 0)))
            grown_X = np.empty((room,) + X.shape[1:], dtype=X.dtype if self.X is None
                               else np.result_type(self.X, X))
            grown_y = np.empty((room,) + y.shape[1:], dtype=y.dtype if self.y is None
                               else np.result_type(self.y, y))
            if self.size:
                grown_X[:self.size], grown_y[:self.size] = self.X[:self.size], self.y[:self.size]
            self.X, self.y = grown_X, grown_y
        self.X[self.size:need], self.y[self.size:need] = X, y
        self.size = need

    def push(self, X: np.ndarray, y: np.ndarray) -> Chunk | None:
        X, y = np.asarray(X), np.asarray(y)
        room = self.capacity - self.size
        if room > 0:
            self._fill(X[:room], y[:room])
            X, y = X[room:], y[room:]
        m, cap = len(X), self.capacity
        if m == 0:
            return None
        # row i of the chunk takes slot j_i (uniform, with repeats) and the row there leaves:
        # the buffer's own row the first time a slot is drawn, after that the chunk's row
        # that took it last.  Grouped by sorting the keys j_i·m + i (distinct, so any sort
        # gives the same order: by slot, then by row): O(m log m); each row moved as one
        # item (a row of numbers viewed as one value: ~10× faster to gather and scatter).
        slot = self.rng.integers(0, cap, size=m)
        parts = (self._alike("X", X), self._alike("y", y))  # (held, chunk) of inputs, targets
        if self.compiled is not None and all(held.dtype.kind in "biuf" for held, _ in parts):
            outs = [np.empty_like(rows) for _, rows in parts]  # (text labels: the form below)
            flat = (lambda a: a.reshape(len(a), -1))  # a target (or a row of them) as a 2-D row
            (held_x, rows_x), (held_y, rows_y) = parts
            self.compiled(slot, flat(held_x), flat(rows_x), flat(outs[0]), flat(held_y),
                          flat(rows_y), flat(outs[1]))
            return outs[0], outs[1]
        keys = np.sort(slot * m + np.arange(m))
        slots, by = keys // m, keys % m
        first = np.ones(m, dtype=bool)
        first[1:] = slots[1:] != slots[:-1]
        last = np.ones(m, dtype=bool)
        last[:-1] = first[1:]
        old, new, ends = np.flatnonzero(first), np.flatnonzero(~first), np.flatnonzero(last)
        blocks = []
        for held, rows in parts:
            out = np.empty_like(rows)
            h, r, o = _as_items(held), _as_items(rows), _as_items(out)
            o[by[old]] = h[slots[old]]
            o[by[new]] = r[by[new - 1]]  # (the row before, in its group)
            h[slots[ends]] = r[by[ends]]
            blocks.append(out)
        return blocks[0], blocks[1]

    def _alike(self, name: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The held rows ``name`` (``X`` or ``y``) and a chunk's ``rows`` in one number type
        (the held ones converted when the chunk's need a wider one)."""
        kind = np.result_type(getattr(self, name), rows)
        if getattr(self, name).dtype != kind:
            setattr(self, name, getattr(self, name).astype(kind))
        return getattr(self, name), np.ascontiguousarray(rows, dtype=kind)

    def drain(self) -> Chunk | None:
        """The rows left, in a random order; the buffer is empty after."""
        rows = self.held()
        if rows is None:
            self.X = self.y = None
            return None
        order = self.rng.permutation(self.size)
        out = rows[0][order], rows[1][order]
        self.X = self.y = None
        self.size = 0
        return out


def _as_items(a: np.ndarray) -> np.ndarray:
    """A C-ordered table of numbers as a vector of rows (each row one opaque item, sharing
    the memory), for fast gathers and scatters of whole rows; other arrays as they are."""
    if a.ndim == 2 and a.flags.c_contiguous and a.dtype.kind in "biuf" and a.shape[1]:
        return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).reshape(-1)
    return a


def shuffled(stream: Iterable[Chunk], buffer: int, rng: np.random.Generator) -> Iterator[Chunk]:
    """The rows of ``stream`` in an approximately random order, in blocks, through a
    ``ShuffleBuffer`` of ``buffer`` rows (as tf.data's shuffle buffer gives it).  With
    ``buffer`` ≥ the stream's rows nothing leaves early and the one block is the whole
    stream in the order ``rng.permutation(rows)`` gives."""
    pool = ShuffleBuffer(buffer, rng)
    for X, y in stream:
        block = pool.push(X, y)
        if block is not None:
            yield block
    block = pool.drain()
    if block is not None:
        yield block


# ------------------------------------------------------------------------------------
# Files: CSV or Parquet, one file, a folder or a glob.


def files(path: str | os.PathLike) -> list[str]:
    """The files a path names: itself, a folder's CSV/Parquet files, or a glob's matches
    (sorted by name, so the order is the same on every machine)."""
    text = os.fspath(path)
    if any(c in text for c in "*?["):
        found = sorted(p for p in glob.glob(text) if os.path.isfile(p))
        if not found:
            raise DataError(f"no files match {text}; check the pattern and the current directory")
    elif os.path.isdir(text):
        found = sorted(os.path.join(text, name) for name in os.listdir(text)
                       if name.lower().endswith(SUFFIXES)
                       and os.path.isfile(os.path.join(text, name)))
        if not found:
            raise DataError(f"the folder {text} holds no .csv or .parquet files")
    else:  # one file: a regular one (a FIFO or a device would block the reader)
        _files.regular(text, "data file")
        found = [text]
    kinds = {_kind(p) for p in found}
    if len(kinds) > 1:
        raise DataError(f"{text} mixes CSV and Parquet files; keep one kind per folder or glob")
    return found


def _kind(path: str) -> str:
    return "parquet" if path.lower().endswith((".parquet", ".pq")) else "csv"


@dataclass
class TableStream:
    """The ``(X, y)`` chunks of one or more CSV/Parquet files, re-readable (one pass per
    ``iter``).  ``target``: the column(s) to predict (default: the last); ``features``:
    the inputs (default: the other columns).  Every column must hold numbers; a cell that
    is not one is a ``DataError`` naming the file, the line (CSV) or row, and the column.
    ``block_rows``: rows per Parquet batch; CSV blocks are ``block_bytes`` of text."""

    paths: list[str]
    target: list[str]
    features: list[str]
    header: list[str]
    block_rows: int = 65_536
    block_bytes: int = 1 << 22
    threads: bool = False  # blocks parsed ahead: several CSV blocks at once, on threads

    @classmethod
    def open(cls, path: str | os.PathLike, target: str | Sequence[str] | None = None,
             features: str | Sequence[str] | None = None, **blocks: int) -> "TableStream":
        paths = files(path)
        header = _header(paths[0])
        targets = _names(target) or [header[-1]]
        feats = _names(features) or [c for c in header if c not in targets]
        for name in targets + feats:
            if name not in header:
                raise DataError(f"{paths[0]} has no column named {name!r}; its columns are: "
                                f"{', '.join(header[:50])}")
        return cls(paths, targets, feats, header, **blocks)

    def parts(self) -> list["TableStream"]:
        """One stream per file, in the files' order (a random chunk order permutes these)."""
        return [replace(self, paths=[path]) for path in self.paths]

    def nbytes(self) -> int:
        """The data's size: a CSV's bytes, a Parquet file's numbers (rows × columns × 8)."""
        return sum(_data_bytes(path, len(self.features) + len(self.target)) for path in self.paths)

    def fit_blocks(self, budget: int) -> "TableStream":
        """This stream read in blocks sized to a memory ``budget`` (bytes): CSV blocks of
        budget/512 bytes, Parquet batches of as many rows (within 64 KB … 4 MB).  Small:
        pyarrow's CSV reader holds ~25× its block in buffers while it parses (measured:
        +120 MB of RSS at 2 MB blocks, +60 MB at 256 KB); parsed ahead, several blocks at
        once on threads (one a core), from a budget of 1 GiB."""
        size = int(min(max(budget // 512, 1 << 16), 1 << 22))
        width = 8 * (len(self.features) + len(self.target))
        return replace(self, block_bytes=size, block_rows=max(size // width, 1),
                       threads=budget >= 1 << 30)

    def __iter__(self) -> Iterator[Chunk]:
        return self.read()

    def read(self, skip: int = 0) -> Iterator[Chunk]:
        """The chunks, in order, less the first ``skip`` of them (read, not converted: a
        resumed run starts where its checkpoint stood); with ``threads``, the blocks ahead
        are parsed while this one is used: a CSV's several at once, each on a thread of
        its own (``CsvFile.batches``), a Parquet file's next one (``ahead``)."""
        parquet = any(_kind(path) == "parquet" for path in self.paths)
        return ahead(self._read(skip)) if self.threads and parquet else self._read(skip)

    def _read(self, skip: int) -> Iterator[Chunk]:
        for path in self.paths:
            if not os.path.isfile(path):
                raise DataError(f"{path} is gone (it was listed when training began); put it "
                                "back or start again without it")
            header = _header(path)
            if header != self.header:
                raise DataError(f"{path} has the columns {', '.join(header[:20])}, but "
                                f"{self.paths[0]} has {', '.join(self.header[:20])}; every file "
                                "needs the same header")
            reader = _parquet_blocks if _kind(path) == "parquet" else _csv_blocks
            for chunk in reader(self, path, skip):
                if skip:
                    skip -= 1
                else:
                    yield chunk


def ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items``, produced on a thread of their own up to ``depth`` ahead of the reader (so
    that pyarrow parses the next block, which frees the GIL, while this one is used); an
    error there is raised here, in its place; the thread stops when the reader does."""
    import queue
    import threading

    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((done, None))
        except BaseException as exc:  # (handed to the reader, raised there)
            handoff.put((done, exc))

    worker = threading.Thread(target=produce, daemon=True, name="chainrule-read-ahead")
    worker.start()
    try:
        while True:
            item, error = handoff.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # (let a producer blocked on a full queue see the stop)
            try:
                handoff.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


class Spooled:
    """One part of a ``TableStream`` whose first whole read also writes its numbers to a
    spool file (float64, as parsed: each block's inputs, then its targets), so that every
    later read — each epoch, each scoring pass — reads them back in the same chunks
    (straight into the arrays it yields: no copy) instead of parsing the text again.
    The spool lives in ``folder`` (a temporary one: the caller removes it); if writing
    it fails (a full disk), reads stay on the source."""

    def __init__(self, part: TableStream, path: str) -> None:
        self.part, self.path = part, path
        self.rows: list[int] | None = None  # the chunks' rows, once the spool is whole
        self.block_bytes = part.block_bytes

    def nbytes(self) -> int:
        return self.part.nbytes()

    def __iter__(self) -> Iterator[Chunk]:
        return self.read()

    def read(self, skip: int = 0) -> Iterator[Chunk]:
        if self.rows is None:
            yield from self._first(skip)
            return
        d, k = len(self.part.features), len(self.part.target)
        with open(self.path, "rb") as fh:
            fh.seek(8 * (d + k) * sum(self.rows[:skip]))
            for n in self.rows[skip:]:  # (each block's X, then its y: read as they are used)
                X = np.fromfile(fh, dtype=np.float64, count=n * d).reshape(n, d)
                yield X, np.fromfile(fh, dtype=np.float64, count=n * k).reshape(n, k)

    def _first(self, skip: int) -> Iterator[Chunk]:
        if skip:  # (a resumed run's first read starts inside: the source, unspooled)
            yield from self.part.read(skip)
            return
        rows: list[int] = []
        try:
            fh: Any = open(self.path, "wb")
        except OSError:
            fh = None
        try:
            for X, y in self.part.read():
                if fh is not None:
                    try:
                        X.tofile(fh)  # (C order: the rows of X, then those of y)
                        y.tofile(fh)
                        rows.append(len(X))
                    except OSError:  # no room: forget the spool, keep reading the file
                        fh.close()
                        fh = None
                        os.remove(self.path)
                yield X, y
        finally:
            if fh is not None:
                fh.close()
        if fh is not None:  # (a read that stopped early leaves the spool unfinished)
            self.rows = rows


def _names(spec: str | Sequence[str] | None) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [s.strip() for s in spec.split(",") if s.strip()]
    return list(spec)


def _header(path: str) -> list[str]:
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet
            raise DataError(f"{path} is not a readable Parquet file: "
                            f"{str(exc).strip().splitlines()[0]}") from None
    from .csvfile import CsvFile

    return CsvFile(path).header


def _split(stream: TableStream, columns: dict[str, np.ndarray]) -> Chunk:
    X = np.column_stack([columns[name] for name in stream.features])
    y = np.column_stack([columns[name] for name in stream.target])
    return X, y


def _csv_blocks(stream: TableStream, path: str, skip: int = 0) -> Iterator[Chunk | None]:
    """A CSV file's rows, a block of ``block_bytes`` at a time, through the one CSV reader
    (``csvfile.CsvFile``); a cell that is not a number is found and named.  The first
    ``skip`` blocks are parsed only (None for each)."""
    import pyarrow as pa

    from .csvfile import CsvFile

    source = CsvFile(path)
    wanted = stream.features + stream.target
    index = {name: k for k, name in enumerate(source.header)}
    types = {index[name]: pa.float64() for name in wanted}
    def numbers(columns: list[Any]) -> Chunk:  # (where the block was parsed)
        return _split(stream, {name: _numbers(columns[index[name]], path, name)
                               for name in wanted})

    seen = 0
    try:
        for X, y in source.batches(types, stream.block_bytes, stream.threads, numbers):
            n = len(X)
            if n and skip:
                skip -= 1
                yield None
            elif n:
                yield X, y
            seen += n
    except DataError as exc:
        if "conversion error" not in str(exc):
            raise
        column, value = _conversion(str(exc), source.header)
        for k, (line, cells) in enumerate(source._records()):
            if k >= seen and column is not None and cells[index[column]].strip() == value:
                advice = ("a streamed target takes number labels: give numbers, or raise "
                          "--memory to read the file whole (text labels are read then)"
                          if column in stream.target else
                          "use numbers only, or leave the column out")
                raise DataError(f"{path}, line {line}, column {column!r}: {value!r} is not a "
                                f"number (the {k:,} rows before it are); {advice}") from None
        raise


def _conversion(message: str, header: list[str]) -> tuple[str | None, str]:
    """(column name, bad cell) from pyarrow's 'In CSV column #k: … invalid value 'v''."""
    import re

    col = re.search(r"In CSV column #(\d+)", message)
    value = re.search(r"invalid value '(.*)'", message)
    name = header[int(col.group(1))] if col and int(col.group(1)) < len(header) else None
    return name, value.group(1) if value else ""


def _numbers(array: Any, path: str, name: str) -> np.ndarray:
    """A column of numbers as float64, read in place from pyarrow's buffer (its
    ``to_numpy`` would import pandas: +40 MB of memory for nothing)."""
    import pyarrow as pa

    if array.null_count:
        raise DataError(f"{path}, column {name!r} has a blank cell; streamed data must have "
                        "every cell filled (clean the file, or read it whole with --missing)")
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.float64():
        array = array.cast(pa.float64())
    values = np.frombuffer(array.buffers()[1], dtype=np.float64)
    return values[array.offset:array.offset + len(array)]


def _parquet_blocks(stream: TableStream, path: str, skip: int = 0) -> Iterator[Chunk | None]:
    """A Parquet file's rows, ``block_rows`` at a time (pyarrow's ``iter_batches``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = stream.features + stream.target
    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    for name in wanted:
        kind = schema.field(name).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise DataError(f"{path}, column {name!r} holds {kind}, not numbers; streamed "
                            "columns must be numbers")
    for batch in handle.iter_batches(batch_size=stream.block_rows, columns=wanted):
        if batch.num_rows and skip:
            skip -= 1
            yield None
            continue
        arrays = {name: _numbers(batch.column(name), path, name) for name in wanted}
        if batch.num_rows:
            yield _split(stream, arrays)


def _data_bytes(path: str, columns: int) -> int:
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows) * columns * 8
    return os.path.getsize(path)


# ------------------------------------------------------------------------------------
# The memory budget.

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
          "t": 1e12, "tb": 1e12, "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


def parse_memory(text: str | int | float) -> int:
    """Bytes from ``1GB``, ``512MB``, ``64 MiB``, ``2g`` or a plain number of bytes
    (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024)."""
    import re

    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
        if not found or found.group(2).lower() not in _UNITS:
            raise ConfigError(f"{str(text)[:40]!r} is not an amount of memory; write e.g. 1GB, "
                              "512MB or 64MiB")
        value, unit = float(found.group(1)), found.group(2).lower()
    amount = int(value * _UNITS[unit])
    if amount < 10 ** 6:
        raise ConfigError(f"a memory budget of {amount:,} bytes is too small to read a table; "
                          "give at least 1MB")
    return amount


def machine_memory() -> int:
    """The machine's memory in bytes (``MemTotal`` in /proc/meminfo, or ``os.sysconf``)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30  # (a machine that says nothing: assume 4 GiB)


def default_memory() -> int:
    """The default budget: a quarter of the machine's memory."""
    return machine_memory() // 4


def shown_bytes(n: float) -> str:
    """``640 MB``, ``1.5 GB``: bytes as a person reads them (powers of 1000)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{int(n)} bytes"


def chunks(source: Any, target: str | Sequence[str] | None = None,
           features: str | Sequence[str] | None = None, **blocks: int) -> Iterable[Chunk]:
    """A re-readable stream of ``(X, y)`` chunks: a path (CSV/Parquet file, folder, glob)
    becomes a ``TableStream``; a list of pairs is itself; anything else iterable is
    taken as it is (then it can be read once only)."""
    if isinstance(source, (str, os.PathLike)):
        return TableStream.open(source, target, features, **blocks)
    return source
