"""Pictures: valid PNG and SVG files of the expected size, drawn from the right numbers."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import chainrule as cr  # noqa: E402
from chainrule import plot  # noqa: E402
from chainrule.errors import ConfigError, DataError  # noqa: E402


def png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG's signature and IHDR chunk."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


def svg_size(path) -> tuple[str, str]:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root.attrib["width"], root.attrib["height"]


@pytest.fixture
def seed_model() -> cr.Sequential:
    """The seed's 2-2-1 network with weights that tell the arrows apart."""
    model = cr.seed_network()
    model.layers[0].weight.data[...] = [[1.0, 2.0], [3.0, 4.0]]
    model.layers[0].bias.data[...] = [0.5, -0.25]
    model.layers[1].weight.data[...] = [[5.0], [-6.0]]
    model.layers[1].bias.data[...] = [0.0]
    return model


def test_network_edges_read_the_weights_in_the_seeds_notation(seed_model):
    assert plot.network_edges(seed_model) == [
        ("w^1_11", (0, 1), (1, 1), 1.0),  # IQ → O_11: layers[0].weight[0, 0]
        ("w^1_12", (0, 1), (1, 2), 2.0),  # IQ → O_12: layers[0].weight[0, 1]
        ("w^1_21", (0, 2), (1, 1), 3.0),  # CGPA → O_11: layers[0].weight[1, 0]
        ("w^1_22", (0, 2), (1, 2), 4.0),
        ("w^2_11", (1, 1), (2, 1), 5.0),  # O_11 → ŷ
        ("w^2_21", (1, 2), (2, 1), -6.0),  # O_12 → ŷ
    ]
    big = cr.mlp([64, 32, 10], seed=0)
    edges = plot.network_edges(big)
    assert len(edges) == 64 * 32 + 32 * 10
    assert edges[-1] == ("w^2_32,10", (1, 32), (2, 10), big.layers[1].weight.data[31, 9])


def test_the_drawing_shows_each_weight_as_its_arrow(seed_model):
    from matplotlib.colors import to_hex
    from matplotlib.patches import FancyArrowPatch

    fig = plot.network_figure(seed_model, feature_names=["IQ", "CGPA"], target_names=["Package"])
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == 6  # one per weight
    colours = [to_hex(a.get_edgecolor()) for a in arrows]
    assert colours == [plot.POSITIVE] * 5 + [plot.NEGATIVE]  # only w^2_21 = −6 is negative
    # width 0.4 + 3.6·|w| / 6 points: 6 is the largest |weight| or |bias| in the network
    assert [a.get_linewidth() for a in arrows] == pytest.approx(
        [0.4 + 3.6 * abs(w) / 6 for w in (1, 2, 3, 4, 5, -6)])
    texts = [t.get_text() for t in ax.texts]
    for label in ["$w^{1}_{21}$ = 3", "$w^{2}_{21}$ = -6", "$b_{11}$ = 0.5", "$b_{12}$ = -0.25",
                  "IQ", "CGPA", r"$\hat{y}$ (Package)", "$O_{21}$"]:
        assert label in texts


