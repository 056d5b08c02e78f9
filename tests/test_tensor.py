"""Tensor: operators, reductions, broadcasting, and backward, against hand formulas."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

import chainrule
from chainrule import ChainruleError, ShapeError, Tensor, no_grad
from chainrule.tensor import is_grad_enabled


def leaf(values, dtype=None) -> Tensor:
    return Tensor(np.array(values, dtype=float if dtype is None else dtype),
                  requires_grad=True)


A = [1.0, 2.0, 3.0]
B = [4.0, -5.0, 0.5]


def test_default_dtype_is_float64():
    assert Tensor([1, 2, 3]).dtype == np.float64
    assert chainrule.tensor([[1, 2]]).data.dtype == np.float64
    assert Tensor(np.float32(1.5)).dtype == np.float32
    x = np.array([1.0, 2.0])
    t = chainrule.tensor(x)
    x[0] = 99.0
    assert t.data[0] == 1.0  # tensor() copies


def test_non_numbers_are_rejected():
    with pytest.raises(ShapeError, match="numbers"):
        Tensor(["a", "b"])


@pytest.mark.parametrize("op, value, grad_a, grad_b", [
    # d(a+b)/da = 1, d(a+b)/db = 1
    (lambda a, b: a + b, lambda a, b: a + b, lambda a, b: np.ones(3), lambda a, b: np.ones(3)),
    (lambda a, b: a - b, lambda a, b: a - b, lambda a, b: np.ones(3), lambda a, b: -np.ones(3)),
    (lambda a, b: a * b, lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
    # d(a/b)/da = 1/b, d(a/b)/db = −a/b²
    (lambda a, b: a / b, lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b: -a / b ** 2),
    (lambda a, b: a @ b, lambda a, b: a @ b, lambda a, b: b, lambda a, b: a),
], ids=["add", "sub", "mul", "div", "matmul"])
def test_binary_operators(op, value, grad_a, grad_b):
    a, b = leaf(A), leaf(B)
    out = op(a, b)
    an, bn = np.array(A), np.array(B)
    np.testing.assert_allclose(out.data, value(an, bn), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(a.grad, grad_a(an, bn), rtol=1e-15)
    np.testing.assert_allclose(b.grad, grad_b(an, bn), rtol=1e-15)


def test_pow_and_neg():
    a = leaf(A)
    (a ** 3).sum().backward()  # d a³/da = 3a²
    np.testing.assert_allclose(a.grad, 3 * np.array(A) ** 2, rtol=1e-15)
    a.zero_grad()
    (a ** -1).sum().backward()  # d a⁻¹/da = −a⁻²
    np.testing.assert_allclose(a.grad, -1 / np.array(A) ** 2, rtol=1e-15)
    a.zero_grad()
    (-a).sum().backward()
    np.testing.assert_array_equal((-a).data, [-1.0, -2.0, -3.0])
    np.testing.assert_array_equal(a.grad, [-1.0, -1.0, -1.0])
    with pytest.raises(ChainruleError, match="exponent"):
        a ** a


@pytest.mark.parametrize("left", [2.0, 2, np.float64(2.0), np.array([2.0, 2.0, 2.0])],
                         ids=["float", "int", "np-scalar", "ndarray"])
def test_reflected_operators(left):
    a = leaf(A)
    an = np.array(A)
    cases = [  # (c ∘ a, its value, ∂/∂a)
        (lambda: left + a, 2 + an, np.ones(3)),
        (lambda: left - a, 2 - an, -np.ones(3)),
        (lambda: left * a, 2 * an, np.full(3, 2.0)),
        (lambda: left / a, 2 / an, -2 / an ** 2),
    ]
    for make, value, grad in cases:
        a.zero_grad()
        out = make()
        assert isinstance(out, Tensor)
        np.testing.assert_allclose(out.data, value, rtol=1e-15)
        out.sum().backward()
        np.testing.assert_allclose(a.grad, grad, rtol=1e-15)


def test_ndarray_matmul_on_the_left():
    W = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (3, 2)
    x = np.array([[1.0, -1.0, 2.0]])  # (1, 3)
    out = x @ W
    assert isinstance(out, Tensor)
    np.testing.assert_array_equal(out.data, [[8.0, 10.0]])
    out.sum().backward()  # ∂Σ(xW)/∂W_ij = x_i
    np.testing.assert_array_equal(W.grad, [[1.0, 1.0], [-1.0, -1.0], [2.0, 2.0]])


def test_matmul_gradient_by_hand(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    u = rng.standard_normal((2, 4))
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ta @ tb).backward(u)
    np.testing.assert_allclose(ta.grad, u @ b.T, rtol=1e-14)  # ∂L/∂a = g bᵀ
    np.testing.assert_allclose(tb.grad, a.T @ u, rtol=1e-14)  # ∂L/∂b = aᵀ g


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), [0, 1]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean(axis, keepdims, rng):
    a = rng.standard_normal((2, 3))
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    t = Tensor(a, requires_grad=True)
    s = t.sum(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(s.data, a.sum(axis=np_axis, keepdims=keepdims), rtol=1e-15)
    u = rng.standard_normal(s.shape)
    s.backward(u)
    # ∂Σ/∂a_ij = 1: each entry gets the weight of the sum it went into
    expected = np.broadcast_to(u if keepdims else np.expand_dims(
        u, tuple(range(2)) if np_axis is None else np_axis), (2, 3))
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15)

    t2 = Tensor(a, requires_grad=True)
    m = t2.mean(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(m.data, a.mean(axis=np_axis, keepdims=keepdims), rtol=1e-14)
    m.backward(u)
    count = a.size if np_axis is None else math.prod(a.shape[i] for i in np.atleast_1d(np_axis))
    np.testing.assert_allclose(t2.grad, expected / count, rtol=1e-15)


def test_reshape_and_transpose(rng):
    a = rng.standard_normal((2, 3))
    c = rng.standard_normal((3, 2))
    t = Tensor(a, requires_grad=True)
    (t.T * c).sum().backward()  # ∂Σ(aᵀ ∘ c)/∂a = cᵀ
    np.testing.assert_array_equal(t.T.data, a.T)
    np.testing.assert_array_equal(t.grad, c.T)
    t.zero_grad()
    r = t.reshape(3, 2)
    assert r.shape == (3, 2)
    np.testing.assert_array_equal(t.reshape((6,)).data, a.reshape(6))
    (r * c).sum().backward()  # same numbers, new shape: ∂/∂a = c reshaped back
    np.testing.assert_array_equal(t.grad, c.reshape(2, 3))
    t3 = Tensor(rng.standard_normal((2, 3, 4)))
    assert t3.transpose(2, 0, 1).shape == (4, 2, 3)
    assert t3.transpose((1, 0, 2)).shape == (3, 2, 4)


@pytest.mark.parametrize("sa, sb", [((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)),
                                    ((4, 1, 3), (2, 1)), ((2, 3), (2, 3))])
def test_broadcast_gradients_are_summed_back(sa, sb, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out_shape = np.broadcast_shapes(sa, sb)
    u = rng.standard_normal(out_shape)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ta * tb).backward(u)
    assert ta.grad.shape == sa and tb.grad.shape == sb
    # ∂/∂a = Σ over broadcast positions of u·b (and symmetrically), by hand:
    ga, gb = np.zeros(sa), np.zeros(sb)
    A_, B_ = np.broadcast_to(a, out_shape), np.broadcast_to(b, out_shape)
    for idx in np.ndindex(out_shape):
        ia = tuple(i if n > 1 else 0 for i, n in zip(idx[len(idx) - len(sa):], sa))
        ib = tuple(i if n > 1 else 0 for i, n in zip(idx[len(idx) - len(sb):], sb))
        ga[ia] += u[idx] * B_[idx]
        gb[ib] += u[idx] * A_[idx]
    np.testing.assert_allclose(ta.grad, ga, rtol=1e-13)
    np.testing.assert_allclose(tb.grad, gb, rtol=1e-13)


def test_bias_gradient_is_the_column_sum():
    x = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = leaf([10.0, 20.0])
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad, [3.0, 3.0])  # three rows
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


def test_same_tensor_twice_adds_both_paths():
    a = leaf(A)
    (a * a + a).sum().backward()  # d(a² + a)/da = 2a + 1
    np.testing.assert_array_equal(a.grad, 2 * np.array(A) + 1)


def test_gradients_accumulate_until_zeroed():
    a = leaf(A)
    loss = (a * a).sum()
    loss.backward()
    np.testing.assert_array_equal(a.grad, 2 * np.array(A))
    first = a.grad
    loss.backward()
    np.testing.assert_array_equal(a.grad, 4 * np.array(A))
    np.testing.assert_array_equal(first, 2 * np.array(A))  # added, not written in place
    a.zero_grad()
    assert a.grad is None
    (a * a).sum().backward()
    np.testing.assert_array_equal(a.grad, 2 * np.array(A))


def test_backward_does_not_touch_the_seed_array():
    a = leaf(A)
    u = np.array([1.0, 2.0, 3.0])
    y = a * 1.0
    y.backward(u)
    y.backward(u)
    np.testing.assert_array_equal(u, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(a.grad, [2.0, 4.0, 6.0])


def test_a_chain_of_100000_operations():
    x = Tensor(1.0, requires_grad=True)
    y = x
    n = 100_000
    for _ in range(n):
        y = y * 1.00001
    limit = sys.getrecursionlimit()
    y.backward()  # no RecursionError
    assert sys.getrecursionlimit() == limit
    assert x.grad == pytest.approx(1.00001 ** n, rel=1e-9)  # ≈ e
    assert y.item() == pytest.approx(1.00001 ** n, rel=1e-9)


def test_no_grad_records_no_graph():
    a = leaf(A)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = a * 2.0 + 1.0
    assert is_grad_enabled()
    np.testing.assert_array_equal(y.data, [3.0, 5.0, 7.0])
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(ChainruleError):
        y.sum().backward()
    with pytest.raises(RuntimeError), no_grad():  # restored even after an exception
        raise RuntimeError
    assert is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_memory():
    a = leaf(A)
    d = a.detach()
    assert not d.requires_grad and np.shares_memory(d.data, a.data)
    (d * a).sum().backward()  # only the non-detached path: ∂/∂a = d = a
    np.testing.assert_array_equal(a.grad, A)


def test_backward_on_a_non_scalar_needs_a_gradient():
    a = leaf(A)
    y = a * 3.0
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        y.backward()
    with pytest.raises(ShapeError):
        y.backward(np.ones(2))
    y.backward(np.array([1.0, 2.0, 0.0]))
    np.testing.assert_array_equal(a.grad, [3.0, 6.0, 0.0])


def test_backward_without_requires_grad_raises():
    with pytest.raises(ChainruleError, match="requires_grad"):
        Tensor(1.0).backward()


@pytest.mark.parametrize("make", [
    lambda: Tensor(np.ones((2, 3))) + Tensor(np.ones(4)),
    lambda: Tensor(np.ones((2, 3))) * np.ones((3, 2)),
    lambda: Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3))),
    lambda: Tensor(np.ones(6)).reshape(4, 2),
], ids=["add", "mul", "matmul", "reshape"])
def test_shapes_that_do_not_fit_raise_shape_error(make):
    with pytest.raises(ShapeError, match="shape"):
        make()


def test_float32_stays_float32():
    t = Tensor(np.array([1.0, 2.0, 4.0], dtype=np.float32), requires_grad=True)
    outs = [t + 1.5, 1.5 + t, t - 1, 1 - t, t * 2, 2 * t, t / 3, 3 / t, t ** 2, -t,
            t.sum(), t.mean(), t.exp(), t.tanh(), t.sigmoid(), t.relu(),
            t + np.float64(1.0)]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    loss = outs[0].sum()
    for o in outs[1:]:
        loss = loss + o.sum()
    assert loss.dtype == np.float32
    loss.backward()
    assert t.grad.dtype == np.float32
    # float32 numbers are the float32 rounding of the float64 ones
    np.testing.assert_allclose((t / 3).data, np.array([1, 2, 4]) / 3, rtol=1e-7)
    assert Tensor([1.0, 2.0], dtype=np.float32).dtype == np.float32


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf(A)
    h = x * 2.0
    h.retain_grad()
    other = x * 3.0
    loss = (h * h).sum()
    loss.backward()
    # L = Σ h², h = 2x: ∂L/∂h = 2h, ∂L/∂x = 2h · 2 = 8x
    np.testing.assert_array_equal(h.grad, 2 * h.data)
    np.testing.assert_array_equal(x.grad, 8 * np.array(A))
    assert (x * 5.0).grad is None and other.grad is None


def test_intermediate_without_retain_grad_keeps_none():
    x = leaf(A)
    h = x * 2.0
    (h * h).sum().backward()
    assert h.grad is None
    assert x.grad is not None


def test_facts():
    t = Tensor(np.zeros((2, 3)))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert Tensor(2.5).item() == 2.5
    assert "requires_grad=True" in repr(leaf([1.0]))


def test_leaf_gradients_never_share_an_array():
    """backward keeps a fresh gradient without copying it, but never hands one array to two
    tensors, nor a tensor's own numbers: changing one grad changes nothing else."""
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # ADD's rule hands g itself to both parents
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    a.grad *= 10.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])
    c = Tensor([[1.0, 2.0]], requires_grad=True)
    w = Tensor([[5.0], [6.0]], requires_grad=True)
    (c @ w).sum().backward()  # fresh arrays from the product's rules: kept as they are
    np.testing.assert_array_equal(c.grad, [[5.0, 6.0]])
    np.testing.assert_array_equal(w.grad, [[1.0], [2.0]])
    assert not np.shares_memory(w.grad, c.data) and not np.shares_memory(c.grad, w.data)
    x = Tensor([2.0], requires_grad=True)
    x.backward()  # the seed itself
    x.grad += 1.0
    y = Tensor([2.0], requires_grad=True)
    y.backward()
    np.testing.assert_array_equal(y.grad, [1.0])


def test_gradients_from_several_uses_add_up_in_a_fixed_order():
    # floating-point sums depend on their order, so chainrule keeps one (inputs visited
    # last first): here x's gradients from its three uses add up as (0.7 + 1e16) − 1e16,
    # 0 in float64 (0.7 rounds away in the first sum); the reverse order would give 0.7
    x = Tensor([0.1], requires_grad=True)
    (x * 0.7 + x * 1e16 + x * -1e16).sum().backward()
    assert x.grad[0] == 0.0


def test_a_mean_over_an_axis_a_number_does_not_have_is_a_shape_error():
    with pytest.raises(ShapeError, match="out of bounds"):
        Tensor(2.0, requires_grad=True).mean(axis=0)
