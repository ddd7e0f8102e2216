"""SchemaGen / ImportSchemaGen: the schema a run validates and transforms against.

Precedence: a curated schema named in the config, else the dataset's reference schema (set
by its first successful run), else one inferred from the train statistics.
"""

from __future__ import annotations

import dataclasses
import math

from components import fileio
from components.config import SchemaConfig
from components.errors import ConfigError, DataError
from components.reference import ReferenceStore

SCHEMA_FILE = "schema.pbtxt"
TRAINING, SERVING = "TRAINING", "SERVING"


@dataclasses.dataclass(frozen=True)
class SchemaResult:
    path: str
    source: str  # "imported" | "reference" | "inferred"
    origin: str | None  # the file it came from, when not inferred


def infer(train_stats, label: str, cfg: SchemaConfig):
    """Infer a schema from statistics, with TRAINING/SERVING environments and tight presence."""
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(
        train_stats,
        infer_feature_shape=False,
        max_string_domain_size=cfg.max_categorical_values,
    )
    schema.default_environment.extend([TRAINING, SERVING])
    try:
        tfdv.get_feature(schema, label).not_in_environment.append(SERVING)
    except ValueError as e:
        raise DataError(f"data.label: {label!r} is not a feature of the data") from e
    dataset = train_stats.datasets[0]
    for feature_stats in dataset.features:
        name = ".".join(feature_stats.path.step)
        common = (
            feature_stats.num_stats.common_stats
            if feature_stats.HasField("num_stats")
            else feature_stats.string_stats.common_stats
        )
        observed = common.num_non_missing / dataset.num_examples if dataset.num_examples else 0
        feature = tfdv.get_feature(schema, name)
        # Inferred presence says only "seen at least once"; demand roughly what was seen, so a
        # flood of missing values is an anomaly. Floor to 2 decimals to keep the file readable.
        feature.presence.min_fraction = max(
            0.0, math.floor((observed - cfg.presence_tolerance) * 100) / 100
        )
    return schema


def load(path: str, field: str = "schema"):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    try:
        return text_format.Parse(fileio.read_text(path), schema_pb2.Schema())
    except FileNotFoundError as e:
        raise ConfigError(f"{field}: schema file {path!r} does not exist") from e
    except text_format.ParseError as e:
        raise ConfigError(f"{field}: {path!r} is not a valid schema.pbtxt: {e}") from e


def write(schema, path: str) -> None:
    from google.protobuf import text_format

    fileio.write_text(path, text_format.MessageToString(schema))


def run(
    train_stats_path: str,
    label: str,
    cfg: SchemaConfig,
    reference: ReferenceStore,
    output_uri: str,
) -> SchemaResult:
    """Write {output_uri}/schema.pbtxt and say where it came from."""
    output = fileio.join(output_uri, SCHEMA_FILE)
    if cfg.import_path:
        schema, source, origin = (
            load(cfg.import_path, "schema.import_path"),
            "imported",
            cfg.import_path,
        )
    elif reference.has_schema():
        schema, source = load(reference.schema_path, "reference schema"), "reference"
        origin = reference.schema_path
    else:
        import tensorflow_data_validation as tfdv

        schema = infer(tfdv.load_stats_binary(train_stats_path), label, cfg)
        source, origin = "inferred", None
    if not any(f.name == label for f in schema.feature):
        raise DataError(
            f"data.label: {label!r} is not in the {source} schema ({origin or output}); "
            "fix data.label or the schema"
        )
    write(schema, output)
    return SchemaResult(output, source, origin)
