"""The Kubernetes manifests under infra/k8s: schema-valid, secure, least-privilege, wired up.

Core and RBAC kinds are validated with kubernetes-validate (the Kubernetes OpenAPI schemas,
strict: unknown fields are errors, as `kubectl apply` makes them). InferenceService and JobSet
are validated against the openAPIV3Schema of the published CRDs in ../shared/crds, made strict
the same way. Nothing here talks to a cluster or the network.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.infra.files import CRDS, K8S, ROOT, manifest_files, yaml_docs

# The Kubernetes version the core objects are checked against: one GKE's channels offer
# (kubernetes-validate ships schemas up to 1.37). These objects use only stable v1 APIs.
KUBERNETES_VERSION = "1.33"
# apiVersion group -> the CRD file that defines it.
CRD_FILES = {
    "serving.kserve.io": "serving.kserve.io_inferenceservices.yaml",
    "jobset.x-k8s.io": "jobset.x-k8s.io_jobsets.yaml",
}


def _objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files() for doc in yaml_docs(path)]


def _object_id(item: tuple[Path, dict[str, Any]]) -> str:
    path, doc = item
    return f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}"


OBJECTS = _objects()
CRD_OBJECTS = [o for o in OBJECTS if o[1]["apiVersion"].split("/")[0] in CRD_FILES]
CORE_OBJECTS = [o for o in OBJECTS if o not in CRD_OBJECTS]


def _strict(schema: Any) -> Any:
    """The schema with unknown fields forbidden wherever the API server would prune them."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def _crd_validator(group: str, version: str) -> jsonschema.protocols.Validator:
    if not CRDS.is_dir():
        pytest.skip(f"no CRD schemas at {CRDS} (see ../shared/crds/README.md in this workplace)")
    (crd,) = yaml_docs(CRDS / CRD_FILES[group])
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _strict(served["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def _validate_custom(doc: dict[str, Any]) -> None:
    group, version = doc["apiVersion"].split("/")
    errors = sorted(_crd_validator(group, version).iter_errors(doc), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_manifests_are_found():
    kinds = {doc["kind"] for _, doc in OBJECTS}
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "InferenceService"} <= kinds


@pytest.mark.parametrize("item", CORE_OBJECTS, ids=_object_id)
def test_core_objects_match_the_kubernetes_schema(item):
    _, doc = item
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_kubernetes_schema_check_rejects_an_unknown_field():
    role = next(doc for _, doc in CORE_OBJECTS if doc["kind"] == "Role")
    broken = copy.deepcopy(role)
    broken["rules"][0]["verb"] = broken["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("item", CRD_OBJECTS, ids=_object_id)
def test_custom_objects_match_their_crd_schema(item):
    _validate_custom(item[1])


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("spec", "predictor", "canaryTrafficPercent"), "ten"),
        (("spec", "predictor", "canaryTrafic"), 10),
    ],
)
def test_the_crd_schema_check_rejects_a_bad_inferenceservice(where, value):
    isvc = next(doc for _, doc in CRD_OBJECTS if doc["kind"] == "InferenceService")
    broken = copy.deepcopy(isvc)
    node = broken
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(AssertionError):
        _validate_custom(broken)


def test_every_object_names_its_namespace():
    for path, doc in OBJECTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace"), f"{path.name}: {doc['kind']} has no namespace"


def _isvc(name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in CRD_OBJECTS if d["kind"] == "InferenceService" and _name(d) == name]
    return doc


def _name(doc: dict[str, Any]) -> str:
    return doc["metadata"]["name"]


def _containers(isvc: dict[str, Any]) -> list[dict[str, Any]]:
    predictor = isvc["spec"]["predictor"]
    return predictor.get("containers") or [predictor["model"]]


@pytest.mark.parametrize("name", ["penguins", "penguins-tfserving"])
def test_inferenceservices_roll_out_as_canaries_in_serverless_mode(name):
    isvc = _isvc(name)
    predictor = isvc["spec"]["predictor"]
    assert 0 < predictor["canaryTrafficPercent"] < 100
    # KServe splits traffic between revisions only with Knative.
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless"
    assert predictor["serviceAccountName"] == "kubetfx-server"
    assert predictor["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize("name", ["penguins", "penguins-tfserving"])
def test_inferenceservice_containers_are_locked_down_and_sized(name):
    for container in _containers(_isvc(name)):
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] > 0
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_custom_predictor_runs_the_server_image_on_8080_with_v2_probes():
    (container,) = _containers(_isvc("penguins"))
    assert container["image"].split(":")[0].endswith("kubetfx-server")
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    # The server image's user (server.Dockerfile: USER 10001:10001).
    assert container["securityContext"]["runAsUser"] == 10001


def test_custom_predictor_mounts_every_volume_it_names():
    predictor = _isvc("penguins")["spec"]["predictor"]
    volumes = {v["name"] for v in predictor["volumes"]}
    (container,) = predictor["containers"]
    assert {m["name"] for m in container["volumeMounts"]} == volumes
    config_map = next(v["configMap"]["name"] for v in predictor["volumes"] if "configMap" in v)
    assert config_map in {_name(d) for _, d in CORE_OBJECTS if d["kind"] == "ConfigMap"}


