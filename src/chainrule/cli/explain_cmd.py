"""``chainrule explain``: the chain rule for every weight and bias of one step."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ConfigError
from ..train import prepare
from .app import cli
from .setup import build, network_options


def parse_rows(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
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


@cli.command("explain")
@network_options
@click.option("--param", "-p", "params", multiple=True,
              help="Parameter to explain, in the seed's notation: w^1_21 (also w1_21), b_21 "
              "(also b21). Repeat for several. [default: every weight and bias]")
@click.option("--row", "-r", "rows", default="1", show_default=True, callback=parse_rows,
              help="Row(s) of the data to use, counted from 1; several (e.g. 1,2,3) explain a "
              "batch, whose gradient is the mean over its rows.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "latex", "json"]),
              default="text", show_default=True, help="How to write the derivation.")
@click.option("--standalone", is_flag=True,
              help="With --format latex: a whole document (preamble, amsmath) that pdflatex "
              "compiles as it is, for a handout.")
@click.option("--expand", is_flag=True,
              help="With --param: write the parameter's chain path by path (every path from it "
              "to the loss, then their sum) instead of from the δ table.")
@click.option("--example", "example", default=None, metavar="FILE.toml",
              help="Explain a worked example written in a TOML file (network, weights by "
              "symbol, rows, loss, η), or a shipped one: seed, sigmoid-2-2-2.")
@click.option("--steps", type=click.IntRange(min=1), default=1, show_default=True,
              help="Explain this many updates in a row, each from the weights the last one left "
              "(one --row: the rows in order from it; several: that batch every step).")
@click.option("--check", is_flag=True,
              help="Also estimate each gradient by central finite differences and show the "
              "relative error.")
@click.option("--model", "model_file", type=click.Path(dir_okay=False), default=None,
              help="Explain a step of a saved model (from train --save) instead of a new network; "
              "the network options are then taken from the file.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), default=None,
              help="With --model: the CSV whose row to use (the same as the CSV argument). "
              "[default: the seed's table, for a model trained on it]")
@click.pass_context
def explain_cmd(ctx: click.Context, params: tuple[str, ...], rows: list[int], fmt: str,
                standalone: bool, expand: bool, example: str | None, steps: int, check: bool,
                model_file: str | None, data_file: str | None, **network: Any) -> None:
    """Show the chain rule for every weight and bias of one step, with its numbers.

    With no arguments: the seed's first step (weights 1, biases 0, the first student):
    the forward pass neuron by neuron, the loss, then for each parameter
    ∂L/∂θ symbolically, with the numbers, its value, and the update θ ← θ − η ∂L/∂θ.
    A network with several paths from a parameter to the loss is written δ first: the
    table of δ^k_j = ∂L/∂z_kj, then ∂L/∂w^k_ij = O_(k−1)i · δ^k_j for each parameter.
    On a CSV the step is the one training takes: on scaled inputs, one-hot classes.
    """
    from ..explain import explain_steps, render_steps

    if expand and not params:
        raise ConfigError("--expand writes one parameter path by path; name it with --param "
                          "(e.g. --param w^1_11 --expand)")
    if standalone and fmt != "latex":
        raise ConfigError("--standalone makes a whole LaTeX document; add --format latex")
    model, X, Y, loss, lr = step_data(ctx, example, model_file, data_file, network)
    bad = [r for r in rows if r > len(X)]
    if bad:
        raise ConfigError(f"--row {bad[0]} is past the end of the data, which has {len(X)} rows")
    idx = [r - 1 for r in rows]
    exs = explain_steps(model, X, Y, loss, steps=steps, rows=idx, lr=lr, param=list(params) or None,
                        check=check, form="paths" if expand else "auto")
    click.echo(render_steps(exs, fmt, standalone), nl=False)


NETWORK_CHOICES = ("csv", "target", "features", "task", "hidden", "activation",
                   "output_activation", "init", "scale", "loss")  # --seed and --lr may go with --example


def step_data(ctx: click.Context, example: str | None, model_file: str | None,
              data_file: str | None, network: dict[str, Any]) -> tuple[Any, Any, Any, str, float]:
    """(model, X, Y, loss, η) of the step to explain: from an example file, a saved model
    or the network options, with the rows as training sees them."""
    from ..explain import load_example

    if example is not None:
        given = [name for name in NETWORK_CHOICES if ctx.get_parameter_source(name)
                 == click.core.ParameterSource.COMMANDLINE] + (["model"] if model_file else [])
        if given:
            shown = "the CSV" if given[0] == "csv" else "--" + given[0].replace("_", "-")
            raise ConfigError(f"--example states the whole network, its weights and rows; drop "
                              f"{shown} (only --lr may change η)")
        ex = load_example(example)
        return ex.model, ex.X, ex.Y, ex.loss, network["lr"] or ex.lr
    if model_file is not None:
        return saved_step(model_file, data_file or network["csv"], network["lr"],
                          network["missing"], network["delimiter"])
    if data_file is not None:
        raise ConfigError("--data goes with --model; for a new network give the CSV as the "
                          "argument: chainrule explain data.csv")
    setup = build(**network)
    model, loss, lr = setup.model, setup.loss, setup.lr
    X, Y = prepare(model, setup.data.X, setup.data.y, loss, scale=setup.scale)
    return model, X, Y, loss, lr


def saved_step(path: str, csv: str | None, lr: float | None, missing: str = "error",
               delimiter: str | None = None) -> tuple[Any, Any, Any, str, float]:
    """A saved model and the rows of its data, as training saw them (scaled, one-hot by the
    model's own categories), read with ``--missing`` and ``--delimiter``."""
    from ..data import read_csv
    from ..datasets import students
    from ..io import load

    model = load(path)
    meta = model.metadata or {}
    features, targets = meta.get("features") or [], meta.get("targets") or []
    loss = meta.get("loss") or "mse"
    if csv is None:
        seed = students()
        if features != seed.feature_names:
            raise ConfigError(f"{path} was not trained on the seed's table; give its data with "
                              "--data data.csv")
        X, y = seed.X, seed.y
    else:
        task = "classification" if model.classes_ is not None else "regression"
        raw = model.encoding.inputs if model.encoding is not None else features
        data = read_csv(csv, target=targets, features=raw, task=task, dtype=model.dtype,
                        missing=missing, delimiter=delimiter, encoding=model.encoding)
        X, y = data.X, data.y
    X, Y = prepare(model, X, y, loss, fitting=False)  # with the model's own scalers and classes
    rate = lr or (meta.get("training") or {}).get("lr") or 0.01
    return model, X, Y, loss, float(rate)
