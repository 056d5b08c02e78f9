"""chainrule's training speed against PyTorch (eager) and scikit-learn, in one run.

    python3 benchmarks/run.py            # every scenario (a few minutes on 2 cores)
    python3 benchmarks/run.py S1 S2      # some of them
    python3 benchmarks/run.py --no-cold  # skip measuring a cold compile (about a minute)

Per scenario and peer: the median, min and max of timed runs after warm-up runs (a
quarter of a second of them, at least one), and the ratio to PyTorch eager measured in
the same run (> 1: faster than PyTorch).  A scenario's peers take turns: five rounds,
in each of which every peer runs for a tenth of a second (one run at least), so that
the machine's drift in speed over minutes weighs on all of them alike.
Peers that take seconds per epoch are timed on a part of the epoch or with fewer runs;
the output says where.  Peers that aren't installed are skipped, with a note.

S1  the seed: 2-2-1 linear, MSE, SGD η = 0.01, batch 1, 100,000 standardized rows
    made like the seed's table (IQ, CGPA → package), taken in order as the seed does
    (every peer); one more row shows chainrule with the rows shuffled, and two what a
    user gets with the defaults (rows shuffled, R² each epoch, engine "auto"): ``fit``,
    and ``chainrule.sklearn.MLPRegressor`` (alpha, shuffling, its loss curve: defaults)
S2  digits: load_digits standardized, 64-32-10 tanh, softmax cross-entropy, SGD η = 0.01,
    batch 1, one epoch; also ``fit`` with its defaults for 5 epochs (shuffled, accuracy
    each epoch, "auto"), and the same loop written by hand in numba (and without its
    tanh), the floor for a compiled loop on this network

The compile times (``--no-cold`` skips them): numba compiling the fused loop for a few
network shapes in a fresh interpreter with an empty cache, and loading it from the disk
cache afterwards.
S3  mini-batch: 784-256-128-10 ReLU, cross-entropy, SGD momentum 0.9, batch 128, 60,000
    synthetic rows, float32, whole epochs; also the time of the epoch's matrix products
    alone (NumPy's BLAS on this machine; the issue's bound is 1.3 × that) and a loop
    written by hand in NumPy, the floor for an engine built on NumPy calls
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import numpy as np

import chainrule as cr

try:
    import torch
except ImportError:  # pragma: no cover - optional peer
    torch = None
try:
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
except ImportError:  # pragma: no cover - optional peer
    sklearn = None

RUNS = 5  # timed calls at least, each peer
WARM_S, TIMED_S = 0.25, 0.5  # seconds of warm-up calls, and of timed calls at least
TARGETS = {("S1", "chainrule fused"): 5000, ("S1", "chainrule graph"): 5,
           ("S1", "chainrule fit, defaults"): 5000,
           ("S1", "chainrule MLPRegressor, defaults"): 3000,
           ("S2", "chainrule fused"): 100, ("S2", "chainrule fit, defaults, 5 epochs"): 100,
           ("S3", "chainrule (auto)"): 1.2}


def _warm(fn: Callable[[], object]) -> None:
    """Calls of ``fn`` for ``WARM_S`` (at least one): a call of a few milliseconds is
    slower the first few times (caches, the allocator), as one call of a slow peer is not."""
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < WARM_S:
        fn()


def _calls(fn: Callable[[], object], at_least: int, seconds: float) -> list[float]:
    """Seconds of each of ``at_least`` calls of ``fn``, and of more until ``seconds`` pass."""
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < at_least or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def timed(fn: Callable[[], object], runs: int = RUNS) -> list[float]:
    """Seconds of each of at least ``runs`` calls of ``fn`` (more within ``TIMED_S``) after
    warming up."""
    _warm(fn)
    return _calls(fn, runs, TIMED_S)


def timed_in_turns(fns: list[Callable[[], object]], runs: list[int]) -> list[list[float]]:
    """``timed`` for peers that take turns: ``max(runs)`` rounds in which each peer calls
    for ``TIMED_S / RUNS`` seconds (one call at least; ``runs[i]`` rounds for peer i).  This
    machine's speed drifts by several per cent over minutes; in turns the drift weighs on
    every peer alike, not on whichever ran in a slow minute."""
    for fn in fns:
        _warm(fn)
    out: list[list[float]] = [[] for _ in fns]
    for turn in range(max(runs, default=0)):
        for fn, times, rounds in zip(fns, out, runs):
            if turn < rounds:
                times += _calls(fn, 1, TIMED_S / RUNS)
    return out


class Table:
    """Rows of (peer, seconds per unit, note); prints them with ratios to PyTorch.  Peers
    added with ``time`` are timed when the table is shown, in turns (``timed_in_turns``)."""

    def __init__(self, scenario: str, unit: str) -> None:
        self.scenario, self.unit, self.rows = scenario, unit, []
        self._pending: list[tuple[int, Callable[[], object], float, int]] = []

    def add(self, peer: str, seconds: list[float], per: float, note: Any = "") -> None:
        """A row for ``peer`` from its call times; each call did ``per`` units.  ``note``
        may be a function of the call times (seconds per unit)."""
        self.rows.append(self._row(peer, seconds, per, note))

    def time(self, peer: str, fn: Callable[[], object], per: float, note: Any = "",
             runs: int = RUNS) -> None:
        """A row for ``peer``, timed with the table's other peers when it is shown."""
        self._pending.append((len(self.rows), fn, per, runs))
        self.rows.append((peer, None, note))

    def skip(self, peer: str, why: str) -> None:
        self.rows.append((peer, None, why))

    @staticmethod
    def _row(peer: str, seconds: list[float], per: float, note: Any) -> tuple:
        per_unit = [s / per for s in seconds]
        note = note(per_unit) if callable(note) else note
        if len(seconds) < RUNS:
            note = f"{note}; {len(seconds)} runs".lstrip("; ")
        return peer, per_unit, note

    def _time_pending(self) -> None:
        pending, self._pending = self._pending, []
        times = timed_in_turns([fn for _, fn, _, _ in pending], [runs for *_, runs in pending])
        for (at, _, per, _), seconds in zip(pending, times):
            peer, _, note = self.rows[at]
            self.rows[at] = self._row(peer, seconds, per, note)

    def show(self) -> list[dict]:
        self._time_pending()
        ref = next((statistics.median(t) for p, t, _ in self.rows if p == "PyTorch eager" and t),
                   None)
        print(f"\n{self.scenario}  (time per {self.unit}; ratio = PyTorch's time / this one's)")
        print(f"  {'peer':26s} {'median':>11s} {'min':>11s} {'max':>11s} {'vs PyTorch':>11s}  note")
        results = []
        for peer, times, note in self.rows:
            if times is None:
                print(f"  {peer:26s} {'—':>11s} {'':>11s} {'':>11s} {'':>11s}  {note}")
                continue
            med = statistics.median(times)
            ratio = ref / med if ref else float("nan")
            target = TARGETS.get((self.scenario, peer))
            if target:
                verdict = "met" if ratio >= target else f"missed: {ratio / target:.2f} of it"
                note = f"{note}; target ≥ {target:g}×: {verdict}".lstrip("; ")
            print(f"  {peer:26s} {fmt(med):>11s} {fmt(min(times)):>11s} {fmt(max(times)):>11s}"
                  f" {ratio:>10.1f}×  {note}")
            results.append({"scenario": self.scenario, "peer": peer, "median": med,
                            "min": min(times), "max": max(times), "ratio": ratio, "note": note})
        return results


