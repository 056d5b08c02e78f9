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
* worked examples (``explain.example``): the shipped ``sigmoid-2-2-2`` and the file of
  ``chainrule serve --example FILE`` (``example``): their rows, learnt as the file says
  (its activations, loss and η, a row a step in the file's order as ``chainrule explain
  --example`` steps it, raw inputs), from its weights (``init = "example"``).

The settings' ``loss`` (``auto``: the dataset's own, as above) and ``output_activation``
may change how any of them is learnt, within reason: a table of classes takes ``bce`` (two
classes) or ``cross_entropy`` on a linear output (they work on logits); numbers take the
regression losses.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Dataset
from ..datasets import students
from ..explain import Example, load_example
from ..losses import CLASSIFICATION_LOSSES
from .settings import EXAMPLE_INIT, MAX_HIDDEN_LAYERS, MAX_NEURONS, Settings, SettingsError
from .toys import REGRESSION_TOYS, TOYS, toy

SEED_DEFAULTS = {"dataset": "seed", "hidden": [2], "activation": "linear",
                 "output_activation": "linear", "loss": "auto", "init": "ones", "lr": 1e-5,
                 "batch_size": 1, "seed": 0, "shuffle": False, "noise": 0, "holdout": 0,
                 "crosses": [], "l2": 0.0}
TOY_DEFAULTS = {"hidden": [6, 4], "activation": "tanh", "output_activation": "linear",
                "loss": "auto", "init": "xavier", "lr": 0.05,
                "batch_size": 1, "seed": 0, "shuffle": True, "noise": 0, "holdout": 20,
                "crosses": [], "l2": 0.0}
CSV_DEFAULTS = {"hidden": [4], "activation": "tanh", "output_activation": "linear",
                "loss": "auto", "init": "xavier", "lr": 0.01,
                "batch_size": 1, "seed": 0, "shuffle": True, "noise": 0, "holdout": 20,
                "crosses": [], "l2": 0.0}
TOY_POINTS = 200
SHIPPED_EXAMPLES = ["sigmoid-2-2-2"]  # worked examples offered as datasets (and presets)
VALIDATION = 0.2
MIN_HOLDOUT_ROWS = 10  # a table shorter than this is learnt whole
MAX_CLASSES = MAX_NEURONS


@dataclass
class Recipe:
    """How a dataset is learnt: its loss, its scaling and the share held out for validation;
    ``start``: the weights to start from (a worked example's), instead of the initialiser."""

    loss: str
    scale: str
    validation: float
    start: dict[str, np.ndarray] | None = None


@dataclass
class Entry:
    """One dataset the page can choose."""

    name: str
    title: str
    task: str
    defaults: dict[str, Any]
    data: Dataset | None = None  # fixed data (the upload, an example); None: made from the seed
    kind: str = "toy"  # seed, toy, upload or example
    example: Example | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "task": self.task, "kind": self.kind,
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


def example_entry(example: Example, name: str) -> Entry:
    """A worked example as a dataset: its rows, and defaults that learn them as it says."""
    model = example.model
    sizes = model.sizes
    acts = [layer.activation.spec for layer in model.layers]
    if len(set(acts[:-1])) > 1:
        raise SettingsError(f"{example.name}: the playground gives every hidden layer one "
                            f"activation; this example has {', '.join(acts[:-1])}")
    if max(sizes) > MAX_NEURONS or len(sizes) - 2 > MAX_HIDDEN_LAYERS:
        raise SettingsError(f"{example.name}: the playground draws at most {MAX_HIDDEN_LAYERS} "
                            f"hidden layers of at most {MAX_NEURONS} neurons; this example is "
                            f"{'-'.join(map(str, sizes))}")
    X, Y, n = example.X, example.Y, len(example.X)  # n: for the title
    inputs = [f"x_{i + 1}" for i in range(X.shape[1])]
    if example.loss in CLASSIFICATION_LOSSES:  # targets as the network sees them: 0/1, one-hot
        labels = Y[:, 0].astype(np.int64) if example.loss == "bce" else np.argmax(Y, axis=1)
        if len(np.unique(labels)) != max(2, Y.shape[1]):
            raise SettingsError(f"{example.name}: the playground learns classes from the rows' "
                                "labels, and these rows do not have every class; give a row of "
                                "each")
        data = Dataset(X, labels, inputs, ["class"], source=example.title or example.name,
                       task="classification")
    else:
        data = Dataset(X, Y, inputs, [f"y_{j + 1}" for j in range(Y.shape[1])] if Y.shape[1] > 1
                       else ["y"], source=example.title or example.name)
    defaults = {"hidden": sizes[1:-1], "activation": acts[0] if len(acts) > 1 else "linear",
                "output_activation": acts[-1], "loss": example.loss, "init": EXAMPLE_INIT,
                "lr": example.lr, "batch_size": 1, "seed": 0, "shuffle": False, "noise": 0,
                "holdout": 0, "crosses": [], "l2": 0.0}
    title = f"worked example: {example.title or example.name} ({n} row{'s' * (n > 1)})"
    return Entry(name, title, data.task, defaults, data, "example", example)


