"""Activations: each neuron's ``O = f(z)`` and its derivative written from ``O``.

The derivative is a function of the activation's output (``tanh_grad(O) = 1 − O²``), so
the graph engine, ``explain`` and the fused loop all use the same function from
``ops``.  The non-linear ones are primitives of ``ops``; ``linear`` is the identity and
adds no node to the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import ops
from ..errors import ConfigError
from ..tensor import Tensor, apply


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def _one(out: np.ndarray) -> np.ndarray:
    return np.ones_like(out)


@dataclass(frozen=True)
class Activation:
    """``O = f(z)`` for a layer's neurons, with ``f'(z)`` computed from ``O``."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    grad: Callable[[np.ndarray], np.ndarray]
    expr: str  # f(z) written out, e.g. "tanh(z)"
    derivative: str  # f'(z) written out, from the primitive table
    primitive: ops.Primitive | None = None

    def __call__(self, z: Tensor) -> Tensor:
        return z if self.primitive is None else apply(self.primitive, z)


def _from_primitive(name: str, prim: ops.Primitive, grad: Callable) -> Activation:
    return Activation(name, prim.forward, grad, prim.expr, prim.local[0], prim)


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", _identity, _one, "z", "1"),
    "sigmoid": _from_primitive("sigmoid", ops.SIGMOID, ops.sigmoid_grad),
    "tanh": _from_primitive("tanh", ops.TANH, ops.tanh_grad),
    "relu": _from_primitive("relu", ops.RELU, ops.relu_grad),
}


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name (``linear``, ``sigmoid``, ``tanh``, ``relu``)."""
    if isinstance(name, Activation):
        return name
    key = str(name).strip().lower()
    if key not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[key]
