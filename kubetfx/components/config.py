"""Typed configuration of a kubetfx pipeline.

One `PipelineConfig` describes a run. It is validated once, at the entry point (CLI or
`kubetfx.components.config_loader.load_config`), serialized to JSON and handed to every
component, which picks the sections it needs. Stage cores take the section models, never raw dicts.
"""

from __future__ import annotations

import datetime
import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUILTIN_PENGUINS = "builtin:penguins"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Section(BaseModel):
    # Unknown keys are errors: a typo in a YAML file must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the raw data is and what it means."""

    path: str = Field(
        BUILTIN_PENGUINS,
        description="CSV or Parquet file, glob, or pattern with {SPAN}; local or gs://. "
        f"'{BUILTIN_PENGUINS}' is Palmer Penguins, shipped in the palmerpenguins package.",
    )
    format: Literal["auto", "csv", "parquet"] = "auto"
    label: str | None = Field(None, description="Label column; 'species' for the built-in data.")
    name: str | None = Field(
        None, description="Dataset name (keys the reference schema). Derived from the path."
    )
    column_types: dict[str, Literal["int", "float", "string"]] = Field(
        default_factory=dict,
        description="Override the inferred type of a column.",
    )

    @model_validator(mode="after")
    def _defaults_from_path(self) -> DataConfig:
        if self.label is None:
            if self.path != BUILTIN_PENGUINS:
                raise ValueError(
                    "data.label is required for your own data: pass --label COLUMN "
                    "or set data.label in the config file"
                )
            object.__setattr__(self, "label", "species")
        if self.name is None:
            object.__setattr__(self, "name", dataset_name_from_path(self.path))
        elif not _NAME_RE.match(self.name):
            raise ValueError(
                f"data.name must be lowercase letters, digits, '-' or '_', got {self.name!r}"
            )
        return self


def dataset_name_from_path(path: str) -> str:
    """'gs://b/sales/span-{SPAN}/*.csv' -> 'sales'; 'data/churn.csv' -> 'churn'."""
    if path == BUILTIN_PENGUINS:
        return "penguins"
    parts = [p for p in PurePosixPath(path.split("://", 1)[-1]).parts if p not in ("/", "")]
    for part in reversed(parts):
        stem = part.split(".", 1)[0]
        if stem and not any(ch in stem for ch in "*?[{"):
            name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")
            if name:
                return name
    return "dataset"


class IngestConfig(_Section):
    """ExampleGen: how rows become split, sharded TFRecords."""

    splits: dict[str, int] = Field(
        default_factory=lambda: {"train": 2, "eval": 1},
        description="Split name -> hash buckets (ratio). Must include 'train' and 'eval'.",
    )
    partition_column: str | None = Field(
        None, description="Hash this column instead of the whole row (keeps a key in one split)."
    )
    num_shards: int | Literal["auto"] = Field(
        "auto",
        description="TFRecord files per split. auto: one per 32 MiB of input, at most 64, so "
        "Beam workers read a split in parallel (a gzipped file is read by one worker).",
    )

    @field_validator("num_shards", mode="before")
    @classmethod
    def _check_shards(cls, value):
        if value == "auto" or (type(value) is int and 1 <= value <= 256):
            return value
        raise ValueError("must be 'auto' or a number of files from 1 to 256")

    @field_validator("splits")
    @classmethod
    def _check_splits(cls, splits: dict[str, int]) -> dict[str, int]:
        missing = {"train", "eval"} - splits.keys()
        if missing:
            raise ValueError(f"must include {sorted(missing)}; got {sorted(splits)}")
        for name, buckets in splits.items():
            if not _NAME_RE.match(name):
                raise ValueError(f"split name {name!r} must be lowercase letters/digits/_/-")
            if buckets < 1:
                raise ValueError(f"split {name!r} needs at least 1 bucket, got {buckets}")
        return splits


