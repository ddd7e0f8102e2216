"""What a step asks of a cluster: its merged resources and how accelerators are named.

Shared by the compile targets (kubetfx/pipelines/targets.py: each KFP task) and the train step's own
launchers (worker pods on GKE, Vertex AI worker pools), so that a step's GPUs, TPUs and
placement are spelled once. The two platforms name accelerators differently (DESIGN.md §4):
Kubernetes schedules `nvidia.com/gpu` / `google.com/tpu` plus GKE node labels and taints,
Vertex AI takes an enum (`NVIDIA_TESLA_T4`, `TPU_V5_LITEPOD`...).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from kubetfx.components.config import PipelineConfig, StepResources
from kubetfx.errors import ConfigError

# GKE accelerator name (the node label value) -> Vertex AI AcceleratorType enum name.
GPUS = {
    "nvidia-tesla-p4": "NVIDIA_TESLA_P4",
    "nvidia-tesla-p100": "NVIDIA_TESLA_P100",
    "nvidia-tesla-v100": "NVIDIA_TESLA_V100",
    "nvidia-tesla-t4": "NVIDIA_TESLA_T4",
    "nvidia-tesla-a100": "NVIDIA_TESLA_A100",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB",
    "nvidia-l4": "NVIDIA_L4",
    "nvidia-h100-80gb": "NVIDIA_H100_80GB",
    "nvidia-h100-mega-80gb": "NVIDIA_H100_MEGA_80GB",
    "nvidia-h200-141gb": "NVIDIA_H200_141GB",
    "nvidia-b200": "NVIDIA_B200",
}
TPUS = {
    "tpu-v4-podslice": "TPU_V4_POD",
    "tpu-v5-lite-podslice": "TPU_V5_LITEPOD",
}
# GKE taints GPU and TPU node pools so that only pods asking for the device land there.
GPU_RESOURCE, TPU_RESOURCE = "nvidia.com/gpu", "google.com/tpu"
GPU_NODE_LABEL = "cloud.google.com/gke-accelerator"
TPU_NODE_LABEL, TPU_TOPOLOGY_LABEL = (
    "cloud.google.com/gke-tpu-accelerator",
    "cloud.google.com/gke-tpu-topology",
)


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """One step's resources (cluster.default merged with cluster.steps.<stage>)."""

    stage: str
    resources: StepResources
    own: frozenset[str]  # the fields cluster.steps.<stage> set itself

    def field(self, name: str) -> str:
        """The config key a value came from, for error messages."""
        return f"{self.section(name)}.{name}"

    def section(self, name: str) -> str:
        return f"cluster.steps.{self.stage}" if name in self.own else "cluster.default"


def step_settings(cfg: PipelineConfig, stage: str) -> StepSettings:
    """A field set for the step replaces the default's (a step can drop a default selector).

    "Set" is pydantic's model_fields_set: what the YAML file or flags gave, which is how
    load_config builds the config (a config rebuilt from its JSON dump has every field set).
    """
    step = cfg.cluster.steps.get(stage)
    own = frozenset(step.model_fields_set) if step is not None else frozenset()
    values = {
        name: getattr(step if name in own else cfg.cluster.default, name)
        for name in StepResources.model_fields
    }
    return StepSettings(stage, StepResources.model_construct(**values), own)


def accelerator_names(
    settings: StepSettings, target: Literal["kubeflow", "vertex"]
) -> tuple[str, str]:
    """(kind 'gpu'|'tpu', the name this target wants) for the step's accelerator."""
    name = settings.resources.accelerator or ""
    if name in GPUS:
        return "gpu", GPUS[name] if target == "vertex" else GPU_RESOURCE
    if name in TPUS:
        if target == "kubeflow" and not settings.resources.tpu_topology:
            raise ConfigError(
                f"{settings.section('accelerator')}.tpu_topology: GKE places TPU pods by "
                f"slice topology; set it for {name} (e.g. '2x2' for a 4-chip v5e slice)"
            )
        return "tpu", TPUS[name] if target == "vertex" else TPU_RESOURCE
    raise ConfigError(
        f"{settings.field('accelerator')}: unknown accelerator {name!r} for step "
        f"{settings.stage}; expected a GKE accelerator name, one of: {', '.join([*GPUS, *TPUS])}"
    )


@dataclasses.dataclass(frozen=True)
class PodPlacement:
    """A step's resources as Kubernetes pod fields (what kfp-kubernetes sets on a KFP task)."""

    requests: dict[str, str]
    limits: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


def pod_placement(settings: StepSettings) -> PodPlacement:
    """Requests = limits (Guaranteed QoS), the accelerator's resource, GKE selectors/taints."""
    res = settings.resources
    sized = {k: v for k, v in (("cpu", res.cpu), ("memory", res.memory)) if v}
    limits, selector, tolerations = dict(sized), {}, []
    if res.accelerator:
        kind, resource = accelerator_names(settings, "kubeflow")
        limits[resource] = str(res.accelerator_count)
        if kind == "gpu":
            selector[GPU_NODE_LABEL] = res.accelerator
        else:
            selector[TPU_NODE_LABEL] = res.accelerator
            selector[TPU_TOPOLOGY_LABEL] = res.tpu_topology
        tolerations.append({"key": resource, "operator": "Exists", "effect": "NoSchedule"})
    selector.update(res.node_selector)
    for toleration in res.tolerations:
        tolerations.append(toleration.model_dump(exclude_none=True))
    return PodPlacement(dict(sized), limits, selector, tolerations)
