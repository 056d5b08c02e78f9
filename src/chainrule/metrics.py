"""Metrics: numbers that say how good predictions are, on plain NumPy arrays.

Regression: ``mse`` (mean of (y − ŷ)²), ``mae`` (mean of |y − ŷ|), ``r2``
(1 − Σ(y − ŷ)² / Σ(y − ȳ)², per output column, averaged).  Classification, from
class probabilities ``P`` (rows × classes) and one-hot targets ``Y``: ``accuracy``
(share of rows whose most probable class is the true one) and ``log_loss``
(mean of −Σ_j y_j ln p_j, with p clipped to [1e-15, 1]).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import ConfigError


def mse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean((y - pred) ** 2))


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y - pred)))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R² per output column, averaged; NaN for fewer than two rows (no variance to explain)."""
    y, pred = np.atleast_2d(y.T).T, np.atleast_2d(pred.T).T
    if len(y) < 2:
        return float("nan")
    res, dev = y - pred, y - y.mean(axis=0)  # squared in place: two arrays, not four
    ss_res = np.sum(np.multiply(res, res, out=res), axis=0)
    ss_tot = np.sum(np.multiply(dev, dev, out=dev), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(scores))


def accuracy(Y: np.ndarray, P: np.ndarray) -> float:
    return float(np.mean(np.argmax(Y, axis=1) == np.argmax(P, axis=1)))


def log_loss(Y: np.ndarray, P: np.ndarray) -> float:
    return float(np.mean(-np.sum(Y * np.log(np.clip(P, 1e-15, 1.0)), axis=1)))


REGRESSION: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"mse": mse, "mae": mae, "r2": r2}
CLASSIFICATION: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy, "log_loss": log_loss}
ALL = {**REGRESSION, **CLASSIFICATION}


def get_metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    key = name.strip().lower()
    if key not in ALL:
        raise ConfigError(f"unknown metric {name!r}; choose from: {', '.join(ALL)}")
    return ALL[key]
