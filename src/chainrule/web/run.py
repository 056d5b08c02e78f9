"""One model learning one dataset, a step at a time, the way the seed describes it.

A step takes the next ``batch_size`` rows of the epoch's order and does the seed's four
stages, keeping each stage's numbers for the page:

1. **forward** — every neuron's output ``O_kj = f(Σ_i w^k_ij · O_(k−1)i + b_kj)``
2. **loss** — ``L`` of the prediction ``ŷ`` against the target ``y`` (the batch mean)
3. **backward** — ``∂L/∂θ`` for every weight and bias, by the engine's back-propagation
4. **update** — the optimiser's rule, ``θ ← θ − η ∂L/∂θ`` for SGD; with L2
   regularisation (``settings.l2`` = λ, the optimiser's ``weight_decay``: the penalty
   (λ/2)·Σθ² on every weight and bias) ``θ ← θ − η (∂L/∂θ + λθ)``

Steps taken one at a time run on the graph engine (the page shows each stage's numbers);
a whole epoch, or its rest, runs on the engine the Trainer picked: the fused loop when it
is compiled for this network (``engine="auto"``; ``warm_up`` compiles it on a copy in the
background, so the page is never kept waiting), or the graph (``engine="graph"``).  The
two give the same numbers to rounding (``fastpath``).

An epoch ends when every training row has had its step; then its mean training loss,
the validation loss and the accuracy or R² go into the history.  The stepping is
``train.Trainer``'s, the one ``fit`` runs: the validation split, the row orders, the
steps and the epoch's end are the same code, so the same settings give ``fit``'s
weights by construction.  A step whose loss or gradient is not finite raises
``DivergenceError`` before it touches the weights.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import fastpath
from ..data import Dataset
from ..errors import DivergenceError
from ..explain import explain
from ..nn import mlp
from ..train import CLASSIFICATION_LOSSES, Trainer
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
    """A model, its data and its ``Trainer``; ``step()``, ``epoch()`` and ``explain()``."""

    def __init__(self, settings: Settings, data: Dataset, recipe: Recipe,
                 engine: str = "auto") -> None:
        self.settings, self.data, self.recipe, self.engine = settings, data, recipe, engine
        classification = recipe.loss in CLASSIFICATION_LOSSES
        outputs = (1 if recipe.loss == "bce" else len(np.unique(data.y)) if classification
                   else data.y.shape[1])
        sizes = [data.X.shape[1], *settings.hidden, outputs]
        self.model = mlp(sizes, activation=settings.activation,
                         output_activation=settings.output_activation,
                         init="zeros" if recipe.start is not None else settings.init,
                         seed=settings.seed)
        if recipe.start is not None:  # a worked example's own weights
            self.model.load_state_dict(recipe.start)
        self.classification = classification
        self.metric = "accuracy" if classification else "r2"
        self.trainer = Trainer(self.model, data.X, data.y, recipe.loss, "sgd",
                               settings.batch_size, settings.shuffle, settings.seed,
                               settings.lr, validation_split=recipe.validation or 0.0,
                               scale=recipe.scale, metrics=[self.metric],
                               optimizer_options={"weight_decay": settings.l2})
        self.trainer.choose(engine)  # the compiled loop for epochs, if it is at hand
        self.warming: threading.Thread | None = None
        self.loss_fn, self.opt = self.trainer.loss_fn, self.trainer.opt
        self.X, self.Y = self.trainer.data.X, self.trainer.data.Y
        self.X_raw, self.y_raw = self.trainer.X_raw, self.trainer.y_raw
        self.val = self.trainer.val_raw
        self.batch_size = self.trainer.batch_size
        self.last: Step | None = None

    # -- where it stands ----------------------------------------------------------------

    @property
    def steps(self) -> int:
        return self.trainer.history.steps

    @property
    def epochs(self) -> int:
        return len(self.trainer.history)

    @property
    def cursor(self) -> int:
        return self.trainer.cursor

    @property
    def history(self) -> dict[str, list[float]]:
        """Per epoch: ``epoch``, ``loss``, the metric, and with validation ``val_loss`` and
        ``val_<metric>``."""
        h = self.trainer.history
        return {"epoch": list(h.epoch), **{k: list(v) for k, v in h.logs.items()}}

    def next_rows(self) -> np.ndarray:
        """The training rows the next step will take."""
        return self.trainer.next_rows()

    # -- stepping -----------------------------------------------------------------------

    def _diverged(self, exc: DivergenceError) -> DivergenceError:
        lr = self.opt.lr
        return DivergenceError(
            f"training diverged at step {getattr(exc, 'step', self.steps + 1)}: the "
            f"{getattr(exc, 'what', 'loss')} became {getattr(exc, 'value', float('nan'))}. The "
            f"learning rate {lr:g} is too large for this data; lower it (e.g. to {lr / 10:g}) "
            "and press reset. The weights are those before that step.")

    def step(self) -> Step:
        """One step on the next batch of rows: forward, loss, backward, update."""
        before, epoch = self.model.state_dict(), self.epochs + 1
        try:
            record = self.trainer.step(keep=True)
        except DivergenceError as exc:
            raise self._diverged(exc) from None
        grads = [(layer.weight.grad.copy(), layer.bias.grad.copy())
                 for layer in self.model.layers]
        self.last = Step(self.steps, epoch, record.rows, before, record.outputs, record.loss,
                         grads, record.lr)
        return self.last

    def epoch(self, should_stop: Callable[[], bool] | None = None) -> int:
        """The rest of the current epoch (a whole epoch when it has just begun), as ``fit``
        runs it, on the fused loop once it is compiled; ``should_stop()`` may end it early
        (asked between steps on the graph, between chunks of rows on the fused loop; the
        epoch then stays open).  Returns the epochs done."""
        self.adopt()
        try:
            self.trainer.epoch(should_stop)
        except DivergenceError as exc:
            raise self._diverged(exc) from None
        self.last = None
        return self.epochs

    # -- the fused loop ---------------------------------------------------------------------

    def warm_up(self) -> threading.Thread | None:
        """Compile the fused loop for this network in a background thread, on a copy of the
        model and optimiser (nothing of the run is touched), when ``engine`` is ``auto``, the
        loop can train it and it is not compiled yet; ``adopt`` then takes it."""
        t = self.trainer
        columns = (t.data.X.shape[1], t.data.Y.shape[1])
        if self.engine != "auto" or t.plan is not None or fastpath.reason(
                t.model, t.loss_fn, t.opt, t.callbacks, columns, t.batch_size) is not None:
            return None
        try:  # imported here, not half-way in the thread while ``choose`` looks at it
            from .. import fastkernel  # noqa: F401
        except ImportError:
            return None
        model, opt = copy.deepcopy((t.model, t.opt))
        plan = fastpath.Plan(model, t.loss_fn, opt)

        def compile_quietly() -> None:
            try:
                plan.warm(t.batch_size)
            except Exception:  # noqa: BLE001 - no compiled loop: the run stays on the graph
                pass

        self.warming = threading.Thread(target=compile_quietly, name="chainrule-compile",
                                        daemon=True)
        self.warming.start()
        return self.warming

    def adopt(self) -> bool:
        """Take the fused loop once ``warm_up``'s compile has ended (between epochs or
        requests); True when epochs now run on it."""
        if self.trainer.plan is None and self.warming is not None \
                and not self.warming.is_alive():
            self.warming = None
            self.trainer.choose(self.engine)
        return self.trainer.plan is not None

    # -- explaining -----------------------------------------------------------------------

    def explain(self, param: str) -> dict[str, Any]:
        """The explain JSON of ``param`` for the current step: the last step taken, on the
        weights it started from (``when: "last"``), or before any step the next one
        (``when: "next"``, the update it will get); ``deltas``: each row's δ table, every
        neuron from the output back, as ``explain`` writes it (``form="delta"``; ``chainrule
        explain`` prints it for every network with more than one path to the loss)."""
        if self.last is not None:
            model = copy.deepcopy(self.model)
            model.load_state_dict(self.last.before)
            rows, lr, when = self.last.rows, self.last.lr, "last"
        else:
            model, rows, lr, when = self.model, self.next_rows(), self.opt.lr, "next"
        X, Y, numbers = self.X[rows], self.Y[rows], [int(r) for r in rows]
        ex = explain(model, X, Y, self.loss_fn, param=param, lr=lr, rows=numbers,
                     weight_decay=self.settings.l2)
        table = ex if ex.form == "delta" else explain(model, X, Y, self.loss_fn, param=param,
                                                      lr=lr, rows=numbers, form="delta")
        return {"when": when, "step": self.last.number if self.last else self.steps + 1,
                "explanation": ex.to_dict(), "text": ex.render("text"),
                "deltas": [[eq.to_dict() for eq in row.deltas] for row in table.rows]}
