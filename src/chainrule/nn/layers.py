"""Dense layers and the Sequential stack: the seed's network of perceptrons.

``Dense(fan_in, fan_out)`` computes ``O = f(x @ W + b)``: ``W`` has shape
``(fan_in, fan_out)``, so ``W[i-1, j-1]`` is the seed's ``w^k_ij`` (the weight on the
arrow from neuron i of layer k−1 to neuron j of layer k) and ``b[j-1]`` is ``b_kj``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import ConfigError, ShapeError
from ..init import initialize, make_rng
from ..tensor import Tensor
from .activations import Activation, get_activation
from .module import Module
from .predictor import Predictor

# NumPy adds a bias to a tall table of 2–4 columns about 5× slower by broadcasting (an
# inner loop of 2–4 numbers a row) than one column at a time (measured, 100,000 rows)
NARROW = 4


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{what} must be a whole number of at least 1, got {value!r}")
    return int(value)


class Dense(Module):
    """A fully connected layer: ``O = f(x @ W + b)``, one neuron per output column."""

    def __init__(self, fan_in: int, fan_out: int, activation: str | Activation = "linear",
                 init: Any = "xavier", bias_init: Any = "zeros",
                 seed: int | np.random.Generator | None = None, dtype: Any = np.float64) -> None:
        self.fan_in = _positive_int(fan_in, "fan_in (inputs to the layer)")
        self.fan_out = _positive_int(fan_out, "fan_out (neurons in the layer)")
        self.activation = get_activation(activation)
        rng = make_rng(seed)
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise ConfigError(f"dtype must be float64 or float32, got {dtype}")
        self.weight = Tensor(initialize(init, (self.fan_in, self.fan_out), rng, dtype),
                             requires_grad=True)
        self.bias = Tensor(initialize(bias_init, (self.fan_out,), rng, dtype), requires_grad=True)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.fan_in,):
            raise ShapeError(
                f"this Dense layer takes {self.fan_in} input(s) per row, but got data of shape "
                f"{x.shape}; check the number of feature columns"
            )
        return self.activation(x @ self.weight + self.bias)

    def __repr__(self) -> str:
        return f"Dense({self.fan_in}, {self.fan_out}, activation={self.activation.name!r})"


class Sequential(Predictor, Module):
    """Layers applied one after the other: ``O_k = layer_k(O_{k−1})``, ``O_0 = x``; it keeps
    what ``fit`` learnt about the data (``Predictor``: scalers, classes) and predicts on
    raw inputs."""

    def __init__(self, layers: Iterable[Module]) -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ConfigError("a Sequential model needs at least one layer")
        for k in range(1, len(self.layers)):
            before, after = self.layers[k - 1], self.layers[k]
            out_n, in_n = getattr(before, "fan_out", None), getattr(after, "fan_in", None)
            if out_n is not None and in_n is not None and out_n != in_n:
                raise ShapeError(
                    f"layer {k + 1} takes {in_n} inputs but layer {k} has {out_n} neurons; "
                    "make them equal"
                )

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def forward_array(self, X: Any) -> np.ndarray:
        """The raw outputs for already-scaled inputs, with NumPy alone (no graph): each Dense
        layer's ``f(x W + b)``, the products BLAS's, the same numbers as the graph's."""
        a = np.asarray(X, dtype=self.dtype)
        if a.ndim != 2 or any(type(layer) is not Dense for layer in self.layers) or \
                a.shape[1] != self.layers[0].fan_in:
            return super().forward_array(a)  # (which explains a shape that doesn't fit)
        for layer in self.layers:
            z = a @ layer.weight.data
            b = layer.bias.data
            if 2 <= len(b) <= NARROW and len(z) >= 10_000:  # the same sums, column by column
                for j in range(len(b)):
                    z[:, j] += b[j]
            else:
                z += b
            a = layer.activation.fn(z)
        return a

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, k: int) -> Module:
        return self.layers[k]

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer, inputs first: ``[2, 2, 1]`` for the seed's network."""
        return [self.layers[0].fan_in] + [layer.fan_out for layer in self.layers]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n  {inner},\n])"


def mlp(sizes: Sequence[int], activation: str | Sequence[str] = "linear",
        output_activation: str = "linear", init: Any = "xavier", bias_init: Any = "zeros",
        seed: int | np.random.Generator | None = None, dtype: Any = np.float64) -> Sequential:
    """A multilayer perceptron with ``sizes = [inputs, hidden..., outputs]``.

    ``activation`` is one name for every hidden layer or one per hidden layer; the output
    layer uses ``output_activation``.  ``init`` is one initialiser for every layer or a
    list with one per layer.  One generator made from ``seed`` draws every layer's
    weights in order, so the same seed gives the same network.
    """
    sizes = [_positive_int(n, "every layer size") for n in sizes]
    if len(sizes) < 2:
        raise ConfigError("an MLP needs at least an input size and an output size")
    hidden = len(sizes) - 2
    acts = [activation] * hidden if isinstance(activation, str) else list(activation)
    if len(acts) == 1 and hidden > 1:
        acts = acts * hidden
    if len(acts) != hidden:
        raise ConfigError(
            f"got {len(acts)} activations for {hidden} hidden layer(s); give one, or one per "
            "hidden layer"
        )
    inits = list(init) if isinstance(init, (list, tuple)) else [init] * (hidden + 1)
    if len(inits) != hidden + 1:
        raise ConfigError(f"got {len(inits)} initialisers for {hidden + 1} layers; give one, or "
                          "one per layer")
    rng = make_rng(seed)
    return Sequential(
        Dense(n_in, n_out, activation=act, init=ini, bias_init=bias_init, seed=rng, dtype=dtype)
        for n_in, n_out, act, ini in zip(sizes[:-1], sizes[1:], [*acts, output_activation], inits)
    )


def seed_network(dtype: Any = np.float64) -> Sequential:
    """The seed document's network: 2 inputs, 2 linear hidden neurons, 1 output; w = 1, b = 0."""
    return mlp([2, 2, 1], activation="linear", init="ones", dtype=dtype)
