"""Skew and drift of one window, per feature: TFDV distances and two-sample tests.

A distance says how far a distribution moved but not whether the move is more than noise: on
a few hundred rows an L-infinity of 0.3 can be chance, on a million rows a real shift may stay
under any threshold. A two-sample test knows the sample sizes. Both are computed:

- distance: TFDV's (L-infinity for categorical features, Jensen-Shannon for numeric ones);
- shift, for numeric features and predictions: how far the mean (or the SD) moved, in the
  baseline's standard deviations (a mean shift of half an SD is 0.5, whatever the feature's
  unit). Jensen-Shannon on TFDV's histograms barely sees a shift that keeps the mass within
  the same buckets (a 1-SD shift measured 0.22, under its 0.3 threshold); the shift sees it.
  A numeric feature is large when either is over its threshold;
- test: Kolmogorov-Smirnov (numeric) or chi-squared (categorical) between the windows
  (drift), and against the champion's training statistics (skew). Training data is known
  only through its statistics, so the skew KS test uses the training quantiles: the window's
  CDF is compared with the training CDF at those points, a lower bound of the KS statistic
  (a conservative test, also with tied values);
- every p-value of the window is corrected together (Holm, or Bonferroni), so the chance of
  any false rejection in a window stays at most monitor.alpha.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from kubetfx.components.anomalies import read_anomalies, read_distances, set_comparators
from kubetfx.components.monitor.config import MonitorConfig
from kubetfx.components.monitor.window import PREDICTION_PREFIX

QUANTILES = 1  # statistics_pb2.Histogram.QUANTILES
FLAG_RULES = {
    "both": lambda distance, test: distance and test,
    "test": lambda distance, test: test,
    "distance": lambda distance, test: distance,
}


@dataclasses.dataclass(frozen=True)
class FeatureShift:
    feature: str
    kind: str  # "skew" (against training) | "drift" (against the previous window)
    measure: str  # "L-infinity" | "Jensen-Shannon"
    distance: float
    threshold: float
    test: str  # "KS" | "KS (training quantiles)" | "chi-squared"
    statistic: float
    p_value: float
    rows: int
    baseline_rows: int
    shift: float | None = None  # Wasserstein-1 in baseline SDs (numeric columns only)
    shift_threshold: float | None = None
    p_adjusted: float = 1.0
    significant: bool = False  # the corrected test rejects "same distribution"
    flagged: bool = False

    @property
    def large(self) -> bool:
        """The distance, or (numeric) the shift in SDs, is over its threshold."""
        over_shift = self.shift is not None and self.shift > self.shift_threshold
        return self.distance > self.threshold or over_shift

    @property
    def status(self) -> str:
        """flagged, or which of the two signals alone fired (reported, not acted on)."""
        if self.flagged:
            return "flagged"
        if self.large and not self.significant:
            return "distance only (too few rows to tell from noise)"
        if self.significant and not self.large:
            return "significant, below the distance threshold"
        return "distance and test" if self.large else "ok"

    @property
    def moved(self) -> float:
        """How far it moved, as a fraction of its threshold (the report's ranking): the
        larger of the distance's and the shift's."""
        ratios = [self.distance / self.threshold]
        if self.shift is not None:
            ratios.append(self.shift / self.shift_threshold)
        return max(ratios)


def is_numeric(schema_feature) -> bool:
    from tensorflow_metadata.proto.v0 import schema_pb2

    return schema_feature.type in (schema_pb2.INT, schema_pb2.FLOAT) and not (
        schema_feature.HasField("string_domain") or schema_feature.domain
    )


def serving_features(schema) -> dict:
    """Schema features present at serving (the SERVING environment): name -> Feature."""
    return {
        f.name: f
        for f in schema.feature
        if "SERVING" not in f.not_in_environment
        and (not f.in_environment or "SERVING" in f.in_environment)
    }


# --- statistics ----------------------------------------------------------------------------


def _arrow_column(values: pd.Series, kind: str):
    import pyarrow as pa

    missing = values.isna().to_numpy()
    if kind == "int":
        numbers = pd.to_numeric(values, errors="coerce").fillna(0).round().astype(np.int64)
        items, value_type = numbers.tolist(), pa.int64()
    elif kind == "float":
        items, value_type = (
            pd.to_numeric(values, errors="coerce").fillna(0.0).tolist(),
            pa.float32(),
        )
    else:
        items, value_type = values.astype(str).str.encode("utf-8").tolist(), pa.binary()
    return pa.array(
        [None if gone else [item] for item, gone in zip(items, missing, strict=True)],
        type=pa.list_(value_type),
    )


def column_kinds(frame: pd.DataFrame, schema) -> dict[str, str]:
    """Column -> 'int' | 'float' | 'string': the schema's type, else (predictions) the data's."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    by_type = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float"}
    features = serving_features(schema)
    kinds = {}
    for column in frame.columns:
        if column in features:
            kinds[column] = by_type.get(features[column].type, "string")
        elif column.startswith(PREDICTION_PREFIX):
            numeric = pd.api.types.is_numeric_dtype(frame[column])
            kinds[column] = "float" if numeric else "string"
    return kinds


