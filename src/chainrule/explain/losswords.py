"""Each loss in words: ``L`` for one row and ``∂L/∂ŷ_j``, symbolically and with numbers.

The values come from the engine (so any loss is right); this table only says how a
person writes them.  Per-element losses (MSE, MAE, Huber) average over the row's m
outputs, so with m > 1 the loss is written ``(1/m) Σ_j …`` from the header to the body
and its derivative carries the factor once: ``−(2/m)(y_j − ŷ_j)``, ``−(y_j − ŷ_j)`` for
m = 2.  ``sse_half`` (``Σ_k ½(y_k − ŷ_k)²``) sums instead, so its derivative is
``−(y_k − ŷ_k)`` whatever m.  The losses on logits work on
the output layer's ``z``: binary cross-entropy with ``p = σ(z)`` gives ``∂L/∂z = p − y``,
and softmax with cross-entropy gives ``∂L/∂z_j = p_j − y_j`` — the fused form.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..losses import Loss
from .pieces import Equation, Factor, Names, d, num, par


def _scale(factor: int, m: int) -> str:
    """``factor/m`` as a coefficient in front of a term: ``""``, ``"2"``, ``"(2/3)"``, ``"(1/2)"``."""
    if factor % m == 0:
        whole = factor // m
        return "" if whole == 1 else str(whole)
    return f"({factor}/{m})"


def _per_element(loss: Loss, y: str, p: str, yv: float, pv: float, m: int) -> tuple[str, str] | None:
    """(∂L/∂ŷ as symbols, the same with numbers) for one of m outputs of a per-element loss,
    the mean's 1/m included."""
    if loss.name == "mse":
        c = _scale(2, m)
        return f"−{c}({y} − {p})", f"−{c}({num(yv)} − {par(pv)})"
    if loss.name == "sse_half":
        return f"−({y} − {p})", f"−({num(yv)} − {par(pv)})"
    c = _scale(1, m)
    c = f"{c} " if c else ""
    if loss.name == "mae":
        return f"−{c}sign({y} − {p})", f"−{c}sign({num(yv)} − {par(pv)})"
    if loss.name == "huber":
        delta = num(loss.params.get("delta", 1.0))
        return (f"{c}clip({p} − {y}, −{delta}, {delta})",
                f"{c}clip({num(pv)} − {par(yv)}, −{delta}, {delta})")
    return None


def loss_formula(loss: Loss, m: int) -> str:
    """``L = …`` for a row of m outputs, as the header and the body both write it."""
    if m > 1 and loss.name == "mse":
        return f"L = (1/{m}) Σ_j (y_j − ŷ_j)²"
    if m > 1 and loss.name == "mae":
        return f"L = (1/{m}) Σ_j |y_j − ŷ_j|"
    if m > 1 and loss.name == "huber":
        return f"L = (1/{m}) Σ_j h(y_j − ŷ_j),  {_huber_h(loss)}"
    if loss.name == "sse_half":
        return "L = ½(y − ŷ)²" if m == 1 else "L = Σ_k ½(y_k − ŷ_k)²"
    return loss.formula


def _huber_h(loss: Loss) -> str:
    return "h(r) = ½r² if |r| ≤ δ else δ(|r| − ½δ)".replace("δ", num(loss.params.get("delta", 1.0)))


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
    rhs = loss_formula(loss, m).split("=", 1)[-1].strip()
    if loss.name == "mse":
        if m == 1:
            return [Equation("L", [rhs, f"({num(y[0])} − {par(out[0])})²", num(value)], value)]
        terms = " + ".join(f"({num(a)} − {par(b)})²" for a, b in zip(y, out))
        return [Equation("L", [rhs, f"(1/{m})({terms})", num(value)], value)]
    if loss.name == "mae":
        if m == 1:
            return [Equation("L", [rhs, f"|{num(y[0])} − {par(out[0])}|", num(value)], value)]
        terms = " + ".join(f"|{num(a)} − {par(b)}|" for a, b in zip(y, out))
        return [Equation("L", [rhs, f"(1/{m})({terms})", num(value)], value)]
    if loss.name == "sse_half":
        terms = " + ".join(f"½({num(a)} − {par(b)})²" for a, b in zip(y, out))
        return [Equation("L", [rhs, terms, num(value)], value)]
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
    words = _per_element(loss, names.y(j), names.O(names.K, j), yj, oj, m)
    if words is None:
        rhs = loss.derivative.split("=", 1)[-1].strip()
        return Factor(symbol, rhs, num(value), value)
    formula, numbers = words
    return Factor(symbol, formula, numbers, value)
