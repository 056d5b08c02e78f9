"""Derivations: the chain rule for every weight and bias of a dense network.

For one row, with layers k = 1 … K, ``z_kj = Σ_i w^k_ij · O_(k−1)i + b_kj`` and
``O_kj = f_k(z_kj)`` (``O_0i = x_i``, ``O_K = ŷ``):

* ``∂L/∂w^k_ij = ∂L/∂O_kj · ∂O_kj/∂z_kj · ∂z_kj/∂w^k_ij = δ^k_j · O_(k−1)i``
* ``∂L/∂b_kj = δ^k_j``
* ``δ^k_j = ∂L/∂z_kj = f'(z_kj) · Σ_m w^(k+1)_jm · δ^(k+1)_m`` (the sum over every path),
  and at the output ``δ^K_j = ∂L/∂ŷ_j · f'(z_Kj)``.

Two forms (``form``):

* ``"paths"``: each parameter's own chain, path by path.  Where only one path leads from
  the parameter to the output (the seed's network) it is one product, the way the seed
  writes it: ``∂L/∂w^1_11 = ∂L/∂ŷ · ∂ŷ/∂O_11 · ∂O_11/∂w^1_11 = −2(y − ŷ) · w^2_11 · x_1``;
  otherwise one product per path, then their sum.
* ``"delta"``: δ first.  The table of every ``δ^k_j`` (from the output back), then each
  parameter in one line from it: ``∂L/∂w^1_21 = x_2 · δ^1_1 = 8 · 342 = 2736``.  This is
  what makes back-propagation cheap: each δ is worked out once.

``"auto"`` picks ``paths`` when every parameter has a single path (the seed's network),
``delta`` otherwise.

For a batch of N rows, ``L = (1/N) Σ_n L_n`` and ``∂L/∂w = (1/N) Σ_n ∂L_n/∂w``.  The
numbers come from the model's own weights; ∂L_n/∂ŷ comes from the loss through the
engine, so every loss the library has is covered.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from ..gradcheck import relative_error
from ..losses import CLASSIFICATION_LOSSES, Loss, get_loss
from ..nn import Dense, Sequential
from ..nn.activations import Activation
from ..nn.notation import ParamRef, neuron, parameter_refs, parse_param
from ..tensor import Tensor, no_grad
from .losswords import loss_equations, loss_factor, loss_formula
from .pieces import (Check, Equation, Explanation, Factor, Names, ParamExplanation, RowData,
                     RowGradient, d, fill, fill_numbers, num, num_change, par)

SATURATED = 1e-3  # an activation derivative below this nearly stops the gradient
FORMS = ("auto", "delta", "paths")
MAX_PATHS = 64  # path by path beyond this is a wall of numbers; the δ table says it in a line
SHOWN_TERMS = 8  # a sum of more terms is written with its first three, "…" and its last


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
            idx = _terms(layer.fan_in)
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
                       flags: list[str], n: int, dead: set[tuple[int, int]]) -> Factor:
    text, arg = _derivative_text(layer.activation)
    z = float(row.z[k][j - 1])
    value = float(row.fprime[k][j - 1])
    factor = Factor(d(names.O(k, j), names.z(k, j)), fill(text, arg, names.z(k, j)),
                    fill_numbers(text, arg, z, layer.activation.params), value)
    flag = _neuron_flag(layer, k, j, z, value, names, n, dead)
    if flag and flag not in flags:
        flags.append(flag)
    return factor


def _neuron_flag(layer: Dense, k: int, j: int, z: float, fprime: float, names: Names, n: int,
                 dead: set[tuple[int, int]]) -> str | None:
    """A ReLU whose output is 0 for every row shown is dead; for some rows, inactive there."""
    act, O, Z = layer.activation.name, names.O(k, j), names.z(k, j)
    if act == "relu" and fprime == 0:
        if (k, j) in dead:
            return (f"{O} is a dead ReLU: {Z} ≤ 0 for every row shown, so ∂{O}/∂{Z} = 0 and no "
                    "gradient flows through this neuron")
        return (f"row {n + 1}: {O} is inactive for this row ({Z} = {num(z)} ≤ 0), so "
                f"∂{O}/∂{Z} = 0 and no gradient flows through it for this row")
    if act in ("sigmoid", "tanh") and abs(fprime) < SATURATED:
        return (f"row {n + 1}: {O} is saturated ({act}'({Z}) = {num(fprime)} < {SATURATED:g}), "
                "so the gradient through it nearly vanishes")
    return None


def _dead(layers: list[Dense], rows: list[_Row]) -> set[tuple[int, int]]:
    """(k, j) of every ReLU neuron whose output is 0 for every row."""
    return {(k, j) for k, layer in enumerate(layers, start=1) if layer.activation.name == "relu"
            for j in range(1, layer.fan_out + 1) if all(r.fprime[k][j - 1] == 0 for r in rows)}


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


def _last_factor(layers: list[Dense], row: _Row, ref: ParamRef, names: Names) -> Factor:
    """``∂z_kj/∂w^k_ij = O_(k−1)i`` (or ``∂z_kj/∂b_kj = 1``)."""
    k, j = ref.layer, ref.j
    top = names.z(k, j) if layers[k - 1].activation.primitive else names.O(k, j)
    if ref.kind == "b":
        return Factor(d(top, ref.symbol), "1", "1", 1.0)
    o = float(row.O[k - 1][ref.i - 1])
    return Factor(d(top, ref.symbol), names.O(k - 1, ref.i), par(o), o)


def _path_factors(layers: list[Dense], row: _Row, ref: ParamRef, names: Names, loss: Loss,
                  y: np.ndarray, flags: list[str], n: int, dead: set[tuple[int, int]],
                  path: list[int]) -> list[Factor]:
    """The factors along one path: ``path`` is the neuron at layers k, k+1, …, K."""
    K, k = names.K, ref.layer
    jK = path[-1]
    factors = [loss_factor(loss, y, row.O[K], jK, float(row.dO_out[jK - 1]), names)]
    for level in range(K, k, -1):
        jl, jprev = path[level - k], path[level - k - 1]
        layer = layers[level - 1]
        w = float(layer.weight.data[jprev - 1, jl - 1])
        if layer.activation.primitive is not None:
            factors.append(_activation_factor(layer, row, level, jl, names, flags, n, dead))
            top = names.z(level, jl)
        else:
            top = names.O(level, jl)
        factors.append(Factor(d(top, names.O(level - 1, jprev)), names.w(level, jprev, jl),
                              par(w), w))
    if layers[k - 1].activation.primitive is not None:
        factors.append(_activation_factor(layers[k - 1], row, k, ref.j, names, flags, n, dead))
    factors.append(_last_factor(layers, row, ref, names))
    return factors


def path_count(sizes: list[int], ref: ParamRef) -> int:
    """How many paths lead from ``ref`` to the loss: the product of the sizes above its layer."""
    return math.prod(sizes[ref.layer + 1:])


def _row_gradient(layers: list[Dense], row: _Row, ref: ParamRef, names: Names,
                  loss: Loss, y: np.ndarray, flags: list[str], n: int,
                  dead: set[tuple[int, int]]) -> RowGradient:
    """``∂L/∂θ`` path by path: one product per path from θ to the loss, then their sum."""
    K, k, j = names.K, ref.layer, ref.j
    lhs = d("L", ref.symbol)
    value = float(row.delta[k][j - 1] * (row.O[k - 1][ref.i - 1] if ref.kind == "w" else 1.0))
    count = path_count(names.sizes, ref)
    if count > MAX_PATHS:
        raise ConfigError(f"{ref.symbol} reaches the loss by {count} paths, and path by path is "
                          f"written for at most {MAX_PATHS}; leave out --expand (form='paths'): "
                          "the δ table gives it in one line")
    above = [range(1, names.sizes[level] + 1) for level in range(k + 1, K + 1)]
    paths = [[j, *rest] for rest in itertools.product(*above)]
    if count == 1:
        factors = _path_factors(layers, row, ref, names, loss, y, flags, n, dead, paths[0])
        return RowGradient(n, _product(lhs, factors, value), factors, [], value)
    steps, values = [], []
    for path in paths:
        factors = _path_factors(layers, row, ref, names, loss, y, flags, n, dead, path)
        v = math.prod(f.value for f in factors)
        eq = _product("", factors, v)
        steps.append(Equation(eq.forms[0], eq.forms[1:], v))
        values.append(v)
    chain = Equation(lhs, [" + ".join(par(v) for v in values), num(value)], value,
                     note=f"the sum over the {count} paths from {ref.symbol} to the loss")
    return RowGradient(n, chain, [], steps, value)


def _delta_gradient(row: _Row, ref: ParamRef, names: Names, n: int) -> RowGradient:
    """``∂L/∂w^k_ij = O_(k−1)i · δ^k_j`` and ``∂L/∂b_kj = δ^k_j``, from the δ table."""
    k, j = ref.layer, ref.j
    dv = float(row.delta[k][j - 1])
    dsym = names.delta(k, j)
    delta = Factor(dsym, dsym, par(dv), dv)
    if ref.kind == "b":
        return RowGradient(n, Equation(d("L", ref.symbol), [dsym, num(dv)], dv), [delta], [], dv)
    o = float(row.O[k - 1][ref.i - 1])
    value = float(row.delta[k][j - 1] * row.O[k - 1][ref.i - 1])
    osym = names.O(k - 1, ref.i)
    chain = Equation(d("L", ref.symbol), [f"{osym} · {dsym}", f"{par(o)} · {par(dv)}", num(value)],
                     value)
    return RowGradient(n, chain, [Factor(d(names.z(k, j), ref.symbol), osym, par(o), o), delta],
                       [], value)


def deltas_for(table: list[Equation], ref: ParamRef) -> list[Equation]:
    """The rows of the δ table that ``ref``'s gradient rests on: every δ above its layer, and
    its own neuron's."""
    def place(eq: Equation) -> tuple[int, int]:
        k, j = eq.lhs.split(" = ")[0][2:].split("_")
        return int(k), int(j)

    return [eq for eq in table if place(eq)[0] > ref.layer or place(eq) == (ref.layer, ref.j)]


