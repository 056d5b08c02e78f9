"""Derivations: the chain rule for every weight and bias of a dense network.

For one row, with layers k = 1 … K, ``z_kj = Σ_i w^k_ij · O_(k−1)i + b_kj`` and
``O_kj = f_k(z_kj)`` (``O_0i = x_i``, ``O_K = ŷ``):

* ``∂L/∂w^k_ij = ∂L/∂O_kj · ∂O_kj/∂z_kj · ∂z_kj/∂w^k_ij = δ^k_j · O_(k−1)i``
* ``∂L/∂b_kj = δ^k_j``
* ``δ^k_j = ∂L/∂z_kj = f'(z_kj) · Σ_m w^(k+1)_jm · δ^(k+1)_m`` (the sum over every path),
  and at the output ``δ^K_j = ∂L/∂ŷ_j · f'(z_Kj)``.

Where only one path leads from the parameter to the output (the seed's network), the
derivation is written as one product, the way the seed writes it:
``∂L/∂w^1_11 = ∂L/∂ŷ · ∂ŷ/∂O_11 · ∂O_11/∂w^1_11 = −2(y − ŷ) · w^2_11 · x_1``.
Otherwise it is written with the δ recursion, layer by layer, with numbers.

For a batch of N rows, ``L = (1/N) Σ_n L_n`` and ``∂L/∂w = (1/N) Σ_n ∂L_n/∂w``.  The
numbers come from the model's own weights; ∂L_n/∂ŷ comes from the loss through the
engine, so every loss the library has is covered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from ..gradcheck import relative_error
from ..losses import CLASSIFICATION_LOSSES, Loss, get_loss
from ..nn import Dense, Sequential
from ..nn.activations import Activation
from ..nn.notation import ParamRef, neuron, parameter_refs, parse_param
from ..tensor import Tensor, no_grad
from .losswords import loss_equations, loss_factor
from .pieces import (Check, Equation, Explanation, Factor, Names, ParamExplanation, RowData,
                     RowGradient, d, fill, fill_numbers, num, par)

SATURATED = 1e-3  # an activation derivative below this nearly stops the gradient


def _derivative_text(act: Activation) -> tuple[str, str]:
    """(f'(z) as text, the name of its argument in that text)."""
    arg = act.primitive.args[0] if act.primitive is not None else "z"
    return act.derivative, arg


def _fprime(act: Activation, z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return act.grad(z) if getattr(act, "grad_from", "out") == "z" else act.grad(out)


# ------------------------------------------------------------------------------------
# Building the explanation.


def _layers(model: Any) -> list[Dense]:
    layers = getattr(model, "layers", None)
    if not isinstance(model, Sequential) or not all(isinstance(l, Dense) for l in layers):
        raise ConfigError("explain works on a Sequential model of Dense layers")
    for k, layer in enumerate(layers, start=1):
        if not getattr(layer.activation, "elementwise", True):
            raise ConfigError(f"explain writes the chain rule neuron by neuron, and layer {k}'s "
                              f"{layer.activation.name} couples its neurons; use a linear output "
                              "layer with the cross_entropy loss (softmax is part of the loss)")
    return layers


def _rows(x: Any, y: Any, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    try:
        X = np.atleast_2d(np.asarray(x, dtype=np.float64))
        Y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    except (TypeError, ValueError):
        raise DataError("explain needs numbers for x and y (one-hot rows for classes)") from None
    if X.ndim != 2 or X.shape[1] != sizes[0]:
        raise ShapeError(f"the network takes {sizes[0]} inputs per row, got x of shape {X.shape}")
    if Y.size == len(X) * sizes[-1]:
        Y = Y.reshape(len(X), sizes[-1])
    else:
        raise ShapeError(f"the network has {sizes[-1]} output(s): give that many targets for "
                         f"each of the {len(X)} row(s), got y of shape {np.shape(y)}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise DataError("explain got NaN or infinite inputs or targets; give finite numbers")
    return X, Y


class _Row:
    """Forward values and δs of one row, computed from the model's weights."""

    def __init__(self, layers: list[Dense], loss: Loss, x: np.ndarray, y: np.ndarray) -> None:
        self.O, self.z = [x], [x]
        for layer in layers:
            z = self.O[-1] @ layer.weight.data.astype(np.float64) + layer.bias.data
            self.z.append(z)
            self.O.append(layer.activation.fn(z))
        pred = Tensor(self.O[-1][None, :], requires_grad=True)
        L = loss(pred, y[None, :])
        L.backward()
        self.loss = float(L.data)
        self.dO_out = pred.grad[0]
        K = len(layers)
        self.fprime = [None] + [_fprime(layers[k - 1].activation, self.z[k], self.O[k])
                                for k in range(1, K + 1)]
        self.delta: list[np.ndarray] = [None] * (K + 1)  # type: ignore[list-item]
        self.delta[K] = self.dO_out * self.fprime[K]
        self.dO: list[np.ndarray] = [None] * (K + 1)  # type: ignore[list-item]
        self.dO[K] = self.dO_out
        for k in range(K - 1, 0, -1):
            self.dO[k] = layers[k].weight.data @ self.delta[k + 1]
            self.delta[k] = self.dO[k] * self.fprime[k]


def _forward_equations(layers: list[Dense], row: _Row, names: Names) -> list[Equation]:
    eqs = []
    for k, layer in enumerate(layers, start=1):
        W, b = layer.weight.data, layer.bias.data
        linear = layer.activation.primitive is None
        for j in range(1, layer.fan_out + 1):
            idx = range(1, layer.fan_in + 1)
            if layer.fan_in > 8:
                idx = [1, 2, 3, None, layer.fan_in]
            sym = " + ".join("…" if i is None else f"{names.w(k, i, j)}·{names.O(k - 1, i)}" for i in idx)
            nums = " + ".join("…" if i is None else f"{par(W[i - 1, j - 1])}·{par(row.O[k - 1][i - 1])}"
                              for i in idx)
            sym += f" + {names.b(k, j)}"
            nums += f" + {par(b[j - 1])}"
            out = names.O(k, j)
            lhs = out if not (k == names.K and out.startswith("ŷ")) else f"{out} = {neuron(k, j)}"
            if linear:
                eqs.append(Equation(lhs, [sym, nums, num(row.O[k][j - 1])], float(row.O[k][j - 1])))
            else:
                z = float(row.z[k][j - 1])
                eqs.append(Equation(names.z(k, j), [sym, nums, num(z)], z))
                expr, arg = layer.activation.expr, (layer.activation.primitive.args[0])
                params = layer.activation.params
                eqs.append(Equation(lhs, [fill(expr, arg, names.z(k, j)),
                                          fill_numbers(expr, arg, z, params),
                                          num(row.O[k][j - 1])], float(row.O[k][j - 1])))
    return eqs


def _activation_factor(layer: Dense, row: _Row, k: int, j: int, names: Names,
                       flags: list[str], n: int) -> Factor:
    text, arg = _derivative_text(layer.activation)
    z = float(row.z[k][j - 1])
    value = float(row.fprime[k][j - 1])
    factor = Factor(d(names.O(k, j), names.z(k, j)), fill(text, arg, names.z(k, j)),
                    fill_numbers(text, arg, z, layer.activation.params), value)
    act = layer.activation.name
    if act == "relu" and value == 0:
        flags.append(f"row {n + 1}: {names.O(k, j)} is a dead ReLU here ({names.z(k, j)} = "
                     f"{num(z)} ≤ 0), so ∂{names.O(k, j)}/∂{names.z(k, j)} = 0 and no gradient "
                     "flows through this neuron")
    elif act in ("sigmoid", "tanh") and abs(value) < SATURATED:
        flags.append(f"row {n + 1}: {names.O(k, j)} is saturated ({act}'({names.z(k, j)}) = "
                     f"{num(value)} < {SATURATED:g}), so the gradient through it nearly vanishes")
    return factor


def _group(text: str) -> str:
    """Parenthesise a sum or difference (at the top level) so it can stand in a product."""
    depth, top = 0, False
    for i, c in enumerate(text):
        depth += c in "(["
        depth -= c in ")]"
        if depth == 0 and c in "+−<>" and 0 < i < len(text) - 1 and text[i - 1] == " ":
            top = True
    return f"({text})" if top or text.startswith("Σ") else text


def _product(lhs: str, factors: list[Factor], value: float) -> Equation:
    forms = [" · ".join(f.symbol for f in factors),
             " · ".join(_group(f.formula) for f in factors),
             " · ".join(_group(f.numbers) for f in factors),
             " · ".join(par(f.value) for f in factors), num(value)]
    unique = [f for i, f in enumerate(forms) if i == 0 or f != forms[i - 1]]
    return Equation(lhs, unique, value)


def _row_gradient(layers: list[Dense], row: _Row, ref: ParamRef, names: Names,
                  loss: Loss, y: np.ndarray, flags: list[str], n: int) -> RowGradient:
    K, k, j = names.K, ref.layer, ref.j
    lhs = d("L", ref.symbol)
    value = float(row.delta[k][j - 1] * (row.O[k - 1][ref.i - 1] if ref.kind == "w" else 1.0))
    last = Factor(d(names.z(k, j) if layers[k - 1].activation.primitive else names.O(k, j), ref.symbol),
                  names.O(k - 1, ref.i) if ref.kind == "w" else "1",
                  par(row.O[k - 1][ref.i - 1]) if ref.kind == "w" else "1",
                  float(row.O[k - 1][ref.i - 1]) if ref.kind == "w" else 1.0)
    unique_path = all(size == 1 for size in names.sizes[k + 1:])
    steps: list[Equation] = []
    if unique_path:
        path = [j] + [1] * (K - k)  # neuron index at layers k, k+1, …, K
        jK = path[-1]
        factors = [loss_factor(loss, y, row.O[K], jK, float(row.dO_out[jK - 1]), names)]
        for level in range(K, k, -1):
            jl, jprev = path[level - k], path[level - k - 1]
            layer = layers[level - 1]
            w = float(layer.weight.data[jprev - 1, jl - 1])
            if layer.activation.primitive is not None:
                factors.append(_activation_factor(layer, row, level, jl, names, flags, n))
                top = names.z(level, jl)
            else:
                top = names.O(level, jl)
            factors.append(Factor(d(top, names.O(level - 1, jprev)), names.w(level, jprev, jl),
                                  par(w), w))
        if layers[k - 1].activation.primitive is not None:
            factors.append(_activation_factor(layers[k - 1], row, k, j, names, flags, n))
        factors.append(last)
        return RowGradient(n, _product(lhs, factors, value), factors, steps, value)

    # Several paths: ∂L/∂O_kj sums over the next layer's neurons, δ by δ.
    dO = Factor(d("L", names.O(k, j)), f"Σ_m δ^{k + 1}_m · w^{k + 1}_{j}m",
                num(row.dO[k][j - 1]), float(row.dO[k][j - 1]))
    factors = [dO]
    if layers[k - 1].activation.primitive is not None:
        factors.append(_activation_factor(layers[k - 1], row, k, j, names, flags, n))
    factors.append(last)
    steps += _delta_steps(layers, row, names, loss, y, k)
    nxt = layers[k]
    terms = [(float(row.delta[k + 1][m]), float(nxt.weight.data[j - 1, m])) for m in range(nxt.fan_out)]
    steps.append(Equation(
        d("L", names.O(k, j)),
        [f"Σ_m ∂L/∂z_{k + 1}m · ∂z_{k + 1}m/∂{names.O(k, j)}",
         " + ".join(f"{names.delta(k + 1, m + 1)} · {names.w(k + 1, j, m + 1)}" for m in range(nxt.fan_out)),
         " + ".join(f"{par(dv)} · {par(w)}" for dv, w in terms), num(row.dO[k][j - 1])],
        float(row.dO[k][j - 1]), note="the sum over every path from this neuron to the loss"))
    return RowGradient(n, _product(lhs, factors, value), factors, steps, value)


def _delta_steps(layers: list[Dense], row: _Row, names: Names, loss: Loss, y: np.ndarray,
                 k: int) -> list[Equation]:
    """δ^l_m = ∂L/∂z_lm for every layer above k, from the output down."""
    K, steps = names.K, []
    for level in range(K, k, -1):
        layer = layers[level - 1]
        for m in range(1, layer.fan_out + 1):
            dv = float(row.delta[level][m - 1])
            fp = float(row.fprime[level][m - 1])
            if layer.activation.primitive is not None:
                text, arg = _derivative_text(layer.activation)
                fsym, fnum = " · " + _group(fill(text, arg, names.z(level, m))), " · " + par(fp)
            else:
                fsym = fnum = ""
            if level == K:
                lf = loss_factor(loss, y, row.O[K], m, float(row.dO_out[m - 1]), names)
                forms = [f"{lf.symbol}{fsym}", f"{lf.formula}{fsym}", f"{lf.numbers}{fnum}", num(dv)]
                if not fsym and lf.symbol == d("L", names.z(level, m)):
                    forms = forms[1:]  # a linear output on logits: δ is ∂L/∂z itself
            else:
                above = layers[level]
                q = above.fan_out
                sym = " + ".join(f"{names.w(level + 1, m, r)}·{names.delta(level + 1, r)}" for r in range(1, q + 1))
                nums = " + ".join(f"{par(above.weight.data[m - 1, r - 1])}·{par(row.delta[level + 1][r - 1])}"
                                  for r in range(1, q + 1))
                forms = [f"({sym}){fsym}", f"({nums}){fnum}", num(dv)]
            note = ("softmax and cross-entropy together give p − y" if level == K and m == 1
                    and loss.name == "cross_entropy" else None)
            steps.append(Equation(f"{names.delta(level, m)} = {d('L', names.z(level, m))}", forms, dv,
                                  note=note))
    return steps


def _for_row(g: RowGradient, loss_name: str) -> RowGradient:
    """The same derivation written for one row's loss ``L_n`` instead of ``L``."""
    def rename(text: str) -> str:
        return text.replace("∂L/", f"∂{loss_name}/")

    def eq(e: Equation) -> Equation:
        return Equation(rename(e.lhs), [rename(f) for f in e.forms], e.value, e.note)

    factors = [Factor(rename(f.symbol), f.formula, f.numbers, f.value) for f in g.factors]
    return RowGradient(g.row, eq(g.chain), factors, [eq(s) for s in g.steps], g.value)


def explain(model: Sequential, x: Any, y: Any, loss: str | Loss = "mse",
            param: str | ParamRef | list[str] | None = None, lr: float = 0.01,
            rows: list[int] | None = None, check: bool = False) -> Explanation:
    """The chain rule for ``param`` (default: every weight and bias), with this step's numbers.

    ``x`` is one row (or a batch of rows) and ``y`` its target(s).  ``param`` is a
    symbol in the seed's notation (``"w^2_11"``, ``"b_21"``) or a list of them.
    ``check=True`` adds the central finite-difference estimate of each gradient.
    """
    layers = _layers(model)
    sizes = model.sizes
    loss_fn = get_loss(loss)
    X, Y = _rows(x, y, sizes)
    names = Names(sizes, logits=loss_fn.name in CLASSIFICATION_LOSSES)
    indices = list(rows) if rows is not None else list(range(len(X)))
    if len(indices) != len(X):
        raise ShapeError(f"rows names {len(indices)} row(s) but x has {len(X)}; give one number per row")
    if param is None:  # backward order: the output layer first, as back-propagation runs
        refs = sorted(parameter_refs(sizes), key=lambda r: -r.layer)
    elif isinstance(param, (list, tuple)):
        refs = [p if isinstance(p, ParamRef) else parse_param(p, sizes) for p in param]
    else:
        refs = [param if isinstance(param, ParamRef) else parse_param(param, sizes)]
    computed = [_Row(layers, loss_fn, X[n], Y[n]) for n in range(len(X))]
    row_data = []
    for n, r in enumerate(computed):
        *probabilities, loss_eq = loss_equations(loss_fn, Y[n], r.O[-1], r.loss, names)
        row_data.append(RowData(indices[n], X[n], Y[n],
                                _forward_equations(layers, r, names) + probabilities, loss_eq))
    N = len(X)
    if N == 1:
        loss_eq = row_data[0].loss
    else:
        total = float(np.mean([r.loss for r in computed]))
        loss_eq = Equation("L", ["(1/N) Σ_n L_n", f"(1/{N})(" + " + ".join(num(r.loss) for r in computed) + ")",
                                 num(total)], total)
    params = []
    for ref in refs:
        flags: list[str] = []
        per_row = [_row_gradient(layers, r, ref, names, loss_fn, Y[n], flags, indices[n])
                   for n, r in enumerate(computed)]
        if N > 1:  # each row's own loss L_n, named by its row number
            per_row = [_for_row(g, f"L_{indices[n] + 1}") for n, g in enumerate(per_row)]
        grad = float(np.mean([g.value for g in per_row]))
        mean = None
        if N > 1:
            mean = Equation(d("L", ref.symbol),
                            ["(1/N) Σ_n " + d("L_n", ref.symbol),
                             f"(1/{N})(" + " + ".join(par(g.value) for g in per_row) + ")", num(grad)],
                            grad)
        tensor = layers[ref.layer - 1].weight if ref.kind == "w" else layers[ref.layer - 1].bias
        old = float(tensor.data[ref.index])
        new = old - lr * grad
        update = Equation(f"{ref.symbol} ← {ref.symbol} − η · {d('L', ref.symbol)}",
                          [f"{num(old)} − {lr:g} · {par(grad)}", num(new)], new)
        params.append(ParamExplanation(ref, per_row, grad, mean, update, old, new, flags,
                                       _check(model, loss_fn, X, Y, tensor, ref, grad) if check else None))
    return Explanation(sizes, [l.activation.name for l in layers], loss_fn.name, loss_fn.formula,
                       lr, row_data, loss_eq, params)


def _check(model: Sequential, loss: Loss, X: np.ndarray, Y: np.ndarray, tensor: Tensor,
           ref: ParamRef, grad: float) -> Check:
    data = tensor.data
    keep = float(data[ref.index])
    # the step that balances rounding and truncation: ~1e-5 in float64, ~5e-3 in float32
    eps = float(np.finfo(data.dtype).eps) ** (1 / 3) * max(1.0, abs(keep))
    values = []
    with no_grad():
        for shift in (eps, -eps):
            data[ref.index] = keep + shift
            values.append(float(loss(model(X), Y).data))
    data[ref.index] = keep
    numeric = (values[0] - values[1]) / (2 * eps)
    return Check(numeric, relative_error(grad, numeric))
