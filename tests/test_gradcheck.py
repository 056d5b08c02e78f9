"""gradcheck: the engine's gradients against central finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule import ShapeError, gradcheck, ops
from chainrule.gradcheck import check_vjp, relative_error
from chainrule.tensor import apply


def test_cube_numeric_gradient_is_3x_squared(rng):
    x = rng.standard_normal(5)
    result = gradcheck(lambda t: (t ** 3).sum(), x)
    assert result.ok and bool(result)
    np.testing.assert_allclose(result.numeric[0], 3 * x ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(result.analytic[0], 3 * x ** 2, rtol=1e-14)
    assert result.max_rel_error < 1e-8


@pytest.mark.parametrize("f, shapes", [
    (lambda a, b: ((a @ b).tanh() * a.sum()).mean(), [(2, 3), (3, 4)]),
    (lambda x: (x.sigmoid() * x.exp()).sum() / (x * x + 1.0).sum(), [(3, 2)]),
    (lambda x, w: ((x @ w).sigmoid() - 0.5).abs().sum().log(), [(4, 3), (3,)]),
    (lambda a, b: ((a - b) ** 2).mean(axis=0).sum() + (a.T @ b).sum() * 0.1,
     [(3, 2), (3, 2)]),
    (lambda a: (a.reshape(3, 2).T ** 2.0).sum(axis=1, keepdims=True).mean(), [(2, 3)]),
], ids=["matmul-tanh", "sigmoid-exp-div", "abs-log", "sub-pow-T", "reshape-T"])
def test_composites_pass(f, shapes, rng):
    inputs = [rng.standard_normal(s) for s in shapes]
    result = gradcheck(f, *inputs)
    assert result.ok, result
    assert result.max_rel_error < 1e-7
    for x, a, n in zip(inputs, result.analytic, result.numeric):
        assert a.shape == n.shape == x.shape


def test_full_model_and_mse_loss_wrt_weights(rng):
    model = chainrule.mlp([3, 4, 2], activation="tanh", init="xavier", seed=1)
    X, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]

    def loss(W1, b1, W2, b2):
        for layer, (w, b) in zip(model.layers, [(W1, b1), (W2, b2)]):
            layer.weight, layer.bias = w, b
        return chainrule.MSE(model(X), y)

    result = gradcheck(loss, *[p.data for p in model.parameters()])
    assert result.ok, result
    assert result.max_rel_error < 1e-7
    assert all(np.abs(a).max() > 1e-3 for a in result.analytic)  # not trivially zero


def test_a_wrong_rule_fails(rng):
    """A sine whose rule says sin instead of cos: the check must say MISMATCH."""
    bad_sin = ops.Primitive("bad_sin", np.sin, rules=(lambda g, out, a: g * np.sin(a),),
                            local=("sin(a)",), expr="sin a", args=("a",), domain=("real",))
    x = rng.uniform(0.3, 1.2, size=4)  # where cos and sin differ a lot
    result = gradcheck(lambda t: apply(bad_sin, t).sum(), x)
    assert not result.ok and not bool(result)
    assert result.max_rel_error > 0.1
    assert "MISMATCH" in repr(result)
    np.testing.assert_allclose(result.numeric[0], np.cos(x), rtol=1e-8)
    np.testing.assert_allclose(result.analytic[0], np.sin(x), rtol=1e-14)
    numeric, analytic = check_vjp(bad_sin, x, rng=rng)
    assert abs(numeric - analytic) > 0.01 * abs(numeric)


def test_broadcast_input_gradient_is_summed_back(rng):
    """b of shape (3,) broadcast over 2 rows: ∂Σ(x·b)/∂b = column sums of x."""
    x, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    result = gradcheck(lambda t, s: (t * s).sum(), x, b)
    np.testing.assert_allclose(result.analytic[1], x.sum(axis=0), rtol=1e-14)
    assert result.ok


def test_needs_a_scalar_function(rng):
    with pytest.raises(ShapeError, match="one number"):
        gradcheck(lambda t: t * 2.0, rng.standard_normal(3))


def test_inputs_are_not_changed(rng):
    x = rng.standard_normal(4)
    before = x.copy()
    gradcheck(lambda t: (t * t).sum(), x)
    np.testing.assert_array_equal(x, before)


def test_relative_error():
    assert relative_error([100.0], [101.0]) == pytest.approx(1 / 101)
    assert relative_error([1e-3], [2e-3]) == pytest.approx(1e-3)  # absolute below 1
    assert relative_error([], []) == 0.0
