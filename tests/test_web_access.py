"""The playground's layout and access, in headless Chromium at a laptop's and a phone's size.

* No two texts of the diagram overlap (their bounding boxes, as the browser lays them out),
  for the seed, a 2-3-1 moons network and iris (4 inputs, 3 classes), in every stage.
* Text is sized in CSS pixels: at 150 % browser zoom a label is 1.5 times as many device
  pixels as at 100 % (the diagram no longer shrinks to fit the window).
* On a phone every control, stage and neuron is a tap target of at least 44 × 44 CSS pixels,
  and the derivation panel is a sheet below the diagram, not over it.
* The keyboard reaches and works everything; axe-core finds no serious or critical problem.

Screenshots of every stage at both sizes (the network's card, and the whole window) and at
150 % are kept as test artefacts for a person to look at: in ``$CHAINRULE_ARTEFACTS/playground/``
when that is set (CI keeps the folder), else ``tests/artifacts/playground/`` (git-ignored).
"""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import pytest

from browser_page import api, browser, server  # noqa: F401  (fixtures)

STAGES = ["forward", "loss", "backward", "update"]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(os.environ.get("CHAINRULE_ARTEFACTS") or Path(__file__).parent / "artifacts") \
    / "playground"


def iris_csv() -> bytes:
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris()
    out = io.StringIO()
    out.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
    for x, label in zip(iris.data, iris.target):
        out.write(",".join(f"{v:g}" for v in x) + f",{iris.target_names[label]}\n")
    return out.getvalue().encode()


NETWORKS = {  # how to set the session up, and the network's sizes
    "seed": ({"dataset": "seed"}, [2, 2, 1]),
    "moons": ({"dataset": "moons", "hidden": [3], "seed": 7}, [2, 3, 1]),
    "iris": ("iris.csv", [4, 4, 3]),
    "sigmoid-2-2-2": ({"dataset": "sigmoid-2-2-2"}, [2, 2, 2]),  # the worked example's preset
}


def set_up(server, name: str) -> None:
    how, sizes = NETWORKS[name]
    if isinstance(how, str):
        state = api(server, f"/api/upload?name={how}", upload=iris_csv())
    else:
        state = api(server, "/api/reset", how)
    assert state["network"]["sizes"] == sizes


def open_page(browser, server, viewport, scale: float = 1, touch: bool = False):
    context = browser.new_context(viewport=viewport, device_scale_factor=scale,
                                  has_touch=touch, is_mobile=touch)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "?stage_ms=30")
    page.wait_for_selector("body[data-ready]")
    return context, page, errors


def one_row(page) -> None:
    page.evaluate("document.getElementById('btn-row').click()")
    page.wait_for_selector('#network[data-stage="update"]')


def show_stage(page, stage: str) -> None:
    page.evaluate(f"document.querySelector('#stages li[data-stage={stage}] button').click()")
    page.wait_for_selector(f'#network[data-stage="{stage}"]')


TEXT_BOXES = """() => [...document.querySelectorAll('#network text')]
  .filter((t) => t.textContent.trim() && t.getAttribute('visibility') !== 'hidden')
  .map((t) => { const r = t.getBoundingClientRect();
                return [t.textContent, r.left, r.top, r.right, r.bottom]; })"""


SVG_BOX = """() => { const r = document.getElementById('network').getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom]; }"""


def cut(page, boxes: list) -> list[str]:
    """The texts that reach past the drawing's edges (they would be cut off)."""
    left, top, right, bottom = page.evaluate(SVG_BOX)
    return [b[0] for b in boxes
            if b[1] < left - 0.5 or b[2] < top - 0.5 or b[3] > right + 0.5 or b[4] > bottom + 0.5]


