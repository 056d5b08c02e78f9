"""The ``chainrule`` command.

``chainrule train`` with no arguments runs the seed document's example: its network
(2 inputs, 2 linear hidden neurons, 1 output, weights 1, biases 0) on its table of
students, one row at a time.  With a CSV file it trains on any table of numbers.

Errors a user can cause are printed as one line, without a traceback, and the
command exits with status 1 (2 for a bad option, as click does).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import click
import numpy as np

from .data import Dataset, read_csv
from .datasets import students
from .errors import ChainruleError, ConfigError
from .nn import ACTIVATIONS, Sequential, mlp, parameter_refs
from .train import Callback, History, fit

SEED_LR = 1e-5  # converges on the seed's raw table; 1e-4 already diverges there
CSV_LR = 0.01
MAX_PARAMETERS = 20_000_000  # ~160 MB of float64 weights: more is surely a typo


# ------------------------------------------------------------------------------------
# Option parsing shared by the commands.


def _parse_hidden(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    text = value.strip().lower()
    if text in ("", "none"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            n = int(part)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a list of layer sizes; write whole numbers separated by "
                "commas, e.g. --hidden 4,3"
            ) from None
        if n < 1:
            raise click.BadParameter(f"every layer needs at least 1 neuron, got {n}")
        sizes.append(n)
    return sizes


def _positive_float(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if not np.isfinite(x) or x <= 0:
        raise click.BadParameter(f"must be a positive number, got {value}")
    return x


def _parse_batch(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    if value.strip().lower() in ("full", "all"):
        return "full"
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number or 'full'") from None
    if n < 1:
        raise click.BadParameter(f"must be at least 1, got {n}")
    return n


def network_options(fn: Callable) -> Callable:
    """The options that choose the data, the network and the learning rate."""
    options = [
        click.argument("csv", required=False, type=click.Path(dir_okay=False)),
        click.option("--target", "-t", help="Column to predict (comma-separate several). "
                     "[default: the last column]"),
        click.option("--features", "-f", help="Input columns, comma-separated. "
                     "[default: every column but the target]"),
        click.option("--hidden", default="2", show_default=True, callback=_parse_hidden,
                     help="Neurons per hidden layer, comma-separated (e.g. 4,3); 'none' for no "
                     "hidden layer."),
        click.option("--activation", "-a", default="linear", show_default=True,
                     help=f"Hidden-layer activation, one of {', '.join(ACTIVATIONS)}; or one per "
                     "hidden layer, comma-separated. The output layer is linear."),
        click.option("--init", default=None,
                     help="Weight initialiser: ones, zeros, uniform, normal, xavier, he (and "
                     "more, see chainrule.init). Biases start at 0. "
                     "[default: ones on the built-in table, as the seed does; xavier on a CSV]"),
        click.option("--lr", type=str, default=None, callback=_positive_float,
                     help=f"Learning rate η in w ← w − η ∂L/∂w. "
                     f"[default: {SEED_LR:g} on the built-in table, {CSV_LR:g} on a CSV]"),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the random generator (initial weights, row order)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@dataclass
class Setup:
    """What the network options decided: data, model, learning rate, and how to say it."""

    data: Dataset
    model: Sequential
    lr: float
    init: str
    builtin: bool
    seed: int


def build(csv: str | None, target: str | None, features: str | None, hidden: list[int],
          activation: str, init: str | None, lr: float | None, seed: int) -> Setup:
    builtin = csv is None
    if builtin:
        if target or features:
            raise ConfigError("--target and --features need a CSV file: chainrule train data.csv --target COLUMN")
        data = students()
    else:
        data = read_csv(csv, target=target, features=features)
    init = init or ("ones" if builtin else "xavier")
    sizes = [data.X.shape[1], *hidden, data.y.shape[1]]
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMETERS:
        raise ConfigError(
            f"a {'-'.join(map(str, sizes))} network has {count:,} parameters, more than "
            f"chainrule's limit of {MAX_PARAMETERS:,}; choose smaller --hidden sizes"
        )
    acts = [a.strip() for a in activation.split(",")] if "," in activation else activation
    model = mlp(sizes, activation=acts, init=init, seed=seed)
    return Setup(data, model, lr or (SEED_LR if builtin else CSV_LR), init, builtin, seed)


# ------------------------------------------------------------------------------------
# Printing.


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def describe(setup: Setup, epochs: int | None = None, batch: Any = None) -> list[str]:
    d = setup.data
    source = d.source if not setup.builtin else "the seed's table of students"
    lines = [f"data     {source}: {len(d)} rows, {', '.join(d.feature_names)} → "
             f"{', '.join(d.target_names)}"]
    lines += d.notes
    acts = ", ".join(layer.activation.name for layer in setup.model.layers[:-1]) or "none"
    lines.append(f"network  {'-'.join(map(str, setup.model.sizes))} (hidden activation: {acts}; "
                 f"output: linear), initial weights: {setup.init}, biases: 0")
    if epochs is not None:
        per = "one row at a time" if batch == 1 else f"{batch} rows per step"
        lines.append(f"training loss L = (y − ŷ)² (mean over a batch), SGD w ← w − η ∂L/∂w with "
                     f"η = {setup.lr:g}, {per}, shuffled, {epochs} epochs, seed {setup.seed}")
    return lines


class _EpochPrinter(Callback):
    def __init__(self, console: Any, every: int) -> None:
        self.console, self.every = console, every

    def on_epoch_end(self, epoch: int, history: History) -> None:
        if epoch == 1 or epoch % self.every == 0:
            self.console.print(f"  epoch {epoch:>5}   loss {_fmt(history.loss[-1])}")


def print_parameters(console: Any, model: Sequential) -> None:
    from rich.table import Table

    table = Table(title="weights and biases", title_justify="left", box=None, pad_edge=False)
    table.add_column("symbol")
    table.add_column("value", justify="right")
    table.add_column("stored at", style="dim")
    for ref in parameter_refs(model.sizes):
        value = model.layers[ref.layer - 1].weight.data if ref.kind == "w" else \
            model.layers[ref.layer - 1].bias.data
        idx = ", ".join(map(str, ref.index))
        table.add_row(ref.symbol, _fmt(float(value[ref.index])), f"{ref.name}[{idx}]")
    console.print(table)


def print_predictions(console: Any, model: Sequential, data: Dataset, limit: int = 20) -> None:
    from rich.table import Table

    pred = model.predict(data.X)
    table = Table(title="predictions", title_justify="left", box=None, pad_edge=False)
    table.add_column("row", justify="right")
    for name in data.feature_names[:6]:
        table.add_column(name, justify="right")
    for name in data.target_names:
        table.add_column(name, justify="right")
        table.add_column("predicted", justify="right")
    for r in range(min(len(data), limit)):
        cells = [str(r + 1), *(_fmt(v) for v in data.X[r, :6])]
        for c in range(data.y.shape[1]):
            cells += [_fmt(data.y[r, c]), _fmt(pred[r, c])]
        table.add_row(*cells)
    console.print(table)
    if len(data) > limit:
        console.print(f"  … {len(data) - limit} more rows")
    mse = float(np.mean((data.y - pred) ** 2))
    console.print(f"mean squared error over all {len(data)} rows: {_fmt(mse)}")


# ------------------------------------------------------------------------------------
# Commands.


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainrule")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """chainrule: train neural networks by back-propagation, and see every gradient.

    Start with `chainrule train`: the seed document's network learns its table of
    students (IQ, CGPA → Package), one row at a time.
    """
    ctx.obj = {"debug": debug}


def _parse_rows(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    rows = []
    for part in value.split(","):
        try:
            n = int(part)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a row number (or comma-separated numbers)") from None
        if n < 1:
            raise click.BadParameter(f"rows are counted from 1, got {n}")
        rows.append(n)
    return rows


class _Tracer(Callback):
    """Narrates the first steps the way the seed does: row, prediction, loss, every update."""

    def __init__(self, console: Any, model: Sequential, data: Dataset, lr: float, steps: int) -> None:
        self.console, self.model, self.data, self.lr, self.steps = console, model, data, lr, steps
        self.epoch = 0

    def on_epoch_begin(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_begin(self, step: int, rows: np.ndarray, X: np.ndarray, y: np.ndarray) -> None:
        if step > self.steps:
            return
        from .explain import explain

        ex = explain(self.model, X, y, "mse", lr=self.lr, rows=[int(r) for r in rows])
        d = self.data
        picked = ", ".join(str(int(r) + 1) for r in rows)
        self.console.print(f"\nstep {step} (epoch {self.epoch}): row {picked}"
                           + (f" ({self._describe(int(rows[0]))})" if len(rows) == 1 else ""))
        preds = "; ".join(", ".join(_fmt(e.value) for e in r.forward if e.lhs.startswith("ŷ"))
                          for r in ex.rows)
        self.console.print(f"  predict ŷ = {preds}   loss L = {_fmt(ex.loss.value)}")
        for p in ex.params:
            product = p.rows[0].chain.forms[-2] if len(p.rows) == 1 else p.mean.forms[-2]
            self.console.print(f"  {p.symbol:>8}: ∂L/∂{p.symbol} = {product} = {_fmt(p.gradient)}"
                               f"   {p.symbol} ← {_fmt(p.old)} − {self.lr:g}·{_fmt(p.gradient)} = "
                               f"{_fmt(p.new)}")
        if step == self.steps:
            self.console.print(f"\n(trace ends after {self.steps} step(s); training continues)")

    def _describe(self, r: int) -> str:
        d = self.data
        xs = ", ".join(f"{n} {_fmt(v)}" for n, v in zip(d.feature_names, d.X[r]))
        ys = ", ".join(f"{n} {_fmt(v)}" for n, v in zip(d.target_names, d.y[r]))
        return f"{xs} → {ys}"


@cli.command()
@network_options
@click.option("--epochs", "-e", type=click.IntRange(min=1), default=50, show_default=True,
              help="Passes over the whole table.")
@click.option("--batch-size", "-b", default="1", show_default=True, callback=_parse_batch,
              help="Rows per update: 1 is the seed's per-row algorithm; 'full' uses every row.")
@click.option("--trace", type=click.IntRange(min=0), default=0, show_default=True,
              help="Narrate the first N steps: the row picked, the prediction, the loss, and "
              "every parameter's gradient and update.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final loss.")
def train(csv: str | None, target: str | None, features: str | None, hidden: list[int],
          activation: str, init: str | None, lr: float | None, seed: int, epochs: int,
          batch_size: int | str, trace: int, quiet: bool) -> None:
    """Train a network on CSV (default: the seed's table of students).

    Each step picks the next row of a shuffled order, predicts ŷ, measures
    L = (y − ŷ)², back-propagates ∂L/∂w to every weight and bias, and updates
    w ← w − η ∂L/∂w. One pass over the rows is an epoch.
    """
    setup = build(csv, target, features, hidden, activation, init, lr, seed)
    console = _console()
    every = 1 if epochs <= 100 else max(1, epochs // 50)
    callbacks: list[Callback] = [] if quiet else [_EpochPrinter(console, every)]
    if trace:
        callbacks.insert(0, _Tracer(console, setup.model, setup.data, setup.lr, trace))
    if not quiet:
        for line in describe(setup, epochs, batch_size):
            console.print(line)
        shown = "every epoch" if every == 1 else f"every {every} epochs"
        console.print(f"\nloss per epoch (mean over the epoch's steps, {shown}):")
    history = fit(setup.model, setup.data.X, setup.data.y, loss="mse", optimizer="sgd",
                  lr=setup.lr, epochs=epochs, batch_size=batch_size, shuffle=True, seed=seed,
                  callbacks=callbacks)
    if history.interrupted:
        console.print(f"stopped by Ctrl-C in epoch {len(history.loss)} after {history.steps} "
                      "steps; the weights so far are kept")
    if quiet:
        console.print(f"final loss {_fmt(history.loss[-1])}")
        return
    console.print(f"trained {history.steps} steps; loss {_fmt(history.loss[0])} → "
                  f"{_fmt(history.loss[-1])}\n")
    print_parameters(console, setup.model)
    console.print()
    print_predictions(console, setup.model, setup.data)


@cli.command("explain")
@network_options
@click.option("--param", "-p", "params", multiple=True,
              help="Parameter to explain, in the seed's notation: w^1_21 (also w1_21), b_21 "
              "(also b21). Repeat for several. [default: every weight and bias]")
@click.option("--row", "-r", "rows", default="1", show_default=True, callback=_parse_rows,
              help="Row(s) of the data to use, counted from 1; several (e.g. 1,2,3) explain a "
              "batch, whose gradient is the mean over its rows.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "latex", "json"]),
              default="text", show_default=True, help="How to write the derivation.")
@click.option("--check", is_flag=True,
              help="Also estimate each gradient by central finite differences and show the "
              "relative error.")
def explain_cmd(csv: str | None, target: str | None, features: str | None, hidden: list[int],
                activation: str, init: str | None, lr: float | None, seed: int,
                params: tuple[str, ...], rows: list[int], fmt: str, check: bool) -> None:
    """Show the chain rule for every weight and bias of one step, with its numbers.

    With no arguments: the seed's first step (weights 1, biases 0, the first student):
    the forward pass neuron by neuron, the loss, then for each parameter
    ∂L/∂θ symbolically, with the numbers, its value, and the update θ ← θ − η ∂L/∂θ.
    """
    from .explain import explain

    setup = build(csv, target, features, hidden, activation, init, lr, seed)
    n = len(setup.data)
    bad = [r for r in rows if r > n]
    if bad:
        raise ConfigError(f"--row {bad[0]} is past the end of the data, which has {n} rows")
    idx = [r - 1 for r in rows]
    ex = explain(setup.model, setup.data.X[idx], setup.data.y[idx], "mse",
                 param=list(params) or None, lr=setup.lr, rows=idx, check=check)
    click.echo(ex.render(fmt), nl=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, turning chainrule errors into one clear line."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        rc = cli.main(args=argv, prog_name="chainrule", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        rc = 130
    except click.ClickException as exc:
        exc.show()
        rc = exc.exit_code
    except ChainruleError as exc:
        click.echo(f"error: {exc}", err=True)
        rc = 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        rc = 130
    except Exception as exc:  # a bug: say so plainly instead of a traceback
        if debug:
            raise
        click.echo(f"chainrule hit an unexpected error ({type(exc).__name__}: {exc}); this is a "
                   "bug, please report it (run with --debug for the traceback)", err=True)
        rc = 3
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
