"""The end-of-run summary a person reads: the run, each step's status, where artifacts are."""

from __future__ import annotations

import json
import os

from kubetfx.runners.local import RunResult


def _highlights(metadata: dict) -> str:
    parts = []
    if "rows" in metadata:
        parts.append(", ".join(f"{split} {int(n):,} rows" for split, n in metadata["rows"].items()))
    if metadata.get("span", -1) >= 0:
        parts.append(f"span {int(metadata['span'])}")
    if "source" in metadata:
        parts.append(f"source: {metadata['source']}")
    if "anomaly_count" in metadata:
        parts.append(
            f"{int(metadata['anomaly_count'])} anomalies, "
            f"{int(metadata['flagged_distances'])} drift/skew flags"
        )
    return f"  ({'; '.join(parts)})" if parts else ""


def _failure_detail(result: RunResult) -> list[str]:
    """For a failed validate step, the anomalies it found (its report has the details)."""
    from kubetfx.components.validate.core import RESULT_FILE, ValidationResult

    for step in result.steps:
        anomalies = step.artifacts.get("anomalies")
        if step.status != "FAILED" or not anomalies:
            continue
        path = os.path.join(anomalies["uri"], RESULT_FILE)
        if os.path.exists(path):
            with open(path) as f:
                return ValidationResult.from_json(f.read()).failure_message().splitlines()
    return []


def _log_tail(result: RunResult, lines: int = 12) -> list[str]:
    if not result.log_path or not os.path.exists(result.log_path):
        return []
    with open(result.log_path) as f:
        tail = [line.rstrip() for line in f.readlines() if line.strip()][-lines:]
    return [f"  | {line}" for line in tail]


def _read_json(step_artifacts: dict, artifact: str, filename: str) -> dict | None:
    entry = step_artifacts.get(artifact)
    path = os.path.join(entry["uri"], filename) if entry else None
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _fmt_metrics(values: dict) -> str:
    shown = {k: v for k, v in values.items() if "[" not in k and not k.endswith("_diff")}
    return " · ".join(f"{k} {v:.4g}" for k, v in sorted(shown.items()))


def _model_lines(result: RunResult) -> list[str]:
    """Headline metrics overall and per slice, the blessing and why, and what was pushed."""
    from kubetfx.components.contracts import METRICS_FILE
    from kubetfx.components.evaluate.blessing import RESULT_FILE as BLESSING_FILE
    from kubetfx.components.infra_validate.core import RESULT_FILE as INFRA_FILE

    steps = {s.name: s.artifacts for s in result.steps}
    lines = []
    metrics = _read_json(steps.get("evaluate", {}), "evaluation", METRICS_FILE)
    if metrics:
        candidate = metrics["candidate"]
        lines += ["", f"Evaluation (eval split): {_fmt_metrics(candidate.get('overall', {}))}"]
        for name in sorted(k for k in candidate if k != "overall"):
            lines.append(f"  {name:<24} {_fmt_metrics(candidate[name])}")
        if metrics.get("baseline_overall"):
            lines.append(f"  champion (overall)       {_fmt_metrics(metrics['baseline_overall'])}")
    blessing = _read_json(steps.get("evaluate", {}), "blessing", BLESSING_FILE)
    if blessing:
        lines += ["", f"Blessing: {blessing['marker']}"]
        lines += [f"  - {reason}" for reason in blessing["reasons"]]
        if blessing.get("gate") == "default":
            lines.append(f"  {STRICTER_GATE}")
    infra = _read_json(steps.get("infra-validate", {}), "infra_blessing", INFRA_FILE)
    if infra:
        marker = "INFRA_BLESSED" if infra["blessed"] else "INFRA_NOT_BLESSED"
        lines += ["", f"Infra validation: {marker} (server ready in {infra['ready_seconds']} s)"]
        lines += [f"  - {reason}" for reason in infra["reasons"]]
    pushed = _read_json(steps.get("push", {}), "pushed_model", "push.json")
    if pushed:
        if pushed["pushed"]:
            role = "now the champion" if pushed.get("champion") else "a challenger"
            lines += ["", f"Pushed: version {pushed['version']} -> {pushed['path']} ({role})"]
        else:
            lines += ["", f"Not pushed: {pushed['reason']} (the champion is unchanged)"]
    return lines


STRICTER_GATE = (
    "A stricter gate: set evaluate.thresholds in a config file (--config), e.g.\n"
    "    evaluate:\n"
    "      thresholds:\n"
    "        accuracy: {lower: 0.9, change: higher_is_better, tolerance: 0.01}\n"
    "  (mean_squared_error: {upper: ...} for regression; `kubetfx config` prints every key)"
)


def _warnings(result: RunResult) -> list[str]:
    """What the run did that its user should know, though nothing failed (e.g. an empty
    column left out of the model)."""
    from kubetfx.components.validate.core import RESULT_FILE, ValidationResult

    for step in result.steps:
        anomalies = step.artifacts.get("anomalies")
        path = os.path.join(anomalies["uri"], RESULT_FILE) if anomalies else None
        if path and os.path.exists(path):
            with open(path) as f:
                found = ValidationResult.from_json(f.read()).warnings
            return ["", "Warnings:"] + [f"  - {w}" for w in found] if found else []
    return []


def render(result: RunResult) -> str:
    status = "SUCCEEDED" if result.succeeded else "FAILED"
    lines = ["", f"Run {result.run_name or '(not started)'}: {status}", f"  {result.run_dir}", ""]
    width = max((len(s.name) for s in result.steps), default=4)
    for step in result.steps:
        took = f"{step.seconds:6.1f}s" if step.seconds is not None else "       "
        lines.append(f"  {step.name:<{width}}  {step.status:<9}  {took}")
        for name, artifact in step.artifacts.items():
            lines.append(f"      {name}: {artifact['uri']}{_highlights(artifact['metadata'])}")
    lines += _warnings(result)
    lines += _model_lines(result)
    if result.error:
        lines += ["", f"Error: {result.error}"]
        detail = _failure_detail(result)
        lines += [f"  {line}" for line in detail] if detail else _log_tail(result)
    if result.log_path:
        lines += ["", f"Step logs: {result.log_path}"]
    return "\n".join(lines) + "\n"
