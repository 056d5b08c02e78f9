"""What a newcomer meets in the first hour: missing extras said before any work, one error
style, options listed when one is wrong, an honest interrupted run, `info`, `draw` and
`serve --open` that say what they should."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from cli_run import run_cli

SRC = Path(cr.__file__).resolve().parent.parent


# -- extras checked before work starts --------------------------------------------------

BLOCKER = textwrap.dedent("""
    import os, sys
    hidden = set(os.environ["CHAINRULE_TEST_HIDE"].split(","))

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in hidden:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
""")


def cli_without(tmp_path: Path, hidden: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a fresh process where the packages ``hidden`` can't be imported, as
    after a plain ``pip install .`` (a sitecustomize puts a blocker on the meta path)."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "CHAINRULE_TEST_HIDE": hidden,
           "PYTHONPATH": os.pathsep.join([str(site), str(SRC)])}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("args, extra", [
    (["train", "--epochs", "1", "--plot", "loss.png"], "plot"),
    (["train", "--epochs", "1", "--plot-boundary", "b.png"], "plot"),
    (["draw", "--out", "net.png"], "plot"),
    (["serve"], "web"),
])
def test_a_missing_extra_is_said_before_any_work(tmp_path, args, extra):
    hidden = {"plot": "matplotlib", "web": "starlette,uvicorn"}[extra]
    result = cli_without(tmp_path, hidden, *args)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert f"pip install 'chainrule[{extra}]'" in result.stderr
    assert "bug" not in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # nothing trained, nothing drawn
    assert not list(tmp_path.glob("*.png"))


def test_without_pyarrow_a_csv_says_what_to_install(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n1,2\n3,4\n")
    result = cli_without(tmp_path, "pyarrow", "train", "t.csv", "--epochs", "1")
    assert result.returncode == 1 and "pip install pyarrow" in result.stderr
    assert "bug" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_every_extra_the_plain_commands_still_work(tmp_path):
    result = cli_without(tmp_path, "matplotlib,starlette,uvicorn,sklearn,pandas", "train",
                         "--epochs", "2", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("final loss")


# -- one error style, and the choices listed ---------------------------------------------

def test_usage_errors_and_chainrule_errors_share_one_style():
    code, _, err = run_cli("train", "--lr", "-1")
    assert code == 2 and err.startswith("error: Invalid value for '--lr'")
    assert len(err.strip().splitlines()) == 1 and "chainrule train --help" in err
    code, _, err = run_cli("train", "--nope")
    assert code == 2 and err.startswith("error: No such option") and len(err.splitlines()) == 1
    code, _, err = run_cli("train", "--task", "classification")  # chainrule's own: exit 1
    assert code == 1 and err.startswith("error:") and len(err.splitlines()) == 1


def test_a_wrong_schedule_option_lists_the_schedules_options():
    code, _, err = run_cli("train", "--schedule", "cosine:foo=1", "--quiet")
    assert code == 1
    assert "the cosine schedule has no option 'foo'; its options are: epochs, min_lr" in err
    code, _, err = run_cli("train", "--schedule", "step:gama=0.5", "--quiet")
    assert "options are: step_size, gamma" in err


def test_an_unknown_activation_lists_only_hidden_ones():
    code, _, err = run_cli("train", "-a", "swish", "--quiet")
    assert code == 1 and "'swish'" in err
    listed = err.split("choose one of: ")[1].strip().split(", ")
    assert "softmax" not in listed and {"tanh", "relu", "gelu"} <= set(listed)


# -- an interrupted run -----------------------------------------------------------------

def test_an_interrupted_run_exits_130_and_counts_one_whole_epoch(monkeypatch):
    from chainrule.cli import train_cmd

    real_fit = train_cmd.fit

    def stopped_after_one_epoch(*args, **kwargs):
        history = real_fit(*args, **{**kwargs, "epochs": 1})
        history.interrupted = True  # as Ctrl-C inside epoch 2 leaves it
        return history

    monkeypatch.setattr(train_cmd, "fit", stopped_after_one_epoch)
    code, out, _ = run_cli("train", "--epochs", "5", "--engine", "graph")
    assert code == 130
    assert "steps (1 whole epoch);" in out and "the weights so far are kept" in out


# -- info -------------------------------------------------------------------------------

def test_info_shows_a_relative_path_the_optimisers_own_options_and_one_final_loss(tmp_path,
                                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n2,1,4\n3,3,7\n4,1,5\n")
    code, _, err = run_cli("train", "t.csv", "--optimizer", "adam", "--epochs", "2",
                           "--engine", "graph", "--save", "m.safetensors", "--quiet")
    assert code == 0, err
    code, out, _ = run_cli("info", "m.safetensors")
    lines = out.splitlines()
    assert [line.split(None, 1)[1] for line in lines if line.startswith("data ")] == ["t.csv"]
    assert "nesterov" not in out and "momentum" not in out and "weight decay" not in out
    history = cr.load(tmp_path / "m.safetensors").metadata["training"]["history"]
    final = [line for line in lines if "loss" in line and line.startswith("final")]
    assert len(final) == 1 and f"loss {history['loss'][-1]:.6g}" in final[0]


# -- draw -------------------------------------------------------------------------------

def test_draw_keeps_long_labels_inside_the_picture():
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from chainrule import plot

    model = cr.mlp([4, 5, 3], activation="tanh", seed=0)
    model.classes_ = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    model.head = "softmax"
    fig = plot.network_figure(model, feature_names=["sepal length (cm)", "sepal width (cm)",
                                                    "petal length (cm)", "petal width (cm)"],
                              target_names=["species"])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    texts = [t for ax in fig.axes for t in ax.texts if t.get_text()]
    assert any("species = versicolor" in t.get_text() for t in texts)
    for t in texts:
        extent = t.get_window_extent(renderer)
        assert box.x0 - 0.5 <= extent.x0 and extent.x1 <= box.x1 + 0.5, t.get_text()


# -- serve --open -----------------------------------------------------------------------

def test_serve_open_says_where_to_point_a_browser_when_none_opens(monkeypatch):
    pytest.importorskip("starlette")
    import webbrowser

    from chainrule.web import server

    said: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: False)  # a machine without a desktop
    assert server.open_page("http://127.0.0.1:8123/", said.append) is False
    assert len(said) == 1 and "open http://127.0.0.1:8123/ in a browser" in said[0]
    monkeypatch.setattr(webbrowser, "open", lambda url: True)
    said.clear()
    assert server.open_page("http://127.0.0.1:8123/", said.append) is True and said == []


# -- a self-contained project -----------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def test_no_path_points_outside_the_repository_and_the_docs_it_links_exist():
    outside = "../" + "shared"  # written in two pieces so this file does not match itself
    files = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in
             {".md", ".py", ".toml", ".html", ".js", ".css", ".txt"} and ".git" not in p.parts]
    assert len(files) > 40
    assert [str(p) for p in files if outside in p.read_text(encoding="utf-8", errors="ignore")] == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in ("docs/tutorial.md", "docs/design.md"):
        assert f"]({doc})" in readme and (ROOT / doc).is_file(), doc
    tutorial = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    # the first step's numbers as tests/test_seed_step.py computes them
    for number in ("= 88", "= 176", "29241", "342", "30096", "27360", "0.7264"):
        assert number in tutorial, number
    code, out, _ = run_cli("--help")
    assert code == 0 and "docs/tutorial.md" in out and "the seed's network" in out
