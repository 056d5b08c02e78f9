"""Initialisers: the starting weights, drawn from an explicit random generator.

Each initialiser is ``init(shape, rng) -> array`` for a weight matrix of shape
``(fan_in, fan_out)``.  The seed document starts from weights 1 and biases 0
(``ones`` and ``zeros``); the random ones keep the variance of each layer's outputs
steady so deeper networks train:

==================  ==================================================
ones, zeros          w = 1, w = 0
constant(c)          w = c
uniform              w ~ U(−a, a),  a = 1/√fan_in
normal               w ~ N(0, σ²),  σ = 1/√fan_in
xavier_uniform       w ~ U(−a, a),  a = √(6 / (fan_in + fan_out))   (Glorot)
xavier_normal        w ~ N(0, σ²),  σ = √(2 / (fan_in + fan_out))
he_normal            w ~ N(0, σ²),  σ = √(2 / fan_in)               (Kaiming)
he_uniform           w ~ U(−a, a),  a = √(6 / fan_in)
lecun_normal         w ~ N(0, σ²),  σ = √(1 / fan_in)
lecun_uniform        w ~ U(−a, a),  a = √(3 / fan_in)
==================  ==================================================

``xavier`` and ``glorot`` mean ``xavier_uniform``; ``he`` and ``kaiming`` mean
``he_normal``; ``lecun`` means ``lecun_normal``.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Any, Callable

import numpy as np

from .errors import ConfigError

Init = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A generator from a seed: a whole number ≥ 0, a ``Generator`` (used as it is) or None
    (fresh randomness).  The same seed gives the same numbers, bit for bit."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, (bool, np.bool_))
                             or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"the seed must be a whole number ≥ 0 (or a numpy Generator, or None), "
                          f"got {seed!r:.40}")
    return np.random.default_rng(seed)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    return (shape[0], shape[-1]) if len(shape) >= 2 else (shape[0], shape[0])


def constant(shape: tuple[int, ...], rng: np.random.Generator, value: float = 0.0) -> np.ndarray:
    return np.full(shape, float(value))


def _uniform(shape: tuple[int, ...], rng: np.random.Generator, limit: Callable) -> np.ndarray:
    a = limit(*_fans(shape))
    return rng.uniform(-a, a, size=shape)


def _normal(shape: tuple[int, ...], rng: np.random.Generator, std: Callable) -> np.ndarray:
    return rng.normal(0.0, std(*_fans(shape)), size=shape)


INITIALIZERS: dict[str, Init] = {
    "ones": partial(constant, value=1.0),
    "zeros": partial(constant, value=0.0),
    "uniform": partial(_uniform, limit=lambda i, o: 1.0 / np.sqrt(i)),
    "normal": partial(_normal, std=lambda i, o: 1.0 / np.sqrt(i)),
    "xavier_uniform": partial(_uniform, limit=lambda i, o: np.sqrt(6.0 / (i + o))),
    "xavier_normal": partial(_normal, std=lambda i, o: np.sqrt(2.0 / (i + o))),
    "he_normal": partial(_normal, std=lambda i, o: np.sqrt(2.0 / i)),
    "he_uniform": partial(_uniform, limit=lambda i, o: np.sqrt(6.0 / i)),
    "lecun_normal": partial(_normal, std=lambda i, o: np.sqrt(1.0 / i)),
    "lecun_uniform": partial(_uniform, limit=lambda i, o: np.sqrt(3.0 / i)),
}
ALIASES = {
    "xavier": "xavier_uniform", "glorot": "xavier_uniform", "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal", "he": "he_normal", "kaiming": "he_normal",
    "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform", "lecun": "lecun_normal",
}


def get_initializer(spec: str | float | Init) -> Init:
    """An initialiser by name (see the module's table), a number (constant) or a function."""
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return partial(constant, value=_finite(spec, spec))
    key = str(spec).strip().lower()
    key = ALIASES.get(key, key)
    match = re.fullmatch(r"constant\s*(?::(.*)|\((.*)\))", key)  # "constant:0.5", "constant(0.5)"
    if match:
        return partial(constant, value=_finite((match[1] if match[1] is not None else match[2]).strip(),
                                               spec))
    if key not in INITIALIZERS:
        names = ", ".join([*INITIALIZERS, "constant:VALUE", *ALIASES])
        raise ConfigError(f"unknown initialiser {spec!r}; choose one of: {names}")
    return INITIALIZERS[key]


def _finite(value: Any, spec: Any) -> float:
    """The constant of ``constant:VALUE``: a finite number (no NaN, no ∞)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"the initialiser {spec!r:.60} needs a finite number, e.g. constant:0.5")
    return number


def initialize(spec: Any, shape: tuple[int, ...], rng: np.random.Generator,
               dtype: Any = np.float64) -> np.ndarray:
    return np.asarray(get_initializer(spec)(shape, rng), dtype=dtype)