def _terms(count: int) -> list[int | None]:
    """The 1-based indices of a sum's terms to write (None for "…")."""
    return list(range(1, count + 1)) if count <= SHOWN_TERMS else [1, 2, 3, None, count]


def _delta_table(layers: list[Dense], row: _Row, names: Names, loss: Loss,
                 y: np.ndarray) -> list[Equation]:
    """δ^k_j = ∂L/∂z_kj for every neuron, from the output layer down: the loss's gradient
    at the output, ``f'(z_kj) · Σ_m w^(k+1)_jm · δ^(k+1)_m`` below."""
    K, steps = names.K, []
    for level in range(K, 0, -1):
        layer = layers[level - 1]
        for m in range(1, layer.fan_out + 1):
            dv = float(row.delta[level][m - 1])
            fp = float(row.fprime[level][m - 1])
            if layer.activation.primitive is not None:
                text, arg = _derivative_text(layer.activation)
                fsym, fnum = _group(fill(text, arg, names.z(level, m))), par(fp)
            else:
                fsym = fnum = ""
            if level == K:
                lf = loss_factor(loss, y, row.O[K], m, float(row.dO_out[m - 1]), names)
                if fsym:
                    forms = [f"{lf.symbol} · {fsym}", f"{_group(lf.formula)} · {fsym}",
                             f"{_group(lf.numbers)} · {fnum}", num(dv)]
                else:
                    forms = [lf.symbol, lf.formula, lf.numbers, num(dv)]
                    if lf.symbol == d("L", names.z(level, m)):
                        forms = forms[1:]  # a linear output on logits: δ is ∂L/∂z itself
            else:
                above = layers[level]
                shown = _terms(above.fan_out)
                sym = " + ".join("…" if r is None else f"{names.w(level + 1, m, r)}·{names.delta(level + 1, r)}"
                                 for r in shown)
                nums = " + ".join("…" if r is None else
                                  f"{par(above.weight.data[m - 1, r - 1])}·{par(row.delta[level + 1][r - 1])}"
                                  for r in shown)
                if fsym:
                    forms = [f"{fsym} · ({sym})", f"{fnum} · ({nums})", num(dv)]
                else:
                    forms = [sym, nums, num(dv)]
            note = ("softmax and cross-entropy together give p − y" if level == K and m == 1
                    and loss.name == "cross_entropy" else None)
            steps.append(Equation(f"{names.delta(level, m)} = {d('L', names.z(level, m))}", forms, dv,
                                  note=note))
    return steps


