"""The playground's server: every endpoint, the bad requests it refuses, and where it listens.

The numbers are the seed's first step worked by hand (``docs/tutorial.md``): row IQ 80,
CGPA 8, Package 5 through weights 1 and biases 0 gives O_11 = O_12 = 88, ŷ = 176,
L = 29241, ∂L/∂ŷ = 342, ∂L/∂w^2_11 = 342 · 88 = 30096,
∂L/∂w^1_11 = 342 · 1 · 80 = 27360, ∂L/∂b_21 = 342; with η = 1e-5, w^2_11 becomes
1 − 1e-5 · 30096 = 0.69904.  Longer runs are compared with the hand-formula trainer in
``conftest.py`` and with ``fit``.
"""

from __future__ import annotations

import json
import subprocess
import warnings
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette",
                    reason="the web extra is not installed (pip install 'chainrule[web]')")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx (pip install httpx)")

with warnings.catch_warnings():  # Starlette ≥ 1.x prefers httpx2 but still takes httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from chainrule import ConfigError, fit, seed_network  # noqa: E402
from chainrule.web import server  # noqa: E402
from chainrule.web.app import STATIC, create_app  # noqa: E402
from chainrule.web.session import MAX_UPLOAD  # noqa: E402

SEED_X = np.array([[80.0, 8.0], [60.0, 5.0], [110.0, 7.0]])
SEED_Y = np.array([[5.0], [3.0], [8.0]])
CSV = b"size,rooms,age,price\n50,2,10,150\n80,3,5,260\n120,4,20,300\n65,2,2,210\n90,3,15,240\n"


JSON = {"content-type": "application/json"}  # every POST but an upload says so (``guard``)
CSV_TYPE = {"content-type": "text/csv"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(), headers=JSON)


def weights(state: dict) -> list:
    return state["network"]["weights"], state["network"]["biases"]


