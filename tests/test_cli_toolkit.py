"""chainrule train on real tables: classification, scaling, optimisers, schedules,
validation, early stopping, Ctrl-C."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120, env=env, **kw)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    """Three well-separated classes named by text, 90 rows."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "blobs.csv"
    centres = {"red": (-3, 0), "green": (3, 0), "blue": (0, 4)}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "colour"])
        for name, (cx, cy) in centres.items():
            for _ in range(30):
                w.writerow([cx + rng.normal(scale=0.5), cy + rng.normal(scale=0.5), name])
    return path


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """y = 3a − 2b + 1 with raw columns of very different sizes (needs scaling)."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("data") / "linear.csv"
    a, b = rng.uniform(0, 1000, 200), rng.uniform(0, 1, 200)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "y"])
        w.writerows(zip(a, b, 3 * a - 2 * b + 1))
    return path


def test_text_target_is_detected_as_classification(blobs):
    res = run("train", str(blobs), "--hidden", "4", "--activation", "tanh", "--epochs", "10")
    assert res.returncode == 0, res.stderr
    assert "holds text (3 distinct values): treating this as classification" in res.stdout
    assert "2-4-3" in res.stdout  # one output per class
    assert "val_" not in res.stdout
    accuracy = float(res.stdout.split("accuracy over all 90 rows: ")[1].split()[0])
    assert accuracy == 1.0  # separated blobs
    # the same run in Python gives the same accuracy per epoch
    data = cr.read_csv(blobs, task="auto")
    model = cr.mlp([2, 4, 3], activation="tanh", init="xavier", seed=0)
    h = cr.fit(model, data.X, data.y, loss="cross_entropy", lr=0.01, epochs=10, seed=0,
               scale="standard")
    assert f"accuracy {h['accuracy'][-1]:.6g}" in res.stdout


def test_task_override_and_a_loss_that_does_not_fit(blobs, linear):
    res = run("train", str(blobs), "--task", "regression")
    assert res.returncode == 1 and "'red' is not a number" in res.stderr
    res = run("train", str(linear), "--loss", "cross_entropy")
    assert res.returncode == 1 and "does not fit a regression target" in res.stderr


def test_scaling_makes_raw_columns_trainable(linear):
    raw = run("train", str(linear), "--scale", "none", "--epochs", "3")
    assert raw.returncode == 1 and "diverged" in raw.stderr and "scale" in raw.stderr
    scaled = run("train", str(linear), "--hidden", "none", "--epochs", "30", "--lr", "0.01")
    assert scaled.returncode == 0, scaled.stderr
    mse = float(scaled.stdout.split("mean squared error over all 200 rows: ")[1].split()[0])
    assert mse < 1e-6 * np.var(np.loadtxt(linear, delimiter=",", skiprows=1)[:, 2])


def test_optimiser_schedule_validation_and_early_stopping(linear):
    res = run("train", str(linear), "--hidden", "3", "--optimizer", "adam", "--lr", "0.05",
              "--schedule", "step:step_size=2,gamma=0.5", "--validation-split", "0.25",
              "--early-stopping", "2", "--epochs", "200", "--batch-size", "16")
    assert res.returncode == 0, res.stderr
    assert "val_loss" in res.stdout and "adam" in res.stdout and "step:step_size=2,gamma=0.5 schedule" in res.stdout
    assert "stopped early after epoch" in res.stdout


def test_bad_schedule_and_optimizer_options():
    res = run("train", "--schedule", "step:gamma")
    assert res.returncode == 1 and "key=value" in res.stderr
    res = run("train", "--schedule", "wobbly")
    assert res.returncode == 1 and "unknown schedule" in res.stderr
    res = run("train", "--optimizer", "adam", "--momentum", "0.9")
    assert res.returncode == 1 and "no option momentum" in res.stderr


def test_ctrl_c_stops_cleanly_and_keeps_the_weights(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "big.csv"
    np.savetxt(path, rng.normal(size=(2000, 3)), delimiter=",", header="a,b,y", comments="")
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "train", str(path), "--epochs",
                             "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        for line in proc.stdout:  # wait until training is under way
            if line.strip().startswith("epoch"):
                break
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err  # as a shell reports Ctrl-C (128 + SIGINT)
    assert "stopped (Ctrl-C or SIGTERM)" in out and "the weights so far are kept" in out
    assert "weights and biases" in out and "Traceback" not in err


def test_engine_option_gives_the_same_run_and_explains_a_refusal(linear):
    outs = {}
    for engine in ("graph", "fused"):
        res = run("train", str(linear), "--hidden", "3", "--epochs", "4", "--engine", engine)
        assert res.returncode == 0, res.stderr
        outs[engine] = res.stdout.split("trained")[1].split(" in ")[0], res.stdout.split("weights and biases")[1]
    assert outs["graph"] == outs["fused"]  # same steps and same printed weights
    res = run("train", "--engine", "fused", "--trace", "1", "--epochs", "1")
    assert res.returncode == 1 and "engine='fused' can't train this" in res.stderr


def test_trace_with_a_validation_split_names_the_right_student():
    res = run("train", "--trace", "1", "--epochs", "1", "--validation-split", "0.34", "--seed", "1")
    assert res.returncode == 0, res.stderr
    # row 2 of the seed's table: (60, 5 → 3); ŷ = 2·(60 + 5) = 130; L = (3 − 130)² = 16129
    assert "row 2 (IQ 60, CGPA 5 → Package 3)" in res.stdout and "loss L = 16129" in res.stdout
