"""Streaming from CSV against parsing alone, and 1 against 2 Dask workers (issue 18).

    python3 benchmarks/stream.py            # 1,000,000 S1-like rows (about 40 MB of CSV)
    python3 benchmarks/stream.py 200000     # fewer rows

Rows made like the seed's table (two inputs, one target, 2-2-1 linear, SGD η = 0.01,
batch 1).  Timed after one warm-up run that compiles the fused loop, the best of three
(the machine it ran on is shared: the best is the least disturbed):

- ``parse``: ``pyarrow.csv.read_csv`` of the file, nothing else (the floor);
- ``scan``: chainrule's one pass for the scaling statistics (``stream.scan``);
- ``stream epoch``: ``fit(model, path, epochs=1, shuffle_buffer=N/10)`` with its defaults:
  the first pass (statistics; the CSV's numbers spooled), one epoch read block by block
  through a shuffle buffer of a tenth of the rows, and the pass that scores R²;
- ``stream epoch, no spool``: the same with ``spool=False`` (the text parsed on every pass);
- ``Dask 1 / 2 workers``: ``fit(..., cluster=…, sync_every=1000)`` on the rows in memory,
  one epoch, a ``LocalCluster`` of one-thread processes.  On a 2-core machine two
  workers and the client share the cores: read the speed-up with that in mind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 2)) * [15.0, 1.5] + [70.0, 3.0]
    y = 0.5 * X[:, 0] - 2.0 * X[:, 1] + rng.normal(size=rows)
    folder = tempfile.mkdtemp(prefix="chainrule-bench-")
    try:
        _run(os.path.join(folder, "s1.csv"), X, y, rows)
    finally:  # (the CSV is tens of MB: never left behind)
        shutil.rmtree(folder, ignore_errors=True)


def _run(path: str, X: np.ndarray, y: np.ndarray, rows: int) -> None:
    """Write the CSV at ``path`` and time each way of training on it."""
    import pyarrow.csv as pcsv

    import chainrule
    from chainrule import train
    from chainrule.stream import chunks, scan

    with open(path, "w") as fh:
        fh.write("hours,sleep,score\n")
        np.savetxt(fh, np.column_stack([X, y]), delimiter=",", fmt="%.10g")
    size = os.path.getsize(path) / 1e6
    print(f"{rows:,} rows, {size:.0f} MB of CSV, {os.cpu_count()} cores")

    def timed(name: str, work, base: float | None = None, repeat: int = 3) -> float:
        seconds = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            work()
            seconds = min(seconds, time.perf_counter() - start)
        ratio = f"  ({seconds / base:.2f}× parse)" if base else ""
        print(f"  {name:<22} {seconds:8.3f} s{ratio}")
        return seconds

    model = lambda: chainrule.mlp([2, 2, 1], seed=0)  # noqa: E731
    train.fit(model(), path, epochs=1, scale="standard", shuffle_buffer=max(rows // 10, 1),
              engine="fused")  # warm-up
    parse = timed("parse (pyarrow)", lambda: pcsv.read_csv(path))
    timed("scan", lambda: scan(chunks(path)), parse)
    timed("stream epoch", lambda: train.fit(model(), path, epochs=1, scale="standard",
                                            shuffle_buffer=max(rows // 10, 1), engine="fused"),
          parse)
    timed("stream epoch, no spool", lambda: train.fit(
        model(), path, epochs=1, scale="standard", shuffle_buffer=max(rows // 10, 1),
        engine="fused", spool=False), parse)
    try:
        from chainrule.cluster import connect
    except ImportError:
        return
    for workers in (1, 2):
        client = connect(f"local:{workers}")
        try:
            timed(f"Dask {workers} worker(s)", lambda: train.fit(
                model(), X, y, epochs=1, scale="standard", cluster=client, sync_every=1000,
                engine="fused"), repeat=1)
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
