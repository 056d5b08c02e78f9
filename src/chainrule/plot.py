"""Pictures: the loss per epoch, the network as the seed draws it, decision regions.

Each ``plot_*``/``draw_*`` function writes one image, PNG or SVG by the file's suffix,
atomically (see ``io.write_atomic``), and returns its path; its ``*_figure`` twin
returns the matplotlib ``Figure`` instead (to show in a notebook, or to inspect).  matplotlib (the ``chainrule[plot]`` extra)
is imported only when a picture is drawn, and only through ``matplotlib.figure.Figure``,
never ``pyplot``: the pictures render off-screen (Agg for PNG) and leave the caller's
matplotlib state alone.  An image is ``size`` inches × ``dpi``: 7 × 4.5 at 100 dpi is
700 × 450 pixels.

``draw_network`` draws what ``network_edges`` lists: one arrow per weight ``w^k_ij``
from neuron i of layer k−1 to neuron j of layer k (inputs are layer 0), blue for a
positive weight and red for a negative one, as wide as the weight is large; each
neuron's ring shows its bias ``b_kj`` the same way, and small networks carry the seed's
labels with the numbers.
"""

from __future__ import annotations

import io as _bytes
import os
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from .errors import ConfigError, DataError
from .io import write_atomic
from .nn import Sequential, parameter_refs

POSITIVE, NEGATIVE, ZERO = "#1f77b4", "#d62728", "#9a9a9a"
FORMATS = {".png": "png", ".svg": "svg"}
LABELLED_WEIGHTS = 16  # networks with at most this many weights get w^k_ij labels


class Edge(NamedTuple):
    """One arrow of the drawing: weight ``symbol`` (``w^k_ij``) from ``source`` =
    (k − 1, i) to ``target`` = (k, j), layers counted from the inputs (0), neurons from 1."""

    symbol: str
    source: tuple[int, int]
    target: tuple[int, int]
    weight: float


def _network(model: Any) -> Sequential:
    """The chainrule network of a model or of a fitted ``chainrule.sklearn`` estimator."""
    net = getattr(model, "model_", model)
    if not isinstance(net, Sequential) or not hasattr(net, "sizes"):
        raise ConfigError(f"can only draw a chainrule Sequential of Dense layers, not "
                          f"{type(model).__name__}")
    return net


def network_edges(model: Any) -> list[Edge]:
    """Every weight as an ``Edge``, in the seed's order (layer by layer, w^k_11, w^k_12, …)."""
    net = _network(model)
    return [Edge(ref.symbol, (ref.layer - 1, ref.i), (ref.layer, ref.j),
                 float(net.layers[ref.layer - 1].weight.data[ref.index]))
            for ref in parameter_refs(net.sizes) if ref.kind == "w"]


# ------------------------------------------------------------------------------------
# Figures and files.


def _figure(size: tuple[float, float], dpi: int) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("pictures need matplotlib: pip install 'chainrule[plot]'") from None
    return Figure(figsize=size, dpi=dpi)


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Write a figure as PNG or SVG (by the suffix), atomically, at the figure's dpi."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"cannot draw into {path.name}: give a file name ending in "
                          f"{' or '.join(FORMATS)}")
    buffer = _bytes.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}  # the same network, the same file
    fig.savefig(buffer, format=fmt, dpi=fig.dpi, metadata=metadata)
    return write_atomic(path, buffer.getvalue())


def _colour(value: float) -> str:
    return POSITIVE if value > 0 else NEGATIVE if value < 0 else ZERO


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


# ------------------------------------------------------------------------------------
# Loss per epoch.


def _curves(history: Any) -> tuple[list[int], dict[str, list[float]], int | None]:
    """(epochs, {"loss": …, "val_loss": …}, best epoch) from a History, its logs (a dict,
    as ``io.training_summary`` keeps them) or a fitted estimator's ``loss_curve_``."""
    if hasattr(history, "loss_curve_"):
        logs: Mapping[str, Any] = {"loss": history.loss_curve_}
    else:
        logs = getattr(history, "logs", history)
    curves = {k: [float(v) for v in logs[k]] for k in ("loss", "val_loss") if logs.get(k)}
    if not curves:
        raise ConfigError("nothing to plot: the history has no epochs")
    n = len(next(iter(curves.values())))
    epochs = list(getattr(history, "epoch", None) or logs.get("epoch") or [])
    if len(epochs) != n:
        epochs = list(range(1, n + 1))
    best = getattr(history, "best_epoch", None)
    return epochs, curves, best


