"""The end-of-run summary a person reads: the run, each step's status, where artifacts are."""

from __future__ import annotations

import os

from pipelines.local import RunResult


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
    from components.validate.core import RESULT_FILE, ValidationResult

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


def render(result: RunResult) -> str:
    status = "SUCCEEDED" if result.succeeded else "FAILED"
    lines = ["", f"Run {result.run_name or '(not started)'}: {status}", f"  {result.run_dir}", ""]
    width = max((len(s.name) for s in result.steps), default=4)
    for step in result.steps:
        took = f"{step.seconds:6.1f}s" if step.seconds is not None else "       "
        lines.append(f"  {step.name:<{width}}  {step.status:<9}  {took}")
        for name, artifact in step.artifacts.items():
            lines.append(f"      {name}: {artifact['uri']}{_highlights(artifact['metadata'])}")
    if result.error:
        lines += ["", f"Error: {result.error}"]
        detail = _failure_detail(result)
        lines += [f"  {line}" for line in detail] if detail else _log_tail(result)
    if result.log_path:
        lines += ["", f"Step logs: {result.log_path}"]
    return "\n".join(lines) + "\n"
