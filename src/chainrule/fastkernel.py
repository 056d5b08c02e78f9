"""The fused training loop's compiled pieces and its compiled epochs (imports numba;
``fastpath`` loads it, and it imports nothing of ``fastpath``).

Nothing here is a second copy of a rule, and nothing here names an activation, loss or
optimiser.  Each entry of the activation, loss and optimiser tables carries its fused
form (``nn.activations.Fused``, ``losses.FusedLoss``, ``optim.FusedRule``): the scalar
forward and derivative, the loss's term (or row), the rule lifted over the weights.
``activation``, ``loss`` and ``rule`` below look an entry up by name and compile its
form as written; the epoch's source (``fastcode``) binds them to names at its top
(``f_tanh, df_tanh = activation("tanh")``) and calls them by those names.  A name the
tables don't have, or an entry without a fused form, is an error here (``fastpath``
declines those first, with the reason), never something else run in its place.

Besides those: ``abs_sum`` (for the finiteness check of SGD in place), ``first_bad``
(which gradient was not finite, for the message), ``tanh`` (the compiled
``ops.tanh_number``, tanh's fused forward), ``permutation`` (NumPy's
``Generator.permutation`` from its raw draws, the same order: an epoch's shuffle) and
``buffer_rows`` (a streamed run's shuffle buffer, row after row).

The epoch itself is written per network shape by ``fastcode`` (the chain rule for a
stack of dense layers, its activations, loss and rule by name), saved under
``fastcode.cache_dir()`` and compiled by numba with ``cache=True``, so a shape compiles
once per machine (seconds) and later runs load it from disk; the file's name changes
with any edit of the code it runs (``fastcode.source_file``), so numba never runs a
stale one; each load marks it used, and one unused for 30 days leaves the cache
(``fastcode.prune``).

numba lacks five NumPy forms that ``ops`` uses, or runs them slowly, so ``ops`` names
them (``_select``, ``_cast``, ``_last_axis_max``, ``_last_axis_sum``,
``_last_axis_total``) and this module gives numba an implementation of each; they are
NumPy operations, not rules.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import threading
import time
from functools import lru_cache

import numba
import numpy as np
from numba import types
from numba.extending import overload, register_jitable

from . import fastcode, losses, ops, optim
from .fastcode import Shape
from .nn.activations import ACTIVATIONS

_NUMPY_FORMS = (ops._select, ops._cast, ops._last_axis_max, ops._last_axis_sum,
                ops._last_axis_total)
_RULES = (optim.sgd_step, optim.sgd_momentum_step, optim.adam_step, optim.rmsprop_step,
          optim.adagrad_step, optim.adam_scales, optim.adagrad_rate)


def shared_functions() -> list:
    """Every function of ``ops``, ``losses`` and ``optim`` that the compiled epoch may run
    (the fused forms call them)."""
    own = [f for module in (ops, losses) for f in vars(module).values()
           if inspect.isfunction(f) and f.__module__ == module.__name__]
    return [*own, *_RULES, *(rule.update for rule in optim.RULES.values())]


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
for _fn in _RULES:  # … and the rules lifted over the weights call the pure ones
    register_jitable(error_model="numpy")(_fn)

_jit = numba.njit(inline="always", error_model="numpy")  # x/0 is ±inf or nan, as in NumPy


# Unchecked indexing (rows too): a checkpoint's row order is proven a permutation first (checkpoint.check_progress).
@_jit
def _u(i):
    """An index as unsigned: numba then skips its negative-index wraparound, which keeps
    LLVM from vectorising the loops (every index here is ≥ 0)."""
    return np.uint64(i)


TANH_TAYLOR, TANH_SMALL = ops.TANH_TAYLOR, ops.TANH_SMALL
tanh = _jit(ops.tanh_number)  # tanh's fused forward, compiled


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


@_jit
def permutation(halves, has32, high, order):
    """NumPy's ``Generator.permutation(n)`` for n = ``order.size`` ≤ 2³², from its bit
    generator's raw 64-bit draws seen as 32-bit ``halves`` (low half first, as NumPy takes
    them): Fisher–Yates from the back, i = n−1 … 1, swapping i with j uniform in [0, i],
    drawn as NumPy draws it (``random_interval``: a 32-bit number masked to the smallest
    2ᵏ − 1 ≥ i, drawn again while above i; a half kept from before, ``has32`` and
    ``high``, comes first).  Returns (halves used, whether a half is kept after, that
    half, as NumPy's state keeps it), or (−1, …) when ``halves`` ran out (then draw more
    and start again).  The same order as NumPy's, bit for bit (tested), in about a fifth
    less time: NumPy asks its bit generator through a pointer for each number."""
    n = order.size
    for i in range(n):
        order[i] = i
    used = 0
    for i in range(n - 1, 0, -1):
        top = np.uint32(i)
        mask = top
        mask |= mask >> np.uint32(1)
        mask |= mask >> np.uint32(2)
        mask |= mask >> np.uint32(4)
        mask |= mask >> np.uint32(8)
        mask |= mask >> np.uint32(16)
        if has32:
            value = high & mask
            has32 = False
        else:
            if used == halves.size:
                return -1, False, high
            value = halves[used] & mask
            used += 1
        while value > top:
            if used == halves.size:
                return -1, False, high
            value = halves[used] & mask
            used += 1
        j = np.int64(value)
        kept = order[j]
        order[j] = order[i]
        order[i] = kept
    if used % 2:
        return used, True, halves[used]
    return used, False, halves[used - 1] if used else high


@_jit
def buffer_rows(slots, held_x, rows_x, out_x, held_y, rows_y, out_y):
    """A shuffle buffer's rule (``stream.ShuffleBuffer.push``), row after row: row i of the
    chunk (inputs and targets) takes slot ``slots[i]`` of the held rows and the row that
    was there goes to ``out[i]``.  The same rows in the same places as ``push``'s grouped
    NumPy form."""
    for i in range(slots.size):
        j = slots[i]
        for c in range(rows_x.shape[1]):
            out_x[i, c] = held_x[j, c]
            held_x[j, c] = rows_x[i, c]
        for c in range(rows_y.shape[1]):
            out_y[i, c] = held_y[j, c]
            held_y[j, c] = rows_y[i, c]


# -- the tables' fused forms, compiled by name (what an epoch's source binds) -----------

def _declined(kind: str, name: str, why: str) -> KeyError:
    return KeyError(f"the {kind} {name!r} has no fused form ({why or 'not in the table'})")


@lru_cache(maxsize=None)
def activation(name: str) -> tuple:
    """(f(z, p), f'(a, z, p)) of the activation ``name``'s fused form, compiled to be
    inlined where the epoch calls them."""
    entry = ACTIVATIONS.get(name)
    if entry is None or entry.fused is None:
        raise _declined("activation", name, entry.declined if entry else "")
    return _jit(entry.fused.forward), _jit(entry.fused.slope)


@lru_cache(maxsize=None)
def loss(name: str):
    """The loss ``name``'s fused form, compiled: its ``term(ŷ, y, p)`` → (ℓ, ∂ℓ/∂ŷ), or for
    a loss per row its ``row(ŷ_n, y_n)`` → (ℓ_n, ∂ℓ_n/∂ŷ_n)."""
    entry = losses.fused_entry(name)
    if entry is None or entry.fused is None:
        raise _declined("loss", name, entry.declined if entry else "")
    form = entry.fused.term if entry.fused.term is not None else entry.fused.row
    return _jit(form)


@lru_cache(maxsize=None)
def rule(name: str) -> tuple:
    """(update, each) of the update rule ``name`` (``optim.RULES``), compiled: ``update``
    on its own and with ``fastmath=False`` said outright (numba otherwise takes the flags of
    the first caller that compiles it), so the loops form's fused multiply-adds
    (``fastcode.LOOPS_JIT_OPTIONS``) never reach the rules: they round as NumPy's do
    (centred RMSprop's s − ḡ², fused, came out different enough to change where a run
    went).  ``each`` (a rule without state, for one weight) is None where the rule has
    none."""
    fused = optim.RULES.get(name)
    if fused is None:
        raise _declined("update rule", name, "")
    update = numba.njit(error_model="numpy", fastmath=False)(fused.update)
    return update, None if fused.each is None else _jit(fused.each)


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


def outputs(shape: Shape):
    """The compiled forward of the epoch's module for ``shape`` (``fastcode._outputs``): the
    network's outputs for many rows, written into an array."""
    return epoch(shape).py_func.__globals__["outputs"]


def shuffle(shape: Shape):
    """The compiled ``permutation`` of the epoch's module for ``shape`` (what
    ``fastpath.Plan.permutation`` runs)."""
    return epoch(shape).py_func.__globals__["shuffle"]


def buffer(shape: Shape):
    """The compiled ``buffer_rows`` of the epoch's module for ``shape`` (what a streamed
    run's shuffle buffer runs with ``fastpath.Plan.buffer_rows``)."""
    return epoch(shape).py_func.__globals__["buffer"]


_MARKED: dict = {}  # Shape → (its source, when this process last marked it used)


def _still_used(shape: Shape) -> None:
    """Mark an epoch used again, hourly: a run longer than ``fastcode.KEEP_DAYS`` keeps it."""
    path, when = _MARKED.get(shape, (None, 0.0))
    if path is not None and time.monotonic() - when > 3600:
        fastcode.mark_used(path)
        _MARKED[shape] = (path, time.monotonic())


def cached(shape: Shape, dtype) -> bool:
    """Whether the epoch for ``shape`` and its forward are compiled for ``dtype`` in this
    process already, or numba has them compiled on disk (``fastcode.cached_on_disk``)."""
    found = _EPOCHS.get(shape)
    kind = numba.from_dtype(np.dtype(dtype))
    if found is not None and any(sig[5].dtype == kind for sig in found.signatures) and \
            any(sig[1].dtype == kind for sig in outputs(shape).signatures):
        return True
    return fastcode.cached_on_disk(shape)
