"""One process against 1 and 2 Dask workers on S3-like data (issue 18).

S3's shape (``benchmarks/run.py``): a 784-256-128-10 ReLU network, cross-entropy, SGD with
momentum 0.9, batches of 128, synthetic float32 rows (60,000 by default, as S3).  Timed:

- ``one process``: ``fit(model, X, y)``;
- ``Dask, W workers``: the same with ``cluster=client`` on a ``LocalCluster`` of W
  one-thread worker processes on 127.0.0.1, ``sync_every`` rows per worker a round
  (default 6,400: 50 batches); each round sends the weights and the momentum buffers
  (~1.9 MB in float32) to each worker and back.

Each is measured as a run of 1 epoch and one of 1 + EPOCHS: their difference over EPOCHS
is the time an epoch takes once running, the rest is the run's set-up (for Dask: the rows
sent to each worker, each worker's Trainer built).  The speed-up is one process's time an
epoch over W workers', in the same run.  The one process gets one BLAS thread
(``OPENBLAS_NUM_THREADS=1`` and its kin, set here unless given), as Dask gives each worker
process: on a loaded 2-core machine a multi-threaded BLAS thrashes (an S3-like epoch took
20× longer).  On a machine with 2 cores the client, the scheduler and two workers share
them: two workers can't be much faster than one there, whatever the algorithm.

First, chainrule's own cost of a round, without Dask: 200,000 S1-like rows (2-2-1),
``sync_every=1000`` (200 rounds an epoch), with ``InProcess`` standing in for the client
(each task called here), against plain ``fit``: the difference over 200 is what a round
costs beyond its steps (it was ~50 ms when a worker ran a whole ``fit`` a round).

    python3 benchmarks/cluster.py [SYNC_EVERY] [EPOCHS] [ROWS]
"""

from __future__ import annotations

import os
import sys
import time

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

import chainrule  # noqa: E402
from chainrule import train  # noqa: E402
from chainrule.cluster import connect  # noqa: E402


class InProcess:
    """A stand-in for a Dask client with one worker: each task runs here, at once."""

    def scheduler_info(self) -> dict:
        return {"workers": {"here": {}}}

    def scatter(self, value, **_):
        return value

    def submit(self, fn, *args, **_):
        return fn(*args)

    def gather(self, results):
        return results


def round_cost() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200_000, 2))
    y = X @ [1.0, 2.0] + 0.1 * rng.normal(size=200_000)
    model = chainrule.mlp([2, 2, 1], seed=0)
    common = dict(epochs=1, engine="fused", scale="standard", metrics=[], seed=0)
    train.fit(model, X[:2000], y[:2000], **common)  # the compiled loop, loaded
    times = {}
    for name, extra in (("fit", {}), ("200 rounds", dict(cluster=InProcess(), sync_every=1000))):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            train.fit(model, X, y, **common, **extra)
            runs.append(time.perf_counter() - start)
        times[name] = min(runs)
    each = (times["200 rounds"] - times["fit"]) / 200
    print(f"200,000 rows, 2-2-1: fit {times['fit']:.3f} s; in 200 rounds without Dask "
          f"{times['200 rounds']:.3f} s: {each * 1e3:.2f} ms a round beyond its steps")


def main() -> None:
    round_cost()
    sync_every = int(sys.argv[1]) if len(sys.argv) > 1 else 6400
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 60_000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    model = chainrule.mlp([784, 256, 128, 10], activation="relu", seed=0, dtype=np.float32)
    common = dict(loss="cross_entropy", batch_size=128, optimizer="sgd",
                  optimizer_options={"momentum": 0.9}, lr=0.01, seed=0, metrics=[])

    def seconds(**extra) -> tuple[float, float]:
        """(set-up, seconds an epoch) from a run of 1 epoch and one of 1 + ``epochs``."""
        times = []
        for count in (1, 1 + epochs):
            start = time.perf_counter()
            train.fit(model, X, y, epochs=count, **common, **extra)
            times.append(time.perf_counter() - start)
        each = (times[1] - times[0]) / epochs
        return times[0] - each, each

    print(f"S3-like: {n:,} rows, 784-256-128-10, batch 128, momentum 0.9; sync_every "
          f"{sync_every}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
    train.fit(model, X[:256], y[:256], epochs=1, **common)  # the compiled loop, loaded
    rows = [("one process", seconds())]
    for workers in (1, 2):
        client = connect(f"local:{workers}")
        try:
            rows.append((f"Dask, {workers} worker(s)", seconds(cluster=client,
                                                            sync_every=sync_every)))
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()
    base = rows[0][1][1]
    print(f"{'':22s} {'set-up s':>9s} {'s/epoch':>8s} {'speed-up':>9s}")
    for name, (setup, each) in rows:
        print(f"{name:22s} {setup:9.2f} {each:8.3f} {base / each:8.2f}×")

if __name__ == "__main__":
    main()
