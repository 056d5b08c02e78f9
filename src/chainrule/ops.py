"""The table of primitives: the only operations the engine differentiates.

Each primitive is one entry holding

* ``forward(*arrays, **params)``: the NumPy computation;
* ``rules``: one vector-Jacobian rule per input, ``rule(g, out, *inputs, **params)``,
  returning ``∂L/∂input`` given ``g = ∂L/∂out``.  A rule may return an array of the
  broadcast shape: the engine sums it back to the input's shape (broadcasting is
  undone once, in ``tensor.backward``, never here);
* ``local``: the local derivative ``∂out/∂input`` as text, one per input; the chain
  rule ``∂L/∂input = ∂L/∂out · local`` is what ``explain`` prints.

Everything else (subtraction, softmax, the losses) is composed from these entries, so
a new primitive is one entry here and nothing else: the gradient test runs over
``ALL``.

Activation derivatives are written from the activation's *output* (``tanh_grad``
takes ``out = tanh(z)``), so the graph engine and a fused loop can share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Primitive:
    """One differentiable operation: forward, one VJP rule per input, and its words."""

    name: str
    forward: Callable[..., Array]
    rules: tuple[Callable[..., Array], ...]
    local: tuple[str, ...]
    expr: str
    args: tuple[str, ...] = ("a", "b")
    kind: str = "elementwise"  # how tests draw inputs: elementwise | reduce | shape | matmul
    domain: tuple[str, ...] = ("real", "real")  # real | positive | nonzero | kink (avoid 0)
    test_params: tuple[dict[str, Any], ...] = field(default=({},))
    chain: tuple[str, ...] = ()  # the chain rule as text, where the product isn't `g · local`

    @property
    def arity(self) -> int:
        return len(self.rules)

    @property
    def formula(self) -> tuple[str, ...]:
        """The chain rule for each input, e.g. ``∂L/∂a = ∂L/∂out · b``."""
        if self.chain:
            return self.chain
        return tuple(
            f"∂L/∂{arg} = ∂L/∂out · {loc}" for arg, loc in zip(self.args, self.local)
        )

    def __repr__(self) -> str:
        return f"<primitive {self.name}: out = {self.expr}>"


# --------------------------------------------------------------------------------
# Activation functions and their derivatives from the output (shared with fastpath).


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^−z), computed without overflow for large |z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(out: Array) -> Array:
    """dσ/dz = σ(z)(1 − σ(z)), from out = σ(z)."""
    return out * (1.0 - out)


def tanh_grad(out: Array) -> Array:
    """d tanh(z)/dz = 1 − tanh²(z), from out = tanh(z)."""
    return 1.0 - out * out


def relu(z: Array) -> Array:
    """relu(z) = max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_grad(out: Array) -> Array:
    """d relu(z)/dz = 1 where z > 0, else 0 (from out = relu(z))."""
    return (out > 0).astype(out.dtype)


# --------------------------------------------------------------------------------
# Helpers for rules that are more than one expression.


def _expand_reduced(g: Array, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Array:
    """Give a reduced gradient back the reduced axes (size 1) and broadcast to ``shape``."""
    if axis is not None and not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        g = np.expand_dims(g, tuple(a % len(shape) for a in axes))
    elif axis is None and not keepdims:
        g = np.reshape(g, (1,) * len(shape))
    return np.broadcast_to(g, shape)


def _count(shape: tuple[int, ...], axis: Any) -> int:
    if axis is None:
        return int(np.prod(shape, dtype=np.int64))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def _matmul_grad_a(g: Array, out: Array, a: Array, b: Array) -> Array:
    if b.ndim == 1:  # out[...] = Σ_n a[..., n] b[n]
        return g[..., None] * b
    if a.ndim == 1:  # out[..., m] = Σ_n a[n] b[..., n, m]
        return (g[..., None, :] @ np.swapaxes(b, -1, -2))[..., 0, :]
    return g @ np.swapaxes(b, -1, -2)


def _matmul_grad_b(g: Array, out: Array, a: Array, b: Array) -> Array:
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if b.ndim == 1:
        return (np.swapaxes(a, -1, -2) @ g[..., None])[..., 0]
    if a.ndim == 1:
        return a[:, None] * g[..., None, :]
    return np.swapaxes(a, -1, -2) @ g


def _inverse_axes(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(ndim)))
    return tuple(np.argsort(axes))


# --------------------------------------------------------------------------------
# The table.

ADD = Primitive(
    "add", np.add,
    rules=(lambda g, out, a, b: g, lambda g, out, a, b: g),
    local=("1", "1"), expr="a + b",
)

