"""The kernel cache: a damaged cached epoch is never run and never fails a run (issue 21).

A cached ``chainrule_epoch_*.py`` must hash to its name before it is imported, and numba's
index and compiled data for it must load; otherwise one warning, its files removed, and
the epoch compiled afresh under a new name.  The folder is created 0700 and one that
others can write is not used.  Most tests stop at the import (numba compiles at the first
call), so they compile nothing; one trains the seed's network through a damaged cache in
a fresh process and compares its weights with the graph engine's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("numba", reason="the fused loop needs numba")

import chainrule as cr  # noqa: E402
from chainrule import fastcode, fastkernel  # noqa: E402

SHAPE = fastcode.Shape((3, 6, 2), ("relu", "linear"), "mae", "adagrad", False)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty kernel cache in ``tmp_path`` and a process that has loaded no epoch, whose
    numba keeps its files beside the sources (numba read ``$NUMBA_CACHE_DIR`` when it was
    imported: its setting is changed too)."""
    import numba.core.config
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", "")
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    name, _, _ = fastcode.source_file(SHAPE)
    monkeypatch.delitem(sys.modules, name, raising=False)
    return fastcode.cache_dir()


def load_again(monkeypatch) -> object:
    """``fastkernel.epoch(SHAPE)`` as a new process would do it (nothing loaded yet)."""
    monkeypatch.setattr(fastkernel, "_EPOCHS", {})
    for module in [m for m in sys.modules if m.startswith("chainrule_epoch_")]:
        monkeypatch.delitem(sys.modules, module)
    return fastkernel.epoch(SHAPE)


DAMAGES = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "garbage": lambda text: "import os\nos.system('echo pwned')\n",
    "one-byte-changed": lambda text: text.replace("epoch", "epocH", 1),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_cached_source_is_not_imported_but_compiled_afresh(cache, monkeypatch,
                                                                      damage):
    name, text, path = fastcode.source_file(SHAPE)
    fastkernel.epoch(SHAPE)
    assert path.read_text() == text and fastcode.intact(path)
    path.write_text(DAMAGES[damage](text))
    assert not fastcode.intact(path)
    with pytest.warns(fastcode.CacheWarning, match="could not be used") as caught:
        found = load_again(monkeypatch)
    assert len(caught) == 1 and str(path) in str(caught[0].message)
    module = sys.modules[found.py_func.__module__]
    assert module.__name__.startswith(name + "_")  # a fresh name ...
    fresh = module.__file__
    assert os.path.dirname(fresh) == str(fastcode.scratch_dir())  # ... in the process's folder
    with open(fresh, encoding="utf-8") as fh:
        assert fh.read() == text  # the source chainrule writes, not what was on disk
    assert not path.exists()  # the damaged file is gone ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ... and the next process writes it anew, silently
        again = load_again(monkeypatch)
    assert again.py_func.__module__ == name and path.read_text() == text


@pytest.mark.parametrize("part", ["index", "data"])
def test_damaged_numba_files_are_not_loaded_but_compiled_afresh(cache, monkeypatch, part):
    name, text, path = fastcode.source_file(SHAPE)
    files = fastkernel.epoch(SHAPE)._cache._cache_file
    index = files._index_path
    os.makedirs(os.path.dirname(index), exist_ok=True)
    if part == "index":
        with open(index, "wb") as fh:
            fh.write(b"\x80\x04garbage, not numba's index")
    else:  # a real index (numba's own format) naming a data file that is garbage
        files._save_index({("sig", "arch"): "chainrule_epoch_x.nbc"})
        with open(os.path.join(os.path.dirname(index), "chainrule_epoch_x.nbc"), "wb") as fh:
            fh.write(b"\x80\x04truncated")
    with pytest.warns(fastcode.CacheWarning) as caught:
        found = load_again(monkeypatch)
    assert len(caught) == 1
    assert found.py_func.__module__ != name and not os.path.exists(index)


def test_the_cache_folder_is_created_for_its_user_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path / "new" / "cache"))
    name, text, path = fastcode.source_file(SHAPE)
    assert fastcode.write(path, text) == path
    for folder in (tmp_path / "new", tmp_path / "new" / "cache", path.parent):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    folder = tmp_path / "cache" / "kernels"
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # anyone could put code in it
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fastcode, "_fallback", [])
    name, text, path = fastcode.source_file(SHAPE)
    with pytest.warns(fastcode.CacheWarning, match="writable by other users"):
        written = fastcode.write(path, text)
    assert written.parent == fastcode.scratch_dir() and not path.exists()
    assert written.read_text() == text


RUN = """
import json, numpy as np, chainrule as cr
X = np.array([[80.0, 8.0], [60.0, 5.0], [110.0, 7.0]]); y = np.array([5.0, 3.0, 8.0])
model = cr.seed_network()
cr.fit(model, X, y, lr=1e-5, epochs=3, engine="fused", metrics=[], seed=0)
print(json.dumps([p.data.tolist() for p in model.parameters()]))
"""


def test_training_through_a_truncated_cache_warns_once_and_gives_the_graph_engines_weights(
        tmp_path):
    """The trial's case: a truncated cached epoch failed every later fused run of its shape
    (exit 3).  Now the run warns once and trains: the seed's network, 3 epochs, to the
    graph engine's weights (the all-locals form rounds as NumPy does: bit for bit)."""
    env = {**os.environ, "CHAINRULE_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    model = cr.seed_network()
    name, text, path = fastcode.source_file(
        fastcode.Shape((2, 2, 1), ("linear", "linear"), "mse", "sgd", True))
    path = tmp_path / "kernels" / path.name
    path.parent.mkdir(mode=0o700)
    path.write_text(text[:200])  # as a kill or a full disk may leave it
    out = subprocess.run([sys.executable, "-c", RUN], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(warned) == 1 and "CacheWarning" in warned[0] and str(path) in warned[0]
    X = np.array([[80.0, 8.0], [60.0, 5.0], [110.0, 7.0]])
    cr.fit(model, X, np.array([5.0, 3.0, 8.0]), lr=1e-5, epochs=3, engine="graph", metrics=[],
           seed=0)
    assert json.loads(out.stdout) == [p.data.tolist() for p in model.parameters()]
