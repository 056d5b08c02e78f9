"""What the commands print: epoch lines or a progress bar, traces, weights, predictions.

In a terminal training shows a rich progress bar with the current loss (and the epoch
lines above it); piped into a file or another program it prints one plain line per
epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Dataset
from ..nn import Sequential, parameter_refs
from ..train import Callback, History


def console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def fmt(x: float) -> str:
    return f"{x:.6g}"


def epoch_line(epoch: int, history: History) -> str:
    parts = [f"epoch {epoch:>5}"]
    for key, values in history.logs.items():
        if values:
            parts.append(f"{key} {fmt(values[-1])}")
    return "   ".join(parts)


class EpochPrinter(Callback):
    """One line per epoch (every ``every`` epochs when there are many), with a progress
    bar underneath when the output is a terminal."""

    def __init__(self, out: Any, epochs: int, every: int, bar: bool = True) -> None:
        self.out, self.epochs, self.every, self.bar = out, epochs, every, bar
        self.progress = None

    def on_train_begin(self, model: Any) -> None:
        if self.out.is_terminal and self.bar:  # (a streamed run shows its bar over bytes)
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.fields[phase]}"), BarColumn(),
                                     MofNCompleteColumn(), TextColumn("epochs"),
                                     TimeElapsedColumn(), TextColumn("{task.fields[loss]}"),
                                     console=self.out, transient=True)
            self.task = self.progress.add_task("train", total=self.epochs, loss="",
                                               phase="training")
            self.progress.start()

    def compiling(self, line: str) -> None:
        """Say that the fast loop compiles now (``fit``'s ``on_compile``): the line, and the
        bar's phase until the first epoch ends."""
        self.out.print(line)
        if self.progress is not None:
            self.progress.update(self.task, phase="compiling")

    def on_epoch_end(self, epoch: int, history: History) -> None:
        if epoch == 1 or epoch % self.every == 0:
            self.out.print("  " + epoch_line(epoch, history))
        if self.progress is not None:
            self.progress.update(self.task, completed=epoch, loss=f"loss {fmt(history.loss[-1])}",
                                 phase="training")

    def on_train_end(self, history: History) -> None:
        if self.progress is not None:
            self.progress.stop()
        if history.epoch and history.epoch[-1] % self.every and history.epoch[-1] != 1:
            self.out.print("  " + epoch_line(history.epoch[-1], history))


class Tracer(Callback):
    """Narrates the first steps the way the seed does: the row picked, the prediction,
    the loss, and for every parameter its gradient and its update (numbers written as
    ``explain`` writes them)."""

    def __init__(self, out: Any, model: Sequential, data: Dataset, loss: str, optimizer: str,
                 lr: float, steps: int) -> None:
        self.out, self.model, self.data, self.loss, self.lr = out, model, data, loss, lr
        self.optimizer, self.steps, self.epoch = optimizer, steps, 0
        self.pending: Any = None

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_begin(self, step: int, rows: np.ndarray, X: np.ndarray, y: np.ndarray) -> None:
        if step > self.steps:
            return
        from ..explain import explain
        from ..explain.pieces import num

        self.pending = explain(self.model, X, y, self.loss, lr=self.lr, rows=[int(r) for r in rows])
        picked = ", ".join(str(int(r) + 1) for r in rows)
        about = f" ({self._row(int(rows[0]))})" if len(rows) == 1 else ""
        self.out.print(f"\nstep {step} (epoch {self.epoch}): row {picked}{about}")
        if self.model.x_scaler is not None:
            scaled = "; ".join(", ".join(num(v) for v in row) for row in X)
            self.out.print(f"  the step sees the inputs scaled ({self.model.x_scaler.kind}): {scaled}")
        outputs = "; ".join(", ".join(num(v) for v in row) for row in self.model.forward_array(X))
        symbol = "z (logits)" if self.model.classes_ is not None else "ŷ"
        self.out.print(f"  predict {symbol} = {outputs}   loss L = {num(self.pending.loss.value)}")

    def on_batch_end(self, step: int, loss: float) -> None:
        if self.pending is None:
            return
        from ..explain.pieces import num, num_change, par

        layers = self.model.layers
        for p in self.pending.params:
            tensor = layers[p.ref.layer - 1].weight if p.ref.kind == "w" else layers[p.ref.layer - 1].bias
            new = float(tensor.data[p.ref.index])
            product = p.rows[0].chain.forms[-2] if len(p.rows) == 1 else p.mean.forms[-2]
            old, shown = num_change(p.old, new)  # enough digits to show a small change
            if self.optimizer == "sgd" and np.isclose(new, p.new, rtol=1e-9, atol=1e-12):
                update = f"{p.symbol} ← {old} − {self.lr:g}·{par(p.gradient)} = {shown}"
            else:
                update = f"{p.symbol}: {old} → {shown} ({self.optimizer})"
            self.out.print(f"  {p.symbol:>8}: ∂L/∂{p.symbol} = {product} = {num(p.gradient)}   {update}")
        self.pending = None
        if step == self.steps:
            self.out.print(f"\n(trace ends after {self.steps} step(s); training continues)")

    def _row(self, r: int) -> str:
        d = self.data
        xs = ", ".join(f"{n} {fmt(v)}" for n, v in zip(d.feature_names, d.X[r]))
        target = f"class {d.y[r]!r}" if d.task == "classification" else ", ".join(fmt(v) for v in d.y[r])
        return f"{xs} → {', '.join(d.target_names)} {target}"


def print_parameters(out: Any, model: Sequential, limit: int = 60) -> None:
    from rich.table import Table

    refs = parameter_refs(model.sizes)
    table = Table(title="weights and biases", title_justify="left", box=None, pad_edge=False)
    table.add_column("symbol")
    table.add_column("value", justify="right")
    table.add_column("stored at", style="dim")
    for ref in refs[:limit]:
        layer = model.layers[ref.layer - 1]
        value = (layer.weight if ref.kind == "w" else layer.bias).data[ref.index]
        table.add_row(ref.symbol, fmt(float(value)), f"{ref.name}[{', '.join(map(str, ref.index))}]")
    out.print(table)
    if len(refs) > limit:
        out.print(f"  … {len(refs) - limit} more ({len(refs)} in all)")


def print_predictions(out: Any, model: Sequential, data: Dataset, limit: int = 20,
                      sample: bool = False) -> None:
    """The first ``limit`` rows and their predictions, and the error over all rows (over the
    rows at hand when ``sample``: a streamed table's first rows)."""
    from rich.table import Table

    pred = model.predict(data.X)
    table = Table(title="predictions", title_justify="left", box=None, pad_edge=False)
    table.add_column("row", justify="right")
    for name in data.feature_names[:6]:
        table.add_column(name, justify="right")
    classify = model.classes_ is not None
    for name in data.target_names:
        table.add_column(name, justify="right")
        table.add_column("predicted", justify="right")
    if classify:
        table.add_column("probability", justify="right")
        proba = model.predict_proba(data.X).max(axis=1)
    for r in range(min(len(data), limit)):
        cells = [str(r + 1), *(fmt(v) for v in data.X[r, :6])]
        if classify:
            cells += [str(data.y[r]), str(pred[r]), f"{proba[r]:.3f}"]
        else:
            for c in range(data.y.shape[1]):
                cells += [fmt(data.y[r, c]), fmt(pred[r, c])]
        table.add_row(*cells)
    out.print(table)
    if sample:
        return
    if len(data) > limit:
        out.print(f"  … {len(data) - limit} more rows")
    if classify:
        accuracy = float(np.mean(pred == data.y))
        out.print(f"accuracy over all {len(data)} rows: {accuracy:.4f}")
    else:
        out.print(f"mean squared error over all {len(data)} rows: {fmt(float(np.mean((data.y - pred) ** 2)))}")