def statistics(frame: pd.DataFrame, kinds: dict[str, str]):
    """TFDV statistics of the frame's columns, in this process (a window is small)."""
    import pyarrow as pa
    from tensorflow_data_validation.statistics import stats_impl
    from tensorflow_data_validation.statistics.stats_options import StatsOptions

    columns = [c for c in kinds if c in frame.columns]
    batch = pa.RecordBatch.from_arrays(
        [_arrow_column(frame[c], kinds[c]) for c in columns], names=columns
    )
    return stats_impl.generate_statistics_in_memory(batch, StatsOptions())


def num_examples(stats) -> int:
    return int(stats.datasets[0].num_examples) if stats.datasets else 0


# --- distances -------------------------------------------------------------------------------


def monitoring_schema(schema, window_stats, cfg: MonitorConfig, label: str):
    """The champion's schema plus the prediction columns, with drift and skew comparators."""
    import tensorflow_data_validation as tfdv

    schema = type(schema).FromString(schema.SerializeToString())
    inferred = tfdv.infer_schema(window_stats, infer_feature_shape=False)
    names = {f.name for f in schema.feature}
    for feature in inferred.feature:
        if feature.name.startswith(PREDICTION_PREFIX) and feature.name not in names:
            schema.feature.add().CopyFrom(feature)
            if feature.domain:
                domain = tfdv.get_domain(inferred, feature.name)
                schema.string_domain.add().CopyFrom(domain)
    set_comparators(schema, cfg, label)
    for feature in schema.feature:
        if feature.name.startswith(PREDICTION_PREFIX):
            feature.ClearField("skew_comparator")  # training data has no predictions
    return schema


def distances(schema, window_stats, previous_stats, training_stats) -> tuple[dict, list]:
    """({(feature, kind): Distance}, the window's schema anomalies in the SERVING environment).

    The anomalies come from the schema alone (types, domains, presence): TFDV would also
    report every distance over its threshold, which compare() weighs with the tests instead.
    """
    import tensorflow_data_validation as tfdv

    found = {}
    if previous_stats is not None:
        drift = tfdv.validate_statistics(
            window_stats, schema, environment="SERVING", previous_statistics=previous_stats
        )
        found.update({(d.feature, d.kind): d for d in read_distances(drift) if d.kind == "drift"})
    if training_stats is not None:
        skew = tfdv.validate_statistics(
            training_stats, schema, environment="TRAINING", serving_statistics=window_stats
        )
        found.update({(d.feature, d.kind): d for d in read_distances(skew) if d.kind == "skew"})
    plain = type(schema).FromString(schema.SerializeToString())
    for feature in plain.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    checked = tfdv.validate_statistics(window_stats, plain, environment="SERVING")
    return found, read_anomalies(checked, "window")


# --- two-sample tests ----------------------------------------------------------------------


