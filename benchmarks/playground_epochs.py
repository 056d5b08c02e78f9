"""The web playground's play speed: epochs a second on xor with a 2-4-1 tanh network.

    python3 benchmarks/playground_epochs.py

Issue 16 asks for at least 50 epochs a second (TensorFlow Playground's feel).  Measured
here, in-process (no HTTP: what a request costs on top is the JSON of one state):

* the session's own epochs, asked for 1, 5 or 20 at a time (``/api/epoch`` with
  ``{"epochs": n}``): each request ends with one state for the page (decision regions,
  heat maps, the history), so more epochs a request share that cost;
* ``fit`` on the same 160 training rows and network, graph engine and fused engine: what
  one epoch costs the library itself, the ceiling for the session.

Each row: the median of five timed runs of a second's worth of requests, after one warm-up.
"""

from __future__ import annotations

import statistics
import time

from chainrule import fit, mlp
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


def main() -> None:
    rows = []
    session = Session()
    session.reset(SETTINGS)
    for n in (1, 5, 20):
        rows.append((f"playground session, {n} epoch(s) a request",
                     rate(lambda n=n: session.epoch({"epochs": n}), n)))
    data = toy("xor", 200, seed=0)
    X, y = data.X[:160], data.y[:160]
    for engine in ("graph", "fused"):
        model = mlp([2, 4, 1], activation="tanh", init="xavier", seed=0)
        rows.append((f"fit, engine={engine} (the library's own epoch)",
                     rate(lambda m=model, e=engine: fit(m, X, y, loss="bce", lr=0.05, epochs=1,
                                                        batch_size=1, seed=0, scale="standard",
                                                        engine=e), 1)))
    best_session = max(r for name, r in rows if name.startswith("playground"))
    print(f"{'what':<52} {'epochs/s':>9} {'vs target':>10} {'vs session':>11}")
    for name, r in rows:
        print(f"{name:<52} {r:9.1f} {r / TARGET:9.2f}× {r / best_session:10.2f}×")
    print(f"target: {TARGET:g} epochs/s on xor 2-4-1 tanh (issue 16); "
          f"{'met' if best_session >= TARGET else 'missed'} by the session")


if __name__ == "__main__":
    main()
