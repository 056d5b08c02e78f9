"""The datasets a session can learn, and how each one is learnt by default.

* ``seed`` — the seed document's three students (IQ, CGPA → Package), learnt exactly as
  the seed does: a 2-2-1 linear network, weights 1, biases 0, raw inputs, η = 1e-5, the
  rows in the table's order, one at a time, loss ``(y − ŷ)²``.
* the toy sets of ``toys`` — 200 points in the plane drawn from the session's seed (with
  its noise and feature crosses), 20 % held out for validation unless the settings say
  otherwise, inputs standardised; two classes learnt with ``bce`` (one output neuron: the
  logit of class 1), the regression sets with ``mse``.
* ``upload`` — the last CSV uploaded: regression (``mse``) or classification
  (``bce`` for two classes, ``cross_entropy`` for more), as ``read_csv`` decides; its
  reader's messages are said in the page's words (``in_page_words``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Dataset
from ..datasets import students
from .settings import MAX_NEURONS, Settings, SettingsError
from .toys import REGRESSION_TOYS, TOYS, toy

SEED_DEFAULTS = {"dataset": "seed", "hidden": [2], "activation": "linear", "init": "ones",
                 "lr": 1e-5, "batch_size": 1, "seed": 0, "shuffle": False, "noise": 0,
                 "holdout": 0, "crosses": [], "l2": 0.0}
TOY_DEFAULTS = {"hidden": [6, 4], "activation": "tanh", "init": "xavier", "lr": 0.05,
                "batch_size": 1, "seed": 0, "shuffle": True, "noise": 0, "holdout": 20,
                "crosses": [], "l2": 0.0}
CSV_DEFAULTS = {"hidden": [4], "activation": "tanh", "init": "xavier", "lr": 0.01,
                "batch_size": 1, "seed": 0, "shuffle": True, "noise": 0, "holdout": 20,
                "crosses": [], "l2": 0.0}
TOY_POINTS = 200
VALIDATION = 0.2
MIN_HOLDOUT_ROWS = 10  # a table shorter than this is learnt whole
MAX_CLASSES = MAX_NEURONS


@dataclass
class Recipe:
    """How a dataset is learnt: its loss, its scaling and the share held out for validation."""

    loss: str
    scale: str
    validation: float


@dataclass
class Entry:
    """One dataset the page can choose."""

    name: str
    title: str
    task: str
    defaults: dict[str, Any]
    data: Dataset | None = None  # fixed data (the upload); None: made from the seed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "task": self.task,
                "defaults": {**self.defaults, "dataset": self.name}}


SEED_RECIPE = Recipe("mse", "none", 0.0)  # the seed's own way


def recipe_for(data: Dataset, holdout: float = VALIDATION) -> Recipe:
    """The loss, scaling and validation share that suit a table (``holdout``: the share
    asked for, kept only from ``MIN_HOLDOUT_ROWS`` rows up)."""
    validation = holdout if len(data) >= MIN_HOLDOUT_ROWS else 0.0
    if data.task == "classification":
        classes = len(np.unique(data.y))
        return Recipe("bce" if classes == 2 else "cross_entropy", "standard", validation)
    return Recipe("mse", "standard", validation)


def check_upload(data: Dataset, name: str) -> None:
    """Refuse a table the playground cannot draw or learn, saying why."""
    if data.X.shape[1] > MAX_NEURONS:
        raise SettingsError(f"{name} has {data.X.shape[1]} input columns; the playground draws at "
                            f"most {MAX_NEURONS} (choose fewer columns)")
    if len(data) < 2:
        raise SettingsError(f"{name} has {len(data)} row; the playground needs at least 2")
    if data.task == "classification":
        classes = len(np.unique(data.y))
        if classes > MAX_CLASSES:
            raise SettingsError(f"{name}: the target has {classes} classes; at most {MAX_CLASSES}")
    elif data.y.shape[1] > MAX_NEURONS:
        raise SettingsError(f"{name} has {data.y.shape[1]} target columns; at most {MAX_NEURONS}")


_COLUMN = re.compile(r"column (?:'([^']*)'|\"([^\"]*)\")")


def in_page_words(message: str) -> str:
    """A CSV reader's message said in the page's words: what to untick or pick in the page,
    never a command-line option (the page has none)."""
    column = _COLUMN.search(message)
    name = (column.group(1) if column.group(1) is not None else column.group(2)) if column else None
    if name is not None:
        message = re.sub(r"[^;]*--features[^;]*", f" untick {name} among the inputs, or pick it as "
                         "the target", message)
    message = re.sub(r"name one with --target", "pick one in the target list", message)
    message = re.sub(r"[;,]? *use --task \w+ to override", "", message)
    # anything else that names an option: that clause goes, the rest stays
    parts = [part for part in message.split(";") if not re.search(r"(^|\s)--\w", part)]
    return ";".join(parts).strip() or "the table can't be learnt as chosen; pick other columns"


@dataclass
class Catalog:
    """The seed's table, the toy sets and (once there is one) the uploaded CSV."""

    upload: Entry | None = None
    entries: dict[str, Entry] = field(init=False)

    def __post_init__(self) -> None:
        self.entries = {"seed": Entry("seed", "the seed's students (IQ, CGPA → Package)",
                                      "regression", dict(SEED_DEFAULTS))}
        for name in TOYS:
            self.entries[name] = Entry(name, f"{name} (2-D, two classes)", "classification",
                                       dict(TOY_DEFAULTS))
        for name in REGRESSION_TOYS:
            self.entries[name] = Entry(name, f"{name} (2-D, regression)", "regression",
                                       dict(TOY_DEFAULTS))

    def names(self) -> list[str]:
        return list(self.entries)

    def defaults(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or name not in self.entries:
            raise SettingsError(f"dataset must be one of: {', '.join(self.entries)}; got {name!r}")
        return self.entries[name].to_dict()["defaults"]

    def add_upload(self, filename: str, data: Dataset) -> Entry:
        check_upload(data, filename)
        entry = Entry("upload", f"your CSV: {filename}", data.task, dict(CSV_DEFAULTS), data)
        self.entries["upload"] = entry
        return entry

    def load(self, settings: Settings) -> tuple[Dataset, Recipe]:
        """The rows of the settings' dataset (a toy set is drawn from their seed, with their
        noise and feature crosses) and its recipe (with their holdout)."""
        name = settings.dataset
        entry = self.entries[name]
        toy_set = entry.data is None and name != "seed"
        if settings.noise and not toy_set:
            raise SettingsError("noise is for the toy sets; set it to 0 for this table")
        if settings.crosses and not toy_set:
            raise SettingsError("feature crosses are for the 2-D toy sets; choose none for "
                                "this table")
        if entry.data is not None:
            return entry.data, recipe_for(entry.data, settings.holdout / 100)
        if name == "seed":
            return students(), SEED_RECIPE
        data = toy(name, TOY_POINTS, settings.seed, settings.noise / 100, settings.crosses)
        return data, recipe_for(data, settings.holdout / 100)

    def to_list(self) -> list[dict[str, Any]]:
        return [entry.to_dict() for entry in self.entries.values()]
