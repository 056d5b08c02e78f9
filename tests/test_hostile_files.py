"""Files whose safetensors layer is valid but whose JSON lies: every model file and
checkpoint chainrule reads is checked against its declared schema (``schema.py``)
before anything uses it, so each case is one clear line or a run that works — never
"this is a bug" (exit 3), never a signal (the fused loop indexes rows unchecked: a
row order from a file must be a permutation of the rows before it gets there).

``tests/corpus/hostile_metadata.json`` names the cases the adversarial trial found;
a hypothesis strategy builds more of the same kind."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import chainrule as cr
from chainrule import checkpoint as ckpt
from chainrule import schema
from chainrule.cli import main
from chainrule.optim import make_optimizer
from chainrule.schedules import SCHEDULES, make_schedule

CORPUS = json.loads((Path(__file__).parent / "corpus" / "hostile_metadata.json").read_text())
CASES = {case["name"]: case for case in CORPUS["cases"]}
DEEP = "[" * 10_000 + "]" * 10_000


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


# -- the files the cases start from ------------------------------------------------------

@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Path]:
    """Two CSVs (12 rows: a, b → y; a, b → label) and, from each, a model file and a
    checkpoint after one epoch, written by the command line as a user would."""
    root = tmp_path_factory.mktemp("bases")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    rows = [f"{a:.6f},{b:.6f},{a - 2 * b:.6f},{'yes' if a > b else 'no'}" for a, b in X]
    (root / "data.csv").write_text("a,b,y\n" + "\n".join(r.rsplit(",", 1)[0] for r in rows))
    (root / "labels.csv").write_text("a,b,label\n" + "\n".join(
        ",".join(r.split(",")[:2] + r.split(",")[3:]) for r in rows))
    made = {}
    for kind, csv in (("regression", "data.csv"), ("classifier", "labels.csv")):
        model, folder = root / f"model-{kind}.safetensors", root / f"ckpt-{kind}"
        for extra in (["--save", str(model)], ["--checkpoint", str(folder)]):
            code, _, err = run_cli("train", str(root / csv), "--hidden", "3", "--epochs", "1",
                                   "--quiet", *extra)
            assert code == 0, err
        made[f"model-{kind}"], made[f"ckpt-{kind}"] = model, folder
    made["data-regression"], made["data-classifier"] = root / "data.csv", root / "labels.csv"
    return made


def _parts(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    """(arrays, safetensors metadata, the key holding chainrule's JSON) of a file."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    meta = json.loads(blob[8:8 + n])["__metadata__"]
    return st_load(blob), meta, "chainrule" if "chainrule" in meta else "state"


def _set(tree, keys, value):
    for key in keys[:-1]:
        tree = tree[key]
    tree[keys[-1]] = value


def build(case: dict, bases: dict[str, Path], where: Path) -> Path:
    """The file (model) or folder (checkpoint) of ``case``, made from its base."""
    base = bases[case["base"]]
    source = base / ckpt.FILENAME if base.is_dir() else base
    arrays, meta, key = _parts(source)
    text = meta[key]
    if "set" in case or "also" in case:
        tree = json.loads(text)
        for keys, value in ([(case["set"], case["value"])] if "set" in case else []) \
                + [tuple(pair) for pair in case.get("also", [])]:
            _set(tree, keys, copy.deepcopy(value))
        text = json.dumps(tree)
    if "raw-replace" in case:
        old, new = case["raw-replace"]
        assert old in text, (case["name"], text[:200])
        text = text.replace(old, new, 1)
    if case.get("raw") == "deep":
        text = DEEP
    elif case.get("raw") == "huge-int":
        field = '"format_version": 1' if key == "chainrule" else '"version": 1'
        assert field in text
        text = text.replace(field, field[:-1] + "7" * 5000, 1)
    if "order" in case:
        rows = 12
        order = {"past-end": np.r_[np.arange(rows - 1), 10**6],
                 "negative": np.r_[np.arange(rows - 1), -3],
                 "repeat": np.r_[np.arange(rows - 1), 0],
                 "floats": np.arange(rows, dtype=np.float64)}[case["order"]]
        arrays["place/order"] = order.astype(np.int64) if case["order"] != "floats" else order
    blob = st_save(arrays, metadata={**meta, key: text})
    if case.get("header") == "deep":
        header = ('{"x": ' + DEEP + "}").encode()
        blob = len(header).to_bytes(8, "little") + header
    if base.is_dir():
        folder = where / case["name"]
        folder.mkdir()
        (folder / ckpt.FILENAME).write_bytes(blob)
        return folder
    path = where / f"{case['name']}.safetensors"
    path.write_bytes(blob)
    return path


def commands(case: dict, path: Path, bases: dict[str, Path]) -> list[list[str]]:
    """What a user would run on the file: every command that reads it."""
    if case["base"].startswith("ckpt"):
        return [["train", "--resume", str(path), "--epochs", "2", "--quiet"]]
    data = str(bases["data-" + case["base"].split("-", 1)[1]])
    return [["info", str(path)], ["predict", str(path), data],
            ["explain", "--model", str(path), "--data", data], ["draw", str(path), "--out",
                                                                 str(path) + ".svg"]]


# -- the named cases ------------------------------------------------------------------------

@pytest.mark.parametrize("name", CASES)
def test_named_hostile_file_is_one_clear_line(tmp_path, bases, name):
    case = CASES[name]
    path = build(case, bases, tmp_path)
    for args in commands(case, path, bases):
        if args[0] == "draw":
            pytest.importorskip("matplotlib")
        code, out, err = run_cli(*args)
        assert code == 1, (args, code, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert case["expect"] in err, (case["expect"], err)
    if case["base"].startswith("model"):
        with pytest.raises(cr.DataError, match=re.escape(case["expect"])):
            cr.load(path)


def test_every_case_in_a_child_process_ends_without_a_signal(tmp_path, bases):
    """All cases and commands in one child process (each through the CLI's own ``main``):
    a segfault (the out-of-bounds row order once gave one) kills the child, which this
    sees as a negative return code; exit 3 would mean "this is a bug"."""
    runs = [args for name, case in CASES.items()
            for args in commands(case, build(case, bases, tmp_path), bases) if args[0] != "draw"]
    driver = ("import contextlib, io, json, sys\n"
              "from chainrule.cli import main\n"
              "codes = []\n"
              "for args in json.loads(sys.stdin.read()):\n"
              "    err = io.StringIO()\n"
              "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
              "        try:\n"
              "            main(args)\n"
              "        except SystemExit as exc:\n"
              "            codes.append([exc.code, err.getvalue()])\n"
              "print(json.dumps(codes))\n")
    proc = subprocess.run([sys.executable, "-c", driver], input=json.dumps(runs),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    codes = json.loads(proc.stdout)
    assert len(codes) == len(runs)
    for args, (code, err) in zip(runs, codes):
        assert code == 1 and len(err.strip().splitlines()) == 1, (args, code, err)


# -- generated cases ---------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 1, 2**64, 2**130, 1.5, -0.0, 1e308, float("nan"),
                     float("inf"), "", "x", "PCG64", "softmax", "standard", "3", [], {}, [[]],
                     [1, 2, 3], ["a", "b", "c", "d"], {"kind": "standard"}, [None], [-1], [0.0]]),
    st.lists(st.integers(-3, 3), max_size=5),
    st.lists(st.text(max_size=3), max_size=5),
    st.integers(1, 200).map(lambda n: json.loads("[" * n + "]" * n)),
)


