"""What every config section shares: strict models, name rules, and the distance thresholds
that data validation and monitoring both take."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DNS_LABEL_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class Section(BaseModel):
    # Unknown keys are errors: a typo in a YAML file must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def dns_label(value: str) -> str:
    """A Kubernetes object or namespace name (RFC 1035 label): the API server rejects others."""
    if not _DNS_LABEL_RE.match(value):
        raise ValueError(
            "must be a DNS label (lowercase letters, digits and '-', starting with a letter, "
            f"at most 63 characters), got {value!r}"
        )
    return value


class DistanceThresholds(Section):
    """Drift and skew thresholds on TFDV's distances (L-infinity for categorical features,
    Jensen-Shannon divergence for numeric ones): one value, and per-feature overrides."""

    drift_threshold: float = Field(
        0.3, gt=0.0, le=1.0, description="Drift: distance to the previous data (or window)."
    )
    drift_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-feature drift thresholds."
    )
    skew_threshold: float = Field(
        0.3, gt=0.0, le=1.0, description="Skew: distance between training and serving data."
    )
    skew_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-feature skew thresholds."
    )

    @field_validator("drift_thresholds", "skew_thresholds")
    @classmethod
    def _check_thresholds(cls, values: dict[str, float]) -> dict[str, float]:
        for feature, threshold in values.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold for {feature!r} must be in (0, 1], got {threshold}")
        return values
