"""Activations: each neuron's ``O = f(z)`` and its derivative written from ``O``.

The derivative is a function of the activation's output (``tanh_grad(O) = 1 − O²``), so
the graph engine, ``explain`` and the fused loop all use the same function from
``ops``.  gelu is the exception: its derivative is written from ``z``
(``grad_from == "z"``).  The non-linear ones are primitives of ``ops``; ``linear`` is the
identity and adds no node to the graph.  ``softmax`` (for the output layer) couples the
neurons of a layer, so it has no elementwise derivative (``elementwise`` is False).

Two take one number, written after a colon: ``leaky_relu:0.2`` (slope, default 0.01)
and ``elu:0.5`` (α, default 1).

**Fused forms.**  Each entry also carries what the fast path's compiled loop calls for
one neuron (``Fused``): ``forward(z, p)`` = f(z) and ``slope(a, z, p)`` = f'(z) from its
output a (or from z), on one number, p the activation's number.  They call the same
``ops`` functions as the graph engine (numba compiles them as written; tanh's forward is
``ops.tanh_number``, the same function computed with one exp).  The compiled epoch calls
them by the activation's name; an entry whose ``fused`` is None is declined with its
``declined`` reason (softmax), and the graph engine trains it.

**Adding an activation** is two entries and nothing else.  Write its primitive in
``ops`` (the forward, the derivative from the output — or from z, as gelu's — and the
words ``explain`` prints); then add its line to ``ACTIVATIONS`` here with its fused form
beside it, ``Fused(lambda z, p: ops.f(z), lambda a, z, p: ops.f_grad(a))`` (or
``fused=None, declined="why"`` if it couples neurons).  The gradient test runs over
``ops.ALL``, the activations' tests and the fast path's parity tests (every fusable
activation × loss × optimiser, both engines, equal weights) over this table, and the
compiled loop's source names the new entry: no list elsewhere to extend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import numpy as np

from .. import ops
from ..errors import ConfigError
from ..spec import format_spec, parse_spec
from ..tensor import Tensor, apply


def _identity(z: np.ndarray) -> np.ndarray:
    return z


def _one(out: np.ndarray) -> np.ndarray:
    return np.ones_like(out)


@dataclass(frozen=True)
class Fused:
    """An activation's fused form, on one number (the compiled loop's neuron):
    ``forward(z, p)`` = f(z) and ``slope(a, z, p)`` = f'(z), written from the output
    a = f(z) (or from z, for gelu); p is the activation's number (0 when it takes none)."""

    forward: Callable[[float, float], float]
    slope: Callable[[float, float, float], float]


