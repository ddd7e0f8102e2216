"""Hot reload under load, versions that must never be served, and shadow traffic."""

from __future__ import annotations

import os
import threading
import time

from kubetfx.components.infra_validate.core import json_columns
from kubetfx.components.registry import ModelRegistry
from kubetfx.serving import contract
from kubetfx.serving.process import Client
from tests.serving.conftest import MODEL, make_registry, read_logs, running_server

PREDICT = f"/v1/models/{MODEL}:predict"


def _body(model_dir: str, eval_examples, n: int = 4) -> dict:
    columns = json_columns(eval_examples[:n], contract.read(model_dir).features)
    return {"inputs": columns}


class LoadLoop:
    """Threads sending predictions until stopped (or a request cap), recording every answer."""

    def __init__(self, url: str, body: dict, threads: int = 2, cap: int = 20_000):
        self.url, self.body, self.cap = url, body, cap
        self.results: list[tuple[int, str]] = []  # (status or -1 for a broken connection, version)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self):
        client = Client(self.url)
        while not self._stop.is_set() and len(self.results) < self.cap:
            try:
                status, headers, _ = client.request("POST", PREDICT, self.body)
                self.results.append((status, headers.get("x-model-version", "")))
            except OSError:
                self.results.append((-1, ""))
        client.close()


def test_hot_reload_under_load_and_unservable_versions(
    tmp_path, server_python, penguins, eval_examples
):
    _, paths = penguins
    registry_root = tmp_path / "registry"
    first = make_registry(registry_root, paths["model"])["champion"]
    body = _body(paths["model"], eval_examples)
    with running_server(server_python, registry_root, tmp_path / "logs", "--log-rate", "0") as (
        server,
        client,
    ):
        registry = ModelRegistry(str(registry_root), MODEL)
        with LoadLoop(server.url, body) as load:
            time.sleep(1.0)
            second = registry.push(paths["model"], {"run": "second"})  # becomes the champion
            deadline = time.monotonic() + 90
            while not any(v == str(second) for _, v in load.results[-50:]):
                assert time.monotonic() < deadline, "the new version was never served"
                time.sleep(0.2)
            time.sleep(0.5)
        statuses = [s for s, _ in load.results]
        assert len(statuses) > 50
        assert statuses.count(200) == len(statuses), (
            f"failed: {len(statuses) - statuses.count(200)}"
        )
        served = [v for _, v in load.results]
        assert served[0] == str(first) and served[-1] == str(second)
        # Once the new version answered, the old one did not again (labels move once; two
        # threads' requests in flight at the switch may still finish on the old version).
        switch = served.index(str(second))
        assert set(served[switch + 2 :]) == {str(second)}

        # A half-written version (no saved_model.pb yet) and a staging directory are ignored.
        os.makedirs(registry.version_dir(second + 1) + "/variables")
        os.makedirs(os.path.join(registry.directory, f".staging-{second + 2}", "variables"))
        # A corrupt version made champion: reported as failed, never served.
        broken = second + 3
        os.makedirs(registry.version_dir(broken))
        with open(os.path.join(registry.version_dir(broken), "saved_model.pb"), "wb") as f:
            f.write(b"this is not a SavedModel")
        registry.set_champion(broken)
        deadline = time.monotonic() + 60
        while True:
            rows = client.request("GET", f"/v1/models/{MODEL}")[2]["model_version_status"]
            states = {r["version"]: r for r in rows}
            if str(broken) in states and states[str(broken)]["state"] == "END":
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.2)
        assert states[str(broken)]["status"]["error_message"]
        assert str(second + 1) not in states and str(second + 2) not in states
        for _ in range(20):
            status, headers, _ = client.request("POST", PREDICT, body)
            assert (status, headers["x-model-version"]) == (200, str(second))
        metrics = client.request("GET", "/metrics")[2]
        assert f'kubetfx_model_versions_failed{{model="{MODEL}"}} 1.0' in metrics


def test_shadow_logs_both_answers_and_returns_the_champions(
    tmp_path, server_python, penguins, eval_examples
):
    _, paths = penguins
    versions = make_registry(tmp_path / "registry", paths["model"], champion_and_challenger=True)
    log_dir = tmp_path / "logs"
    args = ["--traffic-mode", "shadow", "--challenger-percent", "50", "--log-rate", "1"]
    body = _body(paths["model"], eval_examples, n=2)
    with running_server(server_python, tmp_path / "registry", log_dir, *args) as (server, client):
        server.wait_available(MODEL, 60, versions["challenger"])
        for i in range(40):
            status, headers, _ = client.request("POST", PREDICT, body, {"X-Request-Id": f"s{i}"})
            assert status == 200
            assert headers["x-model-version"] == str(versions["champion"])
    # Stopping the server flushes the log; shadow copies ran right after each answer.
    records = read_logs(log_dir)
    served = {r["request_id"]: r for r in records if r["role"] == "served"}
    shadows = [r for r in records if r["role"] == "shadow"]
    assert len(served) == 40 and {r["version"] for r in served.values()} == {versions["champion"]}
    assert 8 <= len(shadows) <= 32  # about half of 40
    for shadow in shadows:
        assert shadow["version"] == versions["challenger"] and shadow["label"] == "challenger"
        twin = served[shadow["request_id"]]
        assert shadow["features"] == twin["features"]
        assert shadow["predictions"] == twin["predictions"]  # the same model, pushed twice
