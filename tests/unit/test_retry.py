"""Network calls are sent again with backoff on transient errors only (kubetfx/components/
retry.py): the classification, the schedule, and each caller against a server on loopback
that fails first (the monitor's webhook, the Kubernetes API through the real client, Vertex
AI through the fake of its SDK)."""

from __future__ import annotations

import json
import threading
import urllib.error
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubetfx.components.retry import transient, with_retries
from kubetfx.errors import KubeError


def _google(name: str):
    import google.api_core.exceptions as errors

    return getattr(errors, name)("from the fake")


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (urllib.error.HTTPError("http://x", 503, "Service Unavailable", {}, None), True),
        (urllib.error.HTTPError("http://x", 429, "Too Many Requests", {}, None), True),
        (urllib.error.HTTPError("http://x", 400, "Bad Request", {}, None), False),
        (urllib.error.URLError("connection refused"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (KubeError("busy", 503), True),
        (KubeError("forbidden", 403), False),
        (KubeError("exists", 409), False),
        ("ServiceUnavailable", True),
        ("TooManyRequests", True),
        ("InternalServerError", True),
        ("FailedPrecondition", False),
        ("PermissionDenied", False),
        (ValueError("a bug"), False),
        (FileNotFoundError("x"), False),
    ],
)
def test_only_what_may_succeed_unchanged_is_transient(error, again):
    assert transient(_google(error) if isinstance(error, str) else error) is again


def test_kfps_api_errors_are_classified_by_status():
    from kfp_server_api import ApiException

    assert transient(ApiException(status=502, reason="Bad Gateway"))
    assert not transient(ApiException(status=404, reason="Not Found"))


def test_backoff_doubles_and_gives_up_after_four_tries():
    waits, calls = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    assert with_retries(flaky, "flaky", sleep=waits.append) == "ok"
    assert waits == [1.0, 2.0] and len(calls) == 3
    waits.clear()
    with pytest.raises(TimeoutError):
        with_retries(lambda: (_ for _ in ()).throw(TimeoutError()), "dead", sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0]
    calls.clear()

    def refused():
        calls.append(1)
        raise KubeError("forbidden", 403)

    with pytest.raises(KubeError):
        with_retries(refused, "refused", sleep=waits.append)
    assert len(calls) == 1  # never sent again


class _Script:
    """A loopback HTTP server answering a script of (status, body), the last repeated."""

    def __init__(self, answers):
        self.answers, self.requests = list(answers), []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                script.requests.append((self.command, self.path, self.rfile.read(length)))
                status, body = script.answers[min(len(script.requests), len(script.answers)) - 1]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def script():
    servers = []

    def start(*answers):
        servers.append(_Script(answers))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_the_alert_webhook_is_sent_again_on_503_and_not_on_400(script, caplog):
    from kubetfx.components.monitor.policy import send_alert

    hook, waits = script((503, {}), (503, {}), (200, {})), []
    send_alert({"verdict": "drift"}, hook.url, sleep=waits.append)
    assert len(hook.requests) == 3 and waits == [1.0, 2.0]
    assert {body for _, _, body in hook.requests} == {b'{"verdict": "drift"}'}
    bad = script((400, {"error": "no such channel"}))
    send_alert({"verdict": "drift"}, bad.url, sleep=waits.append)
    assert len(bad.requests) == 1
    assert "monitor.alert_webhook" in caplog.text and "400" in caplog.text


def _kube(url: str, waits: list):
    from kubernetes import client

    from kubetfx.components.k8s import Kube

    configuration = client.Configuration()
    configuration.host = url
    return Kube(client.ApiClient(configuration), sleep=waits.append)


def test_kubernetes_reads_and_patches_are_retried_creates_are_not(script):
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService"}
    api, waits = script((503, {}), (200, isvc)), []
    kube = _kube(api.url, waits)
    assert kube.read_inference_service("serving", "penguins")["kind"] == "InferenceService"
    assert len(api.requests) == 2 and waits == [1.0]
    patched = script((429, {}), (200, isvc))
    assert _kube(patched.url, waits).patch_inference_service("serving", "m", {"spec": {}})
    assert [method for method, _, _ in patched.requests] == ["PATCH", "PATCH"]
    created = script((503, {}), (200, isvc))
    with pytest.raises(KubeError, match="503"):
        _kube(created.url, waits).create_inference_service("serving", {"metadata": {}})
    assert len(created.requests) == 1  # a create that failed may have happened: once only
    forbidden = script((403, {"reason": "Forbidden"}))
    with pytest.raises(KubeError, match="403"):
        _kube(forbidden.url, waits).read_inference_service("serving", "penguins")
    assert len(forbidden.requests) == 1


def test_a_vertex_deploy_refused_as_unavailable_is_sent_again(tmp_path):
    from kubetfx.components.push.vertex import VertexTarget
    from kubetfx.components.registry import ModelRegistry
    from tests.component.fake_aiplatform import FakeAiplatform
    from tests.component.test_push_targets import _cfg

    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    registry = ModelRegistry(str(tmp_path / "registry"), "penguins")
    version = registry.push(str(model), {})
    sdk, waits = FakeAiplatform(), []
    sdk.fail_deploy = [_google("ServiceUnavailable")]
    cfg = _cfg(destination="vertex", vertex={"serving_image": "europe-docker.pkg.dev/x/tf:2"})
    VertexTarget(cfg, sdk, sleep=waits.append).deploy(registry, version)
    assert [n for n, _ in sdk.calls].count("Endpoint.deploy") == 2 and waits == [1.0]
    sdk.fail_deploy = [_google("FailedPrecondition")]
    from kubetfx.errors import DeployFailed

    with pytest.raises(DeployFailed, match="from the fake"):
        VertexTarget(cfg, sdk, sleep=waits.append).deploy(registry, version)
    assert [n for n, _ in sdk.calls].count("Endpoint.deploy") == 3  # once more, not retried
