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
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout after each hidden layer.")
    hyperparameters: dict[str, float | int | str] = Field(
        default_factory=dict,
        description="Set by tune: the best values found (a train.module_file's build_model "
        "reads them, and any others of tune.search_space, as ctx.hyperparameters).",
    )
    learning_rate: float = Field(0.01, gt=0)
    batch_size: int = Field(32, ge=1, description="Global batch size (across replicas).")
    epochs: int = Field(60, ge=0)
    steps_per_epoch: int | None = Field(
        None, ge=1, description="Default: one pass over the train split."
    )
    early_stopping_patience: int = Field(8, ge=1)
    in_memory_below_mb: float = Field(
        64.0,
        ge=0,
        description="Hold a transformed split in memory, parsed, when its TFRecords take less "
        "than this on disk (GZIP; dense features only): every pass after the first then takes "
        "almost no CPU from the model. It needs a few times its size on disk in memory (about "
        "2.5x for numeric features, twice that while a pass is reshuffled). 0: always stream "
        "the split from its files.",
    )
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


# Hyperparameters the built-in models take from a search (anything else in tune.search_space
# reaches a user's build_model(ctx) as ctx.hyperparameters). units and layers become
# hidden_units: `layers` layers, the first of `units`, each next one half as wide.
BUILT_IN_HYPERPARAMETERS = (
    "learning_rate", "batch_size", "embedding_dim", "dropout", "units", "layers",
)  # fmt: skip


class Hyperparameter(Section):
    """One dimension of the search: an int or float range, or a choice of values."""

    type: Literal["int", "float", "choice"]
    min: float | None = None
    max: float | None = None
    step: float | None = Field(None, description="int/float: grid step (default: continuous).")
    sampling: Literal["linear", "log"] = Field("linear", description="log: search the exponent.")
    values: list[float | int | str] | None = Field(None, description="choice: the values.")

    @model_validator(mode="after")
    def _check(self) -> Hyperparameter:
        if self.type == "choice":
            if not self.values:
                raise ValueError("a 'choice' hyperparameter needs values: [...]")
        elif self.min is None or self.max is None or self.min >= self.max:
            raise ValueError(f"an {self.type!r} hyperparameter needs min < max")
        elif self.sampling == "log" and self.min <= 0:
            raise ValueError("sampling 'log' needs min > 0")
        return self


def _default_space() -> dict[str, Hyperparameter]:
    return {
        "learning_rate": Hyperparameter(type="float", min=1e-3, max=0.1, sampling="log"),
        "units": Hyperparameter(type="int", min=8, max=64, step=8),
        "layers": Hyperparameter(type="int", min=1, max=3),
        "dropout": Hyperparameter(type="float", min=0.0, max=0.3, step=0.1),
    }


class TuneConfig(Section):
    """Tuner: a hyperparameter search before train (KerasTuner's oracles). Off by default;
    on, train uses the best values found instead of the config's."""

    enabled: bool = Field(False, description="Run the tune step; train takes its best values.")
    backend: Literal["local", "vertex", "gke"] = Field(
        "local",
        description="'local': trials one after another in the step; 'vertex': a Vertex AI "
        "HyperparameterTuningJob (Vizier) with parallel trials; 'gke': KerasTuner's distributed "
        "mode, a chief oracle pod and parallel_trials worker pods.",
    )
    algorithm: Literal["random", "bayesian", "hyperband"] = "bayesian"
    objective: str = Field("val_loss", description="A Keras history metric, e.g. val_loss.")
    direction: Literal["auto", "min", "max"] = Field(
        "auto", description="auto: max for accuracy/auc-like metrics, min otherwise."
    )
    max_trials: int = Field(8, ge=1, le=500)
    epochs: int = Field(30, ge=1, description="At most this many epochs per trial.")
    early_stopping_patience: int = Field(4, ge=1)
    parallel_trials: int = Field(2, ge=1, le=64, description="vertex and gke backends.")
    search_space: dict[str, Hyperparameter] = Field(default_factory=_default_space)

    @property
    def maximize(self) -> bool:
        if self.direction != "auto":
            return self.direction == "max"
        return any(word in self.objective for word in ("accuracy", "auc", "precision", "recall"))

    @field_validator("search_space")
    @classmethod
    def _check_space(cls, space: dict[str, Hyperparameter]) -> dict[str, Hyperparameter]:
        if not space:
            raise ValueError("give at least one hyperparameter to search")
        for name in ("batch_size", "units", "layers", "embedding_dim"):
            if name in space and space[name].type == "float":
                raise ValueError(f"{name} is an integer: use type int or choice")
        return space
