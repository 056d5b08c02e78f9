"""``chainrule train`` on a table bigger than the memory budget: streamed, never read whole.

``plan(csv, memory)`` decides: a CSV whose size, or a Parquet file whose numbers
(rows × columns × 8 bytes), exceed the budget (``--memory``; default a quarter of the
machine's memory) is streamed; every Parquet file and every glob of files take this
road too (only the streamed reader reads them; ``fit`` still reads whole what fits).  ``dataset`` reads the header and
the first block only: the columns, a sample of rows for the task's guess and the
predictions shown at the end; a classifier's classes come from one pass over the
target column.  With ``--dask`` this process reads none of it: ``on_workers`` has the Dask
workers read it, and ``workers_line`` says so.  ``ByteProgress`` is the bar over bytes (with an ETA) that a streamed run
shows, or, piped, a line at each quarter of a pass.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import ConfigError, DataError

SAMPLE_ROWS = 1000


@dataclass
class Plan:
    """Whether to stream, the budget (bytes) and the data's size (bytes)."""

    stream: bool
    memory: int
    size: int


def plan(csv: str | None, memory: str | None, target: str | None,
         features: str | None, dask: bool = False) -> Plan:
    """``dask``: the Dask workers will read a table that takes this road, so its size comes
    from the files' sizes (a Parquet file's numbers: its rows × columns × 8 bytes, from
    its metadata), and no reader opens it here."""
    from ..stream import TableStream, default_memory, files, parse_memory

    limit = default_memory() if memory is None else parse_memory(memory)
    if csv is None:
        return Plan(False, limit, 0)
    several = any(c in csv for c in "*?[")  # a glob: only the streamed reader reads those
    if not several and not csv.lower().endswith((".parquet", ".pq")):
        if not os.path.isfile(csv) or os.path.getsize(csv) <= limit:  # (read_csv says what's wrong)
            return Plan(False, limit, os.path.getsize(csv) if os.path.isfile(csv) else 0)
    if dask:
        return Plan(True, limit, sum(map(_file_bytes, files(csv))))
    stream = TableStream.open(csv, target, features)
    return Plan(True, limit, stream.nbytes())


def _file_bytes(path: str) -> int:
    if path.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet
            raise DataError(f"{path} is not a readable Parquet file: "
                            f"{str(exc).strip().splitlines()[0]}") from None
        return int(meta.num_rows) * int(meta.num_columns) * 8
    return os.path.getsize(path)


def data_line(path: str, data: Dataset, rows: int | None = None) -> str:
    """``describe``'s first line for a table not read here: ``rows`` when the Dask workers
    counted them (a streamed table's are counted as it is read)."""
    inputs = data.encoding.inputs if data.encoding is not None else data.feature_names
    counted = f"{rows:,} rows, " if rows is not None else ""
    return f"data     {path}: {counted}{', '.join(inputs[:12])} → {', '.join(data.target_names)}"


def line(path: str, p: Plan, data: Dataset, rows: int | None, spool: bool = True) -> str:
    """The one line that says the run streams, and how (``rows``: --shuffle-buffer;
    ``spool``: a CSV's numbers kept after the first pass, or --no-spool)."""
    from ..stream import TableStream, shown_bytes
    from ..streamfit import buffer_rows

    width = len(data.feature_names) + len(data.target_names)
    buffer = rows or buffer_rows(p.memory, width)
    block = TableStream.open(data.source, data.target_names,
                             data.feature_names).fit_blocks(p.memory).block_bytes

    why = (f"{shown_bytes(p.size)} is more than the memory budget of {shown_bytes(p.memory)} "
           "(--memory)") if p.size > p.memory else \
        f"{shown_bytes(p.size)}, within the memory budget of {shown_bytes(p.memory)}"
    how = (f"read in blocks of {shown_bytes(block)}, rows shuffled through a buffer of "
           f"{buffer:,} rows (approximate; --shuffle-buffer)") if p.size > p.memory else \
        "read whole"
    if p.size > p.memory and not str(data.source).lower().endswith((".parquet", ".pq")):
        how += ("; its numbers kept in a temporary file after the first pass (--no-spool: "
                "parse the text every pass)" if spool else "; the text parsed every pass "
                "(--no-spool)")
    return f"{'streaming' if p.size > p.memory else 'reading'} {path}: {why}; {how}"


