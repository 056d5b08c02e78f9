"""Learning-rate schedules: the rate η as a function of the epoch.

A schedule is a function of the **epoch index** ``e``, counted from 0 (``fit``'s epoch
k, counted from 1 in ``History``, runs with ``η = schedule(k − 1)``).  The optimiser
asks for the rate at the start of each epoch (``Optimizer.start_epoch(e)``) and keeps
it for every step of that epoch; after the epoch it tells the schedule the epoch's mean
training loss (``Optimizer.end_epoch(e, loss)``), which only ``ReduceOnPlateau`` uses.
A schedule is never a function of the step: a batch size of 1 or of the whole set sees
the same rates per epoch.

With ``η₀`` the first rate:

* ``StepDecay``:        ``η_e = η₀ γ^⌊e / step_size⌋``                (torch ``StepLR``)
* ``ExponentialDecay``: ``η_e = η₀ γ^e``                              (torch ``ExponentialLR``)
* ``InverseScaling``:   ``η_e = η₀ / (e + 1)^power``                  (scikit-learn ``invscaling``, per epoch)
* ``CosineDecay``:      ``η_e = η_min + (η₀ − η_min)(1 + cos(π min(e, T)/T))/2``, then ``η_min``
* ``ReduceOnPlateau``:  ``η ← max(factor · η, min_lr)`` once more than ``patience`` epochs
  in a row have not improved the loss by a relative ``threshold`` (torch
  ``ReduceLROnPlateau``: with patience 2 the rate drops at the end of the 3rd such epoch)

Any function ``e -> η`` works as a schedule too.
"""

from __future__ import annotations

import inspect

import math
from typing import Any

from .errors import ConfigError


def _positive(value: Any, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return value


def _fraction(value: Any, what: str) -> float:
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{what} must be a number in (0, 1], got {value!r}")
    return value


def _count(value: Any, what: str, least: int = 0) -> int:
    if isinstance(value, bool) or int(value) != value or value < least:
        raise ConfigError(f"{what} must be a whole number ≥ {least}, got {value!r}")
    return int(value)


class Schedule:
    """A learning rate that depends on the epoch index ``e`` (0 for the first epoch)."""

    lr: float  # η₀, the rate of the first epoch

    def __call__(self, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def observe(self, epoch: int, loss: float) -> None:
        """Hear epoch ``epoch``'s mean training loss once it has ended (most schedules don't listen)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class StepDecay(Schedule):
    """``η_e = η₀ γ^⌊e / step_size⌋``: multiply by γ every ``step_size`` epochs."""

    def __init__(self, lr: float, step_size: int = 10, gamma: float = 0.1) -> None:
        self.lr = _positive(lr, "the learning rate")
        self.step_size = _count(step_size, "step_size", least=1)
        self.gamma = _fraction(gamma, "gamma")

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """``η_e = η₀ γ^e``: multiply by γ every epoch."""

    def __init__(self, lr: float, gamma: float = 0.95) -> None:
        self.lr = _positive(lr, "the learning rate")
        self.gamma = _fraction(gamma, "gamma")

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma ** epoch


class InverseScaling(Schedule):
    """``η_e = η₀ / (e + 1)^power``."""

    def __init__(self, lr: float, power: float = 0.5) -> None:
        self.lr = _positive(lr, "the learning rate")
        self.power = _positive(power, "power")

    def __call__(self, epoch: int) -> float:
        return self.lr / (epoch + 1) ** self.power


class CosineDecay(Schedule):
    """``η_e = η_min + (η₀ − η_min)(1 + cos(π e / T))/2`` for ``e ≤ T = epochs``, then ``η_min``."""

    def __init__(self, lr: float, epochs: int, min_lr: float = 0.0) -> None:
        self.lr = _positive(lr, "the learning rate")
        self.epochs = _count(epochs, "epochs (T, the length of the cosine)", least=1)
        self.min_lr = float(min_lr)
        if not 0.0 <= self.min_lr <= self.lr:
            raise ConfigError(f"min_lr must be between 0 and the learning rate, got {min_lr!r}")

    def __call__(self, epoch: int) -> float:
        e = min(epoch, self.epochs)
        return self.min_lr + (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * e / self.epochs)) / 2.0


class ReduceOnPlateau(Schedule):
    """``η ← max(factor · η, min_lr)`` when the loss stops improving (torch ``ReduceLROnPlateau``).

    An epoch improves when its loss is below ``best · (1 − threshold)``.  After more
    than ``patience`` epochs in a row without improvement the rate drops, then
    ``cooldown`` epochs pass before counting again.  A drop smaller than ``eps`` is skipped.
    """

    def __init__(self, lr: float, factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8) -> None:
        self.lr = _positive(lr, "the learning rate")
        self.factor = float(factor)
        if not 0.0 < self.factor < 1.0:
            raise ConfigError(f"factor must be a number in (0, 1), got {factor!r}")
        self.patience = _count(patience, "patience")
        self.threshold = float(threshold)
        self.cooldown = _count(cooldown, "cooldown")
        self.min_lr, self.eps = float(min_lr), float(eps)
        self.rate = self.lr
        self.best = math.inf
        self.bad_epochs = 0
        self._cooldown_left = 0

    def __call__(self, epoch: int) -> float:
        return self.rate

    def observe(self, epoch: int, loss: float) -> None:
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        if self._cooldown_left > 0:
            self._cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            lower = max(self.rate * self.factor, self.min_lr)
            if self.rate - lower > self.eps:
                self.rate = lower
            self._cooldown_left, self.bad_epochs = self.cooldown, 0


SCHEDULES: dict[str, type[Schedule]] = {
    "step": StepDecay, "exponential": ExponentialDecay, "invscaling": InverseScaling,
    "cosine": CosineDecay, "plateau": ReduceOnPlateau,
}


def make_schedule(name: str, lr: float, **options: Any) -> Schedule:
    """A schedule by name (``step``, ``exponential``, ``invscaling``, ``cosine``, ``plateau``)
    starting at ``lr``; ``options`` are the class's (``gamma=0.5``, ``patience=3``, ...)."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    known = [name for name in inspect.signature(SCHEDULES[key]).parameters if name != "lr"]
    unknown = [name for name in options if name not in known]
    if unknown:
        raise ConfigError(f"the {key} schedule has no option {', '.join(map(repr, unknown))}; its "
                          f"options are: {', '.join(known)} (e.g. {key}:{known[0]}=…)")
    try:
        return SCHEDULES[key](lr, **options)
    except TypeError as exc:
        raise ConfigError(f"schedule {key!r}: {exc}") from None

