"""What the browser tests share: Debian's chromium through playwright, a server of their own.

The tests start the server themselves (uvicorn in a thread on 127.0.0.1, a free port) and
drive Debian's ``chromium`` through the ``playwright`` package (never ``playwright
install``).  Without either, the tests that import this are skipped, saying which is missing.
"""

from __future__ import annotations

import json
import shutil
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


def number(text: str) -> float:
    """The number after '=' in a label like 'w²₁₁ = 0.69904' (the page writes − for minus)."""
    return float(text.rsplit("=", 1)[1].split("(")[0].strip().replace("−", "-"))


@pytest.fixture(scope="module")
def server():
    playground = Playground().start()
    yield playground
    playground.stop()


@pytest.fixture(scope="module")
def slow_server():
    """A server whose epochs step on the graph engine (``--engine graph``), so a long one
    lasts long enough to watch (the fused loop would end it in a fraction of a second)."""
    playground = Playground(engine="graph").start()
    yield playground
    playground.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def api(server, path: str, body: dict | None = None, upload: bytes | None = None) -> dict:
    """The server's JSON answer to a GET (no body), a JSON POST, or a CSV upload."""
    data = upload if upload is not None else None if body is None else json.dumps(body).encode()
    kind = "text/csv" if upload is not None else "application/json"
    request = urllib.request.Request(server.url + path.lstrip("/"), data=data,
                                     headers={"Content-Type": kind})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