def _refuse(missing: str, delimiter: str | None) -> None:
    if missing != "error":
        raise ConfigError(f"--missing {missing} can't be used on a streamed table; clean the "
                          "file, or raise --memory to read it whole")
    if delimiter not in (None, ","):
        raise ConfigError("--delimiter can't be used on a streamed table yet; save it with "
                          "commas, or raise --memory to read it whole")


def dataset(path: str, target: str | None, features: str | None, task: str,
            missing: str, delimiter: str | None) -> Dataset:
    """The run's ``Dataset`` from the first block: a sample of rows (X, y), the names, the
    task (guessed from the sample as ``read_csv`` guesses it from the whole column)."""
    from .. import tables
    from ..data import _guess_task
    from ..stream import TableStream

    _refuse(missing, delimiter)
    stream = TableStream.open(path, target, features, block_rows=SAMPLE_ROWS,
                              block_bytes=1 << 16)
    if set(stream.features) & set(stream.target):
        raise DataError(f"column(s) {sorted(set(stream.features) & set(stream.target))} can't "
                        "be both input and target")
    if not stream.features:
        raise DataError(f"{path} has no columns left to use as inputs besides the target")
    X, y = next(iter(stream), (np.empty((0, len(stream.features))), np.empty((0, 1))))
    X, y = X[:SAMPLE_ROWS], y[:SAMPLE_ROWS]
    notes = []
    if target is None:
        notes.append(f"no target given: predicting the last column, {stream.target[0]!r}")
    if task == "auto":
        cols = [tables.Column(name, numbers=y[:, k], missing=np.zeros(len(y), dtype=bool))
                for k, name in enumerate(stream.target)]
        task, reason = _guess_task(cols, stream.target)
        notes.append(reason + " (from the first rows)")
    if task == "classification":
        if len(stream.target) != 1:
            raise DataError("classification takes one target column; name one with --target")
        y = _labels(y[:, 0])
    return Dataset(X, y, list(stream.features), list(stream.target), source=path, notes=notes,
                   task=task, columns=list(stream.header))


def on_workers(client: Any, path: str, target: str | None, features: str | None, task: str,
               missing: str, delimiter: str | None, validation: float, seed: int
               ) -> tuple[Dataset, np.ndarray | None, Any]:
    """For ``--dask``: the Dask workers read the table into their memory and find its
    text inputs' categories and its classes (``clusterread.survey``); this process reads
    none of it.  The run's ``Dataset`` holds the first rows (encoded as the model will
    encode them), with the classes and the survey."""
    from ..clusterread import survey
    from ..data import _few
    from ..stream import _names
    from ..tables import encode_frame

    _refuse(missing, delimiter)
    targets = _names(target) or None
    found = survey(client, path, targets[0] if targets and len(targets) == 1 else targets,
                   _names(features) or None, task, validation, seed)
    head = found.head
    notes = []
    if target is None:
        notes.append(f"no target given: predicting the last column, {found.targets[0]!r}")
    if found.reason:
        notes.append(found.reason + " (from the first rows)")
    if found.encoding is not None:
        X, _ = encode_frame(head[found.features], found.encoding)
        inputs = found.encoding.names()
        notes += [f"text column {name!r} → {len(cats)} one-hot inputs ({_few(cats)})"
                  for name, cats in found.encoding.categories.items()]
    else:
        X, inputs = head[found.features].to_numpy(dtype=np.float64), list(found.features)
    classes = None
    if found.task == "classification":
        labels = head[found.targets[0]].to_numpy()
        y = _labels(labels) if labels.dtype.kind in "biuf" else labels.astype(object)
        text = any(isinstance(v, str) for v in found.labels)
        classes = np.asarray(found.labels, dtype=object if text else None)
    else:
        y = head[found.targets].to_numpy(dtype=np.float64)
    data = Dataset(X, y, inputs, list(found.targets), source=path, notes=notes,
                   task=found.task, columns=found.columns, encoding=found.encoding)
    return data, classes, found