class SchemaConfig(_Section):
    """SchemaGen / ImportSchemaGen."""

    import_path: str | None = Field(
        None, description="A curated schema.pbtxt to use instead of inferring or the reference."
    )
    presence_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Inferred min presence = observed presence minus this (catches floods of "
        "missing values).",
    )
    max_categorical_values: int = Field(
        100, ge=1, description="String features with more values get no domain."
    )
    min_domain_mass: float = Field(
        0.99,
        gt=0.0,
        le=1.0,
        description="Inferred categorical domains tolerate rare new values: at least this "
        "share of a feature's values must be in its domain (TFDV's "
        "distribution_constraints.min_domain_mass, stored in the reference schema). 1.0: "
        "any value outside the domain is an anomaly.",
    )
    min_presence_for_required: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A feature present in fewer than this share of train rows is optional "
        "(presence 0), so a small eval split that happens to lack it is not 'Column dropped'.",
    )
    range_margin: float = Field(
        0.1,
        ge=0.0,
        description="Inferred numeric ranges: the observed [min, max] of the first accepted run "
        "(every split), widened on each side by this fraction of its width; a feature never "
        "negative stays non-negative. Values outside it in a later run are an anomaly; edit "
        "the reference schema's int_domain/float_domain to widen one.",
    )


class ValidateConfig(_Section):
    """ExampleValidator + DistributionValidator."""

    drift_threshold: float = Field(0.3, gt=0.0, le=1.0)
    drift_thresholds: dict[str, float] = Field(default_factory=dict)
    skew_threshold: float = Field(0.3, gt=0.0, le=1.0)
    skew_thresholds: dict[str, float] = Field(default_factory=dict)
    previous_statistics: str | None = Field(
        None,
        description="FeatureStats.pb to check drift against. Default: the previous "
        "successful run's train statistics from the reference store.",
    )
    serving_statistics: str | None = Field(
        None, description="FeatureStats.pb of serving traffic, to check skew against."
    )
    fail_on_anomalies: bool = Field(True, description="Fail the run on any anomaly.")

    @field_validator("drift_thresholds", "skew_thresholds")
    @classmethod
    def _check_thresholds(cls, values: dict[str, float]) -> dict[str, float]:
        for feature, threshold in values.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold for {feature!r} must be in (0, 1], got {threshold}")
        return values


class TransformConfig(_Section):
    """Transform: the preprocessing_fn generated from the schema, or the user's own."""

    module_file: str | None = Field(
        None,
        description="A Python file defining preprocessing_fn(inputs) (as TFX's module_file); "
        "replaces the generated one. It must return the label under the same key.",
    )
    oov_buckets: int = Field(1, ge=1, description="Out-of-vocabulary buckets per categorical.")
    bucketize: dict[str, int] = Field(
        default_factory=dict, description="Numeric feature -> number of quantile buckets."
    )
    hash_buckets: dict[str, int] = Field(
        default_factory=dict, description="Categorical feature -> hash buckets (no vocabulary)."
    )
    max_classes: int = Field(
        20, ge=2, description="An integer label with more values than this is a regression."
    )


_DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


def _dns_label(value: str) -> str:
    """A Kubernetes object or namespace name (RFC 1035 label): the API server rejects others."""
    if not _DNS_LABEL_RE.match(value):
        raise ValueError(
            "must be a DNS label (lowercase letters, digits and '-', starting with a letter, "
            f"at most 63 characters), got {value!r}"
        )
    return value


class GkeTrainConfig(_Section):
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

    _check_names = field_validator("namespace", "service_account")(_dns_label)


class TrainConfig(_Section):
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


class MetricThreshold(_Section):
    lower: float | None = Field(None, description="Bless only if metric >= lower.")
    upper: float | None = Field(None, description="Bless only if metric <= upper.")
    change: Literal["higher_is_better", "lower_is_better"] | None = Field(
        None, description="Compared with the champion: must not get worse by more than tolerance."
    )
    tolerance: float = Field(0.0, ge=0.0, description="Allowed change against the champion.")


class InvarianceCheck(_Section):
    """Changing `feature` among `values` must not change the predicted class (or value)."""

    feature: str
    values: list[str | int | float] = Field(min_length=2)
    min_agreement: float = Field(0.95, gt=0, le=1)


