"""One process against 1 and 2 Dask workers on S3-like data (issue 18).

S3's shape (``benchmarks/run.py``): a 784-256-128-10 ReLU network, cross-entropy, SGD with
momentum 0.9, batches of 128, 60,000 synthetic float32 rows.  Timed, after a warm-up
epoch of each (so a worker's Trainer and the compiled loop are ready, as in a long run):

- ``one process``: ``fit(model, X, y, epochs=1)``;
- ``Dask, W workers``: the same with ``cluster=client`` on a ``LocalCluster`` of W
  one-thread worker processes on 127.0.0.1, ``sync_every`` rows per worker a round
  (default 6,400: 50 batches, about 5 rounds an epoch with 2 workers); each round sends
  the weights and the momentum buffers (~1.9 MB in float32) to each worker and back.

The one process gets one BLAS thread (``OPENBLAS_NUM_THREADS=1`` and its kin, set here
unless given), as Dask gives each worker process: on a loaded 2-core machine a
multi-threaded BLAS thrashes (an S3-like epoch took 20× longer).  The speed-up is one
process's time over W workers' time, in the same run.  On a machine
with 2 cores the client, the scheduler and two workers share them: two workers can't
be much faster than one there, whatever the algorithm.

    python3 benchmarks/cluster.py [SYNC_EVERY] [EPOCHS] [ROWS]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

import chainrule  # noqa: E402
from chainrule import train  # noqa: E402
from chainrule.cluster import connect  # noqa: E402


def main() -> None:
    sync_every = int(sys.argv[1]) if len(sys.argv) > 1 else 6400
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 60_000
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    y = rng.integers(0, 10, n)
    model = chainrule.mlp([784, 256, 128, 10], activation="relu", seed=0, dtype=np.float32)
    common = dict(loss="cross_entropy", batch_size=128, optimizer="sgd",
                  optimizer_options={"momentum": 0.9}, lr=0.01, seed=0, metrics=[])

    def seconds(**extra) -> list[float]:
        train.fit(model, X, y, epochs=1, **common, **extra)  # warm-up
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            train.fit(model, X, y, epochs=1, **common, **extra)
            times.append(time.perf_counter() - start)
        return times

    print(f"S3-like: {n:,} rows, 784-256-128-10, batch 128, momentum 0.9; sync_every "
          f"{sync_every}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
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
    base = statistics.median(rows[0][1])
    print(f"{'':22s} {'median s/epoch':>15s} {'min':>7s} {'max':>7s} {'speed-up':>9s}")
    for name, times in rows:
        mid = statistics.median(times)
        print(f"{name:22s} {mid:15.3f} {min(times):7.3f} {max(times):7.3f} {base / mid:8.2f}×")


if __name__ == "__main__":
    main()