@dataclass(frozen=True)
class Activation:
    """``O = f(z)`` for a layer's neurons, with ``f'(z)`` computed from ``O`` (or ``z``).

    ``grad`` takes what ``grad_from`` names: ``"out"`` (the output O, the usual case) or
    ``"z"`` (gelu).  ``params`` holds the activation's number (``{"slope": 0.2}``); ``fn``
    and ``grad`` have it bound already, as ``functools.partial`` of the ``ops`` functions
    (``.func`` and ``.keywords`` give them unbound).  ``grad`` is None for softmax.
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray] = field(compare=False)
    grad: Callable[[np.ndarray], np.ndarray] | None = field(compare=False)
    expr: str  # f(z) written out, e.g. "tanh(z)"
    derivative: str  # f'(z) written out, from the primitive table
    primitive: ops.Primitive | None = None
    grad_from: str = "out"  # "out" | "z": what `grad` takes
    params: dict[str, float] = field(default_factory=dict, hash=False)
    fused: Fused | None = field(default=None, compare=False)  # None: the graph engine's only
    declined: str = ""  # why it has no fused form

    def __call__(self, z: Tensor) -> Tensor:
        return z if self.primitive is None else apply(self.primitive, z, **self.params)

    @property
    def elementwise(self) -> bool:
        """True when each O_j depends on z_j alone (all but softmax)."""
        return self.primitive is None or self.primitive.kind == "elementwise"

    @property
    def spec(self) -> str:
        """The name ``get_activation`` reads back, with the number: ``"leaky_relu:0.2"``."""
        return format_spec(self.name, next(iter(self.params.values()), None))

    def __reduce__(self) -> tuple:
        """Pickle (and copy) an activation as its spec, so models can cross processes
        (joblib, scikit-learn's pickling); the table's functions are looked up again."""
        return get_activation, (self.spec,)


def _from_primitive(name: str, prim: ops.Primitive, grad: Callable | None,
                    fused: Fused | None, grad_from: str = "out", declined: str = "",
                    **params: float) -> Activation:
    fn = partial(prim.forward, **params) if params else prim.forward
    if grad is not None and params:
        grad = partial(grad, **params)
    return Activation(name, fn, grad, prim.expr, prim.local[0], prim, grad_from, params,
                      fused, declined)


# the activations that take one number: name -> (its name, default, primitive, derivative,
# fused form)
_PARAMETERISED: dict[str, tuple[str, float, ops.Primitive, Callable, Fused]] = {
    "leaky_relu": ("slope", 0.01, ops.LEAKY_RELU, ops.leaky_relu_grad,
                   Fused(lambda z, p: ops.leaky_relu(z, p),
                         lambda a, z, p: ops.leaky_relu_grad(a, p))),
    "elu": ("alpha", 1.0, ops.ELU, ops.elu_grad,
            Fused(lambda z, p: ops.elu(z, p), lambda a, z, p: ops.elu_grad(a, p))),
}


def _with_number(name: str, value: float) -> Activation:
    param, _, prim, grad, fused = _PARAMETERISED[name]
    if not np.isfinite(value) or value < 0:
        raise ConfigError(f"{name}'s {param} must be a number ≥ 0, got {value!r}")
    return _from_primitive(name, prim, grad, fused, **{param: float(value)})


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", _identity, _one, "z", "1",
                         fused=Fused(lambda z, p: z, lambda a, z, p: ops._cast(1.0, a))),
    "sigmoid": _from_primitive("sigmoid", ops.SIGMOID, ops.sigmoid_grad, Fused(
        lambda z, p: ops.sigmoid(z), lambda a, z, p: ops.sigmoid_grad(a))),
    "tanh": _from_primitive("tanh", ops.TANH, ops.tanh_grad, Fused(
        lambda z, p: ops.tanh_number(z), lambda a, z, p: ops.tanh_grad(a))),
    "relu": _from_primitive("relu", ops.RELU, ops.relu_grad, Fused(
        lambda z, p: ops.relu(z), lambda a, z, p: ops.relu_grad(a))),
    **{name: _with_number(name, entry[1]) for name, entry in _PARAMETERISED.items()},
    "softplus": _from_primitive("softplus", ops.SOFTPLUS, ops.softplus_grad, Fused(
        lambda z, p: ops.softplus(z), lambda a, z, p: ops.softplus_grad(a))),
    "gelu": _from_primitive("gelu", ops.GELU, ops.gelu_grad, Fused(
        lambda z, p: ops.gelu(z), lambda a, z, p: ops.gelu_grad(z)), grad_from="z"),
    "softmax": _from_primitive(
        "softmax", ops.SOFTMAX, None, None,
        declined="softmax couples a layer's neurons (each output depends on every z of the "
                 "layer), so it has no form for one neuron; for classes, give the output "
                 "layer a linear activation and train with cross_entropy"),
}
_ALIASES = {"identity": "linear", "logistic": "sigmoid", "leakyrelu": "leaky_relu"}


def get_activation(name: str | Activation) -> Activation:
    """An activation by name: ``linear``, ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``,
    ``elu``, ``softplus``, ``gelu``, ``softmax``; ``leaky_relu:0.2`` sets the slope and
    ``elu:0.5`` sets α."""
    if isinstance(name, Activation):
        return name
    key, value = parse_spec(name, "activation")
    key = _ALIASES.get(key, key)
    if key not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}"
        )
    if value is None:
        return ACTIVATIONS[key]
    if key not in _PARAMETERISED:
        raise ConfigError(
            f"the activation {key!r} takes no number; only {' and '.join(_PARAMETERISED)} "
            f"do (e.g. leaky_relu:0.2)"
        )
    return _with_number(key, value)