class DirectionalCheck(_Section):
    """Adding `delta` to `feature` must move `output` (a class name, or 'prediction')."""

    feature: str
    delta: float
    output: str
    direction: Literal["up", "down"]
    min_fraction: float = Field(0.9, gt=0, le=1)


class EvaluateConfig(_Section):
    """Evaluator: TFMA metrics, slices, fairness and the blessing thresholds."""

    thresholds: dict[str, MetricThreshold] = Field(
        default_factory=dict,
        description="Metric name -> threshold. Empty: the default gate (beat a naive "
        "predictor by naive_margin, and do not fall behind the champion).",
    )
    naive_margin: float = Field(
        0.05,
        ge=0.0,
        lt=1.0,
        description="Default gate (no thresholds): the candidate's error (1 - accuracy, or "
        "mean squared error) must be at most (1 - naive_margin) x the error of a naive "
        "predictor on the same eval split (majority class; the mean for regression).",
    )
    slices: list[str] | None = Field(
        None, description="Features to slice by. Default: every categorical with <= 10 values."
    )
    sensitive_features: list[str] = Field(
        default_factory=list, description="Slices that also get fairness metrics."
    )
    decision_threshold: float = Field(0.5, gt=0, lt=1)
    invariance: list[InvarianceCheck] = Field(
        default_factory=list, description="Behavioral tests: features that must not matter."
    )
    directional: list[DirectionalCheck] = Field(
        default_factory=list, description="Behavioral tests: features with a known effect."
    )
    behavior_rows: int = Field(
        10_000,
        ge=1,
        description="Eval rows the behavioral tests run on (they are held in memory).",
    )


class InfraValidateConfig(_Section):
    """InfraValidator: serve the candidate in the real model server before it is pushed."""

    ready_timeout_seconds: float = Field(
        180.0, gt=0, description="How long the server may take to start and load the model."
    )
    examples: int = Field(32, ge=1, description="Eval examples sent to the server.")
    atol: float = Field(
        1e-6, ge=0, description="Allowed absolute difference from the in-process predictions."
    )
    server_python: str | None = Field(
        None,
        description="Python of the model server environment. Default: $KUBETFX_SERVING_PYTHON, "
        "else .venv-serving/bin/python in the source tree (`make serving-setup`).",
    )


class KServePushConfig(_Section):
    """push.destination 'kserve': an InferenceService in the cluster (RBAC: infra/k8s/rbac)."""

    namespace: str = Field("kubetfx-serving", description="Namespace of the InferenceService.")
    name: str | None = Field(None, description="InferenceService name. Default: the model name.")
    predictor: Literal["tensorflow", "server"] = Field(
        "tensorflow",
        description="'tensorflow': KServe's TF Serving runtime on the pushed version; "
        "'server': the project's model server image (images.server) on the registry.",
    )
    runtime_version: str = Field(
        "2.16.1", description="TF Serving version of the tensorflow predictor (the training TF)."
    )
    service_account: str = Field(
        "kubetfx-server", description="Account the predictor reads the model as."
    )
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(4, ge=1)
    cpu: str = Field("1", description="CPU request and limit of each replica.")
    memory: str = Field("2Gi", description="Memory request and limit of each replica.")
    ready_timeout_seconds: float = Field(
        600.0,
        ge=0,
        description="Wait this long for the new revision to be ready; if it is not, roll back "
        "and fail the step. 0: do not wait.",
    )

    _check_names = field_validator("namespace", "service_account")(_dns_label)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return None if value is None else _dns_label(value)


class VertexPushConfig(_Section):
    """push.destination 'vertex': a Vertex AI Model version deployed to an Endpoint (vertex.*)."""

    parent_model: str | None = Field(
        None,
        description="Model resource name to add versions to. Default: the project's model "
        "whose display name is push.model_name (created on the first push).",
    )
    serving_image: str | None = Field(
        None, description="Serving container. Default: Vertex's prebuilt TensorFlow 2.16 (CPU)."
    )
    machine_type: str = Field("n1-standard-2", description="Machine of each serving replica.")
    min_replicas: int = Field(1, ge=1)
    max_replicas: int = Field(2, ge=1)


