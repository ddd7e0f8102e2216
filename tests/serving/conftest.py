"""Black-box serving tests: a real model server process (the serving environment's Python,
`-m kubetfx.serving`) on a free loopback port, over a real registry of trained models."""

from __future__ import annotations

import contextlib
import glob
import os

import pytest

from kubetfx.components.registry import ModelRegistry
from kubetfx.serving.process import Client, ServerProcess, serving_python

MODEL = "penguins"


@pytest.fixture(scope="session")
def server_python() -> str:
    return serving_python()  # `make test` builds .venv-serving first


@pytest.fixture(scope="session")
def eval_examples(penguins) -> list[bytes]:
    import tensorflow as tf

    _, paths = penguins
    files = sorted(glob.glob(os.path.join(paths["examples"], "Split-eval", "*.gz")))
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def make_registry(root, model_dir: str, champion_and_challenger: bool = False) -> dict:
    """Push the trained model as the champion (and again as a challenger)."""
    registry = ModelRegistry(str(root), MODEL)
    versions = {"champion": registry.push(model_dir, {"run": "first"})}
    if champion_and_challenger:
        versions["challenger"] = registry.push(model_dir, {"run": "second"}, make_champion=False)
    return versions


@contextlib.contextmanager
def running_server(python: str, registry_root, log_dir, *args: str):
    server = ServerProcess(
        python,
        ["--registry", str(registry_root), "--log-dir", str(log_dir), *args],
        str(log_dir) + "-server.log",
    )
    with server:
        server.wait_available(MODEL, timeout=120)
        client = Client(server.url)
        try:
            yield server, client
        finally:
            client.close()


def read_logs(log_dir) -> list[dict]:
    import json

    records = []
    for path in sorted(glob.glob(os.path.join(str(log_dir), MODEL, "*", "*.jsonl"))):
        with open(path) as f:
            records += [json.loads(line) for line in f]
    return records
