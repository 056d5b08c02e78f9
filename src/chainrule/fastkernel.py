"""The fused training loop's helpers and its compiled epochs (imports numba; ``fastpath``
loads it).

Nothing here is a second copy of a rule.  The activation functions and their
derivatives (``ops``), the losses' values and derivatives (``losses``) and the update
rules (``optim``) are compiled as they are, by numba.  This module gives the compiled
epoch its pieces, each dispatching once on a code (a literal in the epoch, so the
choice is made when it compiles): ``activate`` (one number), ``derive`` and
``loss_terms`` (a run of numbers), ``cross_entropy_terms`` (cross-entropy couples a
row's outputs, so it runs the shared array function ``value_and_grad``, one softmax for
both, on each row's views: the only allocations per step), ``tanh`` (numba's own tanh of
a number is the C library's, which is slow), ``abs_sum`` (for the finiteness check of
SGD in place), ``update`` (the optimiser's pure rule, weight by weight) and
``first_bad`` (which gradient was not finite, for the message).

The epoch itself is written per network shape by ``fastcode`` (the chain rule for a
stack of dense layers, its activations, loss and rule as literals), saved under
``fastcode.cache_dir()`` and compiled by numba with ``cache=True``, so a shape compiles
once per machine (a few seconds) and later runs load it from disk; the file's name
changes with any edit of the code it runs (``fastcode.source_file``), so numba never
runs a stale one; each load marks it used, and one unused for 30 days leaves the cache
(``fastcode.prune``).

numba lacks five NumPy forms that ``ops`` uses, or runs them slowly, so ``ops`` names
them (``_select``, ``_cast``, ``_last_axis_max``, ``_last_axis_sum``,
``_last_axis_total``) and this module gives numba an implementation of each; they are
NumPy operations, not rules.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import sys
import threading
import time

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from . import fastcode, losses, ops, optim
from .fastcode import Shape
from .fastpath import ACTIVATION_NAMES, LOSS_NAMES, RULE_NAMES, plain
from .nn.activations import ACTIVATIONS

__all__ = [  # what a compiled epoch's source uses (``fastcode``)
    "activate", "slope", "derive", "term", "loss_terms", "cross_entropy_terms", "abs_sum",
    "first_bad", "update", "sgd_step", "SGD", "LINEAR", "SIGMOID", "TANH", "RELU",
    "LEAKY_RELU", "ELU", "SOFTPLUS", "GELU", "MSE", "MAE", "HUBER", "BCE", "SGD_MOMENTUM",
    "ADAM", "RMSPROP", "ADAGRAD"]
LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU = range(len(ACTIVATION_NAMES))
MSE, MAE, HUBER, BCE, CROSS_ENTROPY = range(len(LOSS_NAMES))
SGD, SGD_MOMENTUM, ADAM, RMSPROP, ADAGRAD = range(len(RULE_NAMES))

# The shared functions: each exactly the object the graph engine uses.
_ACT = {name: (plain(ACTIVATIONS[name].fn), plain(ACTIVATIONS[name].grad))
        for name in ACTIVATION_NAMES}
_LOSS = {name: (plain(losses.LOSSES[name].value), plain(losses.LOSSES[name].grad))
         for name in LOSS_NAMES}
_RULES = (optim.sgd_step, optim.sgd_momentum_step, optim.adam_step, optim.rmsprop_step,
          optim.adagrad_step, optim.adam_scales, optim.adagrad_rate)
_IN_PLACE = (optim.sgd_, optim.sgd_momentum_, optim.adam_, optim.rmsprop_, optim.adagrad_)
_NUMPY_FORMS = (ops._select, ops._cast, ops._last_axis_max, ops._last_axis_sum,
                ops._last_axis_total)


def shared_functions() -> list:
    """Every function of ``ops``, ``losses`` and ``optim`` that the compiled epoch may run."""
    own = [f for module in (ops, losses) for f in vars(module).values()
           if inspect.isfunction(f) and f.__module__ == module.__name__]
    pairs = [f for pair in (*_ACT.values(), *_LOSS.values()) for f in pair]
    return [*own, *pairs, *_RULES, *_IN_PLACE]


# -- numba implementations of the five NumPy forms -------------------------------------

@overload(ops._select)
def _select_nb(cond, a, b):
    if isinstance(cond, types.Boolean):
        return lambda cond, a, b: a if cond else b
    return lambda cond, a, b: np.where(cond, a, b)


@overload(ops._cast)
def _cast_nb(x, like):
    if isinstance(like, types.Number):
        number = like
        return lambda x, like: number(x)
    return None


@register_jitable
def _row_max(z):
    """max_j z_j of one row (NaN if any is, as np.max): numba's np.max walks any array
    with a general iterator, ~40 ns for ten numbers."""
    if z.shape[0] == 0:
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    m = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > m or z[j] != z[j]:
            m = z[j]
    return m


@register_jitable
def _row_sum(z):
    """Σ_j z_j of one row, in order (NumPy adds eight or more pairwise: the last bit may
    differ); starts from z_0, so a row of −0 sums to −0 as in NumPy."""
    if z.shape[0] == 0:
        return np.zeros(1, dtype=z.dtype)[0]
    s = z[0]
    for j in range(1, z.shape[0]):
        s += z[j]
    return s


def _last_axis(reduce, keep):
    """numba's form of a reduction of the last axis (``reduce``: ``_row_max``, ``_row_sum``),
    that axis kept as size 1 if ``keep``; one row gives a number, nothing allocated."""
    def typer(z):
        if isinstance(z, types.Array) and z.ndim == 1:
            return lambda z: reduce(z)

        def kept(z):
            out = np.empty((z.shape[0], 1), dtype=z.dtype)
            for n in range(z.shape[0]):
                out[n, 0] = reduce(z[n])
            return out

        def dropped(z):
            out = np.empty(z.shape[0], dtype=z.dtype)
            for n in range(z.shape[0]):
                out[n] = reduce(z[n])
            return out
        return kept if keep else dropped
    return typer


overload(ops._last_axis_max)(_last_axis(_row_max, True))
overload(ops._last_axis_sum)(_last_axis(_row_sum, True))
overload(ops._last_axis_total)(_last_axis(_row_sum, False))


for _fn in shared_functions():  # compiled code may call them by name (ops.sigmoid, …)
    if _fn not in _NUMPY_FORMS and inspect.isfunction(_fn) and \
            _fn.__module__ in (ops.__name__, losses.__name__):
        register_jitable(_fn)
for _fn in _RULES:  # … and the in-place rules call the pure ones (optim.sgd_step, …)
    register_jitable(_fn)

_jit = numba.njit(inline="always", error_model="numpy")  # x/0 is ±inf or nan, as in NumPy


# Unchecked indexing (rows too): a checkpoint's row order is proven a permutation first (checkpoint.check_progress).
@_jit
def _u(i):
    """An index as unsigned: numba then skips its negative-index wraparound, which keeps
    LLVM from vectorising the loops (every index here is ≥ 0)."""
    return np.uint64(i)


sigmoid, sigmoid_grad = map(_jit, _ACT["sigmoid"])
tanh_grad = _jit(_ACT["tanh"][1])  # tanh itself is np.tanh: ``tanh`` below, for one number
relu, relu_grad = map(_jit, _ACT["relu"])
leaky_relu, leaky_relu_grad = map(_jit, _ACT["leaky_relu"])
elu, elu_grad = map(_jit, _ACT["elu"])
softplus, softplus_grad = map(_jit, _ACT["softplus"])
gelu, gelu_grad = map(_jit, _ACT["gelu"])
mse_value, mse_grad = map(_jit, _LOSS["mse"])
mae_value, mae_grad = map(_jit, _LOSS["mae"])
huber_value, huber_grad = map(_jit, _LOSS["huber"])
bce_value, bce_grad = map(_jit, _LOSS["bce"])
ce_value, ce_grad = map(_jit, _LOSS["cross_entropy"])
ce_value_and_grad = _jit(losses.CROSS_ENTROPY.both)  # one softmax for both
sgd_step, sgd_momentum_step, adam_step, rmsprop_step, adagrad_step, adam_scales, \
    adagrad_rate = map(_jit, _RULES)


@_jit
def cross_entropy_terms(act, d, out, k, nb, Y, order, start, r):
    """Cross-entropy couples a row's outputs: r_n = ℓ_n and d = ∂ℓ/∂z, row by row (the
    shared array function, on one row's views: ``_last_axis_*`` of a row is a number)."""
    for n in range(nb):
        lo = out + n * k
        pred, y = act[lo:lo + k], Y[order[_u(start + n)]]
        r[_u(n)], g = ce_value_and_grad(pred, y)
        for j in range(k):
            d[_u(lo + j)] = g[_u(j)]