class PushConfig(_Section):
    registry: str = Field("./model_registry", description="Model registry root, local or gs://.")
    model_name: str | None = Field(None, description="Default: the dataset name.")
    promote: bool = Field(
        True,
        description="Make the pushed version the champion. False pushes it as a challenger "
        "that the server can canary or shadow (serving.traffic).",
    )
    destination: Literal["local", "kserve", "vertex"] = Field(
        "local",
        description="After the registry push, also deploy to: 'kserve' (an InferenceService) "
        "or 'vertex' (a Vertex AI Endpoint). 'local': the registry only.",
    )
    canary_percent: int = Field(
        10,
        ge=1,
        le=100,
        description="Traffic share of a newly deployed model until `kubetfx promote`; 100 "
        "rolls it out at once. The first deployment always gets 100.",
    )
    kserve: KServePushConfig = Field(default_factory=KServePushConfig)
    vertex: VertexPushConfig = Field(default_factory=VertexPushConfig)

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data):
        if isinstance(data, dict) and "target" in data:
            raise ValueError(
                "push.target is now push.destination (where a pushed model goes: local, "
                f"kserve or vertex); rename the key, got target: {data['target']!r}"
            )
        return data

    @model_validator(mode="after")
    def _check_target(self) -> PushConfig:
        for name, section in (("kserve", self.kserve), ("vertex", self.vertex)):
            if section.min_replicas > section.max_replicas:
                raise ValueError(
                    f"push.{name}.min_replicas ({section.min_replicas}) must not exceed "
                    f"push.{name}.max_replicas ({section.max_replicas})"
                )
        remote = {"kserve": ("gs://", "s3://"), "vertex": ("gs://",)}.get(self.destination)
        if remote and not self.registry.startswith(remote):
            raise ValueError(
                f"push.registry: push.destination {self.destination!r} serves from a bucket the "
                f"cluster can read ({' or '.join(remote)}...), got {self.registry!r}"
            )
        return self


class VersionPolicy(_Section):
    """Which versions the server loads (TF Serving's model_version_policy)."""

    latest: int | None = Field(1, ge=1, description="Serve the newest N complete versions.")
    specific: list[int] | None = Field(None, description="Serve exactly these versions.")

    @model_validator(mode="after")
    def _one_policy(self) -> VersionPolicy:
        if self.specific is not None:
            if not self.specific:
                raise ValueError("serving.version_policy.specific needs at least one version")
            object.__setattr__(self, "latest", None)
        elif self.latest is None:
            raise ValueError("serving.version_policy needs 'latest: N' or 'specific: [versions]'")
        return self


class ServingLabels(_Section):
    """Version labels; labelled versions are loaded in addition to the version policy."""

    champion: int | Literal["registry"] = Field(
        "registry", description="'registry': the registry's champion pointer; or a version."
    )
    challenger: int | Literal["latest", "none"] = Field(
        "latest", description="'latest': the newest version that is not the champion."
    )


class TrafficConfig(_Section):
    """How unversioned requests are split between the champion and the challenger."""

    challenger_percent: float = Field(
        0.0, ge=0.0, le=100.0, description="Share of requests for the challenger."
    )
    mode: Literal["canary", "shadow"] = Field(
        "canary",
        description="canary: the challenger answers its share; shadow: the champion answers "
        "every request and the challenger gets a copy of its share, logged only.",
    )
    key_header: str = Field(
        "X-Routing-Key",
        description="Requests carrying this header are assigned by its hash (sticky).",
    )


class RequestLogConfig(_Section):
    dir: str = Field("./serving_logs", description="JSONL request logs, local or gs://.")
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of requests logged.")