def _neuron_notes(layers: list[Dense], rows: list[_Row], names: Names, indices: list[int],
                  dead: set[tuple[int, int]]) -> list[str]:
    """What the δ table's reader should know: dead or inactive ReLUs, saturated units."""
    notes: list[str] = []
    for n, row in enumerate(rows):
        for k, layer in enumerate(layers, start=1):
            for j in range(1, layer.fan_out + 1):
                flag = _neuron_flag(layer, k, j, float(row.z[k][j - 1]), float(row.fprime[k][j - 1]),
                                    names, indices[n], dead)
                if flag and flag not in notes:
                    notes.append(flag)
    return notes


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
            rows: list[int] | None = None, check: bool = False, form: str = "auto",
            step: int | None = None, weight_decay: float = 0.0) -> Explanation:
    """The chain rule for ``param`` (default: every weight and bias), with this step's numbers.

    ``x`` is one row (or a batch of rows) and ``y`` its target(s), as the network sees
    them (scaled inputs, one-hot classes).  ``param`` is a symbol in the seed's notation
    (``"w^2_11"``, ``"b_21"``) or a list of them.  ``form`` is ``"delta"`` (the δ table,
    then each parameter in one line), ``"paths"`` (each parameter's chain path by path)
    or ``"auto"`` (paths where every parameter has one path, as in the seed's network).
    ``check=True`` adds the central finite-difference estimate of each gradient.
    ``step`` numbers the step in a sequence (``explain_steps``).  ``weight_decay`` λ (L2
    regularisation, the optimisers' ``weight_decay``: the penalty (λ/2)·Σθ² on every weight
    and bias) adds λ·θ to each gradient before the update: θ ← θ − η · (∂L/∂θ + λ·θ).
    """
    layers = _layers(model)
    sizes = model.sizes
    loss_fn = get_loss(loss)
    X, Y = _rows(x, y, sizes)
    names = Names(sizes, logits=loss_fn.name in CLASSIFICATION_LOSSES)
    if form not in FORMS:
        raise ConfigError(f"unknown form {form!r}; choose one of: {', '.join(FORMS)}")
    if form == "auto":
        form = "paths" if all(size == 1 for size in sizes[2:]) else "delta"
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
    dead = _dead(layers, computed)
    row_data = []
    for n, r in enumerate(computed):
        *probabilities, loss_eq = loss_equations(loss_fn, Y[n], r.O[-1], r.loss, names)
        deltas = _delta_table(layers, r, names, loss_fn, Y[n]) if form == "delta" else []
        row_data.append(RowData(indices[n], X[n], Y[n],
                                _forward_equations(layers, r, names) + probabilities, loss_eq,
                                deltas, *_as_given(model, X[n], Y[n], loss_fn)))
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
        if form == "delta":
            per_row = [_delta_gradient(r, ref, names, indices[n]) for n, r in enumerate(computed)]
            if len(refs) == 1:  # one parameter alone (the playground's panel): the δs it rests on
                for g, data in zip(per_row, row_data):
                    g.steps = deltas_for(data.deltas, ref)
        else:
            per_row = [_row_gradient(layers, r, ref, names, loss_fn, Y[n], flags, indices[n], dead)
                       for n, r in enumerate(computed)]
        if N > 1:  # each row's own loss L_n, named by its row number
            per_row = [_for_row(g, f"L_{indices[n] + 1}") for n, g in enumerate(per_row)]
        grad = float(np.mean([g.value for g in per_row]))
        mean = _mean(ref, per_row, grad, form) if N > 1 else None
        tensor = layers[ref.layer - 1].weight if ref.kind == "w" else layers[ref.layer - 1].bias
        old = float(tensor.data[ref.index])
        l2 = None
        if weight_decay:
            step_grad = grad + weight_decay * old
            l2 = Equation(f"{d('L', ref.symbol)} + λ · {ref.symbol}",
                          [f"{num(grad)} + {weight_decay:g} · {par(old)}", num(step_grad)],
                          step_grad, "L2: the penalty (λ/2)·Σθ² adds λ·θ")
            new = old - lr * step_grad
            old_text, new_text = num_change(old, new)
            update = Equation(f"{ref.symbol} ← {ref.symbol} − η · ({d('L', ref.symbol)} + λ · "
                              f"{ref.symbol})", [f"{old_text} − {lr:g} · {par(step_grad)}",
                                                 new_text], new)
        else:
            new = old - lr * grad
            old_text, new_text = num_change(old, new)
            update = Equation(f"{ref.symbol} ← {ref.symbol} − η · {d('L', ref.symbol)}",
                              [f"{old_text} − {lr:g} · {par(grad)}", new_text], new)
        params.append(ParamExplanation(ref, per_row, grad, mean, update, old, new, flags,
                                       _check(model, loss_fn, X, Y, tensor, ref, grad) if check else None,
                                       l2))
    notes = _neuron_notes(layers, computed, names, indices, dead) if form == "delta" else []
    return Explanation(sizes, [l.activation.name for l in layers], loss_fn.name,
                       loss_formula(loss_fn, sizes[-1]), lr, row_data, loss_eq, params, form,
                       notes, step, model.x_scaler.kind if model.x_scaler is not None else None)


