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
takes ``out = tanh(z)``), so the graph engine and a fused loop can share them; gelu's
is written from ``z`` (its output does not determine ``z``).
"""

from __future__ import annotations

import math
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
    # how tests draw inputs: elementwise | reduce | shape | matmul | last_axis (one input;
    # the entries along its last axis are coupled, as in softmax)
    kind: str = "elementwise"
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
# Five NumPy operations under names of their own.  The functions below use them where
# numba, which compiles these same functions for the fused loop (``fastkernel``),
# lacks the NumPy form or runs it slowly: np.where and astype on single numbers, max
# and sum over the last axis.  ``fastkernel`` gives numba an implementation of each.


def _select(cond: Any, a: Any, b: Any) -> Array:
    """np.where(cond, a, b): a where cond holds, else b."""
    return np.where(cond, a, b)


def _cast(x: Any, like: Array) -> Array:
    """x in the dtype of ``like``."""
    return x.astype(like.dtype)


def _last_axis_max(z: Array) -> Array:
    """max_j z_j over the last axis, kept as an axis of size 1."""
    return np.maximum.reduce(z, axis=-1, keepdims=True)  # np.max, without its wrapper


def _last_axis_sum(z: Array) -> Array:
    """Σ_j z_j over the last axis, kept as an axis of size 1."""
    return np.add.reduce(z, axis=-1, keepdims=True)  # np.sum, without its wrapper


def _last_axis_total(z: Array) -> Array:
    """Σ_j z_j over the last axis, the axis dropped (one number per row)."""
    return np.add.reduce(z, axis=-1)


# --------------------------------------------------------------------------------
# Activation functions and their derivatives from the output (shared with fastpath).


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^−z), computed without overflow for large |z|."""
    e = np.exp(-np.abs(z))
    return _select(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(out: Array) -> Array:
    """dσ/dz = σ(z)(1 − σ(z)), from out = σ(z)."""
    return out * (1.0 - out)


def tanh_grad(out: Array) -> Array:
    """d tanh(z)/dz = 1 − tanh²(z), from out = tanh(z)."""
    return 1.0 - out * out


# tanh x = x (1 + c_2 x² + c_3 x⁴ + …): the Taylor coefficients of tanh,
# c_n = 2^2n (2^2n − 1) B_2n / (2n)! (B: Bernoulli numbers), n = 2 … 12 (tests recompute them)
TANH_TAYLOR = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
               -929569 / 638512875, 6404582 / 10854718875, -443861162 / 1856156927625,
               18888466084 / 194896477400625, -113927491862 / 2900518163668125)
TANH_SMALL = 0.25  # below it the series (the first term left out is < 1e-19 of it); above, the exp


def tanh_number(x: float) -> float:
    """tanh(x) for one number, as the fused loop computes it (tanh's fused form): numba's
    ``np.tanh`` of a number calls the C library's tanh, the slowest step of a tanh
    network's loop (~15–19 ns); this takes one exp (~4 ns).

    tanh |x| = (1 − e)/(1 + e) with e = e^(−2|x|), which keeps 1 − e ≥ 0.39 for |x| ≥ 0.25
    (little cancellation); below 0.25, the Taylor series.  In float64 (float32 comes in as
    float64), within 2 units in the last place of the exact value (tested against mpmath;
    measured the same way, the C library's tanh is within 2, NumPy's, which the graph
    engine runs, within 1).  The same function as ``np.tanh``, computed another way, as each
    math library does: not a second rule.
    """
    x = np.float64(x)
    a = abs(x)
    if a < TANH_SMALL:
        x2 = x * x
        p = TANH_TAYLOR[-1]
        for c in TANH_TAYLOR[-2::-1]:
            p = p * x2 + c
        return x * (1.0 + x2 * p)  # x · (…) keeps the sign of −0.0
    e = np.exp(-2.0 * a)
    return math.copysign((1.0 - e) / (1.0 + e), x)  # ±1 for ±∞; NaN keeps its sign


def relu(z: Array) -> Array:
    """relu(z) = max(z, 0)."""
    return np.maximum(z, 0.0)


def relu_grad(out: Array) -> Array:
    """d relu(z)/dz = 1 where z > 0, else 0 (from out = relu(z))."""
    return _cast(out > 0, out)


def leaky_relu(z: Array, slope: float = 0.01) -> Array:
    """leaky_relu(z) = z if z > 0 else slope · z  (slope ≥ 0)."""
    return _select(z > 0, z, slope * z)


def leaky_relu_grad(out: Array, slope: float = 0.01) -> Array:
    """1 where z > 0, else slope (from out, which has the sign of z)."""
    return _cast(_select(out > 0, 1.0, slope), out)


