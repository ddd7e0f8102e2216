"""The server image as a Vertex AI custom container: Vertex tells the container where to
listen and which paths it probes and sends predictions to ($AIP_HTTP_PORT, $AIP_HEALTH_ROUTE,
$AIP_PREDICT_ROUTE). A real server process on loopback, started with those variables."""

from __future__ import annotations

import pytest

from kubetfx.errors import ConfigError
from kubetfx.serving.__main__ import vertex_overrides
from kubetfx.serving.process import Client, ServerProcess, free_port
from tests.serving.conftest import MODEL, make_registry, read_logs

HEALTH = "/v1/endpoints/4567890123456789012/deployedModels/8812345678901234567"
PREDICT = HEALTH + ":predict"
ROWS = [
    {
        "island": "Biscoe",
        "bill_length_mm": 48.6,
        "bill_depth_mm": 16.0,
        "flipper_length_mm": 230,
        "body_mass_g": 5800,
        "sex": "male",
        "year": 2009,
    },
    {
        "island": "Dream",
        "bill_length_mm": 46.5,
        "bill_depth_mm": 17.9,
        "flipper_length_mm": 192,
        "body_mass_g": 3500,
        "sex": "female",
        "year": 2007,
    },
]


def test_the_server_listens_and_answers_where_vertex_says(
    tmp_path, server_python, penguins, monkeypatch
):
    _, paths = penguins
    make_registry(tmp_path / "registry", paths["model"])
    vertex_port = free_port()
    monkeypatch.setenv("AIP_HTTP_PORT", str(vertex_port))
    monkeypatch.setenv("AIP_HEALTH_ROUTE", HEALTH)
    monkeypatch.setenv("AIP_PREDICT_ROUTE", PREDICT)
    logs = tmp_path / "logs"
    # The image's entrypoint names a port of its own (--port 8080): Vertex's wins.
    args = ["--registry", str(tmp_path / "registry"), "--log-dir", str(logs)]
    args += ["--model", MODEL, "--port", str(free_port())]
    with ServerProcess(server_python, args, str(tmp_path / "server.log"), port=vertex_port) as s:
        s.wait_available(MODEL, timeout=120)
        client = Client(s.url)
        try:
            status, _, body = client.request("GET", HEALTH)
            assert status == 200 and body["ready"] is True
            vertex_body = {"instances": ROWS, "parameters": {}}
            status, headers, answer = client.request("POST", PREDICT, vertex_body)
            assert status == 200, answer
            assert list(answer) == ["predictions"] and len(answer["predictions"]) == 2
            assert headers["x-model-version"]
            # The same answer as TF Serving's own route, and logged like it.
            status, _, same = client.request(
                "POST", f"/v1/models/{MODEL}:predict", {"instances": ROWS}
            )
            assert status == 200 and same == answer
            status, _, error = client.request("POST", PREDICT, {"rows": ROWS})
            assert status == 400 and "instances" in error["error"]
        finally:
            client.close()
    records = read_logs(logs)
    assert [len(r["features"]) for r in records] == [2, 2]
    assert records[0]["features"][1]["island"] == "Dream"


def test_vertex_variables_become_the_serving_config():
    assert vertex_overrides({}) == {"serving.health_route": None, "serving.predict_route": None}
    assert vertex_overrides(
        {"AIP_HTTP_PORT": "8080", "AIP_HEALTH_ROUTE": "/h", "AIP_PREDICT_ROUTE": "/p:predict"}
    ) == {
        "serving.port": 8080,
        "serving.health_route": "/h",
        "serving.predict_route": "/p:predict",
    }
    with pytest.raises(ConfigError, match="AIP_HTTP_PORT: expected a port number, got 'http'"):
        vertex_overrides({"AIP_HTTP_PORT": "http"})
