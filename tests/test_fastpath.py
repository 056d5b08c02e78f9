"""The fused training loop (``fastpath``) against the graph engine.

The graph engine is the reference.  The cases are generated from the tables: every
activation, loss and optimiser whose entry carries a fused form is trained both ways
from the same seed and row order, and the weights must agree to 1e-12 relative in
float64 and 1e-5 in float32 (the two differ only in the order of additions inside a
matrix product).  A new table entry is in these tests the moment it exists.

Each combination of a loss and an update rule is a kernel of its own, compiled once per
machine (seconds a layer); an optimiser's numbers and the layers' widths are run-time
arguments, so the variants of ``OPTIONS`` and networks that differ only in width reuse
one.  Hence two sets:

* the default run (``CASES``): each loss trains one network of three hidden layers whose
  activations take turns through the table, and the optimisers take turns over the
  losses, so every entry of each table is trained at least once (11 kernels);
* the full product (``PRODUCT``, marked slow: ~45 kernels; the per-row losses' cases
  also ``product``, run on request with ``-m product``): for every fusable loss
  (scikit-learn's objectives too) and optimiser, one network whose hidden layers are
  every fusable activation in turn, so every (activation × loss × optimiser) triple is
  trained on both engines.  Losses with a term per output train a chain one neuron wide
  at batch size 1 (the all-locals form, quick to compile); those with a term per row
  (cross-entropy) run in the loops form, three neurons wide.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import fastcode, fastpath, losses, ops, optim
from chainrule.nn.activations import ACTIVATIONS, get_activation
from chainrule.schedules import StepDecay
from chainrule.tensor import Tensor

pytest.importorskip("numba")
from chainrule import fastkernel  # noqa: E402  (needs numba)

ROWS = 23  # not a multiple of 7: the last batch is short


def _fusable(table: dict) -> list[str]:
    return [name for name, entry in table.items() if entry.fused is not None]


def _spec(name: str) -> str:
    """The activation with a number other than its default where it takes one."""
    entry = ACTIVATIONS[name]
    return f"{name}:{next(iter(entry.params.values())) + 0.25}" if entry.params else name


HIDDEN = [_spec(name) for name in _fusable(ACTIVATIONS)]  # every one
LOSS_NAMES = _fusable(losses.LOSSES)
OPTIMIZER_NAMES = list(optim.OPTIMIZERS)
BATCHES = (1, 7, "full")
DEPTH = 3  # hidden layers a case: the activations take turns
# (hidden activations, output activation, loss, optimiser, options, batch size, weighted)
CASES = [([HIDDEN[(DEPTH * i + k) % len(HIDDEN)] for k in range(DEPTH)], "linear",
          LOSS_NAMES[i % len(LOSS_NAMES)], OPTIMIZER_NAMES[i % len(OPTIMIZER_NAMES)],
          {"weight_decay": 0.01}, BATCHES[i % len(BATCHES)], i % 2 == 1)
         for i in range(max(len(LOSS_NAMES), -(-len(HIDDEN) // DEPTH)))]
# every optimiser in the table with its other numbers: the same kernels as above
OPTIONS = {"sgd": {"momentum": 0.9, "nesterov": True}, "adamw": {"weight_decay": 0.1},
           "adam": {"betas": (0.8, 0.99)}, "rmsprop": {"centered": True, "momentum": 0.5},
           "adagrad": {"lr_decay": 0.1, "initial_accumulator_value": 0.1}}
VARIANTS = [case[:4] + ({**case[4], **OPTIONS.get(case[3], {})},) + case[5:] for case in CASES]
FLOAT32_CASES = [case for case in CASES if case[5] == 1]  # batch 1: all-locals where small


def _ids(case) -> str:
    return f"{case[2]}-{case[3]}-bs{case[5]}" + ("-weighted" if case[6] else "")


def _data(loss: str, rng: np.random.Generator):
    X = rng.standard_normal((ROWS, 3))
    if loss == "cross_entropy":
        return X, rng.integers(0, 3, ROWS), 3
    if loss == "bce":
        return X, rng.integers(0, 2, ROWS), 1
    return X, rng.standard_normal((ROWS, 2)), 2


def _train(engine: str, case, dtype=np.float64, epochs: int = 4, lr=None):
    hidden, out_act, loss, opt, options, bs, weighted = case
    rng = np.random.default_rng(1)
    X, y, outputs = _data(loss, rng)
    weights = rng.uniform(0.0, 2.0, ROWS) if weighted else None
    widths = [3] * len(hidden) if isinstance(hidden, list) else [4, 5]
    model = cr.mlp([3, *widths, outputs], activation=hidden, output_activation=out_act,
                   seed=3, dtype=dtype)
    history = cr.fit(model, X, y, loss=loss, optimizer=opt, optimizer_options=dict(options),
                     epochs=epochs, batch_size=bs, seed=7, lr=lr, sample_weight=weights,
                     engine=engine)
    return model, history


def _assert_same(fused, graph, rtol):
    (m1, h1), (m2, h2) = fused, graph
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        scale = np.max(np.abs(q.data))
        np.testing.assert_allclose(p.data, q.data, rtol=rtol, atol=rtol * scale, err_msg=name)
    np.testing.assert_allclose(h1.loss, h2.loss, rtol=rtol)
    assert h1.steps == h2.steps


# every fusable loss (scikit-learn's objectives too) × every optimiser (with its default
# numbers and with OPTIONS': together every update rule), each over a chain of every
# fusable activation
PRODUCT_LOSSES = LOSS_NAMES + _fusable(losses.SKLEARN_LOSSES)
PRODUCT = [(loss, opt) for loss in PRODUCT_LOSSES for opt in OPTIMIZER_NAMES]
# The losses with a term per row (cross-entropy, sse_half) run the product in the loops
# form over nine layers: a compile of one to several minutes per update rule, about 20
# minutes in all on two cores.  Those cases carry the `product` marker and run on request
# (`python3 -m pytest -m product`); CI's slow step runs the rest of the product.
PRODUCT_CASES = [pytest.param(loss, opt, marks=pytest.mark.product)
                 if losses.fused_entry(loss).per_row else (loss, opt) for loss, opt in PRODUCT]


def _rule(opt: str, options: dict) -> str:
    return optim.make_optimizer(opt, cr.mlp([1, 1]).parameters(), **options).fused_rule().name


def _train_chain(engine: str, loss: str, opt: str, options: dict, index: int):
    """A network of one hidden layer per fusable activation (``HIDDEN``), trained 4 epochs."""
    rng = np.random.default_rng(1)
    base = loss.removeprefix("sklearn_")
    X, y, outputs = _data(base, rng)
    weights = rng.uniform(0.0, 2.0, ROWS) if index % 2 else None
    per_row = losses.fused_entry(loss).per_row
    width, bs = (3, BATCHES[index % len(BATCHES)]) if per_row else (1, 1)
    model = cr.mlp([3, *[width] * len(HIDDEN), outputs], activation=HIDDEN, seed=3)
    start = [p.data.copy() for p in model.parameters()]
    objective: str | losses.Loss = loss
    if loss in losses.SKLEARN_LOSSES:  # scikit-learn's objective: its model and α
        pytest.importorskip("sklearn")
        from chainrule.sklearn import Objective
        objective = Objective.of(base, model, alpha=0.1)
        if base in losses.CLASSIFICATION_LOSSES:  # its targets are the columns as given
            y = np.eye(3)[y] if outputs == 3 else y[:, None].astype(float)
    history = cr.fit(model, X, y, loss=objective, optimizer=opt, optimizer_options=options,
                     epochs=4, batch_size=bs, seed=7, sample_weight=weights, engine=engine,
                     metrics=[])
    if engine == "graph":  # every weight and bias trained (no layer dead: a real check)
        assert all(not np.array_equal(a, p.data) for a, p in zip(start, model.parameters()))
    return model, history


def test_the_product_covers_every_activation_loss_and_update_rule_of_the_tables():
    assert {(a, loss, opt) for loss, opt in PRODUCT for a in HIDDEN} == {
        (a, loss, opt) for a in HIDDEN for loss in PRODUCT_LOSSES for opt in OPTIMIZER_NAMES}
    assert {_spec(n) for n, a in ACTIVATIONS.items() if a.fused} == set(HIDDEN)
    assert set(PRODUCT_LOSSES) == {n for table in (losses.LOSSES, losses.SKLEARN_LOSSES)
                                   for n, entry in table.items() if entry.fused}
    assert {_rule(opt, o) for opt in OPTIMIZER_NAMES for o in ({}, OPTIONS.get(opt, {}))} == \
        set(optim.RULES)


@pytest.mark.slow
@pytest.mark.parametrize("loss, opt", PRODUCT_CASES, ids=lambda v: v)
def test_every_activation_loss_and_optimiser_trains_alike_on_both_engines(loss, opt):
    """The full product: every fusable activation (one hidden layer each) with this loss
    and optimiser, with its default numbers and with ``OPTIONS``' (the same kernel)."""
    index = PRODUCT.index((loss, opt))
    for options in ({}, OPTIONS.get(opt, {})):
        _assert_same(_train_chain("fused", loss, opt, dict(options), index),
                     _train_chain("graph", loss, opt, dict(options), index), rtol=1e-12)


