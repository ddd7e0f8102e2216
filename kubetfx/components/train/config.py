"""train's config: the model, the strategy, and where it trains."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from kubetfx.components.config_base import Section, dns_label


class GkeTrainConfig(Section):
    """The GKE launcher (train.backend 'gke'): where and as whom the worker pods run."""

    namespace: str = Field("kubeflow", description="Namespace of the worker pods (RBAC: infra/).")
    image: str | None = Field(None, description="Worker image. Default: images.components.")
    service_account: str = Field(
        "kubetfx-train-worker",
        description="Kubernetes service account of the workers (Workload Identity for gs://).",
    )
    use_jobset: bool = Field(
        False,
        description="Launch one JobSet (needs the JobSet controller) instead of an Indexed Job "
        "plus a headless Service.",
    )
    port: int = Field(2222, ge=1024, le=65535, description="Port the workers talk gRPC on.")
    poll_seconds: float = Field(10.0, gt=0, description="How often the launcher looks at pods.")
    ttl_seconds_after_finished: int = Field(
        3600,
        ge=0,
        description="The cluster deletes finished workers after this, should the "
        "launcher itself die before cleaning up.",
    )

    _check_names = field_validator("namespace", "service_account")(dns_label)


class TrainConfig(Section):
    """Trainer: a tf_keras model from config (or the user's), under a distribution strategy."""

    task: Literal["auto", "classification", "regression"] = "auto"
    model: Literal["dnn", "wide_deep"] = "wide_deep"
    hidden_units: list[int] = Field(default_factory=lambda: [32, 16])
    embedding_dim: int = Field(8, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    batch_size: int = Field(32, ge=1, description="Global batch size (across replicas).")
    epochs: int = Field(60, ge=0)
    steps_per_epoch: int | None = Field(
        None, ge=1, description="Default: one pass over the train split."
    )
    early_stopping_patience: int = Field(8, ge=1)
    strategy: Literal["auto", "one_device", "mirrored", "multi_worker", "tpu"] = "auto"
    tpu: str | None = Field(None, description="TPU name or address for strategy 'tpu'.")
    mixed_precision: Literal["none", "mixed_float16", "mixed_bfloat16"] = "none"
    seed: int = 42
    deterministic: bool = Field(True, description="tf.config.experimental.enable_op_determinism")
    module_file: str | None = Field(
        None,
        description="A Python file defining build_model(ctx) -> tf_keras.Model, or "
        "run_fn(fn_args) that trains and exports by itself (as TFX's Trainer module_file).",
    )
    backend: Literal["local", "gke", "vertex"] = Field(
        "local",
        description="Where the train step trains: 'local' in its own process; 'gke' launches "
        "worker pods on the cluster (Indexed Job or JobSet); 'vertex' runs a Vertex AI "
        "CustomJob. Resources come from cluster.steps.train.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Worker processes for backend gke/vertex (vertex: a chief plus workers-1); "
        "more than 1 trains with MultiWorkerMirroredStrategy.",
    )
    machine_type: str | None = Field(
        None,
        description="Vertex machine type. Default: n1-standard-8, or the TPU v5e machine for "
        "cluster.steps.train.tpu_topology.",
    )
    timeout_seconds: int = Field(
        6 * 3600, ge=60, description="backend gke/vertex: fail the step after this long."
    )
    gke: GkeTrainConfig = Field(default_factory=GkeTrainConfig)

    @model_validator(mode="after")
    def _check_backend(self) -> TrainConfig:
        if self.workers > 1 and self.backend == "local":
            raise ValueError(
                f"train.workers: {self.workers} workers need train.backend 'gke' or 'vertex'; "
                "locally, start `python -m kubetfx.components.train` once per worker with TF_CONFIG"
            )
        if self.workers > 1 and self.strategy in ("one_device", "mirrored", "tpu"):
            raise ValueError(
                f"train.strategy: {self.strategy!r} trains on one machine, but train.workers is "
                f"{self.workers}; use 'multi_worker' or 'auto'"
            )
        return self

    @model_validator(mode="after")
    def _check_strategy(self) -> TrainConfig:
        if self.strategy == "tpu" and self.batch_size % 8:
            raise ValueError(
                f"train.batch_size must be a multiple of 8 with strategy 'tpu' (8 cores per "
                f"TPU host), got {self.batch_size}"
            )
        if self.mixed_precision == "mixed_bfloat16" and self.strategy not in ("tpu", "auto"):
            raise ValueError(
                "train.mixed_precision 'mixed_bfloat16' is for TPUs; use 'mixed_float16' on GPUs"
            )
        return self
