"""Model files: the bit-exact round trip, the metadata layout, atomic saves, and a clear
error for every kind of bad file (missing, truncated, random, foreign, newer, edited)."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import safetensors.numpy

import chainrule as cr
from chainrule import io
from chainrule.errors import ConfigError, DataError

X = np.random.default_rng(0).normal(size=(40, 3)) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]


def _same_weights(a: cr.Module, b: cr.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and sa[k].tobytes() == sb[k].tobytes() for k in sa)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_regression_round_trip_is_bit_exact(tmp_path, dtype):
    y = X @ [[1.0], [-2.0], [0.5]] + 3.0
    model = cr.mlp([3, 4, 1], activation="leaky_relu:0.2", seed=1, dtype=dtype)
    history = cr.fit(model, X, y, optimizer="adam", lr=0.01, epochs=5, batch_size=8, seed=0,
                     scale="standard")
    path = cr.save(model, tmp_path / "m.safetensors", loss="mse", features=["a", "b", "c"],
                   targets=["t"], training=io.training_summary(history, optimizer="adam"))
    loaded = cr.load(path)
    assert _same_weights(model, loaded)
    assert loaded.layers[0].activation.spec == "leaky_relu:0.2"
    assert loaded.x_scaler.offset.tobytes() == model.x_scaler.offset.tobytes()
    assert loaded.y_scaler.scale.tobytes() == model.y_scaler.scale.tobytes()
    assert loaded.predict(X).tobytes() == model.predict(X).tobytes()
    assert loaded.metadata["loss"] == "mse" and loaded.metadata["features"] == ["a", "b", "c"]


@pytest.mark.parametrize("labels", [
    np.array(["cat", "dog", "emu"], dtype=object), np.array(["cat", "dog", "emu"]),
    np.array([3, 7, 11]), np.array([0.5, 1.5, 2.5]),
], ids=["object-text", "unicode-text", "int", "float"])
def test_classifier_keeps_its_classes_and_their_type(tmp_path, labels):
    y = labels[np.argmax(X, axis=1)]
    model = cr.mlp([3, 5, 3], activation="tanh", seed=0)
    cr.fit(model, X, y, loss="cross_entropy", epochs=3, seed=0, scale="minmax")
    loaded = cr.load(cr.save(model, tmp_path / "c.safetensors"))
    assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.classes_.tolist() == model.classes_.tolist()
    assert loaded.head == "softmax" and loaded.metadata["loss"] == "cross_entropy"
    assert loaded.y_scaler is None
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict_proba(X).tobytes() == model.predict_proba(X).tobytes()


def test_binary_classifier_with_a_sigmoid_head(tmp_path):
    y = X[:, 0] > 0
    model = cr.mlp([3, 1], seed=0)
    cr.fit(model, X, y, loss="bce", epochs=2, seed=0)
    loaded = cr.load(cr.save(model, tmp_path / "b.safetensors"))
    assert loaded.head == "sigmoid" and loaded.classes_.dtype == bool
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_the_file_layout(tmp_path):
    """Tensors named by the dotted parameter names; one JSON metadata entry, "chainrule"."""
    model = cr.seed_network()
    path = cr.save(model, tmp_path / "seed.safetensors", loss="mse",
                   training={"epochs": 10, "lr": np.float64(1e-5)})
    tensors = safetensors.numpy.load_file(path)
    assert sorted(tensors) == ["layers.0.bias", "layers.0.weight", "layers.1.bias",
                               "layers.1.weight"]
    assert tensors["layers.0.weight"].shape == (2, 2) and tensors["layers.1.bias"].shape == (1,)
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    meta = json.loads(header["__metadata__"]["chainrule"])
    assert meta == {
        "format": "chainrule.model", "format_version": 1, "chainrule_version": cr.__version__,
        "architecture": {"kind": "mlp", "sizes": [2, 2, 1], "activations": ["linear", "linear"],
                         "dtype": "float64"},
        "task": "regression", "head": None, "classes": None, "x_scaler": None, "y_scaler": None,
        "loss": "mse", "features": None, "targets": None,
        "training": {"epochs": 10, "lr": 1e-5},
    }


def test_loading_and_saving_again_keeps_the_information(tmp_path):
    first = cr.save(cr.seed_network(), tmp_path / "1.safetensors", loss="huber:0.5",
                    features=["IQ", "CGPA"], targets=["Package"], training={"epochs": 3})
    again = cr.load(cr.save(cr.load(first), tmp_path / "2.safetensors"))
    assert again.metadata["loss"] == "huber:0.5"
    assert again.metadata["features"] == ["IQ", "CGPA"]
    assert again.metadata["training"] == {"epochs": 3}


def test_training_summary_and_describe():
    model = cr.seed_network()
    history = cr.fit(model, cr.datasets.students().X, cr.datasets.students().y, lr=1e-5,
                     epochs=4, seed=0)
    summary = io.training_summary(history, optimizer="sgd", lr=1e-5, epochs=4)
    assert summary["epochs_run"] == 4 and summary["steps"] == 12  # 3 rows × 4 epochs
    assert summary["final_loss"] == history.loss[-1]
    assert summary["history"]["loss"] == history.loss
    assert summary["history"]["epoch"] == [1, 2, 3, 4]
    model.metadata = {"training": summary, "loss": "mse"}
    info = io.describe(model)
    assert info["parameters"] == 9  # the seed's 6 weights and 3 biases
    assert info["sizes"] == [2, 2, 1] and info["task"] == "regression"
    assert info["layers"][0] == {"layer": 1, "neurons": 2, "activation": "linear", "weights": 4,
                                 "biases": 2}
    assert "history" not in info["training"] and info["training"]["optimizer"] == "sgd"
    text = io.format_description(info)
    assert "2 → 2 → 1  (9 parameters, float64)" in text and "optimizer       sgd" in text
    json.dumps(info)


def test_only_stacks_of_dense_layers_are_saved(tmp_path):
    class Odd(cr.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="Sequential of Dense"):
        cr.save(Odd(), tmp_path / "odd.safetensors")
    with pytest.raises(ConfigError, match="training information"):
        cr.save(cr.seed_network(), tmp_path / "x.safetensors", training={"f": object()})


# ------------------------------------------------------------------------------------
# Atomic saves.


def test_an_interrupted_save_leaves_the_old_model(tmp_path, monkeypatch):
    path = cr.save(cr.seed_network(), tmp_path / "m.safetensors")
    before = path.read_bytes()

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cr.save(cr.mlp([2, 3, 1], seed=0), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left


def test_a_failed_write_is_a_data_error_and_leaves_the_old_model(tmp_path, monkeypatch):
    path = cr.save(cr.seed_network(), tmp_path / "m.safetensors")
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(DataError, match="No space left"):
        cr.save(cr.mlp([2, 3, 1], seed=0), path)
    assert path.read_bytes() == before
    assert len(list(tmp_path.iterdir())) == 1


def test_saving_into_a_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"the folder .*nope does not exist; create it first"):
        cr.save(cr.seed_network(), tmp_path / "nope" / "m.safetensors")


# ------------------------------------------------------------------------------------
# Bad files.


def _header(path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _write(path, header: dict, body: bytes) -> None:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + body)


def _edit_meta(path, **changes) -> None:
    header, body = _header(path)
    meta = json.loads(header["__metadata__"]["chainrule"])
    meta.update(changes)
    header["__metadata__"]["chainrule"] = json.dumps(meta)
    _write(path, header, body)


@pytest.fixture
def saved(tmp_path):
    return cr.save(cr.mlp([2, 3, 1], seed=0), tmp_path / "m.safetensors")


def test_a_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"^no such model file: "):
        cr.load(tmp_path / "absent.safetensors")
    with pytest.raises(DataError, match=r"is a folder, not a model file"):
        cr.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1, -8])
def test_a_truncated_file(saved, keep):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:keep] if keep >= 0 else raw[:len(raw) + keep])
    with pytest.raises(DataError, match=r"file: it (is truncated|has only \d+ bytes; it is empty)"):
        cr.load(saved)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DataError, match=r"model file: it is not a safetensors file"):
        cr.load(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(DataError, match=r"model file: its header is not valid JSON"):
        cr.load(path)


def test_a_safetensors_file_that_is_not_a_chainrule_model(tmp_path):
    path = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"embedding": np.zeros((4, 2))}, path)
    with pytest.raises(DataError, match=r"is a safetensors file but not a chainrule model \(it"):
        cr.load(path)
    safetensors.numpy.save_file({"w": np.zeros(2)}, path, metadata={"chainrule": '{"format": "x"}'})
    with pytest.raises(DataError, match=r"is not a chainrule model \(its metadata names another"):
        cr.load(path)


def test_a_file_from_a_newer_format(saved):
    _edit_meta(saved, format_version=2, chainrule_version="9.0.0")
    with pytest.raises(DataError, match=r"by a newer chainrule \(9.0.0, model format 2\).*--upgrade"):
        cr.load(saved)


def test_weights_that_do_not_match_the_architecture(saved):
    _edit_meta(saved, architecture={"kind": "mlp", "sizes": [2, 4, 1],
                                    "activations": ["linear", "linear"], "dtype": "float64"})
    with pytest.raises(DataError, match=r"layers.0.weight has shape \[2, 3\].*needs \[2, 4\]"):
        cr.load(saved)
    _edit_meta(saved, architecture={"kind": "mlp", "sizes": [2, 3, 1, 1],
                                    "activations": ["linear"] * 3, "dtype": "float64"})
    with pytest.raises(DataError, match="missing.*layers.2.bias"):
        cr.load(saved)
    _edit_meta(saved, architecture={"kind": "mlp", "sizes": [2, 3, 1],
                                    "activations": ["linear"] * 2, "dtype": "float32"})
    with pytest.raises(DataError, match="stored as F64"):
        cr.load(saved)
    _edit_meta(saved, architecture={"kind": "mlp", "sizes": [2, 3, 1],
                                    "activations": ["swish", "linear"], "dtype": "float64"})
    with pytest.raises(DataError, match="unknown activation 'swish'"):
        cr.load(saved)


def test_enormous_declared_shapes_are_refused_before_allocating(saved):
    """A header may claim any shape; its sizes are checked against the file first."""
    header, body = _header(saved)
    header["layers.0.weight"]["shape"] = [2, 10**12]
    _write(saved, header, body)
    with pytest.raises(DataError, match=r"model file: 'layers.0.weight' declares shape"):
        cr.load(saved)
    header["layers.0.weight"] = {"dtype": "F64", "shape": [10**6, 10**6],
                                 "data_offsets": [0, 8 * 10**12]}
    meta = json.loads(header["__metadata__"]["chainrule"])
    meta["architecture"]["sizes"] = [10**6, 10**6, 1]
    header["__metadata__"]["chainrule"] = json.dumps(meta)
    _write(saved, header, body)
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"it is truncated: the header declares 8000000000000 bytes"):
        cr.load(saved)
    assert time.perf_counter() - start < 1.0