def test_a_classifiers_outputs_are_named_by_class():
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.array(["setosa", "versicolor", "virginica"] * 10)
    model = cr.mlp([2, 3, 3], seed=0)
    cr.fit(model, X, y, loss="cross_entropy", epochs=1, engine="graph")
    texts = [t.get_text() for t in plot.network_figure(model, target_names=["species"]).axes[0].texts]
    for j, name in enumerate(["setosa", "versicolor", "virginica"], 1):
        assert rf"$\hat{{y}}_{{{j}}}$ (species = {name})" in texts
    binary = cr.mlp([2, 1], seed=0)
    cr.fit(binary, X, y == "setosa", loss="bce", epochs=1, engine="graph")
    texts = [t.get_text() for t in plot.network_figure(binary, target_names=["setosa"]).axes[0].texts]
    assert r"$\hat{y}$ (setosa = True)" in texts  # its one output: the second class's odds
    fig = plot.network_figure(binary, feature_names=["price $", "b"], target_names=["$10^x"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert r"price \$" in texts and r"$\hat{y}$ (\$10^x = True)" in texts  # names stay text
    fig.canvas.draw()  # and mathtext accepts every label


def test_pictures_are_valid_images_of_the_expected_size(tmp_path, seed_model):
    X = np.random.default_rng(0).normal(size=(60, 2))
    y = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    model = cr.mlp([2, 4, 2], activation="tanh", seed=0)
    history = cr.fit(model, X, y, loss="cross_entropy", epochs=5, seed=0, validation_split=0.2)

    assert png_size(plot.plot_history(history, tmp_path / "loss.png")) == (700, 450)
    assert svg_size(plot.plot_history(history, tmp_path / "loss.svg")) == ("504pt", "324pt")
    assert png_size(plot.draw_network(seed_model, tmp_path / "net.png", size=(6, 4),
                                      dpi=50)) == (300, 200)
    assert svg_size(plot.draw_network(cr.mlp([3, 5, 1], seed=0), tmp_path / "net.svg",
                                      size=(5, 3))) == ("360pt", "216pt")
    assert png_size(plot.plot_boundary(model, X, y, tmp_path / "regions.png")) == (650, 500)
    wide, tall = png_size(plot.draw_network(cr.mlp([64, 32, 10], seed=0), tmp_path / "big.png"))
    assert wide <= 1600 and tall <= 1200  # big networks fit 16 × 12 inches


def test_history_uses_a_log_scale_past_two_decades():
    steep = plot.history_figure({"loss": [1e4, 1e2, 5.0, 1.0]})
    flat = plot.history_figure({"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 1.5]})
    assert steep.axes[0].get_yscale() == "log" and flat.axes[0].get_yscale() == "linear"
    lines = flat.axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines] == [[1, 2, 3], [1, 2, 3]]
    assert list(lines[1].get_ydata()) == [3.5, 2.5, 1.5]  # validation loss, drawn as given


def test_boundary_regions_follow_the_model():
    """A classifier of 'left' (x₁ < 5) and 'right': the left edge of the picture is tinted
    with the first class's colour and the right edge with the second's."""
    from matplotlib.colors import to_rgb

    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0, 10, 200), rng.uniform(-3, 3, 200)])
    y = np.where(X[:, 0] < 5, "left", "right")
    model = cr.mlp([2, 2], seed=0)
    cr.fit(model, X, y, loss="cross_entropy", optimizer="adam", lr=0.05, epochs=30,
           batch_size=20, seed=0, scale="standard")
    image = plot.boundary_figure(model, X, y).axes[0].images[0].get_array()
    left, right = np.asarray(image[150, 0]), np.asarray(image[150, -1])
    for pixel, colour in ((left, to_rgb("C0")), (right, to_rgb("C1"))):
        tint = 1.0 - pixel  # how far from white, channel by channel
        assert np.allclose(tint / tint.max(), (1 - np.array(colour)) / (1 - np.array(colour)).max())


def test_works_with_the_scikit_learn_estimators(tmp_path):
    pytest.importorskip("sklearn")
    from chainrule.sklearn import MLPClassifier

    X = np.random.default_rng(0).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=20, random_state=0).fit(X, y)
    assert png_size(plot.plot_boundary(clf, X, y, tmp_path / "b.png")) == (650, 500)
    assert len(plot.network_edges(clf)) == 2 * 3 + 3 * 1
    assert png_size(plot.plot_history(clf, tmp_path / "h.png")) == (700, 450)


def test_errors_say_what_to_do(tmp_path, seed_model, monkeypatch):
    with pytest.raises(ConfigError, match=r"\.png or \.svg"):
        plot.draw_network(seed_model, tmp_path / "net.jpg")
    with pytest.raises(ConfigError, match="needs a classifier"):
        plot.plot_boundary(seed_model, np.zeros((3, 2)), [1, 2, 3], tmp_path / "b.png")
    clf = cr.mlp([3, 2], seed=0)
    cr.fit(clf, np.eye(3), [0, 1, 1], loss="cross_entropy", epochs=1)
    with pytest.raises(ConfigError, match="2 input features"):
        plot.plot_boundary(clf, np.eye(3), [0, 1, 1], tmp_path / "b.png")
    two = cr.mlp([2, 2], seed=0)
    cr.fit(two, np.eye(2), [0, 1], loss="cross_entropy", epochs=1)
    with pytest.raises(DataError, match="label 7 is not one of the model's classes"):
        plot.plot_boundary(two, np.eye(2), [0, 7], tmp_path / "b.png")
    with pytest.raises(ConfigError, match="no epochs"):
        plot.plot_history({"loss": []}, tmp_path / "h.png")
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"pip install 'chainrule\[plot\]'"):
        plot.draw_network(seed_model, tmp_path / "net.png")


def test_drawing_leaves_pyplot_alone(tmp_path):
    code = ("import sys, chainrule as cr; from chainrule import plot; "
            f"plot.draw_network(cr.seed_network(), r'{tmp_path / 'n.png'}'); "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
