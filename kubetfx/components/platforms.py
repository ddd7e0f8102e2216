"""Where the steps run: Beam options, images, per-step cluster resources, Kubeflow and Vertex."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kubetfx.components.config_base import Section


class BeamConfig(Section):
    pipeline_args: list[str] = Field(
        default_factory=lambda: [
            "--runner=DirectRunner",
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        ],
        description="Apache Beam options, e.g. --runner=DataflowRunner --project=... "
        "--region=... --temp_location=gs://...",
    )
    in_memory_below_mb: float = Field(
        16,
        ge=0,
        description="A DirectRunner step whose input is smaller than this runs in one process "
        "(direct_running_mode=in_memory): starting worker processes, each importing TF, costs "
        "more than they save on small data. 0 keeps pipeline_args as they are.",
    )


class ImagesConfig(Section):
    components: str = Field(
        "kubetfx-components:dev",
        description="Container image the components run in on a cluster.",
    )
    server: str = Field(
        "kubetfx-server:dev", description="Container image of the model server (KServe)."
    )


class Toleration(Section):
    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class StepResources(Section):
    """What one step asks of a cluster (ignored by local runs)."""

    cpu: str | None = Field(None, description="CPU request and limit, e.g. '2' or '500m'.")
    memory: str | None = Field(None, description="Memory request and limit, e.g. '8G'.")
    accelerator: str | None = Field(
        None,
        description="GKE accelerator name, e.g. nvidia-tesla-t4, nvidia-l4, tpu-v5-lite-podslice. "
        "Compiled as nvidia.com/gpu / google.com/tpu plus node selectors on Kubeflow, and as "
        "the Vertex enum (NVIDIA_TESLA_T4, TPU_V5_LITEPOD...) on Vertex.",
    )
    accelerator_count: int = Field(1, ge=1)
    tpu_topology: str | None = Field(None, description="e.g. '2x2' for a v5e slice.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    caching: bool = Field(True, description="Let KFP reuse this step's earlier outputs.")
    retries: int | None = Field(
        None,
        ge=0,
        le=10,
        description="How often the cluster reruns the step after a failure (a preempted node, "
        "a Dataflow or API hiccup). Default: 2 for the Beam steps, train and push, else 0.",
    )
    retry_backoff_seconds: float = Field(
        60.0, gt=0, le=3600, description="Wait before the first retry; doubled each time."
    )
    beam_args: list[str] | None = Field(
        None, description="Beam options for this step (e.g. Dataflow); default beam.pipeline_args."
    )


class ClusterConfig(Section):
    """Per-step resources on Kubeflow/Vertex. Keys are stage names (ingest, train, ...)."""

    default: StepResources = Field(default_factory=lambda: StepResources(cpu="1", memory="4G"))
    steps: dict[str, StepResources] = Field(
        default_factory=lambda: {"train": StepResources(cpu="4", memory="16G")}
    )


class KubeflowConfig(Section):
    """Kubeflow Pipelines on a cluster (`kubetfx submit|schedule --target kubeflow`)."""

    host: str | None = Field(None, description="KFP API endpoint, e.g. https://kfp.example.com")
    namespace: str = "kubeflow"
    experiment: str = "kubetfx"
    service_account: str | None = Field(
        None, description="Kubernetes service account the steps run as (Workload Identity)."
    )


class VertexConfig(Section):
    """Vertex AI (`--target vertex`): Pipelines, training CustomJobs, Endpoints."""

    project: str | None = None
    region: str | None = None
    service_account: str | None = Field(None, description="Service account the jobs run as.")
    experiment: str | None = Field(
        None,
        description="Vertex AI Experiment the pipeline runs and the training jobs log to "
        "(params and metrics); needs service_account.",
    )
    tensorboard: str | None = Field(
        None,
        pattern=r"^projects/[^/]+/locations/[^/]+/tensorboards/[^/]+$",
        description="Vertex AI TensorBoard (projects/P/locations/L/tensorboards/ID; terraform "
        "output vertex_tensorboard) the training job uploads its curves to (train.backend "
        "vertex); needs service_account.",
    )
    endpoint: str = Field("kubetfx", description="Endpoint display name for pushes.")
