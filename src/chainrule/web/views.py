"""The JSON the page draws: the network, a step's four stages, the data and the history.

Numbers go out as plain floats; a value that is not finite goes out as ``null`` (JSON
has no infinity).  Weights are nested as the model stores them: ``weights[k-1][i-1][j-1]``
is ``w^k_ij`` and ``biases[k-1][j-1]`` is ``b_kj``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from ..tensor import Tensor, no_grad
from .run import Run, Step
from .toys import CROSSES, REGRESSION_TOYS, TOYS

GRID = 40  # decision regions: GRID × GRID cells over the data
MAP_GRID = 16  # each neuron's heat map: MAP_GRID × MAP_GRID cells
TABLE_ROWS = 100  # rows of a table sent to the page
MAX_POINTS = 2000  # points of a scatter sent to the page: every k-th row of a bigger set


def jsonable(value: Any) -> Any:
    """Plain Python with ``None`` in place of NaN and ±∞."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biu" or value.dtype.kind == "f" and np.isfinite(value).all():
            return value.tolist()  # plain numbers already: nothing to replace
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
    """Sizes, activations, names and the current weights and biases; on a 2-D set, each
    neuron's heat map: its output over the plane (``maps[k-1][j-1]``, MAP_GRID² numbers,
    row by row from the bottom)."""
    model = run.model
    weights, biases = _params(model.state_dict(), len(model.layers))
    out = {"sizes": model.sizes, "activations": [l.activation.spec for l in model.layers],
           "inputs": list(run.data.feature_names), "outputs": output_names(run),
           "weights": weights, "biases": biases}
    if is_plane(run):
        _, _, points = grid(run, MAP_GRID)
        X = model.x_scaler.transform(with_crosses(run, points)) if model.x_scaler else points
        out["maps"] = [np.round(o.T, 3) for o in forward(model, X)]
    return out


def model_at(run: Run, params: dict[str, np.ndarray]) -> Any:
    """A copy of the run's model holding ``params`` (e.g. the weights a step started from)."""
    model = copy.deepcopy(run.model)
    model.load_state_dict(params)
    return model


def forward(model: Any, X: np.ndarray) -> list[np.ndarray]:
    """Every layer's outputs ``O_k`` for the rows ``X``, without a graph."""
    outputs = []
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        h = X
        for layer in model.layers:
            h = layer(h).data
            outputs.append(h)
    return outputs


