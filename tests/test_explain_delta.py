"""explain's δ form: every number of the δ table and of each one-line parameter is the
engine's own intermediate ∂L/∂z and gradient; path by path (--expand) sums to the same."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain
from chainrule.nn import parameter_refs


def engine_row(model, x, y, loss):
    """(z per layer, O per layer, ∂L/∂z per layer, ∂L/∂θ by name) for one row, by the graph
    engine with retain_grad: an independent computation of every number explain prints."""
    h = cr.Tensor(np.atleast_2d(x))
    Os, zs = [h.data[0]], [None]
    tensors = []
    for layer in model.layers:
        z = (h @ layer.weight + layer.bias).retain_grad()
        tensors.append(z)
        h = layer.activation(z)
        zs.append(z.data[0])
        Os.append(h.data[0])
    model.zero_grad()
    cr.get_loss(loss)(h, np.atleast_2d(y)).backward()
    deltas = [None] + [t.grad[0].copy() for t in tensors]
    grads = {name: p.grad.copy() for name, p in model.named_parameters()}
    return zs, Os, deltas, grads


def nets():
    rng = np.random.default_rng(11)
    yield "seed", cr.seed_network(), cr.datasets.students().X[:1], cr.datasets.students().y[:1], "mse"
    yield "3-4-3-2 tanh mse", cr.mlp([3, 4, 3, 2], activation="tanh", seed=1), \
        rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), "mse"
    yield "softmax 3-4-3 cross_entropy", cr.mlp([3, 4, 3], activation="tanh", seed=5), \
        rng.normal(size=(1, 3)), np.eye(3)[[1]], "cross_entropy"
    yield "sigmoid-output bce 2-3-1", cr.mlp([2, 3, 1], activation="relu", seed=6), \
        rng.normal(size=(1, 2)), np.array([[1.0]]), "bce"
    yield "sse_half 2-2-2 sigmoid/sigmoid", cr.mlp([2, 2, 2], activation="sigmoid",
                                                    output_activation="sigmoid", seed=7), \
        rng.normal(size=(1, 2)), rng.uniform(size=(1, 2)), "sse_half"
    yield "sse_half 3-4-3-2 tanh", cr.mlp([3, 4, 3, 2], activation="tanh", seed=8), \
        rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), "sse_half"


NETS = list(nets())


def number(text):
    return float(text.replace("−", "-").strip("()"))


@pytest.mark.parametrize("case", NETS, ids=lambda c: c[0])
def test_delta_table_and_one_line_parameters_are_the_engines_numbers(case):
    _, model, X, Y, loss = case
    zs, Os, deltas, grads = engine_row(model, X[0], Y[0], loss)
    ex = explain(model, X, Y, loss, lr=0.1, form="delta")
    assert ex.form == "delta"
    K = len(model.layers)
    # the δ table: from the output back, every neuron once
    expected_order = [(k, j) for k in range(K, 0, -1) for j in range(1, model.sizes[k] + 1)]
    table = ex.rows[0].deltas
    assert [tuple(map(int, re.match(r"δ\^(\d+)_(\d+)", eq.lhs).groups())) for eq in table] == expected_order
    for eq, (k, j) in zip(table, expected_order):
        assert eq.value == pytest.approx(deltas[k][j - 1], rel=1e-12, abs=1e-15), eq.lhs
        if k < K:  # f'(z) · (Σ_m w·δ): the numbers are the engine's f'(z), weights and δs
            act = model.layers[k - 1].activation
            fp = act.grad(zs[k]) if act.grad_from == "z" else act.grad(Os[k])
            nums = eq.forms[-2]
            if act.primitive is not None:
                head, inner = nums.split(" · (", 1)
                assert number(head) == pytest.approx(fp[j - 1], rel=1e-5)  # printed to 6 digits
            else:
                inner = nums
            terms = inner.rstrip(")").split(" + ")
            W = model.layers[k].weight.data
            for m, term in enumerate(terms):
                w, dv = term.split("·")
                assert number(w) == pytest.approx(W[j - 1, m], rel=1e-5)
                assert number(dv) == pytest.approx(deltas[k + 1][m], rel=1e-5)
    # one line per parameter, O_(k−1)i · δ^k_j, equal to the engine's gradient
    assert len(ex.params) == len(parameter_refs(model.sizes))
    for p in ex.params:
        rg = p.rows[0]
        k, j = p.ref.layer, p.ref.j
        expected = grads[p.ref.name][p.ref.index]
        assert p.gradient == pytest.approx(expected, rel=1e-12, abs=1e-15), p.symbol
        assert rg.factors[-1].symbol == f"δ^{k}_{j}"
        assert rg.factors[-1].value == pytest.approx(deltas[k][j - 1], rel=1e-12, abs=1e-15)
        if p.ref.kind == "w":
            assert rg.chain.forms[0] == f"{'x' if k == 1 else 'O'}_{p.ref.i if k == 1 else f'{k - 1}{p.ref.i}'} · δ^{k}_{j}"
            assert rg.factors[0].value == Os[k - 1][p.ref.i - 1]
        else:
            assert rg.chain.forms[0] == f"δ^{k}_{j}"
        assert p.new == pytest.approx(p.old - 0.1 * expected, rel=1e-12, abs=1e-15)


def test_a_batch_writes_each_rows_product_in_the_mean():
    model = cr.mlp([3, 4, 3, 2], activation="tanh", seed=4)
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 3)), rng.normal(size=(3, 2))
    ex = explain(model, X, Y, "mse", param="w^1_21")
    rows = [engine_row(model, X[n], Y[n], "mse") for n in range(3)]
    # each row's own δ table, and ∂L/∂w = (1/N) Σ_n x_2 δ^1_1 with each row's numbers
    for n, r in enumerate(rows):
        assert ex.rows[n].deltas[-4].value == pytest.approx(r[2][1][0], rel=1e-12)  # δ^1_1
    p = ex.params[0]
    assert p.mean.forms[0] == "(1/N) Σ_n x_2 · δ^1_1"
    want = np.mean([X[n, 1] * rows[n][2][1][0] for n in range(3)])
    assert p.gradient == pytest.approx(want, rel=1e-12)
    assert p.mean.forms[1].count("·") == 3


def test_the_3_4_3_2_tanh_step_fits_in_150_lines():
    rng = np.random.default_rng(7)
    model = cr.mlp([3, 4, 3, 2], activation="tanh", seed=1)
    text = explain(model, rng.normal(size=(1, 3)), rng.normal(size=(1, 2)), "mse").render()
    lines = text.splitlines()
    assert len(lines) <= 150
    # every parameter once, and each δ is worked out once, not inside every parameter
    assert sum(line.lstrip().startswith("∂L/∂") for line in lines) == 39
    assert sum(line.lstrip().startswith("δ^") for line in lines) == 9
    assert "∂L/∂w^k_ij = O_(k−1)i · δ^k_j and ∂L/∂b_kj = δ^k_j" in text
    assert "∂L/∂w^1_21 = x_2 · δ^1_1 = " in text


def test_the_seed_keeps_its_path_form_and_the_delta_form_on_request():
    model, d = cr.seed_network(), cr.datasets.students()
    assert explain(model, d.X[:1], d.y[:1]).form == "paths"
    ex = explain(model, d.X[:1], d.y[:1], lr=1e-5, form="delta")
    # δ^2_1 = −2(y − ŷ) = 342; δ^1_1 = w^2_11 · δ^2_1 = 342; ∂L/∂w^1_21 = x_2 · δ^1_1 = 8 · 342
    assert [eq.value for eq in ex.rows[0].deltas] == [342, 342, 342]
    assert "∂L/∂w^1_21 = x_2 · δ^1_1 = 8 · 342 = 2736" in ex.render()


def test_expand_writes_every_path_and_their_sum_is_the_gradient():
    rng = np.random.default_rng(7)
    model = cr.mlp([3, 4, 3, 2], activation="tanh", seed=1)
    x, y = rng.normal(size=(1, 3)), rng.normal(size=(1, 2))
    zs, Os, deltas, grads = engine_row(model, x[0], y[0], "mse")
    ex = explain(model, x, y, "mse", param="w^1_21", form="paths")
    rg = ex.params[0].rows[0]
    assert len(rg.steps) == 3 * 2  # through each of layer 2's 3 neurons to each of 2 outputs
    # path (j2, j3): ∂L/∂ŷ_j3 · w^3_(j2)(j3) · f'(z_2j2) · w^2_1(j2) · f'(z_11) · x_2, by hand
    W2, W3 = model.layers[1].weight.data, model.layers[2].weight.data
    dy = deltas[3]
    f1, f2 = 1 - Os[1] ** 2, 1 - Os[2] ** 2
    by_hand = [dy[b] * W3[a, b] * f2[a] * W2[0, a] * f1[0] * x[0, 1] for a in range(3) for b in range(2)]
    np.testing.assert_allclose([s.value for s in rg.steps], by_hand, rtol=1e-12)
    assert sum(s.value for s in rg.steps) == pytest.approx(grads["layers.0.weight"][1, 0], rel=1e-12)
    assert rg.steps[0].lhs == "∂L/∂ŷ_1 · ∂ŷ_1/∂O_21 · ∂O_21/∂z_21 · ∂z_21/∂O_11 · ∂O_11/∂z_11 · ∂z_11/∂w^1_21"
    assert "the sum over the 6 paths" in ex.render()


def test_expand_refuses_more_paths_than_it_can_write():
    model = cr.mlp([2, 10, 10, 1], activation="tanh", seed=0)
    assert len(explain(model, [[1.0, 2.0]], [[0.5]], param="w^1_11", form="paths")
               .params[0].rows[0].steps) == 10
    model = cr.mlp([2, 10, 10, 10], activation="tanh", seed=0)
    with pytest.raises(cr.ConfigError, match="100 paths"):
        explain(model, [[1.0, 2.0]], [[0.5] * 10], param="w^1_11", form="paths")


def test_dead_only_when_off_for_every_row_shown():
    model = cr.mlp([1, 2, 1], activation="relu", init="ones")
    model.layers[0].weight.data[:] = [[1.0, -1.0]]
    # neuron 1 is on for x = 2, off for x = −3; neuron 2 is off for x = 2 … on for x = −3
    both = explain(model, [[2.0], [-3.0]], [[0.0], [0.0]], form="delta").notes
    assert not any("dead" in n for n in both)
    assert "row 2: O_11 is inactive for this row (z_11 = −3 ≤ 0)" in " ".join(both)
    assert "row 1: O_12 is inactive for this row (z_12 = −2 ≤ 0)" in " ".join(both)
    one = explain(model, [[2.0], [5.0]], [[0.0], [0.0]], form="delta").notes
    assert one == ["O_12 is a dead ReLU: z_12 ≤ 0 for every row shown, so ∂O_12/∂z_12 = 0 and no "
                   "gradient flows through this neuron"]


def test_relu_of_a_negative_number_has_one_pair_of_parentheses():
    model = cr.mlp([1, 1, 1], activation="relu", init="ones")
    text = explain(model, [[-0.435838]], [[1.0]], param="w^1_11").render()
    assert "max(−0.435838, 0)" in text and "((" not in text


def test_a_multi_output_loss_is_one_formula_from_header_to_body():
    model = cr.mlp([2, 2, 2], activation="tanh", seed=0)
    ex = explain(model, [[0.5, -1.0]], [[1.0, 0.0]], "mse")
    text = ex.render()
    header = text.splitlines()[0]
    assert "loss L = (1/2) Σ_j (y_j − ŷ_j)²," in header
    assert "  L = (1/2) Σ_j (y_j − ŷ_j)²" in text
    assert "/2" not in text.replace("(1/2)", "")
    # ∂L/∂ŷ_1 = (2/m)·(ŷ_1 − y_1) with m = 2: written −(y_1 − ŷ_1)
    assert "= −(y_1 − ŷ_1)" in text
    pred = model.forward_array(np.array([[0.5, -1.0]]))[0]
    assert ex.rows[0].deltas[0].value == pytest.approx(pred[0] - 1.0, rel=1e-12)
    three = explain(cr.mlp([2, 3], seed=0), [[0.5, -1.0]], [[1.0, 0.0, 2.0]], "mse").render()
    assert "loss L = (1/3) Σ_j (y_j − ŷ_j)²," in three and "−(2/3)(y_1 − ŷ_1)" in three


def test_sse_half_is_written_as_the_textbook_writes_it():
    model = cr.mlp([2, 2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    text = explain(model, [[0.05, 0.1]], [[0.01, 0.99]], "sse_half").render()
    assert "loss L = Σ_k ½(y_k − ŷ_k)²," in text
    assert "∂L/∂ŷ_1 · σ(z_21)(1 − σ(z_21))" in text and "−(y_1 − ŷ_1) · σ(z_21)(1 − σ(z_21))" in text


def test_an_update_too_small_for_6_digits_shows_the_change():
    model = cr.mlp([1, 1], init="ones")
    model.layers[0].weight.data[:] = -3.28027
    ex = explain(model, [[1.0]], [[-3.28027 + 2.68e-6]], "mse", lr=0.01)
    update = ex.params[0].update
    old, new = update.forms[0].split(" − ")[0], update.forms[-1]
    assert old != new and float(old.replace("−", "-")) == pytest.approx(-3.28027)
    p = ex.params[0]  # the printed new value is nearer the true one than the change is big
    assert abs(float(new.replace("−", "-")) - p.new) < abs(p.new - p.old) / 2


def test_one_parameter_alone_carries_the_deltas_it_rests_on():
    """The playground's panel shows one parameter: its steps are the δs above its layer and
    its own neuron's, the rows of the δ table."""
    model = cr.mlp([3, 4, 3, 2], activation="tanh", seed=1)
    ex = explain(model, [[0.1, 0.2, 0.3]], [[1.0, 0.0]], param="w^2_31")
    steps = ex.params[0].rows[0].steps
    assert [eq.lhs.split(" = ")[0] for eq in steps] == ["δ^3_1", "δ^3_2", "δ^2_1"]
    assert [eq.value for eq in steps] == [eq.value for eq in ex.rows[0].deltas[:3]]
    assert explain(model, [[0.1, 0.2, 0.3]], [[1.0, 0.0]]).params[0].rows[0].steps == []