@numba.njit(fastmath={"reassoc"}, error_model="numpy")  # in any order: LLVM vectorises it
def abs_sum(a, lo, hi, zero):
    """Σ |a[i]| for i in [lo, hi), in the type of ``zero`` (∞ or NaN if any a[i] is, in any
    order); not inlined, so that its additions alone may be reordered."""
    s = zero
    for i in range(lo, hi):
        s += abs(a[_u(i)])
    return s


@_jit
def first_bad(grad, bounds):
    """(p, max |g|) for the first parameter p whose gradient is not finite, or (−1, 0)."""
    for p in range(bounds.size - 1):
        for i in range(bounds[p], bounds[p + 1]):
            if not np.isfinite(grad[i]):
                return p, np.max(np.abs(grad[bounds[p]:bounds[p + 1]]))
    return -1, 0.0


@numba.njit(error_model="numpy", fastmath=False)  # compiled apart, never fused: see below
def update(code, hyper, theta, grad, s1, s2, s3, t, lr):
    """One step of the optimiser's own rule, weight by weight (t: its step number).

    ``hyper`` = (λ, then the rule's numbers in the order of its arguments).  The rule is
    a pure function of numbers (``optim.*_step``): nothing is allocated.  Compiled on its
    own and with ``fastmath=False`` said outright (numba otherwise takes the flags of the
    first caller that compiles it), so the loops form's fused multiply-adds
    (``fastcode.LOOPS_JIT_OPTIONS``) never reach the rules: they round as NumPy's do
    (centred RMSprop's s − ḡ², fused, came out different enough to change where a run
    went)."""
    wd = hyper[0]
    if code == SGD:
        for i in range(theta.size):
            theta[i] = sgd_step(theta[i], grad[i], lr, wd)
    elif code == SGD_MOMENTUM:
        mu, nesterov = hyper[1], hyper[2] != 0.0
        for i in range(theta.size):
            theta[i], s1[i] = sgd_momentum_step(theta[i], grad[i], s1[i], lr, mu, nesterov, wd)
    elif code == ADAM:
        b1, b2, eps, decoupled = hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
        step, root = adam_scales(t, lr, b1, b2)
        for i in range(theta.size):
            theta[i], s1[i], s2[i] = adam_step(theta[i], grad[i], s1[i], s2[i], step, root, lr,
                                               b1, b2, eps, wd, decoupled)
    elif code == RMSPROP:
        alpha, eps, mu, centered = hyper[1], hyper[2], hyper[3], hyper[4] != 0.0
        for i in range(theta.size):  # ḡ and b are empty arrays when unused: pass a 0
            gavg = s2[i] if centered else 0.0
            buf = s3[i] if mu > 0.0 else 0.0
            theta[i], s1[i], gavg, buf = rmsprop_step(theta[i], grad[i], s1[i], gavg, buf, lr,
                                                      alpha, eps, wd, mu, centered)
            if centered:
                s2[i] = gavg
            if mu > 0.0:
                s3[i] = buf
    else:
        rate = adagrad_rate(t, lr, hyper[1])
        for i in range(theta.size):
            theta[i], s1[i] = adagrad_step(theta[i], grad[i], s1[i], rate, hyper[2], wd)


