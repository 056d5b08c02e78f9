"""The fused training path: one compiled loop per epoch instead of a graph per step.

``fit(engine=...)`` asks ``choose`` for a ``Plan`` (``reason`` says why there is none)
and calls ``Plan.run`` once per epoch, with the epoch's row order.  A plan does what the
graph engine's epoch does, batch after batch (forward, loss, backward, update;
``fastcode`` writes the formulas out per network shape), on the model's own weights and
the optimiser's own state, and gives the same numbers (to rounding: see the parity
tests): it runs the very functions of ``ops`` (activations and their derivatives; tanh
itself, for one number, is ``fastkernel.tanh``), ``losses`` (``value`` and ``grad``, or
both in one pass) and ``optim`` (the update rules), compiled by numba.  It is an
optimisation, never a second implementation: ``tests/test_fastpath.py`` trains every
supported combination both ways and requires equal weights.

What it runs is what the tables say: each entry of the activation, loss and optimiser
tables (``nn.activations.ACTIVATIONS``, ``losses.LOSSES``, ``optim.OPTIMIZERS``) carries
its fused form, and the compiled loop calls those by name (``fastkernel``, ``fastcode``):

* a ``Sequential`` of ``Dense`` layers, all float64 or all float32, whose activations have
  a fused form (every one but softmax);
* a loss with a fused form (mse, mae, huber, bce, cross_entropy), with or without sample
  weights;
* an optimiser of the table (SGD with momentum, Nesterov, weight decay; Adam, AdamW,
  RMSprop, Adagrad) at the rate ``opt.lr`` of the epoch (so schedules work);
* any batch size.

What it declines (``reason`` says why, and ``fit`` uses the graph engine, or raises
``ConfigError`` for ``engine="fused"``): an entry without a fused form (its
``declined`` says why: softmax), any other model, layer, activation, loss or optimiser,
including subclasses and hand-made ones; an optimiser over other
parameters than the model's; callbacks that override ``on_batch_begin`` or
``on_batch_end`` (the fused loop has no Python between steps; per-epoch callbacks,
validation and early stopping work as on the graph engine); data whose columns don't
fit the model (the graph engine explains the mismatch); and, for small steps, a machine
without numba (big steps compile nothing and need only NumPy).

A plan runs small steps (batch size × weights ≤ ``AUTO_MAX_WORK``) in the compiled loop,
whose products are plain loops, and big ones as NumPy's BLAS products on arrays it
allocates once per epoch, with the optimiser's own ``step`` (``Plan._run_blas``).
``engine="auto"`` takes a plan where it pays (see ``choose``): always for big steps and
whenever the loop is compiled already (in memory or in the disk cache), and otherwise
when the graph engine would take longer for the run than compiling the loop (both
measured: ``COMPILE_SECONDS``, ``GRAPH_STEP_SECONDS``); a compile is announced first
(``on_compile``).  A shuffled epoch's order is NumPy's ``rng.permutation``, the same
numbers, drawn in the compiled module (``Plan.permutation``), and the all-locals form
reads rows through it a few steps ahead (``Plan.reads_ahead``), so shuffling costs a few
nanoseconds a row.  Ctrl-C stops it between chunks of ``CHUNK_ROWS``
rows rather than after the step.  numba is imported when a ``Plan`` first runs its
compiled loop, never by ``import chainrule`` (nor by the BLAS form).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from .data import all_finite
from .errors import ConfigError
from .losses import Loss, fused_entry
from .nn.activations import ACTIVATIONS
from .nn.layers import Dense, Sequential
from .nn.module import Module
from .optim import OPTIMIZERS, Optimizer

BATCH_HOOKS = ("on_batch_begin", "on_batch_end")
CHUNK_ROWS = 1 << 16  # rows per compiled call: Ctrl-C is noticed between calls
ENGINES = ("auto", "fused", "graph")
# Measured here (benchmarks/README.md): numba compiles an epoch in about BASE + PER_LAYER
# seconds a layer; the graph engine takes about PER_STEP seconds a layer and step, plus
# PER_MADD a multiply-add (forward and backward: three products).
COMPILE_SECONDS = (4.0, 3.0)
GRAPH_STEP_SECONDS = (25e-6, 1e-9)
AUTO_MAX_WORK = 250_000  # steps of more multiply-adds (batch × weights) run as BLAS products
# NumPy's permutation of n rows takes about 0.69 n 64-bit draws (its rejections: 1.39 32-bit
# numbers a row); ``Plan.permutation`` asks for this many a row (and 64), more if they run out.
DRAWS_PER_ROW = 0.75


def plain(fn: Any) -> Any:
    """The function under a ``functools.partial`` (the fused loop passes its numbers)."""
    return fn.func if isinstance(fn, partial) else fn


def _same(a: Any, b: Any, fields: tuple[str, ...]) -> bool:
    return all(plain(getattr(a, f)) is plain(getattr(b, f)) for f in fields)


def _model_reason(model: Module, params: list) -> str | None:
    if type(model) is not Sequential:
        return f"the model is a {type(model).__name__}, not a Sequential of Dense layers"
    dtypes = set()
    for k, layer in enumerate(model.layers, 1):
        if type(layer) is not Dense:
            return f"layer {k} is a {type(layer).__name__}, not a Dense layer"
        act = layer.activation
        table = ACTIVATIONS.get(act.name)
        if table is None or not _same(act, table, ("fn", "grad")) or \
                act.grad_from != table.grad_from or act.fused is not table.fused:
            return f"layer {k}'s activation {act.name!r} is not the one in chainrule's table"
        if table.fused is None:
            return f"layer {k}'s activation {act.name!r} has no fused form: {table.declined}"
        dtypes |= {layer.weight.dtype, layer.bias.dtype}
    if len(dtypes) != 1 or not dtypes <= {np.dtype(np.float64), np.dtype(np.float32)}:
        return f"the layers mix number types ({', '.join(sorted(map(str, dtypes)))})"
    expected = [p for layer in model.layers for p in (layer.weight, layer.bias)]
    if len({id(p) for p in expected}) != len(expected):
        return "a layer is used more than once (its weights would get two gradients)"
    if len(params) != len(expected) or any(p is not q for p, q in zip(params, expected)):
        return "some weights or biases are frozen (requires_grad=False)"
    return None


def _loss_reason(loss: Loss, outputs: int, model: Module) -> str | None:
    table = fused_entry(loss.name)
    if table is None:
        return f"the loss {loss.name!r} is not in chainrule's table"
    if not _same(loss, table, ("grad", "value", "both")) or loss.fused is not table.fused or \
            set(loss.params) != set(table.params):
        return f"the loss {loss.name!r} is not the one in chainrule's table"
    if table.fused is None:
        return f"the loss {loss.name!r} has no fused form: {table.declined}"
    if loss.per_row and outputs < 2:
        return f"{loss.name} needs 2 or more outputs"
    if table.fused.penalty and getattr(loss, "model", None) is not model:
        return f"the loss {loss.name!r} penalises another model's weights"
    return None


def _optimizer_reason(opt: Optimizer, params: list) -> str | None:
    if type(opt) not in OPTIMIZERS.values():
        return (f"the optimiser {type(opt).__name__} is not one of chainrule's table (a "
                "subclass may step otherwise)")
    if opt.fused_rule() is None:
        return f"the optimiser {type(opt).__name__} has no fused form"
    if len(opt.params) != len(params) or any(p is not q for p, q in zip(opt.params, params)):
        return "the optimiser updates other parameters than the model's, or in another order"
    if len(set(getattr(opt, "t", [0]))) > 1:
        return "the optimiser's parameters are at different step numbers"
    return None


def uses_batch_hooks(callback: Any) -> bool:
    """Whether a callback overrides ``on_batch_begin`` or ``on_batch_end`` (in its class or
    on the object itself)."""
    return any(name in getattr(callback, "__dict__", {}) or
               getattr(getattr(type(callback), name, None), "__qualname__", "Callback." + name)
               != "Callback." + name for name in BATCH_HOOKS)


def widths(model: Sequential) -> tuple[int, ...]:
    """Neurons per layer of a Sequential of Dense layers, inputs first (the seed's 2, 2, 1)."""
    return (model.layers[0].fan_in,) + tuple(layer.fan_out for layer in model.layers)


def big_steps(sizes: Sequence[int], batch_size: int) -> bool:
    """Whether steps of ``batch_size`` rows through a network of these widths are big
    enough (batch × weights > ``AUTO_MAX_WORK`` multiply-adds) to run as BLAS products."""
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return batch_size * weights > AUTO_MAX_WORK


def reason(model: Module, loss: Loss, optimizer: Optimizer, callbacks: Sequence[Any] = (),
           columns: tuple[int, int] | None = None, batch_size: int | None = None) -> str | None:
    """Why the fused path can't train this, in words; None when it can.

    ``columns`` is (input columns, target columns) of the prepared data, if known;
    ``batch_size`` the rows a step, if known (big steps run as BLAS products and need no
    numba, ``big_steps``).
    """
    params = model.parameters()
    why = _model_reason(model, params) or _optimizer_reason(optimizer, params)
    if why is None:
        why = _loss_reason(loss, model.layers[-1].fan_out, model)
    if why is None and columns is not None and tuple(columns) != (model.layers[0].fan_in,
                                                                 model.layers[-1].fan_out):
        why = (f"the data have {columns[0]} input and {columns[1]} target columns, the model "
               f"{model.layers[0].fan_in} inputs and {model.layers[-1].fan_out} outputs")
    if why is None:
        hooked = [type(cb).__name__ for cb in callbacks if uses_batch_hooks(cb)]
        if hooked:
            why = f"the callback {hooked[0]} needs a hook after every batch"
    if why is None:
        blas = batch_size is not None and big_steps(widths(model), batch_size)  # compiles nothing
        if not blas and sys.modules.get("numba") is None and \
                importlib.util.find_spec("numba") is None:  # (imported already: it's there)
            why = "numba is not installed (pip install numba)"
    return why


@dataclass
class EpochResult:
    """What ``Plan.run`` did: Σ batch loss × rows, rows, batches (steps) done, and, if a
    batch's loss or gradient was not finite, what (``"loss"`` or ``"gradient"``) and its
    value; that batch changed nothing."""

    total: float
    seen: int
    steps: int
    failed: str | None = None
    value: float = 0.0


class Plan:
    """The fused loop for one model, loss and optimiser (check ``reason`` first).

    The parameters (and the optimiser's state) are laid end to end in one flat array
    for the compiled loop; ``run`` copies them in from the model's own arrays and back
    out into the same arrays (in place) when it returns.
    """

    def __init__(self, model: Sequential, loss: Loss, optimizer: Optimizer) -> None:
        self.model, self.loss, self.opt = model, loss, optimizer
        self.params = model.parameters()
        self.dtype = self.params[0].dtype
        bounds = np.cumsum([0] + [p.size for p in self.params])
        self._slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        fused = optimizer.fused_rule()  # its rule's name, numbers and state (``optim.RULES``)
        self.rule, numbers, self._state = fused.name, fused.numbers(optimizer), \
            fused.state(optimizer)
        self.widths = widths(model)
        self.activations = tuple(layer.activation.name for layer in model.layers)
        self.dims = np.array(self.widths, dtype=np.int64)  # neurons per layer, inputs first
        self.act_params = np.array([next(iter(layer.activation.params.values()), 0.0)
                                    for layer in model.layers], dtype=np.float64)
        self.loss_param = float(next(iter(loss.params.values()), 0.0))
        self.penalty = loss.fused.penalty  # scikit-learn's, α = loss_param
        # in the weights' type, as NumPy rounds them
        self.hyper = np.zeros(max(5, len(numbers)), dtype=self.dtype)
        self.hyper[:len(numbers)] = numbers

    def shape(self, batch_size: int) -> Any:
        """The ``fastcode.Shape`` its compiled epoch is written for, at this batch size."""
        from .fastcode import Shape
        return Shape(self.widths, self.activations, self.loss.name, self.rule, batch_size == 1)

    def kernel(self, batch_size: int) -> Callable[..., Any]:
        """The compiled epoch (``fastkernel.epoch``) for this batch size."""
        try:
            from .fastkernel import epoch
        except ImportError as exc:  # installed (``reason`` found it) but broken
            raise ConfigError(f"the fused loop needs numba, which is installed but can't be "
                              f"imported ({exc}); reinstall it (pip install -U numba) or use "
                              "engine='graph'") from None
        from .fastcode import cache_dir
        try:
            return epoch(self.shape(batch_size))
        except OSError as exc:
            raise ConfigError(f"the fused loop can't write its compiled source ({exc}); set "
                              f"CHAINRULE_CACHE_DIR to a writable folder (now {cache_dir()}) "
                              "or use engine='graph'") from None

    def _flat(self, arrays: list[np.ndarray]) -> np.ndarray:
        if not arrays or arrays[0].size == 0:  # RMSprop keeps empty arrays for unused state
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate([a.reshape(-1) for a in arrays]).astype(self.dtype, copy=False)

    def _copy_out(self, flat: np.ndarray, arrays: list[np.ndarray]) -> None:
        if flat.size:
            for a, s in zip(arrays, self._slices):
                a[...] = flat[s].reshape(a.shape)

    def run(self, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None, order: np.ndarray,
            batch_size: int, should_stop: Callable[[], bool] | None = None,
            total: float = 0.0) -> EpochResult:
        """One epoch over the rows ``order`` of (X, Y), with sample weights W (or None), in
        batches of ``batch_size``; stops early (between chunks of rows) if ``should_stop()``.
        The batch losses × rows are added to ``total`` in order (as the graph engine does)."""
        X = np.ascontiguousarray(X, dtype=self.dtype)
        Y = np.ascontiguousarray(Y, dtype=self.dtype)
        order = np.ascontiguousarray(order, dtype=np.int64)
        bs = int(min(batch_size, len(order))) if len(order) else int(batch_size)
        if self.uses_blas(batch_size):  # as ``choose`` decided, even for a short rest of rows
            return self._run_blas(X, Y, W, order, bs, should_stop, total)
        W = np.zeros(0) if W is None else np.ascontiguousarray(W, dtype=np.float64)
        theta = self._flat([p.data for p in self.params])
        grad = np.empty_like(theta)
        state = [self._flat(s) for s in self._state]
        state += [np.zeros(0, dtype=self.dtype)] * (3 - len(state))
        t0 = int(getattr(self.opt, "t", [0])[0])
        result = EpochResult(total, 0, 0)
        chunk = max(bs, CHUNK_ROWS // bs * bs)
        kernel = self.kernel(bs)
        try:
            for start in range(0, max(len(order), 1), chunk):  # no rows: compiles, no step
                result.total, seen, steps, failed, value = kernel(
                    X, Y, W, order[start:start + chunk], bs, theta, grad, self.dims,
                    self.act_params, self.loss_param, self.hyper, *state, t0 + result.steps,
                    float(self.opt.lr), result.total)
                result.seen += seen
                result.steps += steps
                if failed:
                    result.failed = "loss" if failed == 1 else "gradient"
                    result.value = float(value)
                    break
                if should_stop is not None and should_stop():
                    break
        finally:
            self._copy_out(theta, [p.data for p in self.params])
            for flat, arrays in zip(state, self._state):
                self._copy_out(flat, arrays)
            self.opt.steps += result.steps
            for i in range(len(getattr(self.opt, "t", ()))):
                self.opt.t[i] += result.steps
        return result


    def warm(self, batch_size: int) -> None:
        """Load or compile the epoch and its forward for this batch size now (for the
        weights' number type)."""
        if not self.uses_blas(batch_size):
            empty = np.zeros((0, self.widths[0]), self.dtype)
            self.run(empty, np.zeros((0, self.widths[-1]), self.dtype), None,
                     np.zeros(0, np.int64), max(batch_size, 1))
            self.outputs(empty, max(batch_size, 1))
            self.permutation(np.random.default_rng(0), 2, batch_size)
            self.buffer_rows(batch_size)(np.zeros(0, np.int64), *[np.zeros((0, 1))] * 6)

    def permutation(self, rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
        """``rng.permutation(n)``: the same order, and ``rng`` left in the same state, drawn
        by the epoch's compiled module (``fastkernel.permutation``, from the bit generator's
        raw draws: ~7 ns a row against NumPy's ~9, in the seed's network about as much as
        a step) when this plan runs the compiled loop and ``rng`` is NumPy's default
        PCG64; by NumPy itself otherwise."""
        bits = rng.bit_generator
        if n < 2 or n > 1 << 32 or type(bits) is not np.random.PCG64 or \
                sys.byteorder != "little" or self.uses_blas(batch_size):
            return rng.permutation(n)
        self.kernel(batch_size)  # (loads it, or says why it can't)
        from .fastkernel import shuffle
        compiled = shuffle(self.shape(batch_size))
        start = bits.state
        order = np.empty(n, dtype=np.int64)
        size = int(n * DRAWS_PER_ROW) + 64  # 64-bit draws to ask for
        while True:
            used, has32, high = compiled(bits.random_raw(size).view(np.uint32),
                                         bool(start["has_uint32"]),
                                         np.uint32(start["uinteger"]), order)
            if used >= 0:
                break
            bits.state, size = start, 2 * size  # (rejections beyond the margin: very rare)
        bits.state = start
        bits.advance((used + 1) // 2)  # the state after those 64-bit draws, and the half kept
        state = bits.state
        state["has_uint32"], state["uinteger"] = int(has32), int(high)
        bits.state = state
        return order

    def outputs(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        """The network's outputs for the rows ``X`` (rows × outputs), from the compiled
        forward beside the epoch for this batch size (``fastcode._outputs``: the epoch's
        own formulas, no graph and no BLAS threads, which on a busy machine can wait
        milliseconds for a core): the per-epoch scores of a run in the compiled loop."""
        X = np.ascontiguousarray(X, dtype=self.dtype)
        out = np.empty((len(X), self.widths[-1]), self.dtype)
        self.kernel(batch_size)  # (loads it, or says why it can't)
        from .fastkernel import outputs
        outputs(self.shape(batch_size))(X, self._flat([p.data for p in self.params]),
                                        self.dims, self.act_params, out)
        return out

    def buffer_rows(self, batch_size: int) -> Callable[..., None] | None:
        """A streamed run's shuffle buffer's rule compiled in the epoch's module
        (``fastkernel.buffer_rows``) for the compiled loop at this batch size; None for
        big steps (nothing compiled: the buffer's NumPy form, the same rows)."""
        if self.uses_blas(batch_size):
            return None
        self.kernel(batch_size)  # (loads it, or says why it can't)
        from .fastkernel import buffer
        return buffer(self.shape(batch_size))

    def reads_ahead(self, batch_size: int) -> bool:
        """Whether the compiled epoch for this batch size reads each row a few steps ahead
        (``fastcode.READ_AHEAD``: the all-locals form), so that rows read through a
        shuffled order cost about what rows in order do and need no gathered copy."""
        from .fastcode import scalar
        return not self.uses_blas(batch_size) and scalar(self.shape(batch_size))

    def uses_blas(self, batch_size: int) -> bool:
        """Whether a step of this many rows runs as NumPy's BLAS products (``_run_blas``)
        rather than in the compiled loop, whose products are plain loops."""
        return big_steps(self.widths, batch_size)

    def _run_blas(self, X: np.ndarray, Y: np.ndarray, W: np.ndarray | None,
                  order: np.ndarray, bs: int, should_stop: Callable[[], bool] | None,
                  total: float) -> EpochResult:
        """``run`` for big steps: the compiled loop's formulas (``fastcode``) batch by batch
        in NumPy, with every batch array allocated once (rows gathered into them, products
        written into them by BLAS) and the optimiser's own ``step``."""
        layers, loss, dtype = self.model.layers, self.loss, self.dtype
        acts = [np.empty((bs, w), dtype) for w in self.widths]  # A_0 (the rows) and Z_k
        grads = [np.empty_like(p.data) for p in self.params]
        ds = [np.empty((bs, w), dtype) for w in self.widths]  # D_k
        targets = np.empty((bs, self.widths[-1]), dtype)
        per_element = 1.0 if loss.per_row else 1.0 / self.widths[-1]
        if len(order) and not (-len(X) <= order.min() and order.max() < len(X)):
            raise IndexError(f"the row order has rows outside 0..{len(X) - 1}")
        scales: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # unweighted: rows → shares
        result = EpochResult(total, 0, 0)
        for start in range(0, len(order), bs):
            rows = order[start:start + bs]
            nb = len(rows)  # (mode "wrap" copies with no buffer; the rows are checked above)
            a = np.take(X, rows, axis=0, out=acts[0][:nb], mode="wrap")
            outs, zs = [a], []
            for k, layer in enumerate(layers):  # Z = A_prev W + b, A = f(Z)
                z = np.matmul(outs[-1], layer.weight.data, out=acts[k + 1][:nb])
                z += layer.bias.data
                zs.append(z)
                outs.append(layer.activation.fn(z))
            y = np.take(Y, rows, axis=0, out=targets[:nb], mode="wrap")
            pred = outs[-1]
            r, g = loss.value_and_grad(pred, y)  # ℓ_n (cross-entropy) or ℓ_nk, ∂ℓ/∂ŷ
            if r.ndim > 1:
                r = r.mean(axis=1)
            if W is None:
                if nb not in scales:
                    shares = np.full(nb, 1.0 / nb)
                    scales[nb] = shares, (shares * per_element)[:, None]
                shares, scale = scales[nb]
            else:
                w = W[rows]
                shares = w / w.sum() if w.sum() > 0 else np.zeros(nb)
                scale = (shares * per_element)[:, None]
            value = float(np.dot(shares, r))
            lam = 0.0
            if self.penalty:  # scikit-learn's α/(2 Σ s) Σ‖W‖²
                rows_total = nb if W is None else float(W[rows].sum())
                if self.loss_param and rows_total > 0:
                    lam = self.loss_param / rows_total
                    value += sum(0.5 * lam * float(np.sum(layer.weight.data ** 2))
                                 for layer in layers)
            if not np.isfinite(value):
                result.failed, result.value = "loss", value
                break
            d = np.multiply(g, scale, out=ds[-1][:nb])  # in float64, rounded as the loop does
            for k in range(len(layers) - 1, -1, -1):  # Δ = D ⊙ f', the gradients, D_prev
                act = layers[k].activation
                if act.name != "linear":  # d is this step's own array: scaled in place
                    slope = act.grad(zs[k] if act.grad_from == "z" else outs[k + 1])
                    if slope.dtype == d.dtype and slope.shape == d.shape:
                        np.multiply(d, slope, out=d)
                    else:
                        d = d * slope
                np.matmul(outs[k].T, d, out=grads[2 * k])
                if lam:
                    grads[2 * k] += lam * layers[k].weight.data
                np.sum(d, axis=0, out=grads[2 * k + 1])
                if k:
                    d = np.matmul(d, layers[k].weight.data.T, out=ds[k][:nb])
            bad = next((g for g in grads if not all_finite(g)), None)
            if bad is not None:
                result.failed, result.value = "gradient", float(np.abs(bad).max())
                break
            for p, g in zip(self.params, grads):
                p.grad = g
            self.opt.step()
            result.total += value * nb
            result.seen += nb
            result.steps += 1
            if should_stop is not None and should_stop():
                break
        return result  # p.grad: the last batch's gradients, as the graph engine leaves them


def compiled(plan: Plan, batch_size: int) -> bool:
    """Whether the plan's compiled epoch for this batch size is at hand: in this process,
    or in numba's cache on disk (checked without importing numba when it isn't loaded)."""
    kernels = sys.modules.get(__package__ + ".fastkernel")
    if kernels is None:
        from .fastcode import cached_on_disk
        return cached_on_disk(plan.shape(batch_size))
    return kernels.cached(plan.shape(batch_size), plan.dtype)


def compile_seconds(shape: Any) -> float:
    """About how long numba takes to compile the epoch for ``shape`` on a machine like the
    one benchmarks/README.md reports (``COMPILE_SECONDS``: a base and a part per layer)."""
    base, per_layer = COMPILE_SECONDS
    return base + per_layer * (len(shape.widths) - 1)


def graph_seconds(sizes: Sequence[int], steps: int, batch_size: int) -> float:
    """About how long the graph engine takes for ``steps`` steps of ``batch_size`` rows through
    a network of these widths (``GRAPH_STEP_SECONDS``: a part per layer and step, plus the
    products)."""
    per_step, per_madd = GRAPH_STEP_SECONDS
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return steps * ((len(sizes) - 1) * per_step + 3 * batch_size * weights * per_madd)


def describe(plan: Plan) -> str:
    """The network in a line: ``4-8-3 tanh/adam``."""
    acts = dict.fromkeys(plan.activations[:-1] or plan.activations)
    return f"{'-'.join(map(str, plan.widths))} {'+'.join(acts)}/{plan.rule}"


def choose(engine: str, model: Module, loss: Loss, optimizer: Optimizer,
           callbacks: Sequence[Any] = (), columns: tuple[int, int] | None = None,
           steps: int = 0, batch_size: int = 1, rows: int | None = None,
           on_compile: Callable[[str], None] | None = None) -> Plan | None:
    """The plan ``fit(engine=...)`` trains with, or None for the graph engine.

    ``"graph"``: None.  ``"fused"``: a plan, or ``ConfigError`` saying why there is none.
    ``"auto"``: a plan whenever the fused path can run this, except when compiling its loop
    would cost more than it saves:

    * big steps (batch size × weights > ``AUTO_MAX_WORK`` multiply-adds) run as BLAS
      products on preallocated arrays (``Plan.uses_blas``): nothing to compile;
    * small steps run in the compiled loop whenever it is at hand (in this process, or in
      numba's cache on disk, which loads in well under a second), and otherwise only when
      the graph engine would take longer for the run's ``steps`` than compiling the loop
      (``graph_seconds`` against ``compile_seconds``, both measured), so ``auto`` is never
      much slower than the graph engine would have been (by the estimates' error).

    Before compiling, ``on_compile`` gets one line saying so (what, and about how long); the
    loop is compiled here (for ``rows`` rows of data), not in the first epoch.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if engine == "graph":
        return None
    why = reason(model, loss, optimizer, callbacks, columns, batch_size)
    if why is not None:
        if engine == "fused":
            raise ConfigError(f"engine='fused' can't train this: {why}; use engine='auto' "
                              "(or 'graph') to train on the graph engine")
        return None
    fused = Plan(model, loss, optimizer)  # type: ignore[arg-type]
    if fused.uses_blas(batch_size) or compiled(fused, batch_size):
        return fused
    bs = min(batch_size, rows) if rows else batch_size
    cost = compile_seconds(fused.shape(bs))
    if engine == "auto" and graph_seconds(fused.widths, steps, bs) < cost:
        return None
    if on_compile is not None:
        on_compile(f"compiling the fast loop for {describe(fused)} (once per machine, "
                   f"~{cost:.0f} s)…")
    fused.warm(bs)
    return fused
