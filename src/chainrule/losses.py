"""Losses: a number that says how wrong the predictions are, composed of primitives.

Each loss is the mean over rows (and outputs) of a per-element loss, so one row with
one output gives the seed's ``L = (y − ŷ)²`` exactly, and a batch gives the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import ConfigError, ShapeError
from .tensor import Tensor


@dataclass(frozen=True)
class Loss:
    """``L(ŷ, y)`` with its formula and its derivative ``∂L/∂ŷ`` for one element."""

    name: str
    fn: Callable[[Tensor, Any], Tensor]
    formula: str
    derivative: str
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]  # ∂ℓ/∂ŷ per element (not averaged)

    def __call__(self, pred: Tensor, target: Any) -> Tensor:
        target_shape = np.shape(target.data if isinstance(target, Tensor) else target)
        if tuple(target_shape) != pred.shape:
            raise ShapeError(
                f"{self.name}: the targets have shape {tuple(target_shape)} but the "
                f"predictions {pred.shape}; give one target column per output neuron"
            )
        return self.fn(pred, target)


def _mse(pred: Tensor, target: Any) -> Tensor:
    return ((target - pred) ** 2).mean()


MSE = Loss(
    "mse", _mse,
    formula="L = (y − ŷ)²",
    derivative="∂L/∂ŷ = −2(y − ŷ)",
    grad=lambda pred, y: -2.0 * (y - pred),
)

LOSSES: dict[str, Loss] = {"mse": MSE}
_ALIASES = {"mean_squared_error": "mse", "squared_error": "mse", "l2": "mse"}


def get_loss(spec: str | Loss) -> Loss:
    """A loss by name (``mse``), or the loss itself."""
    if isinstance(spec, Loss):
        return spec
    key = str(spec).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        raise ConfigError(f"unknown loss {spec!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[key]
