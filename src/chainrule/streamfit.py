"""``fit`` on a stream: a CSV/Parquet path (file, folder or glob) or a list of ``(X, y)`` chunks.

What fits in memory is trained in memory: a path whose data are no bigger than the
memory budget (``memory``: bytes or ``"1GB"``; default a quarter of the machine's),
or chunks whose rows fit the shuffle buffer, are gathered once and ``train.fit`` trains
on them: the same weights, bit for bit, as ``fit`` on the same arrays.  The validation
rows are those whose index in the whole stream hashes below ``validation_split``
(``stream.validation_rows``), the same every epoch and after a resume.

Otherwise the data stream, and nothing holds them whole:

- one pass first (``stream.scan``) finds the row count, the scaling statistics (exact,
  by merging) and the classes of the training rows;
- each epoch reads the stream again: the parts (the files of a folder or glob, the items
  of a list) in a random order, each in blocks sized to the budget, the rows through a
  ``ShuffleBuffer`` of ``shuffle_buffer`` rows (default: what an eighth of the budget
  holds; approximate, as tf.data's), the fused loop (or the graph) on each block it lets
  out, with one optimiser and one schedule across them.  A batch never spans two blocks:
  ``batch_size`` "full", or more rows than a block holds, is refused (``check_batch``);
- after each epoch one more pass scores the model as ``fit`` does in memory: the loss
  and the metrics (``r2`` or ``accuracy`` by default; any of ``metrics``) over the
  training rows and over the validation rows, from sums gathered block by block (R² from
  the merged moments of the targets and Σ(y − ŷ)²), so they equal ``fit``'s to rounding;
- a checkpoint (``checkpoint=DIR``) after an epoch, every ``checkpoint_rows`` rows inside
  one, and on Ctrl-C/SIGTERM (after the block under way) keeps the place in the stream:
  the order of the parts, the part, the blocks of it read and its rows, the rows in the
  shuffle buffer and the generator's state, so ``resume=DIR`` (after one pass to recount
  the data) continues bit-identically;
- ``progress(done, total, phase)`` is told the bytes read after each block;
- a CSV is parsed once: the first pass also writes its numbers to a spool file
  (``stream.Spooled``: float64, 8 bytes a number, in a temporary folder, removed at the
  end; ``spool=False`` parses the text on every pass instead), and every later pass reads
  them back in the same blocks;
- a run in the compiled loop that keeps no checkpoint reads ahead: its next blocks are
  read, shuffled and scaled on a thread of their own (``stream.ahead``) while the loop
  trains (or the scores are summed) on the one before; the same blocks and the same
  draws of the generator, so the same weights as one thread gives (tested).  With a
  checkpoint, each block is read when its turn comes, so the place a checkpoint keeps
  is the place training stands.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import checkpoint as ckpt
from . import metrics as metric_fns
from . import train
from .data import check_classes, encode_labels
from .errors import ConfigError, DataError
from .init import make_rng
from .losses import CLASSIFICATION_LOSSES, get_loss
from .nn.module import Module
from .stream import (Chunk, Moments, ShuffleBuffer, Spooled, chunks, default_memory,
                     given_option, parse_memory, scan, validation_rows)

DEFAULT_BUFFER = 1_000_000  # rows: a list of chunks with more is streamed
Progress = Callable[[int, int, str], None]


def is_stream(X: Any, y: Any) -> bool:
    """Whether ``fit``'s ``X`` is a stream: a path, or (with no ``y``) an iterable of chunks
    (a Dask collection is refused, for now, with a ``ConfigError``)."""
    if type(X).__module__.split(".")[0] == "dask":
        raise ConfigError("a Dask collection can't be given to fit yet; give the path of its "
                          "CSV or Parquet files, or compute it to arrays")
    if isinstance(X, (str, os.PathLike)):
        return True
    return y is None and not hasattr(X, "shape") and not hasattr(X, "to_numpy") \
        and hasattr(X, "__iter__")


def check_batch(batch_size: Any, block_rows: int) -> None:
    """A ``ConfigError`` for a batch a streamed run can't make: a batch never spans two
    blocks, so ``"full"`` and more rows than a block of ``block_rows`` holds are refused."""
    if batch_size in ("full", "all"):
        raise ConfigError(f"a batch of all rows can't be made on a table streamed in blocks (a "
                          f"batch never spans two); give a number of rows, at most "
                          f"{block_rows:,} with this memory budget, or raise --memory (memory=) "
                          "to read it whole")
    if isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool) \
            and batch_size > block_rows:
        raise ConfigError(f"a batch of {batch_size:,} rows can't be made on a table streamed in "
                          f"blocks of about {block_rows:,} rows (a batch never spans two); give at "
                          "most that, or raise --memory (memory=) for bigger blocks")


def budget(memory: Any) -> int:
    """The memory budget in bytes: ``memory`` (bytes or text such as ``"1GB"``), or a
    quarter of the machine's memory."""
    return default_memory() if memory is None else parse_memory(memory)


