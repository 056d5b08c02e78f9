"""The primitive table, checked entry by entry.

Every entry of ``ops.ALL`` gets the randomized vector-Jacobian check (HIPS autograd's
⟨u, J v⟩ by central differences = ⟨Jᵀu, v⟩ by the engine's backward) over a grid of
shapes chosen by the entry's ``kind``, with inputs drawn from its ``domain`` and each of
its ``test_params``.  A new primitive is tested the moment it is in the table; a new
*kind* fails here until its shapes are added below.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest

from chainrule import ops
from chainrule.gradcheck import check_vjp
from chainrule.tensor import Tensor, apply

RTOL = 1e-6

BINARY_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((), (2, 3)),
    ((2, 3), ()), ((4, 1, 3), (2, 1)), ((2, 3), (2, 3)),
]
UNARY_SHAPES = [(), (3,), (2, 3)]
REDUCE_CASES = [
    ((2, 3), {"axis": axis, "keepdims": keep})
    for axis, keep in itertools.product([None, 0, 1, (0, 1), -1], [False, True])
] + [((2, 3, 4), {"axis": (0, 2), "keepdims": False}), ((5,), {"axis": 0, "keepdims": False})]
MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
    ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 4, 3), (3,)),
]
# kind "last_axis": one input whose entries along the last axis are coupled (softmax)
LAST_AXIS_SHAPES = [(3,), (1, 4), (2, 3), (2, 3, 4)]
# kind "shape": each primitive's own parameters (reshape needs a shape, transpose axes)
SHAPE_CASES: dict[str, list[tuple[tuple[int, ...], dict[str, Any]]]] = {
    "reshape": [((2, 3), {"shape": (3, 2)}), ((6,), {"shape": (2, 3)}),
                ((2, 3, 4), {"shape": (4, -1)}), ((), {"shape": (1, 1)}),
                ((2, 3), {"shape": (6,)})],
    "transpose": [((2, 3), {"axes": None}), ((2, 3, 4), {"axes": None}),
                  ((2, 3, 4), {"axes": (1, 0, 2)}), ((2, 3, 4), {"axes": (2, 0, 1)}),
                  ((3,), {"axes": None})],
}


def draw(domain: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random inputs where the primitive is smooth."""
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)
    if domain == "kink":  # away from the kink at 0 by at least 0.1 (ε is 1e-6)
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.1, 2.0, shape)
    raise AssertionError(
        f"unknown domain {domain!r}: teach tests/test_ops.py::draw how to sample it"
    )


def cases(prim: ops.Primitive) -> list[tuple[tuple[tuple[int, ...], ...], dict[str, Any]]]:
    """(input shapes, shape-related params) to check ``prim`` on, by its kind."""
    if prim.kind == "elementwise":
        if prim.arity == 1:
            return [((s,), {}) for s in UNARY_SHAPES]
        if prim.arity == 2:
            return [(pair, {}) for pair in BINARY_SHAPES]
        raise AssertionError(f"{prim.name}: elementwise with {prim.arity} inputs; add shapes")
    if prim.kind == "reduce":
        return [((s,), p) for s, p in REDUCE_CASES]
    if prim.kind == "matmul":
        return [(pair, {}) for pair in MATMUL_SHAPES]
    if prim.kind == "last_axis":
        return [((s,), {}) for s in LAST_AXIS_SHAPES]
    if prim.kind == "shape":
        if prim.name not in SHAPE_CASES:
            raise AssertionError(f"shape primitive {prim.name!r}: add its cases to SHAPE_CASES")
        return [((s,), p) for s, p in SHAPE_CASES[prim.name]]
    raise AssertionError(
        f"primitive {prim.name!r} has kind {prim.kind!r}, which tests/test_ops.py does not "
        "know; add the shapes to check it on"
    )


