"""A playground session: the catalog of datasets and the one ``Run`` the page drives.

Every action is all-or-nothing: a reset or upload builds its new ``Run`` (or reads its
CSV) to the side and only replaces the current one when that worked, so a bad request
leaves the session as it was.  A lock makes the actions take turns (the server may
answer requests on several threads); an epoch takes it in slices (``epoch_part``), so
the page's other requests are answered while a long epoch runs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from ..data import read_csv
from ..explain import load_example
from ..errors import DataError
from . import views
from .catalog import Catalog, in_page_words
from .run import Run
from .settings import (MAX_NEURONS, Settings, parse_epochs, parse_param, parse_settings,
                       parse_value)

MAX_UPLOAD = 20_000_000  # bytes, unless ``chainrule serve --max-upload`` says otherwise
MAX_COLUMNS = 1000  # of an uploaded table (the page draws at most MAX_NEURONS inputs; a
# table may have more columns than inputs when the reader sets some aside)
EPOCH_SLICE = 0.1  # seconds an epoch holds the session before other requests get a turn


class RequestError(DataError):
    """A request the playground refuses (not JSON, not a CSV, too large); ``status``: HTTP code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Session:
    """One model, its data and its optimiser, shared by the page's requests.

    ``engine``: how epochs run (``auto``: the fused loop when it is compiled for the
    network; ``graph``: the autograd engine); ``compile``: compile the fused loop for each
    new network in the background (``chainrule serve`` does; tests that compare exact
    numbers with ``fit`` leave it off, so both pick the same engine).  ``example``: a worked
    example's TOML file (or a shipped one's name), the dataset ``example`` the page opens on.
    """

    def __init__(self, max_upload: int = MAX_UPLOAD, engine: str = "auto",
                 compile: bool = False, example: str | None = None) -> None:
        self.lock = threading.Lock()
        self.max_upload = max_upload
        self.engine, self.compile = engine, compile
        self.running = 0  # epochs in progress (``working``)
        self.catalog = Catalog()
        first = "seed"
        if example is not None:  # ``chainrule serve --example FILE``: the page opens on it
            first = self.catalog.add_example(load_example(example)).name
        self.run = self._build(self._settings({}, first))

    def _settings(self, body: Any, dataset: Any) -> Settings:
        return parse_settings(body, self.catalog.defaults(dataset), self.catalog.names())

    def _build(self, settings: Settings) -> Run:
        data, recipe = self.catalog.load(settings)
        run = Run(settings, data, recipe, self.engine)
        if self.compile:
            run.warm_up()
        return run

    def state(self) -> dict[str, Any]:
        with self.lock:
            return views.state(self.run)

    def datasets(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.catalog.to_list()

    def reset(self, body: Any) -> dict[str, Any]:
        """A new model from ``body``'s settings (missing ones: the dataset's defaults)."""
        with self.lock:
            current = self.run.settings.dataset
            name = body.get("dataset", current) if isinstance(body, dict) else "seed"
            self.run = self._build(self._settings(body, name))
            return views.state(self.run)

    def step(self) -> dict[str, Any]:
        """One step, with its four stages, and the state after it."""
        with self.lock:
            step = self.run.step()
            return views.jsonable({"step": step.number, "epoch": step.epoch,
                                   "stages": views.stages(self.run, step),
                                   "state": views.state(self.run)})

    def epoch(self, body: Any = None) -> dict[str, Any]:
        """The rest of the current epoch (a whole one when it has just begun), and
        ``{"epochs": n}`` − 1 more (the page plays several epochs a request)."""
        for _ in range(parse_epochs(body)):
            with self.working() as (run, start):
                while not self.epoch_part(run, start):
                    pass
            if self.run is not run:  # a reset or upload came meanwhile
                break
        return self.state()

    @contextmanager
    def working(self) -> Iterator[tuple[Run, int]]:
        """An epoch in progress (``progress`` says so): the run and the epochs it had done."""
        with self.lock:
            self.running += 1
            run, start = self.run, self.run.epochs
        try:
            yield run, start
        finally:
            with self.lock:
                self.running -= 1

    def epoch_part(self, run: Run, start: int, seconds: float = EPOCH_SLICE) -> bool:
        """``run``'s epoch ``start + 1`` for about ``seconds`` (a step, or a chunk of rows on
        the fused loop, at least); True when that epoch has ended, or a reset or upload has
        replaced ``run`` meanwhile."""
        with self.lock:
            if self.run is run and run.epochs == start:
                deadline = time.monotonic() + seconds
                run.epoch(lambda: time.monotonic() >= deadline)
            return self.run is not run or run.epochs != start

    def progress(self) -> dict[str, Any]:
        """Where the current epoch is (read without waiting for the lock)."""
        run = self.run
        return {"running": self.running > 0, "epoch": run.epochs + 1, "row": run.cursor,
                "rows": len(run.X)}

    def set_param(self, body: Any) -> dict[str, Any]:
        """Type a weight or bias (``{"param": "w^1_11", "value": 0.5}``): the model takes it,
        and the next step's forward, loss and backward are computed again on a copy."""
        if not isinstance(body, dict):
            raise RequestError('send {"param": "w^1_11", "value": 0.5}', 400)
        with self.lock:
            name, index = parse_param(body.get("param"), self.run.model.sizes)
            value = parse_value(body.get("value"), str(body.get("param")))
            dict(self.run.model.named_parameters())[name].data[index] = value
            self.run.last = None  # explain: the next step, on these weights
            return views.jsonable({"stages": views.trial(self.run),
                                   "state": views.state(self.run)})

    def explain(self, param: str) -> dict[str, Any]:
        with self.lock:
            return views.jsonable(self.run.explain(param))

    def upload(self, filename: str, content: bytes, target: str | None = None,
               features: list[str] | None = None) -> dict[str, Any]:
        """Read an uploaded CSV (``read_csv`` on a temporary file) and start learning it:
        ``target`` (default: the last column) from ``features`` (default: every other one)."""
        name = os.path.basename(filename or "upload.csv")
        if not name.lower().endswith(".csv"):
            raise RequestError(f"{name} is not a .csv file; upload a CSV table", 415)
        if len(content) > self.max_upload:
            raise RequestError(f"{name} is larger than the upload limit ({self.max_upload:,} "
                               "bytes); upload a smaller table", 413)
        if b"\0" in content:
            raise RequestError(f"{name} is not a text file; upload a CSV table", 415)
        if features is not None and not features:
            raise RequestError("tick at least one column as an input", 400)
        columns = header_columns(content)
        if columns > MAX_COLUMNS:
            raise RequestError(f"{name} has {columns:,} columns; the playground takes tables of "
                               f"at most {MAX_COLUMNS:,} (its network draws at most "
                               f"{MAX_NEURONS} inputs): keep the columns you want to learn from",
                               400)
        fd, path = tempfile.mkstemp(suffix=".csv")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            try:
                data = read_csv(path, target=target or None, features=features, task="auto",
                                missing="drop")
            except DataError as exc:
                raise DataError(in_page_words(str(exc).replace(path, name))) from None
        finally:
            os.unlink(path)
        notes = [re.sub(r";? *use --task \w+ to override", "", note) for note in data.notes]
        data = dataclasses.replace(data, source=name, notes=notes)
        with self.lock:
            previous = self.catalog.entries.get("upload")
            entry = self.catalog.add_upload(name, data)
            try:
                run = self._build(self._settings({}, entry.name))
            except Exception:
                self.catalog.entries.pop("upload")
                if previous is not None:
                    self.catalog.entries["upload"] = previous
                raise
            self.run = run
            # the table's columns as read here, the one predicted (the page's target list) and
            # the columns read as inputs (the ticked boxes: a text column once, though it
            # becomes one input per category)
            inputs = data.encoding.inputs if data.encoding is not None else data.feature_names
            return {**views.state(self.run, notes=data.notes),
                    "upload": {"columns": data.columns, "target": data.target_names[0],
                               "features": list(inputs)}}


def header_columns(content: bytes) -> int:
    """The columns of a CSV's first line at most: its separators of the most frequent kind
    (``,`` ``;`` tab ``|``; quoted ones count too), plus one.  Linear in the line's length."""
    ends = [i for i in (content.find(b"\n"), content.find(b"\r")) if i >= 0]
    first = content[:min(ends)] if ends else content
    return 1 + max(first.count(sep) for sep in (b",", b";", b"\t", b"|"))
