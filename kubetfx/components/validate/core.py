"""ExampleValidator + DistributionValidator: schema anomalies, drift and skew, fail closed.

Drift compares this run's train statistics with the last accepted ones (the reference store,
or validate.previous_statistics); skew compares them with serving statistics when given.
Distances are TFDV's: L-infinity for categorical features, Jensen-Shannon divergence for
numeric ones, with per-feature thresholds from the config.
"""

from __future__ import annotations

import dataclasses
import json

from kubetfx.components import contracts, fileio
from kubetfx.components.anomalies import (
    Anomaly,
    Distance,
    read_anomalies,
    read_distances,
    set_comparators,
)
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.validate import report
from kubetfx.components.validate.config import ValidateConfig
from kubetfx.errors import ValidationFailed

ANOMALIES_FILE = "SchemaDiff.pb"
RESULT_FILE = "validation.json"


@dataclasses.dataclass(frozen=True)
class ValidationResult:
    anomalies: list[Anomaly]
    distances: list[Distance]
    baselines: dict[str, str | None]
    rows: dict[str, int]
    blocking: bool = True  # validate.fail_on_anomalies
    warnings: list[str] = dataclasses.field(default_factory=list)  # not anomalies; say them

    @property
    def passed(self) -> bool:
        return not (self.anomalies and self.blocking)

    def to_json(self) -> str:
        body = dataclasses.asdict(self)
        body["passed"] = self.passed
        return json.dumps(body, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ValidationResult:
        body = json.loads(text)
        return cls(
            [Anomaly(**a) for a in body["anomalies"]],
            [Distance(**d) for d in body["distances"]],
            body["baselines"],
            body["rows"],
            body["blocking"],
            body.get("warnings", []),
        )

    def metadata(self) -> dict:
        """The anomalies artifact's metadata (what the Kubeflow UI shows)."""
        return {
            "anomaly_count": len(self.anomalies),
            "flagged_distances": sum(d.flagged for d in self.distances),
            "warnings": self.warnings,
        }

    def failure_message(self) -> str:
        lines = [f"data validation found {len(self.anomalies)} blocking anomalies:"]
        lines += [f"  {a.split}: {a.feature}: {a.short} ({a.description})" for a in self.anomalies]
        return "\n".join(lines)


_RANGE_REASONS = {
    "INT_TYPE_SMALL_INT",
    "INT_TYPE_BIG_INT",
    "FLOAT_TYPE_SMALL_FLOAT",
    "FLOAT_TYPE_BIG_FLOAT",
}


def _range_features(anomalies_proto) -> list[str]:
    """Features whose values fell outside the schema's int_domain/float_domain."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kinds = {anomalies_pb2.AnomalyInfo.Type.Value(name) for name in _RANGE_REASONS}
    return sorted(
        feature
        for feature, info in anomalies_proto.anomaly_info.items()
        if any(reason.type in kinds for reason in info.reason)
    )


def count_out_of_range(examples_uri: str, split: str, schema, features: list[str]) -> dict:
    """feature -> (values outside its schema range, (min, max) of the range), read from the
    split's examples (statistics have no such count). Only runs when a range anomaly exists."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2

    bounds, spec = {}, {}
    for feature in schema.feature:
        if feature.name in features:
            domain = feature.int_domain if feature.type == schema_pb2.INT else feature.float_domain
            bounds[feature.name] = (domain.min, domain.max)
            dtype = tf.int64 if feature.type == schema_pb2.INT else tf.float32
            spec[feature.name] = tf.io.VarLenFeature(dtype)
    counts = dict.fromkeys(spec, 0)
    if not spec:
        return {}
    files = fileio.glob(contracts.examples_pattern(examples_uri, split))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(8192)
    for batch in records.map(lambda b: tf.io.parse_example(b, spec)):
        for name, values in batch.items():
            low, high = bounds[name]
            outside = (values.values < low) | (values.values > high)
            counts[name] += int(tf.reduce_sum(tf.cast(outside, tf.int64)))
    return {name: (counts[name], bounds[name]) for name in spec}


def _explain_ranges(found: list[Anomaly], counts: dict, schema_origin: str) -> list[Anomaly]:
    out = []
    for anomaly in found:
        if anomaly.feature in counts:
            count, (low, high) = counts[anomaly.feature]
            anomaly = dataclasses.replace(
                anomaly,
                short="Out-of-range values",
                description=f"{count:,} values outside the range [{low:g}, {high:g}] "
                f"({anomaly.description}). If they are valid, widen {anomaly.feature}'s "
                f"int_domain/float_domain in {schema_origin}",
            )
        out.append(anomaly)
    return out


def run(
    *,
    stats_uri: str,
    schema_path: str,
    splits: list[str],
    label: str,
    cfg: ValidateConfig,
    reference: ReferenceStore,
    run_name: str,
    output_uri: str,
    report_path: str,
    examples_uri: str | None = None,
) -> ValidationResult:
    """Validate every split; write SchemaDiff.pb per split, a report, and fail on anomalies.

    On success the dataset's reference is updated (schema if it had none, and these train
    statistics as the next run's drift baseline). On failure nothing in the reference changes.
    """
    import tensorflow_data_validation as tfdv

    schema = contracts.load_schema(schema_path)
    set_comparators(schema, cfg, label)
    previous = cfg.previous_statistics or (
        reference.statistics_path if reference.has_statistics() else None
    )
    baselines = {"previous": previous, "serving": cfg.serving_statistics}
    anomalies, distances, rows = [], [], {}
    for split in splits:
        stats = contracts.load_statistics(contracts.stats_path(stats_uri, split))
        rows[split] = int(stats.datasets[0].num_examples)
        compare = split == "train"  # drift and skew are about the training data
        result = tfdv.validate_statistics(
            stats,
            schema,
            environment="TRAINING",
            previous_statistics=contracts.load_statistics(previous)
            if compare and previous
            else None,
            serving_statistics=(
                contracts.load_statistics(cfg.serving_statistics)
                if compare and cfg.serving_statistics
                else None
            ),
        )
        fileio.write_bytes(
            fileio.join(output_uri, f"Split-{split}", ANOMALIES_FILE), result.SerializeToString()
        )
        found = read_anomalies(result, split)
        ranged = _range_features(result)
        if ranged and examples_uri:
            counts = count_out_of_range(examples_uri, split, schema, ranged)
            found = _explain_ranges(found, counts, reference.schema_path)
        anomalies += found
        distances += read_distances(result)
    warnings = [
        f"feature {name!r} has no value in any row of the first run: left out of the model "
        f"(DEPRECATED in the schema; set lifecycle_stage in {reference.schema_path} to use it)"
        for name in contracts.empty_features(schema)
    ]
    outcome = ValidationResult(
        anomalies, distances, baselines, rows, cfg.fail_on_anomalies, warnings
    )
    fileio.write_text(fileio.join(output_uri, RESULT_FILE), outcome.to_json())
    fileio.write_text(report_path, report.markdown(outcome, run_name))
    if not outcome.passed:
        raise ValidationFailed(outcome.failure_message())
    if not reference.has_schema():
        reference.set_schema(schema_path, run_name)
    reference.set_statistics(contracts.stats_path(stats_uri, "train"), run_name)
    return outcome
