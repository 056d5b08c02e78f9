"""Each loss in words: ``L`` for one row and ``∂L/∂ŷ_j``, symbolically and with numbers.

The values come from the engine (so any loss is right); this table only says how a
person writes them.  Per-element losses (MSE, MAE, Huber) average over the row's m
outputs, so their derivative carries ``/m`` when m > 1.  The losses on logits work on
the output layer's ``z``: binary cross-entropy with ``p = σ(z)`` gives ``∂L/∂z = p − y``,
and softmax with cross-entropy gives ``∂L/∂z_j = p_j − y_j`` — the fused form.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..losses import Loss
from .pieces import Equation, Factor, Names, d, num, par



def _per_element(loss: Loss, y: str, p: str, yv: float, pv: float) -> tuple[str, str] | None:
    """(∂ℓ/∂ŷ as symbols, the same with numbers) for one output of a per-element loss."""
    if loss.name == "mse":
        return f"−2({y} − {p})", f"−2({num(yv)} − {par(pv)})"
    if loss.name == "mae":
        return f"−sign({y} − {p})", f"−sign({num(yv)} − {par(pv)})"
    if loss.name == "huber":
        delta = num(loss.params.get("delta", 1.0))
        return f"clip({p} − {y}, −{delta}, {delta})", f"clip({num(pv)} − {par(yv)}, −{delta}, {delta})"
    return None


def loss_equations(loss: Loss, y: np.ndarray, out: np.ndarray, value: float,
                   names: Names) -> list[Equation]:
    """The equations from the outputs to ``L`` for one row (probabilities first, if any)."""
    m, K = len(y), names.K
    if loss.name == "cross_entropy":
        p = ops.softmax(out)
        z = [names.O(K, j) for j in range(1, m + 1)]
        denominator = " + ".join(f"exp({z_})" for z_ in z)
        numbers = " + ".join(f"exp({num(v)})" for v in out)
        eqs = [Equation(f"p_{j}", [f"exp({z[j - 1]}) / ({denominator})",
                                   f"exp({num(out[j - 1])}) / ({numbers})", num(p[j - 1])],
                        float(p[j - 1]), note="softmax" if j == 1 else None)
               for j in range(1, m + 1)]
        c = int(np.argmax(y)) + 1
        eqs.append(Equation("L", ["−Σ_k y_k ln p_k", f"−ln p_{c}", f"−ln {par(p[c - 1])}", num(value)],
                            value, note=f"y is one-hot: class {c}"))
        return eqs
    if loss.name == "bce":
        p = float(ops.sigmoid(out[0]))
        return [Equation("p", [f"σ({names.O(K, 1)})", f"σ({num(out[0])})", num(p)], p),
                Equation("L", ["−[y ln p + (1 − y) ln(1 − p)]",
                               f"−[{num(y[0])}·ln {par(p)} + {num(1 - y[0])}·ln {par(1 - p)}]",
                               num(value)], value)]
    if loss.name == "mse":
        if m == 1:
            return [Equation("L", ["(y − ŷ)²", f"({num(y[0])} − {par(out[0])})²", num(value)], value)]
        terms = " + ".join(f"({num(a)} − {par(b)})²" for a, b in zip(y, out))
        return [Equation("L", [f"(1/{m}) Σ_j (y_j − ŷ_j)²", f"({terms})/{m}", num(value)], value)]
    if loss.name == "mae":
        if m == 1:
            return [Equation("L", ["|y − ŷ|", f"|{num(y[0])} − {par(out[0])}|", num(value)], value)]
        terms = " + ".join(f"|{num(a)} − {par(b)}|" for a, b in zip(y, out))
        return [Equation("L", [f"(1/{m}) Σ_j |y_j − ŷ_j|", f"({terms})/{m}", num(value)], value)]
    rhs = loss.formula.split("=", 1)[-1].strip()
    return [Equation("L", [rhs, num(value)], value)]


def loss_factor(loss: Loss, y: np.ndarray, out: np.ndarray, j: int, value: float,
                names: Names) -> Factor:
    """``∂L/∂ŷ_j`` (or ``∂L/∂z_Kj`` for a loss on logits) as the first factor of a chain."""
    m = len(y)
    symbol = d("L", names.O(names.K, j))
    yj, oj = float(y[j - 1]), float(out[j - 1])
    if loss.name == "cross_entropy":
        p = float(ops.softmax(out)[j - 1])
        return Factor(symbol, f"p_{j} − y_{j}", f"{num(p)} − {par(yj)}", value)
    if loss.name == "bce":
        p = float(ops.sigmoid(oj))
        return Factor(symbol, "p − y", f"{num(p)} − {par(yj)}", value)
    words = _per_element(loss, names.y(j), names.O(names.K, j), yj, oj)
    if words is None:
        rhs = loss.derivative.split("=", 1)[-1].strip()
        return Factor(symbol, rhs, num(value), value)
    formula, numbers = words
    if m > 1:
        formula, numbers = f"{formula}/{m}", f"{numbers}/{m}"
    return Factor(symbol, formula, numbers, value)