def overlapping(boxes: list) -> list[tuple[str, str]]:
    """The pairs of texts whose boxes share more than a hair (0.5 px) of area."""
    pairs = []
    for a, b in itertools.combinations(boxes, 2):
        wide = min(a[3], b[3]) - max(a[1], b[1])
        tall = min(a[4], b[4]) - max(a[2], b[2])
        if wide > 0.5 and tall > 0.5:
            pairs.append((a[0], b[0]))
    return pairs


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_no_two_texts_of_the_diagram_overlap_or_are_cut_in_any_stage(browser, server, name, size):
    set_up(server, name)
    viewport = DESKTOP if size == "desktop" else PHONE
    context, page, errors = open_page(browser, server, viewport, touch=size == "phone")
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        idle = page.evaluate(TEXT_BOXES)
        checked = {"idle": overlapping(idle) + cut(page, idle)}
        one_row(page)
        for stage in STAGES:
            show_stage(page, stage)
            boxes = page.evaluate(TEXT_BOXES)
            assert len(boxes) >= 10, boxes  # the diagram was drawn with its labels
            checked[stage] = overlapping(boxes) + cut(page, boxes)
            page.locator("#network-card").screenshot(path=str(SHOTS / f"{name}-{size}-{stage}.png"))
            page.screenshot(path=str(SHOTS / f"{name}-{size}-{stage}-window.png"))
        assert all(not pairs for pairs in checked.values()), checked
        # a label with no free place is dropped, never squeezed: the rest of the labels are
        # there (the seed's six weights all have room)
        if name == "seed":
            assert page.locator("#network .wlabel").count() == 6
    finally:
        context.close()
    assert not errors, errors


def label_device_pixels(page) -> float:
    return page.evaluate("""() => {
      const t = document.querySelector('#network .wlabel');
      return parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a * devicePixelRatio; }""")


def test_browser_zoom_grows_the_diagrams_labels(browser, server):
    # Chromium's 150 % zoom is a device scale of 1.5 over a viewport 1/1.5 as wide.
    set_up(server, "seed")
    sizes = {}
    for zoom in (1, 1.5):
        viewport = {"width": round(DESKTOP["width"] / zoom), "height": round(DESKTOP["height"] / zoom)}
        context, page, errors = open_page(browser, server, viewport, scale=zoom)
        sizes[zoom] = label_device_pixels(page)
        if zoom == 1.5:
            one_row(page)
            for stage in STAGES:
                show_stage(page, stage)
                page.screenshot(path=str(SHOTS / f"seed-zoom150-{stage}.png"))
        context.close()
        assert not errors, errors
    assert sizes[1] == pytest.approx(11)  # style.css: .wlabel 11px, drawn at scale 1
    assert sizes[1.5] >= 1.4 * sizes[1]


TAP_TARGETS = """() => [...document.querySelectorAll(
    '#controls button, #controls select, #controls input:not([type=checkbox]), ' +
    '#controls label:has(input[type=checkbox]), #stages button, #wave button, .zoom button, ' +
    '#panel button, #panel input, #network circle.body')]
  .filter((e) => e.getClientRects().length)
  .map((e) => { const r = e.getBoundingClientRect();
                return [e.id || e.textContent.trim() || e.tagName, r.width, r.height]; })"""


def test_on_a_phone_targets_are_big_enough_and_the_panel_leaves_the_diagram_in_sight(browser, server):
    set_up(server, "seed")
    context, page, errors = open_page(browser, server, PHONE, scale=3, touch=True)
    try:
        assert not page.is_visible("#dataset")  # the settings start folded away
        page.locator("#settings-toggle").tap()  # ... and all of them are measured
        assert page.is_visible("#dataset")
        one_row(page)
        show_stage(page, "backward")
        page.locator('#network .neuron[data-param="b_21"] circle.body').tap()
        page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'b_21'")
        page.wait_for_timeout(100)
        targets = page.evaluate(TAP_TARGETS)
        small = [t for t in targets if t[1] < 44 or t[2] < 44]
        assert len(targets) > 20 and not small, small
        hit = page.evaluate("getComputedStyle(document.querySelector('#network .hit')).strokeWidth")
        assert float(hit.removesuffix("px")) >= 44  # each arrow is a 44-pixel-wide target
        # the sheet covers the bottom of the screen; the diagram is above it, in sight
        sheet = page.locator("#panel").bounding_box()
        diagram = page.locator("#network").bounding_box()
        assert sheet["y"] + sheet["height"] == pytest.approx(PHONE["height"], abs=1)
        assert sheet["y"] > PHONE["height"] * 0.4
        assert diagram["y"] >= 0 and diagram["y"] + diagram["height"] <= sheet["y"]
        # wider than the phone, the diagram pans (its box scrolls sideways), never shrinks
        scroll = page.evaluate("[document.getElementById('diagram').scrollWidth, "
                               "document.getElementById('diagram').clientWidth]")
        assert scroll[0] > scroll[1]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(SHOTS / "seed-phone-panel.png"))
    finally:
        context.close()
    assert not errors, errors


def focused(page) -> str:
    return page.evaluate("""() => { const e = document.activeElement;
      return e.dataset?.param ?? e.closest('li')?.dataset.stage ?? e.id ?? e.tagName; }""")


