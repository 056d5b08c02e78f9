"""``chainrule search``: a grid of settings cross-validated, ranked, and the best one saved."""

from __future__ import annotations

import math
import os
from typing import Any

import click

from ..errors import ConfigError
from ..files import writable_target
from ..tables import MISSING
from .app import cli
from .output import console
from .setup import parse_delimiter, shown_path


@cli.command()
@click.argument("csv")
@click.argument("more", nargs=-1, metavar="[NAME=V1,V2,…]...")
@click.option("--grid", "-g", "grid_items", multiple=True, metavar="NAME=V1,V2,…",
              help="Settings to try, each NAME=V1,V2,… (several after one --grid): hidden "
              "(8, or 16-8 for two layers), lr, alpha, epochs, batch, optimizer, activation, "
              "momentum. Every combination is tried.")
@click.option("--cv", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds of cross-validation (stratified by class for a classifier).")
@click.option("--target", "-t", help="Column to predict (comma-separate several). "
              "[default: the last column]")
@click.option("--features", "-f", help="Input columns, comma-separated. "
              "[default: every column but the target]")
@click.option("--task", type=click.Choice(["auto", "regression", "classification"]),
              default="auto", show_default=True, help="As for chainrule train.")
@click.option("--missing", type=click.Choice(list(MISSING)), default="error", show_default=True,
              help="Rows with blank cells: error, drop or mean (as for chainrule train).")
@click.option("--delimiter", default=None, callback=parse_delimiter,
              help="The character between columns. [default: found from the header line]")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the folds and of every candidate's weights and row order.")
@click.option("--save", default="best.safetensors", show_default=True,
              type=click.Path(dir_okay=False),
              help="Where the best candidate, refitted on every row, is saved (atomically).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Candidates trained at once in this machine's processes (without --dask).")
@click.option("--dask", "dask_address", default=None, metavar="tcp://HOST:PORT|local:N",
              help="Run the folds on a Dask cluster (joblib's Dask backend; needs "
              "chainrule[scale]): a running 'dask scheduler' address, or local:N.")
def search(csv: str, more: tuple[str, ...], grid_items: tuple[str, ...], cv: int,
           target: str | None, features: str | None, task: str, missing: str,
           delimiter: str | None, seed: int, save: str, jobs: int,
           dask_address: str | None) -> None:
    """Cross-validate every combination of --grid settings on CSV, rank them, save the best.

    Each candidate is chainrule.sklearn's MLPRegressor or MLPClassifier after standardised
    inputs (and targets, for regression), scored by R² or accuracy on each held-out fold.
    Settings not in the grid keep the estimators' defaults (scikit-learn's: 100 hidden
    neurons, relu, adam with lr 0.001, up to 200 epochs, batches of up to 200 rows).
    """
    from .extras import require

    require("sklearn", "chainrule search")
    from .. import search as grid_search
    from ..data import read_csv

    items = [*grid_items, *more]
    grid = grid_search.parse_grid(items)
    if not save.strip():
        raise ConfigError("--save needs a name, got an empty one")
    writable_target(save)  # fail before the search, not after
    data = read_csv(csv, target=target, features=features, task=task, missing=missing,
                    delimiter=delimiter, progress=lambda line: click.echo(line, err=True))
    out = console()
    client = None
    if dask_address is not None:
        from ..cluster import connect

        client = connect(dask_address)
    count = 1
    for values in grid.values():
        count *= len(values)
    where = f"on the Dask cluster at {dask_address}" if client is not None else "here"
    out.print(f"data     {shown_path(os.path.abspath(csv))}: {len(data)} rows, "
              f"{data.X.shape[1]} input(s) → {', '.join(data.target_names)} ({data.task})")
    out.print(f"search   {count} candidate(s) × {cv} folds, {where}")
    try:
        result = grid_search.run(data.X, data.y, data.task, grid, cv=cv, seed=seed,
                                 client=client, jobs=jobs)
    finally:
        if client is not None:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    print_ranking(out, result, list(grid))
    model = grid_search.best_model(result, data.encoding)
    from ..io import save as save_model

    best = result.ranked[0]
    summary: dict[str, Any] = {
        "search": {"grid": {k: [grid_search.shown(v) for v in vs] for k, vs in grid.items()},
                   "cv": cv, "seed": seed, "score": result.score, "mean_score": best.mean,
                   "best": {k: grid_search.shown(v) for k, v in best.params.items()}},
        "data": shown_path(data.source)}
    loss = "mse" if data.task == "regression" else (
        "bce" if len(model.classes_) == 2 else "cross_entropy")
    path = save_model(model, save, loss=loss, features=data.feature_names,
                      targets=data.target_names, training=summary)
    shown = ", ".join(f"{k}={grid_search.shown(v)}" for k, v in best.params.items())
    out.print(f"best     {shown}: mean {result.score} {best.mean:.4f} over {cv} folds; "
              f"refitted on all {len(data)} rows and saved to {path}")


def print_ranking(out: Any, result: Any, names: list[str]) -> None:
    """The candidates, best first: rank, mean and spread of the fold scores, fit time, settings."""
    from rich.table import Table

    from ..search import shown

    table = Table(title=f"candidates by mean {result.score} on the held-out folds",
                  title_justify="left", box=None, pad_edge=False)
    table.add_column("rank", justify="right")
    table.add_column(f"mean {result.score}", justify="right")
    table.add_column("± std", justify="right")
    table.add_column("fit s", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for c in result.ranked:
        diverged = not math.isfinite(c.mean)  # a fold's training diverged: ranked last
        table.add_row(str(c.rank), "diverged" if diverged else f"{c.mean:.4f}",
                      "" if diverged else f"{c.std:.4f}", f"{c.seconds:.2f}",
                      *(shown(c.params[name]) for name in names))
    out.print(table)
