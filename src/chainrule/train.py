"""The training loop: the seed's algorithm, for any batch size.

For each epoch: put the rows in a (seeded) random order; for each batch of
``batch_size`` rows (1 is the seed's per-row algorithm): predict, measure the loss,
back-propagate, and move every parameter by its update rule (``w ← w − η ∂L/∂w`` for
SGD).  A loss or gradient that stops being finite ends training with a
``DivergenceError`` *before* it can reach the weights.  Ctrl-C ends training cleanly
after the current step, with the weights kept.
"""

from __future__ import annotations

import math
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from .data import as_arrays
from .errors import ConfigError, DivergenceError
from .init import make_rng
from .losses import Loss, get_loss
from .nn.module import Module
from .optim import Optimizer, make_optimizer
from .tensor import Tensor


@dataclass
class History:
    """What happened in training: the mean training loss of every epoch, and more."""

    loss: list[float] = field(default_factory=list)
    epoch: list[int] = field(default_factory=list)
    steps: int = 0
    interrupted: bool = False
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.loss)


class Callback:
    """Hooks into ``fit``; override the ones you need.  ``on_epoch_end`` may return True to stop."""

    def on_train_begin(self, model: Module) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_batch_begin(self, step: int, rows: np.ndarray, X: np.ndarray, y: np.ndarray) -> None: ...

    def on_batch_end(self, step: int, loss: float) -> None: ...

    def on_epoch_end(self, epoch: int, history: History) -> bool | None: ...

    def on_train_end(self, history: History) -> None: ...


class _StopFlag:
    requested = False


@contextmanager
def _ctrl_c_after_step() -> Iterator[_StopFlag]:
    """Turn Ctrl-C into a request to stop after the current step (main thread only)."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request(signum: int, frame: Any) -> None:
        flag.requested = True

    before = signal.signal(signal.SIGINT, request)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, before)


def _batch_size(batch_size: int | str | None, n: int) -> int:
    if batch_size is None or batch_size in ("full", "all"):
        return n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number ≥ 1 or 'full', got {batch_size!r}")
    return min(int(batch_size), n)


def _diverged(epoch: int, step: int, what: str, value: float, optimizer: Optimizer) -> DivergenceError:
    return DivergenceError(
        f"training diverged in epoch {epoch} (step {step}): the {what} became {value}. "
        f"The learning rate {optimizer.lr:g} is too large for this data; try a smaller one "
        f"(e.g. {optimizer.lr / 10:g}) or scale the inputs. The weights are those before that step."
    )


def fit(model: Module, X: Any, y: Any, loss: str | Loss = "mse",
        optimizer: str | Optimizer = "sgd", epochs: int = 10, batch_size: int | str | None = 1,
        shuffle: bool = True, seed: int | np.random.Generator | None = None,
        lr: float = 0.01, callbacks: Sequence[Callback] = ()) -> History:
    """Train ``model`` on rows ``X`` with targets ``y``; returns the ``History``.

    ``batch_size=1`` is the seed's algorithm (update after every row); a number N
    averages the gradient over N rows; ``"full"`` (or None) uses every row per step.
    ``optimizer`` is an ``Optimizer`` or a name (``"sgd"``) built with ``lr``.
    ``seed`` fixes the row order: the same seed gives bit-identical weights.
    """
    data = as_arrays(X, y, dtype=model.dtype)
    X, y = data.X, data.y
    loss_fn = get_loss(loss)
    params = model.parameters()
    opt = make_optimizer(optimizer, params, lr=lr)
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"epochs must be a whole number ≥ 0, got {epochs!r}")
    n = len(X)
    bs = _batch_size(batch_size, n)
    rng = make_rng(seed)
    history = History()
    for cb in callbacks:
        cb.on_train_begin(model)

    with _ctrl_c_after_step() as stop, np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, epochs + 1):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            order = rng.permutation(n) if shuffle else np.arange(n)
            total = 0.0
            seen = 0
            for start in range(0, n, bs):
                rows = order[start:start + bs]
                xb, yb = X[rows], y[rows]
                step = history.steps + 1
                for cb in callbacks:
                    cb.on_batch_begin(step, rows, xb, yb)
                L = loss_fn(model(Tensor._wrap(xb)), yb)
                value = float(L.data)
                if not math.isfinite(value):
                    raise _diverged(epoch, step, "loss", value, opt)
                opt.zero_grad()
                L.backward()
                for p in params:
                    if p.grad is not None and not np.isfinite(p.grad).all():
                        raise _diverged(epoch, step, "gradient", float(np.abs(p.grad).max()), opt)
                opt.step()
                history.steps = step
                total += value * len(rows)
                seen += len(rows)
                for cb in callbacks:
                    cb.on_batch_end(step, value)
                if stop.requested:
                    break
            if seen:
                history.loss.append(total / seen)
                history.epoch.append(epoch)
            if stop.requested:
                history.interrupted = True
                break
            if any([cb.on_epoch_end(epoch, history) for cb in callbacks]):
                history.stopped_early = True
                break
    for cb in callbacks:
        cb.on_train_end(history)
    return history


def evaluate(model: Module, X: Any, y: Any, loss: str | Loss = "mse") -> float:
    """The loss over all rows of ``X`` and ``y``, recording no graph."""
    data = as_arrays(X, y, dtype=model.dtype)
    return float(get_loss(loss)(Tensor._wrap(model.predict(data.X)), data.y).data)
