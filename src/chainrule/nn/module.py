"""Module: the base of every layer and model.

A module finds its parameters by walking its own attributes: a ``Tensor`` with
``requires_grad`` is a parameter, a ``Module`` is searched in turn, and a list or tuple
is searched item by item.  The dotted names this yields (``layers.0.weight``) are the
names used by model files, the command line and ``explain``.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .. import ops
from ..data import Scaler
from ..errors import ConfigError, DataError, ShapeError
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

    # -- prediction on raw data: the scalers and classes ``fit`` kept ---------------
    x_scaler: Scaler | None = None  # applied to inputs before the first layer
    y_scaler: Scaler | None = None  # undone on regression outputs
    classes_: np.ndarray | None = None  # labels of a classifier's outputs
    head: str | None = None  # "softmax" or "sigmoid": how outputs become probabilities
    encoding: Any = None  # data.tables.Encoding: raw columns (text → one-hot) to the inputs

    def forward_array(self, X: Any) -> np.ndarray:
        """The raw outputs (logits for a classifier) for already-scaled inputs, no graph."""
        with no_grad():
            return self(X).data

    def probabilities(self, out: np.ndarray) -> np.ndarray:
        """Class probabilities (rows × classes) from raw outputs: softmax, or σ for one output."""
        if self.head == "sigmoid":
            p = ops.sigmoid(out[..., 0])
            return np.stack([1.0 - p, p], axis=-1)
        return ops.softmax(out)

    def _raw(self, X: Any) -> np.ndarray:
        if self.encoding is not None and hasattr(X, "columns"):  # a DataFrame of raw columns
            from ..tables import encode_frame

            X = encode_frame(X, self.encoding, self.dtype)[0]
        arr = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=self.dtype)
        if not np.all(np.isfinite(arr)):
            raise DataError("the inputs contain NaN or infinite values; fill or remove those rows")
        if self.x_scaler is not None:
            arr = self.x_scaler.transform(arr)
        return self.forward_array(arr)

    def predict(self, X: Any) -> np.ndarray:
        """The model's answer for raw inputs ``X``: labels for a classifier, else outputs
        in the targets' own units (the scalers ``fit`` kept are applied and undone)."""
        out = self._raw(X)
        if self.classes_ is not None:
            return self.classes_[np.argmax(self.probabilities(out), axis=-1)]
        return out if self.y_scaler is None else self.y_scaler.inverse(out)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (rows × classes, in the order of ``classes_``) for raw ``X``."""
        if self.classes_ is None:
            raise ConfigError("predict_proba needs a classifier: train with loss='cross_entropy' "
                              "or 'bce' on labels")
        return self.probabilities(self._raw(X))


def _walk(value: Any, name: str) -> Iterator[tuple[str, Tensor]]:
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(name + ".")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{name}.{i}")
