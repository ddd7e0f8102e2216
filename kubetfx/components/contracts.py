"""Artifact contracts: the file names each stage writes and the readers other stages use.

A stage reads another stage's output only through this module, never through that stage's
internals (tests/unit/test_layers.py checks it). The layouts are TFX's (DESIGN §5):

    Examples           {uri}/Split-{split}/*.gz   gzipped TFRecords of tf.Example
                       {uri}/ingest.json          rows per split, span, files, columns, label values
    ExampleStatistics  {uri}/Split-{split}/FeatureStats.pb
    Schema             {uri}/schema.pbtxt         with TRAINING and SERVING environments
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


# Examples and statistics: one directory per split.


def split_dir(uri: str, split: str) -> str:
    return fileio.join(uri, f"Split-{split}")


def examples_pattern(examples_uri: str, split: str) -> str:
    return fileio.join(split_dir(examples_uri, split), "*.gz")


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
