"""The source of the fused loop's epoch, written for one network shape.

``fastkernel`` compiles, for each network, the source that ``source`` writes here: at its
top the fused forms of its activations, loss and update rule, bound by name from the
tables' entries (``f_tanh, df_tanh = _fk.activation("tanh")``, ``loss_term``,
``rule_update``: no codes, no branch on a name), then the chain rule for a stack of
dense layers calling them:

    forward    Z_k = A_{k−1} W_k + b_k,   A_k = f_k(Z_k),   A_0 = the batch's rows
    loss       L = Σ_n s_n r_n,  r_n = ℓ_n (cross-entropy: one per row) or the mean of
               row n's K terms ℓ_nk;  s_n = 1/B, or w_n / Σ_m w_m with sample weights
    backward   D_L = ∂L/∂A_L = s_n ∂ℓ/∂ŷ (÷ K per element);  Δ_k = D_k ⊙ f_k'(A_k)
               (gelu: f_k'(Z_k));  ∂L/∂W_k = A_{k−1}ᵀ Δ_k,  ∂L/∂b_k = Σ_n Δ_k[n],
               D_{k−1} = Δ_k W_kᵀ
    update     the optimiser's rule, once over all parameters laid end to end

Two forms, by what is fastest where (measured; benchmarks/README.md):

* **all locals** (``scalar``): one row a batch, at most ``SCALAR_WEIGHTS`` weights and a
  loss with a term per output (the seed's network; its source grows with the weights, and
  numba's compile time with it: a 4-16-8-1 network took 87 s this way, which is why the
  bound is small; scikit-learn's penalty adds its λ/2 ΣW² and λW to the step's locals).
  Every number of a step is a local variable named as the seed names it
  (``a1_0`` is O_11, ``e2_0`` is ∂L/∂O_21, ``g6`` the gradient of ``theta[6]``), every
  sum written out in the order of its inputs: nothing goes through memory but the
  weights, and a step of the seed's network takes about ten nanoseconds.  Each step
  first reads the row ``READ_AHEAD`` steps on (``touch``), so shuffled rows are read
  through the order straight from the data.
* **loops**: everything else.  Row n, neuron j of layer k sits at ``st{k} + n·width + j``
  in ``act`` (A), ``z`` (Z) and ``d`` (D, then Δ); ``W_k[i, j]`` at ``theta[wo{k} + i·fan_out
  + j]``, ``b_k[j]`` at ``theta[bo{k} + j]`` (``grad`` alike).  The layers' widths come in
  at run time (``dims``), and every offset is computed from them at the epoch's top: LLVM
  then vectorises the loops over a layer's neurons (with literal widths it unrolls them
  first and vectorises nothing), and the source names no width, so networks that differ
  only in their widths (4-8-3 and 64-32-10, same activations, loss and rule) share one
  source file and one compile.  Optimisers whose rules differ only in their numbers
  share one too (``optim.RULES``: the numbers are the run-time ``hyper``).  With plain SGD and one
  row a batch each weight moves as its gradient forms (``_sgd_in_place``).

Sums run in the order of their inputs, bias last; the loops form adds a layer's inputs
into Z eight at a time (``FORWARD_GROUP``: the sum of eight products stays in registers
rather than making eight trips through memory; measured ~8 % of S2's step).  The graph
engine's products are BLAS's, in its own order; the parity tests allow for that.  The
source is plain Python a person can read:
``python -c "from chainrule import fastcode; print(fastcode.example())"``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SCALAR_WEIGHTS = 16  # networks up to this many weights keep a row's every number local
# The all-locals form reads the row this many steps on before each step: a shuffled epoch
# then reads its rows through the order at about the speed of rows in order, with no
# gathered copy (S1: ~13 ns a step against ~10 in order and ~70 without reading ahead).
READ_AHEAD = 8
KEEP_DAYS = 30  # an epoch unused this long leaves the cache (``prune``), numba's files too
FORWARD_GROUP = 8  # the loops form adds a layer's inputs into Z this many at a time
# How numba compiles an epoch: x/0 is ±inf or NaN, as in NumPy.  In the loops form a·b + c
# may also be one fused multiply-add, rounded once instead of twice, in the epoch's own
# arithmetic (its sums, activations, loss, and plain SGD's w − η(g + λw) where each weight
# moves as its gradient forms, ``_sgd_in_place``: ~4 % faster; BLAS's products fuse them
# too): the same numbers to rounding, NaN and ∞ kept, except that a sum can stay finite
# where one of its products alone would overflow (numbers near 1e308).  Every other
# update runs the optimiser's rule compiled apart and never fused (``fastkernel.rule``),
# rounded as NumPy's is; so does the all-locals form of a small network (the seed's linear network
# trains to the graph engine's weights bit for bit, a teacher's printed numbers agree to
# the last digit).  Nothing else of fastmath: no reordering; the finiteness checks
# compare |x| < ∞, which no fused multiply-add changes.
JIT_OPTIONS = {"error_model": "numpy", "nogil": True}  # (a streamed run's reader works beside)
LOOPS_JIT_OPTIONS = {**JIT_OPTIONS, "fastmath": {"contract"}}


@dataclass(frozen=True)
class Shape:
    """What a compiled epoch is written for.

    ``widths``: neurons per layer, inputs first; ``activations``: each layer's name in
    the activations' table (``"linear"``, ``"tanh"``, …); ``loss`` and ``rule``: the loss's
    and the update rule's names in theirs (``losses``, ``optim.RULES``); ``single``: every
    batch is one row (the seed's algorithm).
    """

    widths: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    rule: str
    single: bool

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """(weight offset, bias offset) of each layer in the flat parameter vector."""
        out, at = [], 0
        for ni, no in zip(self.widths[:-1], self.widths[1:]):
            out.append((at, at + ni * no))
            at += ni * no + no
        return out

    @property
    def weights(self) -> int:
        """How many weights the network has (a row's multiply-adds in the forward pass)."""
        return sum(ni * no for ni, no in zip(self.widths[:-1], self.widths[1:]))

    @property
    def size(self) -> int:
        """How many parameters (weights and biases) the network has."""
        return self.weights + sum(self.widths[1:])


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, depth: int, text: str) -> None:
        self.lines.extend("    " * depth + line for line in text.splitlines())


def _names(k: int) -> tuple[str, str]:
    """The loops form's names for where layer k's weights and biases start in theta (set at
    the epoch's top from ``dims``: the source holds no width, so networks that differ only
    in their widths share one source, one compiled epoch)."""
    return f"wo{k}", f"bo{k}"


def _rows(w: _Writer, shape: Shape, depth: int = 2) -> int:
    """Start a loop over the batch's rows (or name its one row); the body's depth."""
    if shape.single:
        w(depth, "n = 0  # the batch's one row")
        return depth
    w(depth, "for n in range(nb):")
    return depth + 1


def _forward(w: _Writer, shape: Shape, k: int) -> None:
    """Z_k and A_k for the batch's rows."""
    wo, bo = _names(k)
    name = shape.activations[k]
    w(2, f"# layer {k + 1}: Z = A_prev W + b (bias after the product), A = {name}(Z)")
    w(2, f"ni, no, p = dims[{k}], dims[{k + 1}], act_params[{k}]")
    b = _rows(w, shape)
    group = range(FORWARD_GROUP)  # x_q = A_prev[i + q], its weights W[i + q, j]
    xs = "\n".join(f"    x{q} = act[_u(xo + i{f' + {q}' if q else ''})]" for q in group)
    products = [f"x{q} * theta[_u(wi + {f'{q} * no + ' if q else ''}j)]" for q in group]
    terms = "(" + "\n                      + ".join(
        " + ".join(products[q:q + 2]) for q in range(0, FORWARD_GROUP, 2)) + ")"
    w(b, f"""xo = st{k} + n * ni
zo = st{k + 1} + n * no
for j in range(no):
    z[_u(zo + j)] = zero
i = 0
while i + {FORWARD_GROUP} <= ni:  # {FORWARD_GROUP} inputs at a time: their sum stays in registers
{xs}
    wi = {wo} + i * no
    for j in range(no):
        z[_u(zo + j)] += {terms}
    i += {FORWARD_GROUP}
while i < ni:  # the inputs left over
    x = act[_u(xo + i)]
    wi = {wo} + i * no
    for j in range(no):
        z[_u(zo + j)] += x * theta[_u(wi + j)]
    i += 1
for j in range(no):
    z[_u(zo + j)] += theta[_u({bo} + j)]
    act[_u(zo + j)] = f_{name}(z[_u(zo + j)], p)""")


def _backward(w: _Writer, shape: Shape, k: int, part: str = "all", depth: int = 2) -> None:
    """Δ_k, the gradients of W_k and b_k and (except for the first layer) D_{k−1}; ``part``
    ``"deltas"``: Δ_k and D_{k−1} only, ``"grads"``: the gradients only."""
    wo, bo = _names(k)
    name = shape.activations[k]
    if part != "grads":
        w(depth, f"# layer {k + 1}: Δ = D ⊙ f'" + ("" if k == 0 else ", D_prev = Δ Wᵀ")
          + (", ∂L/∂W = A_prevᵀ Δ, ∂L/∂b = Σ_n Δ" if part == "all" else ""))
    else:
        w(depth, f"# layer {k + 1}: ∂L/∂W = A_prevᵀ Δ, ∂L/∂b = Σ_n Δ")
    w(depth, f"ni, no = dims[{k}], dims[{k + 1}]")
    if part != "grads" and name != "linear":
        w(depth, f"""p = act_params[{k}]
for i in range(st{k + 1}, st{k + 1} + nb * no):  # Δ = D ⊙ f'(A) (gelu: f'(Z))
    d[_u(i)] *= df_{name}(act[_u(i)], z[_u(i)], p)""")
    if part != "deltas" and not shape.single:
        w(depth, f"for i in range({wo}, {bo} + no):\n    grad[_u(i)] = zero")
    set_or_add = "=" if shape.single else "+="
    b = _rows(w, shape, depth)
    w(b, "xo = st{} + n * ni\ndo = st{} + n * no".format(k, k + 1))
    if part != "deltas":
        w(b, f"""for i in range(ni):
    x = act[_u(xo + i)]
    wi = {wo} + i * no
    for j in range(no):
        grad[_u(wi + j)] {set_or_add} x * d[_u(do + j)]
for j in range(no):
    grad[_u({bo} + j)] {set_or_add} d[_u(do + j)]""")
    if k > 0 and part != "grads":
        w(b, f"""for i in range(ni):
    wi = {wo} + i * no
    t = zero
    for j in range(no):
        t += theta[_u(wi + j)] * d[_u(do + j)]
    d[_u(xo + i)] = t""")


def _per_row(shape: Shape) -> bool:
    """Whether the loss has one term per row (cross-entropy: its fused form is a ``row``)."""
    from .losses import fused_entry
    entry = fused_entry(shape.loss)
    return entry is not None and entry.fused is not None and entry.fused.row is not None


def penalised(shape: Shape) -> bool:
    """Whether the loss adds scikit-learn's penalty α/(2 Σ s) Σ‖W‖² (α: its number)."""
    from .losses import fused_entry
    entry = fused_entry(shape.loss)
    return entry is not None and entry.fused is not None and entry.fused.penalty


def _weight_ranges(shape: Shape) -> list[tuple[str, str]]:
    """Where each layer's weights start and end in theta: numbers in the all-locals form,
    the names set at the epoch's top in the loops form (``_names``)."""
    if scalar(shape):
        return [(str(wo), str(bo)) for wo, bo in shape.offsets]
    return [_names(k) for k in range(len(shape.widths) - 1)]


def _penalty(w: _Writer, shape: Shape, part: str) -> None:
    """scikit-learn's penalty: ``"loss"`` adds Σ_k (λ/2) Σ W_k² to L (λ = α / Σ s, Σ s the
    batch's rows or weight); ``"grads"`` adds λ W to the weights' gradients (in the
    all-locals form to the locals ``g{p}``, in the loops form to ``grad``)."""
    if part == "loss":
        w(2, """# the penalty α/(2 Σ s) Σ‖W‖² (α: the loss's number; biases not penalised)
lam = 0.0
rows_ = weights if W.size else nb
if loss_param != 0.0 and rows_ > 0:
    lam = loss_param / rows_
    half = 0.5 * lam
    extra = 0.0""")
        for wo, bo in _weight_ranges(shape):
            w(3, f"""sq = zero
for i in range({wo}, {bo}):
    sq += theta[_u(i)] * theta[_u(i)]
extra += half * sq""")
        w(3, "loss += extra")
    elif scalar(shape):
        w(2, "if lam != 0.0:  # the penalty's gradient λW on each weight")
        for wo, bo in shape.offsets:
            w(3, "\n".join(f"g{i} = _cast(g{i} + lam * theta[{i}], zero)"
                           for i in range(wo, bo)))
    else:
        w(2, "if lam != 0.0:  # the penalty's gradient λW on each weight")
        for wo, bo in _weight_ranges(shape):
            w(3, f"""for i in range({wo}, {bo}):
    grad[_u(i)] += lam * theta[_u(i)]""")


def _each(shape: Shape) -> bool:
    """Whether the rule has no state and a form for one weight (plain SGD: ``each``)."""
    from .optim import RULES
    return shape.rule in RULES and RULES[shape.rule].each is not None


def fused_update(shape: Shape) -> bool:
    """Whether the epoch moves each weight as it forms its gradient (``_sgd_in_place``): a
    rule without state (plain SGD), one row a batch, not every number local."""
    return shape.single and _each(shape) and not scalar(shape) and not penalised(shape)


def _sgd_in_place(w: _Writer, shape: Shape) -> None:
    """After Δ and D of every layer: if Σ_i |A_{k−1,i}| · Σ_j |Δ_kj| is finite (then so is
    every product A_{k−1,i} Δ_kj, each gradient; a NaN or ∞ anywhere makes it not finite),
    move each weight by the SGD rule as its gradient is formed, in one pass over the
    weights; otherwise form the gradients first, check them and stop or update as the other
    forms do (sums that overflow where no product does only take that slower way)."""
    nl = len(shape.widths) - 1
    w(2, "# every gradient is a product A_prev,i Δ_j: finite if Σ|A_prev| · Σ|Δ| is")
    w(2, "ok = True")
    for k in range(nl):
        w(2, f"""big = abs_sum(act, st{k}, st{k + 1}, zero) * abs_sum(d, st{k + 1}, st{k + 2}, zero)
ok &= abs(big) < np.inf  # False for ∞ and NaN""")
    w(2, "if ok:")
    w(3, f"# the update: the optimiser's rule ({shape.rule}), weight by weight, as each "
         "gradient forms")
    for k in range(nl):
        wo, bo = _names(k)
        w(3, f"""ni, no = dims[{k}], dims[{k + 1}]
for i in range(ni):
    x = act[_u(st{k} + i)]
    wi = {wo} + i * no
    for j in range(no):
        theta[_u(wi + j)] = rule_each(theta[_u(wi + j)], x * d[_u(st{k + 1} + j)], lr, hyper)
for j in range(no):
    theta[_u({bo} + j)] = rule_each(theta[_u({bo} + j)], d[_u(st{k + 1} + j)], lr, hyper)""")
    w(2, "else:")
    for k in range(nl - 1, -1, -1):
        _backward(w, shape, k, "grads", 3)
    _update(w, shape, 3)


def _loss(w: _Writer, shape: Shape) -> None:
    """The rows' terms r_n, D_L = ∂ℓ/∂ŷ and the shares s_n; returns if L is not finite."""
    nl = len(shape.widths) - 1
    k = f"dims[{nl}]"  # the outputs
    w(2, f"# the loss ({shape.loss}): r_n and D_L = ∂ℓ/∂ŷ, then the rows' shares s_n")
    if _per_row(shape):  # one term a row: the row's arrays (views; a row's sums are numbers)
        w(2, f"""for n in range(nb):
    lo = st{nl} + n * {k}
    r[_u(n)], g = loss_row(act[lo:lo + {k}], Y[order[_u(start + n)]])
    for j in range({k}):
        d[_u(lo + j)] = g[_u(j)]""")
        per_element = "1.0"
    else:  # one term an output: r_n = the mean of the row's terms
        w(2, f"""for n in range(nb):
    row = order[start + n]
    lo = st{nl} + n * {k}
    terms = 0.0
    for j in range({k}):
        value, d[_u(lo + j)] = loss_term(act[_u(lo + j)], Y[row, j], loss_param)
        terms += value
    r[n] = terms / {k}""")
        per_element = f"1.0 / {k}"
    w(2, f"""weights = 0.0
if W.size:
    for n in range(nb):
        weights += W[order[start + n]]
loss = 0.0
for n in range(nb):
    if W.size:
        share = W[order[start + n]] / weights if weights > 0 else 0.0
    else:
        share = 1.0 / nb
    loss += share * r[n]
    scale = share * {per_element}
    for j in range({k}):
        d[_u(st{nl} + n * {k} + j)] *= scale""")
    if penalised(shape):
        _penalty(w, shape, "loss")
    w(2, """if not np.isfinite(loss):
    return total, seen, batches, 1, loss""")


def _update(w: _Writer, shape: Shape, depth: int = 2) -> None:
    """Stop before any weight moves if a gradient is not finite; else the update."""
    n = shape.size
    w(depth, "# a gradient that is not finite stops the epoch before any weight moves")
    if scalar(shape):
        w(depth, "bad = False\n" + "\n".join(f"bad |= not abs(g{i}) < np.inf" for i in range(n)))
        if not _each(shape):
            w(depth, "\n".join(f"grad[{i}] = g{i}" for i in range(n)))
    else:
        w(depth, "bad = False\nfor i in range(theta.size):\n    g = grad[i]\n    bad |= not abs(g) < np.inf")
    w(depth, "if bad:")
    if scalar(shape) and _each(shape):
        w(depth + 1, "\n".join(f"grad[{i}] = g{i}" for i in range(n)))
    w(depth + 1, "failed, value = first_bad(grad, bounds)\nreturn total, seen, batches, 2 + failed, value")
    w(depth, f"# the update: the optimiser's rule ({shape.rule}), weight by weight")
    if _each(shape) and scalar(shape):
        w(depth, "\n".join(f"theta[{i}] = rule_each(theta[{i}], g{i}, lr, hyper)"
                            for i in range(n)))
    else:
        w(depth, "rule_update(hyper, theta, grad, s1, s2, s3, step0 + batches + 1, lr)")


def scalar(shape: Shape) -> bool:
    """Whether the epoch keeps every number of a step in a local (``_scalar_step``): one row
    a batch, a network of at most ``SCALAR_WEIGHTS`` weights, and a loss with a term per
    output (not one per row, as cross-entropy)."""
    return shape.single and shape.weights <= SCALAR_WEIGHTS and not _per_row(shape)


def _scalar_forward(w: _Writer, shape: Shape, depth: int) -> None:
    """The forward pass of row ``row`` of X with every number a local (``_scalar_step``)."""
    nl, widths = len(shape.widths) - 1, shape.widths
    for i in range(widths[0]):
        w(depth, f"a0_{i} = X[row, {i}]")
    for k in range(1, nl + 1):
        wo, bo = shape.offsets[k - 1]
        name = shape.activations[k - 1]
        w(depth, f"# layer {k}: z = Σ_i O_{k - 1}i w^{k}_ij + b_{k}j (in the order of i), "
                 f"O = {name}(z)")
        for j in range(widths[k]):
            terms = " + ".join(f"a{k - 1}_{i} * theta[{wo + i * widths[k] + j}]"
                               for i in range(widths[k - 1]))
            w(depth, f"z{k}_{j} = {terms} + theta[{bo + j}]")
            w(depth, f"a{k}_{j} = _cast(f_{name}(z{k}_{j}, act_params[{k - 1}]), zero)")


# what an epoch's module defines, each compiled by numba
FUNCTIONS = ("epoch", "outputs", "shuffle", "buffer")
OUTPUT_ROWS = 64  # the loops form's forward over many rows (``outputs``) takes this many at a time


def _outputs(w: _Writer, shape: Shape) -> None:
    """``outputs``: the network's outputs for every row of X (the forward pass alone, as the
    epoch computes it), for the per-epoch scores without a graph and without BLAS."""
    nl = len(shape.widths) - 1
    w(0, f"""

@numba.njit(cache=True, {", ".join(f"{k}={v!r}" for k, v in jit_options(shape).items())})
def outputs(X, theta, dims, act_params, out):
    \"\"\"The network's outputs (A_L) for every row of X, into ``out`` (rows × outputs).\"\"\"
    zero = _cast(0.0, theta[0])  # 0 in the weights' type""")
    if scalar(shape):
        w(1, "for row in range(X.shape[0]):")
        _scalar_forward(w, shape, 2)
        for j in range(shape.widths[-1]):
            w(2, f"out[row, {j}] = a{nl}_{j}")
        return
    many = Shape(shape.widths, shape.activations, shape.loss, shape.rule, False)
    w(1, f"bs = {OUTPUT_ROWS}\nst0 = 0")
    for k in range(1, nl + 2):
        w(1, f"st{k} = st{k - 1} + dims[{k - 1}] * bs")
    w(1, "wo0 = 0")
    for k in range(nl):
        w(1, f"bo{k} = wo{k} + dims[{k}] * dims[{k + 1}]\nwo{k + 1} = bo{k} + dims[{k + 1}]")
    w(1, f"""act = np.empty(st{nl + 1}, dtype=theta.dtype)
z = np.empty_like(act)
for start in range(0, X.shape[0], bs):""")
    w(2, """nb = min(bs, X.shape[0] - start)
for n in range(nb):
    for i in range(dims[0]):
        act[_u(n * dims[0] + i)] = X[start + n, i]""")
    for k in range(nl):
        _forward(w, many, k)
    w(2, f"""for n in range(nb):
    for j in range(dims[{nl}]):
        out[start + n, j] = act[_u(st{nl} + n * dims[{nl}] + j)]""")


def _scalar_step(w: _Writer, shape: Shape) -> None:
    """Forward, loss and backward of one row with every number a local: a{k}_{j} = A,
    z{k}_{j} = Z, e{k}_{j} = D then Δ (the seed's O_kj, their sums and ∂L/∂O_kj) and g{p}
    the gradient of parameter number p of ``theta``.  Each is rounded to the weights' type
    (``_cast(…, zero)``) where the loops form stores it in an array of that type, so
    float32 behaves alike in both (the shared functions' literals are float64)."""
    nl, widths = len(shape.widths) - 1, shape.widths
    w(2, "row = order[start]")
    w(2, f"""# the row {READ_AHEAD} steps on, read now: its numbers are in the cache when its step
# comes, though the order is shuffled (its sum is returned, so that the reads stay)
ahead = order[min(start + {READ_AHEAD}, order.size - 1)]
touch += X[ahead, 0] + X[ahead, {widths[0] - 1}] + Y[ahead, 0]""")
    _scalar_forward(w, shape, 2)
    K = widths[-1]
    w(2, f"# the loss ({shape.loss}): the mean of the row's {K} terms, then ∂ℓ/∂ŷ × its share")
    w(2, "terms = 0.0")
    for j in range(K):
        w(2, f"value, slope_ = loss_term(a{nl}_{j}, Y[row, {j}], loss_param)")
        w(2, f"e{nl}_{j} = _cast(slope_, zero)\nterms += value")
    w(2, f"""terms /= {K}
share, weights = 1.0, 0.0
if W.size:
    weights = 0.0 + W[row]
    share = W[row] / weights if weights > 0 else 0.0
loss = share * terms""")
    if penalised(shape):
        _penalty(w, shape, "loss")
    w(2, f"""if not np.isfinite(loss):
    return total, seen, batches, 1, loss
scale = share * (1.0 / {K})""")
    for j in range(K):
        w(2, f"e{nl}_{j} = _cast(e{nl}_{j} * scale, zero)")
    for k in range(nl, 0, -1):
        wo, bo = shape.offsets[k - 1]
        name = shape.activations[k - 1]
        w(2, f"# layer {k}: Δ = ∂L/∂O ⊙ f', ∂L/∂w^{k}_ij = O_{k - 1}i Δ_j, ∂L/∂b_{k}j = Δ_j"
             + (f", ∂L/∂O_{k - 1}i = Σ_j w^{k}_ij Δ_j" if k > 1 else ""))
        for j in range(widths[k]):
            if name != "linear":
                w(2, f"e{k}_{j} = _cast(e{k}_{j} * df_{name}(a{k}_{j}, z{k}_{j}, "
                     f"act_params[{k - 1}]), zero)")
        for i in range(widths[k - 1]):
            for j in range(widths[k]):
                w(2, f"g{wo + i * widths[k] + j} = a{k - 1}_{i} * e{k}_{j}")
        for j in range(widths[k]):
            w(2, f"g{bo + j} = e{k}_{j}")
        if k > 1:
            for i in range(widths[k - 1]):
                terms = " + ".join(f"theta[{wo + i * widths[k] + j}] * e{k}_{j}"
                                   for j in range(widths[k]))
                w(2, f"e{k - 1}_{i} = {terms}")
    if penalised(shape):
        _penalty(w, shape, "grads")


def _bindings(shape: Shape) -> str:
    """The epoch module's names for the fused forms it calls."""
    lines = [f"f_{name}, df_{name} = _fk.activation({name!r})"
             for name in dict.fromkeys(shape.activations)]
    form = "loss_row" if _per_row(shape) else "loss_term"
    lines.append(f"{form} = _fk.loss({shape.loss!r})")
    lines.append(f"rule_update, rule_each = _fk.rule({shape.rule!r})")
    return "\n".join(lines)


def jit_options(shape: Shape) -> dict:
    """How numba compiles the epoch for ``shape`` (``JIT_OPTIONS``)."""
    return JIT_OPTIONS if scalar(shape) else LOOPS_JIT_OPTIONS


def source(shape: Shape, stamp: str = "") -> str:
    """The module that defines ``epoch`` for ``shape``; ``stamp`` goes in its docstring."""
    nl = len(shape.widths) - 1
    w = _Writer()
    what = f"{'-'.join(map(str, shape.widths))} network" if scalar(shape) else \
        f"network of {nl} layers, any widths"
    w(0, f'''"""The fused epoch for a {what} \
({", ".join(shape.activations)}; {shape.loss}; {shape.rule}{"; one row a batch" if shape.single else ""}).

Written by chainrule.fastcode (read it there); compiled by numba.  {stamp}
"""

import numba
import numpy as np

from chainrule import fastkernel as _fk
from chainrule.fastkernel import _u, abs_sum, buffer_rows, first_bad, permutation  # noqa: F401
from chainrule.ops import _cast

# the tables' fused forms, by name (``fastkernel.activation``, ``loss``, ``rule``)
{_bindings(shape)}


@numba.njit(cache=True, {", ".join(f"{k}={v!r}" for k, v in jit_options(shape).items())})
def epoch(X, Y, W, order, bs, theta, grad, dims, act_params, loss_param, hyper, s1, s2, s3,
          step0, lr, total):
    """Every batch of ``order``: forward, loss, backward, update (``fastkernel.epoch``)."""''')
    if shape.single:
        w(1, "bs = 1")
    if not scalar(shape):
        w(1, "st0 = 0  # where layer k's rows start in act, z and d")
        for k in range(1, nl + 2):
            w(1, f"st{k} = st{k - 1} + dims[{k - 1}] * bs")
        w(1, "wo0 = 0  # where layer k's weights (wo) and biases (bo) start in theta")
        for k in range(nl):
            w(1, f"bo{k} = wo{k} + dims[{k}] * dims[{k + 1}]\nwo{k + 1} = bo{k} + dims[{k + 1}]")
        ends = ", ".join(f"{name}{k}" for k in range(nl) for name in ("wo", "bo")) + f", wo{nl}"
    else:
        ends = [0]
        for (ni, no), (wo, bo) in zip(zip(shape.widths[:-1], shape.widths[1:]), shape.offsets):
            ends += [wo + ni * no, bo + no]
        ends = ", ".join(map(str, ends))
    w(1, "zero = _cast(0.0, theta[0])  # 0 in the weights' type")
    if not scalar(shape):
        w(1, f"""act = np.empty(st{nl + 1}, dtype=theta.dtype)  # A_k, k = 0 … {nl}
z = np.empty_like(act)  # Z_k
d = np.empty_like(act)  # D_k, then Δ_k
r = np.empty(bs)""")
    w(1, f"""bounds = np.array([{ends}])  # where each parameter ends in theta
seen, batches, touch = 0, 0, 0.0
for start in range(0, order.size, bs):""")
    w(2, "nb = 1" if shape.single else "nb = min(bs, order.size - start)")
    if scalar(shape):
        _scalar_step(w, shape)
    else:
        w(2, "for n in range(nb):\n    row = order[start + n]\n"
             "    for i in range(dims[0]):\n"
             "        act[_u(n * dims[0] + i)] = X[row, i]")
        for k in range(nl):
            _forward(w, shape, k)
        _loss(w, shape)
        if fused_update(shape):
            for k in range(nl - 1, -1, -1):
                _backward(w, shape, k, "deltas")
            _sgd_in_place(w, shape)
        else:
            for k in range(nl - 1, -1, -1):
                _backward(w, shape, k)
            if penalised(shape):
                _penalty(w, shape, "grads")
    if not fused_update(shape):
        _update(w, shape)
    w(2, "total += loss * nb\nseen += nb\nbatches += 1")
    w(1, "return total, seen, batches, 0, touch")
    _outputs(w, shape)
    w(0, f"""

@numba.njit(cache=True, {", ".join(f"{k}={v!r}" for k, v in JIT_OPTIONS.items())})
def shuffle(halves, has32, high, order):
    \"\"\"NumPy's permutation of the rows from its raw draws (``fastkernel.permutation``).\"\"\"
    return permutation(halves, has32, high, order)


@numba.njit(cache=True, {", ".join(f"{k}={v!r}" for k, v in JIT_OPTIONS.items())})
def buffer(slots, held_x, rows_x, out_x, held_y, rows_y, out_y):
    \"\"\"A streamed run's shuffle buffer, row after row (``fastkernel.buffer_rows``).\"\"\"
    buffer_rows(slots, held_x, rows_x, out_x, held_y, rows_y, out_y)""")
    return "\n".join(w.lines) + "\n"


def example() -> str:
    """The source for the seed's network (2-2-1, linear, MSE, SGD, one row a batch)."""
    return source(Shape((2, 2, 1), ("linear", "linear"), "mse", "sgd", True))


# -- where the sources live ------------------------------------------------------------

# The files whose code a compiled epoch runs (paths relative to the package).
RUNS_CODE_OF = ("ops.py", "losses.py", "optim.py", "nn/activations.py", "fastkernel.py",
                "fastcode.py")


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """A hash of the code a compiled epoch runs (``RUNS_CODE_OF``)."""
    h = hashlib.sha256()
    package = Path(__file__).parent
    for name in RUNS_CODE_OF:
        h.update((package / name).read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    """Where the epochs' sources are kept (numba keeps its compiled code next to them, in
    ``__pycache__``, unless ``$NUMBA_CACHE_DIR`` says otherwise): ``$CHAINRULE_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/chainrule`` (``~/.cache/chainrule``; a relative XDG_CACHE_HOME
    is ignored, as the XDG rule says, and an empty or relative HOME too)."""
    base = os.environ.get("CHAINRULE_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(xdg):  # the XDG rule: a relative (or empty) one is ignored
            home = os.environ.get("HOME", "")
            if not os.path.isabs(home):  # HOME="" would give /.cache: ask the user database
                try:
                    import pwd
                    home = pwd.getpwuid(os.getuid()).pw_dir
                except (ImportError, KeyError, AttributeError):
                    home = ""
            xdg = os.path.join(home, ".cache") if os.path.isabs(home) else \
                os.path.join(tempfile.gettempdir(), f"chainrule-cache-{getattr(os, 'getuid', lambda: 0)()}")
        base = os.path.join(xdg, "chainrule")
    return Path(base) / "kernels"


def source_file(shape: Shape) -> tuple[str, str, Path]:
    """(module name, source, file) of the epoch for ``shape``.  The name is a hash of the
    source, which names ``fingerprint()``: an edit of the code it runs makes a new file,
    compiled afresh, so numba's cache never hands back a stale epoch."""
    text = source(shape, f"Code fingerprint {fingerprint()[:16]}.")
    name = "chainrule_epoch_" + hashlib.sha256(text.encode()).hexdigest()[:20]
    return name, text, cache_dir() / f"{name}.py"


_fallback: list[tempfile.TemporaryDirectory] = []  # this process's, if the cache isn't usable


class CacheWarning(RuntimeWarning):
    """The kernel cache could not be used as it is (damaged, or writable by others)."""


def warn(message: str) -> None:
    """One line on stderr (through ``warnings``, so it can be filtered): ``chainrule: …``."""
    import warnings

    warnings.warn_explicit(message, CacheWarning, "chainrule", 0, module="chainrule")


def scratch_dir() -> Path:
    """This process's own folder for epochs (created 0700, removed when it exits)."""
    if not _fallback:
        _fallback.append(tempfile.TemporaryDirectory(prefix="chainrule-kernels-"))
    return Path(_fallback[0].name)


class UnsafeCache(PermissionError):
    """A cache folder another user owns, or that others may write into."""


def private(folder: Path) -> None:
    """Create ``folder`` (and any missing folder above it) readable and writable by this user
    only (0700); raise ``UnsafeCache`` if it exists but is another user's or others can
    write into it: what is in it is imported and run."""
    missing, above = [], folder
    while not above.exists() and above != above.parent:
        missing.append(above)
        above = above.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            pass
    info = folder.stat()
    if hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise UnsafeCache(f"{folder} is writable by other users")


def write(path: Path, text: str) -> Path:
    """Write the source unless it is there (a whole file or none: another process may be
    writing the same text), in a folder only this user can write (``private``).  Without
    such a folder: into one temporary folder for this process, removed when it exits
    (numba then compiles in every process).  Raises ``OSError`` when neither can be
    written."""
    try:
        private(path.parent)
        if not path.is_file():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(text)}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
            prune(path.parent)  # a new epoch: a moment to let go of the long-unused ones
        return path
    except OSError as exc:
        if isinstance(exc, UnsafeCache) and not _fallback:
            warn(f"not using the kernel cache: {exc}, and what is in it is run as code; "
                 f"compiling in a temporary folder instead (chmod 700 {path.parent} to cache)")
        fallback = scratch_dir() / path.name
        if not fallback.is_file():
            fallback.write_text(text, encoding="utf-8")
        return fallback


def intact(source: Path) -> bool:
    """Whether the epoch's file is the source chainrule wrote: its name ends in the SHA-256
    of that source (``source_file``), so the file's bytes must hash to it.  Raises
    ``FileNotFoundError`` if it is gone."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return source.stem.startswith("chainrule_epoch_") and \
        digest.startswith(source.stem.removeprefix("chainrule_epoch_").split("_")[0])


def discard(source: Path) -> list[Path]:
    """Remove an epoch's source, its marker and numba's compiled files for it (best effort:
    what can't be removed stays); returns what it removed."""
    removed = []
    for path in (*_numba_folder(source.parent).glob(f"{source.stem}.*"), _marker(source), source):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _marker(source: Path) -> Path:
    return source.with_name(f".{source.stem}.used")


def _numba_folder(folder: Path) -> Path:
    """Where numba keeps its compiled files for the sources in ``folder``: ``__pycache__``
    beside them or, with ``$NUMBA_CACHE_DIR``, the subfolder numba names after ``folder``
    (its name and the SHA-1 of its absolute path, as numba's cache locator does).  Once
    numba is imported, its own setting (read from the variable at its import) decides."""
    config = sys.modules.get("numba.core.config")
    numba_cache = getattr(config, "CACHE_DIR", None) if config is not None else \
        os.environ.get("NUMBA_CACHE_DIR")
    if not numba_cache:
        return folder / "__pycache__"
    where = os.path.abspath(folder)
    digest = hashlib.sha1(where.encode()).hexdigest()
    return Path(numba_cache) / f"{os.path.basename(where)}_{digest}"


def mark_used(source: Path) -> None:
    """Note that the epoch in ``source`` is in use (``prune`` goes by it): the time of an
    empty file beside it, never the source's own (numba's cache checks the source: its
    time and size in older numba, its contents in newer)."""
    try:
        _marker(source).touch()
    except OSError:
        pass


def prune(folder: Path, keep_days: float = KEEP_DAYS) -> list[Path]:
    """Remove from ``folder`` the epochs not used for ``keep_days`` (by ``mark_used``, or
    written then) with numba's compiled files for them; numba's files and markers left
    without a source (pruned while a long run still used it) once they are as old; and
    temporary files a killed write left a day ago.  Returns what it removed.  Best
    effort: what can't be removed stays."""
    now, removed = time.time(), []
    compiled = _numba_folder(folder)

    def unused(path: Path, seconds: float = keep_days * 86400) -> bool:
        try:
            return now - path.stat().st_mtime > seconds
        except OSError:  # gone meanwhile
            return not path.exists()

    def remove(path: Path) -> None:
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass

    for source in folder.glob("chainrule_epoch_*.py"):
        if unused(source) and unused(_marker(source)):
            for path in (*compiled.glob(f"{source.stem}.*"), _marker(source), source):
                remove(path)
    for path in (*compiled.glob("chainrule_epoch_*"), *folder.glob(".chainrule_epoch_*.used")):
        stem = path.name.lstrip(".").split(".")[0]
        if not (folder / f"{stem}.py").exists() and unused(path):
            remove(path)
    for tmp in folder.glob(".chainrule_epoch_*.tmp"):
        if unused(tmp, 86400):
            remove(tmp)
    return removed


def cached_on_disk(shape: Shape) -> bool:
    """Whether numba has the epoch for ``shape`` and its forward (``outputs``) compiled in
    its cache, by this Python (numba's index is
    ``<module>.<function>-<line>.py<major><minor>.nbi``), for some number type: the index
    does not say which."""
    name, _, path = source_file(shape)
    if not path.is_file():
        return False
    folder, py = _numba_folder(path.parent), f"py{sys.version_info[0]}{sys.version_info[1]}"
    return all(any(folder.glob(f"{name}.{function}-*.{py}*.nbi")) for function in FUNCTIONS)
