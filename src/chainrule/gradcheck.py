"""Checking the engine's gradients against central finite differences (float64).

``gradcheck(f, *inputs)`` compares every entry of ``∂f/∂input`` from ``backward`` with
``(f(x + ε) − f(x − ε)) / 2ε`` and reports the largest relative error.

``check_vjp(prim, *inputs)`` checks one primitive with one backward pass, the way HIPS
autograd does: for random directions ``v`` (inputs) and ``u`` (output),
``⟨u, J v⟩`` from finite differences must equal ``⟨Jᵀu, v⟩`` from the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import ops
from .errors import ShapeError
from .tensor import Tensor, apply, no_grad


def relative_error(a: Any, b: Any) -> float:
    """max |a − b| / max(|a|, |b|, 1): relative for large values, absolute below 1."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1.0)
    return float(np.max(np.abs(a - b) / scale))


@dataclass
class GradcheckResult:
    """The engine's gradients, the finite-difference ones, and how far apart they are."""

    analytic: list[np.ndarray]
    numeric: list[np.ndarray]
    max_rel_error: float
    tol: float

    @property
    def ok(self) -> bool:
        return self.max_rel_error <= self.tol

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return f"GradcheckResult({verdict}: max relative error {self.max_rel_error:.3g}, tol {self.tol:g})"


def gradcheck(f: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6,
              tol: float = 1e-6) -> GradcheckResult:
    """Compare ``backward`` with central differences for a scalar function of tensors.

    ``inputs`` are arrays or tensors; each is copied to float64 and differentiated.
    """
    ts = [Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
                 requires_grad=True) for x in inputs]
    out = f(*ts)
    if not isinstance(out, Tensor) or out.size != 1:
        raise ShapeError("gradcheck needs a function that returns a tensor holding one number")
    out.backward()
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in ts]
    numeric = []
    with no_grad():
        for t in ts:
            num = np.zeros_like(t.data)
            flat, nflat = t.data.reshape(-1), num.reshape(-1)
            for k in range(flat.size):
                keep = flat[k]
                flat[k] = keep + eps
                up = float(f(*ts).data)
                flat[k] = keep - eps
                down = float(f(*ts).data)
                flat[k] = keep
                nflat[k] = (up - down) / (2 * eps)
            numeric.append(num)
    worst = max((relative_error(a, n) for a, n in zip(analytic, numeric)), default=0.0)
    return GradcheckResult(analytic, numeric, worst, tol)


def check_vjp(prim: ops.Primitive, *inputs: np.ndarray, rng: np.random.Generator,
              eps: float = 1e-6, **params: Any) -> tuple[float, float]:
    """``(⟨u, J v⟩ by finite differences, ⟨Jᵀu, v⟩ by the engine)`` for one primitive.

    The engine side goes through ``Tensor.backward``, so undoing broadcasting is
    checked along with the rules.
    """
    xs = [np.asarray(x, dtype=np.float64) for x in inputs]
    vs = [rng.standard_normal(x.shape) for x in xs]
    out = prim.forward(*xs, **params)
    u = rng.standard_normal(np.shape(out))
    plus = prim.forward(*[x + eps * v for x, v in zip(xs, vs)], **params)
    minus = prim.forward(*[x - eps * v for x, v in zip(xs, vs)], **params)
    numeric = float(np.sum(u * (plus - minus)) / (2 * eps))
    ts = [Tensor(x, requires_grad=True) for x in xs]
    apply(prim, *ts, **params).backward(u)
    for t in ts:
        if t.grad is None or t.grad.shape != t.shape:
            got = None if t.grad is None else t.grad.shape
            raise ShapeError(f"{prim.name}: gradient of shape {got} for an input of shape {t.shape}")
    analytic = float(sum(np.sum(t.grad * v) for t, v in zip(ts, vs)))
    return numeric, analytic