def plot_history(history: Any, path: str | os.PathLike, **options: Any) -> Path:
    """Draw ``history_figure(history, **options)`` into ``path`` (.png or .svg)."""
    return save_figure(history_figure(history, **options), path)


def history_figure(history: Any, *, title: str = "training",
                   size: tuple[float, float] = (7.0, 4.5), dpi: int = 100) -> Any:
    """The training (and validation) loss per epoch; a log scale when it spans more than
    two decades.  ``history`` is a ``History``, its logs, or a fitted estimator."""
    epochs, curves, best = _curves(history)
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    styles = {"loss": ("training loss", POSITIVE), "val_loss": ("validation loss", "#ff7f0e")}
    for key, values in curves.items():
        label, colour = styles[key]
        ax.plot(epochs[:len(values)], values, color=colour, label=label,
                marker="o" if len(values) <= 30 else None, markersize=3, linewidth=1.5)
    values = np.concatenate([np.asarray(v) for v in curves.values()])
    finite = values[np.isfinite(values)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    if best is not None:
        ax.axvline(best, color=ZERO, linestyle=":", linewidth=1, label=f"best epoch ({best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------
# The network.


def _positions(sizes: list[int], dx: float, dy: float) -> dict[tuple[int, int], tuple[float, float]]:
    """(layer, neuron) → centre: layers left to right, neuron 1 at the top of its column."""
    return {(k, j): (k * dx, ((n - 1) / 2 - (j - 1)) * dy)
            for k, n in enumerate(sizes) for j in range(1, n + 1)}


def _sub(k: int, j: int) -> str:
    """The pair of indices as the seed writes them: ``11``, or ``3,12`` past 9."""
    return f"{k}{j}" if k < 10 and j < 10 else f"{k},{j}"


def draw_network(model: Any, path: str | os.PathLike, **options: Any) -> Path:
    """Draw ``network_figure(model, **options)`` into ``path`` (.png or .svg)."""
    return save_figure(network_figure(model, **options), path)


def network_figure(model: Any, *, labels: bool | None = None,
                   feature_names: list[str] | None = None,
                   target_names: list[str] | None = None,
                   size: tuple[float, float] | None = None, dpi: int = 100) -> Any:
    """The network as the seed draws it: inputs, neurons, one arrow per weight (colour by
    sign, width by size), each neuron's bias on its ring, and, for networks of at most
    16 weights (or ``labels=True``), every ``w^k_ij`` and ``b_kj`` with its number.

    Column names default to those the model was saved with (``model.metadata``)."""
    net = _network(model)
    sizes, edges = net.sizes, network_edges(net)
    meta = getattr(net, "metadata", None) or {}
    feature_names = feature_names or meta.get("features")
    target_names = _output_names(net, target_names or meta.get("targets"))
    labels = len(edges) <= LABELLED_WEIGHTS if labels is None else labels
    tallest, last = max(sizes), len(sizes) - 1
    dy = 1.6 if tallest <= 12 else 19.2 / tallest
    dx = max(3.0, 0.6 * (tallest - 1) * dy)
    radius = 0.5 if labels else min(0.36, 0.42 * dy)
    where = _positions(sizes, dx, dy)
    half = (tallest - 1) / 2 * dy + radius
    named = tallest <= 24
    left = max((len(str(n)) for n in feature_names or []), default=0) if named else 0
    right = max((len(str(n)) + 6 for n in target_names or []), default=0) if named else 0
    inch = 1.0
    for _ in range(3):  # the margins hold the column names: ~0.08 inch a character at 9 pt
        xlim = (-radius - max(1.0, 0.2 + 0.08 * left / inch),
                last * dx + radius + max(1.3, 0.2 + 0.08 * right / inch))
        ylim = (-half - 0.3, half + 0.3)
        w, h = xlim[1] - xlim[0], ylim[1] - ylim[0]
        inch = min(1.0, 16 / w, 11.4 / h)  # about an inch a unit, at most 16 × 12 inches
    if size is None:
        size = (w * inch, h * inch + 0.6)
    fig = _figure(size, dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - 0.5 / size[1]))
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    fig.suptitle(f"network {' → '.join(map(str, sizes))}    blue > 0, red < 0, "
                 "width ∝ |value|", fontsize=10, y=1.0 - 0.12 / size[1], va="top")
    width = _widths(net, edges)
    _draw_edges(ax, net.sizes, edges, where, radius, labels, width)
    _draw_neurons(ax, net, where, radius, width, labels, named, feature_names, target_names)
    return fig


def _output_names(net: Sequential, targets: list[str] | None) -> list[str] | None:
    """What each output neuron stands for: the target columns, or, for a classifier of one
    label column, each output's class (``species = setosa``; bce's one output: the second
    class, whose probability it gives)."""
    classes = getattr(net, "classes_", None)
    if classes is None or not targets or len(targets) != 1:
        return targets
    classes = [str(c) for c in np.asarray(classes).tolist()]
    if len(classes) == net.sizes[-1]:
        return [f"{targets[0]} = {c}" for c in classes]
    if net.sizes[-1] == 1 and len(classes) == 2:
        return [f"{targets[0]} = {classes[1]}"]
    return targets


def _widths(net: Sequential, edges: list[Edge]) -> Callable[[float], float]:
    """Line width for a weight or bias: proportional to its size, thinner in big networks."""
    biases = [float(b) for layer in net.layers for b in layer.bias.data]
    largest = max([abs(e.weight) for e in edges] + [abs(b) for b in biases] + [1e-300])
    widest = 4.0 if len(edges) <= 60 else 1.5
    return lambda value: 0.4 + (widest - 0.4) * abs(value) / largest


def _draw_edges(ax: Any, sizes: list[int], edges: list[Edge], where: dict, radius: float,
                labels: bool, width: Callable[[float], float]) -> None:
    """One arrow per weight, from rim to rim (plain lines past 300 weights)."""
    from matplotlib.collections import LineCollection
    from matplotlib.patches import FancyArrowPatch

    segments = []
    for edge in edges:
        (x0, y0), (x1, y1) = where[edge.source], where[edge.target]
        length = np.hypot(x1 - x0, y1 - y0)
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        start, end = (x0 + radius * ux, y0 + radius * uy), (x1 - radius * ux, y1 - radius * uy)
        segments.append((start, end))
        if len(edges) <= 300:
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                         color=_colour(edge.weight), linewidth=width(edge.weight),
                                         alpha=0.85, shrinkA=0, shrinkB=0, zorder=1))
        if labels:
            _label_edge(ax, edge, start, end, sizes)
    if len(edges) > 300:
        ax.add_collection(LineCollection(
            segments, colors=[_colour(e.weight) for e in edges],
            linewidths=[width(e.weight) for e in edges], alpha=0.35, zorder=1))