def _mean(ref: ParamRef, per_row: list[RowGradient], grad: float, form: str) -> Equation:
    """``∂L/∂θ = (1/N) Σ_n ∂L_n/∂θ``; in the δ form with each row's product written out."""
    N = len(per_row)
    if form == "delta":
        symbolic = per_row[0].chain.forms[0]
        terms = " + ".join(_group(g.chain.forms[1]) if len(g.chain.forms) > 2 else par(g.value)
                           for g in per_row)
        return Equation(d("L", ref.symbol), [f"(1/N) Σ_n {symbolic}", f"(1/{N})({terms})", num(grad)],
                        grad)
    return Equation(d("L", ref.symbol),
                    ["(1/N) Σ_n " + d("L_n", ref.symbol),
                     f"(1/{N})(" + " + ".join(par(g.value) for g in per_row) + ")", num(grad)], grad)


def _as_given(model: Sequential, x: np.ndarray, y: np.ndarray,
              loss: Loss) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """The row as the data have it: raw inputs and targets (when the model scales them)
    and the class a one-hot (or 0/1) target stands for."""
    raw_x = model.x_scaler.inverse(x[None, :])[0] if model.x_scaler is not None else None
    raw_y = model.y_scaler.inverse(y[None, :])[0] if getattr(model, "y_scaler", None) is not None else None
    label = None
    classes = getattr(model, "classes_", None)
    if classes is not None and loss.name in CLASSIFICATION_LOSSES:
        c = int(np.argmax(y)) if loss.name == "cross_entropy" else int(round(float(y[0])))
        if 0 <= c < len(classes):
            label = str(classes[c])
    return raw_x, raw_y, label


def explain_steps(model: Sequential, X: Any, Y: Any, loss: str | Loss = "mse", steps: int = 1,
                  rows: list[int] | None = None, lr: float = 0.01, **options: Any) -> list[Explanation]:
    """``steps`` updates ``w ← w − η ∂L/∂w`` in a row, each explained before it is taken.

    ``rows`` (0-based) picks the rows: one row means the rows in order from it (the
    seed's per-row algorithm, wrapping round), several mean that batch every step.
    The model's weights are left as the last update made them.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)  # one target row per row
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be a whole number ≥ 1, got {steps!r}")
    picked = list(rows) if rows else [0]
    loss_fn = get_loss(loss)
    out = []
    for t in range(steps):
        idx = [(picked[0] + t) % len(X)] if len(picked) == 1 else picked
        out.append(explain(model, X[idx], Y[idx], loss_fn, lr=lr, rows=idx,
                           step=t + 1 if steps > 1 else None, **options))
        model.zero_grad()
        loss_fn(model(Tensor(X[idx].astype(model.dtype))), Y[idx].astype(model.dtype)).backward()
        for p in model.parameters():
            p.data -= lr * p.grad
    return out


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
