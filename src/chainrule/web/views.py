"""The JSON the page draws: the network, a step's four stages, the data and the history.

Numbers go out as plain floats; a value that is not finite goes out as ``null`` (JSON
has no infinity).  Weights are nested as the model stores them: ``weights[k-1][i-1][j-1]``
is ``w^k_ij`` and ``biases[k-1][j-1]`` is ``b_kj``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import no_grad
from .run import Run, Step

GRID = 40  # decision regions: GRID × GRID cells over the data
TABLE_ROWS = 100  # rows of a table sent to the page
MAX_POINTS = 2000  # points of a scatter sent to the page: every k-th row of a bigger set


def jsonable(value: Any) -> Any:
    """Plain Python with ``None`` in place of NaN and ±∞."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _params(state: dict[str, np.ndarray], layers: int) -> tuple[list, list]:
    return ([state[f"layers.{k}.weight"] for k in range(layers)],
            [state[f"layers.{k}.bias"] for k in range(layers)])


def output_names(run: Run) -> list[str]:
    """What each output neuron stands for."""
    classes = run.model.classes_
    if run.loss_fn.name == "bce":
        return [f"logit of {classes[1]}"]
    if classes is not None:
        return [f"logit of {c}" for c in classes]
    return list(run.data.target_names)


def network(run: Run) -> dict[str, Any]:
    """Sizes, activations, names and the current weights and biases."""
    model = run.model
    weights, biases = _params(model.state_dict(), len(model.layers))
    return {"sizes": model.sizes, "activations": [l.activation.spec for l in model.layers],
            "inputs": list(run.data.feature_names), "outputs": output_names(run),
            "weights": weights, "biases": biases}


def preview(run: Run) -> dict[str, Any]:
    """The next step's rows and the outputs the current weights give them."""
    rows = run.next_rows()
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        h, outputs = run.X[rows], []
        for layer in run.model.layers:
            h = layer(h).data
            outputs.append(h)
    return {"rows": rows, "x": run.X[rows], "y": run.Y[rows], "outputs": outputs}


def stages(run: Run, step: Step) -> dict[str, Any]:
    """The four stages of ``step``, in order, with their numbers."""
    layers = len(run.model.layers)
    old_w, old_b = _params(step.before, layers)
    new_w, new_b = _params(run.model.state_dict(), layers)
    rows = step.rows
    return {
        "forward": {"rows": rows, "x": run.X[rows], "outputs": step.outputs,
                    "weights": old_w, "biases": old_b},
        "loss": {"prediction": step.outputs[-1], "target": run.Y[rows], "loss": step.loss,
                 "formula": run.loss_fn.formula},
        "backward": {"weights": [g for g, _ in step.grads], "biases": [g for _, g in step.grads]},
        "update": {"lr": step.lr, "weights": new_w, "biases": new_b,
                   "rule": "θ ← θ − η · ∂L/∂θ"},
    }


def _regions(run: Run) -> dict[str, Any]:
    X = run.data.X
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.08 * np.where(high > low, high - low, 1.0)
    low, high = low - pad, high + pad
    gx, gy = np.linspace(low[0], high[0], GRID), np.linspace(low[1], high[1], GRID)
    grid = np.array([[a, b] for b in gy for a in gx])
    with np.errstate(over="ignore", invalid="ignore"):
        p = run.model.predict_proba(grid)
    return {"x": [low[0], high[0]], "y": [low[1], high[1]], "n": GRID,
            "cls": np.argmax(p, axis=1), "p": np.round(np.max(p, axis=1), 3)}


def data_view(run: Run) -> dict[str, Any]:
    """A scatter with decision regions (2 inputs, classes) or the first rows as a table."""
    classes = run.model.classes_
    if classes is not None and run.X.shape[1] == 2:
        index = {c: k for k, c in enumerate(classes.tolist())}
        total = len(run.data.X)
        k = -(-total // MAX_POINTS)  # every k-th row, so a big upload stays quick to send
        points = [[x[0], x[1], index[label], 0]
                  for x, label in zip(run.X_raw[::k], run.y_raw[::k].tolist())]
        if run.val is not None:
            points += [[x[0], x[1], index[label], 1]
                       for x, label in zip(run.val[0][::k], run.val[1][::k].tolist())]
        return {"kind": "scatter", "features": run.data.feature_names,
                "classes": [str(c) for c in classes], "points": points, "total": total,
                "regions": _regions(run)}
    shown = slice(0, TABLE_ROWS)
    with np.errstate(over="ignore", invalid="ignore"):
        predicted = run.model.predict(run.X_raw[shown])
    y = run.y_raw[shown]
    targets = y.reshape(len(y), -1) if classes is None else y.reshape(-1, 1)
    predicted = predicted.reshape(len(predicted), -1)
    columns = [*run.data.feature_names, *run.data.target_names,
               *[f"{t} predicted now" for t in run.data.target_names]]
    rows = [[*map(float, x), *_cells(t), *_cells(p)]
            for x, t, p in zip(run.X_raw[shown], targets, predicted)]
    return {"kind": "table", "columns": columns, "rows": rows, "total": len(run.X_raw)}


def _cells(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]


def state(run: Run, notes: list[str] | None = None) -> dict[str, Any]:
    """Everything the page shows, after the latest step."""
    return jsonable({
        "settings": run.settings.to_dict(),
        "task": "classification" if run.classification else "regression",
        "loss": {"name": run.loss_fn.name, "formula": run.loss_fn.formula},
        "scale": run.recipe.scale, "lr": run.opt.lr,
        "network": network(run),
        "step": run.steps, "epoch": run.epochs, "cursor": run.cursor,
        "rows_per_epoch": len(run.X), "metric": run.metric,
        "history": run.history,
        "preview": preview(run),
        "data": data_view(run),
        "source": run.data.source, "notes": notes or list(run.data.notes),
    })