@pytest.mark.parametrize("prim", ops.ALL, ids=lambda p: p.name)
def test_rule_matches_finite_differences(prim: ops.Primitive, rng):
    checked = 0
    for shapes, shape_params in cases(prim):
        for extra in prim.test_params:
            params = {**shape_params, **extra}
            inputs = [draw(d, s, rng) for d, s in zip(prim.domain, shapes, strict=True)]
            numeric, analytic = check_vjp(prim, *inputs, rng=rng, **params)
            scale = max(abs(numeric), abs(analytic), 1.0)
            assert abs(numeric - analytic) <= RTOL * scale, (
                f"{prim.name} shapes={shapes} params={params}: "
                f"⟨u,Jv⟩ = {numeric!r} but ⟨Jᵀu,v⟩ = {analytic!r}"
            )
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("prim", ops.ALL, ids=lambda p: p.name)
def test_entry_is_complete(prim: ops.Primitive):
    assert prim.arity >= 1
    assert len(prim.local) == prim.arity, "one local derivative text per rule"
    assert len(prim.args) == prim.arity, "one argument name per rule"
    assert len(prim.domain) == prim.arity, "one domain per input"
    assert len(prim.formula) == prim.arity
    assert all(text.strip() for text in prim.local + prim.formula + (prim.expr,))
    assert all(f.startswith(f"∂L/∂{a}") for f, a in zip(prim.formula, prim.args))
    assert len(prim.test_params) >= 1
    assert ops.BY_NAME[prim.name] is prim


def test_names_are_unique():
    names = [p.name for p in ops.ALL]
    assert len(names) == len(set(names))


def test_the_issue_s_primitives_are_in_the_table():
    required = {"add", "mul", "neg", "div", "pow", "matmul", "sum", "mean", "reshape",
                "transpose", "exp", "log", "tanh", "sigmoid", "relu"}
    assert required <= set(ops.BY_NAME)


def test_check_vjp_catches_a_wrong_rule(rng):
    """The check above can fail: a rule off by a factor of 2 is caught."""
    wrong = ops.Primitive("wrong_square", np.square, rules=(lambda g, out, a: g * a,),
                          local=("a",), expr="a²", args=("a",), domain=("real",))
    numeric, analytic = check_vjp(wrong, rng.standard_normal((2, 3)), rng=rng)
    assert abs(numeric - 2 * analytic) <= RTOL * max(abs(numeric), 1.0)
    assert abs(numeric - analytic) > 0.1 * abs(numeric)


# ------------------------------------------------------------------------------------
# Forward values against independent formulas (math module, loops, hand values).

def _elementwise(fn, *arrays):
    """Apply a scalar ``math`` function entry by entry (an independent implementation)."""
    b = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in arrays])
    out = np.empty(b[0].shape)
    for idx in np.ndindex(out.shape):
        out[idx] = fn(*(float(x[idx]) for x in b))
    return out


def _loop_matmul(a, b):
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = sum(a[i, k] * b[k, j] for k in range(a.shape[1]))
    return out


FORWARD_REFERENCES = {
    "add": ((lambda a, b: a + b), 2, {}),
    "mul": ((lambda a, b: a * b), 2, {}),
    "neg": ((lambda a: -a), 1, {}),
    "div": ((lambda a, b: a / b), 2, {}),
    "pow": ((lambda a: a ** 0.5), 1, {"p": 0.5}),
    "exp": (math.exp, 1, {}),
    "log": (math.log, 1, {}),
    "abs": (abs, 1, {}),
    "tanh": (math.tanh, 1, {}),
    "sigmoid": ((lambda z: 1.0 / (1.0 + math.exp(-z))), 1, {}),
    "relu": ((lambda z: z if z > 0 else 0.0), 1, {}),
}


@pytest.mark.parametrize("name", sorted(FORWARD_REFERENCES))
def test_elementwise_forward_matches_math(name, rng):
    fn, arity, params = FORWARD_REFERENCES[name]
    prim = ops.BY_NAME[name]
    xs = [draw(d, (2, 3), rng) for d in prim.domain]
    assert len(xs) == arity
    np.testing.assert_allclose(prim.forward(*xs, **params), _elementwise(fn, *xs),
                               rtol=1e-14, atol=1e-15)