def test_the_cases_cover_every_fusable_entry_of_the_tables():
    assert {a.split(":")[0] for a in HIDDEN} == {n for n, a in ACTIVATIONS.items() if a.fused}
    assert {a for case in CASES for a in case[0]} == set(HIDDEN)
    assert {c[2] for c in CASES} == {n for n, l in losses.LOSSES.items() if l.fused}
    assert {c[3] for c in CASES} == set(optim.OPTIMIZERS)
    assert "softmax" not in HIDDEN and {c[5] for c in CASES} == set(BATCHES)


@pytest.mark.parametrize("case", CASES + VARIANTS, ids=_ids)
def test_fused_training_gives_the_graph_engines_weights_float64(case):
    _assert_same(_train("fused", case), _train("graph", case), rtol=1e-12)


@pytest.mark.parametrize("case", FLOAT32_CASES, ids=_ids)
def test_fused_training_gives_the_graph_engines_weights_float32(case):
    fused, graph = _train("fused", case, np.float32), _train("graph", case, np.float32)
    assert fused[0].dtype == np.float32
    _assert_same(fused, graph, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_big_steps_run_as_blas_products_with_the_graph_engines_weights(case, monkeypatch):
    """Steps over ``AUTO_MAX_WORK`` multiply-adds run as NumPy products on arrays allocated
    once (here: every step, the bound set to 0), with the optimiser's own step."""
    monkeypatch.setattr(fastpath, "AUTO_MAX_WORK", 0)
    model = cr.mlp([3, 4, 5, 2])
    assert fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters())).uses_blas(1)
    _assert_same(_train("fused", case), _train("graph", case), rtol=1e-12)
    fused = _train("fused", case, dtype=np.float32)
    assert fused[0].dtype == np.float32
    _assert_same(fused, _train("graph", case, dtype=np.float32), rtol=1e-5)


def test_blas_form_refuses_rows_outside_the_data(monkeypatch):
    monkeypatch.setattr(fastpath, "AUTO_MAX_WORK", 0)
    model = cr.mlp([3, 4, 2])
    plan = fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters()))
    X, Y = np.zeros((5, 3)), np.zeros((5, 2))
    assert plan.run(X, Y, None, np.array([4, -5, 0]), 2).seen == 3  # as NumPy indexes
    for bad in ([0, 5], [-6, 1]):
        with pytest.raises(IndexError):
            plan.run(X, Y, None, np.array(bad), 2)


def test_auto_takes_blas_products_for_big_steps_without_compiling(monkeypatch):
    monkeypatch.setattr(fastpath, "AUTO_MAX_WORK", 100)
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    model = cr.mlp([3, 4, 1], seed=0)
    plan = fastpath.choose("auto", model, losses.MSE, cr.SGD(model.parameters()), steps=5,
                           batch_size=8)
    assert plan is not None and plan.uses_blas(8) and not plan.uses_blas(3)
    cr.fit(model, np.ones((16, 3)), np.ones(16), batch_size=8, epochs=2, engine="auto")
    plan.run(np.ones((10, 3)), np.ones((10, 1)), None, np.arange(7, 10), 8)  # 3 rows left
    assert fastkernel._EPOCHS == {}  # nothing compiled
    assert [p.grad.shape for p in model.parameters()] == [(3, 4), (4,), (4, 1), (1,)]


def test_a_schedule_changes_the_rate_per_epoch_on_both_engines():
    case = ("tanh", "linear", "mse", "sgd", {"momentum": 0.9}, 7, False)
    schedule = StepDecay(0.05, step_size=1, gamma=0.5)
    _assert_same(_train("fused", case, lr=schedule), _train("graph", case, lr=schedule), 1e-12)


def test_the_seed_network_learns_the_seed_table_with_the_seed_algorithm(seed_table):
    """Batch size 1, linear, MSE, plain SGD: the hand-formula trainer is the reference."""
    X, y = seed_table
    Xs = (X - X.mean(0)) / X.std(0)
    model = cr.seed_network()
    cr.fit(model, Xs, y, epochs=5, lr=0.01, shuffle=False, engine="fused")
    graph = cr.seed_network()
    cr.fit(graph, Xs, y, epochs=5, lr=0.01, shuffle=False, engine="graph")
    for p, q in zip(model.parameters(), graph.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-14)


def test_the_fused_path_updates_the_models_and_optimisers_own_arrays():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 3)), rng.standard_normal((50, 1))
    model = cr.mlp([3, 4, 1], activation="tanh", seed=0)
    arrays = [p.data for p in model.parameters()]
    before = [a.copy() for a in arrays]
    opt = cr.SGD(model.parameters(), lr=0.05, momentum=0.9)
    buffers = list(opt.momentum_buffer)
    cr.fit(model, X, y, optimizer=opt, epochs=2, engine="fused")
    assert all(p.data is a for p, a in zip(model.parameters(), arrays))
    assert all(b is c for b, c in zip(opt.momentum_buffer, buffers))
    assert all(not np.array_equal(a, b) for a, b in zip(arrays, before))
    assert all(np.any(b != 0) for b in buffers)
    assert opt.steps == 100


def test_adam_counts_its_steps_the_same_on_both_engines():
    models = {}
    for engine in ("fused", "graph"):
        model = cr.mlp([3, 4, 1], activation="relu", seed=0)
        opt = cr.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(0)
        cr.fit(model, rng.standard_normal((20, 3)), rng.standard_normal((20, 1)),
               optimizer=opt, epochs=3, batch_size=6, engine=engine)
        models[engine] = (opt.t, opt.steps)
    assert models["fused"] == models["graph"] == ([12] * 4, 12)