# tanh x = x (1 + c_2 x² + c_3 x⁴ + …): the Taylor coefficients of tanh,
# c_n = 2^2n (2^2n − 1) B_2n / (2n)! (B: Bernoulli numbers), n = 2 … 12 (tests recompute them)
TANH_TAYLOR = (-1 / 3, 2 / 15, -17 / 315, 62 / 2835, -1382 / 155925, 21844 / 6081075,
               -929569 / 638512875, 6404582 / 10854718875, -443861162 / 1856156927625,
               18888466084 / 194896477400625, -113927491862 / 2900518163668125)
TANH_SMALL = 0.25  # below it the series (the first term left out is < 1e-19 of it); above, the exp


@_jit
def tanh(x):
    """tanh(x) for one number: numba's ``np.tanh`` of a number calls the C library's tanh,
    the slowest step of a tanh network's loop (~15–19 ns here); this takes one exp (~4 ns).

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


@_jit
def activate(code, z, p):
    """f(z) for one number, f the activation ``code`` (a literal in the compiled epoch, so
    the choice is made once, when it compiles)."""
    if code == SIGMOID:
        return sigmoid(z)
    if code == TANH:
        return tanh(z)
    if code == RELU:
        return relu(z)
    if code == LEAKY_RELU:
        return leaky_relu(z, p)
    if code == ELU:
        return elu(z, p)
    if code == SOFTPLUS:
        return softplus(z)
    if code == GELU:
        return gelu(z)
    return z


@_jit
def slope(code, a, z, p):
    """f'(z) of the activation ``code``, from its output a (gelu: from z)."""
    if code == SIGMOID:
        return sigmoid_grad(a)
    if code == TANH:
        return tanh_grad(a)
    if code == RELU:
        return relu_grad(a)
    if code == LEAKY_RELU:
        return leaky_relu_grad(a, p)
    if code == ELU:
        return elu_grad(a, p)
    if code == SOFTPLUS:
        return softplus_grad(a)
    if code == GELU:
        return gelu_grad(z)
    return ops._cast(1.0, a)