def test_the_server_config_is_a_valid_kubetfx_config(tmp_path):
    from kubetfx.components.config_loader import load_config

    (config_map,) = [d for _, d in CORE_OBJECTS if _name(d) == "kubetfx-server-config"]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    serving = load_config(str(path)).serving
    assert serving.registry.startswith("gs://")
    assert serving.request_log.dir.startswith("gs://")
    # The mounted path the container's --config names.
    (container,) = _isvc("penguins")["spec"]["predictor"]["containers"]
    assert container["args"] == ["--config", "/etc/kubetfx/config.yaml"]


def test_tf_predictor_serves_a_registry_model_directory_with_a_matching_runtime():
    model = _isvc("penguins-tfserving")["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "tensorflow"}
    # TF Serving wants the directory whose numeric subdirectories are versions.
    assert model["storageUri"].startswith("gs://") and not model["storageUri"].endswith("/")
    tensorflow_pin = next(
        line.split("==")[1]
        for line in (ROOT / "requirements" / "serving-lock.txt").read_text().splitlines()
        if line.startswith("tensorflow==")
    )
    assert model["runtimeVersion"].split(".")[:2] == tensorflow_pin.split(".")[:2]


def _rules(role_name: str) -> dict[tuple[str, str], set[str]]:
    (role,) = [d for _, d in CORE_OBJECTS if d["kind"] == "Role" and _name(d) == role_name]
    return {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def test_trainer_launcher_role_grants_exactly_what_launching_workers_needs():
    assert _rules("kubetfx-train-launcher") == {
        ("batch", "jobs"): {"create", "get", "delete"},
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
        ("", "services"): {"create", "delete"},
        ("jobset.x-k8s.io", "jobsets"): {"create", "get", "delete"},
    }


def test_kserve_deployer_role_only_creates_patches_and_reads_inferenceservices():
    assert _rules("kubetfx-kserve-deployer") == {
        ("serving.kserve.io", "inferenceservices"): {"create", "get", "patch"},
    }


def test_infra_validator_role_only_runs_one_pod_and_reads_its_log():
    assert _rules("kubetfx-infra-validator") == {
        ("", "pods"): {"create", "get", "delete"},
        ("", "pods/log"): {"get"},
    }


@pytest.mark.parametrize(
    "role", ["kubetfx-train-launcher", "kubetfx-kserve-deployer", "kubetfx-infra-validator"]
)
def test_roles_are_bound_to_the_pipeline_runner(role):
    (binding,) = [d for _, d in CORE_OBJECTS if d["kind"] == "RoleBinding" and _name(d) == role]
    (role_doc,) = [d for _, d in CORE_OBJECTS if d["kind"] == "Role" and _name(d) == role]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role,
    }
    assert binding["metadata"]["namespace"] == role_doc["metadata"]["namespace"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": "kubeflow"}
    ]


def test_workload_identities_cannot_reach_the_kubernetes_api():
    accounts = [d for _, d in CORE_OBJECTS if d["kind"] == "ServiceAccount"]
    assert {_name(a) for a in accounts} == {"kubetfx-train-worker", "kubetfx-server"}
    for account in accounts:
        assert account["automountServiceAccountToken"] is False
        gsa = account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert gsa.endswith(".iam.gserviceaccount.com")


def test_the_event_sink_is_where_the_kserve_logger_posts():
    from kubetfx.serving.config import DEFAULT_SINK_URL

    (service,) = [d for _, d in CORE_OBJECTS if d["kind"] == "Service"]
    (deployment,) = [d for _, d in CORE_OBJECTS if d["kind"] == "Deployment"]
    # The default logger URL is this Service's cluster DNS name, on its port 80.
    namespace = service["metadata"]["namespace"]
    assert f"http://{_name(service)}.{namespace}.svc.cluster.local" == DEFAULT_SINK_URL
    assert _isvc("penguins-tfserving")["spec"]["predictor"]["logger"] == {
        "mode": "all",
        "url": DEFAULT_SINK_URL,
    }
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    pod = deployment["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == port["targetPort"]
    assert container["command"] == ["python", "-m", "kubetfx.serving.event_sink"]
    # It runs the server image as the server's identity, and stores under the request-log
    # directory of the server's config (the monitor reads both there).
    assert container["image"] == _containers(_isvc("penguins"))[0]["image"]
    assert pod["spec"]["serviceAccountName"] == "kubetfx-server"
    (config_map,) = [d for _, d in CORE_OBJECTS if _name(d) == "kubetfx-server-config"]
    log_dir = yaml.safe_load(config_map["data"]["config.yaml"])["serving"]["request_log"]["dir"]
    args = container["args"]
    assert args[args.index("--dir") + 1] == log_dir
    (policy,) = [d for _, d in CORE_OBJECTS if d["kind"] == "NetworkPolicy"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
