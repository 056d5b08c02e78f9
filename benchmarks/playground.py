"""The playground under load: 400 requests over 20 concurrent connections to a live server.

    python3 benchmarks/playground.py                  # 400 requests, 20 connections
    python3 benchmarks/playground.py --requests 2000 --connections 50

Starts ``chainrule serve`` on 127.0.0.1 (a free port) and opens the connections (each
asks for ``/api/options`` first, not timed); then, all at once, each sends its share of requests one after another on its own keep-alive connection,
taking turns between ``POST /api/step`` (JSON, as the page sends it: one row through the
four stages, so every request changes the session and takes the lock) and
``GET /api/state``.  Prints the errors (any answer but 200, or a failed connection) and
the latency's median, 99th percentile and maximum, with the request rate.  Issue 20 measured
p50 57 ms and p99 102 ms on the 2-core machine of benchmarks/README.md, with 0 errors;
the security checks (``web/guard.py``) must keep it there.  Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit


def start() -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "serve"], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline()
    found = re.search(r"http://\S+/", line)
    if found is None:
        proc.kill()
        sys.exit(f"chainrule serve did not start: {line}{proc.stderr.read()}")
    parts = urlsplit(found.group(0))
    return proc, parts.hostname, parts.port


def client(host: str, port: int, count: int, times: list[float], errors: list[str],
           go: threading.Event) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/api/options")  # connected, and the server warmed up: not timed
    conn.getresponse().read()
    go.wait()
    for i in range(count):
        method, path, body = ("POST", "/api/step", b"") if i % 2 == 0 else \
            ("GET", "/api/state", None)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        began = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{method} {path}: {response.status}")
        except OSError as exc:
            errors.append(f"{method} {path}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=60)
        times.append(time.perf_counter() - began)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--connections", type=int, default=20)
    args = parser.parse_args()
    proc, host, port = start()
    try:
        times: list[float] = []
        errors: list[str] = []
        go = threading.Event()
        share = [args.requests // args.connections + (i < args.requests % args.connections)
                 for i in range(args.connections)]
        threads = [threading.Thread(target=client, args=(host, port, n, times, errors, go))
                   for n in share]
        for t in threads:
            t.start()
        began = time.perf_counter()
        go.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    print(f"{len(ms)} requests over {args.connections} connections in {wall:.2f} s "
          f"({len(ms) / wall:.0f} requests/s): {len(errors)} errors")
    print(f"latency p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms "
          "(issue 20's reference: p50 57 ms, p99 102 ms, 0 errors)")
    for e in errors[:10]:
        print("  error:", e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
