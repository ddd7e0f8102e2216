"""infra_validate against the real model server process, and push's need for its blessing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import kubernetes_validate
import pytest

from kubetfx.components import contracts
from kubetfx.components.config import InfraValidateConfig, PipelineConfig
from kubetfx.components.evaluate.blessing import RESULT_FILE, Blessing
from kubetfx.components.infra_validate import core, servers
from kubetfx.components.k8s import PERMISSIONS
from kubetfx.components.push import core as push
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import ConfigError
from kubetfx.serving.process import ServerProcess, free_port, request, serving_python
from tests.component.fake_aiplatform import FakeAiplatform, assert_calls_match_the_real_sdk
from tests.component.fake_kube import FakeKube, granted


def test_the_candidate_is_served_and_answers_like_the_model(penguins, tmp_path):
    _, paths = penguins
    out = tmp_path / "infra"
    result = core.run(
        model_dir=paths["model"],
        examples_uri=paths["examples"],
        cfg=InfraValidateConfig(examples=16),
        out_uri=str(out),
    )
    assert result.blessed, result.reasons
    assert result.reasons == ["b64 tf.Example: answers match", "JSON features: answers match"]
    assert result.examples == 16 and result.ready_seconds > 0
    assert result.max_abs_diff <= 1e-6
    assert (out / core.INFRA_BLESSED).exists()
    assert json.loads((out / core.RESULT_FILE).read_text())["blessed"] is True
    assert contracts.read_infra_blessing(str(out)).blessed


def test_a_server_that_is_not_ready_in_time_is_not_blessed_and_nothing_is_pushed(
    penguins, tmp_path
):
    _, paths = penguins
    out = tmp_path / "infra"
    cfg = InfraValidateConfig(ready_timeout_seconds=0.5, examples=4)
    result = core.run(
        model_dir=paths["model"], examples_uri=paths["examples"], cfg=cfg, out_uri=str(out)
    )
    assert not result.blessed
    assert "not available within 0.5 s" in result.reasons[0]
    assert (out / core.INFRA_NOT_BLESSED).exists()
    # Blessed by evaluate, not by infra validation: push refuses, the registry stays empty.
    blessing = tmp_path / "blessing"
    blessing.mkdir()
    (blessing / RESULT_FILE).write_text(Blessing(True, ["accuracy 1.0 >= 0.9"]).to_json())
    registry = ModelRegistry(str(tmp_path / "registry"), "penguins")
    refused = push.run(
        model_dir=paths["model"],
        blessing_uri=str(blessing),
        infra_blessing_uri=str(out),
        registry=registry,
        metadata={"run": "x"},
    )
    assert not refused.pushed and "not infra-blessed" in refused.reason
    assert registry.versions() == [] and registry.champion() is None
    # No infra blessing at all (a missing artifact) also fails closed.
    missing = push.run(
        model_dir=paths["model"],
        blessing_uri=str(blessing),
        infra_blessing_uri=str(tmp_path / "none"),
        registry=registry,
        metadata={},
    )
    assert not missing.pushed


def test_a_one_output_answer_in_row_format_is_read_by_name():
    """TF Serving's row format: named objects per row, except for a single-output model
    (a regression), whose rows are the values themselves."""
    assert core._as_columns([[1.5], [2.5]], ["predictions"]) == {"predictions": [[1.5], [2.5]]}
    rows = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert core._as_columns(rows, ["a", "b"]) == {"a": [1, 3], "b": [2, 4]}
    assert core._as_columns({"a": [1]}, ["a"]) == {"a": [1]}


# --- mode 'kubernetes': the server image as a pod, against a fake API with a real "kubelet" ---
class Kubelet(FakeKube):
    """The Kubernetes API faked, the pod real: creating the pod runs its init container's
    command (fetching the candidate from the step) and then starts the model server with the
    pod's own arguments on this machine, its emptyDir a local directory; reading it reports
    what those processes did; deleting it stops the server."""

    def __init__(self, tmp_path, port: int, broken: bool = False):
        super().__init__()
        self.tmp_path, self.port, self.broken = tmp_path, port, broken
        self.process: ServerProcess | None = None
        self.init_failed, self.init_log = False, ""
        self.pod_status = self._status

    def create_pod(self, namespace, body):
        created = super().create_pod(namespace, body)
        spec = body["spec"]
        volume = self.tmp_path / f"{body['metadata']['name']}-candidate"
        volume.mkdir()

        def local(args):  # the emptyDir's mount path -> its directory here
            prefix = servers.CANDIDATE_DIR
            return [str(volume) + a[len(prefix) :] if a.startswith(prefix) else a for a in args]

        (init,) = spec["initContainers"]
        assert init["command"][:2] == ["python", "-c"]
        fetch = subprocess.run(
            [sys.executable, "-c", *init["command"][2:], *local(init["args"])],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        self.init_failed, self.init_log = fetch.returncode != 0, fetch.stdout + fetch.stderr
        (container,) = spec["containers"]
        args = local(container["args"])
        if self.broken:  # a server that exits at once (e.g. an image of another version)
            args.append("--no-such-flag")
        if not self.init_failed:
            self.process = ServerProcess(
                serving_python(), args, str(self.tmp_path / "pod.log"), port=self.port
            ).__enter__()
        return created

    def _status(self, pod):
        if self.init_failed or (self.process and self.process.exited()):
            return {"phase": "Failed", "podIP": "127.0.0.1"}
        return {"phase": "Running", "podIP": "127.0.0.1"}

    def read_pod_log(self, namespace, name, container=None):
        self._record("read_pod_log", namespace, name)
        if container == "fetch-candidate":
            return self.init_log
        return self.process.log_tail(200) if self.process else ""

    def delete_pod(self, namespace, name):
        super().delete_pod(namespace, name)
        if self.process:
            self.process.stop()


def _kubernetes_run(penguins, tmp_path, monkeypatch, kube, **cfg):
    _, paths = penguins
    monkeypatch.setattr(servers, "PORT", kube.port)
    # The step offers the candidate on its pod IP; here, on loopback only.
    monkeypatch.setattr(servers, "step_address", lambda step: "127.0.0.1")
    return core.run(
        model_dir=paths["model"],
        examples_uri=paths["examples"],
        cfg=InfraValidateConfig(mode="kubernetes", examples=8, namespace="kubeflow", **cfg),
        out_uri=str(tmp_path / "infra"),
        platform=servers.Platform(image="registry.example/kubetfx-server:1", kube=kube),
    )


def test_kubernetes_mode_serves_the_candidate_in_a_pod_and_removes_it(
    penguins, tmp_path, monkeypatch
):
    kube = Kubelet(tmp_path, free_port())
    result = _kubernetes_run(penguins, tmp_path, monkeypatch, kube, service_account="ksa")
    assert result.blessed, result.reasons
    assert result.mode == "kubernetes"
    assert contracts.read_infra_blessing(str(tmp_path / "infra")).mode == "kubernetes"
    ((namespace, body),) = kube.called("create_pod")
    assert namespace == "kubeflow"
    kubernetes_validate.validate(body, "1.33", strict=True)
    spec = body["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "registry.example/kubetfx-server:1"
    assert spec["serviceAccountName"] == "ksa" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] and spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] > 180
    # The init container fetched the candidate from the step; the server read it from the
    # emptyDir. The offer is closed now.
    (init,) = spec["initContainers"]
    url = init["args"][0]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/candidate.tar")
    assert init["args"][1] == servers.CANDIDATE_DIR
    assert spec["volumes"] == [{"name": "candidate", "emptyDir": {}}]
    assert container["args"][container["args"].index("--registry") + 1] == "/candidate/registry"
    with pytest.raises(OSError):
        request("GET", url, timeout=2)
    assert kube.called("delete_pod") == [("kubeflow", body["metadata"]["name"])]
    assert kube.objects == {}


def test_kubernetes_mode_reports_a_pod_that_fails_and_still_deletes_it(
    penguins, tmp_path, monkeypatch
):
    kube = Kubelet(tmp_path, free_port(), broken=True)
    result = _kubernetes_run(penguins, tmp_path, monkeypatch, kube, ready_timeout_seconds=60)
    assert not result.blessed
    assert "server not ready: the model server pod kubetfx-infra-validate-" in result.reasons[0]
    assert "ended in phase Failed" in result.reasons[0]
    assert "--no-such-flag" in result.reasons[0]  # the pod's log tail says why
    assert kube.objects == {} and len(kube.called("delete_pod")) == 1


def test_the_infra_validator_role_grants_exactly_the_calls_made(penguins, tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "step-pod")  # its own pod is read (to own the server pod)
    used = set()
    for broken in (False, True):  # a failing pod's log is read too
        kube = Kubelet(tmp_path, free_port(), broken=broken)
        _kubernetes_run(penguins, tmp_path, monkeypatch, kube)
        used |= {method for method, _ in kube.calls}
    assert used == {"create_pod", "read_pod", "delete_pod", "read_pod_log"}
    assert granted("infra-validator.yaml") == {PERMISSIONS[m] for m in used}


def test_a_custom_container_on_vertex_needs_a_bucket_to_read_the_candidate(penguins, tmp_path):
    _, paths = penguins
    settings = servers.VertexSettings("p", "europe-west4", "n1-standard-2", False)
    platform = servers.Platform(image="s:1", staging_root=str(tmp_path), vertex=settings)
    with pytest.raises(ConfigError, match="pipeline_root .* is not one"):
        core.run(
            model_dir=paths["model"],
            examples_uri=paths["examples"],
            cfg=InfraValidateConfig(mode="vertex", examples=2),
            out_uri=str(tmp_path / "infra"),
            platform=platform,
        )


def test_docker_mode_without_an_engine_is_a_setup_error_not_a_verdict(
    penguins, tmp_path, monkeypatch
):
    _, paths = penguins
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(ConfigError, match="infra_validate.mode 'docker' needs a Docker API"):
        core.run(
            model_dir=paths["model"],
            examples_uri=paths["examples"],
            cfg=InfraValidateConfig(mode="docker", examples=2),
            out_uri=str(tmp_path / "infra"),
            platform=servers.Platform(image="kubetfx-server:dev"),
        )
    assert not (tmp_path / "infra").exists()  # no blessing either way


def test_the_candidate_is_copied_into_the_container_as_the_images_user(tmp_path):
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"pb")
    registry = tmp_path / "registry" / "candidate"
    registry.mkdir(parents=True)
    (registry / "1").symlink_to(model)  # as _stage links a local model
    with tarfile.open(fileobj=io.BytesIO(servers._tar(str(tmp_path / "registry"), "r"))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["r/candidate/1/saved_model.pb"].isfile()  # the link was followed
    assert {(m.uid, m.gid) for m in members.values()} == {(servers.IMAGE_UID,) * 2}


# --- mode 'vertex': a temporary endpoint, against a fake SDK whose endpoint is the real server ---
VERTEX_TFS = "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16:latest"


@pytest.fixture
def vertex_sdk(tmp_path):
    """A fake aiplatform whose deployed models are real model servers on this machine: the
    SavedModel as uploaded for Vertex's TF Serving image, else the custom container's own
    arguments and predict route (images.server)."""
    started: list[ServerProcess] = []

    def serve(upload: dict):
        if "artifact_uri" in upload:  # TF Serving serves the uploaded SavedModel as `default`
            registry = tmp_path / f"tf-serving-{len(started)}"
            (registry / "default").mkdir(parents=True)
            (registry / "default" / "1").symlink_to(upload["artifact_uri"])
            args = servers.server_args(str(registry), "default")
            route = "/v1/models/default:predict"
        else:
            args, route = (
                upload["serving_container_args"],
                upload["serving_container_predict_route"],
            )
        process = ServerProcess(serving_python(), args, str(tmp_path / f"vx{len(started)}.log"))
        started.append(process.__enter__())
        process.wait_available(args[args.index("--model") + 1], 120)
        return lambda body: request("POST", process.url + route, body)[0::2]

    sdk = FakeAiplatform(serve)
    yield sdk
    for process in started:
        process.stop()


def _vertex_run(penguins, tmp_path, sdk, tf_serving: bool):
    _, paths = penguins
    settings = servers.VertexSettings(
        "p", "europe-west4", "n1-standard-4", tf_serving, VERTEX_TFS if tf_serving else None
    )
    platform = servers.Platform(
        image="europe-docker.pkg.dev/p/kubetfx/server:1",
        staging_root=str(tmp_path / "bucket"),
        model_uri=paths["model"],
        vertex=settings,
        sdk=sdk,
    )
    cfg = InfraValidateConfig(mode="vertex", examples=8)
    out = str(tmp_path / "infra")
    return core.run(
        model_dir=paths["model"], examples_uri=paths["examples"], cfg=cfg, out_uri=out,
        platform=platform,
    )  # fmt: skip


def _vertex_calls(sdk) -> list[str]:
    return [name for name, _ in sdk.calls]


def test_vertex_mode_deploys_to_a_temporary_endpoint_in_vertexs_tf_serving_image(
    penguins, tmp_path, vertex_sdk
):
    _, paths = penguins
    result = _vertex_run(penguins, tmp_path, vertex_sdk, tf_serving=True)
    assert result.blessed, result.reasons
    assert result.mode == "vertex"
    assert _vertex_calls(vertex_sdk) == [
        "Model.upload", "Endpoint.create", "Endpoint.deploy",
        "Endpoint.raw_predict", "Endpoint.raw_predict",
        "Endpoint.undeploy_all", "Endpoint.delete", "Model.delete",
    ]  # fmt: skip
    upload = vertex_sdk.calls[0][1]
    assert upload["artifact_uri"] == paths["model"]  # the candidate as it is, no copy
    assert upload["serving_container_image_uri"] == VERTEX_TFS
    assert upload["display_name"].startswith("kubetfx-infra-validate-")
    deploy = vertex_sdk.calls[2][1]
    assert deploy["machine_type"] == "n1-standard-4" and deploy["traffic_percentage"] == 100
    body = json.loads(vertex_sdk.calls[3][1]["body"])
    assert body["signature_name"] == "serving_tf_example" and len(body["instances"]) == 8
    assert vertex_sdk.models == [] and vertex_sdk.endpoints == []  # nothing left behind
    assert_calls_match_the_real_sdk(vertex_sdk.calls)


def test_vertex_mode_serves_the_server_image_as_a_custom_container(penguins, tmp_path, vertex_sdk):
    result = _vertex_run(penguins, tmp_path, vertex_sdk, tf_serving=False)
    assert result.blessed, result.reasons
    upload = vertex_sdk.calls[0][1]
    assert "artifact_uri" not in upload
    assert upload["serving_container_image_uri"] == "europe-docker.pkg.dev/p/kubetfx/server:1"
    assert upload["serving_container_ports"] == [servers.PORT]
    assert upload["serving_container_predict_route"] == "/v1/models/candidate:predict"
    args = upload["serving_container_args"]
    registry = args[args.index("--registry") + 1]
    assert registry.startswith(str(tmp_path / "bucket")) and not os.path.exists(registry)
    assert vertex_sdk.models == [] and vertex_sdk.endpoints == []
    assert_calls_match_the_real_sdk(vertex_sdk.calls)


def test_a_failed_vertex_deployment_is_not_blessed_and_leaves_nothing(penguins, tmp_path):
    from google.api_core.exceptions import FailedPrecondition

    sdk = FakeAiplatform()
    sdk.fail_deploy = FailedPrecondition("Model server never became ready")
    result = _vertex_run(penguins, tmp_path, sdk, tf_serving=True)
    assert not result.blessed
    assert "deploying the candidate to Vertex AI endpoint" in result.reasons[0]
    assert "Model server never became ready" in result.reasons[0]
    assert _vertex_calls(sdk)[-2:] == ["Endpoint.delete", "Model.delete"]
    assert sdk.models == [] and sdk.endpoints == []


@pytest.mark.parametrize(("destination", "tf_serving"), [("vertex", True), ("local", False)])
def test_the_step_takes_vertex_settings_from_the_run_config(monkeypatch, destination, tf_serving):
    seen = {}
    monkeypatch.setattr(core, "run", lambda **kwargs: seen.update(kwargs))
    cfg = PipelineConfig.model_validate(
        {
            "pipeline_root": "gs://b/root",
            "infra_validate": {"mode": "vertex"},
            "vertex": {"project": "p", "region": "europe-west4"},
            "push": {"destination": destination, "registry": "gs://b/models"},
            "images": {"server": "europe-docker.pkg.dev/p/kubetfx/server:1"},
        }
    )
    core.run_from_artifacts(
        cfg=cfg, model_dir="/gcs/b/m", model_uri="gs://b/m", examples_uri="e", out_uri="o"
    )
    platform = seen["platform"]
    assert platform.model_uri == "gs://b/m" and platform.staging_root == "gs://b/root"
    assert platform.image == "europe-docker.pkg.dev/p/kubetfx/server:1"
    assert platform.vertex == servers.VertexSettings(
        "p", "europe-west4", "n1-standard-2", tf_serving, None
    )
