"""SchemaGen / ImportSchemaGen: the schema a run validates and transforms against.

Precedence: a curated schema named in the config, else the dataset's reference schema (set
by its first successful run), else one inferred from the train statistics.
"""

from __future__ import annotations

import dataclasses
import math

from kubetfx.components import fileio
from kubetfx.components.contracts import (
    SCHEMA_FILE,
    SERVING,
    TRAINING,
    empty_features,
)
from kubetfx.components.contracts import load_schema as load
from kubetfx.components.contracts import write_schema as write
from kubetfx.components.schema.config import SchemaConfig
from kubetfx.errors import DataError


@dataclasses.dataclass(frozen=True)
class SchemaResult:
    path: str
    source: str  # "imported" | "reference" | "inferred"
    origin: str | None  # the file it came from, when not inferred
    empty: list[str] = dataclasses.field(default_factory=list)  # features left out: no values


def infer(train_stats, label: str, cfg: SchemaConfig, all_stats=()):
    """Infer a schema from statistics, curated the way TFX users curate a first schema.

    - TRAINING/SERVING environments (the label is not served);
    - presence: roughly what was seen, so a flood of missing values is an anomaly; a feature
      seen in under `min_presence_for_required` of rows is optional; one never seen is
      DEPRECATED (left out of validation and of the model, named in `empty_features`);
    - categorical domains hold the values every split showed, and later tolerate rare new
      values (`min_domain_mass`);
    - numeric ranges: what every split in `all_stats` (train's when empty) showed, widened by
      `range_margin`, never below 0 for a feature that was never negative.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2

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
    ranges = observed_ranges(all_stats or [train_stats])
    seen_values = observed_values(all_stats)
    for feature_stats in dataset.features:
        name = ".".join(feature_stats.path.step)
        observed = _common(feature_stats).num_non_missing / max(dataset.num_examples, 1)
        feature = tfdv.get_feature(schema, name)
        if observed == 0 and name != label:
            feature.lifecycle_stage = schema_pb2.DEPRECATED
            continue
        if observed < cfg.min_presence_for_required:
            feature.presence.min_fraction = 0.0
            feature.presence.min_count = 0
        else:
            # Inferred presence says only "seen at least once"; demand roughly what was seen.
            # Floor to 2 decimals to keep the file readable.
            feature.presence.min_fraction = max(
                0.0, math.floor((observed - cfg.presence_tolerance) * 100) / 100
            )
        if feature.domain:
            feature.distribution_constraints.min_domain_mass = cfg.min_domain_mass
            _widen_domain(schema, feature.domain, seen_values.get(name, []), cfg)
        if name in ranges and feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            _set_range(feature, *ranges[name], cfg.range_margin)
    return schema


def _common(feature_stats):
    if feature_stats.HasField("num_stats"):
        return feature_stats.num_stats.common_stats
    return feature_stats.string_stats.common_stats


def observed_ranges(stats_list) -> dict[str, tuple[float, float]]:
    """feature -> (min, max) over every dataset of these statistics that has a value."""
    ranges: dict[str, tuple[float, float]] = {}
    for stats in stats_list:
        for dataset in stats.datasets:
            for feature_stats in dataset.features:
                numeric = feature_stats.num_stats
                if (
                    not feature_stats.HasField("num_stats")
                    or not numeric.common_stats.num_non_missing
                ):
                    continue
                name = ".".join(feature_stats.path.step)
                low, high = ranges.get(name, (numeric.min, numeric.max))
                ranges[name] = (min(low, numeric.min), max(high, numeric.max))
    return ranges


def observed_values(stats_list) -> dict[str, list[str]]:
    """feature -> the string values (of the rank histograms) of every dataset, in order."""
    values: dict[str, dict[str, None]] = {}
    for stats in stats_list:
        for dataset in stats.datasets:
            for feature_stats in dataset.features:
                if feature_stats.HasField("string_stats"):
                    name = ".".join(feature_stats.path.step)
                    buckets = feature_stats.string_stats.rank_histogram.buckets
                    values.setdefault(name, {}).update(dict.fromkeys(b.label for b in buckets))
    return {name: list(found) for name, found in values.items()}


def _widen_domain(schema, domain_name: str, seen: list[str], cfg: SchemaConfig) -> None:
    """Add values the other splits showed (a rare category that landed only in eval), while
    the domain stays within max_categorical_values."""
    domain = next((d for d in schema.string_domain if d.name == domain_name), None)
    if domain is None:
        return
    new = [value for value in seen if value not in set(domain.value)]
    if new and len(domain.value) + len(new) <= cfg.max_categorical_values:
        domain.value.extend(new)


def _set_range(feature, low: float, high: float, margin: float) -> None:
    from tensorflow_metadata.proto.v0 import schema_pb2

    width = (high - low) or max(abs(low), 1.0)
    wide_low, wide_high = low - margin * width, high + margin * width
    if low >= 0:
        wide_low = max(0.0, wide_low)  # never negative in the reference: stays so
    if feature.type == schema_pb2.INT:
        feature.int_domain.min, feature.int_domain.max = math.floor(wide_low), math.ceil(wide_high)
    else:
        feature.float_domain.min, feature.float_domain.max = wide_low, wide_high


def run(
    *,
    stats_paths: dict[str, str],
    label: str,
    cfg: SchemaConfig,
    reference_schema: str | None,
    output_uri: str,
) -> SchemaResult:
    """Write {output_uri}/schema.pbtxt and say where it came from.

    `reference_schema` is the dataset's reference (a directory holding schema.pbtxt, imported
    by the pipeline from the reference store), None when the dataset has none yet.

    `stats_paths` maps each split to its FeatureStats.pb: the schema is inferred from train's,
    the numeric ranges from all of them (the first accepted run's observed range).
    """
    output = fileio.join(output_uri, SCHEMA_FILE)
    if cfg.import_path:
        schema, source, origin = (
            load(cfg.import_path, "schema.import_path"),
            "imported",
            cfg.import_path,
        )
    elif reference_schema is not None:
        origin = fileio.join(reference_schema, SCHEMA_FILE)
        schema, source = load(origin, "reference schema"), "reference"
    else:
        import tensorflow_data_validation as tfdv

        stats = {split: tfdv.load_stats_binary(path) for split, path in stats_paths.items()}
        schema = infer(stats["train"], label, cfg, list(stats.values()))
        source, origin = "inferred", None
    if not any(f.name == label for f in schema.feature):
        raise DataError(
            f"data.label: {label!r} is not in the {source} schema ({origin or output}); "
            "fix data.label or the schema"
        )
    write(schema, output)
    return SchemaResult(output, source, origin, empty_features(schema))
