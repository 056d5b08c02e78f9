"""Reading a big CSV: chainrule.read_csv against pandas and Python's csv module, one run.

    python3 benchmarks/csv_read.py            # 200,000 rows × 20 columns (about 82 MB)
    python3 benchmarks/csv_read.py 50000      # another number of rows

The table is written once into a temporary folder (random normal numbers, 17 significant
digits, a header line), then each reader reads it into a float64 array of the same
numbers: chainrule's ``read_csv`` (inputs and target, every cell checked), pandas'
``read_csv`` (its C parser) and the standard library's ``csv`` module with ``float``
per cell (what chainrule did before it read through pyarrow).  Each reader runs once to
warm the page cache and its imports, then ``RUNS`` timed times; the table shows the
median and the ratio to pandas measured in the same run (> 1: faster than pandas).
"""

from __future__ import annotations

import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

import chainrule as cr

RUNS = 3


def write_table(path: Path, rows: int, columns: int = 20) -> None:
    data = np.random.default_rng(0).standard_normal((rows, columns))
    with open(path, "w") as fh:
        fh.write(",".join(f"c{i}" for i in range(columns)) + "\n")
        np.savetxt(fh, data, delimiter=",", fmt="%.17g")


def by_python(path: Path) -> np.ndarray:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return np.array([[float(cell) for cell in row] for row in reader])


def timed(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: page cache, imports
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main(argv: list[str]) -> None:
    rows = int(argv[0]) if argv else 200_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        write_table(path, rows)
        size = path.stat().st_size / 1e6
        peers: dict[str, Callable[[], object]] = {"chainrule read_csv": lambda: cr.read_csv(path)}
        try:
            import pandas as pd

            peers["pandas read_csv"] = lambda: pd.read_csv(path).to_numpy()
        except ImportError:  # pragma: no cover - optional peer
            print("pandas is not installed: no pandas row")
        peers["Python csv + float"] = lambda: by_python(path)
        times = {name: timed(fn, 1 if name.startswith("Python") else RUNS)
                 for name, fn in peers.items()}
    print(f"CSV reading: {rows:,} rows × 20 columns, {size:.0f} MB, float64 (median of "
          f"{RUNS} runs; the Python reader: 1 run)")
    base = times.get("pandas read_csv")
    for name, seconds in times.items():
        ratio = f"{base / seconds:6.2f} × pandas" if base else ""
        print(f"  {name:<20} {seconds:7.3f} s   {size / seconds:7.0f} MB/s   {ratio}")


if __name__ == "__main__":
    main(sys.argv[1:])