def test_hand_values():
    f = {p.name: p.forward for p in ops.ALL}
    assert f["pow"](np.array(4.0), p=0.5) == 2.0
    assert f["pow"](np.array(2.0), p=-1.0) == 0.5
    assert f["div"](np.array(1.0), np.array(4.0)) == 0.25
    np.testing.assert_array_equal(f["relu"](np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(f["abs"](np.array([-2.0, 3.0])), [2.0, 3.0])
    assert f["sigmoid"](np.array(0.0)) == 0.5
    assert f["exp"](np.array(1.0)) == pytest.approx(math.e, rel=1e-15)
    assert f["log"](np.array(math.e)) == pytest.approx(1.0, rel=1e-15)


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -745.0, -40.0, 0.0, 40.0, 745.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out = ops.sigmoid(z)
        grad = ops.sigmoid_grad(out)
    assert np.isfinite(out).all() and np.isfinite(grad).all()
    assert out[0] == 0.0 or out[0] < 1e-300
    assert out[-1] == 1.0 and out[3] == 0.5
    assert out[2] == pytest.approx(math.exp(-40.0) / (1 + math.exp(-40.0)), rel=1e-14)
    assert out[4] == pytest.approx(1.0 / (1 + math.exp(-40.0)), rel=1e-15)
    # and through the engine, gradients at the saturated ends are 0, not NaN
    t = Tensor(z, requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        t.sigmoid().sum().backward()
    assert np.isfinite(t.grad).all()
    assert t.grad[0] == pytest.approx(0.0, abs=1e-300) and t.grad[-1] == 0.0
    assert t.grad[3] == 0.25  # σ'(0) = 1/4


def test_activation_derivatives_from_outputs():
    z = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(ops.tanh_grad(np.tanh(z)), 1 / np.cosh(z) ** 2, rtol=1e-12)
    s = _elementwise(lambda v: 1 / (1 + math.exp(-v)), z)
    np.testing.assert_allclose(ops.sigmoid_grad(ops.sigmoid(z)), s * (1 - s), rtol=1e-12)
    np.testing.assert_array_equal(ops.relu_grad(ops.relu(z)), (z > 0).astype(float))


def test_reductions_match_loops(rng):
    a = rng.standard_normal((2, 3))
    row_sums = [sum(a[i, j] for j in range(3)) for i in range(2)]
    col_means = [sum(a[i, j] for i in range(2)) / 2 for j in range(3)]
    np.testing.assert_allclose(ops.SUM.forward(a, axis=1), row_sums, rtol=1e-14)
    np.testing.assert_allclose(ops.MEAN.forward(a, axis=0), col_means, rtol=1e-14)
    assert ops.SUM.forward(a, axis=0, keepdims=True).shape == (1, 3)
    assert ops.MEAN.forward(a).item() == pytest.approx(sum(a.flat) / 6, rel=1e-14)


def test_matmul_and_transpose_match_loops(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(ops.MATMUL.forward(a, b), _loop_matmul(a, b), rtol=1e-13)
    t = ops.TRANSPOSE.forward(a)
    assert all(t[j, i] == a[i, j] for i in range(2) for j in range(3))
    r = ops.RESHAPE.forward(a, shape=(3, 2))
    assert list(r.flat) == list(a.flat)


def test_engine_uses_the_table(rng):
    """``apply`` runs the entry's forward and its rule (a single entry, by hand)."""
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = apply(ops.MUL, x, np.array([4.0, 5.0, 6.0]))
    np.testing.assert_array_equal(y.data, [4.0, 10.0, 18.0])
    y.backward(np.array([1.0, 1.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [4.0, 5.0, 12.0])
