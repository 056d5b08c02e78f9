"""The playground page in headless Chromium: what a learner sees matches what the engine did.

The tests start the server themselves (uvicorn in a thread on 127.0.0.1, a free port) and
drive Debian's ``chromium`` through the ``playwright`` package (never ``playwright
install``).  Without either, they are skipped, saying which is missing.  The numbers are
the seed's first step (``docs/tutorial.md``): ∂L/∂w^2_11 = 342 · 88 = 30096 and
w^2_11 ← 1 − 1e-5 · 30096 = 0.69904.
"""

from __future__ import annotations

import time

import pytest

from browser_page import api, browser, number, server, slow_server  # noqa: F401  (fixtures)

CSV = b"size,rooms,age,price\n50,2,10,150\n80,3,5,260\n120,4,20,300\n65,2,2,210\n90,3,15,240\n"


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
    page.wait_for_function("!document.body.dataset.request")  # epochs in flight still land
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
    page.select_option("#target", "age")  # the old target is an input once ticked
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".map((e) => e.textContent).join() === 'size,rooms'")
    page.check('#inputs-boxes input[value="price"]')
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".map((e) => e.textContent).join() === 'size,rooms,price'")
    assert api(server, "/api/state")["data"]["columns"][3] == "age"
    page.select_option("#dataset", "seed")  # another dataset: no target to pick
    page.wait_for_function("document.getElementById('target-pick').hidden")


def boxes(page) -> dict[str, bool]:
    """The input boxes: column → ticked."""
    found = page.locator("#inputs-boxes input")
    return {found.nth(n).get_attribute("value"): found.nth(n).is_checked()
            for n in range(found.count())}


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
    page.select_option("#target", "price, in k$")  # the old target does not become an input
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    assert page.locator("#network .input .name").all_text_contents() == ["size"]
    assert boxes(page) == {"size": True, "price, in k$": False, "note": False}
    page.click('#inputs-boxes input[value="note"]')  # text: one input per category, learnt
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".some(e => e.textContent.includes('note=same'))")
    assert page.locator("#network .input .name").all_text_contents() == ["size", "note=same"]
    assert page.input_value("#target") == "price, in k$"
    assert boxes(page) == {"size": True, "price, in k$": False, "note": True}  # used: ticked


