"""The blessing decision: pure rules, unit-tested apart from TFMA.

Fail closed: a model is blessed only when thresholds were configured, TFMA's validation ran,
and every threshold held (value thresholds always; change thresholds against the champion
when there is one).
"""

from __future__ import annotations

import dataclasses
import json

BLESSED, NOT_BLESSED = "BLESSED", "NOT_BLESSED"
RESULT_FILE = "blessing.json"


@dataclasses.dataclass(frozen=True)
class Blessing:
    blessed: bool
    reasons: list[str]
    baseline: str | None = None  # the champion compared against, if any

    @property
    def marker(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self) | {"marker": self.marker}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> Blessing:
        body = json.loads(text)
        return cls(body["blessed"], body["reasons"], body.get("baseline"))


def _slice_name(slice_key) -> str:
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def failures(validation_result) -> list[str]:
    """One readable line per failed threshold in a TFMA ValidationResult."""
    lines = []
    for per_slice in validation_result.metric_validations_per_slice:
        where = _slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            key = failure.metric_key
            what = f"change of {key.name} vs champion" if key.is_diff else key.name
            value = failure.metric_value.double_value.value
            lines.append(
                f"{what} on {where} = {value:.4f} fails {failure.message or 'its threshold'}"
            )
    return lines


def decide(
    thresholds_configured: bool,
    validation_result,
    baseline: str | None,
    behavior: tuple[list[str], list[str]] = ([], []),
) -> Blessing:
    """The blessing: every TFMA threshold held and every behavioral check (passed, failed)."""
    passed_checks, failed_checks = behavior
    if not thresholds_configured:
        return Blessing(
            False, ["no thresholds configured (evaluate.thresholds): fail closed"], baseline
        )
    if validation_result is None:
        return Blessing(False, ["TFMA produced no validation result: fail closed"], baseline)
    failed = failures(validation_result)
    if failed or not validation_result.validation_ok or failed_checks:
        reasons = failed or ([] if failed_checks else ["TFMA validation failed"])
        return Blessing(False, reasons + [f"behavior: {c}" for c in failed_checks], baseline)
    passed = "all thresholds held" + (
        f" (compared with champion {baseline})"
        if baseline
        else " (no champion yet: value thresholds only)"
    )
    return Blessing(True, [passed] + [f"behavior: {c}" for c in passed_checks], baseline)
