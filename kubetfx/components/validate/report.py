"""The readable data-validation report (Markdown; the Kubeflow UI renders it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubetfx.components.validate.core import ValidationResult


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(result: ValidationResult, run_name: str) -> str:
    verdict = "PASSED" if result.passed else "FAILED"
    if result.anomalies and not result.blocking:
        verdict += " (anomalies reported, not blocking: validate.fail_on_anomalies is false)"
    rows = ", ".join(f"{split}: {n:,}" for split, n in result.rows.items())
    lines = [
        f"# Data validation: {verdict}",
        "",
        f"Run `{run_name}` · rows {rows}",
        "",
        f"- drift baseline: `{result.baselines.get('previous') or 'none (first run)'}`",
        f"- serving statistics (skew): `{result.baselines.get('serving') or 'none given'}`",
        "",
    ]
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {_cell(w)}" for w in result.warnings] + [""]
    lines += ["## Anomalies", ""]
    if result.anomalies:
        lines += ["| split | feature | anomaly | detail |", "|---|---|---|---|"]
        lines += [
            f"| {a.split} | **{_cell(a.feature)}** | {_cell(a.short)} | {_cell(a.description)} |"
            for a in result.anomalies
        ]
    else:
        lines.append("No anomalies: every split matches the schema.")
    for kind, title in (
        ("drift", "Drift against the previous data"),
        ("skew", "Training-serving skew"),
    ):
        found = [d for d in result.distances if d.kind == kind]
        lines += ["", f"## {title}", ""]
        if not found:
            lines.append("Not computed (no baseline).")
            continue
        lines += ["| feature | distance | value | threshold | flagged |", "|---|---|---|---|---|"]
        lines += [
            f"| {_cell(d.feature)} | {d.measure} | {d.value:.4f} | {d.threshold:.4f} | "
            f"{'**yes**' if d.flagged else 'no'} |"
            for d in found
        ]
    return "\n".join(lines) + "\n"