def fmt(seconds: float) -> str:
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


# ---------------------------------------------------------------------------------------
# The peers, each training a fresh model one epoch on rows X, targets y.

def chainrule_epoch(sizes, act, loss, X, y, bs, engine, momentum=0.0, dtype=np.float64,
                    shuffle=True):
    def run():
        model = cr.mlp(sizes, activation=act, seed=0, dtype=dtype)
        cr.fit(model, X, y, loss=loss, lr=0.01, epochs=1, batch_size=bs, seed=0, metrics=[],
               shuffle=shuffle,
               optimizer_options={"momentum": momentum} if momentum else None, engine=engine)
    return run


def chainrule_defaults(sizes, act, loss, X, y, epochs=1):
    """``fit`` as a user calls it: rows shuffled, the default metric each epoch, "auto"
    (the loop compiled earlier: one call with engine="fused" first)."""
    cr.fit(cr.mlp(sizes, activation=act, seed=0), X[:10], y[:10], loss=loss, epochs=1,
           engine="fused")

    def run():
        model = cr.mlp(sizes, activation=act, seed=0)
        cr.fit(model, X, y, loss=loss, lr=0.01, epochs=epochs, batch_size=1, seed=0)
    return run


def chainrule_regressor(sizes, X, y):
    """``chainrule.sklearn.MLPRegressor`` with S1's network and step, all else its defaults."""
    from chainrule.sklearn import MLPRegressor as Ours

    def run(engine=None):
        model = Ours(hidden_layer_sizes=tuple(sizes[1:-1]), activation="identity",
                     solver="sgd", batch_size=1, learning_rate_init=0.01, momentum=0.0,
                     max_iter=1, random_state=0, engine=engine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y.ravel())
    run("fused")  # the loop compiled earlier (as for fit's rows): then "auto" takes it
    return run


