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
import re
import sys
import tempfile
import threading
import time

import pyarrow.csv as pacsv

from bench.common import percentile, save, spread
from kubetfx.components.ingest.core import builtin_penguins_path
from kubetfx.components.registry import ModelRegistry
from kubetfx.serving.models import load_servable
from kubetfx.serving.process import Client, ServerProcess, request, serving_python
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


def _examples(rows: list[dict], features) -> list[bytes]:
    """The rows as serialized tf.Examples (what push writes warmup requests from)."""
    import tensorflow as tf

    found = []
    for row in rows:
        feature = {}
        for f in features:
            value = row.get(f.name)
            if value is None:
                continue
            if f.kind == "string":
                feature[f.name] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[value.encode()])
                )
            elif f.kind == "int":
                feature[f.name] = tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(value)])
                )
            else:
                feature[f.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        found.append(
            tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
        )
    return found


def first_requests(champion_dir: str, model: str, repeats: int) -> dict:
    """The first request to a version the server has just hot-loaded, without and with its
    warmup requests (assets.extra/tf_serving_warmup_requests), against later requests."""
    from kubetfx.serving import contract, warmup

    servable = load_servable(model, 1, champion_dir)
    rows = _rows(servable.features)
    body = json.dumps(_bodies(rows, 1, 1)[0]).encode()
    served = contract.read(champion_dir)
    extra = {
        warmup.WARMUP_FILE: warmup.encode(
            warmup.records(_examples(rows[:8], servable.features), served, model)
        )
    }
    measured: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        registry = ModelRegistry(f"{tmp}/registry", model)
        registry.push(champion_dir, {"run": "bench"})
        server = ServerProcess(
            serving_python(),
            ["--registry", registry.root, "--model", model, "--log-dir", tmp],
            f"{tmp}/server.log",
        )
        with server:
            server.wait_available(model, 180)
            client = Client(server.url)
            for _ in range(repeats):
                for name, files in (("without warmup", {}), ("with warmup", extra)):
                    version = registry.push(champion_dir, {"run": "bench"}, extra_files=files)
                    server.wait_available(model, 180, version=version)
                    path = f"/v1/models/{model}/versions/{version}:predict"
                    times = []
                    for _ in range(21):
                        start = time.perf_counter()
                        status, _, answer = client.request("POST", path, body)
                        times.append((time.perf_counter() - start) * 1000)
                        if status != 200:
                            raise RuntimeError(f"HTTP {status}: {answer}")
                    into = measured.setdefault(name, {"first_ms": [], "later_p50_ms": []})
                    into["first_ms"].append(times[0])
                    into["later_p50_ms"].append(percentile(times[1:], 50))
    return {name: {k: spread(v, 2) for k, v in m.items()} for name, m in measured.items()}


def _grpc_request(row: dict, model: str) -> bytes:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, value in row.items():
        if isinstance(value, str):
            request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=tf.string))
        else:
            request.inputs[name].CopyFrom(tf.make_tensor_proto([value], dtype=tf.float64))
    return request.SerializeToString()


def transports(registry_root: str, model: str, seconds: float) -> dict:
    """1-row requests over REST (wrk) and gRPC (h2load), with and without dynamic batching,
    against the in-process one-row call rate of the same signature."""
    from bench.load import grpc_h2load, wrk

    champion = ModelRegistry(registry_root, model).champion()
    servable = load_servable(model, champion["version"], champion["path"])
    row = next(r for r in _rows(servable.features) if None not in r.values())
    body = json.dumps({"instances": [row]}).encode()
    grpc_body = _grpc_request(row, model)
    batch = parse_tf_serving({"instances": [row]}, servable.contract)
    in_process = _drive(InProcessCall(servable), [batch], 1, 2000)
    method = "/tensorflow.serving.PredictionService/Predict"
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        for batching in (True, False):
            config = f"{tmp}/serving-{batching}.yaml"
            with open(config, "w") as f:
                f.write(f"serving:\n  batching:\n    enabled: {str(batching).lower()}\n")
            args = ["--config", config, "--registry", registry_root, "--model", model]
            server = ServerProcess(
                serving_python(), [*args, "--log-dir", tmp], f"{tmp}/server-{batching}.log"
            )
            with server:
                server.wait_available(model, 180)
                url = f"{server.url}/v1/models/{model}:predict"
                for concurrency in CONCURRENCY:
                    wrk(url, body, concurrency, 2)  # warm up
                    rest = wrk(url, body, concurrency, seconds)
                    grpc_url = f"http://{server.grpc_target}"
                    refused = _refused(server)
                    grpc = grpc_h2load(grpc_url, method, grpc_body, concurrency, seconds)
                    if _refused(server) != refused:  # h2load cannot see grpc-status
                        raise RuntimeError(f"gRPC calls were refused: see {server.log_path}")
                    for name, cell in (("REST", rest), ("gRPC", grpc)):
                        cells.append(
                            {"transport": name, "batching": batching, "concurrency": concurrency}
                            | {k: round(v, 2) for k, v in cell.items()}
                        )
                        print(_transport_line(cells[-1], in_process), flush=True)
    return {"in_process": in_process, "cells": cells}


