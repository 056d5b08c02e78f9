"""A playground session: the catalog of datasets and the one ``Run`` the page drives.

Every action is all-or-nothing: a reset or upload builds its new ``Run`` (or reads its
CSV) to the side and only replaces the current one when that worked, so a bad request
leaves the session as it was.  A lock makes the actions take turns (the server may
answer requests on several threads).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import threading
from typing import Any

from ..data import read_csv
from ..errors import DataError
from . import views
from .catalog import Catalog, in_page_words
from .run import Run
from .settings import Settings, parse_epochs, parse_param, parse_settings, parse_value

MAX_UPLOAD = 1_000_000  # bytes


class RequestError(DataError):
    """A request the playground refuses (not JSON, not a CSV, too large); ``status``: HTTP code."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Session:
    """One model, its data and its optimiser, shared by the page's requests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.catalog = Catalog()
        self.run = self._build(self._settings({}, "seed"))

    def _settings(self, body: Any, dataset: Any) -> Settings:
        return parse_settings(body, self.catalog.defaults(dataset), self.catalog.names())

    def _build(self, settings: Settings) -> Run:
        data, recipe = self.catalog.load(settings)
        return Run(settings, data, recipe)

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
        ``{"epochs": n}`` − 1 more (the page plays several epochs per request)."""
        epochs = parse_epochs(body.get("epochs", 1) if isinstance(body, dict) else 1)
        with self.lock:
            for _ in range(epochs):
                self.run.epoch()
            return views.state(self.run)

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
        if len(content) > MAX_UPLOAD:
            raise RequestError(f"{name} is larger than {MAX_UPLOAD // 1_000_000} MB; upload a "
                              "smaller table", 413)
        if b"\0" in content:
            raise RequestError(f"{name} is not a text file; upload a CSV table", 415)
        if features is not None and not features:
            raise RequestError("tick at least one column as an input", 400)
        fd, path = tempfile.mkstemp(suffix=".csv")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            try:
                data = read_csv(path, target=target or None, features=features, task="auto")
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
            # the table's columns as read here, and the one predicted: the page's target list
            return {**views.state(self.run, notes=data.notes),
                    "upload": {"columns": data.columns, "target": data.target_names[0],
                               "features": data.feature_names}}