def check_loss(settings: Settings, data: Dataset, recipe: Recipe) -> Recipe:
    """The recipe with the settings' loss (``auto``: the recipe's own), refused in the page's
    words where it can't learn this data or the output activation."""
    loss = recipe.loss if settings.loss == "auto" else settings.loss
    classes = data.task == "classification"
    if classes and loss not in CLASSIFICATION_LOSSES:
        raise SettingsError(f"this data has classes: choose the loss bce (two classes) or "
                            f"cross_entropy, or auto; {loss} is for numbers")
    if not classes and loss in CLASSIFICATION_LOSSES:
        raise SettingsError(f"{loss} is for classes and this data has numbers to predict; "
                            "choose mse, mae, huber, sse_half or auto")
    if loss == "bce" and len(np.unique(data.y)) != 2:
        raise SettingsError(f"bce is for two classes and this data has {len(np.unique(data.y))};"
                            " choose cross_entropy or auto")
    if loss in CLASSIFICATION_LOSSES and settings.output_activation != "linear":
        raise SettingsError(f"the loss {loss} works on logits (it applies "
                            f"{'σ' if loss == 'bce' else 'softmax'} itself): set the output "
                            "activation to linear")
    return dataclasses.replace(recipe, loss=loss)


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
                                      "regression", dict(SEED_DEFAULTS), kind="seed")}
        for name in TOYS:
            self.entries[name] = Entry(name, f"{name} (2-D, two classes)", "classification",
                                       dict(TOY_DEFAULTS))
        for name in REGRESSION_TOYS:
            self.entries[name] = Entry(name, f"{name} (2-D, regression)", "regression",
                                       dict(TOY_DEFAULTS))
        for name in SHIPPED_EXAMPLES:
            self.entries[name] = example_entry(load_example(name), name)

    def add_example(self, example: Example) -> Entry:
        """``chainrule serve --example FILE``: the file's example, as the dataset ``example``."""
        entry = example_entry(example, "example")
        self.entries["example"] = entry
        return entry

    def names(self) -> list[str]:
        return list(self.entries)

    def defaults(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or name not in self.entries:
            raise SettingsError(f"dataset must be one of: {', '.join(self.entries)}; got {name!r}")
        return self.entries[name].to_dict()["defaults"]

    def add_upload(self, filename: str, data: Dataset) -> Entry:
        check_upload(data, filename)
        entry = Entry("upload", f"your CSV: {filename}", data.task, dict(CSV_DEFAULTS), data,
                      kind="upload")
        self.entries["upload"] = entry
        return entry

    def load(self, settings: Settings) -> tuple[Dataset, Recipe]:
        """The rows of the settings' dataset (a toy set is drawn from their seed, with their
        noise and feature crosses) and its recipe (with their holdout)."""
        data, recipe = self._load(settings)
        return data, check_loss(settings, data, recipe)

    def _load(self, settings: Settings) -> tuple[Dataset, Recipe]:
        name = settings.dataset
        entry = self.entries[name]
        toy_set = entry.kind == "toy"
        if settings.noise and not toy_set:
            raise SettingsError("noise is for the toy sets; set it to 0 for this table")
        if settings.crosses and not toy_set:
            raise SettingsError("feature crosses are for the 2-D toy sets; choose none for "
                                "this table")
        if (settings.init == EXAMPLE_INIT) != (entry.example is not None):
            raise SettingsError("the initial weights 'example' are a worked example's own; "
                                "choose another initialiser" if entry.example is None else
                                "a worked example starts from its own weights (init example)")
        if entry.example is not None:
            start = entry.example.model.sizes
            sizes = [start[0], *settings.hidden, start[-1]]
            if sizes != start:
                raise SettingsError(f"the example's weights are for a {'-'.join(map(str, start))}"
                                    f" network, not {'-'.join(map(str, sizes))}; keep hidden "
                                    f"{','.join(map(str, start[1:-1])) or 'none'}")
            return entry.data, Recipe(entry.example.loss, "none", 0.0,
                                      entry.example.model.state_dict())
        if entry.data is not None:
            return entry.data, recipe_for(entry.data, settings.holdout / 100)
        if name == "seed":
            return students(), SEED_RECIPE
        data = toy(name, TOY_POINTS, settings.seed, settings.noise / 100, settings.crosses)
        return data, recipe_for(data, settings.holdout / 100)

    def to_list(self) -> list[dict[str, Any]]:
        return [entry.to_dict() for entry in self.entries.values()]
