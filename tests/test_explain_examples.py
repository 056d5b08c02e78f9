"""Worked examples from TOML files: the shipped ones against independent calculations,
random ones (hypothesis) against the engine, malformed ones as one-line errors; the
CLI's --example, --steps, --expand, --standalone, and train's --no-shuffle/--init-from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.cli import cli
from chainrule.explain import explain, explain_steps, load_example, parse_example
from chainrule.nn import parameter_refs


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def invoke(*args):
    """The CLI in this process (click's runner): exit code and what it printed (a chainrule
    error as the CLI prints it, ``error: …``)."""
    res = CliRunner().invoke(cli, list(args))
    if isinstance(res.exception, cr.ChainruleError):
        return 1, res.output + f"error: {res.exception}\n"
    return res.exit_code, res.output


# -- the shipped examples ------------------------------------------------------------------

def sigmoid_222_by_hand():
    """The 2-2-2 sigmoid step in plain NumPy, written out neuron by neuron (no chainrule)."""
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    x1, x2, t1, t2 = 0.05, 0.10, 0.01, 0.99
    h1 = s(0.15 * x1 + 0.20 * x2 + 0.35)
    h2 = s(0.25 * x1 + 0.30 * x2 + 0.35)
    o1 = s(0.40 * h1 + 0.45 * h2 + 0.60)
    o2 = s(0.50 * h1 + 0.55 * h2 + 0.60)
    E = 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2
    d1, d2 = (o1 - t1) * o1 * (1 - o1), (o2 - t2) * o2 * (1 - o2)  # ∂E/∂net at the outputs
    e1 = (0.40 * d1 + 0.50 * d2) * h1 * (1 - h1)
    e2 = (0.45 * d1 + 0.55 * d2) * h2 * (1 - h2)
    grads = {"w^2_11": h1 * d1, "w^2_21": h2 * d1, "w^2_12": h1 * d2, "w^2_22": h2 * d2,
             "b_21": d1, "b_22": d2, "w^1_11": x1 * e1, "w^1_21": x2 * e1, "w^1_12": x1 * e2,
             "w^1_22": x2 * e2, "b_11": e1, "b_12": e2}
    return (h1, h2, o1, o2), E, grads, (d1, d2, e1, e2)


def sig9(a, b):
    return a == pytest.approx(b, rel=5e-10, abs=1e-15)  # 9 significant digits and better


def test_the_shipped_sigmoid_2_2_2_example_against_numpy_by_hand():
    ex = load_example("sigmoid-2-2-2")
    assert (ex.model.sizes, ex.loss, ex.lr) == ([2, 2, 2], "sse_half", 0.5)
    (h1, h2, o1, o2), E, grads, deltas = sigmoid_222_by_hand()
    got = explain(ex.model, ex.X, ex.Y, ex.loss, lr=ex.lr)
    # the textbook's published numbers, to the digits it prints
    assert round(got.loss.value, 9) == 0.298371109
    assert round(got["w^2_11"].new, 8) == 0.35891648 and round(got["w^1_11"].new, 9) == 0.149780716
    assert sig9(got.loss.value, E)
    forward = {eq.lhs.split(" = ")[-1]: eq.value for eq in got.rows[0].forward}
    for name, value in zip(["O_11", "O_12", "O_21", "O_22"], [h1, h2, o1, o2]):
        assert sig9(forward[name], value), name
    for eq, value in zip(got.rows[0].deltas, deltas):
        assert sig9(eq.value, value), eq.lhs
    for p in got.params:
        assert sig9(p.gradient, grads[p.symbol]), p.symbol
        assert sig9(p.new, p.old - 0.5 * grads[p.symbol]), p.symbol


def test_the_shipped_sigmoid_example_against_pytorch():
    torch = pytest.importorskip("torch")
    W1 = torch.tensor([[0.15, 0.25], [0.20, 0.30]], dtype=torch.float64, requires_grad=True)
    W2 = torch.tensor([[0.40, 0.50], [0.45, 0.55]], dtype=torch.float64, requires_grad=True)
    b1 = torch.tensor([0.35, 0.35], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([0.60, 0.60], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[0.05, 0.10]], dtype=torch.float64)
    t = torch.tensor([[0.01, 0.99]], dtype=torch.float64)
    out = torch.sigmoid(torch.sigmoid(x @ W1 + b1) @ W2 + b2)
    E = (0.5 * (t - out) ** 2).sum()
    E.backward()
    ex = load_example("sigmoid-2-2-2")
    # two steps: the second starts from the weights the first left
    first, second = explain_steps(ex.model, ex.X, ex.Y, ex.loss, steps=2, lr=ex.lr)
    assert sig9(first.loss.value, E.item())
    for p in first.params:
        tensor = {("w", 1): W1, ("w", 2): W2, ("b", 1): b1, ("b", 2): b2}[(p.ref.kind, p.ref.layer)]
        assert sig9(p.gradient, tensor.grad[p.ref.index].item()), p.symbol
    with torch.no_grad():
        for tensor in (W1, W2, b1, b2):
            tensor -= 0.5 * tensor.grad
            tensor.grad = None
    out = torch.sigmoid(torch.sigmoid(x @ W1 + b1) @ W2 + b2)
    E2 = (0.5 * (t - out) ** 2).sum()
    E2.backward()
    assert sig9(second.loss.value, E2.item())
    assert sig9(second["w^1_11"].gradient, W1.grad[0, 0].item())


def test_the_shipped_seed_example_is_the_seeds_step():
    ex = load_example("seed")
    got = explain(ex.model, ex.X[:1], ex.Y[:1], ex.loss, lr=ex.lr)
    assert got.loss.value == 29241 and got["w^2_11"].gradient == 30096
    assert got["w^1_11"].gradient == 27360 and got["b_21"].gradient == 342
    code, text = invoke("explain", "--example", "seed")
    assert code == 0
    assert text == explain(cr.seed_network(), ex.X[:1], ex.Y[:1], "mse", lr=1e-5, rows=[0]).render()


# -- random example files against the engine -----------------------------------------------

ACTS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu:0.2", "elu", "softplus", "gelu"]


def toml_of(sizes, hidden, output, loss, lr, weights, biases, X, Y):
    lines = [f"sizes = {sizes}", f"activation = {json.dumps(hidden)}",
             f'output_activation = "{output}"', f'loss = "{loss}"', f"lr = {lr!r}",
             f"rows = {json.dumps(X.tolist())}", f"targets = {json.dumps(Y.tolist())}", "", "[weights]"]
    lines += [f'"{sym}" = {v!r}' for sym, v in weights.items()]
    lines += ["", "[biases]"] + [f'"{sym}" = {v!r}' for sym, v in biases.items()]
    return "\n".join(lines) + "\n"


@st.composite
def examples(draw):
    sizes = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(2, 4)))]
    loss = draw(st.sampled_from(["mse", "mae", "huber", "sse_half", "bce", "cross_entropy"]))
    if loss == "bce":
        sizes[-1] = 1
    if loss == "cross_entropy":
        sizes[-1] = max(2, sizes[-1])
    hidden = [draw(st.sampled_from(ACTS)) for _ in sizes[1:-1]]
    output = "linear" if loss in ("bce", "cross_entropy") else draw(st.sampled_from(ACTS))
    num = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 6))
    weights = {r.symbol: draw(num) for r in parameter_refs(sizes) if r.kind == "w"}
    biases = {r.symbol: draw(num) for r in parameter_refs(sizes) if r.kind == "b"}
    rows = draw(st.integers(1, 3))
    X = np.array([[draw(num) for _ in range(sizes[0])] for _ in range(rows)])
    if loss == "cross_entropy":
        Y = np.eye(sizes[-1])[[draw(st.integers(0, sizes[-1] - 1)) for _ in range(rows)]]
    elif loss == "bce":
        Y = np.array([[float(draw(st.integers(0, 1)))] for _ in range(rows)])
    else:
        Y = np.array([[draw(num) for _ in range(sizes[-1])] for _ in range(rows)])
    lr = draw(st.sampled_from([0.5, 0.1, 1e-3]))
    return sizes, hidden, output, loss, lr, weights, biases, X, Y


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples())
def test_random_example_files_explain_the_engines_step(tmp_path_factory, case):
    sizes, hidden, output, loss, lr, weights, biases, X, Y = case
    path = tmp_path_factory.mktemp("ex") / "ex.toml"
    path.write_text(toml_of(*case), encoding="utf-8")
    rows = ",".join(str(n) for n in range(1, len(X) + 1))
    code, out = invoke("explain", "--example", str(path), "--row", rows, "--format", "json")
    assert code == 0, out
    got = json.loads(out)
    # the engine, on a network built here from the same numbers
    model = cr.mlp(sizes, activation=hidden, output_activation=output, init="zeros")
    for sym, v in {**weights, **biases}.items():
        ref = cr.nn.parse_param(sym, sizes)
        layer = model.layers[ref.layer - 1]
        (layer.weight if ref.kind == "w" else layer.bias).data[ref.index] = v
    model.zero_grad()
    L = cr.get_loss(loss)(model(cr.Tensor(X)), Y)
    L.backward()
    assert got["loss_value"]["value"] == pytest.approx(L.item(), rel=1e-12, abs=1e-14)
    assert len(got["parameters"]) == len(parameter_refs(sizes))
    for p in got["parameters"]:
        tensor = dict(model.named_parameters())[p["name"]]
        want = tensor.grad[tuple(p["index"])]
        assert p["gradient"] == pytest.approx(want, rel=1e-12, abs=1e-13), p["symbol"]
        assert p["update"]["new"] == pytest.approx(tensor.data[tuple(p["index"])] - lr * want,
                                                   rel=1e-12, abs=1e-13)
    assert got["form"] == ("paths" if all(s == 1 for s in sizes[2:]) else "delta")


# -- malformed files -----------------------------------------------------------------------

GOOD = Path(__file__).parents[1] / "src/chainrule/explain/examples/sigmoid-2-2-2.toml"


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('"w^1_12" = 0.25\n', ""), "weight w^1_12 is missing from [weights]"),
    (lambda t: t.replace('"w^1_12" = 0.25', '"w^1_12" = 0.25\n"w^3_11" = 1'),
     "[weights] has 'w^3_11', which the 2-2-2 network does not have"),
    (lambda t: t.replace('"b_2" = 0.60', '"b_21" = 0.60'), "bias b_22 is missing from [biases]"),
    (lambda t: t.replace('"b_2" = 0.60', '"b_2" = 0.60\n"b_21" = 1'), "[biases] gives b_21 twice"),
    (lambda t: t.replace('"w^1_11" = 0.15', '"b_11" = 0.15'), "[weights] has 'b_11', a bias"),
    (lambda t: t.replace('"w^1_11" = 0.15', '"w^1_11" = "a lot"'), "w^1_11 must be a finite number"),
    (lambda t: t.replace("x = [0.05, 0.10]", "x = [0.05]"), "row 1 of x has 1 number(s); the network needs 2"),
    (lambda t: t.replace("sizes = [2, 2, 2]", "sizes = [2, 0, 2]"), "sizes must be a list"),
    (lambda t: t.replace('loss = "sse_half"', 'loss = "hinge"'), "unknown loss 'hinge'"),
    (lambda t: t.replace('activation = "sigmoid"\n', 'activation = "swish"\n'), "unknown activation 'swish'"),
    (lambda t: t.replace("lr = 0.5", "lr = 0.5\nepochs = 3"), "unknown key 'epochs'"),
    (lambda t: t.replace("[biases]", "[biases"), "not valid TOML"),
    (lambda t: t.replace("y = [0.01, 0.99]\n", ""), "y is missing"),
    (lambda t: t.replace('output_activation = "sigmoid"', 'output_activation = "softmax"'),
     "can't be written neuron by neuron"),
])
def test_a_malformed_example_is_one_line_naming_what_is_wrong(tmp_path, change, message):
    text = change(GOOD.read_text(encoding="utf-8"))
    with pytest.raises(cr.ConfigError) as info:
        parse_example(text, "ex.toml")
    assert message in str(info.value) and str(info.value).startswith("ex.toml: ")
    assert "\n" not in str(info.value)


def test_the_cli_says_a_bad_example_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.read_text(encoding="utf-8").replace('"w^2_22" = 0.55\n', ""), encoding="utf-8")
    res = run("explain", "--example", str(path))
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "weight w^2_22 is missing" in res.stderr
    res = run("explain", "--example", "no-such-example")
    assert res.returncode == 1 and "shipped example: seed, sigmoid-2-2-2" in res.stderr


def test_an_example_that_is_a_fifo_is_one_line_at_once(tmp_path):
    """A FIFO would block a plain read until something writes to it: refused unopened."""
    import os

    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)
    res = run("explain", "--example", str(pipe))
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert "is a FIFO (named pipe), not an example file" in res.stderr


# -- the options ---------------------------------------------------------------------------

def test_steps_continue_from_the_last_update_on_the_rows_in_order():
    code, out = invoke("explain", "--example", "seed", "--steps", "3", "--param", "b_21",
                       "--format", "json")
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["step"] for s in steps] == [1, 2, 3] and [s["rows"][0]["index"] for s in steps] == [0, 1, 2]
    # by hand: step 1 b_21 ← 0 − 1e-5·342; each later step starts from the weights left
    model = cr.seed_network()
    d = cr.datasets.students()
    for n, s in enumerate(steps):
        model.zero_grad()
        cr.MSE(model(cr.Tensor(d.X[n:n + 1])), d.y[n:n + 1]).backward()
        assert s["parameters"][0]["gradient"] == pytest.approx(model.layers[1].bias.grad[0], rel=1e-12)
        for p in model.parameters():
            p.data -= 1e-5 * p.grad
    assert steps[0]["parameters"][0]["update"]["new"] == pytest.approx(-0.00342)


def test_expand_needs_a_parameter_and_writes_its_paths():
    code, out = invoke("explain", "--expand")
    assert code != 0 and "--param" in out
    code, out = invoke("explain", "--example", "sigmoid-2-2-2", "-p", "w^1_11", "--expand")
    assert code == 0 and "the sum over the 2 paths from w^1_11 to the loss" in out
    assert "= 0.000438568" in out  # x_1 · δ^1_1 = 0.05 · 0.00877135


def test_output_activation_from_the_command_line(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,t\n0.1,0.2,0.3\n0.4,0.5,0.9\n0.3,0.1,0.2\n", encoding="utf-8")
    code, out = invoke("explain", str(csv), "--output-activation", "sigmoid", "--scale", "none",
                       "--loss", "sse_half", "-p", "b_21", "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["network"]["activations"] == ["linear", "sigmoid"]
    p = data["parameters"][0]  # ∂L/∂b_21 = −(y − ŷ) · ŷ(1 − ŷ)
    yhat = data["rows"][0]["forward"][-1]["value"]
    assert p["gradient"] == pytest.approx(-(0.3 - yhat) * yhat * (1 - yhat), rel=1e-12)
    code, out = invoke("train", str(csv), "--output-activation", "tanh", "--epochs", "2", "-q")
    assert code == 0, out
    code, out = invoke("train", str(csv), "--task", "classification", "--output-activation", "sigmoid")
    assert code != 0 and "works on logits" in out


def test_train_no_shuffle_starts_its_trace_at_row_1():
    res = run("train", "--no-shuffle", "--trace", "2", "--epochs", "1")
    assert res.returncode == 0, res.stderr
    assert "step 1 (epoch 1): row 1 " in res.stdout and "step 2 (epoch 1): row 2 " in res.stdout
    assert "predict ŷ = 176" in res.stdout and "in the table's order" in res.stdout


def test_train_init_from_an_example_file(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('sizes = [2, 2, 1]\n[weights]\n"w^1_11" = 0.5\n"w^1_12" = 1\n"w^1_21" = 1\n'
                    '"w^1_22" = 1\n"w^2_11" = 1\n"w^2_21" = 1\n[biases]\n"b_1" = 0\n"b_21" = 2\n',
                    encoding="utf-8")
    res = run("train", "--init-from", str(path), "--no-shuffle", "--trace", "1", "--epochs", "1")
    assert res.returncode == 0, res.stderr
    # row 1: O_11 = 0.5·80 + 8 = 48, O_12 = 88, ŷ = 48 + 88 + 2 = 138
    assert "predict ŷ = 138" in res.stdout and f"weights and biases from {path}" in res.stdout
    res = run("train", "--init-from", str(path), "--hidden", "3")
    assert res.returncode == 1 and "its network is 2-2-1 but this one is 2-3-1" in res.stderr


# -- handouts ------------------------------------------------------------------------------

def test_latex_numbers_are_written_as_powers_of_ten():
    code, out = invoke("explain", "--format", "latex")
    assert "1e-05" not in out and r"1 \times 10^{-5}" in out
    code, md = invoke("explain", "--format", "markdown")
    assert "1e-05" not in md.split("##", 1)[1] and r"\eta = 1 \times 10^{-5}" in md


@pytest.mark.parametrize("args", [(), ("--example", "sigmoid-2-2-2", "--steps", "2"),
                                  ("--example", "sigmoid-2-2-2", "-p", "w^1_11", "--expand")],
                         ids=["seed", "sigmoid steps", "expand"])
def test_a_standalone_handout_compiles_with_pdflatex(tmp_path, args):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base)")
    code, tex = invoke("explain", *args, "--format", "latex", "--standalone")
    assert code == 0 and tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "\\usepackage{amsmath}" in tex and all(ord(c) < 128 for c in tex)
    (tmp_path / "h.tex").write_text(tex, encoding="utf-8")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "h.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert (tmp_path / "h.pdf").stat().st_size > 1000


def test_the_3_4_3_2_handout_compiles(tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base)")
    rng = np.random.default_rng(7)
    model = cr.mlp([3, 4, 3, 2], activation="tanh", seed=1)
    tex = explain(model, rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), "mse", check=True) \
        .render("latex", standalone=True)
    assert all(ord(c) < 128 for c in tex)
    (tmp_path / "h.tex").write_text(tex, encoding="utf-8")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "h.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]


def test_standalone_needs_latex():
    code, out = invoke("explain", "--standalone")
    assert code != 0 and "--format latex" in out


def test_explain_of_a_saved_classifier_says_the_inputs_are_scaled_and_names_the_class(tmp_path):
    csv = tmp_path / "flowers.csv"
    rows = ["length,width,species", "1.0,0.2,setosa", "4.5,1.5,versicolor", "6.0,2.5,virginica",
            "1.4,0.3,setosa", "4.0,1.3,versicolor", "5.5,2.0,virginica"]
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model_file = tmp_path / "m.safetensors"
    code, out = invoke("train", str(csv), "--hidden", "3", "-a", "tanh", "--epochs", "2",
                       "--engine", "graph", "--save", str(model_file), "-q")
    assert code == 0, out
    code, out = invoke("explain", "--model", str(model_file), "--data", str(csv), "--row", "3",
                       "-p", "b_21")
    assert code == 0, out
    model = cr.load(str(model_file))
    scaled = model.x_scaler.transform(np.array([[6.0, 2.5]]))[0]
    title = next(line for line in out.splitlines() if line.startswith("forward pass"))
    from chainrule.explain.pieces import num
    assert title == (f"forward pass, row 3: x_1 = {num(scaled[0])}, x_2 = {num(scaled[1])} (inputs "
                     "scaled (standard) from the data's 6, 2.5); target y = 0, 0, 1 (one-hot: "
                     "class virginica)")
