"""Push target 'kserve': roll a pushed version out as a KServe InferenceService canary.

The InferenceService (Serverless mode: Knative revisions, which `canaryTrafficPercent`
needs) is created on the first push and merge-patched on later ones: the changed predictor
becomes a new revision that gets push.canary_percent of the traffic, the last rolled-out one
the rest. `promote` removes canaryTrafficPercent (the new revision takes all traffic);
`rollback` sets it to 0 (all traffic back to the previous revision, the canary gets none).

Predictor 'tensorflow' is KServe's TF Serving runtime. TF Serving serves the newest numeric
version under its storageUri, so each version gets a base directory of its own holding only
it (`{registry}/{model}/.kserve/{version}/{version}/`, which the registry and the model
server ignore); a revision then keeps serving its version. Predictor 'server' is the
project's model server image on the registry: it follows the registry's champion and
challenger itself (serving.traffic), and KServe's canary covers changes of the image.

The 'tensorflow' predictor keeps no request log of its own, so it gets KServe's request logger
(serving.request_log.kserve_logger_url, the event sink of infra/k8s/kserve/event-sink.yaml):
every request and answer as a CloudEvent, which `kubetfx monitor` reads with
serving.request_log.source 'kserve'. The 'server' predictor writes its own JSONL log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.k8s import Kube
from kubetfx.components.registry import SAVED_MODEL, ModelRegistry
from kubetfx.errors import DeployFailed, KubeError, NotFound

VERSION_ANNOTATION = "kubetfx.dev/model-version"
SERVER_USER = 10001  # the server image's numeric user (infra/docker/server.Dockerfile)
PROMOTE_PATCH = {"spec": {"predictor": {"canaryTrafficPercent": None}}}
ROLLBACK_PATCH = {"spec": {"predictor": {"canaryTrafficPercent": 0}}}


def service_name(cfg: PipelineConfig) -> str:
    return cfg.push.kserve.name or (cfg.push.model_name or "").replace("_", "-")


def storage_uri(registry: ModelRegistry, version: int) -> str:
    """The TF Serving base directory that holds only this version."""
    return fileio.join(registry.directory, ".kserve", str(version))


def publish(registry: ModelRegistry, version: int) -> str:
    """Copy the version under its own base directory (saved_model.pb last); return it."""
    base = storage_uri(registry, version)
    fileio.copy_tree(registry.version_dir(version), fileio.join(base, str(version)), SAVED_MODEL)
    return base


def _locked_down() -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVER_USER,
        "runAsGroup": SERVER_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _resources(cfg: PipelineConfig) -> dict:
    sized = {"cpu": cfg.push.kserve.cpu, "memory": cfg.push.kserve.memory}
    return {"requests": sized, "limits": dict(sized)}  # Guaranteed QoS, as the steps


def inference_service(
    cfg: PipelineConfig, registry: ModelRegistry, version: int, canary_percent: int | None
) -> dict:
    """The InferenceService serving `version`; canary_percent None means a full rollout."""
    kserve = cfg.push.kserve
    predictor: dict = {
        "minReplicas": kserve.min_replicas,
        "maxReplicas": kserve.max_replicas,
        "serviceAccountName": kserve.service_account,
        # Knative accepts only seccompProfile at pod level; the rest is per container.
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        # A predictor change makes a new revision; the version makes every push one.
        "annotations": {VERSION_ANNOTATION: str(version)},
    }
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    if kserve.predictor == "tensorflow":
        predictor["model"] = {
            "modelFormat": {"name": "tensorflow"},
            "runtimeVersion": kserve.runtime_version,
            "protocolVersion": "v1",
            "storageUri": storage_uri(registry, version),
            "resources": _resources(cfg),
            "securityContext": _locked_down(),
        }
        sink = cfg.serving.request_log.kserve_logger_url
        if sink:  # TF Serving keeps no request log: KServe's logger posts each to the sink
            predictor["logger"] = {
                "mode": "all",
                "url": sink,
                # The version rides along in each event's `annotations` extension.
                "metadataAnnotations": [VERSION_ANNOTATION],
            }
    else:
        predictor["containers"] = [
            {
                "name": "kserve-container",
                "image": cfg.images.server,
                "args": ["--registry", registry.root, "--model", registry.model_name],
                "ports": [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8080}},
                "resources": _resources(cfg),
                "securityContext": _locked_down(),
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ]
        predictor["volumes"] = [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": service_name(cfg),
            "namespace": kserve.namespace,
            "labels": {
                "app.kubernetes.io/name": service_name(cfg),
                "app.kubernetes.io/part-of": "kubetfx",
            },
            "annotations": {"serving.kserve.io/deploymentMode": "Serverless"},
        },
        "spec": {"predictor": predictor},
    }


class KServeTarget:
    """Deploy, promote and roll back one InferenceService through a kubetfx.components.k8s.Kube."""

    def __init__(
        self,
        cfg: PipelineConfig,
        kube: Kube | None = None,
        out: Callable[[str], None] = print,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg, self._kube, self.out, self.sleep, self.clock = cfg, kube, out, sleep, clock
        self.namespace, self.name = cfg.push.kserve.namespace, service_name(cfg)

    @property
    def kube(self) -> Kube:
        """Connected on first use: a dry run needs no cluster."""
        if self._kube is None:
            self._kube = Kube.connect()
        return self._kube

    def deploy(self, registry: ModelRegistry, version: int) -> str:
        """Create or patch the InferenceService for `version`; wait until it is ready.

        A revision that does not become ready is rolled back (the previous one keeps all
        traffic) and the push fails (DeployFailed).
        """
        try:
            current = self.kube.read_inference_service(self.namespace, self.name)
        except NotFound:
            current = None
        canary = self.cfg.push.canary_percent
        # A first deployment has nothing to share traffic with; 100 is a full rollout.
        share = None if current is None or canary == 100 else canary
        if self.cfg.push.kserve.predictor == "tensorflow":
            publish(registry, version)
        body = inference_service(self.cfg, registry, version, share)
        where = f"InferenceService {self.namespace}/{self.name}"
        if current is None:
            applied = self.kube.create_inference_service(self.namespace, body)
        else:
            # Merge patch: a None canary share removes canaryTrafficPercent (full rollout).
            predictor = {**body["spec"]["predictor"], "canaryTrafficPercent": share}
            applied = self.kube.patch_inference_service(
                self.namespace, self.name, {"spec": {"predictor": predictor}}
            )
        self.out(f"[push] {where}: version {version} at {share or 100}% of the traffic")
        failure = self._wait_ready(applied.get("metadata", {}).get("generation"))
        if failure:
            if current is not None:
                self.kube.patch_inference_service(self.namespace, self.name, ROLLBACK_PATCH)
            raise DeployFailed(
                f"{where}: version {version} did not become ready ({failure}); "
                + (
                    "rolled back, the previous revision serves all traffic"
                    if current
                    else "nothing was serving before it"
                )
            )
        return f"{where} version {version} at {share or 100}%"

    def _wait_ready(self, generation: int | None) -> str | None:
        """None once the new revision is ready, else why not (a failure, or the timeout)."""
        timeout = self.cfg.push.kserve.ready_timeout_seconds
        if not timeout:
            return None
        deadline = self.clock() + timeout
        while True:
            status = self.kube.read_inference_service(self.namespace, self.name).get("status", {})
            current = generation is None or status.get("observedGeneration", 0) >= generation
            model = status.get("modelStatus", {})
            if current and model.get("transitionStatus") in ("BlockedByFailedLoad", "InvalidSpec"):
                info = model.get("lastFailureInfo", {})
                return (
                    f"{model['transitionStatus']}: {info.get('message') or info.get('reason', '')}"
                )
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions", [])
            )
            if current and ready:
                return None
            if self.clock() >= deadline:
                return f"not ready after {timeout:g}s (push.kserve.ready_timeout_seconds)"
            self.sleep(5.0)

    def change(self, action: str) -> dict:
        """The request `promote` or `rollback` sends: a merge patch of the predictor."""
        patch = PROMOTE_PATCH if action == "promote" else ROLLBACK_PATCH
        return {
            "target": "kserve",
            "action": action,
            "namespace": self.namespace,
            "inference_service": self.name,
            "merge_patch": patch,
        }

    def apply(self, change: dict) -> None:
        try:
            self.kube.patch_inference_service(self.namespace, self.name, change["merge_patch"])
        except NotFound as e:
            raise KubeError(
                f"no InferenceService {self.namespace}/{self.name} to {change['action']}"
            ) from e
