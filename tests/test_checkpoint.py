"""Checkpoints: a run stopped anywhere and resumed ends bit-identical to one never stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule import checkpoint as ckpt
from chainrule.schedules import make_schedule


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1, 10, 100]
    labels = np.where(X[:, 0] + X[:, 1] / 10 > 0, "yes", "no")
    y = X @ [1.0, -0.2, 0.01] + 0.5
    return X, y, labels


class InterruptAt(cr.Callback):
    """Sends this process SIGINT at one step, as a user pressing Ctrl-C would."""

    def __init__(self, step):
        self.step = step

    def on_batch_end(self, step, loss):
        if step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


SETTINGS = {
    "sgd-momentum-plateau": dict(optimizer="sgd", optimizer_options={"momentum": 0.9, "nesterov": True},
                                 lr=lambda: make_schedule("plateau", 0.01, patience=1)),
    "adam-step": dict(optimizer="adam", lr=lambda: make_schedule("step", 0.01, step_size=2, gamma=0.5)),
    "rmsprop-centered": dict(optimizer="rmsprop", optimizer_options={"centered": True, "momentum": 0.5},
                             lr=lambda: 0.001),
    "adagrad-cosine": dict(optimizer="adagrad", lr=lambda: make_schedule("cosine", 0.05, epochs=6)),
}


def train(settings, classify, tmp=None, resume=None, stop_at=None, batch=3, epochs=6):
    X, y, labels = data()
    model = cr.mlp([3, 5, 2 if classify else 1], activation="tanh", seed=1)
    options = {k: v for k, v in settings.items() if k != "lr"}
    callbacks = [InterruptAt(stop_at)] if stop_at else []
    history = cr.fit(model, X, labels if classify else y, loss="cross_entropy" if classify else "mse",
                     lr=settings["lr"](), epochs=epochs, batch_size=batch, seed=7, scale="standard",
                     validation_split=0.25, early_stopping=cr.EarlyStopping(patience=50),
                     callbacks=callbacks, checkpoint=tmp, resume=resume, **options)
    return model, history


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("classify", [False, True], ids=["regression", "classification"])
def test_interrupted_inside_an_epoch_and_resumed_is_bit_identical(tmp_path, name, classify):
    settings = SETTINGS[name]
    reference, ref_history = train(settings, classify)
    # 30 training rows, batch 3: 10 steps per epoch; stop in the middle of epoch 3
    stopped, history = train(settings, classify, tmp=tmp_path, stop_at=24)
    assert history.interrupted and len(history) == 2 and history.steps == 24
    resumed, history = train(settings, classify, tmp=tmp_path, resume=tmp_path)
    for a, b in zip(reference.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert history.logs == ref_history.logs and history.steps == ref_history.steps


def test_resume_at_an_epoch_boundary_after_a_shorter_run(tmp_path):
    settings = SETTINGS["adam-step"]
    reference, _ = train(settings, False, epochs=6)
    train(settings, False, tmp=tmp_path, epochs=4)  # the checkpoint after epoch 4
    resumed, history = train(settings, False, tmp=tmp_path, resume=tmp_path, epochs=6)
    assert history.epoch == [1, 2, 3, 4, 5, 6]
    for a, b in zip(reference.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_early_stopping_state_survives_a_resume(tmp_path):
    X, y, _ = data()
    rng = np.random.default_rng(3)
    Xv, yv = rng.normal(size=(10, 3)), rng.normal(size=10) * 10

    def run(**kw):
        model = cr.mlp([3, 4, 1], activation="tanh", seed=0)
        h = cr.fit(model, X, y, lr=0.05, epochs=40, seed=0, validation_data=(Xv, yv),
                   early_stopping=cr.EarlyStopping(patience=3), **kw)
        return model, h

    reference, ref_h = run()
    assert ref_h.stopped_early
    run(checkpoint=tmp_path, callbacks=[InterruptAt(ref_h.best_epoch * 40 + 5)])
    resumed, h = run(resume=tmp_path, checkpoint=tmp_path)
    assert h.stopped_early and h.best_epoch == ref_h.best_epoch and len(h) == len(ref_h)
    for a, b in zip(reference.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_a_checkpoint_for_another_network_or_optimiser_is_refused(tmp_path):
    X, y, _ = data()
    cr.fit(cr.mlp([3, 4, 1], seed=0), X, y, epochs=1, scale="standard", checkpoint=tmp_path)
    with pytest.raises(cr.DataError, match="another network"):
        cr.fit(cr.mlp([3, 5, 1], seed=0), X, y, epochs=2, scale="standard", resume=tmp_path)
    with pytest.raises(cr.DataError, match="same optimiser"):
        cr.fit(cr.mlp([3, 4, 1], seed=0), X, y, epochs=2, scale="standard", optimizer="adam",
               resume=tmp_path)
    with pytest.raises(cr.DataError, match="other training data"):
        cr.fit(cr.mlp([3, 4, 1], seed=0), X[:30], y[:30], epochs=2, scale="standard",
               resume=tmp_path)
    with pytest.raises(cr.DataError, match="other training data"):  # the same rows, unscaled
        cr.fit(cr.mlp([3, 4, 1], seed=0), X, y, epochs=2, resume=tmp_path)
    with pytest.raises(cr.DataError, match="no checkpoint"):
        cr.fit(cr.mlp([3, 4, 1], seed=0), X, y, epochs=2, resume=tmp_path / "nothing")
    (tmp_path / ckpt.FILENAME).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(cr.DataError, match="not a readable checkpoint"):
        cr.fit(cr.mlp([3, 4, 1], seed=0), X, y, epochs=2, resume=tmp_path)


# -- the command line: SIGKILL at random moments, SIGINT ---------------------------------

def cli(*args, **kw):
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "chainrule", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("cli") / "table.csv"
    X = rng.normal(size=(300, 3))
    np.savetxt(path, np.column_stack([X, np.tanh(X @ [1.0, -1.0, 0.5])]), delimiter=",",
               header="a,b,c,y", comments="")
    return path


TRAIN = ["--hidden", "8", "--activation", "tanh", "--optimizer", "adam", "--epochs", "25",
         "--validation-split", "0.2", "--quiet"]


def test_killed_runs_resume_to_the_uninterrupted_weights(table, tmp_path):
    reference = tmp_path / "reference.safetensors"
    done = cli("train", str(table), *TRAIN, "--save", str(reference))
    assert done.wait(timeout=120) == 0, done.stderr.read()
    want = {n: p.data for n, p in cr.load(reference).named_parameters()}
    rng = np.random.default_rng(11)
    for trial in range(3):
        folder = tmp_path / f"run{trial}"
        proc = cli("train", str(table), *TRAIN, "--checkpoint", str(folder))
        deadline = time.time() + 60
        while not (folder / ckpt.FILENAME).exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        out = tmp_path / f"resumed{trial}.safetensors"
        resumed = cli("train", "--resume", str(folder), "--save", str(out), "--quiet")
        assert resumed.wait(timeout=120) == 0, resumed.stderr.read()
        got = {n: p.data for n, p in cr.load(out).named_parameters()}
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(table, tmp_path):
    folder = tmp_path / "ckpt"
    proc = cli("train", str(table), "--hidden", "8", "--epochs", "100000", "--checkpoint",
               str(folder), "--checkpoint-every", "1000")
    for line in proc.stdout:
        if line.strip().startswith("epoch"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # stopped by Ctrl-C: 128 + SIGINT
    assert f"resume with: chainrule train --resume {folder}" in out
    state = ckpt.read(folder).state
    assert state["run"]["options"]["epochs"] == 100000
    assert state["history"]["steps"] > 0 and "Traceback" not in err


def test_resume_refuses_new_settings_on_the_command_line(table, tmp_path):
    folder = tmp_path / "r"
    first = cli("train", str(table), "--epochs", "2", "--checkpoint", str(folder), "--quiet")
    assert first.wait(timeout=120) == 0
    again = cli("train", str(table), "--resume", str(folder), "--lr", "0.5")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 1 and "drop --lr, the CSV" in err and "Traceback" not in err
    longer = cli("train", "--resume", str(folder), "--epochs", "3", "--quiet")
    assert longer.wait(timeout=120) == 0, longer.stderr.read()


def test_a_lengthened_cosine_run_says_its_schedule_keeps_its_length(table, tmp_path):
    folder = tmp_path / "c"
    first = cli("train", str(table), "--epochs", "2", "--schedule", "cosine", "--checkpoint",
                str(folder), "--quiet")
    assert first.wait(timeout=120) == 0
    longer = cli("train", "--resume", str(folder), "--epochs", "4")
    out, err = longer.communicate(timeout=120)
    assert longer.returncode == 0, err
    assert "T = 2 epochs; epochs 3–4 run at its final rate η_min = 0; at 0 no step" in out
    longer = cli("train", "--resume", str(folder), "--epochs", "6")  # T is still 2; 3–4 are done
    out, err = longer.communicate(timeout=120)
    assert longer.returncode == 0 and "T = 2 epochs; epochs 5–6" in out, err
    same = cli("train", "--resume", str(folder))
    out, err = same.communicate(timeout=120)
    assert same.returncode == 0 and "cosine schedule keeps" not in out, err
    folder = tmp_path / "long"  # a cosine longer than the run: nothing to say
    first = cli("train", str(table), "--epochs", "2", "--schedule", "cosine:epochs=20",
                "--checkpoint", str(folder), "--quiet")
    assert first.wait(timeout=120) == 0
    longer = cli("train", "--resume", str(folder), "--epochs", "4")
    out, err = longer.communicate(timeout=120)
    assert longer.returncode == 0 and "cosine schedule keeps" not in out, err


def test_a_damaged_checkpoint_state_is_a_clear_error(tmp_path):
    from safetensors.numpy import save

    (tmp_path / ckpt.FILENAME).write_bytes(save({"x": np.zeros(1)}, metadata={"format": ckpt.FORMAT}))
    proc = cli("train", "--resume", str(tmp_path))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "not a readable checkpoint" in err and "Traceback" not in err
