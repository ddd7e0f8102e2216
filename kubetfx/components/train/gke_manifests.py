"""The Kubernetes objects of multi-worker training on GKE, as pure functions of the config.

N worker pods run `python -m kubetfx.components.train` with the same arguments, as one Indexed Job
plus a headless Service (stable DNS names `{name}-{i}.{name}`), or as one JobSet whose
controller makes the Service itself (`{name}-worker-0-{i}.{name}`). Each pod's TF_CONFIG lists
every worker by that name and takes its own index from the downward API (the Job's completion
index), through Kubernetes' `$(VAR)` expansion: the manifest is the same for every pod.
Worker 0 is the chief (it writes the model). Resources, accelerators, node selectors and
tolerations are cluster.steps.train's, as the compile targets spell them.
"""

from __future__ import annotations

import dataclasses
import json

from kubetfx.components.config import PipelineConfig
from kubetfx.components.resources import TPUS, PodPlacement, pod_placement, step_settings
from kubetfx.errors import ConfigError

RUN_LABEL = "kubetfx.dev/train-run"
INDEX_ENV = "KUBETFX_WORKER_INDEX"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
REPLICATED_JOB = "worker"  # the JobSet's one replicated job
PORT_NAME = "tf-worker"
WORKER_USER = 10001  # the component image's numeric user (infra/docker/components.Dockerfile)


@dataclasses.dataclass(frozen=True)
class Launch:
    """Everything the manifests depend on."""

    name: str  # the Job (or JobSet) and Service name; unique per launch
    namespace: str
    image: str
    service_account: str
    workers: int
    port: int
    args: tuple[str, ...]  # of `python -m kubetfx.components.train`
    placement: PodPlacement
    timeout_seconds: int
    ttl_seconds: int
    use_jobset: bool
    module: str = "kubetfx.components.train"  # what each pod runs: python -m MODULE ARGS
    tf_config: bool = True  # TF_CONFIG for multi-worker training (a tuning search: none)
    env: tuple[tuple[str, str], ...] = ()  # more environment, the same in every pod

    @property
    def selector(self) -> str:
        return f"{RUN_LABEL}={self.name}"


def plan(cfg: PipelineConfig, name: str, args: list[str]) -> Launch:
    train, gke = cfg.train, cfg.train.gke
    settings = step_settings(cfg, "train")
    if settings.resources.accelerator in TPUS and train.workers > 1:
        raise ConfigError(
            f"train.workers: the GKE launcher trains on one TPU host (a single-host slice, "
            f"e.g. tpu_topology '2x2'), got {train.workers} workers; use 1, or GPUs/CPUs"
        )
    return Launch(
        name=name,
        namespace=gke.namespace,
        image=gke.image or cfg.images.components,
        service_account=gke.service_account,
        workers=train.workers,
        port=gke.port,
        args=tuple(args),
        placement=pod_placement(settings),
        timeout_seconds=train.timeout_seconds,
        ttl_seconds=gke.ttl_seconds_after_finished,
        use_jobset=gke.use_jobset,
    )


def worker_hosts(launch: Launch) -> list[str]:
    """host:port of every worker, index order (TF_CONFIG's cluster.worker)."""
    pod = f"{launch.name}-{REPLICATED_JOB}-0" if launch.use_jobset else launch.name
    domain = f"{launch.name}.{launch.namespace}.svc"
    return [f"{pod}-{i}.{domain}:{launch.port}" for i in range(launch.workers)]


def tf_config(launch: Launch) -> str:
    """TF_CONFIG with the task index left to Kubernetes: `$(KUBETFX_WORKER_INDEX)`."""
    cluster = json.dumps({"worker": worker_hosts(launch)})
    return f'{{"cluster": {cluster}, "task": {{"type": "worker", "index": $({INDEX_ENV})}}}}'


def _labels(launch: Launch) -> dict[str, str]:
    return {
        RUN_LABEL: launch.name,
        "app.kubernetes.io/part-of": "kubetfx",
        "app.kubernetes.io/component": "trainer",
    }


def _metadata(launch: Launch) -> dict:
    return {"name": launch.name, "namespace": launch.namespace, "labels": _labels(launch)}


def pod_template(launch: Launch) -> dict:
    placement = launch.placement
    container = {
        "name": "worker",
        "image": launch.image,
        "command": ["python", "-m", launch.module],
        "args": list(launch.args),
        "ports": [{"name": PORT_NAME, "containerPort": launch.port, "protocol": "TCP"}],
        # The index first: Kubernetes expands $(VAR) only from variables defined before.
        "env": [
            {"name": INDEX_ENV, "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
            *([{"name": "TF_CONFIG", "value": tf_config(launch)}] if launch.tf_config else []),
            *({"name": name, "value": value} for name, value in launch.env),
            {"name": "PYTHONUNBUFFERED", "value": "1"},  # logs reach the launcher as written
            {"name": "HOME", "value": "/tmp"},  # the root filesystem is read-only
        ],
        "resources": {"requests": placement.requests, "limits": placement.limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    spec = {
        "restartPolicy": "Never",
        "serviceAccountName": launch.service_account,
        "automountServiceAccountToken": False,  # workers never call the Kubernetes API
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_USER,
            "runAsGroup": WORKER_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if not launch.use_jobset:
        spec["subdomain"] = launch.name  # the headless Service: {pod hostname}.{name}
    if placement.node_selector:
        spec["nodeSelector"] = placement.node_selector
    if placement.tolerations:
        spec["tolerations"] = placement.tolerations
    return {"metadata": {"labels": _labels(launch)}, "spec": spec}


def _job_spec(launch: Launch) -> dict:
    return {
        "completionMode": "Indexed",  # pod hostnames {job}-{index}, index in an annotation
        "completions": launch.workers,
        "parallelism": launch.workers,
        "backoffLimit": 0,  # one failed worker fails the training
        "activeDeadlineSeconds": launch.timeout_seconds,  # even if the launcher is gone
        "template": pod_template(launch),
    }


def job(launch: Launch) -> dict:
    spec = {**_job_spec(launch), "ttlSecondsAfterFinished": launch.ttl_seconds}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _metadata(launch), "spec": spec}


def service(launch: Launch, owner: dict | None = None) -> dict:
    """The headless Service of the workers' DNS names; owned by the Job when given, so the
    cluster deletes it with the Job (TTL) should the launcher die before cleaning up."""
    metadata = _metadata(launch)
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "clusterIP": "None",
            "selector": {RUN_LABEL: launch.name},
            # Workers resolve each other while starting, before anything is ready.
            "publishNotReadyAddresses": True,
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": launch.port,
                    "targetPort": launch.port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def jobset(launch: Launch) -> dict:
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": _metadata(launch),
        "spec": {
            "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
            "failurePolicy": {"maxRestarts": 0},
            "successPolicy": {"operator": "All"},
            "ttlSecondsAfterFinished": launch.ttl_seconds,
            "replicatedJobs": [
                {"name": REPLICATED_JOB, "replicas": 1, "template": {"spec": _job_spec(launch)}}
            ],
        },
    }