def buffer_rows(memory: int, width: int) -> int:
    """The shuffle buffer an eighth of the budget holds: rows of ``width`` float64s (the
    rest of the budget is for the reader's blocks and the copies a block makes on its
    way to the loop)."""
    return max(memory // 8 // (8 * max(width, 1)), 1)


class _Rows:
    """The stream's training (or validation) rows from its ``parts`` (the files of a folder
    or glob, or the items of a list), part by part; a row's index in the whole stream
    (what the validation hash reads) is its place in the parts' own order, from the rows
    each part has (``sizes``, counted by every whole pass, ``__iter__``)."""

    def __init__(self, parts: list[Iterable[Chunk]], fraction: float, seed: int,
                 keep_val: bool) -> None:
        self.parts, self.fraction, self.seed, self.keep_val = parts, fraction, seed, keep_val
        self.sizes: list[int] = []

    def part(self, k: int, skip: int = 0, row: int = 0,
             first: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        """Part ``k``'s chunks after its first ``skip`` (which hold ``row`` rows): each as
        (X, y) of the rows kept, and the rows it had.  ``first``: the index of the part's
        first row in the stream (default: from ``sizes``)."""
        start = (int(sum(self.sizes[:k])) if first is None else first) + row
        part = self.parts[k]
        source = part.read(skip) if hasattr(part, "read") else iter(list(part)[skip:])
        for X, y in source:
            X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
            y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
            n = len(X)
            if self.fraction:
                held = validation_rows(start, n, self.fraction, self.seed)
                pick = held if self.keep_val else ~held
                X, y = X[pick], y[pick]
            start += n
            yield X, y, n

    def __iter__(self) -> Iterator[Chunk]:
        sizes: list[int] = []  # (counted afresh, kept once the pass is whole)
        for k in range(len(self.parts)):
            sizes.append(0)
            for X, y, n in self.part(k, first=sum(sizes[:-1])):
                sizes[-1] += n
                if len(X):
                    yield X, y
        self.sizes = sizes


def fit_stream(model: Module, source: Any, *, loss: str = "mse", optimizer: Any = "sgd",
               epochs: int = 10, batch_size: int | str | None = 1, shuffle: bool = True,
               seed: int | None = None, lr: Any = None,
               callbacks: Sequence[train.Callback] = (), validation_split: float = 0.0,
               scale: str | None = None, target: str | Sequence[str] | None = None,
               features: str | Sequence[str] | None = None, shuffle_buffer: int | None = None,
               shuffle_chunks: bool = True, engine: str = "auto", memory: Any = None,
               optimizer_options: dict[str, Any] | None = None,
               early_stopping: Any = None, metrics: Sequence[str] | None = None,
               checkpoint: str | None = None, checkpoint_every: int = 1,
               checkpoint_rows: int | None = None, resume: str | None = None,
               run_info: dict[str, Any] | None = None, progress: Progress | None = None,
               spool: bool = True, on_compile: Callable[[str], None] | None = None,
               **unsupported: Any) -> train.History:
    """``fit`` for a stream (see the module docstring); the arguments are ``fit``'s, plus
    ``target``/``features`` (columns of a file), ``memory`` (the budget), ``shuffle_buffer``
    (rows), ``shuffle_chunks`` (a random order of the parts each epoch),
    ``checkpoint_rows``, ``progress`` and ``spool`` (parse a CSV once: see the module
    docstring)."""
    given = sorted(k for k, v in unsupported.items() if given_option(v))
    if given:
        raise ConfigError(f"{', '.join(given)} can't be used with data streamed from a file or "
                          "chunks yet; read the data into arrays for them")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    if shuffle_buffer is not None and (isinstance(shuffle_buffer, bool) or not isinstance(
            shuffle_buffer, (int, np.integer)) or shuffle_buffer < 1):
        raise ConfigError(f"shuffle_buffer must be a whole number of rows ≥ 1, got "
                          f"{shuffle_buffer!r}")
    if checkpoint_rows is not None and (isinstance(checkpoint_rows, bool) or not isinstance(
            checkpoint_rows, (int, np.integer)) or checkpoint_rows < 1):
        raise ConfigError(f"checkpoint_rows must be a whole number ≥ 1, got {checkpoint_rows!r}")
    if checkpoint_every < 1:
        raise ConfigError(f"checkpoint_every must be ≥ 1, got {checkpoint_every!r}")
    limit = budget(memory)
    is_path = isinstance(source, (str, os.PathLike))
    stream = chunks(source, target, features)
    if is_path:
        stream = stream.fit_blocks(limit)
    elif not isinstance(stream, (list, tuple)):
        stream = list(stream)  # a one-time iterator: hold its chunks to read them each epoch
    options = dict(loss=loss, optimizer=optimizer, batch_size=batch_size, lr=lr,
                   callbacks=callbacks, optimizer_options=optimizer_options,
                   early_stopping=early_stopping, checkpoint=checkpoint,
                   checkpoint_every=checkpoint_every, resume=resume, run_info=run_info)
    loss_fn = get_loss(loss)
    classification = loss_fn.name in CLASSIFICATION_LOSSES
    rng = make_rng(seed)
    fraction = float(validation_split or 0.0)
    val_seed = int(rng.integers(2 ** 63)) if fraction else 0
    if fraction:
        validation_rows(0, 0, fraction)  # (the range check)
    parts = stream.parts() if hasattr(stream, "parts") else [[chunk] for chunk in stream]
    sizes = [p.nbytes() for p in parts] if is_path else [0] * len(parts)
    spool_folder = None
    if is_path and spool and not (shuffle_buffer is None and sum(sizes) <= limit):
        spool_folder = tempfile.mkdtemp(prefix="chainrule-spool-")
        parts = [Spooled(p, os.path.join(spool_folder, f"{k}.f64")) if p.paths[0].lower().endswith(
            ".csv") else p for k, p in enumerate(parts)]
    try:
        return _fit_parts(model, source, parts, sizes, is_path, stream, limit, rng, fraction,
                          val_seed, loss_fn, classification, shuffle_buffer, shuffle,
                          shuffle_chunks, epochs, scale, metrics, engine, on_compile, progress,
                          checkpoint_rows, options)
    finally:
        if spool_folder is not None:
            shutil.rmtree(spool_folder, ignore_errors=True)


def _fit_parts(model: Module, source: Any, parts: list[Any], sizes: list[int], is_path: bool,
               stream: Any, limit: int, rng: np.random.Generator, fraction: float,
               val_seed: int, loss_fn: Any, classification: bool, shuffle_buffer: int | None,
               shuffle: bool, shuffle_chunks: bool, epochs: int, scale: str | None,
               metrics: Sequence[str] | None, engine: str,
               on_compile: Callable[[str], None] | None, progress: Progress | None,
               checkpoint_rows: int | None, options: dict[str, Any]) -> train.History:
    """``fit_stream`` once the parts are known: in memory, or streamed."""
    training = _Rows(parts, fraction, val_seed, keep_val=False)
    held = _Rows(parts, fraction, val_seed, True) if fraction else None
    width = len(stream.features) + len(stream.target) if is_path else \
        np.asarray(stream[0][0]).reshape(len(stream[0][0]), -1).shape[1] + 1 if stream else 1
    summary = None
    if is_path and shuffle_buffer is None:
        fits = sum(sizes) <= limit
    elif is_path and sum(sizes) > limit:
        fits = False
    else:  # the rows decide: counted by the first pass (a path), or at hand (chunks)
        if is_path:
            summary = _first_pass(training, sizes, progress, classification)
        rows = summary.rows if summary is not None else sum(len(X) for X, _ in stream)
        fits = rows <= (shuffle_buffer or DEFAULT_BUFFER)
    if fits:  # in memory, exactly as fit on arrays
        X, y = _gather(training)
        if len(X) == 0:
            raise DataError(f"{_name(source)} hold no training rows")
        val = _gather(held) if held is not None else None
        if val is not None and len(val[0]) == 0:
            raise ConfigError(f"validation_split {fraction} of {len(X)} rows leaves no rows "
                              "for validation; use more data or another fraction")
        return train.fit(model, X, y, epochs=epochs, shuffle=shuffle, seed=rng, scale=scale,
                         validation_data=val, metrics=metrics, engine=engine,
                         on_compile=on_compile, **options)
    check_batch(options["batch_size"], stream.block_rows if is_path else
                max(len(X) for X, _ in stream))
    buffer = shuffle_buffer if shuffle_buffer is not None else buffer_rows(limit, width)
    if is_path and 8 * width * buffer > limit // 2:  # (the rest is the blocks' and the copies')
        from .stream import shown_bytes

        raise ConfigError(f"a shuffle buffer of {buffer:,} rows holds {shown_bytes(8 * width * buffer)}"
                          f", more than half the memory budget of {shown_bytes(limit)}; give at "
                          f"most {limit // 2 // (8 * width):,} rows, or more memory")
    if summary is None:
        summary = _first_pass(training, sizes if is_path else None, progress, classification)
    if summary.rows == 0:
        raise DataError(f"{_name(source)} hold no training rows")
    names = train._metric_names(metrics, classification)
    run = _StreamRun(model, training, held, summary, rng, shuffle, buffer, shuffle_chunks,
                     loss_fn, names, sizes if is_path else None, progress, options)
    with _one_blas_thread():
        return run.fit(epochs, scale, engine, on_compile, checkpoint_rows)


def _first_pass(training: _Rows, sizes: list[int] | None, progress: Progress | None,
                classification: bool) -> Any:
    """``scan`` of the training rows (which counts each part's rows), telling ``progress``."""
    rows = _Scanned(training, sizes, progress) if progress is not None and sizes else training
    with _one_blas_thread():
        return scan(rows, labels=classification)


def _name(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "the chunks"


def _gather(rows: Iterable[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    parts = list(rows)
    if not parts:
        return np.empty((0, 0)), np.empty((0,))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class _Scanned:
    """The training rows of the first pass, telling ``progress`` the bytes read."""

    def __init__(self, rows: _Rows, sizes: list[int], progress: Progress) -> None:
        self.rows, self.sizes, self.progress = rows, sizes, progress

    def __iter__(self) -> Iterator[Chunk]:
        total, rows, counts = sum(self.sizes), self.rows, []
        block = rows.parts[0].block_bytes if rows.parts else 1
        for k in range(len(rows.parts)):
            counts.append(0)
            before = sum(self.sizes[:k])
            for c, (X, y, n) in enumerate(rows.part(k, first=sum(counts[:-1]))):
                counts[-1] += n
                self.progress(before + min((c + 1) * block, self.sizes[k]), total, "scan")
                if len(X):
                    yield X, y
            self.progress(before + self.sizes[k], total, "scan")
        rows.sizes = counts


@dataclass
class Position:
    """Where a streamed epoch stands: the ``part`` (its index in the epoch's order of
    parts), the ``chunk`` s of it read and the ``row`` s they held."""

    part: int = 0
    chunk: int = 0
    row: int = 0


class _Sums:
    """The loss (unless ``loss`` is False) and the metrics over rows given a block at a
    time, as sums: Σ loss, Σ (y − ŷ)², Σ |y − ŷ|, the targets' moments (for R²'s
    Σ (y − ȳ)²), rows right, Σ log loss.  ``scores`` equals ``train._scores`` on all the
    rows together, to rounding.  The outputs come from ``forward`` (the compiled loop's,
    as ``fit`` scores a run in it) or ``forward_array``; ``truth``: the targets' moments
    when they are known (the first pass's, for the training rows)."""

    def __init__(self, names: Sequence[str], forward: Callable[[np.ndarray], np.ndarray] | None
                 = None, loss: bool = True, truth: Moments | None = None) -> None:
        self.names, self.n, self.loss = list(names), 0, 0.0
        self.forward, self.with_loss = forward, loss
        self.sq = self.ab = self.right = self.log = 0.0
        self.sq_cols: np.ndarray | float = 0.0
        self.known = truth is not None
        self.truth = truth if truth is not None else Moments()

    def add(self, model: Module, loss_fn: Any, data: Any, y: np.ndarray) -> None:
        """Rows ``data`` (``train._prepare``'s arrays), whose targets as read are ``y``."""
        out = self.forward(data.X) if self.forward is not None else model.forward_array(data.X)
        if self.with_loss:
            self.loss += train._loss_value(loss_fn, out, data.Y, None) * len(data.X)
        self.n += len(data.X)
        if not self.names:
            return
        classes = getattr(model, "classes_", None)
        if classes is not None:
            truth, guess = encode_labels(y, classes)[1], model.probabilities(out)
            self.right += float(np.sum(np.argmax(truth, axis=1) == np.argmax(guess, axis=1)))
            self.log += float(np.sum(-np.sum(truth * np.log(np.clip(guess, 1e-15, 1.0)), axis=1)))
            return
        y_scaler = getattr(model, "y_scaler", None)
        truth = data.Y if y_scaler is None else y_scaler.inverse(data.Y)
        guess = out if y_scaler is None else y_scaler.inverse(out)
        diff = truth - guess
        if "mae" in self.names:
            self.ab += float(np.sum(np.abs(diff)))
        square = np.square(diff, out=diff)
        self.sq_cols = self.sq_cols + np.sum(square, axis=0)
        self.sq += float(np.sum(square))
        if "r2" in self.names and not self.known:
            self.truth = self.truth.add(truth)

    def scores(self, prefix: str) -> dict[str, float]:
        if self.n == 0:
            raise ConfigError("the validation split holds no rows; use more data or another "
                              "fraction")
        mean = self.loss / self.n if math.isfinite(self.loss) else self.loss
        out = {prefix + "loss": mean} if self.with_loss else {}
        for name in self.names:
            out[prefix + name] = self._metric(name)
        return out

    def _metric(self, name: str) -> float:
        if name == "accuracy":
            return self.right / self.n
        if name == "log_loss":
            return self.log / self.n
        width = np.size(self.sq_cols)
        if name == "mse":
            return self.sq / (self.n * width)
        if name == "mae":
            return self.ab / (self.n * width)
        if self.n < 2:  # r2, as metrics.r2 says it
            return float("nan")
        ss_res, ss_tot = np.asarray(self.sq_cols), self.truth.m2
        with np.errstate(divide="ignore", invalid="ignore"):
            each = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
        return float(np.mean(each))


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while the blocks train: their products are small (a block's rows
    by a few weights), and waking BLAS's threads for each costs more than it saves
    (measured: all_finite's Σa² on a block of 110,000 × 2 takes 4 ms on threads, 0.1 ms
    on one).  Through threadpoolctl when it is installed (the scale extra has it)."""
    global _BLAS
    if _BLAS is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS = False
        else:  # (found once: finding the libraries took ~0.5 ms a call)
            _BLAS = ThreadpoolController()
    if _BLAS is False:
        yield
        return
    with _BLAS.limit(limits=1, user_api="blas"):
        yield


_BLAS: Any = None  # threadpoolctl's controller of NumPy's BLAS (False: not installed)


class _StreamRun:
    """The epochs of a streamed run, on one ``train.Trainer`` (see the module docstring)."""

    def __init__(self, model: Module, training: _Rows, held: _Rows | None, summary: Any,
                 rng: np.random.Generator, shuffle: bool, buffer: int, shuffle_chunks: bool,
                 loss_fn: Any, names: list[str], sizes: list[int] | None,
                 progress: Progress | None, options: dict[str, Any]) -> None:
        self.model, self.training, self.held, self.summary = model, training, held, summary
        self.rng, self.shuffle, self.buffer = rng, shuffle, buffer
        self.shuffle_chunks = shuffle_chunks
        self.loss_fn, self.names, self.sizes, self.progress = loss_fn, names, sizes, progress
        self.options = options
        self.classification = loss_fn.name in CLASSIFICATION_LOSSES
        self.parts = len(training.parts)
        # the epoch under way: the order of the parts, the place, the buffer, Σ loss, rows
        self.order: np.ndarray | None = None
        self.pos = Position()
        self.pool: ShuffleBuffer | None = None
        self.total, self.seen, self.since = 0.0, 0, 0
        self.alone = False  # blocks read ahead on a thread (``fit`` decides)

    # -- the data's identity and where a checkpoint stands ------------------------------

    def fingerprint(self) -> str:
        """A hash of what the first pass found (rows per part, the inputs' and targets'
        moments, the classes) and the split: resuming on other data is refused."""
        s, digest = self.summary, hashlib.sha256()
        digest.update(repr((self.training.sizes, s.rows, self.training.fraction)).encode())
        for arr in (s.x.mean, s.x.std, s.x.low, s.x.high):
            digest.update(np.ascontiguousarray(arr).tobytes())
        if s.classes is not None:
            digest.update(repr(np.asarray(s.classes).tolist()).encode())
        elif s.y.n:
            digest.update(np.ascontiguousarray(s.y.mean).tobytes())
        return "stream:" + digest.hexdigest()

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The place in the epoch under way, for the checkpoint (``stream`` and ``stream/*``)."""
        arrays: dict[str, np.ndarray] = {}
        rows = self.pool.held() if self.pool is not None else None
        if rows is not None:
            X, y = rows
            arrays["stream/X"] = np.ascontiguousarray(X, dtype=np.float64)
            if y.dtype.kind not in "biuf":  # labels as their places among the classes
                y = np.searchsorted(self.model.classes_, y)
            arrays["stream/y"] = np.ascontiguousarray(y)
        return arrays, {"parts": [int(k) for k in self.order], "part": self.pos.part,
                        "chunk": self.pos.chunk, "row": self.pos.row, "total": self.total,
                        "seen": self.seen, "sizes": list(self.training.sizes),
                        "buffer": self.buffer, "label_places": bool(
                            rows is not None and rows[1].dtype.kind not in "biuf")}

    def restore(self, stream: dict[str, Any], arrays: dict[str, np.ndarray], where: str) -> None:
        """Put back a checkpoint's place inside an epoch, once it is known to fit the data."""
        bad = f"the checkpoint in {where} stands at a place that is not in this data"
        order = stream.get("parts")
        if not isinstance(order, list) or sorted(order) != list(range(self.parts)):
            raise DataError(f"{bad} (its order of parts); the file is damaged or was edited")
        if stream.get("sizes") != list(self.training.sizes) or stream.get("buffer") != self.buffer:
            raise DataError(f"the checkpoint in {where} was made on other data or another "
                            "shuffle buffer; resume with the same data and settings")
        part, chunk, row = (stream.get(k) for k in ("part", "chunk", "row"))
        numbers = (part, chunk, row, stream.get("seen"))
        inside = part < self.parts if isinstance(part, int) else False
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers) \
                or part > self.parts or (inside and row > self.training.sizes[order[part]]) \
                or not isinstance(stream.get("total"), (int, float)):
            raise DataError(f"{bad}; the file is damaged or was edited")
        self.order = np.asarray(order, dtype=np.int64)
        self.pos = Position(part, chunk, row)
        self.total, self.seen = float(stream["total"]), stream["seen"]
        if self.shuffle:
            self.pool = ShuffleBuffer(self.buffer, self.rng)
            if "stream/X" in arrays:
                X, y = arrays["stream/X"].copy(), arrays.get("stream/y")
                if y is None or len(y) != len(X) or len(X) > self.buffer \
                        or X.ndim != 2 or X.shape[1] != len(self.summary.x.mean):
                    raise DataError(f"{bad} (its shuffle buffer); the file is damaged or was "
                                    "edited")
                if stream.get("label_places"):
                    classes = self.model.classes_
                    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= len(classes):
                        raise DataError(f"{bad} (its buffered labels); the file is damaged or "
                                        "was edited")
                    y = classes[y]
                self.pool.restore(X, y.copy())

    # -- the run ---------------------------------------------------------------------------

    def fit(self, epochs: int, scale: str | None, engine: str,
            on_compile: Callable[[str], None] | None, checkpoint_rows: int | None) -> train.History:
        model, summary, options = self.model, self.summary, self.options
        if scale is not None:
            model.x_scaler = summary.x.scaler(scale)
            model.y_scaler = None if self.classification else summary.y.scaler(scale)
        X0, y0 = next(iter(self.training))  # (the first block with training rows)
        if self.classification:  # (one-hot rows over the stream's classes: a block may lack some)
            check_classes(len(summary.classes), summary.rows, onehot=False)  # (all rows' count)
            y0 = encode_labels(y0, summary.classes)[1]
        trainer = train.Trainer(model, X0, y0, self.loss_fn, options["optimizer"],
                                options["batch_size"], False, self.rng, options["lr"],
                                options["callbacks"], optimizer_options=options["optimizer_options"],
                                early_stopping=options["early_stopping"], metrics=[])
        if self.classification:  # every class of the stream, not only the first chunk's
            model.classes_ = summary.classes
        trainer.n = summary.rows
        trainer.batch_size = train._batch_size(options["batch_size"], summary.rows)  # (not the block's)
        self.trainer, history = trainer, trainer.history
        folder, resume = options["checkpoint"], options["resume"]
        fingerprint = self.fingerprint() if folder is not None or resume is not None else ""
        if resume is not None:
            place = ckpt.restore_run(resume, model, trainer.opt, self.rng, history,
                                     trainer.stopper, 0, fingerprint, trainer.batch_size)
            inside = place.stream is not None
            if epochs < place.first_epoch - (not inside):
                raise ConfigError(f"the checkpoint in {resume} has done {place.first_epoch - 1} "
                                  f"epoch(s){' and part of the next' if inside else ''}; "
                                  f"epochs={epochs} would undo them: give at least "
                                  f"{place.first_epoch - (not inside)}")
            trainer.epoch_number = place.first_epoch
            if inside:
                self.restore(place.stream, place.arrays, resume)
            folder = folder or resume

        def save() -> None:
            if folder is not None:
                inside = self.order is not None
                arrays, state = self.state() if inside else ({}, None)
                ckpt.save_run(folder, model, trainer.opt, self.rng, history, trainer.stopper,
                              ckpt.Place(trainer.epoch_number), options["run_info"], fingerprint,
                              trainer.batch_size, stream=state, stream_arrays=arrays)
                self.since = 0

        trainer.choose(engine, epochs, on_compile)
        every = options["checkpoint_every"]
        plan = trainer.plan  # (blocks read ahead: nothing to keep in step with a checkpoint)
        self.alone = folder is None and plan is not None and \
            not plan.uses_blas(trainer.batch_size) and (os.cpu_count() or 1) > 1
        with train._ctrl_c_after_step() as stop:
            while trainer.epoch_number <= epochs:
                epoch = trainer.epoch_number
                done = self._epoch(stop, save if folder is not None and checkpoint_rows else None,
                                   checkpoint_rows or 0, ahead=self.alone)
                if not done:
                    history.interrupted = True
                    save()
                    break
                stopping = self._end_epoch(epoch)
                if train._after_epoch(history, stop, stopping, epoch, epochs, every, save):
                    break
        return trainer.finish()

    def _epoch(self, stop: Any, save: Callable[[], None] | None, rows_between: int,
               ahead: bool = False) -> bool:
        """The rest of the epoch under way (all of it, unless a checkpoint put the place
        inside it); False when Ctrl-C/SIGTERM stopped it (after a whole block).  ``ahead``
        (a run that keeps no checkpoint, in the compiled loop, on a machine of several
        cores): the blocks are read, shuffled and scaled on a thread of their own
        (``stream.ahead``) while the loop trains the one before (both free the GIL)."""
        trainer, rng = self.trainer, self.rng
        trainer.order = np.arange(0)  # (the blocks come shuffled: no row order to draw)
        trainer._begin()
        if self.order is None:  # a fresh epoch
            mixed = self.shuffle and self.shuffle_chunks
            self.order = rng.permutation(self.parts) if mixed else np.arange(self.parts)
            self.pos, self.total, self.seen = Position(), 0.0, 0
            self.pool = ShuffleBuffer(self.buffer, rng) if self.shuffle else None
        if self.pool is not None and trainer.plan is not None:  # its rule compiled there
            self.pool.compiled = trainer.plan.buffer_rows(trainer.batch_size)
        total_bytes = sum(self.sizes) if self.sizes else 0
        blocks = self._blocks()
        if ahead:
            from .stream import ahead as read_ahead

            blocks = read_ahead(blocks, depth=2)
        try:
            for data, pos in blocks:
                self.pos = pos if pos is not None else Position(self.parts)
                if data is not None:
                    self._train(data)
                    if save is not None and self.since >= rows_between:
                        save()
                if pos is None:
                    continue  # (the rows the buffer held at the end)
                if self.progress is not None and self.sizes:
                    k = int(self.order[pos.part])
                    done = sum(self.sizes[int(j)] for j in self.order[:pos.part])
                    share = pos.row / max(self.training.sizes[k], 1)
                    self.progress(done + int(self.sizes[k] * share), total_bytes,
                                  f"epoch {trainer.epoch_number}")
                if stop.requested:
                    return False
        finally:
            blocks.close()
        self.pos = Position(self.parts)
        return True

    def _blocks(self) -> Iterator[tuple[Any, Position | None]]:
        """The epoch's blocks from its place on, each ready for the loop (``_prepare``d;
        None while the shuffle buffer fills) with the place after it (a copy; None for
        the buffer's last rows)."""
        pos = Position(self.pos.part, self.pos.chunk, self.pos.row)
        while pos.part < self.parts:
            k = int(self.order[pos.part])
            for X, y, n in self.training.part(k, pos.chunk, pos.row):
                pos.chunk += 1
                pos.row += n
                block = self.pool.push(X, y) if self.pool is not None else (X, y)
                ready = self._prepared(block) if block is not None and len(block[0]) else None
                yield ready, Position(pos.part, pos.chunk, pos.row)
            pos = Position(pos.part + 1)
        if self.pool is not None:
            block = self.pool.drain()
            if block is not None:
                yield self._prepared(block), None

    def _prepared(self, block: Chunk) -> Any:
        """A block's rows as the loop takes them: scaled inputs, scaled or one-hot targets."""
        return train._prepare(self.model, block[0], block[1], self.loss_fn, None, fitting=False)

    def _train(self, data: Any) -> None:
        """The fused loop (or the graph) on one ``_prepared`` block, in its order, to its end."""
        trainer = self.trainer
        trainer.data = data
        trainer.order, trainer.cursor, trainer.total = np.arange(len(data.X)), 0, self.total
        with np.errstate(over="ignore", invalid="ignore"):
            if trainer.plan is not None:
                trainer._fused_rows(trainer.order, None)
            else:
                for start in range(0, len(data.X), trainer.batch_size):
                    trainer._graph_step(trainer.order[start:start + trainer.batch_size])
        self.total, self.seen = trainer.total, self.seen + trainer.cursor
        self.since += trainer.cursor

    def _end_epoch(self, epoch: int) -> bool:
        """The epoch's mean loss, one pass for the scores, the schedule and the callbacks."""
        trainer, history = self.trainer, self.trainer.history
        mean = self.total / self.seen
        history.logs["loss"].append(mean)
        history.epoch.append(epoch)
        train._check_growth(history, epoch, trainer.opt)
        for key, value in self._scores().items():
            history.logs.setdefault(key, []).append(value)
        trainer.opt.end_epoch(epoch - 1, mean)
        trainer.epoch_number, trainer.order, trainer._begun = epoch + 1, None, False
        self.order, self.pool = None, None
        return any([cb.on_epoch_end(epoch, history) for cb in trainer.callbacks])

    def _scores(self) -> dict[str, float]:
        """The metrics over the training rows and the loss and metrics over the validation
        rows, in one pass over the stream (none when nothing is asked for)."""
        if not self.names and self.held is None:
            return {}
        rows, plan, forward = self.training, self.trainer.plan, None
        if plan is not None and not plan.uses_blas(self.trainer.batch_size):  # as fit does
            forward = partial(plan.outputs, batch_size=self.trainer.batch_size)
        known = None if self.classification else self.summary.y  # (Σ (y − ȳ)² is the data's)
        train_sums = _Sums(self.names, forward, loss=False, truth=known)  # (loss: the epoch's)
        val_sums = _Sums(self.names, forward)
        blocks = self._score_blocks()
        if self.alone:  # (read and scaled on a thread while these are scored)
            from .stream import ahead

            blocks = ahead(blocks, depth=2)
        try:
            for mine, val in blocks:
                if val is not None:
                    val_sums.add(self.model, self.loss_fn, *val)
                if mine is not None:
                    train_sums.add(self.model, self.loss_fn, *mine)
        finally:
            blocks.close()
        scores = train_sums.scores("") if self.names else {}
        if self.held is not None:
            scores.update(val_sums.scores("val_"))
        return scores

    def _score_blocks(self) -> Iterator[tuple[Any, Any]]:
        """Each block's training rows and validation rows for the scoring pass, each as
        (its ``_prepared`` arrays, its targets as read), or None when there are none (or,
        for the training rows, no metric asks for them)."""
        rows = self.training
        for k in range(self.parts):
            start = int(sum(rows.sizes[:k]))
            whole = _Rows([rows.parts[k]], 0.0, 0, False)
            for X, y, n in whole.part(0):
                val = None
                if rows.fraction:
                    held = validation_rows(start, n, rows.fraction, rows.seed)
                    if held.any():
                        val = (self._prepared((X[held], y[held])), y[held])
                    X, y = X[~held], y[~held]
                start += n
                mine = (self._prepared((X, y)), y) if self.names and len(X) else None
                yield mine, val
