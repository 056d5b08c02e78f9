"""The pieces an explanation is made of, and how numbers and symbols are written."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..nn.notation import ParamRef, neuron, parse_param

# ------------------------------------------------------------------------------------
# Numbers as the explanation prints them.


def num(v: float) -> str:
    """A number as a person writes it: integers bare, otherwise 6 significant digits."""
    v = float(v)
    if v == 0:
        return "0"
    text = str(int(round(v))) if abs(v) < 1e15 and v == round(v) else f"{v:.6g}"
    return "−" + text[1:] if text.startswith("-") else text


def num_change(old: float, new: float) -> tuple[str, str]:
    """``old`` and ``new`` written so that their difference shows: 6 significant digits,
    or, when a small update leaves those alike, enough more (up to 17) that the change
    itself is written to about 3 digits."""
    old, new = float(old), float(new)
    a, b = num(old), num(new)
    if a != b or old == new or not (math.isfinite(old) and math.isfinite(new)):
        return a, b
    top = math.floor(math.log10(max(abs(old), abs(new))))
    digits = min(17, max(7, top - math.floor(math.log10(abs(new - old))) + 3))
    a, b = (f"{v:.{digits}g}" for v in (old, new))
    return tuple("−" + t[1:] if t.startswith("-") else t for t in (a, b))  # type: ignore[return-value]


def par(v: float) -> str:
    """``num(v)``, in parentheses when negative (for use inside a product)."""
    text = num(v)
    return f"({text})" if text.startswith("−") else text


# ------------------------------------------------------------------------------------
# The pieces of an explanation.


@dataclass
class Equation:
    """``lhs = forms[0] = forms[1] = …``: the same quantity written ever more concretely."""

    lhs: str
    forms: list[str]
    value: float | None = None
    note: str | None = None

    @property
    def text(self) -> str:
        return " = ".join([self.lhs, *self.forms])

    def to_dict(self) -> dict[str, Any]:
        return {"lhs": self.lhs, "forms": self.forms, "value": self.value, "note": self.note}


@dataclass
class Factor:
    """One factor of a chain-rule product: its symbol, formula, the formula with numbers, value."""

    symbol: str
    formula: str
    numbers: str
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "formula": self.formula, "numbers": self.numbers,
                "value": self.value}


@dataclass
class RowGradient:
    """``∂L_n/∂θ`` for one row n: the main product and the equations it rests on."""

    row: int
    chain: Equation
    factors: list[Factor]
    steps: list[Equation]
    value: float

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "chain": self.chain.to_dict(),
                "factors": [f.to_dict() for f in self.factors],
                "steps": [s.to_dict() for s in self.steps], "value": self.value}


@dataclass
class Check:
    """The central finite-difference estimate of the same gradient."""

    numeric: float
    rel_error: float

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "rel_error": self.rel_error}


@dataclass
class ParamExplanation:
    """Everything about one weight or bias: per-row derivations, the gradient, the update."""

    ref: ParamRef
    rows: list[RowGradient]
    gradient: float
    mean: Equation | None
    update: Equation
    old: float
    new: float
    flags: list[str] = field(default_factory=list)
    check: Check | None = None
    l2: Equation | None = None  # with weight decay λ: ∂L/∂θ + λ·θ, what the update uses

    @property
    def symbol(self) -> str:
        return self.ref.symbol

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.ref.symbol, "latex": self.ref.latex, "name": self.ref.name,
            "index": list(self.ref.index), "kind": "weight" if self.ref.kind == "w" else "bias",
            "layer": self.ref.layer, "rows": [r.to_dict() for r in self.rows],
            "mean": self.mean.to_dict() if self.mean else None, "gradient": self.gradient,
            "update": {**self.update.to_dict(), "old": self.old, "new": self.new},
            "flags": self.flags, "check": self.check.to_dict() if self.check else None,
            "l2": self.l2.to_dict() if self.l2 else None,
        }


@dataclass
class RowData:
    """One row: its numbers, the forward pass, its loss and (δ form) its δ table.

    ``x`` and ``y`` are what the network sees; ``raw_x`` and ``raw_y`` the row as the
    data have it when the model scales them, and ``label`` the class of a one-hot target.
    """

    index: int
    x: np.ndarray
    y: np.ndarray
    forward: list[Equation]
    loss: Equation
    deltas: list[Equation] = field(default_factory=list)
    raw_x: np.ndarray | None = None
    raw_y: np.ndarray | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "x": self.x.tolist(), "y": self.y.tolist(),
                "raw_x": None if self.raw_x is None else self.raw_x.tolist(),
                "raw_y": None if self.raw_y is None else self.raw_y.tolist(), "label": self.label,
                "forward": [e.to_dict() for e in self.forward], "loss": self.loss.to_dict(),
                "deltas": [e.to_dict() for e in self.deltas]}


JSON_VERSION = 2


@dataclass
class Explanation:
    """The forward pass, the loss and the chain rule for the chosen parameters, with numbers."""

    sizes: list[int]
    activations: list[str]
    loss_name: str
    loss_formula: str
    lr: float
    rows: list[RowData]
    loss: Equation
    params: list[ParamExplanation]
    form: str = "paths"  # "paths": each parameter's chain; "delta": the δ table first
    notes: list[str] = field(default_factory=list)  # about neurons (δ form): dead ReLUs, …
    step: int | None = None  # its number in a sequence of steps
    scaling: str | None = None  # how the model scales its inputs ("standard"), if it does

    def __getitem__(self, symbol: str) -> ParamExplanation:
        ref = parse_param(symbol, self.sizes)
        for p in self.params:
            if p.ref == ref:
                return p
        raise ConfigError(f"{symbol} is not among the explained parameters")

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": JSON_VERSION, "form": self.form, "step": self.step,
            "network": {"sizes": self.sizes, "activations": self.activations},
            "scaling": self.scaling, "notes": self.notes,
            "loss": {"name": self.loss_name, "formula": self.loss_formula},
            "lr": self.lr, "rows": [r.to_dict() for r in self.rows],
            "loss_value": self.loss.to_dict(), "parameters": [p.to_dict() for p in self.params],
        }

    def render(self, fmt: str = "text", standalone: bool = False) -> str:
        from .render import render

        return render(self, fmt, standalone)

    def __str__(self) -> str:
        return self.render("text")


# ------------------------------------------------------------------------------------
# Symbols of one network.


class Names:
    """The symbols of one network: ``x_i``, ``O_kj``, ``z_kj``, ``ŷ`` (or, for a loss on
    logits, ``z_Kj`` at the output), ``y``, ``w^k_ij``, ``b_kj``, ``δ^k_j``."""

    def __init__(self, sizes: list[int], logits: bool = False) -> None:
        self.sizes, self.K, self.logits = sizes, len(sizes) - 1, logits

    def O(self, k: int, j: int) -> str:  # noqa: E743 - the seed's letter
        if k == 0:
            return f"x_{j}"
        if k == self.K:
            if self.logits:
                return neuron(k, j, "z")
            return "ŷ" if self.sizes[-1] == 1 else f"ŷ_{j}"
        return neuron(k, j)

    def z(self, k: int, j: int) -> str:
        return neuron(k, j, "z")

    def y(self, j: int) -> str:
        return "y" if self.sizes[-1] == 1 else f"y_{j}"

    @staticmethod
    def w(k: int, i: int, j: int) -> str:
        return ParamRef("w", k, i, j).symbol

    @staticmethod
    def b(k: int, j: int) -> str:
        return ParamRef("b", k, 0, j).symbol

    @staticmethod
    def delta(k: int, j: int) -> str:
        return f"δ^{k}_{j}"


def d(top: str, bottom: str) -> str:
    return f"∂{top}/∂{bottom}"


def fill(text: str, arg: str, value: str) -> str:
    """``text`` with the symbol ``arg`` replaced by ``value`` (a name or a number)."""
    return re.sub(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_\d])", value, text)


PARAM_SYMBOLS = {"alpha": "α", "slope": "slope", "delta": "δ"}


def fill_numbers(text: str, arg: str, value: float, params: dict[str, float]) -> str:
    """``text`` with its argument and its parameters (``slope``, ``α``) as numbers; a negative
    number gets parentheses unless it already stands alone as a function's argument, as in
    ``tanh(−0.5)`` or ``max(−0.5, 0)``."""
    for name, number in params.items():
        text = fill(text, PARAM_SYMBOLS.get(name, name), num(number))
    pattern = re.compile(rf"(?<![A-Za-z_]){re.escape(arg)}(?![A-Za-z_\d])")

    def one(m: re.Match) -> str:
        before, after = text[:m.start()], text[m.end():]
        alone = before.endswith(("(", ", ")) and after.startswith((")", ","))
        return num(value) if alone else par(value)

    return pattern.sub(one, text)
