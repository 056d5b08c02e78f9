"""Worked examples as small TOML files, in the seed's notation.

A file states a whole step as a textbook writes it::

    title = "the 2-2-2 sigmoid example"
    sizes = [2, 2, 2]                 # inputs, hidden layer(s), outputs
    activation = "sigmoid"            # hidden layers: one name, or a list, one per layer
    output_activation = "sigmoid"     # [default: linear]
    loss = "sse_half"                 # [default: mse]
    lr = 0.5                          # η [default: 0.01]
    x = [0.05, 0.10]                  # one row and its targets …
    y = [0.01, 0.99]                  # … or rows = [[…], …] with targets = [[…], …]

    [weights]                         # every weight w^k_ij (from neuron i of layer k−1
    "w^1_11" = 0.15                   #  to neuron j of layer k), by symbol
    …
    [biases]                          # every bias b_kj, or a whole layer at once:
    "b_1" = 0.35                      #  "b_1" = 0.35 is b_11 = b_12 = 0.35

``load_example`` reads one (or a shipped one by name: ``seed``, ``sigmoid-2-2-2``) into
a model with those weights and the rows; ``init_from`` sets a model's weights from one
(``train --init-from``).  Anything missing, extra or malformed is one ``ConfigError``
line that names the file and the symbol.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from .. import files
from ..errors import ChainruleError, ConfigError
from ..losses import CLASSIFICATION_LOSSES, get_loss
from ..nn import Sequential, get_activation, mlp, parameter_refs, parse_param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYS = ("title", "sizes", "activation", "output_activation", "loss", "lr", "x", "y", "rows",
        "targets", "weights", "biases")
MAX_NEURONS = 1000  # an example is written by hand; more is a typo


@dataclass
class Example:
    """A worked example: the network with its weights, the rows, the loss and η."""

    name: str
    title: str | None
    model: Sequential
    X: np.ndarray
    Y: np.ndarray
    loss: str
    lr: float


def shipped() -> list[str]:
    """The names of the examples that come with chainrule."""
    folder = resources.files(__package__) / "examples"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def read_text(spec: str) -> tuple[str, str]:
    """(name, text) of an example file, or of a shipped example named without ``.toml``."""
    if spec in shipped():
        return spec, (resources.files(__package__) / "examples" / f"{spec}.toml").read_text("utf-8")
    if not os.path.lexists(spec):
        raise ConfigError(f"no example file {spec!r}; give a .toml file or a shipped example: "
                          f"{', '.join(shipped())}")
    data = files.read(spec, "example file")  # a regular file only, read to its size
    try:
        return spec, data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{spec}: cannot read it ({e}); give a UTF-8 text file") from None


def load_example(spec: str) -> Example:
    """The example in the file ``spec`` (or the shipped example of that name)."""
    name, text = read_text(spec)
    return parse_example(text, name)


def parse_example(text: str, name: str = "example") -> Example:
    """An ``Example`` from the text of a TOML file (``name`` goes into the error messages)."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML ({e})") from None
    try:
        return _build(doc, name)
    except ChainruleError as e:  # an unknown loss or activation from the parts: same one line
        if str(e).startswith(f"{name}: "):
            raise
        raise ConfigError(f"{name}: {e}") from None


def _fail(name: str, message: str) -> ConfigError:
    return ConfigError(f"{name}: {message}")


