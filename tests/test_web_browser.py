"""The playground page in headless Chromium: what a learner sees matches what the engine did.

The tests start the server themselves (uvicorn in a thread on 127.0.0.1, a free port) and
drive Debian's ``chromium`` through the ``playwright`` package (never ``playwright
install``).  Without either, they are skipped, saying which is missing.  The numbers are
the seed's first step (``../shared/DESIGN.md``): ∂L/∂w^2_11 = 342 · 88 = 30096 and
w^2_11 ← 1 − 1e-5 · 30096 = 0.69904.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install it)")
pytest.importorskip("uvicorn",
                    reason="the web extra is not installed (pip install 'chainrule[web]')")

from chainrule.web.server import Playground  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CSV = b"size,rooms,age,price\n50,2,10,150\n80,3,5,260\n120,4,20,300\n65,2,2,210\n90,3,15,240\n"


def number(text: str) -> float:
    """The number after '=' in a label like 'w²₁₁ = 0.69904' (the page writes − for minus)."""
    return float(text.rsplit("=", 1)[1].split("(")[0].strip().replace("−", "-"))


@pytest.fixture(scope="module")
def server():
    playground = Playground().start()
    yield playground
    playground.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def api(server, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def page(server, browser):
    """The page on a fresh seed session, with stages 30 ms apart; fails on any script error."""
    api(server, "/api/reset", {"dataset": "seed"})
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "?stage_ms=30")
    page.wait_for_selector("body[data-ready]")
    yield page
    page.close()
    assert not errors, errors


def one_row(page) -> None:
    page.click("#btn-row")
    page.wait_for_selector('#network[data-stage="update"]')


def test_one_row_shows_the_weights_the_server_has(page, server):
    labels = page.locator("#network .wlabel")
    assert labels.count() == 6 and page.locator("#network .blabel").count() == 3
    assert number(page.locator('.wlabel[data-param="w^2_11"]').text_content()) == 1.0
    one_row(page)
    state = api(server, "/api/state")
    W, b = state["network"]["weights"], state["network"]["biases"]
    assert state["step"] == 1
    shown = {}
    for kind, selector in (("w", "#network .wlabel"), ("b", "#network .blabel")):
        items = page.locator(selector)
        for n in range(items.count()):
            item = items.nth(n)
            shown[item.get_attribute("data-param")] = (float(item.get_attribute("data-value")),
                                                       number(item.text_content()))
    expected = {f"w^{k + 1}_{i + 1}{j + 1}": W[k][i][j] for k in range(2)
                for i in range(len(W[k])) for j in range(len(W[k][i]))}
    expected.update({f"b_{k + 1}{j + 1}": b[k][j] for k in range(2) for j in range(len(b[k]))})
    assert set(shown) == set(expected)
    for param, value in expected.items():
        exact, written = shown[param]
        assert exact == value, param  # the page holds the server's number exactly
        # ... and writes it to six significant digits
        assert written == pytest.approx(value, rel=1e-5, abs=1e-9), param
    assert page.locator('.wlabel[data-param="w^2_11"]').text_content().endswith("= 0.69904")


def test_the_backward_stage_shows_the_gradients_on_the_arrows(page):
    one_row(page)
    page.click('#stages li[data-stage="backward"]')
    label = page.locator('.wlabel[data-param="w^2_11"]')
    assert label.get_attribute("data-grad") == "30096"
    assert "∂L/∂w²₁₁ = 30096" in label.text_content()
    assert number(page.locator('.wlabel[data-param="w^1_11"]').text_content()) == 27360
    assert number(page.locator('.blabel[data-param="b_21"]').text_content()) == 342


def test_a_click_on_w2_11_opens_its_derivation_with_the_seeds_numbers(page):
    one_row(page)
    page.click('.wlabel[data-param="w^2_11"]')
    panel = page.locator("#panel")
    panel.wait_for(state="visible")
    page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'w^2_11'")
    text = panel.inner_text()
    for piece in ("∂L/∂ŷ · ∂ŷ/∂w²₁₁", "−2(y − ŷ) · O₁₁", "−2(5 − 176) · 88", "342 · 88",
                  "30096", "1 − 1e-05 · 30096", "0.69904", "row 1: x₁ = 80, x₂ = 8; y = 5"):
        assert piece in text, piece
    page.click('#network .neuron[data-param="b_21"] circle')
    page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'b_21'")
    assert "= 342" in panel.inner_text()


def test_an_epoch_adds_a_point_to_the_loss_chart(page, server):
    assert page.locator("#chart .pt-train").count() == 0
    page.click("#btn-epoch")
    page.wait_for_selector('#chart[data-points="1"]')
    page.click("#btn-epoch")
    page.wait_for_selector('#chart[data-points="2"]')
    assert page.locator("#chart .pt-train").count() == 2
    history = api(server, "/api/state")["history"]
    title = page.locator("#chart .pt-train title").nth(1).text_content()
    assert title.startswith("epoch 2: training loss")
    assert number(title.replace(" loss ", " = ")) == pytest.approx(history["loss"][1], rel=1e-5)


def test_play_trains_epoch_after_epoch_until_paused(page, server):
    page.click("#btn-play")
    page.wait_for_function("Number(document.getElementById('chart').dataset.points) >= 3")
    assert page.inner_text("#btn-play") == "pause"
    page.click("#btn-play")
    page.wait_for_function("document.getElementById('btn-play').textContent === 'play'")
    page.wait_for_timeout(200)  # an epoch in flight when paused still lands
    shown = int(page.get_attribute("#chart", "data-points"))
    page.wait_for_timeout(300)
    assert int(page.get_attribute("#chart", "data-points")) == shown  # it stopped
    assert len(api(server, "/api/state")["history"]["loss"]) == shown


def test_a_toy_set_is_drawn_with_its_decision_regions(page):
    page.select_option("#dataset", "xor")
    page.wait_for_selector("#data svg.scatter image.regions")
    assert page.locator("#data svg.scatter circle.train").count() == 160
    assert page.locator("#data svg.scatter circle.val").count() == 40
    assert page.input_value("#hidden") == "6,4" and page.input_value("#activation") == "tanh"


def test_an_uploaded_csv_becomes_the_data(page, server):
    page.set_input_files("#upload", files=[{"name": "houses.csv", "mimeType": "text/csv",
                                            "buffer": CSV}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    assert page.locator("#network .input .name").all_text_contents() == ["size", "rooms", "age"]
    assert "houses.csv" in page.inner_text("#data-title")
    assert page.locator("#data table.rows tbody tr").count() == 5  # too few rows to hold any out
    assert api(server, "/api/state")["source"] == "houses.csv"


def test_the_target_of_an_uploaded_csv_can_be_picked(page, server):
    page.set_input_files("#upload", files=[{"name": "houses.csv", "mimeType": "text/csv",
                                            "buffer": CSV}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    assert page.is_visible("#target-pick")
    assert page.locator("#target option").all_text_contents() == ["size", "rooms", "age", "price"]
    assert page.input_value("#target") == "price"  # the last column, until another is picked
    page.select_option("#target", "age")
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".map((e) => e.textContent).join() === 'size,rooms,price'")
    assert api(server, "/api/state")["data"]["columns"][3] == "age"
    page.select_option("#dataset", "seed")  # another dataset: no target to pick
    page.wait_for_function("document.getElementById('target-pick').hidden")


def test_a_refused_upload_keeps_its_target_picker(page):
    # the last column is one word on every row: one class, nothing to learn
    table = (b'size,"price, in k$",note\n50,150,same\n80,260,same\n120,300,same\n'
             b'65,210,same\n90,240,same\n')
    page.set_input_files("#upload", files=[{"name": "notes.csv", "mimeType": "text/csv",
                                            "buffer": table}])
    page.wait_for_selector("#message.error:not([hidden])")
    assert "only one value" in page.inner_text("#message")
    assert page.is_visible("#target-pick")  # a quoted name keeps its comma
    assert page.locator("#target option").all_text_contents() == ["size", "price, in k$", "note"]
    page.select_option("#target", "price, in k$")  # 'note' is now an input, and not a number
    page.wait_for_function("document.getElementById('message').textContent.includes('not a number')")
    assert page.input_value("#target") == "price, in k$"


def test_after_a_refused_upload_the_target_list_is_the_learnt_tables_again(page):
    page.set_input_files("#upload", files=[{"name": "houses.csv", "mimeType": "text/csv",
                                            "buffer": CSV}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    page.set_input_files("#upload", files=[{"name": "flat.csv", "mimeType": "text/csv",
                                            "buffer": b"a,b,kind\r1,2,x\r3,4,x\r5,6,x\r"}])
    page.wait_for_selector("#message.error:not([hidden])")  # one class: refused
    assert page.locator("#target option").all_text_contents() == ["a", "b", "kind"]  # CR lines
    page.select_option("#dataset", "seed")
    page.wait_for_function("document.getElementById('target-pick').hidden")
    page.select_option("#dataset", "upload")  # houses.csv, which the session still has
    page.wait_for_function("!document.getElementById('target-pick').hidden")
    assert page.locator("#target option").all_text_contents() == ["size", "rooms", "age", "price"]
    assert page.input_value("#target") == "price"


def test_a_bad_setting_is_explained_and_the_page_keeps_working(page):
    page.fill("#hidden", "10000")
    page.press("#hidden", "Enter")
    page.wait_for_selector("#message.error:not([hidden])")
    assert "10000" in page.inner_text("#message") and "1 to 16" in page.inner_text("#message")
    assert page.input_value("#hidden") == "2"  # the controls show what the session runs
    one_row(page)
    assert page.locator('.wlabel[data-param="w^2_11"]').text_content().endswith("= 0.69904")


def test_a_long_epoch_shows_its_progress_and_stops_when_the_page_goes(page, server):
    # 50,000 rows, 40,000 of them trained on: an epoch of single-row steps takes many
    # seconds, so the page asks /api/progress meanwhile and writes it under the network
    rows = b"".join(b"%d,%d,%d\n" % (i % 101, i % 7, i % 101 - i % 7) for i in range(50_000))
    page.set_input_files("#upload", files=[{"name": "long.csv", "mimeType": "text/csv",
                                            "buffer": b"a,b,y\n" + rows}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    page.click("#btn-epoch")
    page.wait_for_selector("#status[data-progress]")
    row = int(page.get_attribute("#status", "data-progress"))
    assert page.inner_text("#status") == f"epoch 1: row {row:,} of 40,000 …"
    page.close()  # the epoch's request goes with the page, and the server stops it
    for _ in range(100):
        progress = api(server, "/api/progress")
        if not progress["running"]:
            break
        time.sleep(0.05)
    assert not progress["running"] and 0 < progress["row"] < 40_000
