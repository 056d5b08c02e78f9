"""The options that choose the data, the network and the loss, and what they decide.

``chainrule train`` and ``chainrule explain`` share them.  With no CSV they give the
seed's example (docs/tutorial.md) exactly (its table, its 2-2-1 linear network, weights 1,
biases 0, raw inputs, η = 1e-5); with a CSV the defaults suit real data (Xavier
weights, standardised inputs and targets, η = 0.01).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import click
import numpy as np

from ..data import Dataset, Scaler, encode_labels, read_csv
from ..tables import MISSING
from ..datasets import students
from ..errors import ConfigError
from ..losses import CLASSIFICATION_LOSSES, LOSSES, get_loss
from ..nn import ACTIVATIONS, Sequential, get_activation, mlp

SEED_LR = 1e-5  # converges on the seed's raw table; 1e-4 already diverges there
CSV_LR = 0.01
MAX_PARAMETERS = 20_000_000  # ~160 MB of float64 weights: more is surely a typo


def parse_hidden(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    text = value.strip().lower()
    if text in ("", "none"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            n = int(part)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a list of layer sizes; write whole numbers separated by "
                "commas, e.g. --hidden 4,3"
            ) from None
        if n < 1:
            raise click.BadParameter(f"every layer needs at least 1 neuron, got {n} (write "
                                     "'none' for no hidden layer)")
        sizes.append(n)
    return sizes


def parse_delimiter(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    text = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}.get(value.lower(), value)
    if len(text) != 1 or text in "\"\r\n":
        raise click.BadParameter(f"{value!r} is not one character; write ',', ';', 'tab' or '|'")
    return text


def positive_float(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not np.isfinite(x) or x <= 0:
        raise click.BadParameter(f"must be a positive number, got {value}")
    return x


def network_options(fn: Callable) -> Callable:
    """The options that choose the data, the network, the loss and the learning rate."""
    options = [
        click.argument("csv", required=False, type=click.Path(dir_okay=False)),
        click.option("--target", "-t", help="Column to predict (comma-separate several). "
                     "[default: the last column]"),
        click.option("--features", "-f", help="Input columns, comma-separated. "
                     "[default: every column but the target]"),
        click.option("--missing", type=click.Choice(list(MISSING)), default="error",
                     show_default=True,
                     help="Rows with blank (or NaN) cells in the columns used: 'error' stops and "
                     "counts them, 'drop' leaves those rows out, 'mean' fills a number column's "
                     "blanks with its mean (a blank category: all its inputs 0)."),
        click.option("--delimiter", default=None, callback=parse_delimiter,
                     help="The character between columns: ',', ';', 'tab' or '|' (any one "
                     "character). [default: found from the header line]"),
        click.option("--task", type=click.Choice(["auto", "regression", "classification"]),
                     default="auto", show_default=True,
                     help="Regression or classification; 'auto' decides from the target column "
                     "(text, or a few repeating whole numbers, means classification) and says so."),
        click.option("--hidden", default="2", show_default=True, callback=parse_hidden,
                     help="Neurons per hidden layer, comma-separated (e.g. 4,3); 'none' for no "
                     "hidden layer."),
        click.option("--activation", "-a", default="linear", show_default=True,
                     help=f"Hidden-layer activation ({', '.join(a for a in ACTIVATIONS if a != 'softmax')}; "
                     "leaky_relu:0.2 sets the slope), or one per hidden layer, comma-separated."),
        click.option("--output-activation", default="linear", show_default=True,
                     help="The output layer's activation (any of the above, e.g. sigmoid for a "
                     "textbook example). Classification losses work on a linear output (logits)."),
        click.option("--init", default=None,
                     help="Weight initialiser: ones, zeros, uniform, normal, xavier, he, lecun "
                     "(and _uniform/_normal variants, constant:VALUE), or one per layer, "
                     "comma-separated. Biases start at 0. "
                     "[default: ones on the built-in table, as the seed does; xavier on a CSV]"),
        click.option("--scale", type=click.Choice(Scaler.KINDS), default=None,
                     help="Scale the inputs (and regression targets), fitted on the training rows "
                     "and kept in the model. [default: none on the built-in table; standard on a CSV]"),
        click.option("--loss", default=None,
                     help=f"Loss: {', '.join(LOSSES)} (huber:0.5 sets δ). "
                     "[default: mse for regression, cross_entropy for classification]"),
        click.option("--lr", type=str, default=None, callback=positive_float,
                     help=f"Learning rate η in w ← w − η ∂L/∂w. "
                     f"[default: {SEED_LR:g} on the built-in table, {CSV_LR:g} on a CSV]"),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Seed of the random generator (initial weights, row order, validation split)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@dataclass
class Setup:
    """What the network options decided: data, model, loss, learning rate, and how to say it."""

    data: Dataset
    model: Sequential
    loss: str
    lr: float
    init: str
    scale: str
    builtin: bool
    seed: int

    @property
    def classification(self) -> bool:
        return self.loss in CLASSIFICATION_LOSSES


def build(csv: str | None, target: str | None, features: str | None, task: str,
          hidden: list[int], activation: str, init: str | None, scale: str | None,
          loss: str | None, lr: float | None, seed: int, output_activation: str = "linear",
          missing: str = "error", delimiter: str | None = None, data: Dataset | None = None,
          classes: Any = None, **_: Any) -> Setup:
    """Read the data (or take ``data``: a streamed table's first rows, and ``classes``, all
    its labels) and build the network the options describe."""
    builtin = csv is None
    if data is not None:
        pass
    elif builtin:
        if target or features:
            raise ConfigError("--target and --features need a CSV file: chainrule train data.csv --target COLUMN")
        data = students()
        if task == "classification":
            raise ConfigError("the built-in table is a regression problem; give a CSV for classification")
    else:
        data = read_csv(csv, target=target, features=features, task=task, missing=missing,
                        delimiter=delimiter, progress=lambda line: click.echo(line, err=True))
    classify = data.task == "classification"
    loss_fn = get_loss(loss or ("cross_entropy" if classify else "mse"))
    if classify != (loss_fn.name in CLASSIFICATION_LOSSES):
        wanted = "cross_entropy or bce" if classify else "mse, mae, huber or sse_half"
        raise ConfigError(f"the loss {loss_fn.name} does not fit a {data.task} target; use {wanted} "
                          f"(or --task {'regression' if classify else 'classification'})")
    if classify:  # encode_labels refuses a single class; fit refuses bce for more than two
        outputs = 1 if loss_fn.name == "bce" else len(
            classes if classes is not None else encode_labels(data.y)[0])
    else:
        outputs = data.y.shape[1]
    init = init or ("ones" if builtin else "xavier")
    sizes = [data.X.shape[1], *hidden, outputs]
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMETERS:
        raise ConfigError(
            f"a {'-'.join(map(str, sizes))} network has {count:,} parameters, more than "
            f"chainrule's limit of {MAX_PARAMETERS:,}; choose smaller --hidden sizes"
        )
    acts = [a.strip() for a in activation.split(",")] if "," in activation else activation
    hidden_kinds = [a for a in ACTIVATIONS if get_activation(a).elementwise]
    for name in ([acts] if isinstance(acts, str) else acts):
        try:
            kind = get_activation(name)
        except ConfigError as exc:
            if "unknown activation" not in str(exc):
                raise
            raise ConfigError(f"unknown activation {name!r}; for a hidden layer choose one of: "
                              f"{', '.join(hidden_kinds)}") from None
        if not kind.elementwise:
            raise ConfigError(f"{name} couples a layer's neurons and can't be a hidden activation; "
                              "for classes, the cross_entropy loss applies softmax to the outputs")
    output = get_activation(output_activation)
    if not output.elementwise:
        raise ConfigError(f"--output-activation {output.name} couples the outputs; for classes, "
                          "the cross_entropy loss applies softmax itself (keep the output linear)")
    if classify and output.name != "linear":
        raise ConfigError(f"the loss {loss_fn.name} works on logits and applies "
                          f"{'σ' if loss_fn.name == 'bce' else 'softmax'} itself; drop "
                          f"--output-activation {output.spec} (keep the output linear)")
    inits = [i.strip() for i in init.split(",")] if "," in init else init
    model = mlp(sizes, activation=acts, output_activation=output.spec, init=inits, seed=seed)
    model.encoding = data.encoding  # text columns → one-hot inputs, kept in the saved model
    return Setup(data, model, loss_fn.spec, lr or (SEED_LR if builtin else CSV_LR), init,
                 scale or ("none" if builtin else "standard"), builtin, seed)


def shown_path(path: str) -> str:
    """A data path as a user would type it here: relative to the current folder when inside it."""
    if not os.path.isabs(path):
        return path
    here = os.path.relpath(path)
    return path if here.startswith("..") else here


def describe(setup: Setup) -> list[str]:
    """The data and the network, in two or three lines."""
    d = setup.data
    source = "the seed's table of students" if setup.builtin else shown_path(d.source)
    inputs = d.encoding.inputs if d.encoding is not None else d.feature_names
    shown = ", ".join(inputs[:12]) + (f", … ({len(inputs)} columns)" if len(inputs) > 12 else "")
    lines = [f"data     {source}: {len(d)} rows, {shown} → {', '.join(d.target_names)}"]
    lines += [f"         {note}" for note in d.notes]
    acts = ", ".join(layer.activation.spec for layer in setup.model.layers[:-1]) or "none"
    scaled = "" if setup.scale == "none" else f"; inputs scaled ({setup.scale})"
    output = setup.model.layers[-1].activation.spec
    start = (f"initial weights and biases {setup.init}" if setup.init.startswith("from ")
             else f"initial weights: {setup.init}, biases: 0")
    lines.append(f"network  {'-'.join(map(str, setup.model.sizes))} (hidden activation: {acts}; "
                 f"output: {output}), {start}{scaled}")
    return lines
