"""``chainrule train`` end to end, as a user runs it: a subprocess, its output parsed.

The numbers printed are checked against the Python API run with the same settings
(same network, learning rate, epochs, seed), which the other test files check by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule import DivergenceError, fit, mlp, read_csv, seed_network

SEED_SYMBOLS = ["w^1_11", "w^1_12", "w^1_21", "w^1_22", "b_11", "b_12", "w^2_11", "w^2_21",
                "b_21"]
EPOCH_LINE = re.compile(r"^\s*epoch\s+(\d+)\s+loss\s+(\S+)", re.M)
PARAM_LINE = re.compile(r"^\s*(w\^\d+_[\d,]+|b_[\d,]+)\s+(\S+)", re.M)


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=cwd)


def untimed(stdout: str) -> str:
    """The output without the wall-clock time it reports ("in 0.03 s")."""
    return re.sub(r" in \d+\.\d+ s", " in … s", stdout)


def epoch_losses(stdout: str) -> list[tuple[int, float]]:
    return [(int(e), float(v)) for e, v in EPOCH_LINE.findall(stdout)]


def printed_parameters(stdout: str) -> dict[str, float]:
    return {s: float(v) for s, v in PARAM_LINE.findall(stdout)}


def assert_one_clear_error(result: subprocess.CompletedProcess, *words: str) -> str:
    assert result.returncode not in (0, 2, 3), result.stderr  # 3 is "unexpected error"
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# -- the built-in example --------------------------------------------------------------

@pytest.fixture(scope="module")
def default_run() -> subprocess.CompletedProcess:
    return run("train")


def test_train_without_arguments(default_run, students):
    assert default_run.returncode == 0, default_run.stderr
    assert "Traceback" not in default_run.stderr
    losses = epoch_losses(default_run.stdout)
    assert [e for e, _ in losses] == list(range(1, 51))  # default 50 epochs, every one shown
    assert losses[0][1] > 100 * losses[-1][1]
    # the same run through the Python API: the seed network, η = 1e-5, seed 0, shuffled
    model = seed_network()
    history = fit(model, students.X, students.y, lr=1e-5, epochs=50, seed=0, shuffle=True)
    np.testing.assert_allclose([v for _, v in losses], history.loss, rtol=1e-5)
    assert history.loss[-1] < 1.0  # the loss falls from 17784 to below 1


def test_train_prints_the_nine_parameters(default_run, students):
    printed = printed_parameters(default_run.stdout)
    assert list(printed) == SEED_SYMBOLS
    model = seed_network()
    fit(model, students.X, students.y, lr=1e-5, epochs=50, seed=0)
    for ref in chainrule.nn.parameter_refs(model.sizes):
        layer = model.layers[ref.layer - 1]
        value = (layer.weight if ref.kind == "w" else layer.bias).data[ref.index]
        assert printed[ref.symbol] == pytest.approx(value, rel=1e-5), ref.symbol


def test_train_prints_predictions_next_to_targets(default_run, students):
    out = default_run.stdout
    assert "predictions" in out
    tail = out[out.index("predictions"):]
    rows = re.findall(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", tail, re.M)
    assert len(rows) == 3
    model = seed_network()
    fit(model, students.X, students.y, lr=1e-5, epochs=50, seed=0)
    pred = model.predict(students.X)
    for r, (row, iq, cgpa, target, predicted) in enumerate(rows):
        assert int(row) == r + 1
        assert [float(iq), float(cgpa)] == list(students.X[r])
        assert float(target) == students.y[r, 0]
        assert float(predicted) == pytest.approx(pred[r, 0], rel=1e-5)
        assert abs(float(predicted) - float(target)) < 2.0


def test_same_seed_same_output():
    a, b = run("train", "--epochs", "5", "--seed", "3"), run("train", "--epochs", "5",
                                                               "--seed", "3")
    assert a.returncode == 0 and untimed(a.stdout) == untimed(b.stdout)
    c = run("train", "--epochs", "5", "--seed", "4")
    assert epoch_losses(c.stdout) != epoch_losses(a.stdout)  # another row order


# -- a CSV -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(20, 2))
    y = 2 * X[:, 0] - X[:, 1] + 0.5
    path = tmp_path_factory.mktemp("cli") / "data.csv"
    lines = ["a,b,y"] + [f"{p:.6f},{q:.6f},{t:.6f}" for (p, q), t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_on_a_csv(csv_file):
    args = ["train", str(csv_file), "--target", "y", "--hidden", "4,3", "--activation", "tanh",
            "--init", "xavier", "--lr", "0.01", "--epochs", "5", "--seed", "1", "--scale", "none"]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "2-4-3-1" in result.stdout
    losses = epoch_losses(result.stdout)
    assert [e for e, _ in losses] == [1, 2, 3, 4, 5]
    data = read_csv(csv_file, target="y")
    model = mlp([2, 4, 3, 1], activation="tanh", init="xavier", seed=1)
    history = fit(model, data.X, data.y, lr=0.01, epochs=5, seed=1)
    np.testing.assert_allclose([v for _, v in losses], history.loss, rtol=1e-5)
    printed = printed_parameters(result.stdout)
    assert len(printed) == 2 * 4 + 4 + 4 * 3 + 3 + 3 + 1
    assert printed["w^1_24"] == pytest.approx(model.layers[0].weight.data[1, 3], rel=1e-5)
    assert printed["b_31"] == pytest.approx(model.layers[2].bias.data[0], rel=1e-5,
                                            abs=1e-12)
    assert untimed(run(*args).stdout) == untimed(result.stdout)  # same seed, same output


def test_target_defaults_to_the_last_column(csv_file):
    result = run("train", str(csv_file), "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "a, b → y" in result.stdout


def test_every_option_has_help_text():
    from chainrule.cli import cli

    result = run("train", "--help")
    assert result.returncode == 0
    train = cli.commands["train"]
    options = [p for p in train.params if isinstance(p, chainrule.cli.click.Option)]
    assert {"--target", "--features", "--hidden", "--activation", "--init", "--lr",
            "--epochs", "--seed"} <= {name for p in options for name in p.opts}
    for option in options:
        assert option.help and option.help.strip(), option.name
        assert option.opts[-1] in result.stdout or option.opts[0] in result.stdout


# -- bad input: one clear line, no traceback ------------------------------------------

def test_missing_file(tmp_path):
    result = run("train", str(tmp_path / "nope.csv"))
    assert_one_clear_error(result, "nope.csv", "no such file")


def test_csv_without_the_target_column(csv_file):
    result = run("train", str(csv_file), "--target", "salary")
    assert_one_clear_error(result, "'salary'", "a, b, y")


def test_non_numeric_cell(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,y\n1,2\nthree,4\n")
    assert_one_clear_error(run("train", str(path)), "line 3", "'a'", "'three'")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert_one_clear_error(run("train", str(path)), "empty")


def test_nan_in_the_data(tmp_path):
    path = tmp_path / "nan.csv"
    path.write_text("a,y\n1,2\nNaN,4\n")
    assert_one_clear_error(run("train", str(path)), "NaN", "line 3")


def test_a_diverging_run(students):
    with pytest.raises(DivergenceError) as err:  # where the API says it diverges
        fit(seed_network(), students.X, students.y, lr=1.0, epochs=50, seed=0)
    epoch = re.search(r"epoch (\d+)", str(err.value)).group(1)
    result = run("train", "--lr", "1")
    line = assert_one_clear_error(result, f"epoch {epoch}", "smaller", "diverged")
    assert "learning rate" in line


@pytest.mark.parametrize("args, option", [
    (["--hidden", "abc"], "--hidden"), (["--hidden", "4,0"], "--hidden"),
    (["--hidden", "-3"], "--hidden"), (["--lr", "-1"], "--lr"), (["--lr", "abc"], "--lr"),
    (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"), (["--epochs", "0"], "--epochs"),
    (["--epochs", "x"], "--epochs"), (["--seed", "1.5"], "--seed"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_option_values_exit_2(args, option):
    result = run("train", *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert "Error: Invalid value for" in result.stderr and option in result.stderr


def test_hidden_zero_is_refused():
    result = run("train", "--hidden", "0", "--epochs", "1")
    assert result.returncode == 2
    assert "Error: Invalid value for '--hidden'" in result.stderr


def test_unknown_activation_and_initialiser():
    for args, word in ((["--activation", "swishy"], "swishy"), (["--init", "nope"], "nope")):
        result = run("train", *args, "--epochs", "1")
        assert_one_clear_error(result, word, "choose one of")


def test_target_without_a_csv():
    assert_one_clear_error(run("train", "--target", "y"), "CSV")


def test_a_compile_is_announced_before_it_starts_and_only_once(tmp_path):
    """No silent waits: with an empty kernel cache the fused loop's compile is said first,
    in one line; the second run loads it from the disk cache and says nothing of it."""
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200",
           "CHAINRULE_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    outs = [subprocess.run([sys.executable, "-m", "chainrule", "train", "--engine", "fused",
                            "--epochs", "2"], capture_output=True, text=True, timeout=600,
                           env=env) for _ in range(2)]
    assert all(out.returncode == 0 for out in outs), outs[0].stderr
    first = outs[0].stdout.splitlines()
    line = next(i for i, text in enumerate(first) if "compiling" in text)
    assert re.fullmatch(r"compiling the fast loop for 2-2-1 linear/sgd \(once per machine, "
                        r"~\d+ s\)…", first[line])
    assert line < min(i for i, text in enumerate(first) if EPOCH_LINE.match(text))
    assert "compiling" not in outs[1].stdout + outs[1].stderr
    assert epoch_losses(outs[0].stdout) == epoch_losses(outs[1].stdout)