def _label_edge(ax: Any, edge: Edge, start: tuple, end: tuple, sizes: list[int]) -> None:
    """``w^k_ij = value`` on its arrow.  Arrows from source neuron i carry their labels at
    the same distance along the way, a different one for each i, so the labels of arrows
    that cross sit apart and those of arrows that fan out stack apart."""
    (k, i), (_, j) = edge.source, edge.target
    t = 0.5 if sizes[k] == 1 else 0.25 + 0.5 * (i - 1) / (sizes[k] - 1)
    x, y = start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1])
    angle = np.degrees(np.arctan2(end[1] - start[1], end[0] - start[0]))
    ax.text(x, y, f"$w^{{{k + 1}}}_{{{_sub(i, j)}}}$ = {_number(edge.weight)}", fontsize=8,
            ha="center", va="center", rotation=angle, rotation_mode="anchor",
            color=_colour(edge.weight), zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                  "alpha": 0.85})


def _draw_neurons(ax: Any, net: Sequential, where: dict, radius: float,
                  width: Callable[[float], float], labels: bool, named: bool,
                  features: list[str] | None, targets: list[str] | None) -> None:
    """Inputs grey; each neuron's ring coloured and as wide as its bias; names inside."""
    from matplotlib.patches import Circle

    last = len(net.sizes) - 1
    for (k, j), (x, y) in where.items():
        bias = 0.0 if k == 0 else float(net.layers[k - 1].bias.data[j - 1])
        ax.add_patch(Circle((x, y), radius, facecolor="#eeeeee" if k == 0 else "white",
                            edgecolor="#555555" if k == 0 else _colour(bias),
                            linewidth=1.2 if k == 0 else width(bias), zorder=2))
        if not named:
            continue
        name = f"$x_{{{j}}}$" if k == 0 else f"$O_{{{_sub(k, j)}}}$"
        if labels and k > 0:
            ax.text(x, y + 0.13, name, ha="center", va="center", fontsize=10, zorder=3)
            ax.text(x, y - 0.18, f"$b_{{{_sub(k, j)}}}$ = {_number(bias)}", ha="center",
                    va="center", fontsize=6.5, color=_colour(bias), zorder=3)
        else:
            ax.text(x, y, name, ha="center", va="center", fontsize=9 if labels else 8, zorder=3)
        if k == 0 and features and j <= len(features):
            ax.text(x - radius - 0.12, y, _plain(features[j - 1]), ha="right", va="center",
                    fontsize=9)
        if k == last and targets and j <= len(targets):
            y_hat = r"$\hat{y}$" if net.sizes[-1] == 1 else rf"$\hat{{y}}_{{{j}}}$"
            ax.text(x + radius + 0.12, y, f"{y_hat} ({_plain(targets[j - 1])})", ha="left",
                    va="center", fontsize=9)