@_jit
def derive(code, d, a, z, lo, hi, p):
    """d[i] *= f'(z[i]) for i in [lo, hi) (``slope``: from a[i]; gelu: from z[i])."""
    for i in range(lo, hi):
        d[i] *= slope(code, a[i], z[i], p)


@_jit
def term(code, delta, p, y):
    """(ℓ(p, y), ∂ℓ/∂p) for one output p and its target y, ℓ the loss ``code``."""
    if code == MSE:
        return mse_value(p, y), mse_grad(p, y)
    if code == MAE:
        return mae_value(p, y), mae_grad(p, y)
    if code == HUBER:
        return huber_value(p, y, delta), huber_grad(p, y, delta)
    return bce_value(p, y), bce_grad(p, y)


@_jit
def loss_terms(code, delta, act, d, lo, k, Y, row):
    """Σ_j ℓ(act[lo + j], Y[row, j]) over one row's k outputs; d[lo + j] = ∂ℓ/∂ŷ."""
    r = 0.0
    for j in range(k):
        value, d[lo + j] = term(code, delta, act[lo + j], Y[row, j])
        r += value
    return r


# -- the compiled epoch, one per network shape -----------------------------------------

_EPOCHS: dict = {}  # Shape → numba dispatcher, for this process
_LOADING = threading.Lock()  # one thread at a time writes and imports an epoch's module


