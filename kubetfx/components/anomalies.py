"""What data validation and monitoring share: TFDV's anomalies and drift/skew distances read
into plain records, and the comparators (with their thresholds) set on a schema."""

from __future__ import annotations

import dataclasses

from kubetfx.components.config_base import DistanceThresholds


@dataclasses.dataclass(frozen=True)
class Anomaly:
    split: str
    feature: str
    short: str
    description: str


@dataclasses.dataclass(frozen=True)
class Distance:
    feature: str
    kind: str  # "drift" | "skew"
    measure: str  # "L-infinity" | "Jensen-Shannon"
    value: float
    threshold: float

    @property
    def flagged(self) -> bool:
        return self.value > self.threshold


def set_comparators(schema, cfg: DistanceThresholds, label: str) -> None:
    """Give every feature a drift and a skew comparator with its configured threshold."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    numeric = (schema_pb2.INT, schema_pb2.FLOAT)
    for feature in schema.feature:
        drift = cfg.drift_thresholds.get(feature.name, cfg.drift_threshold)
        skew = cfg.skew_thresholds.get(feature.name, cfg.skew_threshold)
        is_numeric = feature.type in numeric and not feature.HasField("string_domain")
        for comparator, threshold in (
            (feature.drift_comparator, drift),
            (feature.skew_comparator, skew),
        ):
            if is_numeric:
                comparator.jensen_shannon_divergence.threshold = threshold
            else:
                comparator.infinity_norm.threshold = threshold
        if feature.name == label:
            feature.ClearField("skew_comparator")  # no label in serving traffic


def read_anomalies(anomalies_proto, split: str) -> list[Anomaly]:
    """The anomalies of a TFDV Anomalies proto, one per feature (and one for the dataset)."""
    found = []
    for feature, info in sorted(anomalies_proto.anomaly_info.items()):
        short = "; ".join(r.short_description for r in info.reason) or info.short_description
        description = "; ".join(r.description for r in info.reason) or info.description
        found.append(Anomaly(split, feature, short, description))
    info = anomalies_proto.dataset_anomaly_info
    if info.reason:
        found.append(
            Anomaly(
                split,
                "(dataset)",
                "; ".join(r.short_description for r in info.reason),
                "; ".join(r.description for r in info.reason),
            )
        )
    return found


_MEASURES = {1: "L-infinity", 2: "Jensen-Shannon"}


def read_distances(anomalies_proto) -> list[Distance]:
    """The drift and skew distances TFDV measured, largest first within each kind."""
    found = []
    for info in anomalies_proto.drift_skew_info:
        feature = ".".join(info.path.step)
        for kind, measurements in (
            ("drift", info.drift_measurements),
            ("skew", info.skew_measurements),
        ):
            for m in measurements:
                measure = _MEASURES.get(m.type, str(m.type))
                found.append(Distance(feature, kind, measure, float(m.value), float(m.threshold)))
    return sorted(found, key=lambda d: (d.kind, -d.value))