def deltas(model: Any, loss_fn: Any, X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    """Per layer, each row's ``δ^k_j = ∂ℓ_n/∂z_kj`` (rows, neurons), by the engine.

    Each layer's bias is given one copy per row, ``z_k = O_(k−1) W_k + B_k``; back-propagation
    of the batch mean ``L = (1/N) Σ_n ℓ_n`` leaves ``∂L/∂B_k[n] = δ^k(row n) / N``, so the
    row's δ is ``N`` times it.  For one row, ``δ^k_j = ∂L/∂b_kj``.
    """
    n = len(X)
    biases, h = [], Tensor(X)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in model.layers:
            B = Tensor(np.repeat(layer.bias.data[None, :], n, axis=0), requires_grad=True)
            biases.append(B)
            h = layer.activation(h @ Tensor(layer.weight.data) + B)
        loss_fn(h, Y).backward()
    return [B.grad * n for B in biases]


def preview(run: Run) -> dict[str, Any]:
    """The next step's rows and the outputs the current weights give them."""
    rows = run.next_rows()
    return {"rows": rows, "x": run.X[rows], "y": run.Y[rows],
            "outputs": forward(run.model, run.X[rows])}


def _loss_of(run: Run, prediction: np.ndarray, Y: np.ndarray) -> float:
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        return float(run.loss_fn(Tensor(prediction), Y).data)


def penalty(run: Run, params: dict[str, np.ndarray]) -> dict[str, float]:
    """The L2 penalty of ``params``: ``λ``, ``(λ/2)·Σθ²`` over every weight and bias (what
    the optimiser's weight decay λ·θ is the gradient of)."""
    lam = run.settings.l2
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged step's weights: ∞ (null)
        total = float(sum(np.sum(v * v) for v in params.values()))
    return {"l2": lam, "penalty": 0.5 * lam * total}


RULE, RULE_L2 = "θ ← θ − η · ∂L/∂θ", "θ ← θ − η · (∂L/∂θ + λ · θ)"


def stages(run: Run, step: Step) -> dict[str, Any]:
    """The four stages of ``step``, in order, with their numbers.

    Each stage has its own numbers: the forward, loss and backward stages (and their
    ``data`` view, the predictions of every row) are those of the weights the step started
    from; the update stage has the new weights and what they give the same rows (``ŷ`` and
    ``L`` after the step, beside the ones before it).
    """
    layers = len(run.model.layers)
    old_w, old_b = _params(step.before, layers)
    new_w, new_b = _params(run.model.state_dict(), layers)
    rows = step.rows
    before = model_at(run, step.before)
    after = forward(run.model, run.X[rows])
    return {
        "forward": {"rows": rows, "x": run.X[rows], "outputs": step.outputs,
                    "weights": old_w, "biases": old_b},
        "loss": {"prediction": step.outputs[-1], "target": run.Y[rows], "loss": step.loss,
                 "formula": run.loss_fn.formula, **penalty(run, step.before)},
        "backward": {"weights": [g for g, _ in step.grads], "biases": [g for _, g in step.grads],
                     "deltas": deltas(before, run.loss_fn, run.X[rows], run.Y[rows])},
        "update": {"lr": step.lr, "weights": new_w, "biases": new_b,
                   "rule": RULE_L2 if run.settings.l2 else RULE, "outputs": after,
                   "prediction": after[-1], "loss": _loss_of(run, after[-1], run.Y[rows]),
                   **penalty(run, run.model.state_dict())},
        "data": data_view(run, before),
    }


def trial(run: Run) -> dict[str, Any]:
    """The next step's forward, loss and backward stages on the current weights, taken
    on a copy (nothing moves): what the page shows after a weight is typed in."""
    rows = run.next_rows()
    X, Y = run.X[rows], run.Y[rows]
    model = copy.deepcopy(run.model)
    with np.errstate(over="ignore", invalid="ignore"):
        h, outputs = Tensor(X), []
        for layer in model.layers:
            h = layer(h)
            outputs.append(h.data.copy())
        L = run.loss_fn(h, Y)
        model.zero_grad()
        L.backward()
    layers = len(model.layers)
    weights, biases = _params(model.state_dict(), layers)
    return {
        "pending": True,
        "forward": {"rows": rows, "x": X, "outputs": outputs, "weights": weights,
                    "biases": biases},
        "loss": {"prediction": outputs[-1], "target": Y, "loss": float(L.data),
                 "formula": run.loss_fn.formula, **penalty(run, run.model.state_dict())},
        "backward": {"weights": [model.layers[k].weight.grad for k in range(layers)],
                     "biases": [model.layers[k].bias.grad for k in range(layers)],
                     "deltas": deltas(model, run.loss_fn, X, Y)},
        "data": data_view(run),
    }


def with_crosses(run: Run, points: np.ndarray) -> np.ndarray:
    """Points of the plane (x₁, x₂) with the run's feature crosses added, as its inputs."""
    return np.column_stack([points] + [CROSSES[c][1](points) for c in run.settings.crosses])


def grid(run: Run, n: int = GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n × n grid over the data's plane, padded by 8 %: (low, high, points row by row)."""
    X = run.data.X[:, :2]
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.08 * np.where(high > low, high - low, 1.0)
    low, high = low - pad, high + pad
    gx, gy = np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n)
    ax, ay = np.meshgrid(gx, gy)  # row by row from the bottom: x varies fastest
    return low, high, np.column_stack([ax.ravel(), ay.ravel()])


def _regions(run: Run, model: Any) -> dict[str, Any]:
    low, high, points = grid(run)
    with np.errstate(over="ignore", invalid="ignore"):
        if model.classes_ is None:
            value = model.predict(with_crosses(run, points)).reshape(-1)
            return {"x": [low[0], high[0]], "y": [low[1], high[1]], "n": GRID,
                    "value": np.round(value, 4)}
        p = model.predict_proba(with_crosses(run, points))
    return {"x": [low[0], high[0]], "y": [low[1], high[1]], "n": GRID,
            "cls": np.argmax(p, axis=1), "p": np.round(np.max(p, axis=1), 3)}


def is_plane(run: Run) -> bool:
    """Drawn as points over the plane: a toy set (with its crosses), or a table of two
    inputs and classes."""
    toy = run.settings.dataset in TOYS or run.settings.dataset in REGRESSION_TOYS
    return toy or (run.model.classes_ is not None and run.X.shape[1] == 2)


def data_view(run: Run, model: Any = None) -> dict[str, Any]:
    """A scatter over the network's answer on the plane (a 2-D set: decision regions or the
    predicted value) or the first rows as a table, with the predictions of ``model`` (the
    run's own by default).  A big table's scatter has every k-th row (``total``: all)."""
    model = model or run.model
    classes = model.classes_
    if is_plane(run):
        names = run.data.feature_names[:2]
        total = len(run.data.X)
        k = -(-total // MAX_POINTS)  # every k-th row, so a big upload stays quick to send
        X, y = run.X_raw[::k], run.y_raw[::k]
        Xv, yv = (run.val[0][::k], run.val[1][::k]) if run.val is not None else (X[:0], y[:0])
        if classes is not None:
            index = {c: n for n, c in enumerate(classes.tolist())}
            points = [[x[0], x[1], index[label], held] for rows, labels, held in
                      ((X, y, 0), (Xv, yv, 1)) for x, label in zip(rows, labels.tolist())]
            return {"kind": "scatter", "features": names, "classes": [str(c) for c in classes],
                    "points": points, "total": total, "regions": _regions(run, model)}
        points = [[x[0], x[1], v, held] for rows, values, held in
                  ((X, y, 0), (Xv, yv, 1)) for x, v in zip(rows, values.reshape(-1).tolist())]
        whole = np.concatenate([run.y_raw.reshape(-1)] + ([run.val[1].reshape(-1)] if run.val else []))
        return {"kind": "scatter", "task": "regression", "features": names,
                "range": [float(whole.min()), float(whole.max())], "points": points,
                "total": total, "regions": _regions(run, model)}
    shown = slice(0, TABLE_ROWS)
    with np.errstate(over="ignore", invalid="ignore"):
        predicted = model.predict(run.X_raw[shown])
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