def _fresh_lock() -> None:  # a child forked while another thread held the lock starts free
    global _LOADING
    _LOADING = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock)


def epoch(shape: Shape):
    """The compiled epoch for ``shape`` (written, imported and compiled on first use; safe
    to call from several threads: numba compiles under its own lock)."""
    found = _EPOCHS.get(shape)
    if found is not None:
        _still_used(shape)
        return found
    with _LOADING:
        found = _EPOCHS.get(shape)
        if found is not None:  # another thread loaded it meanwhile
            return found
        name, text, path = fastcode.source_file(shape)
        module = sys.modules.get(name) or _load(name, text, path)
        _EPOCHS[shape] = module.epoch
        _MARKED[shape] = (path, time.monotonic())
        return module.epoch


def _load(name: str, text: str, path):
    """Write (unless it is there), check and import the module of an epoch.  A cached file
    that is not the source chainrule wrote (``fastcode.intact``: truncated, emptied,
    overwritten) or fails to load (numba's compiled files for it included) is never run:
    with one warning its files are removed (the next process writes them anew) and the
    epoch is compiled afresh under a new name, in this process's own folder."""
    fastcode.mark_used(path)  # first, so that a prune in another process now keeps it
    for attempt in range(2):
        written = fastcode.write(path, text)
        try:
            if not fastcode.intact(written):
                raise ImportError("it is not the source chainrule wrote")
            return _import(name, written)
        except FileNotFoundError:  # pruned by another process after all: write it again
            if attempt:
                return _afresh(name, text, written, "it went missing twice")
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, it is not used
            return _afresh(name, text, written, str(exc) or type(exc).__name__)


def _import(name: str, file) -> object:
    """Import the module ``name`` from ``file`` and read numba's cached index and compiled
    code for its epoch (as its first call would: a damaged one fails here, not mid-run)."""
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache finds the module again by its name
    try:
        spec.loader.exec_module(module)
        _read_compiled(module.epoch)
        return module
    except BaseException:
        del sys.modules[name]
        raise


def _read_compiled(dispatcher) -> None:
    """Load what numba cached on disk for ``dispatcher`` (its index and compiled data), so
    that a damaged file raises now.  Another numba's insides: left to its first call."""
    try:
        files = dispatcher._cache._cache_file
        index, data = files._load_index, files._load_data
    except AttributeError:
        return
    for data_name in index().values():
        data(data_name)


def _afresh(name: str, text: str, damaged, reason: str):
    """The epoch compiled from ``text`` under a new name in this process's folder, after
    one warning and the removal of the ``damaged`` file and numba's files for it."""
    fresh = f"{name}_{os.getpid()}_{int(time.monotonic_ns()) % 10**9}"
    fastcode.warn(f"the cached epoch {damaged} could not be used ({reason}); compiling it "
                  "afresh (its files are removed)")
    fastcode.discard(damaged)
    return _import(fresh, fastcode.write(fastcode.scratch_dir() / f"{fresh}.py", text))


_MARKED: dict = {}  # Shape → (its source, when this process last marked it used)


def _still_used(shape: Shape) -> None:
    """Mark an epoch used again, hourly: a run longer than ``fastcode.KEEP_DAYS`` keeps it."""
    path, when = _MARKED.get(shape, (None, 0.0))
    if path is not None and time.monotonic() - when > 3600:
        fastcode.mark_used(path)
        _MARKED[shape] = (path, time.monotonic())


def cached(shape: Shape, dtype) -> bool:
    """Whether the epoch for ``shape`` is compiled for ``dtype`` in this process already,
    or numba has it compiled on disk (``fastcode.cached_on_disk``)."""
    found = _EPOCHS.get(shape)
    kind = numba.from_dtype(np.dtype(dtype))
    if found is not None and any(sig[5].dtype == kind for sig in found.signatures):
        return True
    return fastcode.cached_on_disk(shape)
