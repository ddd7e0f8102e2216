"""Artifact contracts: the file names each stage writes and the readers other stages use.

A stage reads another stage's output only through this module, never through that stage's
internals (tests/unit/test_layers.py checks it). The layouts are TFX's (DESIGN §5):

    Examples           {uri}/Split-{split}/*.gz   gzipped TFRecords of tf.Example
                       {uri}/ingest.json          rows per split, span, files, columns, label values
    ExampleStatistics  {uri}/Split-{split}/FeatureStats.pb
    Schema             {uri}/schema.pbtxt         with TRAINING and SERVING environments
    TransformGraph     tf.Transform's output dir + task.json (what the model predicts)
    Model              a SavedModel with the signatures serving_default (raw features as named
                       tensors) and serving_tf_example (serialized tf.Example)
"""

from __future__ import annotations

import dataclasses
import json

from kubetfx.components import fileio
from kubetfx.errors import ConfigError

STATS_FILE = "FeatureStats.pb"
SCHEMA_FILE = "schema.pbtxt"
INGEST_FILE = "ingest.json"
TRAINING, SERVING = "TRAINING", "SERVING"  # schema environments
SERVING_DEFAULT = "serving_default"
SERVING_TF_EXAMPLE = "serving_tf_example"
TASK_FILE = "task.json"  # beside the transform graph
ROWS_FILE = "rows.json"  # beside the transformed examples
TRANSFORMED_PREFIX = "transformed_examples"
BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"  # marker files, as TFX's
BLESSING_FILE = "blessing.json"
INFRA_BLESSED, INFRA_NOT_BLESSED = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
INFRA_FILE = "infra_validation.json"


# Examples and statistics: one directory per split.


def split_dir(uri: str, split: str) -> str:
    return fileio.join(uri, f"Split-{split}")


def examples_pattern(examples_uri: str, split: str) -> str:
    return fileio.join(split_dir(examples_uri, split), "*.gz")


def read_examples(examples_uri: str, split: str, limit: int) -> list[bytes]:
    """The first `limit` serialized tf.Examples of a split, in file order."""
    import tensorflow as tf

    files = fileio.glob(examples_pattern(examples_uri, split))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [r.numpy() for r in records]


def stats_path(uri: str, split: str) -> str:
    return fileio.join(split_dir(uri, split), STATS_FILE)


def load_statistics(path: str):
    """A DatasetFeatureStatisticsList from a FeatureStats.pb file."""
    import tensorflow_data_validation as tfdv

    return tfdv.load_stats_binary(path)


@dataclasses.dataclass(frozen=True)
class IngestResult:
    """What ingest saw, beside the examples (ingest.json)."""

    rows: dict[str, int]
    span: int | None
    files: list[str]
    fingerprint: str
    columns: dict[str, str]
    label_values: list | None = None  # distinct label values (sorted), None when too many
    empty_columns: list[str] = dataclasses.field(default_factory=list)  # no value in any row

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def read_ingest(examples_uri: str) -> IngestResult:
    return IngestResult(**json.loads(fileio.read_text(fileio.join(examples_uri, INGEST_FILE))))


# Schema.


def schema_path(schema_uri: str) -> str:
    return fileio.join(schema_uri, SCHEMA_FILE)


def load_schema(path: str, field: str = "schema"):
    """A tensorflow-metadata Schema from a schema.pbtxt; ConfigError naming `field` if not."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        return text_format.Parse(fileio.read_text(path), schema_pb2.Schema())
    except FileNotFoundError as e:
        raise ConfigError(f"{field}: schema file {path!r} does not exist") from e
    except text_format.ParseError as e:
        raise ConfigError(f"{field}: {path!r} is not a valid schema.pbtxt: {e}") from e


def write_schema(schema, path: str) -> None:
    from google.protobuf import text_format

    fileio.write_text(path, text_format.MessageToString(schema))


def empty_features(schema) -> list[str]:
    """Features the schema leaves out because no row had a value (DEPRECATED)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    return sorted(f.name for f in schema.feature if f.lifecycle_stage == schema_pb2.DEPRECATED)


def default_slices(schema, label: str, max_values: int = 10) -> list[str]:
    """The slices evaluation and monitoring use when evaluate.slices is unset: every
    categorical feature with a small domain (a slice per value is readable)."""
    domains = {d.name: len(d.value) for d in schema.string_domain}
    return sorted(
        f.name
        for f in schema.feature
        if f.name != label and f.domain and 0 < domains.get(f.domain, 0) <= max_values
    )


# Evaluation metrics (evaluate's metrics.json: {"candidate": {slice: {metric: value}},
# "baseline_overall": {metric: value}, "intervals": {slice: {metric: [low, high]}},
# "undefined": {slice: {metric: why}}}), which push records and monitoring compares live
# quality with. A metric undefined on a slice (NaN, a class the slice lacks) is absent from
# "candidate" and named under "undefined": readers see it missing, never as 0.

METRICS_FILE = "metrics.json"
# The tune step's result (kubetfx/components/train/tuning.py writes it): every trial and the
# best one, whose values train applied.
TUNED_FILE = "best_hyperparameters.json"


