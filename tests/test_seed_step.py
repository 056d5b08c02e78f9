"""The seed document's first step, worked by hand (docs/tutorial.md, "The first step").

Weights 1, biases 0, linear activations, row (IQ 80, CGPA 8 → Package 5):

    O_11 = O_12 = 1·80 + 1·8 + 0 = 88
    ŷ = O_21 = 1·88 + 1·88 + 0 = 176
    L = (5 − 176)² = 29241
    ∂L/∂ŷ = −2(y − ŷ) = 342
    ∂L/∂w^2_j1 = 342 · O_1j = 342 · 88 = 30096         ∂L/∂b_21 = 342
    ∂L/∂w^1_ij = 342 · w^2_j1 · x_i  → x_1 = 80: 27360,  x_2 = 8: 2736
    ∂L/∂b_1j   = 342 · w^2_j1 = 342

and after one SGD step with η = 1e-5, every parameter moves by −η times its gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule
from chainrule.nn import parameter_refs, parse_param

ROW_X = np.array([[80.0, 8.0]])
ROW_Y = np.array([[5.0]])
LR = 1e-5

# symbol: ∂L/∂symbol, by hand (see the module docstring)
HAND_GRADIENTS = {
    "w^1_11": 342 * 1 * 80,  # 27360
    "w^1_12": 342 * 1 * 80,  # 27360
    "w^1_21": 342 * 1 * 8,  # 2736
    "w^1_22": 342 * 1 * 8,  # 2736
    "b_11": 342 * 1,
    "b_12": 342 * 1,
    "w^2_11": 342 * 88,  # 30096
    "w^2_21": 342 * 88,  # 30096
    "b_21": 342,
}
START = {s: (0.0 if s.startswith("b") else 1.0) for s in HAND_GRADIENTS}


def value_of(model: chainrule.Sequential, symbol: str, use_grad: bool = False) -> float:
    ref = parse_param(symbol, model.sizes)
    layer = model.layers[ref.layer - 1]
    tensor = layer.weight if ref.kind == "w" else layer.bias
    array = tensor.grad if use_grad else tensor.data
    return float(array[ref.index])


def test_the_nine_symbols_are_the_seed_networks_parameters():
    model = chainrule.seed_network()
    assert model.sizes == [2, 2, 1]
    assert [r.symbol for r in parameter_refs(model.sizes)] == list(HAND_GRADIENTS)
    for symbol, start in START.items():
        assert value_of(model, symbol) == start


def test_the_builtin_dataset_is_the_seed_table(students):
    np.testing.assert_array_equal(students.X, [[80, 8], [60, 5], [110, 7]])
    np.testing.assert_array_equal(students.y, [[5], [3], [8]])
    assert students.feature_names == ["IQ", "CGPA"]
    assert students.target_names == ["Package"]


def test_forward_pass_by_hand(students):
    model = chainrule.seed_network()
    x = chainrule.Tensor(students.X[:1])
    hidden = model.layers[0](x)
    np.testing.assert_array_equal(hidden.data, [[88.0, 88.0]])  # O_11 = O_12 = 88
    pred = model.layers[1](hidden)
    assert pred.data.shape == (1, 1) and pred.item() == 176.0  # ŷ = O_21
    assert model.predict(students.X[:1])[0, 0] == 176.0
    L = chainrule.MSE(pred, students.y[:1])
    assert L.item() == 29241.0  # (5 − 176)²


def test_all_nine_gradients_by_hand(students):
    model = chainrule.seed_network()
    pred = model(students.X[:1])
    pred.retain_grad()
    L = chainrule.MSE(pred, students.y[:1])
    L.backward()
    assert pred.grad[0, 0] == 342.0  # ∂L/∂ŷ = −2(5 − 176)
    for symbol, expected in HAND_GRADIENTS.items():
        assert value_of(model, symbol, use_grad=True) == expected, symbol
    # the three from DESIGN.md, spelled out
    assert value_of(model, "w^2_11", use_grad=True) == 30096
    assert value_of(model, "w^1_11", use_grad=True) == 27360
    assert value_of(model, "b_21", use_grad=True) == 342


def test_one_sgd_update_by_hand(students):
    model = chainrule.seed_network()
    opt = chainrule.SGD(model.parameters(), lr=LR)
    opt.zero_grad()
    chainrule.MSE(model(students.X[:1]), students.y[:1]).backward()
    opt.step()
    for symbol, grad in HAND_GRADIENTS.items():
        expected = START[symbol] - LR * grad
        assert value_of(model, symbol) == pytest.approx(expected, rel=1e-15, abs=1e-15), symbol
    assert value_of(model, "w^2_11") == pytest.approx(1 - 0.30096, rel=1e-15)
    assert value_of(model, "w^1_11") == pytest.approx(1 - 0.27360, rel=1e-15)
    assert value_of(model, "w^1_21") == pytest.approx(1 - 0.02736, rel=1e-15)
    assert value_of(model, "b_11") == pytest.approx(-0.00342, rel=1e-15)
    assert value_of(model, "b_21") == pytest.approx(-0.00342, rel=1e-15)


def test_one_step_through_fit_gives_the_same_weights():
    model = chainrule.seed_network()
    history = chainrule.fit(model, ROW_X, ROW_Y, loss="mse", optimizer="sgd", lr=LR,
                            epochs=1, shuffle=False)
    assert history.loss == [29241.0]
    assert history.steps == 1
    for symbol, grad in HAND_GRADIENTS.items():
        expected = START[symbol] - LR * grad
        assert value_of(model, symbol) == pytest.approx(expected, rel=1e-15, abs=1e-15), symbol


def test_second_step_uses_the_updated_weights():
    """Row 2 (60, 5 → 3) after the first update, again by hand formulas."""
    model = chainrule.seed_network()
    chainrule.fit(model, np.array([[80.0, 8.0], [60.0, 5.0]]), np.array([[5.0], [3.0]]),
                  lr=LR, epochs=1, shuffle=False)
    w1 = 1 - LR * np.array([[27360.0, 27360.0], [2736.0, 2736.0]])
    b1 = np.full(2, -LR * 342)
    w2 = np.full((2, 1), 1 - LR * 30096)
    b2 = np.array([-LR * 342])
    x, y = np.array([60.0, 5.0]), 3.0
    o1 = x @ w1 + b1
    pred = float(o1 @ w2[:, 0] + b2[0])
    d = -2 * (y - pred)
    expect_w2 = w2[:, 0] - LR * d * o1
    expect_w1 = w1 - LR * d * np.outer(x, w2[:, 0])
    np.testing.assert_allclose(model.layers[1].weight.data[:, 0], expect_w2, rtol=1e-13)
    np.testing.assert_allclose(model.layers[0].weight.data, expect_w1, rtol=1e-13)
    np.testing.assert_allclose(model.layers[1].bias.data, b2 - LR * d, rtol=1e-13)
