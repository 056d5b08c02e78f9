"""The seed's notation for a stack of dense layers, and parsing it back.

``w^k_ij``: weight from neuron i of layer k−1 to neuron j of layer k (inputs are layer
0), stored at ``layers[k-1].weight[i-1, j-1]``.  ``b_kj``: bias of neuron j of layer k,
at ``layers[k-1].bias[j-1]``.  ``O_kj``: output of neuron j of layer k.  Indices of 10
or more are separated by a comma (``w^1_3,12``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError


def _pair(a: int, b: int) -> str:
    return f"{a}{b}" if a < 10 and b < 10 else f"{a},{b}"


@dataclass(frozen=True)
class ParamRef:
    """One number among a model's parameters, named in the seed's notation."""

    kind: str  # "w" or "b"
    layer: int  # k, counting the first hidden layer as 1
    i: int  # source neuron (1-based) for a weight; 0 for a bias
    j: int  # neuron (1-based) in layer k

    @property
    def symbol(self) -> str:
        if self.kind == "w":
            return f"w^{self.layer}_{_pair(self.i, self.j)}"
        return f"b_{_pair(self.layer, self.j)}"

    @property
    def latex(self) -> str:
        if self.kind == "w":
            return f"w^{{{self.layer}}}_{{{_pair(self.i, self.j)}}}"
        return f"b_{{{_pair(self.layer, self.j)}}}"

    @property
    def name(self) -> str:
        """The dotted parameter name (``layers.0.weight``) the number lives in."""
        return f"layers.{self.layer - 1}.{'weight' if self.kind == 'w' else 'bias'}"

    @property
    def index(self) -> tuple[int, ...]:
        return (self.i - 1, self.j - 1) if self.kind == "w" else (self.j - 1,)

    def __str__(self) -> str:
        return self.symbol


def neuron(k: int, j: int, letter: str = "O") -> str:
    """``O_kj`` (or ``z_kj``) in plain text."""
    return f"{letter}_{_pair(k, j)}"


def parameter_refs(sizes: list[int]) -> list[ParamRef]:
    """Every weight and bias of a network with ``sizes = [inputs, hidden..., outputs]``.

    In the seed's order: layer by layer, the weights (w^k_11, w^k_12, …) then the biases.
    """
    refs: list[ParamRef] = []
    for k in range(1, len(sizes)):
        refs += [ParamRef("w", k, i, j) for i in range(1, sizes[k - 1] + 1)
                 for j in range(1, sizes[k] + 1)]
        refs += [ParamRef("b", k, 0, j) for j in range(1, sizes[k] + 1)]
    return refs


_W = re.compile(r"^w(\d+)_(\d+)(?:,(\d+))?$")
_B = re.compile(r"^b_?(\d+)(?:,(\d+))?$")


def parse_param(text: str, sizes: list[int]) -> ParamRef:
    """Read ``w^1_21``, ``w1_21``, ``w^{1}_{21}``, ``b_21``, ``b21`` or ``b_2,10``."""
    clean = re.sub(r"[\s^{}]", "", str(text)).lower()
    ref = None
    if m := _W.match(clean):
        k, a, b = m.groups()
        if b is not None:
            ref = ParamRef("w", int(k), int(a), int(b))
        elif len(a) == 2:
            ref = ParamRef("w", int(k), int(a[0]), int(a[1]))
    elif m := _B.match(clean):
        a, b = m.groups()
        if b is not None:
            ref = ParamRef("b", int(a), 0, int(b))
        elif len(a) == 2:
            ref = ParamRef("b", int(a[0]), 0, int(a[1]))
    valid = parameter_refs(sizes)
    if ref not in valid:
        shown = ", ".join(r.symbol for r in valid[:40]) + (" …" if len(valid) > 40 else "")
        raise ConfigError(f"no parameter {text!r} in this network; valid names: {shown}")
    return ref
