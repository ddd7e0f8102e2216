"""The blessing decision: pure rules, unit-tested apart from TFMA.

Fail closed: a model is blessed only when it had a gate, TFMA's validation ran, and every
threshold held (value thresholds always; change thresholds against the champion when there
is one). The gate is evaluate.thresholds; when those are empty, the default gate: beat a naive
predictor (majority class, or the mean) on the same eval split by evaluate.naive_margin, and
do not fall behind the champion.
"""

from __future__ import annotations

import dataclasses

from kubetfx.components.contracts import BLESSED, BLESSING_FILE, NOT_BLESSED, Blessing
from kubetfx.errors import DataError

RESULT_FILE = BLESSING_FILE
__all__ = [
    "BLESSED", "NOT_BLESSED", "RESULT_FILE", "Blessing", "NaiveGate", "classification_gate",
    "decide", "failures", "regression_gate",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class NaiveGate:
    """The default gate: the candidate must beat a naive predictor's error by `margin`
    (a fraction of the naive error), measured on the same eval split."""

    metric: str  # "accuracy" (classification) | "mean_squared_error" (regression)
    naive: float  # the naive predictor's value of the metric
    predictor: str  # what the naive predictor predicts, for the reasons
    margin: float

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"

    @property
    def required(self) -> float:
        if self.higher_is_better:  # accuracy: an error rate of at most (1 - margin) x naive's
            return 1.0 - (1.0 - self.naive) * (1.0 - self.margin)
        return self.naive * (1.0 - self.margin)

    def held(self, candidate: float) -> bool:
        return candidate >= self.required if self.higher_is_better else candidate <= self.required

    def reason(self, candidate: float | None) -> str:
        sign = ">=" if self.higher_is_better else "<="
        got = "not computed" if candidate is None else f"{candidate:.4f}"
        verdict = "held" if candidate is not None and self.held(candidate) else "failed"
        return (
            f"default gate {verdict} (evaluate.thresholds is empty): {self.metric} {got} must "
            f"be {sign} {self.required:.4f}, the naive predictor ({self.predictor}: "
            f"{self.naive:.4f}) improved by evaluate.naive_margin {self.margin:g} of its error"
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"required": self.required}


def classification_gate(counts: dict[str, int], margin: float) -> NaiveGate:
    """Always predict the most frequent eval class."""
    total = sum(counts.values())
    if not total:
        raise DataError("evaluate: no labelled eval rows to compute the naive baseline on")
    top = max(sorted(counts), key=counts.__getitem__)
    return NaiveGate("accuracy", counts[top] / total, f"always {top!r}", margin)


def regression_gate(mean: float, mean_squared_error: float, margin: float) -> NaiveGate:
    """Always predict the eval mean: its mean squared error is the labels' variance."""
    return NaiveGate("mean_squared_error", mean_squared_error, f"always {mean:.4g}", margin)


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
    default_gate: tuple[NaiveGate, float | None] | None = None,
) -> Blessing:
    """The blessing: every TFMA threshold held and every behavioral check (passed, failed).

    `default_gate` (the gate and the candidate's value) stands in for thresholds that were not
    configured; its threshold is also in TFMA's validation, so both must agree.
    """
    passed_checks, failed_checks = behavior
    gate = "default" if default_gate else "thresholds"
    if not thresholds_configured and not default_gate:
        return Blessing(
            False, ["no thresholds configured (evaluate.thresholds): fail closed"], baseline
        )
    if validation_result is None:
        return Blessing(False, ["TFMA produced no validation result: fail closed"], baseline, gate)
    gate_lines = [default_gate[0].reason(default_gate[1])] if default_gate else []
    gate_failed = default_gate is not None and (
        default_gate[1] is None or not default_gate[0].held(default_gate[1])
    )
    failed = failures(validation_result)
    if failed or not validation_result.validation_ok or failed_checks or gate_failed:
        reasons = failed or ([] if failed_checks or gate_failed else ["TFMA validation failed"])
        behaviour = [f"behavior: {c}" for c in failed_checks]
        return Blessing(False, gate_lines + reasons + behaviour, baseline, gate)
    passed = "all thresholds held" + (
        f" (compared with champion {baseline})"
        if baseline
        else " (no champion yet: value thresholds only)"
    )
    reasons = gate_lines + [passed] + [f"behavior: {c}" for c in passed_checks]
    return Blessing(True, reasons, baseline, gate)
