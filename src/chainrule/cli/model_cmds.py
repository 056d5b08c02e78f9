"""``chainrule predict``, ``info`` and ``draw``: what to do with a saved model."""

from __future__ import annotations

import csv
import io as text_io
import sys

import click
import numpy as np

from ..data import read_columns
from ..datasets import students
from ..errors import ConfigError
from ..io import describe, format_description, load, write_atomic
from ..nn import seed_network
from .app import cli
from .extras import require
from .setup import shown_path


def _model_columns(model, path: str) -> tuple[list[str], list[str]]:
    meta = getattr(model, "metadata", None) or {}
    features, targets = meta.get("features"), meta.get("targets")
    if not features:
        raise ConfigError(f"{path} does not record its input column names (it was not saved from "
                          "a CSV run); predict from Python with chainrule.load(...).predict(X)")
    return list(features), list(targets or ["prediction"])


@cli.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
@click.argument("csv_file", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the predictions to this CSV (written whole or not at all). "
              "[default: print them]")
def predict(model_file: str, csv_file: str, out: str | None) -> None:
    """Predict every row of CSV_FILE with the model saved in MODEL_FILE.

    The CSV needs the columns the model was trained on (by name); other columns are
    ignored, and kept in the output beside the predictions.
    """
    model = load(model_file)
    features, targets = _model_columns(model, model_file)
    X, rows, header, notes = read_columns(csv_file, features, dtype=model.dtype,
                                          encoding=model.encoding)
    for note in notes:
        click.echo(note if note.startswith("warning:") else f"note: {note}", err=True)
    pred = model.predict(X)
    columns = list(header)
    if model.classes_ is not None:
        proba = model.predict_proba(X)
        columns += [f"predicted_{targets[0]}"] + [f"p_{c}" for c in model.classes_]
        values = [[str(p), *(repr(float(v)) for v in pr)] for p, pr in zip(pred, proba)]
    else:
        columns += [f"predicted_{t}" for t in targets]
        values = [[repr(float(v)) for v in np.atleast_1d(row)] for row in pred]
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(cells + extra for cells, extra in zip(rows, values))
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        write_atomic(out, buffer.getvalue().encode("utf-8"))
        click.echo(f"wrote {len(rows)} predictions to {out}")


@cli.command()
@click.argument("model_file", type=click.Path(dir_okay=False))
def info(model_file: str) -> None:
    """Describe the model saved in MODEL_FILE: architecture, parameters, training."""
    about = describe(load(model_file))
    if isinstance(about["training"].get("data"), str):  # as typed here (older files kept it whole)
        about["training"]["data"] = shown_path(about["training"]["data"])
    click.echo(format_description(about))


@cli.command()
@click.argument("model_file", type=click.Path(dir_okay=False), required=False)
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True,
              help="The picture to write: .png or .svg.")
def draw(model_file: str | None, out: str) -> None:
    """Draw the network in MODEL_FILE as the seed draws it (default: the seed's network).

    One arrow per weight, blue for positive and red for negative, as wide as the weight
    is large; biases on the neurons; labels in the seed's notation for small networks.
    """
    require("plot", "draw")
    from ..plot import draw_network

    if model_file:
        path = draw_network(load(model_file), out)
    else:
        seed = students()
        path = draw_network(seed_network(), out, feature_names=seed.feature_names,
                            target_names=seed.target_names)
    click.echo(f"drew the network to {path}")