def _number(value: Any, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise _fail(name, f"{what} must be a finite number, got {value!r}")
    return float(value)


def _rows(value: Any, width: int, what: str, name: str) -> np.ndarray:
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise _fail(name, f"{what} must be a list of rows, each a list of {width} numbers")
    for n, row in enumerate(value, start=1):
        if len(row) != width:
            raise _fail(name, f"row {n} of {what} has {len(row)} number(s); the network needs {width}")
    return np.array([[_number(v, f"row {n} of {what}", name) for v in row]
                     for n, row in enumerate(value, start=1)])


def _build(doc: dict[str, Any], name: str) -> Example:
    extra = [k for k in doc if k not in KEYS]
    if extra:
        raise _fail(name, f"unknown key {extra[0]!r}; an example has: {', '.join(KEYS)}")
    sizes = doc.get("sizes")
    if sizes is None:
        raise _fail(name, "sizes is missing; give the layer sizes, inputs first: sizes = [2, 2, 1]")
    if not isinstance(sizes, list) or len(sizes) < 2 or any(
            isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_NEURONS for n in sizes):
        raise _fail(name, f"sizes must be a list of 2 or more whole numbers from 1 to {MAX_NEURONS}, "
                    f"inputs first (e.g. [2, 2, 1]), got {sizes!r}")
    hidden = len(sizes) - 2
    acts = doc.get("activation", "linear")
    acts = [acts] * hidden if isinstance(acts, str) else acts
    if not isinstance(acts, list) or not all(isinstance(a, str) for a in acts) or len(acts) != hidden:
        raise _fail(name, f"activation must be one name or a list of {hidden} (one per hidden "
                    f"layer), got {doc.get('activation')!r}")
    output = doc.get("output_activation", "linear")
    for act in [*acts, output]:
        if not isinstance(act, str) or not get_activation(act).elementwise:
            raise _fail(name, f"activation {act!r} can't be written neuron by neuron; use an "
                        "elementwise one (softmax is part of the cross_entropy loss)")
    loss_name = doc.get("loss", "mse")
    if not isinstance(loss_name, str):
        raise _fail(name, f"loss must be a name such as \"mse\" or \"sse_half\", got {loss_name!r}")
    loss = get_loss(loss_name)
    if loss.name in CLASSIFICATION_LOSSES and get_activation(output).name != "linear":
        raise _fail(name, f"the loss {loss.name} works on logits (it applies "
                    f"{'σ' if loss.name == 'bce' else 'softmax'} itself); leave output_activation linear")
    lr = _number(doc.get("lr", 0.01), "lr", name)
    if lr <= 0:
        raise _fail(name, f"lr must be positive, got {lr:g}")
    X, Y = _data(doc, sizes, name)
    model = mlp(sizes, activation=acts, output_activation=output, init="zeros")
    _set_weights(model, doc.get("weights"), name)
    _set_biases(model, doc.get("biases"), name)
    title = doc.get("title")
    return Example(name, str(title) if title is not None else None, model, X, Y, loss.spec, lr)


def _data(doc: dict[str, Any], sizes: list[int], name: str) -> tuple[np.ndarray, np.ndarray]:
    one, many = ("x" in doc or "y" in doc), ("rows" in doc or "targets" in doc)
    if one and many:
        raise _fail(name, "give either x and y (one row) or rows and targets, not both")
    if one:
        for key in ("x", "y"):
            if key not in doc:
                raise _fail(name, f"{key} is missing; give the row's inputs x and its targets y")
        return (_rows([doc["x"]] if isinstance(doc["x"], list) else doc["x"], sizes[0], "x", name),
                _rows([doc["y"]] if isinstance(doc["y"], list) else [[doc["y"]]], sizes[-1], "y", name))
    if many:
        for key in ("rows", "targets"):
            if key not in doc:
                raise _fail(name, f"{key} is missing; give the inputs (rows) and the targets")
        X = _rows(doc["rows"], sizes[0], "rows", name)
        targets = doc["targets"]
        if isinstance(targets, list) and all(not isinstance(t, list) for t in targets):
            targets = [[t] for t in targets]  # one output: targets = [5, 3, 8]
        Y = _rows(targets, sizes[-1], "targets", name)
        if len(X) != len(Y):
            raise _fail(name, f"rows has {len(X)} row(s) but targets {len(Y)}; give one target row per row")
        return X, Y
    raise _fail(name, "no data; give x and y (one row) or rows and targets")


def _set_weights(model: Sequential, table: Any, name: str) -> None:
    sizes = model.sizes
    wanted = [r for r in parameter_refs(sizes) if r.kind == "w"]
    if not isinstance(table, dict):
        raise _fail(name, f"the [weights] table is missing; give every weight of the "
                    f"{'-'.join(map(str, sizes))} network by symbol: \"{wanted[0].symbol}\" = 0.15, …")
    given = {}
    for key, value in table.items():
        ref = _ref(key, sizes, "weights", name)
        if ref.kind != "w":
            raise _fail(name, f"[weights] has {key!r}, a bias; put it under [biases]")
        if ref in given:
            raise _fail(name, f"[weights] gives {ref.symbol} twice")
        given[ref] = _number(value, ref.symbol, name)
    missing = [r.symbol for r in wanted if r not in given]
    if missing:
        raise _fail(name, f"weight {missing[0]} is missing from [weights]"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    for ref, value in given.items():
        model.layers[ref.layer - 1].weight.data[ref.index] = value


_LAYER = re.compile(r"^b_?(\d)$")


def _set_biases(model: Sequential, table: Any, name: str) -> None:
    sizes = model.sizes
    wanted = [r for r in parameter_refs(sizes) if r.kind == "b"]
    if not isinstance(table, dict):
        raise _fail(name, "the [biases] table is missing; give every bias by symbol (\"b_11\" = 0.35) "
                    "or a whole layer at once (\"b_1\" = 0.35)")
    given: dict[Any, float] = {}
    for key, value in table.items():
        m = _LAYER.match(re.sub(r"[\s{}]", "", str(key)).lower())
        if m:
            k = int(m[1])
            if not 1 <= k < len(sizes):
                raise _fail(name, f"[biases] has {key!r}, but the network's layers are 1 to {len(sizes) - 1}")
            refs = [r for r in wanted if r.layer == k]
        else:
            ref = _ref(key, sizes, "biases", name)
            if ref.kind != "b":
                raise _fail(name, f"[biases] has {key!r}, a weight; put it under [weights]")
            refs = [ref]
        number = _number(value, str(key), name)
        for ref in refs:
            if ref in given:
                raise _fail(name, f"[biases] gives {ref.symbol} twice")
            given[ref] = number
    missing = [r.symbol for r in wanted if r not in given]
    if missing:
        raise _fail(name, f"bias {missing[0]} is missing from [biases]"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                    + f"; \"b_{int(missing[0][2])}\" = 0 sets a whole layer")
    for ref, value in given.items():
        model.layers[ref.layer - 1].bias.data[ref.index] = value


def _ref(key: str, sizes: list[int], table: str, name: str) -> Any:
    try:
        return parse_param(key, sizes)
    except ConfigError:
        raise _fail(name, f"[{table}] has {key!r}, which the {'-'.join(map(str, sizes))} network "
                    "does not have (weights are w^k_ij, biases b_kj)") from None


def init_from(spec: str, model: Sequential) -> None:
    """Set ``model``'s weights and biases from an example file's ``[weights]`` and
    ``[biases]`` (its ``sizes``, if given, must be the model's); the rest is not used."""
    name, text = read_text(spec)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{name}: not valid TOML ({e})") from None
    sizes = doc.get("sizes")
    if sizes is not None and sizes != model.sizes:
        raise _fail(name, f"its network is {'-'.join(map(str, sizes)) if isinstance(sizes, list) else sizes}"
                    f" but this one is {'-'.join(map(str, model.sizes))}; match --hidden and the "
                    "data's columns to the file")
    _set_weights(model, doc.get("weights"), name)
    _set_biases(model, doc.get("biases"), name)