def test_iris_can_predict_a_measurement_chosen_in_the_page(page, server):
    from test_web_access import iris_csv

    page.set_input_files("#upload", files=[{"name": "iris.csv", "mimeType": "text/csv",
                                            "buffer": iris_csv()}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    assert page.locator("#network .output, #network .target").count() == 3  # three classes
    page.select_option("#target", "petal_width")  # species was the target: not an input now
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".map((e) => e.textContent).join() === "
                           "'sepal_length,sepal_width,petal_length'")
    state = api(server, "/api/state")
    assert state["loss"]["name"] == "mse" and state["network"]["sizes"] == [3, 4, 1]
    page.click('#inputs-boxes input[value="species"]')  # text: one input per species, learnt
    page.wait_for_function("[...document.querySelectorAll('#network .input .name')]"
                           ".filter((e) => e.textContent.startsWith('species=')).length === 3")
    assert page.input_value("#target") == "petal_width"
    assert page.is_checked('#inputs-boxes input[value="species"]')  # learnt one-hot: ticked
    page.select_option("#target", "species")  # a refused target goes back too
    page.wait_for_function("document.getElementById('dataset').value === 'upload' && "
                           "document.querySelectorAll('#network .target').length === 3")
    assert page.locator("#network .input").count() == 3  # petal_width was the target: unticked
    for left, name in enumerate(("sepal_length", "sepal_width")):
        page.uncheck(f'#inputs-boxes input[value="{name}"]')
        page.wait_for_function(f"document.querySelectorAll('#network .input').length === {2 - left}")
    assert page.locator("#network .input .name").all_text_contents() == ["petal_length"]
    page.click('#inputs-boxes input[value="petal_length"]')  # none left: refused, ticked again
    page.wait_for_selector("#message.error:not([hidden])")
    assert "tick at least one column as an input" in page.inner_text("#message")
    assert page.is_checked('#inputs-boxes input[value="petal_length"]')


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


# ---------------------------------------------------------------------------------------
# Each stage its own numbers; the wave; the chain's paths; a weight typed in.


def test_each_stage_shows_its_own_numbers_and_the_update_what_it_bought(page):
    # The seed's row 1 through weights 1: ŷ = 176, L = 29241.  After the update (every
    # weight moved by 1e-5 · its gradient, DESIGN.md) the same row gives, by hand,
    # O_1j = 80 · 0.7264 + 8 · 0.97264 − 0.00342 = 65.88970, ŷ = 2 · 0.69904 · 65.88970 − 0.00342
    # = 92.1157 and L = (5 − 92.1157)² = 7589.14.
    one_row(page)
    page.click('#stages li[data-stage="forward"]')
    assert page.locator('#network [data-output="O_21"]').text_content() == "176"
    assert page.locator("#data tbody tr").first.locator("td").last.text_content() == "176"
    page.click('#stages li[data-stage="loss"]')
    assert page.locator("#network .loss-badge").text_content() == "L = 29241"
    assert page.locator("#data tbody tr").first.locator("td").last.text_content() == "176"
    page.click('#stages li[data-stage="update"]')
    assert page.locator("#network .after").text_content() == "ŷ: 176 → 92.1157"
    assert page.locator("#network .loss-badge").text_content() == "L: 29241 → 7589.14"
    assert page.locator('#network [data-output="O_21"]').text_content() == "92.12"
    assert page.locator("#data tbody tr").first.locator("td").last.text_content() == "92.1157"
    assert "ŷ = 92.1157 (was 176) and L = 7589.14 (was 29241)" in page.inner_text("#stage-text")


def deltas_shown(page) -> dict[str, float]:
    found = page.locator("#network .neuron[data-delta]")
    return {found.nth(n).get_attribute("data-param").replace("b_", "δ"):
            float(found.nth(n).get_attribute("data-delta")) for n in range(found.count())}


def test_the_backward_stage_is_a_wave_from_the_output_back(page):
    # The seed's first row: δ²₁ = ∂L/∂ŷ = −2(5 − 176) = 342; linear neurons pass it back
    # through w²_j1 = 1, so δ¹₁ = δ¹₂ = 342 (DESIGN.md: ∂L/∂b_kj = δ^k_j).
    one_row(page)
    page.click('#stages li[data-stage="backward"]')
    assert deltas_shown(page) == {"δ11": 342, "δ12": 342, "δ21": 342}
    assert page.get_attribute("#network", "data-wave") == "2"
    page.click("#btn-wave")  # again from the output: only layer 2 has its δ
    assert page.get_attribute("#network", "data-wave") == "1"
    assert deltas_shown(page) == {"δ21": 342}
    assert page.locator("#network .wlabel").count() == 2  # ∂L/∂w² only: w¹ waits for δ¹
    assert page.locator('#network .neuron[data-param="b_11"] .value').text_content() == "?"
    page.click("#btn-wave")
    assert deltas_shown(page) == {"δ11": 342, "δ12": 342, "δ21": 342}
    # the arrows point back, from the neuron whose δ they carry
    edge = page.locator('#network .weight[data-param="w^2_11"] .edge')
    assert edge.get_attribute("marker-start") and not edge.get_attribute("marker-end")
    page.click('#stages li[data-stage="forward"]')
    assert edge.get_attribute("marker-end") and not edge.get_attribute("marker-start")


def test_a_deeper_wave_fills_layer_by_layer_with_the_servers_deltas(page, server):
    page.select_option("#dataset", "xor")  # 2-6-4-1 tanh
    page.wait_for_selector("#data svg.scatter")
    page.evaluate("document.getElementById('btn-row').click()")
    page.wait_for_selector('#network[data-stage="update"]')
    page.click('#stages li[data-stage="backward"]')
    page.click("#btn-wave")
    got = []
    for wave in (1, 2, 3):
        assert page.get_attribute("#network", "data-wave") == str(wave)
        got.append(sorted({int(k[1]) for k in deltas_shown(page)}))
        if wave < 3:
            page.click("#btn-wave")
    assert got == [[3], [2, 3], [1, 2, 3]]
    # the server's δ of that row, one per neuron, shown to six digits
    shown = deltas_shown(page)
    explained = api(server, "/api/explain?param=b_11")["explanation"]["parameters"][0]
    assert shown["δ11"] == pytest.approx(explained["gradient"], rel=1e-12)  # ∂L/∂b_11 = δ¹₁


def test_a_chosen_weight_lights_every_path_of_its_chain_rule(page):
    page.click('.wlabel[data-param="w^1_11"]')
    page.wait_for_selector("#panel:not([hidden])")
    lit = page.locator("#network .weight.path")
    assert sorted(lit.nth(n).get_attribute("data-param") for n in range(lit.count())) == \
        ["w^1_11", "w^2_11"]  # x_1 → O_11 → ŷ: the one path
    page.keyboard.press("Escape")
    page.select_option("#dataset", "xor")  # 2-6-4-1: from O_11 through all 4 of layer 2
    page.wait_for_selector("#data svg.scatter")
    page.click('#network .weight[data-param="w^1_11"] .hit', force=True)
    page.wait_for_selector("#panel:not([hidden])")
    lit = page.locator("#network .weight.path")
    assert sorted(lit.nth(n).get_attribute("data-param") for n in range(lit.count())) == \
        sorted(["w^1_11"] + [f"w^2_1{m}" for m in range(1, 5)] + [f"w^3_{m}1" for m in range(1, 5)])


def test_typing_a_weight_works_the_step_again_as_the_engine_does(page, server):
    from chainrule import Tensor, get_loss, seed_network

    page.click('.wlabel[data-param="w^1_11"]')
    page.wait_for_selector("#panel:not([hidden])")
    page.fill("#edit-value", "0.5")
    page.press("#edit-value", "Enter")
    page.wait_for_selector('#network[data-stage="backward"][data-wave="2"]')
    # the engine on the same weights: w^1_11 = 0.5, the rest 1, row 1 (80, 8 → 5)
    model = seed_network()
    model.layers[0].weight.data[0, 0] = 0.5
    x, y = [[80.0, 8.0]], [[5.0]]
    yhat = model(Tensor(x))
    loss = get_loss("mse")(yhat, y)
    assert float(yhat.data[0, 0]) == 136.0 and float(loss.data) == 17161.0  # 40 + 8 + 88
    assert page.locator("#network .loss-badge").text_content() == "L = 17161"
    assert deltas_shown(page)["δ21"] == -2 * (5 - 136)  # 262
    page.click('#stages li[data-stage="forward"]')
    assert page.locator('#network [data-output="O_21"]').text_content() == "136"
    assert page.locator('#stages li[data-stage="update"] button').is_disabled()  # not taken yet
    page.wait_for_function("document.getElementById('panel-body').innerText.includes('20960')")
    assert "0.5" in page.locator('.wlabel[data-param="w^1_11"]').text_content()
    state = api(server, "/api/state")
    assert state["network"]["weights"][0][0][0] == 0.5 and state["step"] == 0
    one_row(page)  # the step itself now goes from these weights
    assert number(page.locator('.wlabel[data-param="w^1_11"]').text_content()) == \
        pytest.approx(0.5 - 1e-5 * 262 * 80)


def test_the_address_holds_the_settings_and_reproduces_the_run(page, server, browser):
    page.select_option("#dataset", "xor")
    page.wait_for_selector("#data svg.scatter")
    page.fill("#seed", "3")
    page.press("#seed", "Enter")
    page.wait_for_function("location.search.includes('seed=3')")
    page.check('#crosses input[value="x1x2"]')
    page.wait_for_function("document.querySelectorAll('#network .input').length === 3")
    page.fill("#l2", "0.03")
    page.press("#l2", "Enter")
    page.wait_for_function("location.search.includes('l2=0.03')")
    address = page.url
    assert "dataset=xor" in address and "crosses=x1x2" in address and "stage_ms=30" in address
    for n in (1, 2, 3):
        page.click("#btn-epoch")
        page.wait_for_selector(f'#chart[data-points="{n}"]')
    first = api(server, "/api/state")["network"]
    again = browser.new_page()  # a reload, or the address shared: the same run from its seed
    again.goto(address)
    again.wait_for_selector("body[data-ready]")
    assert again.input_value("#seed") == "3" and again.is_checked('#crosses input[value="x1x2"]')
    assert again.input_value("#l2") == "0.03"
    for n in (1, 2, 3):
        again.click("#btn-epoch")
        again.wait_for_selector(f'#chart[data-points="{n}"]')
    second = api(server, "/api/state")["network"]
    again.close()
    assert second["inputs"] == ["x_1", "x_2", "x₁x₂"]
    assert second["weights"] == first["weights"] and second["biases"] == first["biases"]
    assert api(server, "/api/state")["settings"]["l2"] == 0.03


def test_every_neuron_of_a_2d_set_shows_its_heat_map(page):
    assert page.locator("#network image.heat").count() == 0  # the seed: a table, not a plane
    page.select_option("#dataset", "xor")
    page.wait_for_selector("#data svg.scatter")
    assert page.locator("#network image.heat").count() == 6 + 4 + 1


def test_the_seeds_step_preset_sets_the_seed_up_and_takes_its_first_step(page, server):
    page.select_option("#dataset", "xor")
    page.wait_for_selector("#data svg.scatter")
    page.select_option("#preset", "seed-step")
    page.wait_for_selector('#network[data-stage="update"]')
    assert page.input_value("#dataset") == "seed" and page.input_value("#preset") == ""
    assert page.locator('.wlabel[data-param="w^2_11"]').text_content().endswith("= 0.69904")
    page.click('#stages li[data-stage="backward"]')
    assert number(page.locator('.wlabel[data-param="w^1_11"]').text_content()) == 27360
    assert api(server, "/api/state")["step"] == 1


def test_your_turn_checks_a_typed_gradient_and_points_at_the_factor_that_differs(page):
    page.check("#practice")
    one_row(page)
    page.click('#stages li[data-stage="backward"]')
    label = page.locator('.wlabel[data-param="w^2_11"]')
    assert label.text_content() == "∂L/∂w²₁₁ = ?" and label.get_attribute("data-grad") is None
    assert page.locator("#network .neuron[data-delta]").count() == 0  # δ = ∂L/∂b: hidden too
    label.click()
    page.wait_for_selector("#panel .practice")
    assert "30096" not in page.inner_text("#panel")
    # ∂L/∂w²₁₁ = ∂L/∂ŷ · ∂ŷ/∂w²₁₁ = 342 · O₁₁ = 342 · 88; a student who takes x₁ = 80 for O₁₁:
    page.fill('#panel input[data-factor="∂L/∂ŷ"]', "342")
    page.fill('#panel input[data-factor="∂ŷ/∂w^2_11"]', "80")
    page.fill("#practice-answer", "27360")
    page.click("#panel .practice button[type=submit]")
    verdict = page.locator("#practice-verdict")
    assert verdict.text_content() == "not yet: the first factor that differs is ∂ŷ/∂w²₁₁ = O₁₁"
    assert page.evaluate("document.activeElement.dataset.factor") == "∂ŷ/∂w^2_11"
    assert label.text_content().endswith("= ?")
    page.fill("#practice-answer", "30300")  # 0.68 % off: still not right
    page.press("#practice-answer", "Enter")
    assert verdict.text_content().startswith("not yet")
    page.fill('#panel input[data-factor="∂ŷ/∂w^2_11"]', "88")
    page.fill("#practice-answer", "30200")  # 0.35 % off: right (0.5 % is close enough)
    page.press("#practice-answer", "Enter")
    page.wait_for_function("document.querySelector('#panel-body h2')?.textContent === '∂L/∂w²₁₁'")
    assert page.locator('.wlabel[data-param="w^2_11"]').text_content() == "∂L/∂w²₁₁ = 30096"
    assert page.locator('.wlabel[data-param="w^1_11"]').text_content().endswith("= ?")
    page.click('#network .neuron[data-param="b_21"] circle.body')
    page.wait_for_selector("#panel .practice")
    page.click("#panel .practice button[type=button]")  # show me
    page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'b_21'")
    assert deltas_shown(page) == {"δ21": 342}


def test_a_long_epoch_shows_its_progress_and_stops_when_the_page_goes(browser, slow_server):
    server = slow_server
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server.url)
    page.wait_for_selector("body[data-ready]")
    # 50,000 rows, 40,000 of them trained on: an epoch of single-row steps takes many
    # seconds, so the page asks /api/progress meanwhile and writes it under the network
    rows = b"".join(b"%d,%d,%d\n" % (i % 101, i % 7, i % 101 - i % 7) for i in range(50_000))
    page.set_input_files("#upload", files=[{"name": "long.csv", "mimeType": "text/csv",
                                            "buffer": b"a,b,y\n" + rows}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    page.click("#btn-epoch")
    page.wait_for_selector("#status[data-progress]")
    # the attribute and the text read at one moment (the next poll may change both)
    progress, text = page.evaluate("() => { const s = document.getElementById('status');"
                                   " return [s.dataset.progress, s.innerText]; }")
    assert text == f"epoch 1: row {int(progress):,} of 40,000 …"
    page.close()  # the epoch's request goes with the page, and the server stops it
    for _ in range(100):
        progress = api(server, "/api/progress")
        if not progress["running"]:
            break
        time.sleep(0.05)
    assert not progress["running"] and 0 < progress["row"] < 40_000


def test_the_sigmoid_2_2_2_preset_shows_its_known_step(page, server):
    # chainrule explain --example sigmoid-2-2-2 prints E = 0.298371, ∂E/∂w^2_11 = 0.082167,
    # w^2_11 ← 0.358916, w^1_11 ← 0.149781, b_21 ← 0.530751, ŷ_1 = 0.751365
    page.select_option("#preset", "example:sigmoid-2-2-2")
    page.wait_for_selector('#network[data-stage="update"]')
    assert page.input_value("#dataset") == "sigmoid-2-2-2"
    assert page.input_value("#output_activation") == "sigmoid"
    assert page.input_value("#loss") == "sse_half" and page.input_value("#init") == "example"
    label = lambda param: page.locator(f'.wlabel[data-param="{param}"]').text_content()  # noqa: E731
    assert label("w^2_11").startswith("w²₁₁ = 0.358916") and label("w^1_11").startswith("w¹₁₁ = 0.149781")
    assert page.locator('.blabel[data-param="b_21"]').text_content().startswith("b₂₁ = 0.530751")
    assert page.locator("#network .loss-badge").text_content().startswith("L: 0.298371 → ")
    assert "ŷ₁: 0.751365 → " in page.locator("#network").text_content()
    page.click('#stages li[data-stage="backward"]')
    assert label("w^2_11") == "∂L/∂w²₁₁ = 0.082167"
    assert deltas_shown(page) == pytest.approx({"δ21": 0.138499, "δ22": -0.0380982,
                                                "δ11": 0.00877135, "δ12": 0.00995425}, rel=5e-6)


def test_every_neurons_delta_is_explains_for_a_served_2_3_2_example(browser):
    """chainrule serve --example FILE (a 2-3-2 sigmoid network, sse_half): the page opens on
    it, and the δ in each neuron of the backward stage is explain --format json's."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from chainrule.web.server import Playground

    example = Path(__file__).parent / "data" / "sigmoid-2-3-2.toml"
    out = subprocess.run([sys.executable, "-m", "chainrule", "explain", "--example",
                          str(example), "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    table = {eq["lhs"].split(" ")[0].replace("^", "").replace("_", ""): eq["value"]
             for eq in json.loads(out)["rows"][0]["deltas"]}
    served = Playground(example=str(example)).start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(served.url + "?stage_ms=30")
        page.wait_for_selector("body[data-ready]")
        assert page.input_value("#dataset") == "example"
        assert page.locator('#preset option[value="example:example"]').text_content() == \
            "a 2-3-2 sigmoid network: its step"
        page.click("#btn-row")
        page.wait_for_selector('#network[data-stage="update"]')
        page.click('#stages li[data-stage="backward"]')
        shown = deltas_shown(page)
        assert len(shown) == 5 and shown == pytest.approx(table, rel=1e-12)
        page.close()
    finally:
        served.stop()


def test_the_panel_colours_each_factor_as_its_place_in_the_diagram_and_has_the_delta_table(page):
    # The seed's ∂L/∂w^1_11 = ∂L/∂ŷ · ∂ŷ/∂O_11 · ∂O_11/∂w^1_11 = 342 · w^2_11 · x_1: the first
    # factor lives at the output neuron, the second on the arrow w^2_11, the third at input 1
    page.click('.wlabel[data-param="w^1_11"]')
    page.wait_for_selector("#panel tr.factor")
    rows = page.locator("#panel tr.factor")
    assert rows.count() == 3
    places = [rows.nth(n).get_attribute("data-place") for n in range(3)]
    assert places == ['g.neuron[data-param="b_21"]', 'g.weight[data-param="w^2_11"]',
                      'g.input[data-input="1"]']
    colour = lambda locator: locator.evaluate(  # noqa: E731
        "e => getComputedStyle(e).getPropertyValue('--factor').trim()")
    wanted = [colour(rows.nth(n)) for n in range(3)]
    assert len(set(wanted)) == 3
    for place, want in zip(places, wanted):
        assert colour(page.locator(f"#network {place}")) == want
    # drawn in that colour: the arrow's line, the neuron's ring, the input's box
    stroke = lambda selector: page.locator(selector).evaluate("e => getComputedStyle(e).stroke")  # noqa: E731
    rgb = lambda hex_: "rgb({}, {}, {})".format(*(int(hex_[i:i + 2], 16) for i in (1, 3, 5)))  # noqa: E731
    assert stroke('#network g.weight[data-param="w^2_11"] line.edge') == rgb(wanted[1])
    assert stroke('#network g.neuron[data-param="b_21"] circle.body') == rgb(wanted[0])
    assert stroke('#network g.input[data-input="1"] rect') == rgb(wanted[2])
    assert page.locator("#panel tr.factor td.symbol").first.evaluate("e => getComputedStyle(e).color") \
        == rgb(wanted[0])
    # the δ table, as explain writes it: δ²₁ = −2(5 − 176) = 342, passed back through w = 1
    table = page.locator("#panel details.delta-table")
    table.locator("summary").click()
    lines = table.locator(".eq")
    assert lines.count() == 3
    texts = [lines.nth(n).text_content() for n in range(3)]
    assert [t.split(" ")[0] for t in texts] == ["δ²₁", "δ¹₁", "δ¹₂"]
    assert all(t.split("= ")[-1] == "342" for t in texts)


def test_l2_shows_in_the_loss_stage_the_panel_and_the_update(page):
    # λ = 0.1 on the seed's first step: the penalty (λ/2)·Σθ² = 0.05 · 6 = 0.3 (six weights
    # of 1), ∂L/∂w^2_11 + λ·w^2_11 = 30096 + 0.1 = 30096.1, w^2_11 ← 1 − 1e-5 · 30096.1
    page.fill("#l2", "0.1")
    page.press("#l2", "Enter")
    page.wait_for_function("location.search.includes('l2=0.1')")
    one_row(page)
    page.click('#stages li[data-stage="loss"]')
    assert "L + (λ/2)·Σθ² = 29241 + 0.3 = 29241.3" in page.inner_text("#stage-text")
    page.click('#stages li[data-stage="update"]')
    assert "θ ← θ − η · (∂L/∂θ + λ · θ)" in page.inner_text("#stage-text")
    assert page.locator('.wlabel[data-param="w^2_11"]').text_content().startswith("w²₁₁ = 0.699039")
    page.click('.wlabel[data-param="w^2_11"]')
    page.wait_for_selector("#panel .eq.l2")
    assert page.locator("#panel .eq.l2").inner_text().replace("\n", " ").endswith("= 30096.1")
    assert "0.699039" in page.locator("#panel .eq.update").inner_text()


def test_the_output_activation_and_loss_are_chosen_in_the_page(page, server):
    page.select_option("#output_activation", "sigmoid")
    page.wait_for_function("location.search.includes('output_activation=sigmoid')")
    page.select_option("#loss", "sse_half")
    page.wait_for_function("location.search.includes('loss=sse_half')")
    state = api(server, "/api/state")
    assert state["network"]["activations"] == ["linear", "sigmoid"]
    assert state["loss"]["name"] == "sse_half"
    assert page.locator("#network .caption.act").all_text_contents() == ["f = linear", "f = sigmoid"]
    # ŷ = σ(176) to six digits is 1, and the loss ½(5 − 1)² = 8 shows after a row
    one_row(page)
    page.click('#stages li[data-stage="loss"]')
    assert "L = 8" in page.inner_text("#stage-text")
    page.select_option("#loss", "bce")  # for classes: refused, the page keeps the loss it has
    page.wait_for_selector("#message.error:not([hidden])")
    assert "bce is for classes" in page.inner_text("#message")
    assert page.input_value("#loss") == "sse_half"
