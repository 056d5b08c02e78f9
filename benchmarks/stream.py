"""Streaming from CSV against parsing alone, and 1 against 2 Dask workers (issue 18).

    python3 benchmarks/stream.py                # 1,000,000 S1-like rows (about 36 MB of CSV)
    python3 benchmarks/stream.py 200000         # fewer rows
    python3 benchmarks/stream.py 1000000 --no-dask --repeat 7

Rows made like the seed's table (two inputs, one target, 2-2-1 linear, SGD η = 0.01,
batch 1).  Timed after one warm-up run that compiles the fused loop, each step
``--repeat`` times (default 5), parse and streamed steps interleaved so that the load of
a shared machine falls on both alike; printed: the median and the range, each step's
median ratio to the parse of the same round, and its fastest time against the fastest
parse (the least noisy measure of what each costs on an idle machine):

- ``parse``: ``pyarrow.csv.read_csv`` of the file, nothing else (the floor; on all cores),
  after one parse not timed (the steady state: right after the run with no spool the first
  parse was ~40 % slower, which flattered the ratios below);
- ``parse, 1 thread``: the same with ``use_threads=False``;
- ``scan``: chainrule's streamed read of the file with the statistics (``stream.scan``),
  in the blocks ``fit`` reads with the default memory budget (a quarter of the machine's:
  from 1 GiB, a CSV's blocks are parsed several at once, one thread a core);
- ``stream epoch``: ``fit(model, path, epochs=1, shuffle_buffer=N/10)`` with its defaults:
  the first pass (statistics; the CSV's numbers spooled), one epoch read block by block
  through a shuffle buffer of a tenth of the rows, and the pass that scores R²;
- ``later epoch``: what each epoch after the first adds, (fit with 3 epochs − fit with
  1) / 2: an epoch and its scoring pass, read from the spool;
- ``stream epoch, no spool``: the first with ``spool=False`` (the text parsed every pass);
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
    args = sys.argv[1:]
    dask = "--no-dask" not in args
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 5
    numbers = [a for k, a in enumerate(args)
               if a.isdigit() and (k == 0 or args[k - 1] != "--repeat")]
    rows = int(numbers[0]) if numbers else 1_000_000
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 2)) * [15.0, 1.5] + [70.0, 3.0]
    y = 0.5 * X[:, 0] - 2.0 * X[:, 1] + rng.normal(size=rows)
    folder = tempfile.mkdtemp(prefix="chainrule-bench-")
    try:
        _run(os.path.join(folder, "s1.csv"), X, y, rows, repeat, dask)
    finally:  # (the CSV is tens of MB: never left behind)
        shutil.rmtree(folder, ignore_errors=True)


def _clock(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _run(path: str, X: np.ndarray, y: np.ndarray, rows: int, repeat: int, dask: bool) -> None:
    """Write the CSV at ``path`` and time each way of training on it."""
    import pyarrow.csv as pcsv

    import chainrule
    from chainrule import train
    from chainrule.stream import chunks, default_memory, scan

    with open(path, "w") as fh:
        fh.write("hours,sleep,score\n")
        np.savetxt(fh, np.column_stack([X, y]), delimiter=",", fmt="%.10g")
    size = os.path.getsize(path) / 1e6
    print(f"{rows:,} rows, {size:.0f} MB of CSV, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; median (range) of {repeat}, × the parse of the same round")

    model = lambda: chainrule.mlp([2, 2, 1], seed=0)  # noqa: E731
    buffer = max(rows // 10, 1)

    def streamed(epochs: int = 1, **extra) -> None:
        train.fit(model(), path, epochs=epochs, scale="standard", shuffle_buffer=buffer,
                  engine="fused", **extra)

    streamed()  # warm-up (compiles the loop)
    steps = {
        "parse (pyarrow)": lambda: pcsv.read_csv(path),
        "parse, 1 thread": lambda: pcsv.read_csv(path, read_options=pcsv.ReadOptions(
            use_threads=False)),
        "scan": lambda: scan(chunks(path).fit_blocks(default_memory())),
        "stream epoch": streamed,
        "3 epochs": lambda: streamed(3),
        "stream epoch, no spool": lambda: streamed(spool=False),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):  # (interleaved: each round's parse is measured beside its steps)
        # one parse not timed first: the step before (a run with no spool) leaves memory to
        # be found again, and the first parse after it took 0.087 s (median) against 0.06
        pcsv.read_csv(path)
        for name, work in steps.items():
            times[name].append(_clock(work))
    times["later epoch"] = [(a - b) / 2 for a, b in zip(times.pop("3 epochs"),
                                                         times["stream epoch"])]
    parse = np.asarray(times["parse (pyarrow)"])
    for name, seconds in times.items():
        s = np.asarray(seconds)
        r = s / parse
        ratio = "" if name.startswith("parse (") else \
            f"  {np.median(r):5.2f}× parse ({r.min():.2f}–{r.max():.2f}); best against " \
            f"best {s.min() / parse.min():.2f}×"
        print(f"  {name:<24} {np.median(s):7.3f} s ({s.min():.3f}–{s.max():.3f}){ratio}")
    if not dask:
        return
    try:
        from chainrule.cluster import connect
    except ImportError:
        return
    for workers in (1, 2):
        client = connect(f"local:{workers}")
        try:
            seconds = _clock(lambda: train.fit(
                model(), X, y, epochs=1, scale="standard", cluster=client, sync_every=1000,
                engine="fused"))
            print(f"  {f'Dask {workers} worker(s)':<24} {seconds:7.3f} s (once)")
        finally:
            cluster = client.cluster
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
