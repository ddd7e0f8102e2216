"""Load generators that are not the bottleneck: `wrk` (compiled, Debian's package) for REST and
a multi-process asyncio client for gRPC, both at a fixed concurrency for a fixed time.

Used by bench/serving.py; each returns {"p50_ms", "p99_ms", "per_second"}.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time

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
            ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{seconds}s", "--latency",
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


def _grpc_worker(target: str, method: str, request: bytes, inflight: int, seconds: float, out):
    import asyncio

    import grpc

    async def main():
        async with grpc.aio.insecure_channel(target) as channel:
            call = channel.unary_unary(method)
            latencies: list[float] = []
            deadline = time.perf_counter() + seconds

            async def loop():
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    await call(request, timeout=30)
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(loop() for _ in range(inflight)))
            return latencies

    out.put(asyncio.run(main()))


def grpc_load(target: str, method: str, request: bytes, concurrency: int, seconds: float) -> dict:
    """`concurrency` calls in flight (over up to 2 processes) of a serialized request."""
    processes = min(concurrency, 2)
    queue = multiprocessing.get_context("spawn").Queue()
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    workers = [
        multiprocessing.get_context("spawn").Process(
            target=_grpc_worker, args=(target, method, request, share, seconds, queue)
        )
        for share in shares
    ]
    started = time.perf_counter()
    for w in workers:
        w.start()
    latencies = [x for _ in workers for x in queue.get(timeout=seconds + 120)]
    wall = time.perf_counter() - started
    for w in workers:
        w.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    # Process start-up is not load: the rate is over the measured window only.
    return {
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "per_second": len(latencies) / min(wall, seconds),
    }
