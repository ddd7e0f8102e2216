"""Typed configuration of a kubetfx pipeline.

One `PipelineConfig` describes a run. It is validated once, at the entry point (CLI or
`kubetfx.components.config_loader.load_config`), serialized to JSON and handed to every
component, which picks the sections it needs. Each section is defined beside its stage
(`components/<stage>/config.py`, `serving/config.py`, `components/platforms.py`); this module
assembles them and re-exports them, so `from kubetfx.components.config import TrainConfig`
works wherever a whole config is at hand.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from kubetfx.components.batch_predict.config import BatchPredictConfig
from kubetfx.components.config_base import NAME_RE, Section
from kubetfx.components.evaluate.config import (
    DirectionalCheck,
    EvaluateConfig,
    InvarianceCheck,
    MetricThreshold,
)
from kubetfx.components.infra_validate.config import InfraValidateConfig
from kubetfx.components.ingest.config import (
    BUILTIN_PENGUINS,
    DataConfig,
    IngestConfig,
    dataset_name_from_path,
)
from kubetfx.components.monitor.config import MonitorConfig
from kubetfx.components.notify.config import NotifyConfig
from kubetfx.components.platforms import (
    BeamConfig,
    ClusterConfig,
    ImagesConfig,
    KubeflowConfig,
    StepResources,
    Toleration,
    VertexConfig,
)
from kubetfx.components.push.config import (
    CardOwner,
    CardRisk,
    KServePushConfig,
    ModelCardConfig,
    PushConfig,
    VertexPushConfig,
)
from kubetfx.components.schema.config import SchemaConfig
from kubetfx.components.train.config import GkeTrainConfig, TrainConfig, TuneConfig
from kubetfx.components.transform.config import TransformConfig
from kubetfx.components.validate.config import ValidateConfig
from kubetfx.serving.config import (
    RequestLogConfig,
    ServingConfig,
    ServingLabels,
    TrafficConfig,
    VersionPolicy,
)

__all__ = [
    "BUILTIN_PENGUINS", "BatchPredictConfig", "BeamConfig", "CardOwner", "CardRisk",
    "ClusterConfig", "DataConfig",
    "DirectionalCheck", "EvaluateConfig", "GkeTrainConfig", "ImagesConfig", "InfraValidateConfig",
    "IngestConfig", "InvarianceCheck", "KServePushConfig", "KubeflowConfig", "MetricThreshold",
    "ModelCardConfig", "MonitorConfig", "NotifyConfig", "PipelineConfig", "PushConfig",
    "RequestLogConfig",
    "SchemaConfig", "ServingConfig", "ServingLabels", "StepResources", "Toleration",
    "TrafficConfig", "TrainConfig", "TransformConfig", "TuneConfig", "ValidateConfig",
    "VersionPolicy", "VertexConfig", "VertexPushConfig", "dataset_name_from_path",
]  # fmt: skip


# Beam runners that run in the step's own process (no --runner means the DirectRunner).
LOCAL_BEAM_RUNNERS = ("directrunner", "direct", "prismrunner", "prism", "interactiverunner")


class PipelineConfig(Section):
    """A whole run. Defaults run the training pipeline on Palmer Penguins locally."""

    pipeline_name: str = "kubetfx-training"
    pipeline_root: str = Field("./pipeline_root", description="Where run artifacts are written.")
    reference_root: str = Field(
        "./references",
        description="Reference schemas and previous statistics, per dataset (outside runs).",
    )
    runner: Literal["subprocess", "docker"] = Field(
        "subprocess",
        description="How a local run (kfp.local) runs each step: 'subprocess' in this Python "
        "environment, or 'docker' in images.components through the Docker API at DOCKER_HOST "
        "(Docker, or `podman system service`); every local path must then be under "
        "pipeline_root, the one directory kfp mounts. `make e2e` runs this way.",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    schema_: SchemaConfig = Field(default_factory=SchemaConfig, alias="schema")
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    transform: TransformConfig = Field(default_factory=TransformConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    infra_validate: InfraValidateConfig = Field(default_factory=InfraValidateConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    model_card: ModelCardConfig = Field(default_factory=ModelCardConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    batch_predict: BatchPredictConfig = Field(default_factory=BatchPredictConfig)
    beam: BeamConfig = Field(default_factory=BeamConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)
    vertex: VertexConfig = Field(default_factory=VertexConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("pipeline_name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError(f"must be lowercase letters, digits, '-' or '_', got {name!r}")
        return name

    @model_validator(mode="after")
    def _dataset_defaults(self) -> PipelineConfig:
        if self.push.model_name is None:
            object.__setattr__(
                self, "push", self.push.model_copy(update={"model_name": self.data.name})
            )
        if self.serving.registry is None:
            object.__setattr__(
                self, "serving", self.serving.model_copy(update={"registry": self.push.registry})
            )
        return self

    def beam_args_for(self, stage: str, input_bytes: int | None = None) -> list[str]:
        """Beam options of one step: cluster.steps.<stage>.beam_args when set (e.g. Dataflow
        for transform only), else beam.pipeline_args, in one process when the step's input
        is smaller than beam.in_memory_below_mb on the DirectRunner."""
        step = self.cluster.steps.get(stage)
        if step is not None and step.beam_args is not None:
            return step.beam_args
        args = self.beam.pipeline_args
        direct = all(
            a in ("--runner=DirectRunner", "--runner=direct")
            for a in args
            if a.startswith("--runner")
        )
        small = input_bytes is not None and input_bytes < self.beam.in_memory_below_mb * 2**20
        if not (direct and small):
            return args
        mode = ("--direct_running_mode", "--direct_num_workers")
        return [a for a in args if not a.startswith(mode)] + ["--direct_running_mode=in_memory"]

    def beam_location(self, stage: str, artifact) -> str:
        """Where `stage`'s Beam pipeline reads or writes `artifact` (a kfp artifact): its
        bucket URI (gs://...) when the step's runner runs elsewhere (Dataflow's workers see
        neither the pod's local copy on Kubeflow nor Vertex's /gcs mount), else its path."""
        runners = [
            a.split("=", 1)[1] for a in self.beam_args_for(stage) if a.startswith("--runner=")
        ]
        local = all(r.lower() in LOCAL_BEAM_RUNNERS for r in runners)
        remote_uri = "://" in artifact.uri and not artifact.uri.startswith("file://")
        return artifact.uri if remote_uri and not local else artifact.path

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.model_validate_json(text)
