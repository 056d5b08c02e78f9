"""Toy classification sets in two dimensions, drawn from a seed (nothing is downloaded).

Each maker takes the number of points and a ``numpy.random.Generator`` and returns
``(X, labels)``: ``X`` of shape (n, 2) and integer labels 0/1, half of each class.

* ``blobs``   — two Gaussian clouds, centres (−1.5, −1) and (1.5, 1), σ = 0.9
* ``xor``     — the square [−1.05, 1.05]² less a band 0.05 wide along the axes; label 1
  where x₁·x₂ < 0
* ``circles`` — a disc of radius 0.5 inside a ring of radius 1, noise σ = 0.08
* ``moons``   — two interleaved half circles, noise σ = 0.1
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


TOYS: dict[str, Maker] = {"blobs": blobs, "xor": xor, "circles": circles, "moons": moons}


def toy(name: str, n: int = 200, seed: int = 0) -> Dataset:
    """The toy set ``name`` with ``n`` points, the same for the same seed; rows shuffled."""
    rng = np.random.default_rng(seed)
    X, labels = TOYS[name](n, rng)
    order = rng.permutation(n)
    return Dataset(X[order], labels[order], ["x_1", "x_2"], ["class"],
                   source=f"the {name} toy set (seed {seed})", task="classification")
