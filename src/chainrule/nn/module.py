"""Module: the base of every layer and model.

A module finds its parameters by walking its own attributes: a ``Tensor`` with
``requires_grad`` is a parameter, a ``Module`` is searched in turn, and a list or tuple
is searched item by item.  The dotted names this yields (``layers.0.weight``) are the
names used by model files, the command line and ``explain``.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor, no_grad


class Module:
    """A function of an input tensor with parameters; subclasses define ``forward``."""

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: Any) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        return self.forward(x)

    # -- parameters ----------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) for every parameter, in the order they were assigned."""
        for name, value in vars(self).items():
            yield from _walk(value, prefix + name)

    def parameters(self) -> list[Tensor]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    @property
    def dtype(self) -> np.dtype:
        first = next(self.named_parameters(), None)  # the first alone, not the whole walk
        return first[1].dtype if first else np.dtype(np.float64)

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's numbers, by dotted name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy numbers into the parameters (in place, so optimisers keep their arrays)."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unknown = sorted(set(state) - set(own))
        if missing or unknown:
            raise ShapeError(f"state does not match the model: missing {missing}, unknown {unknown}")
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ShapeError(f"{name}: the model has shape {p.shape}, the state {value.shape}")
            p.data[...] = value

    def forward_array(self, X: Any) -> np.ndarray:
        """The raw outputs (logits for a classifier) for already-scaled inputs, no graph."""
        with no_grad():
            return self(X).data


def _walk(value: Any, name: str) -> Iterator[tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(name + ".")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{name}.{i}")