class ServingConfig(_Section):
    """The model server: a KServe model server speaking TF Serving's REST API."""

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8501, ge=1, le=65535)
    registry: str | None = Field(None, description="Default: push.registry.")
    models: list[str] = Field(
        default_factory=list, description="Model names to serve. Default: all in the registry."
    )
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)
    labels: ServingLabels = Field(default_factory=ServingLabels)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    request_log: RequestLogConfig = Field(default_factory=RequestLogConfig)
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies get 413.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the registry is polled.")
    threads: int = Field(4, ge=1, le=64, description="TensorFlow calls in flight at once.")


class BatchPredictConfig(_Section):
    """BulkInferrer: a registry model over a file of rows (`kubetfx batch-predict`)."""

    input: str | None = Field(
        None,
        description="CSV, Parquet or TFRecord (gzipped or not, of tf.Example) file or glob; "
        "local or gs://. Rows carry the raw features the online API takes.",
    )
    input_format: Literal["auto", "csv", "parquet", "tfrecord"] = Field(
        "auto", description="auto: from the file extension."
    )
    output: str | None = Field(
        None, description="Directory for predictions and errors. Default: the step's artifact."
    )
    output_format: Literal["jsonl", "parquet", "csv"] = "jsonl"
    batch_size: int = Field(256, ge=1, le=65536, description="Rows per model call.")
    model: int | Literal["champion"] = Field(
        "champion", description="'champion' (the registry's pointer) or a version number."
    )


_WINDOW_RE = re.compile(r"^[1-9][0-9]*[smhd]$")


