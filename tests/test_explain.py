"""explain: its numbers are the engine's gradients, its text is the seed's derivation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain
from chainrule.explain.latex import to_latex
from chainrule.nn import parameter_refs

GOLDEN = Path(__file__).parent / "golden"


def engine_gradients(model, X, Y, loss="mse"):
    """∂L/∂θ for every parameter, from the graph engine (an independent computation)."""
    model.zero_grad()
    cr.get_loss(loss)(model(np.atleast_2d(X)), np.atleast_2d(Y)).backward()
    return {name: p.grad.copy() for name, p in model.named_parameters()}


def seed_step():
    d = cr.datasets.students()
    return cr.seed_network(), d.X[:1], d.y[:1]


def networks():
    rng = np.random.default_rng(7)
    yield "seed", *seed_step()
    yield "3-4-3-2 tanh", cr.mlp([3, 4, 3, 2], activation="tanh", seed=1), \
        rng.normal(size=(1, 3)), rng.normal(size=(1, 2))
    yield "2-3-1 sigmoid", cr.mlp([2, 3, 1], activation="sigmoid", seed=2), \
        rng.normal(size=(1, 2)), rng.normal(size=(1, 1))
    yield "2-3-2-1 relu/tanh", cr.mlp([2, 3, 2, 1], activation=["relu", "tanh"], seed=3), \
        rng.normal(size=(1, 2)), rng.normal(size=(1, 1))
    yield "batch of 4, 3-4-3-2 tanh", cr.mlp([3, 4, 3, 2], activation="tanh", seed=4), \
        rng.normal(size=(4, 3)), rng.normal(size=(4, 2))


def classifiers():
    """(name, model, X, Y, loss): a softmax classifier and a sigmoid one on logits."""
    rng = np.random.default_rng(8)
    yield "softmax 3-4-3 cross_entropy", cr.mlp([3, 4, 3], activation="tanh", seed=5), \
        rng.normal(size=(2, 3)), np.eye(3)[[2, 0]], "cross_entropy"
    yield "sigmoid 2-3-1 bce", cr.mlp([2, 3, 1], activation="sigmoid", seed=6), \
        rng.normal(size=(3, 2)), np.array([[1.0], [0.0], [1.0]]), "bce"
    yield "mae 2-2-2", cr.mlp([2, 2, 2], activation="elu", seed=7), \
        rng.normal(size=(1, 2)), rng.normal(size=(1, 2)), "mae"
    yield "huber 2-2-1", cr.mlp([2, 2, 1], activation="leaky_relu", seed=8), \
        rng.normal(size=(2, 2)), 3 * rng.normal(size=(2, 1)), "huber"


CASES = [(*c, "mse") for c in networks()] + list(classifiers())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0])
def test_every_explained_gradient_equals_the_engines(case):
    _, model, X, Y, loss = case
    grads = engine_gradients(model, X, Y, loss)
    ex = explain(model, X, Y, loss, lr=0.1)
    assert len(ex.params) == len(parameter_refs(model.sizes))
    for p in ex.params:
        expected = grads[p.ref.name][p.ref.index]
        assert p.gradient == pytest.approx(expected, rel=1e-12, abs=1e-15), p.symbol
        assert p.new == pytest.approx(p.old - 0.1 * expected, rel=1e-12, abs=1e-15)


def one_path(sizes):
    return all(size == 1 for size in sizes[2:])


@pytest.mark.parametrize("case", [c for c in networks() if one_path(c[1].sizes)], ids=lambda c: c[0])
def test_each_factor_is_the_forward_or_backward_intermediate(case):
    """The numbers substituted into the chain rule are the engine's own intermediates
    (networks with one path per parameter, written path by path; the δ form is tested
    in test_explain_delta.py)."""
    _, model, X, Y = case
    # Intermediates from the engine: every layer's z and O, and ∂L/∂ŷ by retain_grad.
    x = cr.Tensor(X[:1])
    Os, zs = [x.data[0]], [None]
    h = x
    for layer in model.layers:
        z = h @ layer.weight + layer.bias
        h = layer.activation(z)
        zs.append(z.data[0])
        Os.append(h.data[0])
    out = cr.Tensor(h.data, requires_grad=True)
    cr.MSE(out, Y[:1]).backward()
    dyhat = out.grad[0]

    ex = explain(model, X[:1], Y[:1], "mse")
    K = len(model.layers)
    for p in ex.params:
        rg = p.rows[0]
        # the product of the factors is the gradient
        assert math.prod(f.value for f in rg.factors) == pytest.approx(rg.value, rel=1e-12, abs=1e-15)
        for f in rg.factors:
            top, bottom = f.symbol[1:].split("/∂")
            if top == "L" and bottom.startswith("ŷ"):
                j = int(bottom[2:]) if "_" in bottom else 1
                assert f.value == pytest.approx(dyhat[j - 1], rel=1e-12)
            elif bottom.startswith("z_"):  # ∂O_kj/∂z_kj: f'(z) from the engine's O
                k, j = int(bottom[2]), int(bottom[3])
                act = model.layers[k - 1].activation
                assert f.value == pytest.approx(float(act.grad(Os[k])[j - 1]), rel=1e-12)
            elif bottom.startswith(("w^", "b_")) and f.formula != "1":  # ∂z/∂w = O_(k−1)i
                k, i = p.ref.layer, p.ref.i
                assert f.value == pytest.approx(Os[k - 1][i - 1], rel=1e-12)
            elif bottom.startswith(("O_", "x_")) and top != "L":  # ∂z_(k+1)m/∂O_kj = w
                assert f.formula.startswith("w^")
                ref = cr.nn.parse_param(f.formula, model.sizes)
                assert f.value == model.layers[ref.layer - 1].weight.data[ref.index]
    # The forward equations carry the engine's forward values.
    for eq in ex.rows[0].forward:
        name = eq.lhs.split(" = ")[-1]
        letter, k, j = name[0], int(name[2]), int(name[3])
        expected = (zs if letter == "z" else Os)[k][j - 1]
        assert eq.value == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_the_seed_reference_step_in_text():
    model, X, Y = seed_step()
    text = explain(model, X, Y, "mse", lr=1e-5).render("text")
    for needle in ["O_11 = w^1_11·x_1 + w^1_21·x_2 + b_11", "= 1·80 + 1·8 + 0", "= 88",
                   "ŷ = O_21", "= 176", "L = (y − ŷ)²", "= 29241",
                   "∂L/∂w^2_11 = ∂L/∂ŷ · ∂ŷ/∂w^2_11", "= −2(y − ŷ) · O_11", "= 342 · 88",
                   "= 30096", "= 27360", "= 2736", "= 342", "= 0.69904", "= 0.7264"]:
        assert needle in text, needle


def test_seed_values_by_hand():
    model, X, Y = seed_step()
    ex = explain(model, X, Y, "mse", lr=1e-5)
    by_hand = {"w^1_11": 27360, "w^1_12": 27360, "w^1_21": 2736, "w^1_22": 2736, "b_11": 342,
               "b_12": 342, "w^2_11": 30096, "w^2_21": 30096, "b_21": 342}
    assert {p.symbol: p.gradient for p in ex.params} == by_hand
    assert ex.loss.value == 29241
    assert ex["w^2_11"].new == pytest.approx(1 - 1e-5 * 30096, rel=1e-15)


@pytest.mark.parametrize("fmt,suffix", [("text", "txt"), ("markdown", "md"), ("latex", "tex")])
def test_golden_renderings_of_the_seed_step(fmt, suffix):
    model, X, Y = seed_step()
    got = explain(model, X, Y, "mse", lr=1e-5, rows=[0]).render(fmt)
    path = GOLDEN / f"seed_step.{suffix}"
    assert got == path.read_text(encoding="utf-8")


def test_latex_is_valid_math():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("agg")
    seen = set()
    for _, model, X, Y, loss in CASES[:4] + CASES[5:]:
        ex = explain(model, X[:2], Y[:2], loss, check=True)
        eqs = [ex.loss, *(e for r in ex.rows for e in [*r.forward, r.loss, *r.deltas])]
        for p in ex.params:
            eqs += [p.update, *([p.mean] if p.mean else [])]
            for rg in p.rows:
                eqs += [rg.chain, *rg.steps]
        for eq in eqs:
            for part in [eq.lhs, *eq.forms]:  # each piece alone: the parser is slow on long lines
                tex = "$" + to_latex(part) + "$"
                if tex in seen:
                    continue
                seen.add(tex)
                assert tex.count("{") == tex.count("}"), tex
                parser.parse(tex)  # raises ValueError on invalid math


def test_markdown_and_latex_blocks_balance():
    model, X, Y = seed_step()
    ex = explain(model, X, Y, "mse", lr=1e-5)
    md, tex = ex.render("markdown"), ex.render("latex")
    assert md.count("$$") % 2 == 0 and md.count("\\begin{aligned}") == md.count("\\end{aligned}")
    assert tex.count("\\begin{align*}") == tex.count("\\end{align*}") > 0
    assert tex.count("{") == tex.count("}")


def test_json_is_stable_and_complete():
    model, X, Y = seed_step()
    data = json.loads(explain(model, X, Y, "mse", lr=1e-5, param="w^2_11").render("json"))
    assert data["version"] == 2 and data["form"] == "paths"
    assert data["network"] == {"sizes": [2, 2, 1], "activations": ["linear", "linear"]}
    assert data["loss_value"]["value"] == 29241
    (p,) = data["parameters"]
    assert p["symbol"] == "w^2_11" and p["name"] == "layers.1.weight" and p["index"] == [0, 0]
    assert p["gradient"] == 30096 and p["update"]["new"] == pytest.approx(0.69904)
    assert [f["value"] for f in p["rows"][0]["factors"]] == [342, 88]
    assert p["rows"][0]["factors"][0]["formula"] == "−2(y − ŷ)"


def test_batch_is_the_mean_of_the_rows():
    d = cr.datasets.students()
    model = cr.seed_network()
    ex = explain(model, d.X, d.y, "mse", param="b_21")
    p = ex["b_21"]
    # Rows: ŷ = 176, 130, 234 against 5, 3, 8 → ∂L_n/∂b_21 = −2(y − ŷ) = 342, 254, 452.
    assert [r.value for r in p.rows] == [342, 254, 452]
    assert p.gradient == pytest.approx((342 + 254 + 452) / 3)
    assert p.mean.forms[1] == "(1/3)(342 + 254 + 452)"


def test_softmax_cross_entropy_is_p_minus_y_at_the_output():
    model = cr.mlp([2, 3, 3], activation="tanh", seed=0)
    ex = explain(model, [[1.0, 2.0]], [[0.0, 1.0, 0.0]], "cross_entropy", param="w^2_11")
    z = model.forward_array(np.array([[1.0, 2.0]]))[0]
    p = np.exp(z) / np.exp(z).sum()
    first = ex.rows[0].deltas[0]  # the δ table starts at the output: δ^2_1 = ∂L/∂z_21
    assert first.lhs == "δ^2_1 = ∂L/∂z_21" and first.forms[0] == "p_1 − y_1"
    assert first.value == pytest.approx(p[0] - 0.0, rel=1e-12)
    assert ex.rows[0].loss.value == pytest.approx(-np.log(p[1]), rel=1e-12)
    text = explain(model, [[1.0, 2.0]], [[0.0, 1.0, 0.0]], "cross_entropy", param="w^1_11").render()
    assert "softmax and cross-entropy together give p − y" in text


def test_check_matches_finite_differences():
    _, model, X, Y = list(networks())[1]
    ex = explain(model, X, Y, "mse", check=True)
    for p in ex.params:
        assert p.check.rel_error < 1e-6
        assert p.check.numeric == pytest.approx(p.gradient, rel=1e-5, abs=1e-8)


def test_dead_relu_and_saturated_sigmoid_are_flagged():
    model = cr.mlp([1, 1, 1], activation="relu", init="ones")
    ex = explain(model, [[-3.0]], [[1.0]], "mse", param="w^1_11")
    assert ex.params[0].gradient == 0
    assert any("dead ReLU" in f for f in ex.params[0].flags)
    model = cr.mlp([1, 1, 1], activation="sigmoid", init="ones")
    ex = explain(model, [[20.0]], [[0.0]], "mse", param="w^1_11")
    assert any("saturated" in f for f in ex.params[0].flags)
    assert "σ(z_11)(1 − σ(z_11))" in ex.render("text")


def test_parameter_names_are_accepted_in_all_spellings():
    model, X, Y = seed_step()
    for spelling in ["w^1_21", "w1_21", "w^{1}_{21}"]:
        assert explain(model, X, Y, param=spelling).params[0].symbol == "w^1_21"
    for spelling in ["b_21", "b21"]:
        assert explain(model, X, Y, param=spelling).params[0].symbol == "b_21"


def test_unknown_parameter_lists_the_valid_ones():
    model, X, Y = seed_step()
    with pytest.raises(cr.ConfigError, match=r"w\^3_11.*valid names: w\^1_11, w\^1_12"):
        explain(model, X, Y, param="w^3_11")


def run(*args):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_explain_defaults_to_the_seed_step():
    res = run("explain")
    assert res.returncode == 0, res.stderr
    for needle in ["ŷ = O_21", "= 176", "= 29241", "= 30096", "= 27360", "= 2736", "= 342"]:
        assert needle in res.stdout
    updates = [l for l in res.stdout.splitlines() if l.startswith("  ") and "← " in l]
    assert len(updates) == 9


def test_cli_explain_one_parameter_and_formats():
    res = run("explain", "--param", "w1_21", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [p["symbol"] for p in data["parameters"]] == ["w^1_21"]
    assert data["parameters"][0]["gradient"] == 2736
    res = run("explain", "-p", "b21", "--row", "2", "--check")
    assert res.returncode == 0, res.stderr
    # Row 2 (60, 5 → 3): ŷ = 2·65 = 130, ∂L/∂b_21 = −2(3 − 130) = 254.
    assert "= 130" in res.stdout and "= 254" in res.stdout and "relative error" in res.stdout


def test_cli_explain_bad_parameter_and_row():
    res = run("explain", "--param", "w^9_99")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "valid names" in res.stderr and res.stderr.startswith("error:")
    res = run("explain", "--row", "4")
    assert res.returncode == 1 and "has 3 rows" in res.stderr


def test_cli_train_trace_narrates_steps():
    res = run("train", "--trace", "2", "--epochs", "1")
    assert res.returncode == 0, res.stderr
    assert "step 1 (epoch 1)" in res.stdout and "step 2 (epoch 1)" in res.stdout
    assert res.stdout.count("∂L/∂w^2_11 =") == 2
    lines = [l for l in res.stdout.splitlines() if l.startswith("  ") and ": ∂L/∂" in l and "←" in l]
    assert len(lines) == 18  # 9 parameters × 2 steps


def test_a_batch_names_each_rows_loss_in_every_format():
    d = cr.datasets.students()
    ex = explain(cr.seed_network(), d.X[:2], d.y[:2], param="b_21", rows=[0, 1])
    assert [r.chain.lhs for r in ex.params[0].rows] == ["∂L_1/∂b_21", "∂L_2/∂b_21"]
    md = ex.render("markdown")
    assert "\\frac{\\partial L_{1}}{\\partial b_{21}}" in md and "\\frac{\\partial L_{2}}{\\partial b_{21}}" in md


def test_parameters_of_activations_appear_as_numbers():
    model = cr.mlp([1, 1, 1], activation="leaky_relu:0.2", init="ones")
    text = explain(model, [[-2.0]], [[0.0]], param="w^1_11").render()
    assert "(−2) if (−2) > 0 else 0.2 · (−2)" in text  # z_11 = −2, slope 0.2
    assert "(1 if (−2) > 0 else 0.2)" in text


def test_explain_refuses_what_it_cannot_write():
    with pytest.raises(cr.ConfigError, match="couples its neurons"):
        explain(cr.mlp([2, 3], output_activation="softmax"), [[1.0, 2.0]], [[0, 0, 1.0]])
    model = cr.seed_network()
    with pytest.raises(cr.ShapeError, match="give that many targets"):
        explain(model, [[80.0, 8.0], [60.0, 5.0]], [[5.0]])
    with pytest.raises(cr.DataError, match="NaN"):
        explain(model, [[np.nan, 8.0]], [[5.0]])
    with pytest.raises(cr.ShapeError, match="rows names 1 row"):
        explain(model, [[80.0, 8.0], [60.0, 5.0]], [[5.0], [3.0]], rows=[0])


def test_check_works_for_float32_models():
    d = cr.datasets.students()
    ex = explain(cr.seed_network(dtype=np.float32), d.X[:1], d.y[:1], check=True)
    assert all(p.check.rel_error < 1e-2 for p in ex.params)  # float32 differences: ~1e-3


def test_weight_decay_adds_lambda_theta_the_gradient_of_the_l2_penalty():
    """explain(weight_decay=λ): ∂L/∂θ + λ·θ is the central difference of the penalised loss
    L + (λ/2)·Σθ² (every weight and bias), and the update uses it: θ − η·(∂L/∂θ + λθ)."""
    model = cr.mlp([2, 3, 1], activation="tanh", seed=1)
    x, y, lam, lr = np.array([[0.4, -1.2]]), np.array([[0.7]]), 0.3, 0.1

    def penalised() -> float:
        out = model.forward_array(x)
        return float(np.mean((y - out) ** 2)) + lam / 2 * sum(
            float(np.sum(p.data ** 2)) for p in model.parameters())

    for symbol, (name, index) in [("w^1_21", ("layers.0.weight", (1, 0))),
                                  ("b_21", ("layers.1.bias", (0,)))]:
        p = explain(model, x, y, "mse", param=symbol, lr=lr, weight_decay=lam).params[0]
        data = dict(model.named_parameters())[name].data
        keep, eps = data[index], 1e-6
        data[index] = keep + eps
        up = penalised()
        data[index] = keep - eps
        down = penalised()
        data[index] = keep
        assert p.l2.value == pytest.approx((up - down) / (2 * eps), rel=1e-6)
        assert p.l2.value == pytest.approx(p.gradient + lam * keep, rel=1e-12)
        assert p.new == pytest.approx(keep - lr * p.l2.value, rel=1e-12)
        assert p.to_dict()["l2"]["value"] == p.l2.value
    assert explain(model, x, y, "mse", param="w^1_21").params[0].to_dict()["l2"] is None