def read_tuned(tune_uri: str) -> dict:
    """The best values the tune step found (what train used over its config)."""
    return json.loads(fileio.read_text(fileio.join(tune_uri, TUNED_FILE)))["best"]["values"]


def read_metrics(evaluation_uri: str) -> dict:
    return json.loads(fileio.read_text(fileio.join(evaluation_uri, METRICS_FILE)))


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """The few overall numbers a summary shows."""
    keys = ("accuracy", "example_count", "mean_squared_error", "mean_absolute_error", "calibration")
    return {k: metrics[k] for k in keys if k in metrics}


# What the model predicts (task.json beside the transform graph) and the transformed rows.


@dataclasses.dataclass(frozen=True)
class Task:
    """Classification (with its classes, in index order) or regression, of one label."""

    kind: str  # "classification" | "regression"
    label: str
    classes: tuple[str, ...] = ()  # class names in index order (sorted), as strings

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "label": self.label, "classes": list(self.classes)}

    @classmethod
    def from_dict(cls, body: dict) -> Task:
        return cls(body["kind"], body["label"], tuple(body["classes"]))

    def encode_label(self, raw):
        """The label as the model sees it: a class index (int64) or a float32 target."""
        import tensorflow as tf

        if not self.is_classification:
            return densify(tf.cast(raw, tf.float32), float("nan"))
        # Integer classes are looked up by their text; the missing stay missing ("").
        text = raw if raw.dtype == tf.string else tf.sparse.map_values(tf.strings.as_string, raw)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(self.classes)), tf.range(self.num_classes, dtype=tf.int64)
            ),
            default_value=-1,
        )
        return table.lookup(densify(text, ""))


def read_task(graph_uri: str) -> Task:
    return Task.from_dict(json.loads(fileio.read_text(fileio.join(graph_uri, TASK_FILE))))


def read_rows(transformed_uri: str) -> dict[str, int]:
    return json.loads(fileio.read_text(fileio.join(transformed_uri, ROWS_FILE)))


def densify(sparse, default):
    """A [batch] tensor from a [batch, <=1] SparseTensor, `default` where the value is missing."""
    import tensorflow as tf

    sparse = tf.sparse.SparseTensor(sparse.indices, sparse.values, [sparse.dense_shape[0], 1])
    return tf.squeeze(tf.sparse.to_dense(sparse, default_value=default), axis=1)


# The two blessings push needs (fail closed: anything missing is not blessed).


@dataclasses.dataclass(frozen=True)
class Blessing:
    blessed: bool
    reasons: list[str]
    baseline: str | None = None  # the champion compared against, if any
    gate: str = "thresholds"  # "thresholds" (evaluate.thresholds) | "default" (NaiveGate)

    @property
    def marker(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"marker": self.marker}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Blessing:
        body = json.loads(text)
        return cls(
            body["blessed"], body["reasons"], body.get("baseline"), body.get("gate", "thresholds")
        )


def read_blessing(blessing_uri: str) -> Blessing:
    """The blessing a previous evaluate wrote; not blessed when anything is missing."""
    path = fileio.join(blessing_uri, BLESSING_FILE)
    if not fileio.exists(path):
        return Blessing(False, [f"no blessing found at {blessing_uri}: fail closed"])
    return Blessing.from_json(fileio.read_text(path))


@dataclasses.dataclass(frozen=True)
class InfraResult:
    blessed: bool
    reasons: list[str]
    examples: int = 0
    ready_seconds: float | None = None
    max_abs_diff: float | None = None
    mode: str = ""  # where the candidate was served: subprocess, docker or kubernetes

    def metadata(self) -> dict:
        """The InfraBlessing artifact's metadata (the Kubeflow UI shows it)."""
        return {
            "blessed": int(self.blessed),
            "reasons": self.reasons,
            "mode": self.mode,
            "ready_seconds": self.ready_seconds or -1,
            "examples": self.examples,
            "tfx_type": "InfraBlessing",
        }


def read_infra_blessing(uri: str) -> InfraResult:
    """Fail closed: no result file, or anything but INFRA_BLESSED, is not blessed."""
    path = fileio.join(uri, INFRA_FILE)
    if not fileio.exists(path) or not fileio.exists(fileio.join(uri, INFRA_BLESSED)):
        return InfraResult(False, [f"no {INFRA_BLESSED} marker in {uri}"])
    return InfraResult(**json.loads(fileio.read_text(path)))


# Baselines: what a run compares with, resolved by the baseline step and imported.

# A dsl.importer needs a URI, and KFP refuses an empty one, so "no champion yet" (the first
# run) is imported as an empty directory holding only this marker; consumers read it as none.
NO_BASELINE_FILE = "NO_BASELINE"


def baseline_location(uri: str, path: str) -> str | None:
    """Where a step reads an imported baseline artifact (`uri`, and `path`: kfp's local copy
    or mount): None when it is the "none" marker. The path when it exists (Kubeflow downloads
    the artifact, Vertex mounts the bucket), else the URI (kfp.local gives gs:// URIs a /gcs
    path that no process mounts)."""
    where = path if fileio.exists(path) else uri
    return None if fileio.exists(fileio.join(where, NO_BASELINE_FILE)) else where
