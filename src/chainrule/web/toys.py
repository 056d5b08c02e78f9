"""Toy sets in two dimensions, drawn from a seed (nothing is downloaded).

Each maker takes the number of points and a ``numpy.random.Generator`` and returns
``(X, labels)``: ``X`` of shape (n, 2) and integer labels 0/1, half of each class (the
classification sets), or ``(X, y)`` with a number ``y`` per point (the regression sets).

* ``blobs``   — two Gaussian clouds, centres (−1.5, −1) and (1.5, 1), σ = 0.9
* ``xor``     — the square [−1.05, 1.05]² less a band 0.05 wide along the axes; label 1
  where x₁·x₂ < 0
* ``circles`` — a disc of radius 0.5 inside a ring of radius 1, noise σ = 0.08
* ``moons``   — two interleaved half circles, noise σ = 0.1
* ``spiral``  — two interleaved spirals, 1.5 turns each, from the centre to radius 1; σ = 0.05
* ``plane``   — regression: uniform on [−1, 1]², ``y = x₁ − x₂``
* ``bumps``   — regression: uniform on [−1, 1]², ``y = exp(−‖x − a‖²/0.18) − exp(−‖x − b‖²/0.18)``
  with ``a = (−0.4, 0.4)``, ``b = (0.4, −0.4)``: a hill and a hollow

``noise`` adds Gaussian noise of σ = noise/100 to every point's inputs, drawn after the set
(noise 0 gives the set itself).  ``crossed`` adds the feature crosses as extra inputs:
``x₁²``, ``x₂²``, ``x₁x₂``, ``sin x₁``, ``sin x₂`` (of the inputs as drawn, before scaling).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data import Dataset

Maker = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _halves(n: int) -> tuple[int, np.ndarray]:
    n0 = n // 2
    return n0, np.r_[np.zeros(n0, dtype=np.int64), np.ones(n - n0, dtype=np.int64)]


def blobs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, labels = _halves(n)
    centres = np.where(labels[:, None] == 0, [-1.5, -1.0], [1.5, 1.0])
    return centres + rng.normal(0.0, 0.9, size=(n, 2)), labels


def xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, labels = _halves(n)
    size = rng.uniform(0.05, 1.05, size=(n, 2))  # the gap along the axes keeps classes apart
    sign = rng.choice([-1.0, 1.0], size=n)
    sign2 = np.where(labels == 0, sign, -sign)  # class 0: same signs, class 1: opposite
    return size * np.c_[sign, sign2], labels


def circles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, labels = _halves(n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    radius = np.where(labels == 0, 1.0, 0.5)
    X = radius[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    return X + rng.normal(0.0, 0.08, size=(n, 2)), labels


def moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, labels = _halves(n)
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.c_[np.cos(t), np.sin(t)]
    lower = np.c_[1.0 - np.cos(t), 0.5 - np.sin(t)]
    X = np.where(labels[:, None] == 0, upper, lower)
    return X + rng.normal(0.0, 0.1, size=(n, 2)), labels


def spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, labels = _halves(n)
    t = rng.uniform(0.0, 1.0, size=n)
    angle = 3 * np.pi * t + np.pi * labels  # class 1: the same spiral turned half a turn
    X = t[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    return X + rng.normal(0.0, 0.05, size=(n, 2)), labels


def plane(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    return X, X[:, 0] - X[:, 1]


def bumps(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    bump = lambda c: np.exp(-np.sum((X - c) ** 2, axis=1) / 0.18)  # noqa: E731
    return X, bump(np.array([-0.4, 0.4])) - bump(np.array([0.4, -0.4]))


TOYS: dict[str, Maker] = {"blobs": blobs, "xor": xor, "circles": circles, "moons": moons,
                          "spiral": spiral}
REGRESSION_TOYS: dict[str, Maker] = {"plane": plane, "bumps": bumps}
CROSSES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "x1^2": ("x₁²", lambda X: X[:, 0] ** 2),
    "x2^2": ("x₂²", lambda X: X[:, 1] ** 2),
    "x1x2": ("x₁x₂", lambda X: X[:, 0] * X[:, 1]),
    "sin(x1)": ("sin x₁", lambda X: np.sin(X[:, 0])),
    "sin(x2)": ("sin x₂", lambda X: np.sin(X[:, 1])),
}


def toy(name: str, n: int = 200, seed: int = 0, noise: float = 0.0,
        crosses: tuple[str, ...] = ()) -> Dataset:
    """The toy set ``name`` with ``n`` points, the same for the same seed; rows shuffled;
    ``noise``: σ of extra Gaussian noise on the inputs; ``crosses``: keys of ``CROSSES``."""
    rng = np.random.default_rng(seed)
    regression = name in REGRESSION_TOYS
    X, y = (REGRESSION_TOYS if regression else TOYS)[name](n, rng)
    order = rng.permutation(n)
    X, y = X[order], y[order]
    if noise:
        X = X + rng.normal(0.0, noise, size=X.shape)
    names = ["x_1", "x_2"] + [CROSSES[c][0] for c in crosses]
    X = np.column_stack([X] + [CROSSES[c][1](X) for c in crosses])
    return Dataset(X, y.reshape(-1, 1) if regression else y, names,
                   ["y" if regression else "class"], source=f"the {name} toy set (seed {seed})",
                   task="regression" if regression else "classification")