def _paths(tree, prefix=()):
    """Every path (list of keys) into a JSON tree, the root's children first."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) \
        else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


@st.composite
def hostile_edits(draw, tree):
    """1–3 edits of a JSON tree: a value replaced by a hostile one, a key deleted or added."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p[0] != "history" or len(p) < 4][:400]
        keys = draw(st.sampled_from(paths))
        parent = tree
        for key in keys[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["set", "set", "set", "delete", "add"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[keys[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "encoding", "__proto__"]))] = \
                copy.deepcopy(draw(HOSTILE))  # sampled_from hands out one shared object
        else:
            parent[keys[-1]] = copy.deepcopy(draw(HOSTILE))
    return tree


def _write(base: Path, tree, where: Path) -> Path:
    source = base / ckpt.FILENAME if base.is_dir() else base
    arrays, meta, key = _parts(source)
    blob = st_save(arrays, metadata={**meta, key: json.dumps(tree)})
    if base.is_dir():
        where.mkdir(exist_ok=True)
        (where / ckpt.FILENAME).write_bytes(blob)
        return where
    where.write_bytes(blob)
    return where


def _one_line_or_works(fn):
    try:
        return fn()
    except cr.ChainruleError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), kind=st.sampled_from(["regression", "classifier"]))
def test_generated_model_metadata_loads_or_says_why(tmp_path_factory, bases, data, kind):
    base = bases[f"model-{kind}"]
    tree = data.draw(hostile_edits(json.loads(_parts(base)[1]["chainrule"])))
    path = _write(base, tree, tmp_path_factory.mktemp("gen") / "m.safetensors")
    for args in commands({"base": f"model-{kind}"}, path, bases)[:3]:  # info, predict, explain
        code, _, err = run_cli(*args)
        assert code in (0, 1), (args, code, err)
        assert code == 0 or (err.startswith("error: ") and len(err.strip().splitlines()) == 1), err
    model = _one_line_or_works(lambda: cr.load(path))
    event("refused" if model is None else "loaded")
    if model is None:
        return
    X = np.zeros((2, model.sizes[0]))
    assert model.predict(X).shape[0] == 2  # what loaded also predicts
    info = cr.io.format_description(cr.io.describe(model))
    assert "network" in info
    features = (model.metadata or {}).get("features")
    assert features is None or len(features) == model.sizes[0]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), kind=st.sampled_from(["regression", "classifier"]))