class MonitorConfig(_Section):
    """Monitoring of serving traffic: skew, drift, live quality and what to do about them."""

    window: str = Field("1h", description="Window ending now, e.g. 30m, 1h, 7d (--window).")
    start: str | None = Field(
        None, description="ISO start of a fixed window (--start); replaces window."
    )
    end: str | None = Field(None, description="ISO end of the window (--end); default: now.")
    labels: str | None = Field(
        None,
        description="Delayed ground truth keyed by request_id (CSV, JSONL or Parquet; local or "
        "gs://) for live quality (--labels).",
    )
    training_pipeline: str | None = Field(
        None, description="Name of the training pipeline a drift starts. Default: pipeline_name."
    )
    output_dir: str = Field(
        "./monitoring", description="Reports, results and the policy state; local or gs://."
    )
    drift_threshold: float = Field(0.3, gt=0.0, le=1.0, description="Against the last window.")
    drift_thresholds: dict[str, float] = Field(default_factory=dict)
    skew_threshold: float = Field(0.3, gt=0.0, le=1.0, description="Against training data.")
    skew_thresholds: dict[str, float] = Field(default_factory=dict)
    alpha: float = Field(
        0.05, gt=0.0, lt=1.0, description="Family-wise error rate of the two-sample tests."
    )
    correction: Literal["holm", "bonferroni"] = Field(
        "holm", description="Multiple-testing correction over all tests of one window."
    )
    flag_when: Literal["both", "test", "distance"] = Field(
        "both",
        description="both: the distance exceeds its threshold and the corrected test rejects "
        "(the change is large and not noise); test or distance: either signal alone.",
    )
    min_window_rows: int = Field(
        200, ge=1, description="Fewer rows in the window (or the last one): no verdict."
    )
    training_statistics: str | None = Field(
        None,
        description="FeatureStats.pb to measure skew against. Default: the champion's "
        "training statistics, found through its run in the reference store history.",
    )
    alert_webhook: str | None = Field(
        None, description="POST alerts (JSON) to this http(s) URL; default: a log line only."
    )
    retrain: bool = Field(False, description="Start the training pipeline on a drift.")
    cooldown_seconds: float = Field(
        86400.0, ge=0.0, description="At most one triggered training run per cooldown."
    )
    debounce: int = Field(
        2, ge=1, description="Act only after this many drifting windows in a row."
    )
    triggered_by: str | None = Field(
        None, description="Set by the monitor on a run it starts: the result that caused it."
    )

    @field_validator("window")
    @classmethod
    def _check_window(cls, window: str) -> str:
        if not _WINDOW_RE.match(window):
            raise ValueError(f"must be a number and a unit s, m, h or d (e.g. 1h), got {window!r}")
        return window

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.datetime.fromisoformat(value)
            except ValueError as e:
                raise ValueError(
                    f"must be an ISO date or time (2026-12-01 or 2026-12-01T07:00:00Z), "
                    f"got {value!r}"
                ) from e
        return value

    @field_validator("drift_thresholds", "skew_thresholds")
    @classmethod
    def _check_thresholds(cls, values: dict[str, float]) -> dict[str, float]:
        for feature, threshold in values.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold for {feature!r} must be in (0, 1], got {threshold}")
        return values

    @field_validator("alert_webhook")
    @classmethod
    def _check_webhook(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url


class BeamConfig(_Section):
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


class ImagesConfig(_Section):
    components: str = Field(
        "kubetfx-components:dev",
        description="Container image the components run in on a cluster.",
    )
    server: str = Field(
        "kubetfx-server:dev", description="Container image of the model server (KServe)."
    )


class Toleration(_Section):
    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


class StepResources(_Section):
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
    beam_args: list[str] | None = Field(
        None, description="Beam options for this step (e.g. Dataflow); default beam.pipeline_args."
    )


class ClusterConfig(_Section):
    """Per-step resources on Kubeflow/Vertex. Keys are stage names (ingest, train, ...)."""

    default: StepResources = Field(default_factory=lambda: StepResources(cpu="1", memory="4G"))
    steps: dict[str, StepResources] = Field(
        default_factory=lambda: {"train": StepResources(cpu="4", memory="16G")}
    )


class KubeflowConfig(_Section):
    """Kubeflow Pipelines on a cluster (`kubetfx submit|schedule --target kubeflow`)."""

    host: str | None = Field(None, description="KFP API endpoint, e.g. https://kfp.example.com")
    namespace: str = "kubeflow"
    experiment: str = "kubetfx"
    service_account: str | None = Field(
        None, description="Kubernetes service account the steps run as (Workload Identity)."
    )


class VertexConfig(_Section):
    """Vertex AI (`--target vertex`): Pipelines, training CustomJobs, Endpoints."""

    project: str | None = None
    region: str | None = None
    service_account: str | None = Field(None, description="Service account the jobs run as.")
    experiment: str | None = None
    endpoint: str = Field("kubetfx", description="Endpoint display name for pushes.")


class PipelineConfig(_Section):
    """A whole run. Defaults run the training pipeline on Palmer Penguins locally."""

    pipeline_name: str = "kubetfx-training"
    pipeline_root: str = Field("./pipeline_root", description="Where run artifacts are written.")
    reference_root: str = Field(
        "./references",
        description="Reference schemas and previous statistics, per dataset (outside runs).",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    schema_: SchemaConfig = Field(default_factory=SchemaConfig, alias="schema")
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    transform: TransformConfig = Field(default_factory=TransformConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    infra_validate: InfraValidateConfig = Field(default_factory=InfraValidateConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    batch_predict: BatchPredictConfig = Field(default_factory=BatchPredictConfig)
    beam: BeamConfig = Field(default_factory=BeamConfig)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)
    vertex: VertexConfig = Field(default_factory=VertexConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("pipeline_name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _NAME_RE.match(name):
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
        if self.data.path == BUILTIN_PENGUINS and not self.evaluate.thresholds:
            # The default dataset ships with a gate and behavioral checks; your own data needs
            # yours (no thresholds: never blessed).
            update = {
                "thresholds": {
                    "accuracy": MetricThreshold(
                        lower=0.9, change="higher_is_better", tolerance=0.01
                    )
                },
                "sensitive_features": self.evaluate.sensitive_features or ["sex"],
                "invariance": self.evaluate.invariance
                or [InvarianceCheck(feature="year", values=[2007, 2008, 2009])],
                "directional": self.evaluate.directional
                or [
                    DirectionalCheck(
                        feature="flipper_length_mm", delta=25, output="Gentoo", direction="up"
                    )
                ],
            }
            object.__setattr__(self, "evaluate", self.evaluate.model_copy(update=update))
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

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineConfig:
        return cls.model_validate_json(text)