@pytest.mark.parametrize("blas", [False, True])
def test_divergence_raises_the_same_error_with_the_same_weights_on_both_engines(blas,
                                                                              monkeypatch):
    if blas:
        monkeypatch.setattr(fastpath, "AUTO_MAX_WORK", 0)
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1e3, -2e3]])
    y = np.array([[1.0], [2.0], [3.0]])
    results = {}
    for engine in ("fused", "graph"):
        model = cr.seed_network()
        with pytest.raises(cr.DivergenceError) as err:
            cr.fit(model, X, y, lr=1.0, epochs=50, shuffle=False, engine=engine)
        results[engine] = (str(err.value), [p.data.copy() for p in model.parameters()])
    assert results["fused"][0] == results["graph"][0]
    assert "diverged" in results["fused"][0]
    for a, b in zip(results["fused"][1], results["graph"][1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("hidden, blas", [(2, False), (200, False), (2, True)])
def test_a_nonfinite_gradient_is_caught_before_the_update(hidden, blas, monkeypatch):
    """A finite loss whose gradient overflows (huge inputs, MAE): the graph's message (in
    the all-locals form, the loops form with SGD in place, and as BLAS products)."""
    if blas:
        monkeypatch.setattr(fastpath, "AUTO_MAX_WORK", 0)
    X = np.array([[1e300, 1e300], [1.0, 1.0]])
    y = np.array([[0.0], [0.0]])
    messages = []
    for engine in ("fused", "graph"):
        model = cr.mlp([2, hidden, 1], init="ones")
        with pytest.raises(cr.DivergenceError) as err:
            cr.fit(model, X, y, loss="mae", epochs=1, shuffle=False, engine=engine)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_sums_that_overflow_where_no_gradient_does_still_train_in_the_loops_form():
    """SGD in place checks Σ|A_prev| · Σ|Δ| (float32 here): 200 hidden outputs of 1e37 sum to
    ∞ though each gradient (1e37) is finite, so the step takes the slower way (gradients
    formed and checked) and gives the graph engine's weights, with no false alarm."""
    hidden = np.full(200, 1e37, dtype=np.float32)  # the check's sum for the second layer
    assert np.isinf(fastkernel.abs_sum(hidden, 0, 200, np.float32(0.0)))
    assert np.isfinite(fastkernel.abs_sum(hidden, 0, 20, np.float32(0.0)))
    X = np.full((1, 2), 5e36, dtype=np.float32)
    y = np.zeros((1, 1), dtype=np.float32)
    weights = []
    for engine in ("fused", "graph"):
        model = cr.mlp([2, 200, 1], init="ones", dtype=np.float32)
        model.layers[1].weight.data[...] = 0.1  # ŷ = 2e38, still finite
        cr.fit(model, X, y, loss="mae", lr=2e-38, epochs=1, shuffle=False, engine=engine,
               metrics=[])
        weights.append([p.data.copy() for p in model.parameters()])
    np.testing.assert_allclose(weights[0][2], -0.1, rtol=1e-5)  # 0.1 − 2e-38 · 1e37
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_float32_overflows_where_the_graph_engines_does_in_the_all_locals_form():
    """The all-locals form rounds each number to float32 as the arrays do: a gradient of
    1e50 is inf in float32, so both engines stop at step 1 with the weights untouched."""
    X, y = np.array([[1e20], [1e20]], dtype=np.float32), np.zeros(2, dtype=np.float32)
    results = []
    for engine in ("fused", "graph"):
        model = cr.mlp([1, 1, 1], dtype=np.float32)
        model.layers[0].weight.data[...] = 1e-20
        model.layers[1].weight.data[...] = 1e30
        before = [p.data.copy() for p in model.parameters()]
        with pytest.raises(cr.DivergenceError) as err:
            cr.fit(model, X, y, loss="mae", lr=1e-6, epochs=1, shuffle=False, engine=engine,
                   metrics=[])
        for p, b in zip(model.parameters(), before):
            np.testing.assert_array_equal(p.data, b)
        results.append(str(err.value))
    assert results[0] == results[1] and "step 1" in results[0]


class _EveryBatch(cr.Callback):
    def on_batch_end(self, step, loss):
        pass


class _HookedOnTheObject(cr.Callback):
    def __init__(self):
        self.on_batch_end = lambda step, loss: None


def _twice():
    dense = cr.Dense(3, 3)
    return cr.Sequential([dense, dense]), {}


class _TwoLayers(cr.Module):  # a model of the user's own: not a Sequential
    def __init__(self):
        self.first, self.second = cr.Dense(3, 4), cr.Dense(4, 3)

    def forward(self, x):
        return self.second(self.first(x))


class _Halve(cr.Module):  # a layer of the user's own: not a Dense
    def forward(self, x):
        return x * 0.5


@pytest.mark.parametrize("build, words", [
    (lambda: (cr.mlp([3, 3]), {"callbacks": [_HookedOnTheObject()]}), "_HookedOnTheObject"),
    (_twice, "more than once"),
    (lambda: (cr.mlp([3, 3], output_activation="softmax"), {}), "softmax"),
    (lambda: (cr.mlp([3, 3]), {"callbacks": [_EveryBatch()]}), "_EveryBatch"),
    (lambda: (_TwoLayers(), {}), "not a Sequential"),
    (lambda: (cr.Sequential([cr.Dense(3, 3), _Halve()]), {}), "layer 2 is a _Halve"),
])
def test_engine_fused_says_why_it_cannot_run_a_model(build, words):
    model, extra = build()
    X, y = np.ones((4, 3)), np.ones((4, 3))
    with pytest.raises(cr.ConfigError, match=words):
        cr.fit(model, X, y, epochs=1, engine="fused", **extra)
    history = cr.fit(model, X, y, epochs=1, engine="auto", **extra)  # falls back to the graph
    assert len(history) == 1


def test_without_numba_auto_trains_on_the_graph_and_fused_says_so(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real(name, *a))
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` fails
    model = cr.mlp([2, 1])
    X, y = np.ones((3, 2)), np.ones((3, 1))
    assert fastpath.reason(model, losses.MSE, cr.SGD(model.parameters())) == \
        "numba is not installed (pip install numba)"
    with pytest.raises(cr.ConfigError, match="pip install numba"):
        cr.fit(model, X, y, epochs=1, engine="fused")
    assert len(cr.fit(model, X, y, epochs=1, engine="auto")) == 1


def test_without_numba_big_steps_still_run_as_blas_products(monkeypatch):
    # the BLAS form compiles nothing: a missing numba only stops small steps
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba" else real(name, *a))
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` fails
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((40, 300)), rng.standard_normal((40, 2))
    model = cr.mlp([300, 30, 2], activation="tanh", seed=1)
    opt = cr.SGD(model.parameters(), lr=0.01, momentum=0.9)
    assert fastpath.reason(model, losses.MSE, opt, batch_size=40) is None  # 40 × 9,060 > 250,000
    assert "numba" in fastpath.reason(model, losses.MSE, opt, batch_size=20)
    assert fastpath.choose("auto", model, losses.MSE, opt, batch_size=40).uses_blas(40)
    runs = {}
    for engine in ("fused", "graph"):
        model = cr.mlp([300, 30, 2], activation="tanh", seed=1)
        opt = cr.SGD(model.parameters(), lr=0.01, momentum=0.9)
        cr.fit(model, X, y, epochs=3, batch_size=40, optimizer=opt, engine=engine, seed=0)
        runs[engine] = [p.data.copy() for p in model.parameters()]
    for a, b in zip(runs["fused"], runs["graph"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    # and with numba truly impossible to import (a fresh process that blocks it)
    code = """if True:
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "numba":
                    raise ImportError("numba blocked")
        sys.meta_path.insert(0, Block())
        import numpy as np, chainrule as cr
        rng = np.random.default_rng(3)
        X, y = rng.standard_normal((40, 300)), rng.standard_normal((40, 2))
        h = cr.fit(cr.mlp([300, 30, 2], seed=1), X, y, epochs=2, batch_size=40, engine="fused")
        print(len(h), "numba" in sys.modules)
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "False"]


def test_a_numba_that_is_installed_but_broken_is_a_config_error(monkeypatch):
    # find_spec finds it (reason() lets the plan through); importing it fails
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "chainrule.fastkernel")
    model = cr.mlp([2, 1])
    plan = fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters()))
    with pytest.raises(cr.ConfigError, match="installed but can't be imported.*engine='graph'"):
        plan.kernel(1)


def test_a_child_forked_while_an_epoch_was_loading_can_load_one(monkeypatch):
    import os
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    with fastkernel._LOADING:  # as if another thread were loading an epoch now
        pid = os.fork()
        if pid == 0:  # the child: the lock must be free, or epoch() would wait forever
            os._exit(0 if fastkernel._LOADING.acquire(timeout=5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_unknown_engine_is_a_config_error():
    with pytest.raises(cr.ConfigError, match="engine"):
        cr.fit(cr.mlp([2, 1]), np.ones((3, 2)), np.ones((3, 1)), engine="gpu")


def test_auto_compiles_only_when_the_graph_would_take_longer_and_says_so(monkeypatch):
    """Not compiled yet: ``auto`` weighs the compile (``compile_seconds``) against the graph
    engine's time for the run (``graph_seconds``): a short run trains on the graph, a long
    one announces the compile in one line (``on_compile``), compiles, and runs fused."""
    monkeypatch.setattr(fastpath, "compiled", lambda plan, bs: False)
    model = cr.mlp([2, 3, 1], seed=0)
    plan = fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters()))
    cost = fastpath.compile_seconds(plan.shape(1))
    per_step = fastpath.graph_seconds(plan.widths, 1, 1)
    assert cost == fastpath.COMPILE_SECONDS[0] + 2 * fastpath.COMPILE_SECONDS[1]
    # the graph engine's step: a part per layer and the products' multiply-adds
    assert per_step == pytest.approx(2 * 25e-6 + 3 * 9 * 1e-9)
    lines = []
    short = int(cost / per_step * 0.9)
    assert fastpath.choose("auto", model, losses.MSE, cr.SGD(model.parameters()), steps=short,
                           on_compile=lines.append) is None and lines == []
    chosen = fastpath.choose("auto", model, losses.MSE, cr.SGD(model.parameters()),
                             steps=int(cost / per_step * 1.1), on_compile=lines.append)
    assert chosen is not None and lines == [
        f"compiling the fast loop for 2-3-1 linear/sgd (once per machine, ~{cost:.0f} s)…"]
    assert fastkernel.cached(chosen.shape(1), np.float64)  # compiled then, not in the epoch


def test_auto_runs_fused_whenever_the_loop_is_at_hand(monkeypatch):
    calls = []
    real = fastpath.Plan.run
    monkeypatch.setattr(fastpath.Plan, "run",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    cr.fit(cr.mlp([2, 1]), np.ones((5, 2)), np.ones((5, 1)), epochs=1, engine="fused")
    calls.clear()
    lines = []
    cr.fit(cr.mlp([2, 1]), np.ones((5, 2)), np.ones((5, 1)), epochs=3, engine="auto",
           on_compile=lines.append)  # 15 steps: the graph would be quicker than a compile
    assert len(calls) == 3 and lines == []


def test_networks_that_differ_only_in_widths_share_one_compiled_epoch(monkeypatch):
    """The loops form reads the widths from ``dims`` at run time: one source, one compile."""
    shapes = [fastcode.Shape(widths, ("tanh", "linear"), "cross_entropy", "adam", True)
              for widths in ((4, 8, 3), (4, 16, 3), (64, 32, 10))]
    assert len({fastcode.source_file(shape)[0] for shape in shapes}) == 1
    small = fastcode.Shape((2, 2, 1), ("tanh", "linear"), "mse", "sgd", True)
    other = fastcode.Shape((2, 3, 1), ("tanh", "linear"), "mse", "sgd", True)
    assert fastcode.scalar(small) and fastcode.source_file(small)[0] != \
        fastcode.source_file(other)[0]  # the all-locals form is written per shape


@pytest.mark.parametrize("name", _fusable(ACTIVATIONS))
def test_each_activations_fused_form_is_its_function_and_derivative_compiled(name, rng):
    """The compiled loop's f and f' (the entry's fused form, compiled) give the graph
    engine's f(z) and f'(z) (from the output, or from z) number by number."""
    entry = get_activation(_spec(name))
    forward, slope = fastkernel.activation(name)
    p = next(iter(entry.params.values()), 0.0)
    z = np.concatenate([rng.standard_normal(40) * 3, [0.0, -0.0, 1e-8, -30.0, 30.0]])
    out = entry.fn(z)
    grad = entry.grad(z if entry.grad_from == "z" else out)
    # to a few units in the last place: numba's exp and tanh of one number are the C
    # library's, NumPy's its own vector loops (1e-15 near a zero of f or f')
    np.testing.assert_allclose([forward(v, p) for v in z], out, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose([slope(a, v, p) for a, v in zip(out, z)], grad, rtol=1e-14,
                               atol=1e-15)


@pytest.mark.parametrize("name", _fusable(losses.LOSSES) + _fusable(losses.SKLEARN_LOSSES))
def test_each_losses_fused_form_is_its_value_and_gradient_compiled(name, rng):
    loss = losses.fused_entry(name)
    pred = rng.standard_normal((4, 3))
    y = np.eye(3)[rng.integers(0, 3, 4)] if name.replace("sklearn_", "") in \
        losses.CLASSIFICATION_LOSSES \
        else rng.standard_normal((4, 3))
    form = fastkernel.loss(name)
    if loss.per_row:
        got = [form(p, t) for p, t in zip(pred, y)]
        np.testing.assert_allclose([g[0] for g in got], loss.value(pred, y), rtol=1e-14)
        np.testing.assert_allclose([g[1] for g in got], loss.grad(pred, y), rtol=1e-14)
    else:
        p = next(iter(loss.params.values()), 0.0)
        got = np.array([form(a, b, p) for a, b in zip(pred.ravel(), y.ravel())])
        np.testing.assert_allclose(got[:, 0], loss.value(pred, y).ravel(), rtol=1e-14)
        np.testing.assert_allclose(got[:, 1], loss.grad(pred, y).ravel(), rtol=1e-14)


def test_the_compiled_loop_runs_the_engines_own_functions():
    assert ACTIVATIONS["tanh"].fused.forward(0.5, 0.0) == ops.tanh_number(0.5)
    assert fastkernel.tanh.py_func is ops.tanh_number
    assert fastkernel.rule("adam")[0].py_func is optim.adam_update
    assert losses.CROSS_ENTROPY.fused.row is losses.CROSS_ENTROPY.both  # one softmax
    assert ops.softmax in fastkernel.shared_functions()
    with pytest.raises(KeyError, match="softmax couples"):  # declined, never run as another
        fastkernel.activation("softmax")
    with pytest.raises(KeyError, match="no fused form"):
        fastkernel.loss("no such loss")


def test_an_activation_without_a_fused_form_is_declined_and_trained_on_the_graph(monkeypatch):
    """A new table entry without a fused form: ``fused`` says why, ``auto`` trains it on the
    graph engine (the graph's weights), never as another activation."""
    import dataclasses
    from chainrule.nn import activations
    entry = dataclasses.replace(ACTIVATIONS["tanh"], name="tanh2", fused=None,
                                declined="it is new and nobody wrote its fused form")
    monkeypatch.setitem(activations.ACTIVATIONS, "tanh2", entry)
    X, y = np.random.default_rng(0).standard_normal((12, 2)), np.linspace(0, 1, 12)
    with pytest.raises(cr.ConfigError, match="tanh2.*no fused form: it is new"):
        cr.fit(cr.mlp([2, 3, 1], activation="tanh2", seed=0), X, y, engine="fused")
    weights = []
    for engine in ("auto", "graph"):
        model = cr.mlp([2, 3, 1], activation="tanh2", seed=0)
        cr.fit(model, X, y, epochs=2, seed=0, engine=engine, metrics=[])
        weights.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
    np.testing.assert_array_equal(weights[0], weights[1])


def test_a_loss_or_optimiser_of_the_tables_without_a_fused_form_is_declined(monkeypatch):
    """Table entries whose fused form is missing: ``fused`` says why, ``auto`` trains them
    on the graph engine (the fused loop never runs), to the graph engine's weights."""
    import dataclasses
    monkeypatch.setitem(losses.LOSSES, "mse2", dataclasses.replace(
        losses.MSE, name="mse2", fused=None, declined="nobody wrote its fused form"))
    X, y = np.random.default_rng(0).standard_normal((12, 2)), np.linspace(0, 1, 12)
    ran = []
    real = fastpath.Plan.run
    monkeypatch.setattr(fastpath.Plan, "run", lambda self, *a, **k: ran.append(1) or
                        real(self, *a, **k))
    for loss, opt, words in (("mse2", "sgd", "mse2.*no fused form: nobody wrote"),
                             ("mse", "adagrad", "Adagrad has no fused form")):
        if opt == "adagrad":
            monkeypatch.setattr(optim.Adagrad, "fused_rule", lambda self: None)
        with pytest.raises(cr.ConfigError, match=words):
            cr.fit(cr.mlp([2, 3, 1], seed=0), X, y, loss=loss, optimizer=opt, engine="fused")
        weights = []
        for engine in ("auto", "graph"):
            model = cr.mlp([2, 3, 1], activation="tanh", seed=0)
            cr.fit(model, X, y, loss=loss, optimizer=opt, epochs=2, seed=0, engine=engine)
            weights.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
        np.testing.assert_array_equal(weights[0], weights[1])
        assert not np.array_equal(weights[0], np.concatenate(
            [p.data.ravel() for p in cr.mlp([2, 3, 1], activation="tanh", seed=0).parameters()]))
    assert ran == []  # never run as another loss or rule


def test_a_loss_or_optimiser_outside_the_tables_is_declined_with_the_reason():
    import dataclasses
    model = cr.mlp([3, 2])
    bare = dataclasses.replace(losses.MSE, fused=None, declined="written by hand")
    assert "no fused form" in fastpath.reason(model, bare, cr.SGD(model.parameters())) or \
        "not the one" in fastpath.reason(model, bare, cr.SGD(model.parameters()))

    class MySGD(cr.SGD):
        pass
    assert "not one of chainrule's table" in fastpath.reason(
        model, losses.MSE, MySGD(model.parameters()))


def test_numbas_forms_of_the_last_axis_reductions_are_numpys():
    # fastkernel gives numba its own max and sums over the last axis (ops names them):
    # one row gives a number, a table a column (or, for the total, one number per row)
    import numba

    @numba.njit
    def forms(z):
        return ops._last_axis_max(z), ops._last_axis_sum(z), ops._last_axis_total(z)

    z = np.array([[3.0, -1.0, 7.5, 0.25, 2.0], [-np.inf, -5.0, -np.inf, -2.0, -3.0],
                  [1.0, np.nan, 9.0, 2.0, 0.0], [-0.0, -0.0, -0.0, -0.0, -0.0]])
    long = np.random.default_rng(0).standard_normal((20, 10))  # NumPy adds 8+ pairwise
    np.testing.assert_allclose(forms(long)[2], forms.py_func(long)[2], rtol=1e-14)
    empty = np.zeros((2, 0))  # no columns: sums of nothing are 0, the max has no value
    with pytest.raises(ValueError, match="zero-size"):
        forms(empty)
    with pytest.raises(ValueError, match="zero-size"):
        forms.py_func(empty)

    @numba.njit
    def sums(z):
        return ops._last_axis_sum(z), ops._last_axis_total(z)

    assert [a.tolist() for a in sums(empty)] == [[[0.0], [0.0]], [0.0, 0.0]]
    for table in (z, z.astype(np.float32)):
        got, want = forms(table), forms.py_func(table)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)  # NaN where NumPy's is NaN, −0 kept
        assert np.signbit(got[1][3, 0]) and np.signbit(got[2][3])
        for row, want_row in zip(table, zip(*want)):
            assert [float(v) for v in forms(row)] == pytest.approx(
                [float(np.ravel(v)[0]) for v in want_row], nan_ok=True)


def _exact_tanh(x: float) -> float:
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workprec(120):
        return float(mpmath.tanh(mpmath.mpf(x)))


@pytest.fixture(params=["alone", "as an epoch compiles it"])
def tanh(request):
    """fastkernel.tanh compiled by itself, and inlined into a function compiled as an
    epoch in loops is (fastcode.LOOPS_JIT_OPTIONS: its multiply-adds may be fused)."""
    if request.param == "alone":
        return fastkernel.tanh
    import numba

    @numba.njit(**fastcode.LOOPS_JIT_OPTIONS)
    def in_epoch(x):
        return fastkernel.tanh(x)
    return in_epoch


def test_the_compiled_loops_tanh_is_within_2_ulp_of_the_exact_value(rng, tanh):
    # both sides of the switch from the series to the exp (0.25), tiny and saturated values
    xs = np.concatenate([np.geomspace(1e-300, 30, 1500), rng.uniform(0.2, 0.3, 500),
                         rng.uniform(0, 3, 1000)])
    xs = np.concatenate([xs, -xs])
    ours = np.array([tanh(x) for x in xs])
    exact = np.array([_exact_tanh(x) for x in xs])
    ulps = np.abs(ours - exact) / np.spacing(np.abs(exact))
    # 2 measured here over millions of points; 3 leaves room for another C library's exp
    assert ulps.max() <= 3, (ulps.max(), xs[ulps.argmax()])
    # the graph engine's np.tanh is as close: the parity tests' 1e-12 has room to spare
    np.testing.assert_allclose(ours, np.tanh(xs), rtol=1e-15, atol=0)
    # float32 comes in as float64: the series and the exp run in float64
    for x in (np.float32(0.1), np.float32(-0.2), np.float32(1.5)):
        assert tanh(x) == pytest.approx(_exact_tanh(float(x)), rel=7e-16)


def test_the_compiled_loops_tanh_keeps_the_special_values(tanh):
    assert tanh(0.0) == 0.0 and not np.signbit(tanh(0.0))
    assert np.signbit(tanh(-0.0))
    assert tanh(5e-324) == 5e-324
    assert tanh(np.inf) == 1.0 and tanh(-np.inf) == -1.0
    assert tanh(800.0) == 1.0 and tanh(-800.0) == -1.0
    assert np.isnan(tanh(np.nan)) and np.isnan(tanh(-np.nan))
    assert tanh(3) == tanh(3.0)  # a whole number too


def test_the_tanh_series_coefficients_are_the_taylor_coefficients():
    from fractions import Fraction
    from math import comb, factorial
    bernoulli = [Fraction(1)]
    for m in range(1, 27):
        bernoulli.append(-sum(comb(m + 1, k) * bernoulli[k] for k in range(m)) / (m + 1))
    exact = [Fraction(4 ** n * (4 ** n - 1)) * bernoulli[2 * n] / factorial(2 * n)
             for n in range(1, 14)]
    assert exact[:3] == [1, Fraction(-1, 3), Fraction(2, 15)]  # tanh x = x − x³/3 + 2x⁵/15 …
    assert fastkernel.TANH_TAYLOR == tuple(float(c) for c in exact[1:12])
    # the first term left out, relative to tanh x ≈ x, is < 1e-19 for |x| < 0.25
    assert abs(exact[12]) * fastkernel.TANH_SMALL ** 24 < 1e-19


def test_a_loss_with_another_value_and_gradient_is_not_fused():
    import dataclasses
    other = dataclasses.replace(losses.CROSS_ENTROPY, both=lambda p, y: (p, p))
    model = cr.mlp([3, 2])
    assert "not the one in chainrule's table" in fastpath.reason(
        model, other, cr.SGD(model.parameters()))


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_each_losses_numpy_value_equals_its_terms(name, rng):
    loss = losses.LOSSES[name]
    pred = rng.standard_normal((5, 3))
    classes = name in ("bce", "cross_entropy")
    y = np.eye(3)[rng.integers(0, 3, 5)] if classes else rng.standard_normal((5, 3))
    np.testing.assert_allclose(loss.value(pred, y), loss.terms(Tensor(pred), y).data, rtol=1e-14)


def test_import_chainrule_does_not_import_numba():
    code = "import sys, chainrule; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the compiled epochs: written per network shape (fastcode), cached on disk -------------

def test_the_seeds_first_step_on_the_fused_loop_gives_the_hand_worked_numbers():
    """DESIGN.md's step: w = 1, b = 0, row (80, 8) → 5: ∂L/∂w^2_11 = 30096,
    ∂L/∂w^1_11 = 27360, ∂L/∂b_21 = 342, so each moves by −η times that."""
    eta = 1e-6
    model = cr.seed_network()
    assert fastcode.scalar(fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters())).shape(1))
    cr.fit(model, np.array([[80.0, 8.0]]), np.array([5.0]), epochs=1, lr=eta, engine="fused",
           metrics=[])
    hidden, out = model.layers
    assert out.weight.data[0, 0] == pytest.approx(1 - eta * 30096, rel=1e-15)
    assert hidden.weight.data[0, 0] == pytest.approx(1 - eta * 27360, rel=1e-15)
    assert hidden.weight.data[1, 0] == pytest.approx(1 - eta * 342 * 8, rel=1e-15)  # ∂L/∂w^1_21
    assert out.bias.data[0] == pytest.approx(-eta * 342, rel=1e-15)
    assert hidden.bias.data[0] == pytest.approx(-eta * 342, rel=1e-15)  # ∂L/∂b_11 = 342 · w^2_11


@pytest.mark.parametrize("bs, dtype, rtol", [(1, np.float64, 1e-12), (7, np.float64, 1e-12),
                                             (1, np.float32, 1e-5)])
def test_wider_layers_run_in_loops_and_give_the_graph_engines_weights(bs, dtype, rtol):
    """20 and 17 neurons: too many weights for the all-locals form even at batch size 1
    (where plain SGD moves each weight as its gradient forms)."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    runs = []
    for engine in ("fused", "graph"):
        model = cr.mlp([5, 20, 17, 3], activation="tanh", seed=2, dtype=dtype)
        runs.append((model, cr.fit(model, X, y, loss="cross_entropy", epochs=3, batch_size=bs,
                                   seed=1, lr=0.05, engine=engine, metrics=[])))
        if engine == "fused":
            assert not fastcode.scalar(fastpath.Plan(model, losses.CROSS_ENTROPY, cr.SGD(
                model.parameters())).shape(bs))
    _assert_same(*runs, rtol=rtol)


@pytest.mark.parametrize("sizes, act, loss", [([2, 2, 1], "linear", losses.MSE),
                                             ([5, 20, 17, 3], "tanh", losses.CROSS_ENTROPY)])
def test_the_compiled_forward_gives_forward_arrays_outputs(sizes, act, loss, rng):
    """The forward beside each compiled epoch (the per-epoch scores of a fused run, in the
    all-locals and the loops form; the kernels of the tests above) gives NumPy's outputs,
    and a fused run's history of scores is the graph engine's."""
    model = cr.mlp(sizes, activation=act, seed=1)
    for layer in model.layers:
        layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    plan = fastpath.Plan(model, loss, cr.SGD(model.parameters()))
    X = rng.standard_normal((150, sizes[0]))  # more rows than one block of the loops form
    assert fastcode.scalar(plan.shape(1)) == (len(sizes) == 3)
    np.testing.assert_allclose(plan.outputs(X, 1), model.forward_array(X), rtol=1e-13,
                               atol=1e-15)
    y = rng.integers(0, sizes[-1], 150) if loss is losses.CROSS_ENTROPY else X @ rng.random(2)
    histories = []
    for engine in ("fused", "graph"):
        histories.append(cr.fit(cr.mlp(sizes, activation=act, seed=1), X, y, loss=loss,
                                epochs=2, seed=0, lr=0.01, validation_split=0.2,
                                engine=engine).logs)
    assert histories[0].keys() == histories[1].keys() and len(histories[0]) == 4
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-12)


def test_a_small_linear_network_trains_to_the_graph_engines_weights_bit_for_bit():
    # the all-locals form rounds a·b + c twice, as NumPy does (the loops form may fuse them)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2)) * [15.0, 1.2]
    y = X @ [0.05, 0.6] - 4.0
    weights = []
    for engine in ("graph", "fused"):
        model = cr.mlp([2, 3, 1], seed=0)
        cr.fit(model, X, y, lr=0.001, epochs=5, seed=0, engine=engine, metrics=[])
        weights.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
    plan = fastpath.Plan(model, losses.MSE, cr.optim.SGD(model.parameters()))
    assert fastcode.scalar(plan.shape(1))  # the all-locals form
    np.testing.assert_array_equal(weights[0], weights[1])


@pytest.mark.parametrize("draws_per_row", [fastpath.DRAWS_PER_ROW, 0.01])
def test_the_compiled_permutation_is_numpys_and_leaves_the_generator_as_numpy_does(
        draws_per_row, monkeypatch):
    """An epoch's order on the compiled loop: ``rng.permutation(n)`` itself (NumPy's
    generator is the reference), with the generator's state after it equal too, whether a
    32-bit half is kept from before, and when the raw draws run out (0.01 a row: drawn
    again, twice as many each time)."""
    monkeypatch.setattr(fastpath, "DRAWS_PER_ROW", draws_per_row)
    model = cr.mlp([2, 2, 1], seed=0)
    plan = fastpath.Plan(model, losses.MSE, cr.optim.SGD(model.parameters()))
    for seed in range(4):
        for n in (0, 1, 2, 3, 17, 1000, 65_537, 100_000):
            ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
            for rng in (ours, numpys):
                rng.random(seed)  # some 64-bit draws first
                if seed % 2:  # a 32-bit draw: half of a 64-bit one is kept for the next
                    rng.integers(0, 2**31, dtype=np.uint32)
            np.testing.assert_array_equal(plan.permutation(ours, n, 1), numpys.permutation(n))
            assert ours.bit_generator.state == numpys.bit_generator.state
            np.testing.assert_array_equal(ours.integers(0, 2**32, 5, dtype=np.uint32),
                                          numpys.integers(0, 2**32, 5, dtype=np.uint32))


@pytest.mark.parametrize("targets", ["numbers", "columns", "labels", "text"])
def test_a_shuffle_buffer_compiled_lets_the_same_rows_out_as_numpys(targets):
    """A streamed run's shuffle buffer with its rule compiled (``Plan.buffer_rows``) and
    without (``push``'s grouped NumPy form, tested against the rule by hand in
    test_stream): the same blocks and the same rows held, chunk after chunk; text labels
    take the NumPy form."""
    from chainrule.stream import ShuffleBuffer
    model = cr.mlp([3, 2, 1], seed=0)
    plan = fastpath.Plan(model, losses.MSE, cr.optim.SGD(model.parameters()))
    rng = np.random.default_rng(4)
    X = rng.normal(size=(700, 3))
    y = {"numbers": rng.normal(size=700), "columns": rng.normal(size=(700, 2)),
         "labels": rng.integers(0, 3, 700), "text": rng.choice(["a", "b"], 700)}[targets]
    pools = [ShuffleBuffer(150, np.random.default_rng(9)) for _ in range(2)]
    compiled, calls = plan.buffer_rows(1), []
    pools[1].compiled = lambda *args: (calls.append(1), compiled(*args))
    cuts = [0, 40, 41, 200, 333, 600, 700]
    for a, b in zip(cuts[:-1], cuts[1:]):
        out = [pool.push(X[a:b], y[a:b]) for pool in pools]
        assert (out[0] is None) == (out[1] is None)
        if out[0] is not None:
            for mine, numpys in zip(out[1], out[0]):
                np.testing.assert_array_equal(mine, numpys)
        for mine, numpys in zip(pools[1].held(), pools[0].held()):
            np.testing.assert_array_equal(mine, numpys)
    assert len(calls) == (0 if targets == "text" else 4)  # the chunks past the first 150 rows


def test_the_compiled_permutation_says_when_its_draws_run_out():
    from chainrule import fastkernel
    order = np.empty(1000, dtype=np.int64)
    halves = np.random.default_rng(0).bit_generator.random_raw(100).view(np.uint32)
    assert fastkernel.permutation(halves, False, np.uint32(0), order)[0] == -1


_RULES_ROUND_AS_NUMPY = """
import numba, numpy as np
from chainrule import fastcode, fastkernel, optim

numbers = {"sgd": [0.01], "sgd_momentum": [0.01, 0.9, 1.0], "adam": [0.01, 0.9, 0.999, 1e-8, 1.0],
           "rmsprop": [0.0, 0.9, 1e-8, 0.5, 1.0], "adagrad": [0.01, 0.1, 1e-10]}
assert set(numbers) == set(optim.RULES)  # every rule of the table
with np.errstate(all="ignore"):
    for name, hyper in numbers.items():
        update = fastkernel.rule(name)[0]

        @numba.njit(**fastcode.LOOPS_JIT_OPTIONS)  # a loops-form caller compiles it first
        def run(hyper, theta, grad, s1, s2, s3, steps):
            for t in range(1, steps + 1):
                update(hyper, theta, grad, s1, s2, s3, t, 0.01)

        alone = numba.njit(error_model="numpy", fastmath=False)(optim.RULES[name].update)
        hyper, runs = np.array(hyper), []
        for compiled in (True, False):
            theta, grad = np.zeros(20), np.random.default_rng(0).uniform(-2, 2, 20)
            state = [np.zeros(20) for _ in range(3)]
            if compiled:
                run(hyper, theta, grad, *state, 100)
            else:  # the same rule compiled by itself, called from Python: nothing fused
                for t in range(1, 101):
                    alone(hyper, theta, grad, *state, t, 0.01)
            runs.append(theta)
        assert np.array_equal(runs[0], runs[1]), name
        assert not any(" contract " in ir for ir in update.inspect_llvm().values()), name
print("ok")
"""


def test_the_optimisers_rules_round_as_numpys_even_called_from_a_loops_form_epoch():
    # the loops form may fuse multiply-adds, the rules must not (centred RMSprop divides
    # by √(s − ḡ²): fused, it changed where a run went); numba gives a function the flags
    # of the first caller that compiles it unless it says its own, so: a fresh process
    # whose first caller is compiled as a loops-form epoch is
    done = subprocess.run([sys.executable, "-c", _RULES_ROUND_AS_NUMPY], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


_SEED_AFTER_A_LOOPS_EPOCH = """
import numpy as np, chainrule as cr
rng = np.random.default_rng(0)
X = rng.standard_normal((30, 20))  # first loops-form epochs (fused multiply-adds)
for optimizer, options in (("sgd", None), ("rmsprop", {"centered": True})):
    cr.fit(cr.mlp([20, 16, 1], seed=0), X, X.sum(1), epochs=1, engine="fused", metrics=[],
           optimizer=optimizer, optimizer_options=options)
X = rng.standard_normal((50, 2)) * [15.0, 1.2]
y = X @ [0.05, 0.6] - 4.0
weights = []
for engine, optimizer in [(e, o) for o in ("sgd", "rmsprop") for e in ("graph", "fused")]:
    model = cr.mlp([2, 3, 1], seed=0)
    cr.fit(model, X, y, lr=0.001, epochs=3, seed=0, engine=engine, metrics=[], optimizer=optimizer,
           optimizer_options={"centered": True} if optimizer == "rmsprop" else None)
    weights.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
assert np.array_equal(weights[0], weights[1]) and np.array_equal(weights[2], weights[3])
print("ok")
"""


def test_the_seed_network_keeps_numpys_roundings_after_a_loops_form_epoch(tmp_path):
    # both compiled afresh in one process, the loops form first: what it fuses (its own
    # arithmetic; not the rules) must not reach the all-locals form
    env = {**os.environ, "CHAINRULE_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _SEED_AFTER_A_LOOPS_EPOCH], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_divergence_is_caught_alike_in_the_loops_form():
    # 8-40-1 (360 weights, mini-batches: the loops form) with a rate far too large
    messages = []
    for engine in ("graph", "fused"):
        rng = np.random.default_rng(3)
        X = rng.standard_normal((40, 8)) * 3
        y = X @ rng.standard_normal(8)
        with pytest.raises(cr.DivergenceError) as caught:
            cr.fit(cr.mlp([8, 40, 1], seed=3), X, y, lr=0.5, epochs=30, batch_size=4, seed=3,
                   engine=engine, metrics=[])
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_the_all_locals_form_and_the_loop_form_train_alike(monkeypatch):
    """A small network at batch size 1 keeps every number in a local; with that form turned
    off it runs in loops.  Both give the graph engine's weights."""
    case = ("sigmoid", "linear", "huber", "rmsprop", {"momentum": 0.5, "centered": True}, 1,
            True)
    graph = _train("graph", case)
    scalar = _train("fused", case)
    monkeypatch.setattr(fastcode, "SCALAR_WEIGHTS", 0)
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    loops = _train("fused", case)
    _assert_same(scalar, graph, rtol=1e-12)
    _assert_same(loops, graph, rtol=1e-12)


def test_each_shape_gets_its_own_source_file_named_by_its_text(monkeypatch):
    seed = fastcode.Shape((2, 2, 1), ("linear", "linear"), "mse", "sgd", True)
    other = fastcode.Shape((2, 3, 1), ("linear", "linear"), "mse", "sgd", True)
    name, text, path = fastcode.source_file(seed)
    assert path.name == name + ".py" and name != fastcode.source_file(other)[0]
    assert fastcode.fingerprint()[:16] in text
    compile(text, str(path), "exec")  # plain Python
    monkeypatch.setattr(fastcode, "fingerprint", lambda: "0" * 64)  # edited shared code …
    assert fastcode.source_file(seed)[0] != name  # … is a new file, never numba's stale one


def test_threads_asking_for_a_new_epoch_at_once_get_the_same_one(tmp_path, monkeypatch):
    """Loading an epoch's module is not atomic (it sits in sys.modules before it has run):
    a lock keeps a second thread from taking the half-run module."""
    import threading
    import time
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    shape = fastcode.Shape((3, 5, 2), ("tanh", "linear"), "huber", "rmsprop", False)
    real = fastcode.write

    def slow_write(path, text):  # widen the window in which a second thread could enter
        time.sleep(0.2)
        return real(path, text)

    monkeypatch.setattr(fastcode, "write", slow_write)
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    found, errors = [], []

    def ask():
        try:
            found.append(fastkernel.epoch(shape))
        except Exception as exc:  # pragma: no cover - what the lock prevents
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(found) == 4 and all(f is found[0] for f in found)


def _aged(path, days):
    import os
    import time
    os.utime(path, (time.time() - days * 86400,) * 2)


def _fake_epoch(folder, name, days_old, used_days_ago=None, compiled=None):
    """A cached epoch as ``fastkernel.epoch`` leaves it: the source, numba's index and
    data (in ``compiled``: ``__pycache__`` by default), and, if used, the marker."""
    compiled = folder / "__pycache__" if compiled is None else compiled
    compiled.mkdir(parents=True, exist_ok=True)
    files = [folder / f"{name}.py", compiled / f"{name}.epoch-14.py311.nbi",
             compiled / f"{name}.epoch-14.py311.1.nbc"]
    for f in files:
        f.write_text("x")
        _aged(f, days_old)
    if used_days_ago is not None:
        files.append(folder / f".{name}.used")
        files[-1].touch()
        _aged(files[-1], used_days_ago)
    return files


def _numba_cache_dir(monkeypatch, folder) -> None:
    """numba's cache folder (None: beside the sources), as ``$NUMBA_CACHE_DIR`` at numba's
    import would set it: numba reads the variable then, into its config."""
    import numba.core.config
    if folder is None:
        monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    else:
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(folder))
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", "" if folder is None else str(folder))


def test_epochs_unused_for_a_month_leave_the_cache_with_numbas_files(tmp_path, monkeypatch):
    _numba_cache_dir(monkeypatch, None)
    old = _fake_epoch(tmp_path, "chainrule_epoch_old", days_old=40)
    used = _fake_epoch(tmp_path, "chainrule_epoch_used", days_old=40, used_days_ago=2)
    stale = _fake_epoch(tmp_path, "chainrule_epoch_stale", days_old=50, used_days_ago=31)
    new = _fake_epoch(tmp_path, "chainrule_epoch_new", days_old=1)
    # numba's files and a marker whose source went while a long run still used it
    orphans = _fake_epoch(tmp_path, "chainrule_epoch_gone", days_old=35, used_days_ago=35)[1:]
    young = _fake_epoch(tmp_path, "chainrule_epoch_young", days_old=3)[1:]
    (tmp_path / "chainrule_epoch_gone.py").unlink()
    (tmp_path / "chainrule_epoch_young.py").unlink()
    other = tmp_path / "notes.txt"  # not ours: never touched
    other.write_text("keep")
    crashed = tmp_path / ".chainrule_epoch_x.py.123.456.tmp"  # a write killed 2 days ago
    crashed.write_text("half")
    _aged(crashed, 2)
    writing = tmp_path / ".chainrule_epoch_y.py.123.789.tmp"  # one being written now
    writing.write_text("half")
    removed = fastcode.prune(tmp_path)
    assert sorted(removed) == sorted(old + stale + orphans + [crashed])
    assert all(f.exists() for f in used + new + young + [other, writing])


def test_pruning_with_numba_cache_dir_touches_only_this_caches_folder(tmp_path, monkeypatch):
    from numba.core.caching import _CacheLocator
    numba_cache = tmp_path / "numba"
    _numba_cache_dir(monkeypatch, numba_cache)
    mine, theirs = tmp_path / "a" / "kernels", tmp_path / "b" / "kernels"
    for folder in (mine, theirs):
        folder.mkdir(parents=True)
    where = numba_cache / _CacheLocator.get_suitable_cache_subpath(str(mine / "x.py"))
    assert fastcode._numba_folder(mine) == where  # as numba names it
    elsewhere = numba_cache / _CacheLocator.get_suitable_cache_subpath(str(theirs / "x.py"))
    old = _fake_epoch(mine, "chainrule_epoch_same", days_old=40, compiled=where)
    kept = _fake_epoch(theirs, "chainrule_epoch_same", days_old=1, compiled=elsewhere)
    assert sorted(fastcode.prune(mine)) == sorted(old)
    assert all(f.exists() for f in kept)  # the same epoch in another cache: left alone


def test_using_an_epoch_marks_it_and_a_new_one_prunes_the_cache(tmp_path, monkeypatch):
    import time
    _numba_cache_dir(monkeypatch, None)
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    folder = fastcode.cache_dir()
    old = _fake_epoch(folder, "chainrule_epoch_old", days_old=60)
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    shape = fastcode.Shape((3, 6, 2), ("relu", "linear"), "mae", "adagrad", False)
    name, _, path = fastcode.source_file(shape)
    monkeypatch.delitem(sys.modules, name, raising=False)
    fastkernel.epoch(shape)  # written now: the two-month-old epoch goes
    marker = folder / f".{name}.used"
    assert path.exists() and marker.exists()
    assert not any(f.exists() for f in old)
    # a run that goes on for weeks marks it again (hourly), so other processes keep it
    _aged(marker, 40)
    monkeypatch.setitem(fastkernel._MARKED, shape, (path, time.monotonic() - 7200))
    fastkernel.epoch(shape)
    assert time.time() - marker.stat().st_mtime < 60


def test_an_epoch_pruned_while_it_is_loaded_is_written_again(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    shape = fastcode.Shape((3, 7, 2), ("relu", "linear"), "mae", "adagrad", False)
    name, _, path = fastcode.source_file(shape)
    monkeypatch.delitem(sys.modules, name, raising=False)
    real, calls = fastcode.write, []

    def pruned_at_once(where, text):  # another process removes it right after the write
        written = real(where, text)
        calls.append(written)
        if len(calls) == 1:
            written.unlink()
        return written

    monkeypatch.setattr(fastcode, "write", pruned_at_once)
    assert fastkernel.epoch(shape) is not None and len(calls) == 2 and path.exists()


def test_the_epochs_are_kept_where_chainrule_cache_dir_says(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    model = cr.mlp([2, 3, 1], activation="relu", seed=0)
    plan = fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters()))
    assert not fastcode.cached_on_disk(plan.shape(1))
    cr.fit(model, np.ones((4, 2)), np.ones(4), epochs=1, engine="fused", metrics=[])
    _, text, path = fastcode.source_file(plan.shape(1))
    assert path.parent == tmp_path / "kernels" and path.read_text() == text
    assert fastcode.cached_on_disk(plan.shape(1)) and fastpath.compiled(plan, 1)
    # an index written by another Python's numba doesn't count
    other = fastcode.Shape((2, 5, 1), ("relu", "linear"), "mse", "sgd", True)
    name, text, path = fastcode.source_file(other)
    fastcode.write(path, text)
    numbas = fastcode._numba_folder(path.parent)  # __pycache__, or under $NUMBA_CACHE_DIR
    numbas.mkdir(parents=True, exist_ok=True)
    for function in fastcode.FUNCTIONS:  # the epoch and what its module compiles beside it
        (numbas / f"{name}.{function}-14.py27.nbi").write_bytes(b"")
    assert not fastcode.cached_on_disk(other)
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    (numbas / f"{name}.epoch-14.{py}.nbi").write_bytes(b"")
    assert not fastcode.cached_on_disk(other)  # the forward is not compiled yet
    (numbas / f"{name}.outputs-214.{py}.nbi").write_bytes(b"")
    assert not fastcode.cached_on_disk(other)  # nor its permutation and shuffle buffer
    (numbas / f"{name}.shuffle-240.{py}.nbi").write_bytes(b"")
    assert not fastcode.cached_on_disk(other)
    (numbas / f"{name}.buffer-247.{py}.nbi").write_bytes(b"")
    assert fastcode.cached_on_disk(other)


def test_an_unwritable_cache_falls_back_to_a_temporary_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(blocker))
    shape = fastcode.Shape((2, 2, 1), ("linear", "linear"), "mse", "sgd", True)
    _, text, path = fastcode.source_file(shape)
    written = fastcode.write(path, text)
    assert written != path and written.read_text() == text
    assert fastcode.write(path, text) == written  # one folder for the process
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    model = cr.mlp([2, 4, 1], activation="tanh", seed=0)
    plan = fastpath.Plan(model, losses.MSE, cr.SGD(model.parameters()))
    assert not fastpath.compiled(plan, 1)
    cr.fit(model, np.ones((4, 2)), np.ones(4), epochs=1, engine="fused", metrics=[])
    assert fastpath.compiled(plan, 1)  # compiled in this process, though not on disk
    assert not fastcode.cached_on_disk(plan.shape(1))
