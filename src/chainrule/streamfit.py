"""``fit`` on a stream: a CSV/Parquet path (file, folder or glob) or a list of ``(X, y)`` chunks.

First one pass over the stream (``stream.scan``) finds the row count, the scaling
statistics (exact, by merging) and the classes of the training rows; the validation
rows are those whose index in the whole stream hashes below ``validation_split``
(``stream.validation_rows``), the same every epoch.  Then:

- when the rows fit the shuffle buffer (``shuffle_buffer`` ≥ the rows), they are
  gathered once and ``train.fit`` trains on them in memory: the same weights, bit for
  bit, as ``fit`` on the same arrays (and ``validation_data`` for the held-out rows);
- otherwise each epoch reads the stream again, the chunks in a random order (the files
  of a folder or glob, the items of a list), the rows through a shuffle buffer of
  ``shuffle_buffer`` rows (approximate, as tf.data's), and the fused loop (or the graph)
  runs on each block the buffer lets out, with one optimiser and one schedule across
  them.  A batch never spans two blocks.  The history holds ``loss`` (the epoch's mean
  training loss) and, with validation rows, ``val_loss`` (their mean loss after the
  epoch, summed chunk by chunk).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from . import train
from .data import encode_labels
from .errors import ConfigError, DataError
from .init import make_rng
from .losses import CLASSIFICATION_LOSSES, get_loss
from .nn.module import Module
from .stream import Chunk, chunks, given_option, scan, shuffled, validation_rows

DEFAULT_BUFFER = 1_000_000  # rows


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


class _Rows:
    """The stream's training (or validation) rows, chunk by chunk, from its ``parts`` (the
    files of a folder or glob, or the items of a list), which ``order`` may put in a random
    order; a row's index in the whole stream (what the validation hash reads) is its place
    in the parts' own order, counted on the first pass (``sizes``)."""

    def __init__(self, parts: list[Iterable[Chunk]], fraction: float, seed: int,
                 keep_val: bool, sizes: list[int] | None = None) -> None:
        self.parts, self.fraction, self.seed, self.keep_val = parts, fraction, seed, keep_val
        self.sizes = sizes if sizes is not None else []
        self.order: Callable[[int], np.ndarray] | None = None

    def __iter__(self) -> Iterator[Chunk]:
        counting = len(self.sizes) < len(self.parts)
        if counting:
            self.sizes = []
            which: Sequence[int] = range(len(self.parts))
        else:
            which = self.order(len(self.parts)) if self.order is not None else range(len(self.parts))
        starts = np.concatenate([[0], np.cumsum(self.sizes)]) if not counting else None
        for k in which:
            start = 0 if counting else int(starts[k])
            if counting:
                start = sum(self.sizes)
                self.sizes.append(0)
            for X, y in self.parts[k]:
                X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
                y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
                n = len(X)
                if self.fraction:
                    held = validation_rows(start, n, self.fraction, self.seed)
                    pick = held if self.keep_val else ~held
                    X, y = X[pick], y[pick]
                start += n
                if counting:
                    self.sizes[-1] += n
                if len(X):
                    yield X, y


def fit_stream(model: Module, source: Any, *, loss: str = "mse", optimizer: Any = "sgd",
               epochs: int = 10, batch_size: int | str | None = 1, shuffle: bool = True,
               seed: int | None = None, lr: Any = None,
               callbacks: Sequence[train.Callback] = (), validation_split: float = 0.0,
               scale: str | None = None, target: str | Sequence[str] | None = None,
               features: str | Sequence[str] | None = None, shuffle_buffer: int | None = None,
               shuffle_chunks: bool = True, engine: str = "auto",
               optimizer_options: dict[str, Any] | None = None,
               early_stopping: Any = None, metrics: Sequence[str] | None = None,
               on_compile: Callable[[str], None] | None = None, **unsupported: Any) -> train.History:
    """``fit`` for a stream (see the module docstring); the arguments are ``fit``'s, plus
    ``target``/``features`` (columns of a file), ``shuffle_buffer`` (rows; default
    1,000,000) and ``shuffle_chunks`` (a random chunk order each epoch)."""
    given = sorted(k for k, v in unsupported.items() if given_option(v))
    if given:
        raise ConfigError(f"{', '.join(given)} can't be used with data streamed from a file or "
                          "chunks yet; read the data into arrays for them")
    buffer = DEFAULT_BUFFER if shuffle_buffer is None else shuffle_buffer
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or buffer < 1:
        raise ConfigError(f"shuffle_buffer must be a whole number of rows ≥ 1, got {buffer!r}")
    stream = chunks(source, target, features)
    if not isinstance(source, (str, os.PathLike)) and not isinstance(stream, (list, tuple)):
        stream = list(stream)  # a one-time iterator: hold its chunks to read them each epoch
    loss_fn = get_loss(loss)
    classification = loss_fn.name in CLASSIFICATION_LOSSES
    rng = make_rng(seed)
    fraction = float(validation_split or 0.0)
    val_seed = int(rng.integers(2 ** 63)) if fraction else 0
    if fraction:
        validation_rows(0, 0, fraction)  # (the range check)
    parts = stream.parts() if hasattr(stream, "parts") else [[chunk] for chunk in stream]
    training = _Rows(parts, fraction, val_seed, keep_val=False)
    summary = scan(training, labels=classification)  # (and counts each part's rows)
    if summary.rows == 0:
        raise DataError(f"{source if isinstance(source, (str, os.PathLike)) else 'the chunks'} "
                        "hold no training rows")
    held = _Rows(parts, fraction, val_seed, True, training.sizes) if fraction else None
    options = dict(loss=loss, optimizer=optimizer, batch_size=batch_size, lr=lr,
                   callbacks=callbacks, optimizer_options=optimizer_options,
                   early_stopping=early_stopping)
    if summary.rows <= buffer:  # it fits: in memory, exactly as fit on arrays
        X, y = _gather(training)
        val = _gather(held) if held is not None else None
        if val is not None and len(val[0]) == 0:
            raise ConfigError(f"validation_split {fraction} of {summary.rows} rows leaves no "
                              "rows for validation; use more data or another fraction")
        return train.fit(model, X, y, epochs=epochs, shuffle=shuffle, seed=rng, scale=scale,
                         validation_data=val, metrics=metrics, engine=engine,
                         on_compile=on_compile, **options)
    if metrics:
        raise ConfigError(f"metrics ({', '.join(metrics)}) are not measured on streamed data "
                          f"yet ({summary.rows:,} rows > shuffle_buffer {buffer:,}); the "
                          "history keeps loss and val_loss")
    return _streamed(model, training, held, summary, rng, epochs, shuffle, buffer,
                     shuffle_chunks, scale, engine, on_compile, options)