def test_generated_checkpoint_states_resume_or_say_why(tmp_path_factory, bases, data, kind):
    base = bases[f"ckpt-{kind}"]
    tree = data.draw(hostile_edits(json.loads(_parts(base / ckpt.FILENAME)[1]["state"])))
    folder = _write(base, tree, tmp_path_factory.mktemp("gen") / "ckpt")
    code, _, err = run_cli("train", "--resume", str(folder), "--epochs", "2", "--quiet")
    assert code in (0, 1), (code, err)
    event("resumed" if code == 0 else "refused")
    if code == 1:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_a_checkpoint_with_nan_metrics_still_resumes(tmp_path):
    """R² of one validation row is NaN (metrics.r2: no variance to explain): a checkpoint
    that honestly holds NaN is read, and the run goes on."""
    X, y = np.random.default_rng(0).normal(size=(6, 2)), np.arange(6.0)
    options = dict(seed=0, validation_split=0.2, engine="graph")  # round(6 × 0.2) = 1 row
    first = cr.fit(cr.mlp([2, 1], seed=0), X, y, epochs=2, checkpoint=tmp_path, **options)
    assert np.isnan(first["val_r2"]).all()
    again = cr.fit(cr.mlp([2, 1], seed=0), X, y, epochs=3, resume=tmp_path, **options)
    assert again.epoch == [1, 2, 3] and len(again["val_r2"]) == 3


@pytest.mark.parametrize("schedule", [*SCHEDULES, None])
@pytest.mark.parametrize("optimizer", list(cr.optim.OPTIMIZERS))
def test_every_optimiser_and_schedule_state_passes_its_own_checks(optimizer, schedule):
    """What ``object_state`` saves (through JSON, as a checkpoint holds it) fits
    ``schema.OPTIMISER_STATE`` and restores onto a fresh optimiser of the same settings:
    the checks refuse only what an optimiser could not have written."""
    def fresh():
        rate = make_schedule(schedule, 0.01, **({"epochs": 3} if schedule == "cosine" else {})) \
            if schedule else 0.01
        return make_optimizer(optimizer, cr.mlp([2, 2, 1], seed=0).parameters(), lr=rate)

    before = fresh()
    before.steps, before._lr = 7, 0.005
    arrays, numbers = ckpt.object_state(before, "optim")
    numbers = json.loads(json.dumps(numbers))
    schema.validate(numbers, schema.OPTIMISER_STATE, "c.safetensors", "state")
    after = fresh()
    ckpt.restore_object(after, "optim", arrays, numbers)
    assert (after.steps, after._lr) == (7, 0.005)


def test_json_depth_is_measured_without_parsing():
    assert schema.depth('{"a": [1, {"b": "[[[[["}], "c": "\\"]]"}') == 3  # brackets in text don't count
    assert schema.depth(DEEP) == 10_000
    with pytest.raises(cr.DataError, match="nests deeper than 64 levels"):
        schema.loads(DEEP, "f.safetensors", "metadata", 10**8)
    with pytest.raises(cr.DataError, match="is 101 bytes, more than chainrule reads"):
        schema.loads(" " * 101, "f.safetensors", "metadata", 100)