def torch_epoch(sizes, act, loss, X, y, bs, momentum=0.0, dtype=np.float64, shuffle=True):
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
    yt = torch.from_numpy(y) if loss == "cross_entropy" else torch.from_numpy(y.astype(dtype))
    acts = {"linear": torch.nn.Identity, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}
    lossfn = torch.nn.CrossEntropyLoss() if loss == "cross_entropy" else torch.nn.MSELoss()

    def run():
        torch.manual_seed(0)
        layers = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=tdtype))
            if k < len(sizes) - 2:
                layers.append(acts[act]())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
        order = torch.randperm(len(Xt)) if shuffle else torch.arange(len(Xt))
        for start in range(0, len(Xt), bs):
            rows = order[start:start + bs]
            opt.zero_grad()
            lossfn(model(Xt[rows]), yt[rows]).backward()
            opt.step()
    return run


def sklearn_epoch(sizes, act, loss, X, y, bs, momentum=0.0, shuffle=True):
    kind = MLPClassifier if loss == "cross_entropy" else MLPRegressor
    names = {"linear": "identity", "tanh": "tanh", "relu": "relu"}

    def run():
        model = kind(hidden_layer_sizes=tuple(sizes[1:-1]), activation=names[act], solver="sgd",
                     batch_size=bs, learning_rate_init=0.01, momentum=momentum,
                     nesterovs_momentum=False, max_iter=1, alpha=0.0, random_state=0,
                     shuffle=shuffle)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y.ravel() if loss != "cross_entropy" else y)
    return run


def numba_by_hand_epoch(X, y, with_tanh=True):
    """S2 written by hand in numba: one row a step, the softmax as scalars, every sum a
    local loop, no checks, nothing allocated per step, tanh from one exp as chainrule's
    loop computes it (``fastkernel.tanh``; numba's own calls the C library's, ~4× slower).
    Not a peer: the floor for a numba loop on this network here (``with_tanh=False``: the
    same without the 32 tanh, to show what they cost; that one learns nothing useful)."""
    import math

    import numba

    from chainrule.fastkernel import tanh

    @numba.njit(error_model="numpy")
    def epoch(X, Y, W1, b1, W2, b2, lr, with_tanh):
        ni, nh, no = W1.shape[0], W1.shape[1], W2.shape[1]
        z, h, o = np.empty(nh), np.empty(nh), np.empty(no)
        d1, d2 = np.empty(nh), np.empty(no)
        total = 0.0
        for row in range(X.shape[0]):
            for j in range(nh):
                z[j] = b1[j]
            for i in range(ni):
                xi = X[row, i]
                for j in range(nh):
                    z[j] += xi * W1[i, j]
            for j in range(nh):
                h[j] = tanh(z[j]) if with_tanh else z[j]
            for k in range(no):
                o[k] = b2[k]
            for j in range(nh):
                for k in range(no):
                    o[k] += h[j] * W2[j, k]
            m = o[0]
            for k in range(1, no):
                m = max(m, o[k])
            s = 0.0
            for k in range(no):
                d2[k] = math.exp(o[k] - m)
                s += d2[k]
            log_s = math.log(s)
            for k in range(no):
                total -= Y[row, k] * (o[k] - m - log_s)
                d2[k] = d2[k] / s - Y[row, k]
            for j in range(nh):
                t = 0.0
                for k in range(no):
                    t += W2[j, k] * d2[k]
                d1[j] = t * (1.0 - h[j] * h[j]) if with_tanh else t
            for j in range(nh):
                for k in range(no):
                    W2[j, k] -= lr * (h[j] * d2[k])
            for k in range(no):
                b2[k] -= lr * d2[k]
            for i in range(ni):
                xi = X[row, i]
                for j in range(nh):
                    W1[i, j] -= lr * (xi * d1[j])
            for j in range(nh):
                b1[j] -= lr * d1[j]
        return total

    Y = np.eye(10)[y]
    X = np.ascontiguousarray(X, dtype=np.float64)

    def run():
        rng = np.random.default_rng(0)
        W1, W2 = rng.standard_normal((64, 32)) * 0.1, rng.standard_normal((32, 10)) * 0.1
        epoch(X, Y, W1, np.zeros(32), W2, np.zeros(10), 0.01, with_tanh)
    return run