def _plain(name: str) -> str:
    """A column or class name as text, never as mathtext (a ``$`` in it is escaped)."""
    return str(name).replace("$", r"\$")


# ------------------------------------------------------------------------------------
# Decision regions.


def plot_boundary(model: Any, X: Any, y: Any, path: str | os.PathLike, **options: Any) -> Path:
    """Draw ``boundary_figure(model, X, y, **options)`` into ``path`` (.png or .svg)."""
    return save_figure(boundary_figure(model, X, y, **options), path)


def boundary_figure(model: Any, X: Any, y: Any, *, feature_names: list[str] | None = None,
                    resolution: int = 300, size: tuple[float, float] = (6.5, 5.0),
                    dpi: int = 100) -> Any:
    """A 2-feature classifier's decision regions (shaded by how sure it is) with the
    points ``X`` (raw inputs: the model applies its own scaler) coloured by label ``y``."""
    _figure((1.0, 1.0), 10)  # matplotlib missing: the install line, before anything else
    classes = getattr(model, "classes_", None)
    if classes is None or not hasattr(model, "predict_proba"):
        raise ConfigError("plot_boundary needs a classifier (trained on labels with "
                          "cross_entropy or bce)")
    X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ConfigError(f"plot_boundary draws classifiers of 2 input features; this data has "
                          f"shape {X.shape}")
    labels = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y).reshape(-1)
    index = {label: k for k, label in enumerate(np.asarray(classes).tolist())}
    try:
        codes = np.array([index[label] for label in labels.tolist()])
    except KeyError as exc:
        raise DataError(f"label {exc.args[0]!r} is not one of the model's classes "
                        f"{list(index)}") from None
    low, high = X.min(axis=0), X.max(axis=0)
    pad = np.where(high > low, 0.08 * (high - low), 0.5)
    gx = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    gy = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    xx, yy = np.meshgrid(gx, gy)
    proba = np.asarray(model.predict_proba(np.column_stack([xx.ravel(), yy.ravel()])))
    winner = proba.argmax(axis=1).reshape(xx.shape)
    sure = proba.max(axis=1).reshape(xx.shape)

    from matplotlib.colors import to_rgb

    palette = np.array([to_rgb(f"C{k % 10}") for k in range(len(classes))])
    chance = 1.0 / len(classes)
    strength = 0.12 + 0.33 * (sure - chance) / (1.0 - chance)
    image = 1.0 - strength[..., None] * (1.0 - palette[winner])  # the class colour on white
    fig = _figure(size, dpi)
    ax = fig.add_subplot()
    ax.imshow(image, origin="lower", extent=(gx[0], gx[-1], gy[0], gy[-1]), aspect="auto",
              interpolation="nearest")
    if len(classes) > 1:
        ax.contour(xx, yy, winner, levels=np.arange(len(classes) - 1) + 0.5, colors="#333333",
                   linewidths=1.0)
    for k, label in enumerate(classes):
        mine = codes == k
        if mine.any():
            ax.scatter(X[mine, 0], X[mine, 1], s=28, color=palette[k], edgecolors="black",
                       linewidths=0.6, label=str(label), zorder=3)
    meta = getattr(getattr(model, "model_", model), "metadata", None) or {}
    names = feature_names or meta.get("features") or ["$x_1$", "$x_2$"]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("decision regions (darker: more sure)")
    ax.legend(title="class", loc="best", fontsize=8)
    fig.tight_layout()
    return fig
