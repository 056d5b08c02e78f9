"""The commands around saved models: train --save/--plot, predict, info, draw, explain --model."""

from __future__ import annotations

import csv
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import explain

pytest.importorskip("matplotlib")


def run(*args, cwd=None):
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=cwd)


def png_size(path):
    blob = open(path, "rb").read(24)
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", blob[16:24])


@pytest.fixture(scope="module")
def seed_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed")
    res = run("train", "--epochs", "5", "--save", str(folder / "seed.safetensors"), "--plot",
              str(folder / "loss.png"), "--quiet")
    assert res.returncode == 0, res.stderr
    return folder


@pytest.fixture(scope="module")
def iris_like(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cls") / "flowers.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["length", "width", "colour", "kind"])
        for kind, (cx, cy) in {"small": (1, 1), "large": (4, 4)}.items():
            for _ in range(20):
                w.writerow([cx + rng.normal(0, 0.3), cy + rng.normal(0, 0.3), "red", kind])
    return path


def test_saved_seed_model_matches_the_training(seed_model):
    model = cr.load(seed_model / "seed.safetensors")
    d = cr.datasets.students()
    reference = cr.seed_network()
    cr.fit(reference, d.X, d.y, lr=1e-5, epochs=5, seed=0, metrics=[])
    for a, b in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert model.metadata["features"] == ["IQ", "CGPA"]
    assert model.metadata["training"]["epochs_run"] == 5
    assert png_size(seed_model / "loss.png")[0] > 100


def test_info_describes_the_model(seed_model):
    res = run("info", str(seed_model / "seed.safetensors"))
    assert res.returncode == 0, res.stderr
    assert "2 → 2 → 1" in res.stdout and "9 parameters" in res.stdout and "IQ, CGPA" in res.stdout


def test_explain_a_saved_model_step(seed_model):
    res = run("explain", "--model", str(seed_model / "seed.safetensors"), "--row", "2",
              "--format", "json")
    assert res.returncode == 0, res.stderr
    import json

    got = json.loads(res.stdout)
    model = cr.load(seed_model / "seed.safetensors")
    d = cr.datasets.students()
    want = explain(model, d.X[1:2], d.y[1:2], "mse", lr=1e-5)
    assert [p["gradient"] for p in got["parameters"]] == [p.gradient for p in want.params]


def test_predict_writes_the_predictions(iris_like, tmp_path):
    model_file = tmp_path / "flowers.safetensors"
    res = run("train", str(iris_like), "--features", "length,width", "--target", "kind",
              "--hidden", "3", "--activation", "tanh", "--optimizer", "adam", "--epochs", "30",
              "--save", str(model_file), "--plot-boundary", str(tmp_path / "regions.png"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert png_size(tmp_path / "regions.png")[0] > 100
    out = tmp_path / "pred.csv"
    res = run("predict", str(model_file), str(iris_like), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "ignoring column(s) the model does not use: colour, kind" in res.stderr
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 40 and set(rows[0]) >= {"length", "width", "predicted_kind", "p_large", "p_small"}
    model = cr.load(model_file)
    X = np.array([[float(r["length"]), float(r["width"])] for r in rows])
    assert [r["predicted_kind"] for r in rows] == list(model.predict(X))
    np.testing.assert_allclose([float(r["p_small"]) for r in rows],
                               model.predict_proba(X)[:, list(model.classes_).index("small")],
                               rtol=1e-15)
    assert all(r["predicted_kind"] == r["kind"] for r in rows)  # two far-apart groups


def test_predict_with_a_missing_column(seed_model, tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text("IQ,Other\n100,1\n")
    res = run("predict", str(seed_model / "seed.safetensors"), str(path))
    assert res.returncode == 1 and "has no column 'CGPA'" in res.stderr and "Traceback" not in res.stderr


def test_predict_prints_to_stdout_without_out(seed_model, tmp_path):
    path = tmp_path / "new.csv"
    path.write_text("CGPA,IQ\n8,80\n")
    res = run("predict", str(seed_model / "seed.safetensors"), str(path))
    assert res.returncode == 0, res.stderr
    header, row = res.stdout.strip().splitlines()
    assert header == "CGPA,IQ,predicted_Package"
    model = cr.load(seed_model / "seed.safetensors")
    assert float(row.split(",")[-1]) == float(model.predict([[80.0, 8.0]])[0, 0])


def test_draw_the_seed_network_and_a_model(seed_model, tmp_path):
    res = run("draw", "--out", str(tmp_path / "seed.png"))
    assert res.returncode == 0, res.stderr
    assert png_size(tmp_path / "seed.png")[0] > 100
    res = run("draw", str(seed_model / "seed.safetensors"), "--out", str(tmp_path / "net.svg"))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "net.svg").read_text().lstrip().startswith("<?xml")


def test_plot_boundary_needs_a_two_input_classifier(tmp_path):
    res = run("train", "--plot-boundary", str(tmp_path / "x.png"))
    assert res.returncode == 1 and "two input columns" in res.stderr
    assert not (tmp_path / "x.png").exists()


def test_broken_model_files_are_one_clear_line(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model at all")
    for args in (["info", str(bad)], ["predict", str(bad), str(bad)], ["draw", str(bad), "-o",
                                                                         str(tmp_path / "d.png")]):
        res = run(*args)
        assert res.returncode == 1 and res.stderr.startswith("error:"), res.stderr
        assert "Traceback" not in res.stderr