def assert_same_weights(state: dict, model) -> None:
    """The page's weights and biases are the model's (to 1e-12: fit's own run of the same
    settings, on the engine it picks)."""
    W, b = weights(state)
    for k, layer in enumerate(model.layers):
        np.testing.assert_allclose(W[k], layer.weight.data, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(b[k], layer.bias.data, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------
# The page and the start.


def test_the_page_and_its_scripts_are_served_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "one row" in page.text and "/static/js/main.js" in page.text
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            rel = path.relative_to(STATIC).as_posix()
            assert client.get(f"/static/{rel}").status_code == 200, rel
            text = path.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
            assert "http://" not in text and "https://" not in text, f"{rel} loads from the network"


def test_the_session_opens_on_the_seeds_network_and_table(client):
    state = client.get("/api/state").json()
    assert state["network"]["sizes"] == [2, 2, 1]
    assert state["network"]["inputs"] == ["IQ", "CGPA"]
    W, b = weights(state)
    assert W == [[[1.0, 1.0], [1.0, 1.0]], [[1.0], [1.0]]] and b == [[0.0, 0.0], [0.0]]
    assert state["settings"] == {"dataset": "seed", "hidden": [2], "activation": "linear",
                                 "output_activation": "linear", "loss": "auto", "init": "ones", "lr": 1e-5, "batch_size": 1, "seed": 0,
                                 "shuffle": False, "noise": 0, "holdout": 0, "crosses": [],
                                 "l2": 0.0}
    assert state["preview"]["rows"] == [0]
    assert state["preview"]["outputs"] == [[[88.0, 88.0]], [[176.0]]]
    assert [row[:3] for row in state["data"]["rows"]] == np.c_[SEED_X, SEED_Y].tolist()
    assert state["data"]["rows"][0][3] == 176.0  # the prediction of weights 1, biases 0
    assert state["history"] == {"epoch": [], "loss": []}


def test_options_and_datasets(client):
    options = client.get("/api/options").json()
    assert "tanh" in options["activations"] and "softmax" not in options["activations"]
    assert "ones" in options["initialisers"] and options["max_neurons"] == 16
    names = [d["name"] for d in client.get("/api/datasets").json()]
    assert names == ["seed", "blobs", "xor", "circles", "moons", "spiral", "plane", "bumps",
                     "sigmoid-2-2-2"]
    assert options["losses"] == ["auto", "mse", "mae", "huber", "bce", "cross_entropy", "sse_half"]


# ---------------------------------------------------------------------------------------
# One step in four stages, epochs, explain.


def test_one_step_returns_the_seeds_first_step_stage_by_stage(client):
    r = client.post("/api/step")
    assert r.status_code == 200
    st = r.json()["stages"]
    assert st["forward"]["rows"] == [0] and st["forward"]["x"] == [[80.0, 8.0]]
    assert st["forward"]["outputs"] == [[[88.0, 88.0]], [[176.0]]]
    assert st["loss"]["loss"] == 29241.0 and st["loss"]["target"] == [[5.0]]
    gW, gb = st["backward"]["weights"], st["backward"]["biases"]
    assert gW[1] == [[30096.0], [30096.0]]  # ∂L/∂w^2_11 = 342 · O_11, O_11 = O_12
    assert gW[0] == [[27360.0, 27360.0], [2736.0, 2736.0]]  # 342 · w^2_j1 · x_i
    assert gb == [[342.0, 342.0], [342.0]]
    assert st["update"]["weights"][1][0][0] == pytest.approx(0.69904, abs=1e-15)
    assert st["forward"]["weights"] == [[[1.0, 1.0], [1.0, 1.0]], [[1.0], [1.0]]]
    state = r.json()["state"]
    assert state["network"]["weights"] == st["update"]["weights"]
    assert state["step"] == 1 and state["cursor"] == 1 and state["preview"]["rows"] == [1]


def test_epochs_follow_the_hand_formula_trainer(client, linear_sgd):
    (W1, b1, W2, b2), losses, _ = linear_sgd(SEED_X, SEED_Y, 1e-5, epochs=2, batch_size=1)
    client.post("/api/epoch")
    state = client.post("/api/epoch").json()
    W, b = weights(state)
    np.testing.assert_allclose(W[0], W1, rtol=1e-12)
    np.testing.assert_allclose(W[1], W2, rtol=1e-12)
    np.testing.assert_allclose(b[0], b1, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b[1], b2, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["history"]["loss"], losses, rtol=1e-12)
    assert state["history"]["epoch"] == [1, 2] and state["step"] == 6


def test_a_shuffled_session_gives_the_weights_fit_gives(client):
    client.post("/api/reset", json={"shuffle": True, "seed": 3})
    for _ in range(3):
        state = client.post("/api/epoch").json()
    model = seed_network()
    history = fit(model, SEED_X, SEED_Y, lr=1e-5, epochs=3, batch_size=1, seed=3)
    W, b = weights(state)
    for k, layer in enumerate(model.layers):
        assert np.array_equal(W[k], layer.weight.data) and np.array_equal(b[k], layer.bias.data)
    assert state["history"]["loss"] == history.loss


def test_one_epoch_after_a_step_finishes_that_epoch(client):
    client.post("/api/step")
    state = client.post("/api/epoch").json()
    assert state["step"] == 3 and state["epoch"] == 1 and len(state["history"]["loss"]) == 1


def test_explain_is_the_current_step(client):
    before = client.get("/api/explain", params={"param": "w^2_11"}).json()
    assert before["when"] == "next" and before["step"] == 1
    p = before["explanation"]["parameters"][0]
    assert p["symbol"] == "w^2_11" and p["gradient"] == 30096.0
    assert p["update"]["old"] == 1.0 and p["update"]["new"] == pytest.approx(0.69904, abs=1e-15)
    assert "342 · 88" in before["text"]
    client.post("/api/step")
    after = client.get("/api/explain", params={"param": "w^2_11"}).json()
    assert after["when"] == "last" and after["explanation"] == before["explanation"]
    b = client.get("/api/explain", params={"param": "b_21"}).json()
    assert b["explanation"]["parameters"][0]["gradient"] == 342.0


def test_explain_after_the_second_step_uses_the_weights_the_first_left(client):
    client.post("/api/step")
    client.post("/api/step")
    got = client.get("/api/explain", params={"param": "w^1_11"}).json()["explanation"]
    # By hand: after step 1 every weight moved (w^1_i1 = 1 − 1e-5·342·x_i, w^2 = 0.69904,
    # b = −0.00342); row 2 (60, 5 → 3) then gives
    # ∂L/∂w^1_11 = −2(y − ŷ) · w^2_11 · x_1.
    W1 = np.array([[1 - 1e-5 * 27360] * 2, [1 - 1e-5 * 2736] * 2])
    b1, w2, b2 = np.full(2, -0.00342), 0.69904, -0.00342
    O = np.array([60.0, 5.0]) @ W1 + b1
    yhat = w2 * O.sum() + b2
    assert got["rows"][0]["index"] == 1
    assert got["parameters"][0]["gradient"] == pytest.approx(-2 * (3 - yhat) * w2 * 60, rel=1e-12)


# ---------------------------------------------------------------------------------------
# The toy sets and uploads.


@pytest.mark.parametrize("name", ["blobs", "xor", "circles", "moons", "spiral"])
def test_toy_sets_are_two_balanced_classes_drawn_from_the_seed(client, name):
    state = client.post("/api/reset", json={"dataset": name}).json()
    data = state["data"]
    assert state["loss"]["name"] == "bce" and state["network"]["sizes"] == [2, 6, 4, 1]
    assert data["kind"] == "scatter" and len(data["points"]) == 200
    assert sum(p[3] for p in data["points"]) == 40  # 20 % held out for validation
    assert sum(p[2] for p in data["points"]) == 100  # 100 points of each class
    regions = data["regions"]
    assert len(regions["cls"]) == len(regions["p"]) == regions["n"] ** 2
    again = client.post("/api/reset", json={"dataset": name}).json()["data"]["points"]
    other = client.post("/api/reset", json={"dataset": name, "seed": 1}).json()["data"]["points"]
    assert again == data["points"] and other != data["points"]


def test_a_toy_set_is_learnt_and_its_regions_follow(client):
    client.post("/api/reset", json={"dataset": "xor"})
    for _ in range(15):
        state = client.post("/api/epoch").json()
    history = state["history"]
    assert history["loss"][-1] < history["loss"][0] / 5
    assert history["val_accuracy"][-1] >= 0.95  # XOR needs the hidden layers: it learnt them
    assert len(history["val_loss"]) == 15


def test_an_uploaded_csv_is_learnt(client):
    r = client.post("/api/upload", params={"name": "houses.csv"}, content=CSV, headers=CSV_TYPE)
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["settings"]["dataset"] == "upload" and state["source"] == "houses.csv"
    assert state["network"]["sizes"] == [3, 4, 1]
    assert state["network"]["inputs"] == ["size", "rooms", "age"]
    assert state["loss"]["name"] == "mse" and state["scale"] == "standard"
    assert state["data"]["rows"][0][:4] == [50.0, 2.0, 10.0, 150.0]
    assert state["upload"] == {"columns": ["size", "rooms", "age", "price"], "target": "price",
                               "features": ["size", "rooms", "age"]}
    picked = client.post("/api/upload", params={"name": "houses.csv", "target": "rooms"},
                         content=CSV, headers=CSV_TYPE).json()
    assert picked["network"]["inputs"] == ["size", "age", "price"]
    assert picked["upload"] == {"columns": ["size", "rooms", "age", "price"], "target": "rooms",
                                "features": ["size", "age", "price"]}
    client.post("/api/upload", params={"name": "houses.csv"}, content=CSV, headers=CSV_TYPE)
    names = [d["name"] for d in client.get("/api/datasets").json()]
    assert names[-1] == "upload"
    assert client.post("/api/step").status_code == 200
    assert client.get("/api/explain", params={"param": "w^2_11"}).status_code == 200


def test_an_uploaded_table_of_labels_is_classification():
    client = TestClient(create_app(), headers=JSON)
    rows = "".join(f"{i},{(i * 7) % 5},{'abc'[i % 3]}\n" for i in range(30))
    state = client.post("/api/upload", params={"name": "labels.csv"},
                        content=("a,b,kind\n" + rows).encode(), headers=CSV_TYPE).json()
    assert state["loss"]["name"] == "cross_entropy" and state["network"]["sizes"] == [2, 4, 3]
    assert state["network"]["outputs"] == ["logit of a", "logit of b", "logit of c"]
    assert any("classification" in note for note in state["notes"])
    assert client.post("/api/step").status_code == 200
    ex = client.get("/api/explain", params={"param": "b_21"}).json()["explanation"]
    assert ex["loss"]["name"] == "cross_entropy" and ex["parameters"][0]["symbol"] == "b_21"


# ---------------------------------------------------------------------------------------
# Bad requests: a 4xx with a message, and the session as it was.


def assert_refused(client, response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message
    assert "/tmp" not in message  # never the server's temporary file


@pytest.fixture
def working(client):
    """A client one step into the seed's run; after the test the session must be unchanged."""
    client.post("/api/step")
    before = client.get("/api/state").json()
    yield client
    assert client.get("/api/state").json() == before
    assert client.post("/api/step").json()["step"] == 2


@pytest.mark.parametrize("body, words", [
    ({"hidden": [-1]}, ["hidden layer size", "-1"]),
    ({"hidden": [10000]}, ["1 to 16", "10000"]),
    ({"hidden": "4,x"}, ["hidden layer size"]),
    ({"hidden": [2, 2, 2, 2, 2]}, ["at most 4 hidden layers"]),
    ({"hidden": 3}, ["hidden"]),
    ({"lr": "fast"}, ["lr", "must be a number", "fast"]),
    ({"lr": -0.1}, ["lr", "above 0"]),
    ({"lr": 0}, ["lr"]),
    ({"lr": "nan"}, ["lr"]),
    ({"lr": 1000}, ["at most 10"]),
    ({"lr": True}, ["lr"]),
    ({"batch_size": 0}, ["batch_size", "1 to 1024"]),
    ({"batch_size": 2.5}, ["batch_size"]),
    ({"seed": -1}, ["seed"]),
    ({"activation": "swish"}, ["activation", "tanh"]),
    ({"init": "magic"}, ["init", "xavier"]),
    ({"dataset": "mnist"}, ["dataset", "seed"]),
    ({"dataset": ["seed"]}, ["dataset"]),
    ({"shuffle": "maybe"}, ["shuffle"]),
    ({"learning_rate": 0.1}, ["unknown setting", "learning_rate"]),
    ([1, 2], ["JSON object"]),
])
def test_bad_settings_are_refused_and_the_session_keeps_working(working, body, words):
    assert_refused(working, working.post("/api/reset", json=body), 400, *words)


def test_a_body_that_is_not_json_is_refused(working):
    r = working.post("/api/reset", content=b"{lr: 0.1",
                     headers={"content-type": "application/json"})
    assert_refused(working, r, 400, "not valid JSON")


@pytest.mark.parametrize("param", ["w^3_11", "w^1_31", "b_13", "theta", ""])
def test_explaining_a_parameter_the_network_lacks_is_refused(working, param):
    r = working.get("/api/explain", params={"param": param})
    assert_refused(working, r, 400, "no parameter", "w^1_11")


@pytest.mark.parametrize("name, content, status, words", [
    ("photo.png", b"\x89PNG\r\n", 415, ["photo.png", "not a .csv"]),
    ("fake.csv", b"a,b\n\x00\x01\x02,3\n", 415, ["fake.csv", "not a text file"]),
    ("latin.csv", "a,b\ncafé,1\n".encode("latin-1"), 400, ["latin.csv", "UTF-8"]),
    ("words.csv", b"a,b\n1,2\nx,3\n", 400, ["words.csv", "line 3", "'x' is not a number"]),
    ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", 400, ["ragged.csv", "line 3"]),
    ("empty.csv", b"", 400, ["empty.csv", "empty"]),
    ("one.csv", b"a,b\n1,2\n", 400, ["one.csv", "at least 2"]),
    ("wide.csv", (",".join(f"c{i}" for i in range(18)) + "\n" + ",".join("1" * 18)).encode(),
     400, ["17 input columns", "at most 16"]),
])
def test_bad_uploads_are_refused_and_the_session_keeps_working(working, name, content, status,
                                                               words):
    r = working.post("/api/upload", params={"name": name}, content=content, headers=CSV_TYPE)
    assert_refused(working, r, status, *words)
    assert "upload" not in [d["name"] for d in working.get("/api/datasets").json()]


def test_an_upload_announcing_too_many_bytes_is_refused_unread(working):
    r = working.post("/api/upload", params={"name": "big.csv"}, content=b"a,b\n1,2\n",
                     headers={**CSV_TYPE, "content-length": str(MAX_UPLOAD + 70_000)})
    assert_refused(working, r, 413, "larger than 20 MB")  # refused on the header alone


def test_an_upload_over_the_limit_is_refused():
    client = TestClient(create_app(max_upload=1000), headers=JSON)
    assert client.get("/api/options").json()["max_upload"] == 1000
    r = client.post("/api/upload", params={"name": "big.csv"}, headers=CSV_TYPE,
                    content=b"a,b\n" + b"1,2\n" * 250)  # 1004 bytes
    assert r.status_code == 413 and "larger than 1 kB" in r.json()["error"]
    r = client.post("/api/upload", params={"name": "ok.csv"}, headers=CSV_TYPE,
                    content=b"a,b\n" + b"1,2\n" * 10 + b"3,4\n" * 10)
    assert r.status_code == 200 and r.json()["source"] == "ok.csv"


def test_a_diverging_step_is_refused_with_the_weights_kept(client):
    client.post("/api/reset", json={"lr": 10})
    for _ in range(20):
        r = client.post("/api/step")
        if r.status_code != 200:
            break
    assert_refused(client, r, 409, "diverged", "lower it")
    state = client.get("/api/state").json()
    assert all(np.isfinite(w).all() for w in state["network"]["weights"])
    assert client.post("/api/reset", json={}).status_code == 200
    assert client.post("/api/step").status_code == 200


def test_an_unknown_path_is_a_json_404(client):
    r = client.get("/api/nothing")
    assert r.status_code == 404 and "error" in r.json()


# ---------------------------------------------------------------------------------------
# Where the server listens.


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_are_allowed(host):
    server.check_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_other_addresses_are_refused_without_the_flag(host):
    with pytest.raises(ConfigError, match="--allow-remote"):
        server.check_host(host)
    with pytest.raises(ConfigError, match="refusing to listen"):
        server.Playground(host=host)
    server.check_host(host, allow_remote=True)


def test_chainrule_serve_refuses_a_remote_host_with_a_clear_message():
    result = subprocess.run([sys.executable, "-m", "chainrule", "serve", "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_server_binds_a_free_loopback_port_and_answers_only_its_own_name():
    playground = server.Playground().start()
    try:
        assert playground.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(playground.url + "api/state", timeout=10) as response:
            assert json.load(response)["network"]["sizes"] == [2, 2, 1]
        request = urllib.request.Request(playground.url + "api/state",
                                         headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400  # a page elsewhere can't reach it by DNS rebinding
    finally:
        playground.stop()


def test_importing_chainrule_does_not_import_the_web_server():
    code = ("import sys, chainrule, chainrule.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('starlette', 'uvicorn')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_toy_session_with_validation_is_fits_run_step_for_step(client):
    """The playground steps through fit's own stepper (``train.Trainer``): a toy dataset
    with a 20 % validation split, scaled inputs, bce, mini-batches, a step then epochs,
    gives the weights, losses and validation scores fit gives for the same settings."""
    from chainrule import mlp
    from chainrule.web.catalog import TOY_DEFAULTS, TOY_POINTS, recipe_for
    from chainrule.web.toys import toy
    r = client.post("/api/reset", json={"dataset": "xor", "batch_size": 4, "seed": 5})
    assert r.status_code == 200, r.text
    client.post("/api/step")
    for _ in range(2):
        state = client.post("/api/epoch").json()
    data = toy("xor", TOY_POINTS, 5)
    TOY_RECIPE = recipe_for(data, state["settings"]["holdout"] / 100)
    assert TOY_RECIPE.validation > 0 and TOY_RECIPE.scale == "standard"
    model = mlp([2, *TOY_DEFAULTS["hidden"], 1], activation=TOY_DEFAULTS["activation"],
                   seed=5)
    history = fit(model, data.X, data.y, loss=TOY_RECIPE.loss, lr=TOY_DEFAULTS["lr"],
                  epochs=2, batch_size=4, seed=5, validation_split=TOY_RECIPE.validation,
                  scale=TOY_RECIPE.scale)
    assert_same_weights(state, model)
    np.testing.assert_allclose(state["history"]["loss"], history.loss, rtol=1e-12)
    np.testing.assert_allclose(state["history"]["val_loss"], history.val_loss, rtol=1e-12)
    assert state["history"]["val_accuracy"] == history["val_accuracy"]


def test_played_epochs_run_on_the_fused_loop_compiled_in_the_background_as_fit_fused():
    """``chainrule serve``'s session compiles the fused loop for a new network in a thread
    (on copies: the run's weights stay as they were meanwhile) and plays epochs on it; the
    weights and losses are fit's with engine="fused" on the same rows, bit for bit."""
    pytest.importorskip("numba")
    from chainrule import mlp
    from chainrule.web.session import Session
    from chainrule.web.toys import toy

    session = Session(compile=True)
    state = session.reset({"dataset": "xor", "hidden": [4], "activation": "tanh", "seed": 2})
    run = session.run
    if run.warming is not None:  # compiled already in this process: nothing to wait for
        run.warming.join()
    assert weights(session.state()) == weights(state)  # the compile touched no weight
    session.epoch({"epochs": 2})
    assert run.trainer.plan is not None  # taken at the first epoch after the compile
    model = mlp([2, 4, 1], activation="tanh", init="xavier", seed=2)
    data = toy("xor", 200, seed=2)
    history = fit(model, data.X, data.y, loss="bce", lr=0.05, epochs=2, batch_size=1, seed=2,
                  validation_split=0.2, scale="standard", engine="fused")
    W, b = weights(session.state())
    for k, layer in enumerate(model.layers):
        assert np.array_equal(W[k], layer.weight.data) and np.array_equal(b[k], layer.bias.data)
    assert session.state()["history"]["loss"] == history.loss
    assert session.state()["history"]["val_loss"] == history.val_loss


def test_a_graph_session_never_takes_the_fused_loop():
    from chainrule.web.session import Session

    session = Session(engine="graph", compile=True)
    assert session.run.warming is None and session.run.trainer.plan is None
    session.epoch()
    assert session.run.trainer.plan is None and not session.run.adopt()


def test_l2_is_in_the_loss_the_derivation_and_the_update_of_the_seeds_step(client):
    """λ = 0.1 on the seed's first step, by hand: the weights 1 (six) and biases 0 give the
    penalty (λ/2)·Σθ² = 0.05 · 6 = 0.3; ∂L/∂w^2_11 = 30096 gains λ·w^2_11 = 0.1, so
    w^2_11 ← 1 − 1e-5 · 30096.1 = 0.699039; b_21 (0) gains nothing: 0 − 1e-5 · 342."""
    assert client.post("/api/reset", json={"dataset": "seed", "l2": 0.1}).status_code == 200
    ex = client.get("/api/explain", params={"param": "w^2_11"}).json()
    p = ex["explanation"]["parameters"][0]
    assert p["gradient"] == 30096.0  # the loss's own gradient, by the chain rule
    assert p["l2"]["value"] == pytest.approx(30096.1, rel=1e-15)
    assert p["l2"]["forms"] == ["30096 + 0.1 · 1", "30096.1"]
    assert p["update"]["new"] == pytest.approx(0.699039, abs=1e-15)
    assert "∂L/∂w^2_11 + λ · w^2_11 = 30096 + 0.1 · 1" in ex["text"]
    assert "w^2_11 ← w^2_11 − η · (∂L/∂w^2_11 + λ · w^2_11) = 1 − 1e-05 · 30096.1" in ex["text"]
    st = client.post("/api/step").json()["stages"]
    assert st["loss"]["loss"] == 29241.0 and st["loss"]["penalty"] == pytest.approx(0.3)
    assert st["loss"]["l2"] == 0.1 and st["update"]["rule"] == "θ ← θ − η · (∂L/∂θ + λ · θ)"
    assert st["backward"]["weights"][1] == [[30096.0], [30096.0]]  # δ · O: the chain rule's
    assert st["update"]["weights"][1][0][0] == pytest.approx(0.699039, abs=1e-15)
    assert st["update"]["biases"][1][0] == pytest.approx(-0.00342, abs=1e-15)
    assert st["update"]["weights"][0][0][0] == pytest.approx(1 - 1e-5 * 27360.1, abs=1e-15)


def test_a_session_with_l2_gives_the_weights_fit_gives_with_that_weight_decay(client):
    """L2 λ in the page is the optimiser's weight_decay λ in fit, on the same data and seed."""
    from chainrule import mlp
    from chainrule.web.toys import toy

    body = {"dataset": "moons", "hidden": [3], "seed": 6, "l2": 0.05, "batch_size": 2}
    assert client.post("/api/reset", json=body).json()["settings"]["l2"] == 0.05
    client.post("/api/step")
    for _ in range(2):
        state = client.post("/api/epoch").json()
    model = mlp([2, 3, 1], activation="tanh", init="xavier", seed=6)
    data = toy("moons", 200, seed=6)
    history = fit(model, data.X, data.y, loss="bce", lr=0.05, epochs=2, batch_size=2, seed=6,
                  validation_split=0.2, scale="standard",
                  optimizer_options={"weight_decay": 0.05})
    assert_same_weights(state, model)
    np.testing.assert_allclose(state["history"]["loss"], history.loss, rtol=1e-12)
    plain = mlp([2, 3, 1], activation="tanh", init="xavier", seed=6)  # λ = 0 differs
    fit(plain, data.X, data.y, loss="bce", lr=0.05, epochs=2, batch_size=2, seed=6,
        validation_split=0.2, scale="standard")
    assert not np.allclose(plain.layers[0].weight.data, weights(state)[0][0], rtol=1e-6)


@pytest.mark.parametrize("l2, said", [(-0.1, "from 0 to 10"), ("much", "must be a number"),
                                      (11, "from 0 to 10"), (True, "must be a number")])
def test_a_bad_l2_is_refused_in_words(client, l2, said):
    r = client.post("/api/reset", json={"l2": l2})
    assert r.status_code == 400 and said in r.json()["error"] and "λ" in r.json()["error"]


def test_an_unexpected_error_is_a_json_500_not_plain_text(monkeypatch):
    from chainrule.web.session import Session

    session = Session()
    monkeypatch.setattr(session, "state", lambda: {}["no such key"])  # a bug, not a request
    client = TestClient(create_app(session), headers=JSON, raise_server_exceptions=False)
    r = client.get("/api/state")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert "KeyError" in r.json()["error"] and "bug" in r.json()["error"]


def test_a_big_scatter_is_sent_as_every_kth_point():
    # 5,000 rows of two inputs and two classes: every 3rd row is drawn (⌈5000 / 2000⌉ = 3):
    # ⌈4000 / 3⌉ = 1334 training and ⌈1000 / 3⌉ = 334 held-out points, so /api/state stays
    # small for an upload of millions of rows
    rows = "".join(f"{i % 50},{i % 7},{'ab'[i % 2]}\n" for i in range(5000))
    client = TestClient(create_app(), headers=JSON)
    state = client.post("/api/upload", params={"name": "dots.csv"}, headers=CSV_TYPE,
                        content=("x,y,k\n" + rows).encode()).json()
    data = state["data"]
    assert data["kind"] == "scatter" and data["total"] == 5000
    assert len(data["points"]) == 1334 + 334
    assert sum(p[3] for p in data["points"]) == 334  # held out
    # each point is a row of the table with its class: x even ⇔ i even ⇔ class a (index 0)
    assert all(p[2] == int(p[0]) % 2 for p in data["points"])


# ---------------------------------------------------------------------------------------
# Each stage's own numbers: δ per neuron, the same row after the update, a typed weight.


def test_the_update_stage_has_the_same_rows_prediction_and_loss_after_the_step(client):
    st = client.post("/api/step").json()["stages"]
    # by hand (DESIGN.md's step): w^1_1j = 1 − 1e-5·27360, w^1_2j = 1 − 1e-5·2736,
    # b_1j = b_21 = −1e-5·342, w^2_j1 = 1 − 1e-5·30096
    O = 80 * (1 - 0.2736) + 8 * (1 - 0.02736) - 0.00342
    yhat = 2 * 0.69904 * O - 0.00342
    assert st["update"]["outputs"][0][0] == pytest.approx([O, O], rel=1e-12)
    assert st["update"]["prediction"][0][0] == pytest.approx(yhat, rel=1e-12)  # 92.1157
    assert st["update"]["loss"] == pytest.approx((5 - yhat) ** 2, rel=1e-12)  # 7589.14
    assert round(yhat, 1) == 92.1 and round((5 - yhat) ** 2) == 7589
    # the forward stage's table is the weights the step started from: 176 for row 1
    assert st["data"]["rows"][0][3] == 176.0


def test_deltas_are_each_rows_dloss_dz_as_pytorch_computes_them(client):
    torch = pytest.importorskip("torch")
    state = client.post("/api/reset", json={"dataset": "xor", "hidden": [3], "batch_size": 4,
                                            "seed": 5}).json()
    W = [np.array(w) for w in state["network"]["weights"]]
    b = [np.array(v) for v in state["network"]["biases"]]
    r = client.post("/api/step").json()
    st = r["stages"]
    X = torch.tensor(st["forward"]["x"], dtype=torch.float64)
    Y = torch.tensor(st["loss"]["target"], dtype=torch.float64)
    # PyTorch, independently: tanh hidden layer, one logit, each row's own BCE ℓ_n
    W1, W2 = (torch.tensor(w, requires_grad=True) for w in W)
    z1 = X @ W1 + torch.tensor(b[0])
    z2 = torch.tanh(z1) @ W2 + torch.tensor(b[1])
    z1.retain_grad()
    z2.retain_grad()
    torch.nn.functional.binary_cross_entropy_with_logits(z2, Y, reduction="sum").backward()
    deltas = st["backward"]["deltas"]
    np.testing.assert_allclose(deltas[0], z1.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(deltas[1], z2.grad.numpy(), rtol=1e-12, atol=1e-15)
    # and ∂L/∂b_kj is their mean over the batch's four rows
    np.testing.assert_allclose(np.mean(deltas[0], axis=0), st["backward"]["biases"][0], rtol=1e-12)


def test_the_seeds_deltas_are_the_hand_worked_342(client):
    st = client.post("/api/step").json()["stages"]
    assert st["backward"]["deltas"] == [[[342.0, 342.0]], [[342.0]]]
    ex = client.get("/api/explain", params={"param": "w^1_11"}).json()["explanation"]
    steps = ex["parameters"][0]["rows"][0]["steps"]
    assert all(s["value"] == 342.0 for s in steps if s["lhs"].startswith("δ"))


def test_a_typed_weight_works_the_next_step_again_without_taking_it(client):
    r = client.post("/api/param", json={"param": "w^1_11", "value": "0.5"})
    assert r.status_code == 200, r.text
    st = r.json()["stages"]
    assert st["pending"] and "update" not in st
    # by hand: O_11 = 0.5·80 + 8 = 48, O_12 = 88, ŷ = 136, L = (5 − 136)² = 17161
    assert st["forward"]["outputs"] == [[[48.0, 88.0]], [[136.0]]]
    assert st["loss"]["loss"] == 17161.0
    assert st["backward"]["weights"][0][0][0] == -2 * (5 - 136) * 1 * 80  # 20960
    assert st["backward"]["deltas"] == [[[262.0, 262.0]], [[262.0]]]
    state = r.json()["state"]
    assert state["step"] == 0 and state["network"]["weights"][0][0] == [0.5, 1.0]
    ex = client.get("/api/explain", params={"param": "w^1_11"}).json()
    assert ex["when"] == "next" and ex["explanation"]["parameters"][0]["gradient"] == 20960.0
    step = client.post("/api/step").json()["stages"]
    assert step["loss"]["loss"] == 17161.0  # the step goes from the typed weights
    client.post("/api/param", json={"param": "b_21", "value": -1.5})
    assert client.get("/api/state").json()["network"]["biases"][1] == [-1.5]


@pytest.mark.parametrize("body, words", [
    ({"param": "w^3_11", "value": 1}, ["no weight or bias 'w^3_11'", "w^2_21"]),
    ({"param": "b_13", "value": 1}, ["no weight or bias"]),
    ({"param": "w^1_11", "value": "big"}, ["type a number", "'big'"]),
    ({"param": "w^1_11", "value": "nan"}, ["type a number"]),
    ({"param": "w^1_11", "value": 1e9}, ["type a number from -1e+06 to 1e+06"]),
    ({"param": "w^1_11", "value": True}, ["type a number"]),
    ([1], ["param", "value"]),
])
def test_a_typed_value_the_network_cannot_take_is_refused(working, body, words):
    assert_refused(working, working.post("/api/param", json=body), 400, *words)


def test_an_upload_takes_its_input_columns_from_the_page(client):
    picked = client.post("/api/upload", params={"name": "houses.csv", "target": "price",
                                                "features": '["size", "age"]'}, content=CSV,
                         headers=CSV_TYPE)
    assert picked.status_code == 200, picked.text
    state = picked.json()
    assert state["network"]["inputs"] == ["size", "age"] and state["network"]["sizes"] == [2, 4, 1]
    assert state["upload"]["features"] == ["size", "age"]
    assert state["data"]["rows"][0][:3] == [50.0, 10.0, 150.0]  # size, age, price


def test_a_text_column_learnt_one_hot_is_named_once_among_the_uploads_inputs(client):
    """The page ticks the boxes of ``upload.features``: a text column is one of them, by its
    own name, though the network reads it as one input per category."""
    table = b"size,town,price\n50,north,150\n80,south,260\n120,north,300\n65,east,210\n"
    state = client.post("/api/upload", params={"name": "towns.csv", "target": "price",
                                               "features": '["size", "town"]'},
                        content=table, headers=CSV_TYPE).json()
    assert state["network"]["inputs"] == ["size", "town=east", "town=north", "town=south"]
    assert state["upload"]["features"] == ["size", "town"]
    default = client.post("/api/upload", params={"name": "towns.csv"}, content=table,
                          headers=CSV_TYPE).json()  # every column but the last
    assert default["upload"]["features"] == ["size", "town"]


@pytest.mark.parametrize("params, words", [
    ({"features": "[]"}, ["tick at least one column as an input"]),
    ({"features": "size"}, ["features must be a JSON list"]),
    ({"features": '["size", "colour"]'}, ["no column named 'colour'"]),
])
def test_input_columns_the_table_cannot_give_are_refused(working, params, words):
    r = working.post("/api/upload", params={"name": "houses.csv", **params}, content=CSV,
                     headers=CSV_TYPE)
    assert_refused(working, r, 400, *words)


@pytest.mark.parametrize("message, said", [
    ("iris.csv, line 2, column 'species': 'setosa' is not a number; use numbers only, or leave "
     "the column out with --features",
     "iris.csv, line 2, column 'species': 'setosa' is not a number; untick species among the "
     "inputs, or pick it as the target"),
    ("classification takes one target column; name one with --target",
     "classification takes one target column; pick one in the target list"),
    ("the target has 3 values: treating this as classification, use --task regression to "
     "override", "the target has 3 values: treating this as classification"),
    ("a.csv has a stray cell; fix it or pass --skip-bad-rows", "a.csv has a stray cell"),
])
def test_csv_messages_are_said_in_the_pages_words(message, said):
    from chainrule.web.catalog import in_page_words

    assert in_page_words(message) == said


# ---------------------------------------------------------------------------------------
# TensorFlow Playground's knobs: noise, the held-out share, feature crosses, more sets.


def test_noise_holdout_and_feature_crosses_train_as_fit_does(client):
    from chainrule import mlp
    from chainrule.web.toys import toy

    body = {"dataset": "xor", "hidden": [3], "seed": 4, "noise": 10, "holdout": 30,
            "crosses": ["sin(x1)", "x1x2"]}
    state = client.post("/api/reset", json=body).json()
    assert state["settings"]["crosses"] == ["x1x2", "sin(x1)"]  # the table's order
    assert state["network"]["inputs"] == ["x_1", "x_2", "x₁x₂", "sin x₁"]
    assert sum(p[3] for p in state["data"]["points"]) == 60  # 30 % of 200 held out
    for _ in range(2):
        state = client.post("/api/epoch").json()
    data = toy("xor", 200, seed=4, noise=0.1, crosses=("x1x2", "sin(x1)"))
    X = data.X
    np.testing.assert_array_equal(X[:, 2], X[:, 0] * X[:, 1])  # the crosses of the noisy points
    np.testing.assert_array_equal(X[:, 3], np.sin(X[:, 0]))
    plain = toy("xor", 200, seed=4).X
    np.testing.assert_array_equal(data.y, toy("xor", 200, seed=4).y)  # noise moves points only
    assert np.std(X[:, :2] - plain) == pytest.approx(0.1, rel=0.1)  # σ = noise/100
    model = mlp([4, 3, 1], activation="tanh", init="xavier", seed=4)
    history = fit(model, X, data.y, loss="bce", lr=0.05, epochs=2, batch_size=1, seed=4,
                  validation_split=0.3, scale="standard")
    assert_same_weights(state, model)
    np.testing.assert_allclose(state["history"]["val_loss"], history.val_loss, rtol=1e-12)


@pytest.mark.parametrize("name, formula", [
    ("plane", lambda X: X[:, 0] - X[:, 1]),
    ("bumps", lambda X: np.exp(-((X[:, 0] + 0.4) ** 2 + (X[:, 1] - 0.4) ** 2) / 0.18)
     - np.exp(-((X[:, 0] - 0.4) ** 2 + (X[:, 1] + 0.4) ** 2) / 0.18)),
])
def test_the_regression_sets_are_their_formulas_drawn_over_the_plane(client, name, formula):
    state = client.post("/api/reset", json={"dataset": name}).json()
    assert state["task"] == "regression" and state["loss"]["name"] == "mse"
    data = state["data"]
    assert data["kind"] == "scatter" and data["task"] == "regression"
    P = np.array(data["points"])
    np.testing.assert_allclose(P[:, 2], formula(P[:, :2]), rtol=1e-12, atol=1e-15)
    assert len(data["regions"]["value"]) == data["regions"]["n"] ** 2
    assert data["range"] == [P[:, 2].min(), P[:, 2].max()]
    for _ in range(5):
        state = client.post("/api/epoch").json()
    assert state["history"]["val_r2"][-1] > 0.8  # a smooth surface: the network learns it


@pytest.mark.parametrize("body, words", [
    ({"dataset": "seed", "crosses": ["x1x2"]}, ["feature crosses are for the 2-D toy sets"]),
    ({"dataset": "seed", "noise": 10}, ["noise is for the toy sets"]),
    ({"dataset": "xor", "crosses": ["x3^2"]}, ["every feature cross", "x1^2"]),
    ({"dataset": "xor", "noise": 80}, ["noise", "0 to 50"]),
    ({"dataset": "xor", "holdout": 95}, ["holdout", "0 to 90"]),
])
def test_knobs_out_of_their_range_are_refused(working, body, words):
    assert_refused(working, working.post("/api/reset", json=body), 400, *words)


def test_each_neurons_heat_map_is_its_output_over_the_plane(client):
    state = client.post("/api/reset", json={"dataset": "moons", "hidden": [3], "seed": 7}).json()
    state = client.post("/api/epoch").json()
    maps = state["network"]["maps"]
    assert [len(m) for m in maps] == [3, 1] and all(len(v) == 16 * 16 for m in maps for v in m)
    # NumPy by hand: the grid over the points padded by 8 %, standardised as the training
    # rows were (their mean and standard deviation), through tanh and the linear output
    P = np.array(state["data"]["points"])
    low, high = P[:, :2].min(axis=0), P[:, :2].max(axis=0)
    low, high = low - 0.08 * (high - low), high + 0.08 * (high - low)
    gx, gy = np.linspace(low[0], high[0], 16), np.linspace(low[1], high[1], 16)
    grid = np.array([[a, b] for b in gy for a in gx])
    train = P[P[:, 3] == 0, :2]
    Z = (grid - train.mean(axis=0)) / train.std(axis=0)
    W, b = weights(state)
    O1 = np.tanh(Z @ np.array(W[0]) + b[0])
    O2 = O1 @ np.array(W[1]) + b[1]
    np.testing.assert_allclose(np.array(maps[0]).T, O1, atol=5e-4)  # sent to three digits
    np.testing.assert_allclose(np.array(maps[1]).T, O2, atol=5e-4)
    assert "maps" not in client.post("/api/reset", json={"dataset": "seed"}).json()["network"]


def test_one_request_can_run_several_epochs_as_single_ones_would(client):
    client.post("/api/reset", json={"dataset": "xor", "hidden": [4]})
    for _ in range(3):
        one_by_one = client.post("/api/epoch").json()
    client.post("/api/reset", json={"dataset": "xor", "hidden": [4]})
    at_once = client.post("/api/epoch", json={"epochs": 3}).json()
    assert at_once["history"] == one_by_one["history"] and at_once["epoch"] == 3
    assert weights(at_once) == weights(one_by_one)
    r = client.post("/api/epoch", json={"epochs": 1000})
    assert_refused(client, r, 400, "epochs", "1 to 100")


# ---------------------------------------------------------------------------------------
# Worked examples as presets; the output activation and the loss chosen in the page.

EXAMPLE_232 = Path(__file__).parent / "data" / "sigmoid-2-3-2.toml"


def test_the_sigmoid_2_2_2_preset_takes_the_known_step(client):
    """The shipped example (chainrule explain --example sigmoid-2-2-2): its step in the page
    has explain's numbers — E, every ∂E/∂θ and every updated weight — and the digits it
    prints: E = 0.298371, ∂E/∂w^2_11 = 0.082167, w^2_11 ← 0.358916, w^1_11 ← 0.149781."""
    from chainrule.explain import explain, load_example

    names = {d["name"]: d for d in client.get("/api/datasets").json()}
    assert names["sigmoid-2-2-2"]["kind"] == "example"
    state = client.post("/api/reset", json={"dataset": "sigmoid-2-2-2"}).json()
    s = state["settings"]
    assert (s["hidden"], s["activation"], s["output_activation"], s["loss"], s["lr"],
            s["init"]) == ([2], "sigmoid", "sigmoid", "sse_half", 0.5, "example")
    st = client.post("/api/step").json()["stages"]
    ex = load_example("sigmoid-2-2-2")
    want = explain(ex.model, ex.X, ex.Y, ex.loss, lr=ex.lr)
    assert st["loss"]["loss"] == pytest.approx(want.loss.value, rel=1e-12)
    assert f"{st['loss']['loss']:.6g}" == "0.298371"
    for p in want.params:
        k, kind = p.ref.layer, p.ref.kind
        grads = st["backward"]["weights" if kind == "w" else "biases"][k - 1]
        new = st["update"]["weights" if kind == "w" else "biases"][k - 1]
        index = p.ref.index if kind == "w" else p.ref.index[-1:]
        g, w = grads, new
        for i in index:
            g, w = g[i], w[i]
        assert g == pytest.approx(p.gradient, rel=1e-12, abs=1e-15), p.symbol
        assert w == pytest.approx(p.new, rel=1e-12), p.symbol
    assert f"{st['backward']['weights'][1][0][0]:.6g}" == "0.082167"
    assert f"{st['update']['weights'][1][0][0]:.6g}" == "0.358916"
    assert f"{st['update']['weights'][0][0][0]:.6g}" == "0.149781"


def test_serve_example_opens_on_the_file_and_its_deltas_are_explains(tmp_path):
    """``chainrule serve --example FILE``: the page's first dataset is the file's (a 2-3-2
    sigmoid network with sse_half), and each neuron's δ in the backward stage is the δ of
    ``chainrule explain --example FILE --format json``."""
    from chainrule.web.session import Session

    session = Session(example=str(EXAMPLE_232))
    state = session.state()
    assert state["settings"]["dataset"] == "example" and state["network"]["sizes"] == [2, 3, 2]
    assert state["network"]["activations"] == ["sigmoid", "sigmoid"]
    assert state["loss"]["name"] == "sse_half"
    assert state["network"]["weights"][1][2] == [0.7, 0.15] and state["network"]["biases"] == \
        [[0.1, 0.1, 0.1], [-0.2, -0.2]]
    kinds = {d["name"]: d["kind"] for d in session.datasets()}
    assert kinds["example"] == "example" and kinds["sigmoid-2-2-2"] == "example"
    out = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--example",
                          str(EXAMPLE_232), "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    table = {eq["lhs"].split(" ")[0]: eq["value"] for eq in json.loads(out)["rows"][0]["deltas"]}
    deltas = session.step()["stages"]["backward"]["deltas"]
    shown = {f"δ^{k + 1}_{j + 1}": layer[0][j] for k, layer in enumerate(deltas)
             for j in range(len(layer[0]))}
    assert shown.keys() == table.keys() and len(shown) == 5
    for name, value in table.items():
        assert shown[name] == pytest.approx(value, rel=1e-12), name


def test_serve_example_refuses_a_file_it_cannot_read_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('sizes = [2, 1]\nx = [1, 2]\ny = [3]\n[weights]\n"w^1_11" = 1\n')
    r = subprocess.run([sys.executable, "-m", "chainrule", "serve", "--example", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode not in (0, 3) and "Traceback" not in r.stderr
    assert "bad.toml" in r.stderr and "w^1_21" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("body, said", [
    ({"dataset": "xor", "init": "example"}, "choose another initialiser"),
    ({"dataset": "sigmoid-2-2-2", "hidden": [3]}, "keep hidden 2"),
    ({"dataset": "sigmoid-2-2-2", "init": "xavier"}, "starts from its own weights"),
    ({"dataset": "seed", "loss": "bce"}, "bce is for classes"),
    ({"dataset": "xor", "loss": "mse"}, "this data has classes"),
    ({"dataset": "xor", "output_activation": "sigmoid"}, "set the output activation to linear"),
    ({"dataset": "seed", "loss": "hinge"}, "loss must be one of"),
])
def test_a_loss_or_start_that_does_not_fit_the_data_is_refused_in_words(client, body, said):
    r = client.post("/api/reset", json=body)
    assert r.status_code == 400 and said in r.json()["error"], r.json()
    assert client.get("/api/state").json()["settings"]["dataset"] == "seed"  # as it was


def test_an_output_activation_and_loss_chosen_in_the_page_train_as_fit_does(client):
    """The plane set with a tanh output and the huber loss: the weights fit gives."""
    from chainrule import mlp
    from chainrule.web.toys import toy

    body = {"dataset": "plane", "hidden": [3], "seed": 2, "output_activation": "tanh",
            "loss": "huber"}
    state = client.post("/api/reset", json=body).json()
    assert state["network"]["activations"] == ["tanh", "tanh"] and state["loss"]["name"] == "huber"
    state = client.post("/api/epoch").json()
    model = mlp([2, 3, 1], activation="tanh", output_activation="tanh", init="xavier", seed=2)
    data = toy("plane", 200, seed=2)
    history = fit(model, data.X, data.y, loss="huber", lr=0.05, epochs=1, batch_size=1, seed=2,
                  validation_split=0.2, scale="standard")
    assert_same_weights(state, model)
    np.testing.assert_allclose(state["history"]["loss"], history.loss, rtol=1e-12)


def test_a_served_example_of_several_rows_steps_them_as_explain_steps_them():
    """``serve --example seed`` (the shipped file: three rows): a row a step, in order, as
    ``chainrule explain --example seed --steps 2``: step 1 is the seed's (∂L/∂w^2_11 =
    30096, w^2_11 → 0.69904), step 2 starts from its weights on row 2."""
    from chainrule.explain import explain_steps, load_example
    from chainrule.web.session import Session

    session = Session(example="seed")
    first = session.step()["stages"]
    assert first["forward"]["rows"] == [0] and first["backward"]["weights"][1][0][0] == 30096.0
    assert first["update"]["weights"][1][0][0] == pytest.approx(0.69904, abs=1e-15)
    second = session.step()["stages"]
    ex = load_example("seed")
    want = explain_steps(ex.model, ex.X, ex.Y, ex.loss, steps=2, lr=ex.lr, param="w^2_11")[1]
    p = want.params[0]
    assert second["forward"]["rows"] == [1]
    assert second["backward"]["weights"][1][0][0] == pytest.approx(p.gradient, rel=1e-12)
    assert second["update"]["weights"][1][0][0] == pytest.approx(p.new, rel=1e-12)
