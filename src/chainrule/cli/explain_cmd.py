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
@click.option("--check", is_flag=True,
              help="Also estimate each gradient by central finite differences and show the "
              "relative error.")
def explain_cmd(params: tuple[str, ...], rows: list[int], fmt: str, check: bool, **network: Any) -> None:
    """Show the chain rule for every weight and bias of one step, with its numbers.

    With no arguments: the seed's first step (weights 1, biases 0, the first student):
    the forward pass neuron by neuron, the loss, then for each parameter
    ∂L/∂θ symbolically, with the numbers, its value, and the update θ ← θ − η ∂L/∂θ.
    On a CSV the step is the one training takes: on scaled inputs, one-hot classes.
    """
    from ..explain import explain

    setup = build(**network)
    n = len(setup.data)
    bad = [r for r in rows if r > n]
    if bad:
        raise ConfigError(f"--row {bad[0]} is past the end of the data, which has {n} rows")
    idx = [r - 1 for r in rows]
    X, Y = prepare(setup.model, setup.data.X, setup.data.y, setup.loss, scale=setup.scale)
    ex = explain(setup.model, X[idx], Y[idx], setup.loss, param=list(params) or None,
                 lr=setup.lr, rows=idx, check=check)
    click.echo(ex.render(fmt), nl=False)
