"""Load generators that are not the bottleneck: `wrk` for REST and `h2load` for gRPC (both
compiled, from Debian's packages wrk and nghttp2-client), at a fixed concurrency for a fixed
time.

Used by bench/serving.py; each returns {"p50_ms", "p99_ms", "per_second"}.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

_LUA = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, body: bytes, concurrency: int, seconds: float) -> dict:
    """POST `body` to `url` from `concurrency` keep-alive connections for `seconds`."""
    if not have_wrk():
        raise SystemExit(
            "wrk is not installed: `apt-get install wrk` (Debian) or `brew install wrk`"
        )
    with tempfile.TemporaryDirectory() as tmp:
        body_path, script = os.path.join(tmp, "body.json"), os.path.join(tmp, "post.lua")
        with open(body_path, "wb") as f:
            f.write(body)
        with open(script, "w") as f:
            f.write(_LUA.format(body=body_path))
        threads = str(min(concurrency, 2))
        out = subprocess.run(
            ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{seconds:g}s", "--latency",
             "-s", script, url],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk got error answers:\n{out}")
    return {
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def have_h2load() -> bool:
    return shutil.which("h2load") is not None


def grpc_h2load(url: str, method: str, request: bytes, concurrency: int, seconds: float) -> dict:
    """Unary gRPC calls of a serialized `request` to `method` at `url` (http://host:port) from
    `concurrency` HTTP/2 connections, one call in flight on each, for `seconds`.

    h2load (nghttp2's compiled load generator) speaks HTTP/2, and a unary gRPC call is an
    HTTP/2 POST of the length-prefixed message with two headers. It cannot read grpc-status
    (a trailer), so the caller checks the server's error counters around the run."""
    if not have_h2load():
        raise SystemExit(
            "h2load is not installed: `apt-get install nghttp2-client` (Debian) or "
            "`brew install nghttp2`"
        )
    framed = b"\x00" + len(request).to_bytes(4, "big") + request  # uncompressed, length
    with tempfile.TemporaryDirectory() as tmp:
        body_path, log_path = os.path.join(tmp, "body.bin"), os.path.join(tmp, "requests.tsv")
        with open(body_path, "wb") as f:
            f.write(framed)
        out = subprocess.run(
            ["h2load", "-c", str(concurrency), "-m", "1", "-t", str(min(concurrency, 2)),
             "-D", f"{seconds:g}", "--warm-up-time", "1", "-d", body_path,
             "-H", "content-type: application/grpc", "-H", "te: trailers",
             "--log-file", log_path, url.rstrip("/") + method],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        with open(log_path) as f:
            rows = [line.split("\t") for line in f if line.strip()]
    statuses = {row[1] for row in rows}
    if statuses != {"200"}:
        raise RuntimeError(f"h2load got HTTP statuses {sorted(statuses)}:\n{out}")
    latencies = sorted(int(row[2]) / 1000 for row in rows)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "per_second": float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1)),
        "calls": len(latencies),
    }
