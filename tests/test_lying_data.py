"""Data, options and metadata that lie: labels kept exact, class counts bounded before
allocation, number cells in the documented grammar only, divergence that stays finite,
resumes that would silently change the run, and specs with NaN in them."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import chainrule as cr
from chainrule import checkpoint as ckpt
from chainrule import train as train_module
from chainrule.data import encode_labels
from chainrule.init import get_initializer


def write_csv(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- labels: exact or refused -------------------------------------------------------------

@pytest.mark.parametrize("labels, classes", [
    (["1e30", "2e30"], [1e30, 2e30]),                 # once both int64's minimum: one class
    (["1e308", "-1e308"], [-1e308, 1e308]),           # once "only one value"
    (["1", "2"], [1, 2]),                             # small whole numbers stay integers
    (["9007199254740993", "9007199254740992"],        # 2**53 + 1 and 2**53: one float64
     ["9007199254740992", "9007199254740993"]),       # ... so they stay text, both kept
])
def test_number_labels_are_kept_exact(tmp_path, labels, classes):
    rows = "".join(f"{i},{labels[i % 2]}\n" for i in range(6))
    data = cr.read_csv(write_csv(tmp_path, "x,y\n" + rows), task="classification")
    found, onehot = encode_labels(data.y)
    assert found.tolist() == classes
    assert onehot.sum(axis=0).tolist() == [3.0, 3.0]  # three rows of each label


def test_class_coding_is_refused_before_allocating_too_many_classes():
    """10,000 distinct labels over 10,000 rows would be a 10,000 × 10,000 one-hot array
    (800 MB, 3.95 GB at the peak once): refused first, with a few hundred kB traced."""
    labels = np.array([f"id{i}" for i in range(10_000)], dtype=object)
    tracemalloc.start()
    with pytest.raises(cr.DataError, match="10,000 distinct labels in 10,000 rows: too many "
                                           "classes"):
        encode_labels(labels)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000  # the labels' codes (80 kB) and a sort, never 10⁸ cells
    found, onehot = encode_labels(labels[:1000] .repeat(2))  # the limit itself is fine
    assert onehot.shape == (2000, 1000) and found[0] == "id0"


def test_a_csv_with_ten_thousand_text_labels_is_one_clear_error(tmp_path):
    path = write_csv(tmp_path, "x,y\n" + "".join(f"{i},label{i}\n" for i in range(10_000)))
    proc = subprocess.run([sys.executable, "-m", "chainrule", "train", str(path), "--epochs", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "too many classes" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- number cells -------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["1_000", "١٢", "１２", "0x10", "1e5_0", "٣.٥"])
def test_cells_python_would_read_as_numbers_are_not_numbers(tmp_path, cell):
    """float() takes "1_000" (1000), Arabic-Indic "١٢" and full-width "１２" (12); the reader
    documents ASCII digits, a point and an exponent only."""
    path = write_csv(tmp_path, f"a,y\n{cell},1\n2,3\n")
    with pytest.raises(cr.DataError, match=f"line 2, column 'a': {cell!r} is not a number"):
        cr.read_csv(path, target="y")
    data = cr.read_csv(write_csv(tmp_path, f"a,y\n1,{cell}\n2,{cell}\n3,b\n", "l.csv"),
                       target="y", task="auto")
    assert data.task == "classification" and sorted(set(data.y.tolist())) == sorted({cell, "b"})


def test_ordinary_numbers_still_read(tmp_path):
    path = write_csv(tmp_path, "a,y\n+1.5e2,-.5\n 7. ,1E-3\n")
    data = cr.read_csv(path, target="y")
    assert data.X.ravel().tolist() == [150.0, 7.0] and data.y.ravel().tolist() == [-0.5, 0.001]


# -- divergence that stays finite ----------------------------------------------------------

@pytest.mark.parametrize("engine", ["graph", "fused"])
def test_a_loss_that_grows_a_millionfold_stops_the_run(seed_table, linear_sgd, engine):
    """The seed's network, all rows per step, η = 1e-4: the hand-formula trainer (conftest)
    gives the epoch losses; the run must stop at the third epoch in a row that is above
    10⁶ × the first and rising, with the divergence message."""
    X, y = seed_table
    _, losses, _ = linear_sgd(X, y, 1e-4, 10, 3)
    first = losses[0]
    stop = next(e for e in range(3, len(losses))
                if all(losses[k] > 1e6 * first and losses[k] > losses[k - 1]
                       for k in range(e - 2, e + 1)))
    assert np.isfinite(losses[stop])  # finite: the old check (inf/NaN only) let it finish
    with pytest.raises(cr.DivergenceError, match=rf"training diverged in epoch {stop + 1} .*"
                                                 r"grown past 1e\+06 times its first value"):
        cr.fit(cr.seed_network(), X, y, lr=1e-4, epochs=50, batch_size="full", seed=0,
               engine=engine)


@pytest.mark.parametrize("losses, diverged", [
    ([1.0, 2e6, 1e6, 3e6, 2.5e6], False),   # above 10⁶ × the first, but not rising
    ([1.0, 0.5, 1e6, 1.5e6, 2e6], False),   # rising, but 1e6 is not above 10⁶ × 1
    ([1.0, 0.5, 1.1e6, 1.5e6, 2e6], True),  # three rising epochs above 10⁶ × 1
    ([0.0, 1.0, 2.0, 3.0], False),          # a first loss of 0 is no scale to grow from
])
def test_growth_needs_three_rising_epochs_above_a_millionfold(losses, diverged):
    history = train_module.History()
    history.logs["loss"], history.epoch = losses, list(range(1, len(losses) + 1))
    opt = cr.optim.SGD(cr.mlp([1, 1], seed=0).parameters(), lr=0.1)
    if diverged:
        with pytest.raises(cr.DivergenceError, match="the epoch loss became 2000000.0"):
            train_module._check_growth(history, len(losses), opt)
    else:
        train_module._check_growth(history, len(losses), opt)


# -- specs and seeds -------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["constant:nan", "constant:inf", "constant:-inf", "constant:",
                                  "constant(nan)", "constant:x", float("nan")])
def test_a_constant_initialiser_needs_a_finite_number(spec):
    with pytest.raises(cr.ConfigError, match="needs a finite number"):
        get_initializer(spec)


def test_constant_initialisers_take_their_number():
    for spec, value in [("constant:0.5", 0.5), ("constant(2)", 2.0), ("Constant: -3", -3.0),
                        (1.25, 1.25)]:
        assert get_initializer(spec)((2, 2), None).tolist() == [[value] * 2] * 2


def test_the_cli_refuses_constant_nan():
    proc = subprocess.run([sys.executable, "-m", "chainrule", "train", "--init", "constant:nan",
                           "--epochs", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "needs a finite number" in proc.stderr


@pytest.mark.parametrize("seed", [-1, "x", 1.5, True, [1]])
def test_seeds_that_are_not_whole_numbers_are_config_errors(seed):
    with pytest.raises(cr.ConfigError, match="the seed must be a whole number ≥ 0"):
        cr.fit(cr.mlp([3, 1], seed=0), np.eye(3), np.arange(3.0), epochs=1, seed=seed)


# -- resuming with other settings ------------------------------------------------------------

def test_resume_refuses_fewer_epochs_and_another_batch_size(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(12, 3)), np.arange(12.0)
    cr.fit(cr.mlp([3, 2, 1], seed=0), X, y, epochs=4, batch_size=3, seed=0, checkpoint=tmp_path,
           engine="graph")
    with pytest.raises(cr.ConfigError, match="has done 4 epoch.*epochs=2 would undo them: give "
                                             "at least 4"):
        cr.fit(cr.mlp([3, 2, 1], seed=0), X, y, epochs=2, batch_size=3, seed=0, resume=tmp_path)
    with pytest.raises(cr.ConfigError, match="made with batch_size 3, not 4"):
        cr.fit(cr.mlp([3, 2, 1], seed=0), X, y, epochs=6, batch_size=4, seed=0, resume=tmp_path)
    history = cr.fit(cr.mlp([3, 2, 1], seed=0), X, y, epochs=4, batch_size=3, seed=0,
                     resume=tmp_path)  # as many epochs as done: nothing left to do
    assert history.epoch == [1, 2, 3, 4]
    assert ckpt.read(tmp_path).state["place"]["batch_size"] == 3


def test_the_cli_refuses_fewer_epochs_on_resume(tmp_path):
    folder = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "chainrule", "train", "--epochs", "3", "--checkpoint",
                    str(folder), "--quiet"], check=True, timeout=120)
    proc = subprocess.run([sys.executable, "-m", "chainrule", "train", "--resume", str(folder),
                           "--epochs", "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "give at least 3" in proc.stderr