def numpy_by_hand_epoch(sizes, X, y, bs, momentum):
    """S3 written by hand in NumPy, no autograd: preallocated buffers, in-place ReLU and
    momentum, BLAS products.  Not a peer: the floor for any NumPy-based engine here."""
    Y = np.eye(sizes[-1], dtype=X.dtype)[y]

    def run():
        rng = np.random.default_rng(0)
        ws = [(rng.standard_normal((a, b)) * 0.05).astype(X.dtype)
              for a, b in zip(sizes[:-1], sizes[1:])]
        params = ws + [np.zeros(b, X.dtype) for b in sizes[1:]]
        grads = [np.empty_like(p) for p in params]
        bufs = [np.zeros_like(p) for p in params]
        acts = [np.empty((bs, s), X.dtype) for s in sizes]
        deltas = [np.empty((bs, s), X.dtype) for s in sizes]
        yb = np.empty((bs, sizes[-1]), X.dtype)
        order, nl = rng.permutation(len(X)), len(ws)
        for start in range(0, len(X) - bs + 1, bs):
            rows = order[start:start + bs]
            np.take(X, rows, axis=0, out=acts[0])
            np.take(Y, rows, axis=0, out=yb)
            for k in range(nl):
                np.matmul(acts[k], ws[k], out=acts[k + 1])
                acts[k + 1] += params[nl + k]
                if k < nl - 1:
                    np.maximum(acts[k + 1], 0, out=acts[k + 1])
            z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            e = np.exp(z)
            np.subtract(e / e.sum(axis=1, keepdims=True), yb, out=deltas[-1])
            deltas[-1] /= bs
            for k in range(nl - 1, -1, -1):
                np.matmul(acts[k].T, deltas[k + 1], out=grads[k])
                np.sum(deltas[k + 1], axis=0, out=grads[nl + k])
                if k:
                    np.matmul(deltas[k + 1], ws[k].T, out=deltas[k])
                    deltas[k] *= acts[k] > 0
            if not all(np.isfinite(g).all() for g in grads):
                raise FloatingPointError("diverged")
            for p, g, b in zip(params, grads, bufs):
                b *= momentum
                b += g
                np.multiply(b, 0.01, out=g)
                p -= g
    return run


def peers(table, sizes, act, loss, X, y, bs, full_rows, part_rows, momentum=0.0,
          dtype=np.float64, runs_slow=RUNS, shuffle=True):
    """Time every peer; ``part_rows`` rows for the slow ones (scaled to the full epoch)."""
    unit_rows = full_rows if table.unit == "epoch" else bs

    def add(peer, fn, rows, runs=RUNS):
        per = rows / unit_rows
        note = "" if rows == full_rows else f"timed on {rows:,} of {full_rows:,} rows, scaled"
        table.time(peer, fn, per, note, runs)

    add("chainrule fused", chainrule_epoch(sizes, act, loss, X, y, bs, "fused", momentum, dtype,
                                           shuffle), full_rows)
    if not shuffle:  # what shuffling each epoch (NumPy's permutation) adds to the fused loop
        add("chainrule fused, shuffled", chainrule_epoch(sizes, act, loss, X, y, bs, "fused",
                                                         momentum, dtype, True), full_rows)
    add("chainrule graph", chainrule_epoch(sizes, act, loss, X[:part_rows], y[:part_rows], bs,
                                           "graph", momentum, dtype, shuffle), part_rows,
        runs_slow)
    if torch is None:
        table.skip("PyTorch eager", "not installed: pip install torch==2.13.0")
    else:
        add("PyTorch eager", torch_epoch(sizes, act, loss, X[:part_rows], y[:part_rows], bs,
                                         momentum, dtype, shuffle), part_rows, runs_slow)
    if sklearn is None:
        table.skip("scikit-learn MLP", "not installed: pip install scikit-learn")
    else:
        add("scikit-learn MLP", sklearn_epoch(sizes, act, loss, X[:part_rows], y[:part_rows], bs,
                                              momentum, shuffle), part_rows, min(runs_slow, 3))


