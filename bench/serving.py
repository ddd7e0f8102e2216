"""Serving benchmark: the model server over HTTP against an in-process call of the same
signature on the same rows (the limit the server can approach).

p50 / p99 latency and throughput at concurrency 1, 8 and 32, for 1-row and 64-row requests.
The server runs as `make serve` runs it (its own environment, request logging on); the load
generator and the in-process calls run here, on the same cores, one after the other.

    .venv/bin/python bench/serving.py [--registry model_registry] [--model penguins]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time

import pyarrow.csv as pacsv

from bench.common import percentile, save, spread
from kubetfx.components.ingest.core import builtin_penguins_path
from kubetfx.components.registry import ModelRegistry
from kubetfx.serving.models import load_servable
from kubetfx.serving.process import Client, ServerProcess, serving_python
from kubetfx.serving.requests import parse_tf_serving

SIZES = (1, 64)
CONCURRENCY = (1, 8, 32)


def _rows(features) -> list[dict]:
    table = pacsv.read_csv(builtin_penguins_path()).to_pylist()
    names = [f.name for f in features]
    return [{n: row.get(n) for n in names} for row in table]


def _bodies(rows: list[dict], size: int, count: int = 32) -> list[dict]:
    return [
        {"instances": [rows[(i * size + j) % len(rows)] for j in range(size)]} for i in range(count)
    ]


def _drive(call, bodies: list, concurrency: int, total: int) -> dict:
    """`total` calls spread over `concurrency` threads: latency percentiles and throughput."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = total // concurrency

    def worker(offset: int) -> None:
        state = call.setup() if hasattr(call, "setup") else None
        mine = []
        for i in range(per_thread):
            body = bodies[(offset + i) % len(bodies)]
            start = time.perf_counter()
            call(body, state)
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "per_second": len(latencies) / wall,
    }


class ServerCall:
    def __init__(self, url: str, model: str):
        self.url, self.path = url, f"/v1/models/{model}:predict"

    def setup(self) -> Client:
        return Client(self.url)

    def __call__(self, body: bytes, client: Client) -> None:
        status, _, answer = client.request("POST", self.path, body)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {answer}")


class InProcessCall:
    """The signature call the server makes for a request, on already-parsed inputs."""

    def __init__(self, servable):
        self.servable = servable

    def __call__(self, batch, _state) -> None:
        self.servable.predict(batch.signature, batch.inputs)


def run(registry_root: str, model: str, repeats: int, requests: int) -> dict:
    registry = ModelRegistry(registry_root, model)
    champion = registry.champion()
    if champion is None:
        sys.exit(f"no champion of {model!r} in {registry_root}: run `make run` first")
    servable = load_servable(model, champion["version"], champion["path"])
    rows = _rows(servable.features)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            serving_python(),
            ["--registry", registry_root, "--model", model, "--log-dir", tmp],
            f"{tmp}/server.log",
        )
        with server:
            server.wait_available(model, 180)
            server_call = ServerCall(server.url, model)
            for size in SIZES:
                bodies = _bodies(rows, size)
                raw = [json.dumps(b).encode() for b in bodies]
                batches = [parse_tf_serving(b, servable.contract) for b in bodies]
                total = requests if size == 1 else requests // 2
                for concurrency in CONCURRENCY:
                    cell = {"rows_per_request": size, "concurrency": concurrency, "calls": total}
                    for name, call, inputs in (
                        ("server", server_call, raw),
                        ("in_process", InProcessCall(servable), batches),
                    ):
                        _drive(call, inputs, concurrency, min(total, 64))  # warm up
                        runs = [_drive(call, inputs, concurrency, total) for _ in range(repeats)]
                        cell[name] = {
                            k: spread([r[k] for r in runs], 2 if k != "per_second" else 0)
                            for k in runs[0]
                        }
                    results.append(cell)
                    print(_line(cell), flush=True)
    return {"model": model, "version": champion["version"], "cells": results}


def _line(cell: dict) -> str:
    s, p = cell["server"], cell["in_process"]
    delta = s["p50_ms"]["median"] - p["p50_ms"]["median"]
    ratio = s["per_second"]["median"] / p["per_second"]["median"]
    return (
        f"| {cell['rows_per_request']} | {cell['concurrency']} "
        f"| {_fmt(s['p50_ms'])} | {_fmt(p['p50_ms'])} | {delta:+.2f} "
        f"| {_fmt(s['p99_ms'])} | {_fmt(p['p99_ms'])} "
        f"| {_fmt(s['per_second'], 0)} | {_fmt(p['per_second'], 0)} | {ratio:.2f} |"
    )


def _fmt(stat: dict, digits: int = 2) -> str:
    return f"{stat['median']:.{digits}f} ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})"


HEADER = (
    "| rows/request | concurrency | server p50 ms | in-process p50 ms | Δ p50 ms "
    "| server p99 ms | in-process p99 ms | server req/s | in-process calls/s | throughput ratio |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registry", default="model_registry")
    parser.add_argument("--model", default="penguins")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=600, help="1-row requests per cell")
    args = parser.parse_args(argv)
    print("Serving: the model server against the in-process signature call")
    print(HEADER)
    data = run(args.registry, args.model, args.repeats, args.requests)
    lines = [_line(c) for c in data["cells"]]
    markdown = (
        "### Serving (model server vs in-process call of the same signature)\n\n"
        f"Model {args.model} version {data['version']}; median (min–max) of {args.repeats} "
        "repeats; the load generator shares the cores with the server.\n\n"
        + HEADER
        + "\n"
        + "\n".join(lines)
        + "\n"
    )
    save("serving", data, markdown)


if __name__ == "__main__":
    main()