def _gather(rows: Iterable[Chunk]) -> tuple[np.ndarray, np.ndarray]:
    parts = list(rows)
    if not parts:
        return np.empty((0, 0)), np.empty((0,))
    y = [p[1] for p in parts]
    return np.concatenate([p[0] for p in parts]), np.concatenate(y)


def _streamed(model: Module, training: _Rows, held: _Rows | None, summary: Any,
              rng: np.random.Generator, epochs: int, shuffle: bool, buffer: int,
              shuffle_chunks: bool, scale: str | None, engine: str,
              on_compile: Callable[[str], None] | None, options: dict[str, Any]) -> train.History:
    """Epochs over the stream, block by block, on one ``train.Trainer``."""
    loss_fn = get_loss(options["loss"])
    classification = loss_fn.name in CLASSIFICATION_LOSSES
    if scale is not None:
        model.x_scaler = summary.x.scaler(scale)
        model.y_scaler = None if classification else summary.y.scaler(scale)
    first = next(iter(training))
    if classification:  # (one-hot rows over the stream's classes: a block may lack some)
        first = (first[0], encode_labels(first[1], summary.classes)[1])
    trainer = train.Trainer(model, first[0], first[1], loss_fn, options["optimizer"],
                            options["batch_size"], False, rng, options["lr"],
                            options["callbacks"], optimizer_options=options["optimizer_options"],
                            early_stopping=options["early_stopping"], metrics=[])
    if classification:  # every class of the stream, not only the first chunk's
        model.classes_ = summary.classes
    trainer.n = summary.rows
    trainer.batch_size = train._batch_size(options["batch_size"], summary.rows)  # (not the block's)
    trainer.choose(engine, epochs, on_compile)
    history = trainer.history
    with train._ctrl_c_after_step() as stop:
        while trainer.epoch_number <= epochs:
            epoch = trainer.epoch_number
            trainer.order = np.arange(0)  # (the blocks come shuffled: no order to draw)
            trainer._begin()
            total, seen = 0.0, 0
            training.order = (lambda k: rng.permutation(k)) if shuffle and shuffle_chunks else None
            blocks = shuffled(training, buffer, rng) if shuffle else iter(training)
            for X, y in blocks:
                trainer.data = train._prepare(model, X, y, loss_fn, None, fitting=False)
                trainer.order, trainer.cursor, trainer.total = np.arange(len(X)), 0, total
                rest = trainer.order
                with np.errstate(over="ignore", invalid="ignore"):
                    if trainer.plan is not None:
                        trainer._fused_rows(rest, lambda: stop.requested)
                    else:
                        for start in range(0, len(rest), trainer.batch_size):
                            trainer._graph_step(rest[start:start + trainer.batch_size])
                            if stop.requested:
                                break
                total, seen = trainer.total, seen + trainer.cursor
                if stop.requested:
                    break
            if stop.requested:
                history.interrupted = True
                break
            mean = total / seen
            history.logs["loss"].append(mean)
            history.epoch.append(epoch)
            if held is not None:
                history.logs.setdefault("val_loss", []).append(_mean_loss(model, loss_fn, held))
            trainer.opt.end_epoch(epoch - 1, mean)
            trainer.epoch_number, trainer.order, trainer._begun = epoch + 1, None, False
            if any([cb.on_epoch_end(epoch, history) for cb in trainer.callbacks]):
                history.stopped_early = True
                break
    return trainer.finish()


def _mean_loss(model: Module, loss_fn: Any, rows: Iterable[Chunk]) -> float:
    """The mean loss over the rows, chunk by chunk (each chunk's mean × its rows)."""
    total, n = 0.0, 0
    for X, y in rows:
        data = train._prepare(model, X, y, loss_fn, None, fitting=False)
        total += train._loss_value(loss_fn, model.forward_array(data.X), data.Y, None) * len(X)
        n += len(X)
    if n == 0:
        raise ConfigError("the validation split holds no rows; use more data or another fraction")
    return total / n if math.isfinite(total) else total
