"""monitor's config: which traffic to watch, how to judge it, and what to do about it."""

from __future__ import annotations

import datetime
import re
from typing import Literal

from pydantic import Field, field_validator

from kubetfx.components.config_base import DistanceThresholds

_WINDOW_RE = re.compile(r"^[1-9][0-9]*[smhd]$")


class MonitorConfig(DistanceThresholds):
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
    shift_threshold: float = Field(
        0.3,
        gt=0.0,
        description="Numeric features and predictions: how far the window's mean or SD moved "
        "from its baseline's, in the baseline's standard deviations (0.5: the mean moved by "
        "half an SD). Over it, or over the TFDV distance's threshold, a numeric feature "
        "counts as large. The default flags a 0.5-SD shift at 1,000 rows.",
    )
    shift_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-feature shift thresholds (in SDs)."
    )
    min_live_metric: float | None = Field(
        None,
        description="Live accuracy (delayed labels, overall) under this counts as drift, "
        "like a flagged feature: the policy alerts and retrains on it. Classifiers only.",
    )
    max_live_drop: float | None = Field(
        None,
        gt=0.0,
        description="A live headline metric worse than at evaluation by more than this "
        "counts as drift: accuracy lower, or (regression) mean absolute error higher.",
    )
    min_labeled_rows: int = Field(
        100, ge=1, description="Fewer labelled predictions in the window: quality not judged."
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
    retrain_trigger: str = Field(
        "kubetfx.runners.monitor:trigger_training",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="What starts the training run (module:function, called with the config, "
        "the platform and the monitoring result URI; returns a run name). The default runs "
        "the training pipeline on the monitor's platform; point it at your own function to "
        "retrain elsewhere (a CI job, a webhook).",
    )
    cooldown_seconds: float = Field(
        86400.0, ge=0.0, description="At most one triggered training run per cooldown."
    )
    debounce: int = Field(
        2, ge=1, description="Act only after this many drifting windows in a row."
    )
    triggered_by: str | None = Field(
        None, description="Set by the monitor on a run it starts: the result that caused it."
    )

    @field_validator("shift_thresholds")
    @classmethod
    def _check_shifts(cls, values: dict[str, float]) -> dict[str, float]:
        for feature, threshold in values.items():
            if not threshold > 0.0:
                raise ValueError(f"shift threshold for {feature!r} must be > 0, got {threshold}")
        return values

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

    @field_validator("alert_webhook")
    @classmethod
    def _check_webhook(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {url!r}")
        return url
