"""One model learning one dataset, a step at a time, the way the seed describes it.

A step takes the next ``batch_size`` rows of the epoch's order and does the seed's four
stages, keeping each stage's numbers for the page:

1. **forward** — every neuron's output ``O_kj = f(Σ_i w^k_ij · O_(k−1)i + b_kj)``
2. **loss** — ``L`` of the prediction ``ŷ`` against the target ``y`` (the batch mean)
3. **backward** — ``∂L/∂θ`` for every weight and bias, by the engine's back-propagation
4. **update** — the optimiser's rule, ``θ ← θ − η ∂L/∂θ`` for SGD

An epoch ends when every training row has had its step; then its mean training loss
(as ``fit`` records it), the validation loss and the accuracy or R² go into the
history.  The row orders come from one generator made from the seed, drawn as ``fit``
draws them (validation split first, then one permutation per epoch), so the same
settings give the weights ``fit`` gives.  A step whose loss or gradient is not finite
raises ``DivergenceError`` before it touches the weights.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import DivergenceError
from ..explain import explain
from ..init import make_rng
from ..losses import get_loss
from ..nn import mlp
from ..optim import make_optimizer
from ..tensor import Tensor
from ..train import CLASSIFICATION_LOSSES, evaluate, prepare
from .catalog import Recipe
from .settings import Settings


@dataclass
class Step:
    """What one step did: its rows, the weights it started from, and each stage's numbers."""

    number: int
    epoch: int  # the epoch it belongs to, from 1
    rows: np.ndarray  # indices into the training rows
    before: dict[str, np.ndarray]  # the parameters the step started from
    outputs: list[np.ndarray]  # per layer: (rows, neurons)
    loss: float
    grads: list[tuple[np.ndarray, np.ndarray]]  # per layer: (∂L/∂W, ∂L/∂b)
    lr: float


class Run:
    """A model, its data and its optimiser; ``step()``, ``epoch()`` and ``explain()``."""

    def __init__(self, settings: Settings, data: Dataset, recipe: Recipe) -> None:
        self.settings, self.data, self.recipe = settings, data, recipe
        self.loss_fn = get_loss(recipe.loss)
        self.classification = self.loss_fn.name in CLASSIFICATION_LOSSES
        self.metric = "accuracy" if self.classification else "r2"
        self.rng = make_rng(settings.seed)
        X, y = data.X, data.y
        self.val: tuple[np.ndarray, np.ndarray] | None = None
        if recipe.validation:
            order = self.rng.permutation(len(X))
            n_val = int(round(len(X) * recipe.validation))
            train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
            self.val = (X[val], y[val])
            X, y = X[train], y[train]
        self.X_raw, self.y_raw = X, y
        outputs = self._outputs(y)
        sizes = [X.shape[1], *settings.hidden, outputs]
        self.model = mlp(sizes, activation=settings.activation, init=settings.init,
                         seed=settings.seed)
        self.X, self.Y = prepare(self.model, X, y, self.loss_fn, scale=recipe.scale)
        self.opt = make_optimizer("sgd", self.model.parameters(), lr=settings.lr)
        self.batch_size = min(settings.batch_size, len(self.X))
        self.steps, self.epochs = 0, 0
        self.history: dict[str, list[float]] = {"epoch": [], "loss": []}
        if self.val is not None:
            self.history["val_loss"] = []
        self.last: Step | None = None
        self._begin_epoch()

    def _outputs(self, y: np.ndarray) -> int:
        if self.loss_fn.name == "bce":
            return 1
        if self.loss_fn.name == "cross_entropy":
            return len(np.unique(y))
        return y.shape[1]

    # -- the epoch's row order --------------------------------------------------------

    def _begin_epoch(self) -> None:
        n = len(self.X)
        self.order = self.rng.permutation(n) if self.settings.shuffle else np.arange(n)
        self.cursor, self.total, self.seen = 0, 0.0, 0
        self.opt.start_epoch(self.epochs)

    def next_rows(self) -> np.ndarray:
        """The training rows the next step will take."""
        return self.order[self.cursor:self.cursor + self.batch_size]

    def _end_epoch(self) -> None:
        self.epochs += 1
        mean = self.total / self.seen
        record = {"epoch": self.epochs, "loss": mean,
                  self.metric: self._score(self.X_raw, self.y_raw)[self.metric]}
        if self.val is not None:
            scores = self._score(*self.val)
            record["val_loss"], record["val_" + self.metric] = scores["loss"], scores[self.metric]
        for key, value in record.items():
            self.history.setdefault(key, []).append(value)
        self.opt.end_epoch(self.epochs - 1, mean)
        self._begin_epoch()

    def _score(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        with np.errstate(over="ignore", invalid="ignore"):
            return evaluate(self.model, X, y, self.loss_fn, metrics=[self.metric])

    # -- stepping -----------------------------------------------------------------------

    def _diverged(self, what: str, value: float) -> DivergenceError:
        lr = self.opt.lr
        return DivergenceError(
            f"training diverged at step {self.steps + 1}: the {what} became {value}. The learning "
            f"rate {lr:g} is too large for this data; lower it (e.g. to {lr / 10:g}) and press "
            "reset. The weights are those before that step.")

    def step(self) -> Step:
        """One step on the next batch of rows: forward, loss, backward, update."""
        rows = self.next_rows()
        layers = self.model.layers
        before = self.model.state_dict()
        with np.errstate(over="ignore", invalid="ignore"):
            h, outputs = Tensor(self.X[rows]), []
            for layer in layers:
                h = layer(h)
                outputs.append(h.data.copy())
            L = self.loss_fn(h, self.Y[rows])
            value = float(L.data)
            if not math.isfinite(value):
                raise self._diverged("loss", value)
            self.opt.zero_grad()
            L.backward()
            grads = [(layer.weight.grad.copy(), layer.bias.grad.copy()) for layer in layers]
            for gw, gb in grads:
                if not (np.isfinite(gw).all() and np.isfinite(gb).all()):
                    raise self._diverged("gradient", float(max(np.abs(gw).max(), np.abs(gb).max())))
            lr = self.opt.lr
            self.opt.step()
        self.steps += 1
        self.cursor += len(rows)
        self.total += value * len(rows)
        self.seen += len(rows)
        self.last = Step(self.steps, self.epochs + 1, rows, before, outputs, value, grads, lr)
        if self.cursor >= len(self.X):
            self._end_epoch()
        return self.last

    def epoch(self) -> int:
        """Steps until the current epoch ends (a whole epoch when it has just begun)."""
        start = self.epochs
        while self.epochs == start:
            self.step()
        return self.epochs

    # -- explaining -----------------------------------------------------------------------

    def explain(self, param: str) -> dict[str, Any]:
        """The explain JSON of ``param`` for the current step: the last step taken, on the
        weights it started from (``when: "last"``), or before any step the next one
        (``when: "next"``, the update it will get)."""
        if self.last is not None:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self.last.before)
            rows, lr, when = self.last.rows, self.last.lr, "last"
        else:
            model, rows, lr, when = self.model, self.next_rows(), self.opt.lr, "next"
        ex = explain(model, self.X[rows], self.Y[rows], self.loss_fn, param=param, lr=lr,
                     rows=[int(r) for r in rows])
        return {"when": when, "step": self.last.number if self.last else self.steps + 1,
                "explanation": ex.to_dict(), "text": ex.render("text")}