def ks_test(window: np.ndarray, previous: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(window) == 0 or len(previous) == 0:
        return 0.0, 1.0
    result = stats.ks_2samp(window, previous)
    return float(result.statistic), float(result.pvalue)


def ks_against_quantiles(window: np.ndarray, feature_stats) -> tuple[float, float]:
    """KS between the window and training data known by its quantile histogram.

    At each training quantile q (training CDF c), the window's CDF may pass anywhere between
    F(q-) and F(q) when q is a tied value; the gap outside that interval, the window's mass
    below the training minimum and above its maximum bound the true KS statistic from below.
    """
    from scipy import stats

    hists = [h for h in feature_stats.num_stats.histograms if h.type == QUANTILES]
    n_train = feature_stats.num_stats.common_stats.num_non_missing
    if not hists or not hists[0].buckets or len(window) == 0 or n_train == 0:
        return 0.0, 1.0
    values = np.sort(window)
    m = len(values)
    buckets = hists[0].buckets
    counts = np.array([b.sample_count for b in buckets], dtype=float)
    cdf = np.cumsum(counts) / counts.sum()
    gaps = [
        np.searchsorted(values, buckets[0].low_value, "left") / m,  # below the training min
        1 - np.searchsorted(values, buckets[-1].high_value, "right") / m,  # above the max
    ]
    for bucket, c in zip(buckets[:-1], cdf[:-1], strict=True):
        below = np.searchsorted(values, bucket.high_value, "left") / m
        at_or_below = np.searchsorted(values, bucket.high_value, "right") / m
        gaps.append(max(0.0, c - at_or_below, below - c))
    statistic = float(max(gaps))
    n_eff = n_train * m / (n_train + m)
    return statistic, float(stats.kstwo.sf(statistic, max(1, round(n_eff))))


def shift_in_sds(window: np.ndarray, mean: float, sd: float) -> float | None:
    """How far the window's mean or spread moved from a baseline's (mean, sd), in baseline
    SDs: max(|mean change|, |SD change|) / sd. None without a spread to measure in.

    The baseline's mean and SD are exact in TFDV's statistics, so skew against training
    data (known only by its statistics) is measured as exactly as drift between windows.
    """
    if len(window) < 2 or not sd > 0:
        return None
    moved = max(abs(float(np.mean(window)) - mean), abs(float(np.std(window, ddof=1)) - sd))
    return moved / sd


def chi2_test(window: dict[str, float], baseline: dict[str, float]) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two category count tables."""
    from scipy import stats

    categories = sorted(c for c in {*window, *baseline} if window.get(c, 0) + baseline.get(c, 0))
    if len(categories) < 2 or not sum(window.values()) or not sum(baseline.values()):
        return 0.0, 1.0
    table = np.array(
        [[window.get(c, 0) for c in categories], [baseline.get(c, 0) for c in categories]]
    )
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


def training_counts(feature_stats) -> dict[str, float]:
    """Category counts of a feature from its training statistics (the rest as '__other__')."""
    s = feature_stats.string_stats
    buckets = [(b.label, b.sample_count) for b in s.rank_histogram.buckets] or [
        (v.value, v.frequency) for v in s.top_values
    ]
    counts = dict(buckets)
    other = s.common_stats.num_non_missing - sum(counts.values())
    if other >= 0.5:
        counts["__other__"] = other
    return counts


def category_counts(values: pd.Series, known: set[str] | None = None) -> dict[str, float]:
    text = values.dropna().astype(str)
    if known is not None:
        text = text.where(text.isin(known), "__other__")
    return {str(k): float(v) for k, v in text.value_counts().items()}


def _values(frame: pd.DataFrame | None, feature: str) -> pd.Series:
    if frame is None or feature not in frame.columns:
        return pd.Series([], dtype=object)
    return frame[feature]


def _numbers(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)


def feature_stats_by_name(stats) -> dict:
    return {".".join(f.path.step) or f.name: f for f in stats.datasets[0].features}


def adjust(p_values: list[float], method: str) -> list[float]:
    """Holm's step-down (uniformly more powerful than Bonferroni) or Bonferroni adjustment."""
    k = len(p_values)
    if method == "bonferroni":
        return [min(1.0, p * k) for p in p_values]
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted, running = [1.0] * k, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare(
    window: pd.DataFrame,
    previous: pd.DataFrame | None,
    schema,
    training_stats,
    cfg: MonitorConfig,
    label: str,
) -> tuple[list[FeatureShift], list, dict]:
    """Every feature's (and prediction's) skew and drift: (shifts ranked, anomalies, stats)."""
    kinds = column_kinds(window, schema)
    window_stats = statistics(window, kinds)
    previous_stats = statistics(previous, kinds) if previous is not None and len(previous) else None
    schema = monitoring_schema(schema, window_stats, cfg, label)
    found, anomalies = distances(schema, window_stats, previous_stats, training_stats)
    numeric = {f.name: is_numeric(f) for f in schema.feature}
    training = feature_stats_by_name(training_stats) if training_stats is not None else {}
    shifts = []
    for (feature, kind), d in sorted(found.items()):
        values = _values(window, feature)
        shift = None
        if kind == "drift":
            base = _values(previous, feature)
            if numeric.get(feature):
                statistic, p = ks_test(_numbers(values), _numbers(base))
                test = "KS"
                reference = _numbers(base)
                if len(reference) > 1:
                    sd = float(np.std(reference, ddof=1))
                    shift = shift_in_sds(_numbers(values), float(np.mean(reference)), sd)
            else:
                statistic, p = chi2_test(category_counts(values), category_counts(base))
                test = "chi-squared"
            baseline_rows = int(base.notna().sum())
        else:
            stats = training[feature]
            if numeric.get(feature):
                statistic, p = ks_against_quantiles(_numbers(values), stats)
                test = "KS (training quantiles)"
                num = stats.num_stats
                shift = shift_in_sds(_numbers(values), num.mean, num.std_dev)
                baseline_rows = int(stats.num_stats.common_stats.num_non_missing)
            else:
                counts = training_counts(stats)
                statistic, p = chi2_test(category_counts(values, set(counts)), counts)
                test = "chi-squared"
                baseline_rows = int(stats.string_stats.common_stats.num_non_missing)
        shifts.append(
            FeatureShift(
                feature,
                kind,
                d.measure,
                d.value,
                d.threshold,
                test,
                statistic,
                p if math.isfinite(p) else 1.0,
                int(values.notna().sum()),
                baseline_rows,
                shift,
                None if shift is None else cfg.shift_thresholds.get(feature, cfg.shift_threshold),
            )
        )
    adjusted = adjust([s.p_value for s in shifts], cfg.correction)
    rule = FLAG_RULES[cfg.flag_when]
    shifts = [
        dataclasses.replace(
            s,
            p_adjusted=q,
            significant=q < cfg.alpha,
            flagged=rule(s.large, q < cfg.alpha),
        )
        for s, q in zip(shifts, adjusted, strict=True)
    ]
    shifts.sort(key=lambda s: (not s.flagged, -s.moved, s.p_value))
    stats = {"window": window_stats, "previous": previous_stats}
    return shifts, anomalies, stats