def tab_to(page, target: str, presses: int = 60) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if focused(page) == target:
            return
    raise AssertionError(f"Tab never reached {target}")


def test_the_keyboard_reaches_and_works_everything(browser, server):
    set_up(server, "seed")
    context, page, errors = open_page(browser, server, DESKTOP)
    try:
        tab_to(page, "btn-row")
        page.keyboard.press("Enter")
        page.wait_for_selector('#network[data-stage="update"]')
        tab_to(page, "backward")  # the stage buttons are in the Tab order
        page.keyboard.press("Enter")
        page.wait_for_selector('#network[data-stage="backward"]')
        tab_to(page, "w^1_11")
        ring = "getComputedStyle(document.querySelector('#network .weight[data-param=\"w^1_11\"] .hit')).strokeOpacity"
        assert page.evaluate(ring) == "0.45"  # a visible focus ring on the arrow
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'w^1_11'")
        assert focused(page) == "w^1_11"  # the diagram was redrawn; the focus is where it was
        assert "27360" in page.inner_text("#panel")
        page.keyboard.press("Escape")
        page.wait_for_selector("#panel", state="hidden")
        assert focused(page) == "w^1_11"
        tab_to(page, "b_21")
        assert page.evaluate("getComputedStyle(document.querySelector("
                             "'#network .neuron[data-param=\"b_21\"] .focus-ring')).strokeWidth") == "3px"
        page.keyboard.press(" ")
        page.wait_for_function("document.querySelector('#panel-body h2')?.dataset.param === 'b_21'")
        assert focused(page) == "b_21" and page.evaluate("window.scrollY") == 0  # Space didn't scroll
        page.keyboard.press("Escape")
        assert focused(page) == "b_21"
    finally:
        context.close()
    assert not errors, errors


def serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_axe_finds_no_serious_problem_in_any_stage(browser, server, size):
    pytest.importorskip("axe_playwright_python", reason="pip install axe-playwright-python")
    set_up(server, "seed")
    context, page, errors = open_page(browser, server, DESKTOP if size == "desktop" else PHONE)
    try:
        found = {"idle": serious(page)}
        one_row(page)
        for stage in STAGES:
            show_stage(page, stage)
            found[stage] = serious(page)
        page.click('#network .neuron[data-param="b_11"] circle.body')
        page.wait_for_selector("#panel:not([hidden])")
        found["panel"] = serious(page)  # the factors in their colours, the δ table
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"seed-{size}-panel-window.png"))
        page.keyboard.press("Escape")
        if size == "phone":  # the settings are folded away on a phone
            assert not page.is_visible("#dataset")
            page.click("#settings-toggle")
        page.select_option("#preset", "example:sigmoid-2-2-2")  # a worked example's step
        page.wait_for_selector('#network[data-stage="update"]')
        found["example"] = serious(page)
        page.select_option("#dataset", "xor")  # the toy sets' knobs and heat maps
        page.wait_for_selector("#network image.heat")
        found["xor"] = serious(page)
        page.set_input_files("#upload", files=[{"name": "iris.csv", "mimeType": "text/csv",
                                                "buffer": iris_csv()}])
        page.wait_for_function("document.getElementById('dataset').value === 'upload' && "
                               "!document.body.classList.contains('busy')")
        assert page.is_visible("#inputs-pick")  # a CSV's target and inputs
        found["iris"] = serious(page)
        assert all(not v for v in found.values()), found
    finally:
        context.close()
    assert not errors, errors


def test_a_dropped_label_shows_its_value_while_its_arrow_has_the_focus(browser, server):
    api(server, "/api/reset", {"dataset": "seed", "hidden": [16, 16]})  # 304 arrows: no labels
    context, page, errors = open_page(browser, server, DESKTOP)
    try:
        assert page.locator("#network .wlabel").count() == 0
        assert page.locator("#network .weight.dropped").count() == 2 * 16 + 16 * 16 + 16
        tab_to(page, "w^1_11")
        tip = page.locator("#network .focus-tip")
        assert tip.get_attribute("visibility") == "visible"
        assert tip.text_content() == "w¹₁₁ = 1"  # init "ones"
        page.keyboard.press("Tab")
        assert focused(page) == "w^1_12" and tip.text_content() == "w¹₁₂ = 1"
        page.evaluate("document.activeElement.blur()")
        assert tip.get_attribute("visibility") == "hidden"
    finally:
        context.close()
    assert not errors, errors