def _refused(server: ServerProcess) -> float:
    """All refused or failed requests so far, from the server's own counter."""
    status, _, text = request("GET", f"{server.url}/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}")
    counts = re.findall(r"^kubetfx_request_errors_total\{[^}]*\} ([\d.e+]+)$", text, re.M)
    return sum(float(c) for c in counts)


TRANSPORT_HEADER = (
    "| transport | batching | concurrency | p50 ms | p99 ms | req/s "
    "| req/s ÷ in-process 1-row calls/s |\n|---|---|---|---|---|---|---|"
)


def _transport_line(cell: dict, in_process: dict) -> str:
    ratio = cell["per_second"] / in_process["per_second"]
    return (
        f"| {cell['transport']} | {'on' if cell['batching'] else 'off'} | {cell['concurrency']} "
        f"| {cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['per_second']:.0f} "
        f"| {ratio:.2f} |"
    )


FIRST_HEADER = "| version loaded | first request ms | later requests p50 ms |\n|---|---|---|"


def _first_lines(first: dict) -> list[str]:
    return [
        f"| {name} | {_fmt(cell['first_ms'])} | {_fmt(cell['later_p50_ms'])} |"
        for name, cell in first.items()
    ]


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
    parser.add_argument("--seconds", type=float, default=8, help="each load-generator cell")
    args = parser.parse_args(argv)
    print("Serving: the model server against the in-process signature call")
    print(HEADER)
    data = run(args.registry, args.model, args.repeats, args.requests)
    lines = [_line(c) for c in data["cells"]]
    print("First request after a hot reload, without and with warmup requests")
    champion = ModelRegistry(args.registry, args.model).champion()
    data["first_request"] = first_requests(champion["path"], args.model, args.repeats)
    first = _first_lines(data["first_request"])
    print(FIRST_HEADER + "\n" + "\n".join(first), flush=True)
    print("1-row requests: REST (wrk) and gRPC, with and without dynamic batching")
    print(TRANSPORT_HEADER)
    data["transports"] = transports(args.registry, args.model, args.seconds)
    in_process = data["transports"]["in_process"]
    loads = [_transport_line(c, in_process) for c in data["transports"]["cells"]]
    markdown = (
        "### Serving (model server vs in-process call of the same signature)\n\n"
        f"Model {args.model} version {data['version']}; median (min–max) of {args.repeats} "
        "repeats; the load generator shares the cores with the server.\n\n"
        + HEADER
        + "\n"
        + "\n".join(lines)
        + "\n\nFirst request to a version the server has just loaded (a push while it runs), "
        "without and with the warmup requests push writes; median (min–max) of "
        f"{args.repeats} versions each.\n\n" + FIRST_HEADER + "\n" + "\n".join(first) + "\n"
        "\n1-row requests from compiled load generators (wrk for REST, h2load for gRPC) "
        f"for {args.seconds:g} s each, with dynamic batching "
        "on (the default) and off; the in-process call of the same signature does "
        f"{in_process['per_second']:.0f} one-row calls/s (p50 {in_process['p50_ms']:.2f} ms).\n\n"
        + TRANSPORT_HEADER
        + "\n"
        + "\n".join(loads)
        + "\n"
    )
    save("serving", data, markdown)


if __name__ == "__main__":
    main()