# ---------------------------------------------------------------------------------------
# The scenarios.

def seed_like_rows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Standardized (IQ, CGPA) → package rows like the seed's table."""
    iq, cgpa = rng.normal(100, 15, n), rng.normal(7, 1.2, n)
    package = 0.05 * iq + 0.6 * cgpa - 4 + rng.normal(0, 0.5, n)
    X = np.column_stack([iq, cgpa])
    X = (X - X.mean(0)) / X.std(0)
    y = ((package - package.mean()) / package.std())[:, None]
    return X, y


def s1() -> list[dict]:
    X, y = seed_like_rows(100_000, np.random.default_rng(0))
    table = Table("S1", "step")
    # The seed's algorithm takes the rows in order ("repeat for every row"): every peer
    # does so here; a row for chainrule with shuffling shows what NumPy's permutation adds.
    peers(table, [2, 2, 1], "linear", "mse", X, y, 1, 100_000, 10_000, shuffle=False)
    table.time("chainrule fit, defaults", chainrule_defaults([2, 2, 1], "linear", "mse", X, y),
               100_000, "rows shuffled, R² each epoch, engine auto (loop compiled earlier)")
    if sklearn is not None:
        table.time("chainrule MLPRegressor, defaults", chainrule_regressor([2, 2, 1], X, y),
                   100_000, "alpha 1e-4 (its penalty in the all-locals step), shuffled, loss "
                   "curve; auto")
    return table.show()


def s2() -> list[dict]:
    if sklearn is None:
        print("\nS2 needs scikit-learn's load_digits: pip install scikit-learn")
        return []
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = (digits.data - digits.data.mean(0)) / np.maximum(digits.data.std(0), 1e-12)
    table = Table("S2", "step")
    n = len(X)
    peers(table, [64, 32, 10], "tanh", "cross_entropy", X, digits.target, 1, n, n)
    table.time("chainrule fit, defaults, 5 epochs",
               chainrule_defaults([64, 32, 10], "tanh", "cross_entropy", X, digits.target, 5),
               5 * n, "rows shuffled, accuracy each epoch, engine auto (loop compiled earlier)")
    table.time("numba by hand (floor)", numba_by_hand_epoch(X, digits.target), n,
              "scalar softmax, no checks, nothing allocated: the floor for a numba loop")
    table.time("… the same without tanh", numba_by_hand_epoch(X, digits.target, False), n,
              "what the 32 tanh a step cost (not a model)")
    return table.show()


