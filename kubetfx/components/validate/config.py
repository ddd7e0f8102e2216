"""validate's config (ExampleValidator + DistributionValidator)."""

from __future__ import annotations

from pydantic import Field

from kubetfx.components.config_base import DistanceThresholds


class ValidateConfig(DistanceThresholds):
    """ExampleValidator + DistributionValidator."""

    previous_statistics: str | None = Field(
        None,
        description="FeatureStats.pb to check drift against. Default: the previous "
        "successful run's train statistics from the reference store.",
    )
    serving_statistics: str | None = Field(
        None, description="FeatureStats.pb of serving traffic, to check skew against."
    )
    fail_on_anomalies: bool = Field(True, description="Fail the run on any anomaly.")