def elu(z: Array, alpha: float = 1.0) -> Array:
    """elu(z) = z if z > 0 else α(e^z − 1)  (no overflow: e^z only where z ≤ 0)."""
    return _select(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def elu_grad(out: Array, alpha: float = 1.0) -> Array:
    """1 where z > 0, else α e^z = out + α (from out = elu(z))."""
    return _cast(_select(out > 0, 1.0, out + alpha), out)


def softplus(z: Array) -> Array:
    """softplus(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^−|z|), finite for any z."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_grad(out: Array) -> Array:
    """d softplus/dz = σ(z) = 1 − e^−out (from out = softplus(z))."""
    return -np.expm1(-out)


_GELU_C = float(np.sqrt(2.0 / np.pi))
_GELU_A = 0.044715


def gelu(z: Array) -> Array:
    """gelu(z) ≈ ½ z (1 + tanh(√(2/π) (z + 0.044715 z³)))  (the tanh approximation)."""
    return 0.5 * z * (1.0 + np.tanh(_GELU_C * (z + _GELU_A * z * z * z)))


def gelu_grad(z: Array) -> Array:
    """d gelu/dz = ½(1 + t) + ½ z (1 − t²) √(2/π)(1 + 3·0.044715 z²), t = tanh(√(2/π)(z + 0.044715 z³)).

    Written from z, not from the output: gelu is not one-to-one, so its output
    does not determine z.
    """
    t = np.tanh(_GELU_C * (z + _GELU_A * z * z * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_A * z * z)


def softmax_parts(z: Array) -> tuple[Array, Array, Array]:
    """(m, e, Σ_j e_j) over the last axis, m = max_j z_j and e = e^(z − m) (each ≤ 1, so
    nothing overflows): softmax is e / Σe and log softmax (z − m) − ln Σe."""
    m = _last_axis_max(z)
    e = np.exp(z - m)
    return m, e, _last_axis_sum(e)


def softmax(z: Array) -> Array:
    """softmax(z)_i = e^(z_i − m) / Σ_j e^(z_j − m) over the last axis, m = max_j z_j."""
    _, e, total = softmax_parts(z)
    return e / total


def log_softmax(z: Array) -> Array:
    """log softmax(z)_i = (z_i − m) − ln Σ_j e^(z_j − m) over the last axis, m = max_j z_j."""
    m, _, total = softmax_parts(z)
    return z - m - np.log(total)


def huber(r: Array, delta: float = 1.0) -> Array:
    """huber(r) = ½ r² if |r| ≤ δ else δ(|r| − ½δ)  (quadratic near 0, linear beyond δ)."""
    a = np.abs(r)
    return _select(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def huber_grad(r: Array, delta: float = 1.0) -> Array:
    """d huber/dr = clip(r, −δ, δ) = min(max(r, −δ), δ)."""
    return np.minimum(np.maximum(r, -delta), delta)


# --------------------------------------------------------------------------------
# Helpers for rules that are more than one expression.


def _expand_reduced(g: Array, shape: tuple[int, ...], axis: Any, keepdims: bool) -> Array:
    """Give a reduced gradient back the reduced axes (size 1) and spread it over ``shape``
    (a fresh array: the sum's ∂L/∂a has each reduced entry's ∂L/∂out)."""
    if axis is not None and not keepdims:  # (axis None: g is one number, it spreads as is)
        axes = {a % len(shape) for a in ((axis,) if np.isscalar(axis) else axis)}
        g = np.reshape(g, tuple(1 if i in axes else n for i, n in enumerate(shape)))
    spread = np.empty(shape, dtype=np.asarray(g).dtype)
    spread[...] = g
    return spread


def _mean(a: Array, axis: Any = None, keepdims: bool = False) -> Array:
    """The mean over ``axis``: the sum divided by the count (what np.mean computes, with
    less overhead per call)."""
    return np.add.reduce(a, axis=axis, keepdims=keepdims) / _count(a.shape, axis)


def _mean_grad(g: Array, out: Array, a: Array, axis: Any = None, keepdims: bool = False) -> Array:
    """∂L/∂a = ∂L/∂out / N, spread over the N entries each mean was taken of."""
    spread = _expand_reduced(g, a.shape, axis, keepdims)
    spread /= _count(a.shape, axis)
    return spread


def _count(shape: tuple[int, ...], axis: Any) -> int:
    """How many entries a reduction over ``axis`` takes together."""
    if axis is None:
        return math.prod(shape)
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    if any(not -len(shape) <= a < len(shape) for a in axes):
        raise ValueError(f"axis {axis} is out of bounds for an array of {len(shape)} dimension(s)")
    return math.prod(shape[a] for a in axes)


def _swap(x: Array) -> Array:
    """x with its last two axes swapped (xᵀ for a matrix)."""
    return x.T if x.ndim == 2 else np.swapaxes(x, -1, -2)


def _matmul_grad_a(g: Array, out: Array, a: Array, b: Array) -> Array:
    if b.ndim == 1:  # out[...] = Σ_n a[..., n] b[n]
        return g[..., None] * b
    if a.ndim == 1:  # out[..., m] = Σ_n a[n] b[..., n, m]
        return (g[..., None, :] @ _swap(b))[..., 0, :]
    return g @ _swap(b)


def _matmul_grad_b(g: Array, out: Array, a: Array, b: Array) -> Array:
    if a.ndim == 1 and b.ndim == 1:
        return g * a
    if b.ndim == 1:
        return (_swap(a) @ g[..., None])[..., 0]
    if a.ndim == 1:
        return a[:, None] * g[..., None, :]
    return _swap(a) @ g


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
    "sum", lambda a, axis=None, keepdims=False: np.add.reduce(a, axis=axis, keepdims=keepdims),
    rules=(lambda g, out, a, axis=None, keepdims=False:
           _expand_reduced(g, a.shape, axis, keepdims),),
    local=("1",), expr="Σ a", args=("a",), kind="reduce", domain=("real",),
)

MEAN = Primitive(
    "mean", _mean,
    rules=(_mean_grad,),
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

LEAKY_RELU = Primitive(
    "leaky_relu", leaky_relu,
    rules=(lambda g, out, z, slope=0.01: g * leaky_relu_grad(out, slope),),
    local=("1 if z > 0 else slope",), expr="z if z > 0 else slope · z", args=("z",),
    domain=("kink",), test_params=({"slope": 0.01}, {"slope": 0.2}),
)

ELU = Primitive(
    "elu", elu,
    rules=(lambda g, out, z, alpha=1.0: g * elu_grad(out, alpha),),
    local=("1 if z > 0 else α e^z",), expr="z if z > 0 else α(e^z − 1)", args=("z",),
    domain=("kink",), test_params=({"alpha": 1.0}, {"alpha": 0.5}),
)

SOFTPLUS = Primitive(
    "softplus", softplus,
    rules=(lambda g, out, z: g * softplus_grad(out),),
    local=("σ(z)",), expr="ln(1 + e^z)", args=("z",), domain=("real",),
)

GELU = Primitive(
    "gelu", gelu,
    rules=(lambda g, out, z: g * gelu_grad(z),),
    local=("½(1 + t) + ½ z (1 − t²) √(2/π)(1 + 0.134145 z²), t = tanh(√(2/π)(z + 0.044715 z³))",),
    expr="½ z (1 + tanh(√(2/π)(z + 0.044715 z³)))", args=("z",), domain=("real",),
)

# softmax and log_softmax couple the entries of each row (the last axis), so their
# rules are Jacobian-vector products, not products with an elementwise derivative.
# kind "last_axis": one input of any shape with at least one axis; no broadcasting.
SOFTMAX = Primitive(
    "softmax", softmax,
    rules=(lambda g, out, z: out * (g - np.sum(g * out, axis=-1, keepdims=True)),),
    local=("p_i (δ_ij − p_j)",), expr="p_i = e^z_i / Σ_j e^z_j", args=("z",),
    kind="last_axis", domain=("real",),
    chain=("∂L/∂z_i = p_i (∂L/∂p_i − Σ_j ∂L/∂p_j · p_j)",),
)

LOG_SOFTMAX = Primitive(
    "log_softmax", log_softmax,
    rules=(lambda g, out, z: g - np.exp(out) * np.sum(g, axis=-1, keepdims=True),),
    local=("δ_ij − p_j",), expr="z_i − ln Σ_j e^z_j", args=("z",),
    kind="last_axis", domain=("real",),
    chain=("∂L/∂z_j = ∂L/∂out_j − p_j Σ_i ∂L/∂out_i,  p = softmax(z)",),
)

HUBER = Primitive(
    "huber", huber,
    rules=(lambda g, out, r, delta=1.0: g * huber_grad(r, delta),),
    local=("clip(r, −δ, δ)",), expr="½ r² if |r| ≤ δ else δ(|r| − ½δ)", args=("r",),
    domain=("real",), test_params=({"delta": 1.0}, {"delta": 0.5}),
)

ALL: tuple[Primitive, ...] = (
    ADD, MUL, NEG, DIV, POW, MATMUL, SUM, MEAN, RESHAPE, TRANSPOSE,
    EXP, LOG, ABS, TANH, SIGMOID, RELU,
    LEAKY_RELU, ELU, SOFTPLUS, GELU, SOFTMAX, LOG_SOFTMAX, HUBER,
)

BY_NAME: dict[str, Primitive] = {p.name: p for p in ALL}