def matmul_seconds(X: np.ndarray, sizes: list[int], bs: int, steps: int) -> tuple[float, float]:
    """Seconds for one epoch's matrix products alone (forward, ∂W, ∂input; timed on
    ``steps`` steps and scaled), and their GFLOP/s."""
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((a, b)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    a0 = X[:bs]
    acts = [a0]
    for w in ws:
        acts.append(acts[-1] @ w)

    def epoch():
        for _ in range(steps):
            a = a0
            for w in ws:
                a = a @ w
            d = acts[-1]
            for k in range(len(ws) - 1, -1, -1):
                acts[k].T @ d
                if k:
                    d = d @ ws[k].T
    per_step = statistics.median(timed(epoch, 3)) / steps
    flops = 2 * bs * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    flops = 3 * flops - 2 * bs * sizes[0] * sizes[1]  # no ∂input for the first layer
    return per_step * -(-len(X) // bs), flops / per_step / 1e9


def s3() -> list[dict]:
    rng = np.random.default_rng(0)
    n, sizes, bs = 60_000, [784, 256, 128, 10], 128
    part = n  # whole epochs: a part, scaled up, would scale each run's set-up with it
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    table = Table("S3", "epoch")
    bound, gflops = matmul_seconds(X, sizes, bs, n // bs)
    print(f"\nS3 matrix products alone: {fmt(bound)} per epoch ({gflops:.1f} GFLOP/s, NumPy's BLAS);"
          f" the issue's bound is 1.3 × that = {fmt(1.3 * bound)}")
    table.time("chainrule (auto)", chainrule_epoch(sizes, "relu", "cross_entropy", X[:part],
                                                   y[:part], bs, "auto", 0.9, np.float32),
               part / n, lambda auto: f"{statistics.median(auto) / bound:.2f} × the matrix "
               "products alone (bound 1.3); auto takes the fused plan's BLAS form here", 3)
    peers(table, sizes, "relu", "cross_entropy", X, y, bs, n, part, 0.9, np.float32,
          runs_slow=3)
    table.time("NumPy by hand (floor)", numpy_by_hand_epoch(sizes, X, y, bs, 0.9), 1,
               "no autograd, preallocated, in place: the floor for a NumPy engine", 3)
    return table.show()


def import_times() -> None:
    def once(module: str) -> float:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return float(out.stdout) if out.returncode == 0 else float("nan")
    print("\nimport time (fresh interpreter, median of 5):")
    for module in ("chainrule", "torch", "sklearn.neural_network"):
        times = [once(module) for _ in range(5)]
        print(f"  import {module:24s} {fmt(statistics.median(times))}")


COMPILE_SHAPES = [  # (what, sizes, activation, loss, optimiser, batch size)
    ("the seed 2-2-1 linear/sgd", [2, 2, 1], "linear", "mse", "sgd", 1),
    ("iris 4-8-3 tanh/adam, cross-entropy", [4, 8, 3], "tanh", "cross_entropy", "adam", 1),
    ("4-16-8-1 tanh/sgd", [4, 16, 8, 1], "tanh", "mse", "sgd", 1),
    ("digits 64-32-10 tanh/sgd, cross-entropy", [64, 32, 10], "tanh", "cross_entropy", "sgd",
     1),
    ("4-8-3 tanh/adam, batch 16", [4, 8, 3], "tanh", "cross_entropy", "adam", 16),
]


def compile_times(cold: bool) -> None:
    """The fused loop's first call for a few shapes, in a fresh interpreter: compiling with
    an empty cache (``cold``), then loaded from the disk cache."""
    print("\nfirst call of the fused loop (float64), in a fresh interpreter:")
    print(f"  {'network':42s} {'cold (compiles)':>16s} {'from disk cache':>16s}")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, CHAINRULE_CACHE_DIR=cache)
        env.pop("NUMBA_CACHE_DIR", None)
        for what, sizes, act, loss, opt, bs in COMPILE_SHAPES:
            code = ("import time, numpy as np, chainrule as cr; "
                    f"m = cr.mlp({sizes}, activation={act!r}, seed=0); "
                    f"X = np.zeros((32, {sizes[0]})); "
                    f"y = np.arange(32) % {sizes[-1]} if {loss!r} == 'cross_entropy' "
                    f"else np.zeros((32, {sizes[-1]})); t = time.perf_counter(); "
                    f"cr.fit(m, X, y, loss={loss!r}, optimizer={opt!r}, epochs=1, "
                    f"batch_size={bs}, metrics=[], engine='fused'); "
                    "print(time.perf_counter() - t)")
            times = []
            for _ in range(2 if cold else 1):
                out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, env=env if cold else None)
                times.append(float(out.stdout) if out.returncode == 0 else float("nan"))
            first = fmt(times[0]) if cold else "(skipped)"
            print(f"  {what:42s} {first:>16s} {fmt(times[-1]):>16s}")


def machine() -> None:
    print(f"chainrule {cr.__version__} benchmarks, {datetime.date.today()}")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor()) \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    try:
        numba_version = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        numba_version = "missing (the fused loop can't run)"
    print(f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
          f"NumPy {np.__version__}, numba {numba_version}")
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
                f"{i['num_threads']} threads)" for i in threadpool_info()]
        print(f"BLAS: {'; '.join(blas)}")
    except ImportError:
        pass
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        print(f"{var}={os.environ.get(var, '(unset)')}")
    print(f"peers: PyTorch {torch.__version__ if torch else 'missing (pip install torch==2.13.0)'}"
          f" ({torch.get_num_threads() if torch else 0} threads), scikit-learn "
          f"{sklearn.__version__ if sklearn else 'missing (pip install scikit-learn)'}")
    print(f"load average before the run: {os.getloadavg()[0]:.2f}")


def main(argv: list[str]) -> None:
    chosen = [a for a in argv if not a.startswith("-")] or ["S1", "S2", "S3"]
    machine()
    import_times()
    compile_times(cold="--no-cold" not in argv)
    for name in chosen:
        {"S1": s1, "S2": s2, "S3": s3}[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
