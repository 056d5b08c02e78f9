"""Optimisers: how a gradient moves the parameters.

Each update rule is written once, for one array, as a plain NumPy function that works
in place (``sgd_``); an optimiser object keeps the per-parameter state in lists and
applies the rule to each parameter in ``step()``.  The learning rate ``η`` is a number.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .errors import ConfigError
from .tensor import Tensor


def sgd_(w: np.ndarray, g: np.ndarray, lr: float) -> None:
    """In place: w ← w − η g  (the seed's update)."""
    w -= lr * g


def sgd_momentum_(w: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, mu: float,
                  nesterov: bool = False) -> None:
    """In place: v ← μv − ηg ; w ← w + v  (Nesterov: w ← w + μv − ηg)."""
    v *= mu
    v -= lr * g
    if nesterov:
        w += mu * v - lr * g
    else:
        w += v


def _check_rate(lr: Any) -> float:
    try:
        lr = float(lr)
    except (TypeError, ValueError):
        raise ConfigError(f"the learning rate must be a number, got {lr!r}") from None
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"the learning rate must be a positive number, got {lr!r}")
    return lr


class Optimizer:
    """Holds the parameters and their state; ``step()`` applies the update rule to each."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ConfigError("the optimiser got no parameters; pass model.parameters()")
        self.lr = _check_rate(lr)
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.steps += 1
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._update(i, p.data, p.grad)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:  # pragma: no cover
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: ``w ← w − η ∂L/∂w`` (with optional momentum μ)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ConfigError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.velocity = [np.zeros_like(p.data) for p in self.params] if momentum else []

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> None:
        if self.momentum:
            sgd_momentum_(w, g, self.velocity[i], self.lr, self.momentum, self.nesterov)
        else:
            sgd_(w, g, self.lr)


OPTIMIZERS = {"sgd": SGD}


def make_optimizer(spec: str | Optimizer, params: Iterable[Tensor], lr: float = 0.01,
                   **options: Any) -> Optimizer:
    """An optimiser by name (``sgd``) over ``params``, or the optimiser itself."""
    if isinstance(spec, Optimizer):
        return spec
    key = str(spec).strip().lower()
    if key not in OPTIMIZERS:
        raise ConfigError(f"unknown optimiser {spec!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](params, lr=lr, **options)