def workers_line(path: str, p: Plan, found: Any, workers: int) -> str:
    """The one line that says the Dask workers read the table, and hold it."""
    from ..stream import shown_bytes

    head = (f"{path}: {shown_bytes(p.size)}, more than the memory budget of "
            f"{shown_bytes(p.memory)} (--memory)") if p.size > p.memory else \
        f"{path} ({shown_bytes(p.size)})"
    reader = "dd.read_parquet" if path.lower().endswith((".parquet", ".pq")) else "dd.read_csv"
    parts = f"{found.partitions} partition{'' if found.partitions == 1 else 's'}"
    who = f"{workers} Dask worker{'' if workers == 1 else 's'}"
    idle = (f" (only {found.partitions} of them train{'s' if found.partitions == 1 else ''}: "
            "a table in fewer parts than workers)" if found.partitions < workers else "")
    return (f"{head}: the {who} read it ({reader}, {parts}) and hold it in their own "
            f"memory, each its share of the {found.rows:,} rows, for every epoch{idle}; this "
            "process reads none of it")


def _labels(values: np.ndarray) -> np.ndarray:
    """Labels as ``read_csv`` gives number labels: whole numbers as int64."""
    if np.all(values == np.round(values)) and np.all(np.abs(values) < 2 ** 53):
        return values.astype(np.int64)
    return values


def classes(path: str, target: list[str], features: list[str], progress: Any) -> np.ndarray:
    """Every class label of the target column: one pass over the table (too many, counted
    against all its rows, are refused as ``read_csv`` refuses them)."""
    from ..data import check_classes
    from ..stream import TableStream

    stream = TableStream.open(path, target, features)
    found: np.ndarray = np.array([])
    total, done, rows = stream.nbytes(), 0, 0
    for part in stream.parts():
        for _, y in part:
            found = np.union1d(found, np.unique(y))
            rows += len(y)
        done += part.nbytes()
        progress(done, total, "classes")
    check_classes(len(found), rows, onehot=False)  # (streamed: never one-hot all at once)
    return _labels(found)


class ByteProgress:
    """Called with (bytes done, bytes in all, phase) after each block: a bar with the bytes,
    the speed and the time left on a terminal; otherwise one line at each quarter."""

    def __init__(self, out: Any) -> None:
        self.out, self.bar, self.task, self.phase = out, None, None, None
        self.start, self.mark = time.perf_counter(), 0

    def __call__(self, done: int, total: int, phase: str) -> None:
        if phase != self.phase:
            self._phase(phase, total)
        if self.bar is not None:
            self.bar.update(self.task, completed=done)
            return
        share = done / total if total else 1.0
        while self.mark < 4 and share >= (self.mark + 1) / 4:
            self.mark += 1
            from ..stream import shown_bytes

            spent = time.perf_counter() - self.start
            left = spent * (1 - share) / share if share > 0 else 0.0
            eta = f", about {_clock(left)} left" if self.mark < 4 else f" in {_clock(spent)}"
            self.out.print(f"  {phase}: {25 * self.mark}% of {shown_bytes(total)} read{eta}")

    def _phase(self, phase: str, total: int) -> None:
        self.phase, self.start, self.mark = phase, time.perf_counter(), 0
        if self.out.is_terminal:
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            if self.bar is None:
                self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                    TransferSpeedColumn(), TimeRemainingColumn(),
                                    console=self.out, transient=True)
                self.bar.start()
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(phase, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
