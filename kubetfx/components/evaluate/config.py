"""evaluate's config: metrics, slices, fairness, behavioral checks and the gate."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kubetfx.components.config_base import Section


class MetricThreshold(Section):
    lower: float | None = Field(None, description="Bless only if metric >= lower.")
    upper: float | None = Field(None, description="Bless only if metric <= upper.")
    change: Literal["higher_is_better", "lower_is_better"] | None = Field(
        None, description="Compared with the champion: must not get worse by more than tolerance."
    )
    tolerance: float = Field(0.0, ge=0.0, description="Allowed change against the champion.")


class InvarianceCheck(Section):
    """Changing `feature` among `values` must not change the predicted class (or value)."""

    feature: str
    values: list[str | int | float] = Field(min_length=2)
    min_agreement: float = Field(0.95, gt=0, le=1)


class DirectionalCheck(Section):
    """Adding `delta` to `feature` must move `output` (a class name, or 'prediction')."""

    feature: str
    delta: float
    output: str
    direction: Literal["up", "down"]
    min_fraction: float = Field(0.9, gt=0, le=1)


class EvaluateConfig(Section):
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
    confidence_intervals: Literal["jackknife", "bootstrap", "off"] = Field(
        "jackknife",
        description="TFMA's 95% confidence interval for every metric of every slice, drawn as "
        "whiskers in the report and kept in metrics.json ('intervals'): 'jackknife' (20 "
        "delete-a-bucket samples), 'bootstrap' (20 Poisson resamples) or 'off'. Either "
        "recomputes every metric 20 times: on 100,000 generated rows evaluate takes about 4x "
        "as long (docs/performance.md). The gate uses the point values either way.",
    )
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
