"""The web playground's play speed: epochs a second on xor with a 2-4-1 tanh network.

    python3 benchmarks/playground_epochs.py

Issue 16 asks for at least 50 epochs a second (TensorFlow Playground's feel).  The page
plays by asking ``/api/epoch`` for as many epochs a request as take about a quarter of a
second (``PLAY_MS`` in main.js), so what matters is epochs a second at several epochs a
request.  Measured here:

* the session (``chainrule serve``'s: the fused loop compiled in the background, then
  taken at the next request) asked for 1, 5, 20 or 100 epochs a request, in-process; each
  request ends with one state for the page (decision regions, heat maps, the history), so
  more epochs a request share that cost;
* the same through HTTP (``chainrule serve``'s uvicorn on 127.0.0.1, ``urllib``): the
  JSON encoding and the transport on top;
* the session pinned to the graph engine (``chainrule serve --engine graph``);
* ``fit`` on the same 160 training rows and network, graph engine and fused engine: what
  one epoch costs the library itself, the ceiling for the session.

Each row: the median of five timed runs of a second's worth of requests, after one warm-up.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request

from chainrule import fit, mlp
from chainrule.web.server import Playground
from chainrule.web.session import Session
from chainrule.web.toys import toy

TARGET = 50.0  # epochs a second
SETTINGS = {"dataset": "xor", "hidden": [4], "activation": "tanh", "seed": 0}


def rate(fn, epochs_per_call: int, seconds: float = 1.0, rounds: int = 5) -> float:
    """Median epochs a second of ``fn`` (one call runs ``epochs_per_call`` epochs)."""
    fn()
    rates = []
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fn()
            calls += 1
        rates.append(calls * epochs_per_call / (time.perf_counter() - start))
    return statistics.median(rates)


def post(url: str, path: str, body: dict) -> bytes:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()


def compiled_session() -> Session:
    """A session as ``chainrule serve`` makes it, once its background compile has ended."""
    session = Session(compile=True)
    session.reset(SETTINGS)
    if session.run.warming is not None:
        session.run.warming.join()
    session.epoch()  # takes the compiled loop
    assert session.run.trainer.plan is not None, "the fused loop could not be compiled here"
    return session


def main() -> None:
    rows = []
    session = compiled_session()
    for n in (1, 5, 20, 100):
        rows.append((f"session (fused), {n} epoch(s) a request",
                     rate(lambda n=n: session.epoch({"epochs": n}), n)))
    server = Playground(compile=True).start()  # uvicorn on 127.0.0.1, as chainrule serve
    try:
        post(server.url, "api/reset", SETTINGS)  # compiled above already: fused from the start
        for n in (5, 20):
            rows.append((f"chainrule serve over HTTP, {n} epochs a request",
                         rate(lambda n=n: post(server.url, "api/epoch", {"epochs": n}), n)))
    finally:
        server.stop()
    graph = Session(engine="graph")
    graph.reset(SETTINGS)
    rows.append(("session (graph), 5 epochs a request",
                 rate(lambda: graph.epoch({"epochs": 5}), 5)))
    data = toy("xor", 200, seed=0)
    X, y = data.X[:160], data.y[:160]
    for engine in ("graph", "fused"):
        model = mlp([2, 4, 1], activation="tanh", init="xavier", seed=0)
        rows.append((f"fit, engine={engine} (the library's own epoch)",
                     rate(lambda m=model, e=engine: fit(m, X, y, loss="bce", lr=0.05, epochs=1,
                                                        batch_size=1, seed=0, scale="standard",
                                                        engine=e), 1)))
    best_session = max(r for name, r in rows if name.startswith("session (fused)"))
    print(f"{'what':<52} {'epochs/s':>9} {'vs target':>10} {'vs session':>11}")
    for name, r in rows:
        print(f"{name:<52} {r:9.1f} {r / TARGET:9.2f}× {r / best_session:10.2f}×")
    print(f"target: {TARGET:g} epochs/s on xor 2-4-1 tanh (issue 16); "
          f"{'met' if best_session >= TARGET else 'missed'} by the session")


if __name__ == "__main__":
    main()