MUL = Primitive(
    "mul", np.multiply,
    rules=(lambda g, out, a, b: g * b, lambda g, out, a, b: g * a),
    local=("b", "a"), expr="a · b",
)

NEG = Primitive(
    "neg", np.negative,
    rules=(lambda g, out, a: -g,),
    local=("−1",), expr="−a", args=("a",), domain=("real",),
)

DIV = Primitive(
    "div", np.divide,
    rules=(lambda g, out, a, b: g / b, lambda g, out, a, b: -g * out / b),
    local=("1/b", "−a/b²"), expr="a / b", domain=("real", "nonzero"),
)

POW = Primitive(
    "pow", lambda a, p: np.power(a, p),
    rules=(lambda g, out, a, p: g * p * np.power(a, p - 1),),
    local=("p · a^(p−1)",), expr="a^p", args=("a",), domain=("positive",),
    test_params=({"p": 2.0}, {"p": 3.0}, {"p": 0.5}, {"p": -1.0}),
)

MATMUL = Primitive(
    "matmul", np.matmul,
    rules=(_matmul_grad_a, _matmul_grad_b),
    local=("bᵀ", "aᵀ"), expr="a @ b", kind="matmul",
    chain=("∂L/∂a = ∂L/∂out @ bᵀ", "∂L/∂b = aᵀ @ ∂L/∂out"),
)

SUM = Primitive(
    "sum", lambda a, axis=None, keepdims=False: np.sum(a, axis=axis, keepdims=keepdims),
    rules=(lambda g, out, a, axis=None, keepdims=False:
           _expand_reduced(g, a.shape, axis, keepdims),),
    local=("1",), expr="Σ a", args=("a",), kind="reduce", domain=("real",),
)

MEAN = Primitive(
    "mean", lambda a, axis=None, keepdims=False: np.mean(a, axis=axis, keepdims=keepdims),
    rules=(lambda g, out, a, axis=None, keepdims=False:
           _expand_reduced(g, a.shape, axis, keepdims) / _count(a.shape, axis),),
    local=("1/N",), expr="(1/N) Σ a", args=("a",), kind="reduce", domain=("real",),
)

RESHAPE = Primitive(
    "reshape", lambda a, shape: np.reshape(a, shape),
    rules=(lambda g, out, a, shape: np.reshape(g, a.shape),),
    local=("1 (same numbers, new shape)",), expr="reshape(a)", args=("a",), kind="shape",
    domain=("real",),
)

TRANSPOSE = Primitive(
    "transpose", lambda a, axes=None: np.transpose(a, axes),
    rules=(lambda g, out, a, axes=None: np.transpose(g, _inverse_axes(axes, a.ndim)),),
    local=("1 (same numbers, axes swapped back)",), expr="aᵀ", args=("a",), kind="shape",
    domain=("real",),
)

EXP = Primitive(
    "exp", np.exp,
    rules=(lambda g, out, a: g * out,),
    local=("e^a",), expr="e^a", args=("a",), domain=("real",),
)

LOG = Primitive(
    "log", np.log,
    rules=(lambda g, out, a: g / a,),
    local=("1/a",), expr="ln a", args=("a",), domain=("positive",),
)

ABS = Primitive(
    "abs", np.abs,
    rules=(lambda g, out, a: g * np.sign(a),),
    local=("sign(a)",), expr="|a|", args=("a",), domain=("kink",),
)

TANH = Primitive(
    "tanh", np.tanh,
    rules=(lambda g, out, z: g * tanh_grad(out),),
    local=("1 − tanh²(z)",), expr="tanh(z)", args=("z",), domain=("real",),
)

SIGMOID = Primitive(
    "sigmoid", sigmoid,
    rules=(lambda g, out, z: g * sigmoid_grad(out),),
    local=("σ(z)(1 − σ(z))",), expr="σ(z)", args=("z",), domain=("real",),
)

RELU = Primitive(
    "relu", relu,
    rules=(lambda g, out, z: g * relu_grad(out),),
    local=("1 if z > 0 else 0",), expr="max(z, 0)", args=("z",), domain=("kink",),
)

ALL: tuple[Primitive, ...] = (
    ADD, MUL, NEG, DIV, POW, MATMUL, SUM, MEAN, RESHAPE, TRANSPOSE,
    EXP, LOG, ABS, TANH, SIGMOID, RELU,
)

BY_NAME: dict[str, Primitive] = {p.name: p for p in ALL}
