"""Serving-log-shaped data from `kubetfx generate` rows, for the monitoring tests.

Rows of the synthetic churn dataset (kubetfx/pipelines/generate.py, optionally drifted) become
request log records written by the model server's own writer (kubetfx/serving/logs.py), with the
answers of a fixed scoring rule standing in for a model: `probabilities` [no churn, churn],
`class_ids` and `classes`, as the exported classifier answers.
"""

from __future__ import annotations

import datetime
import math

import numpy as np
import pandas as pd

from kubetfx.pipelines import generate


def churn_probability(frame: pd.DataFrame) -> np.ndarray:
    """A fixed logistic score of the generated features (missing values count as typical)."""

    def col(name: str, typical: float) -> np.ndarray:
        return pd.to_numeric(frame[name], errors="coerce").fillna(typical).to_numpy(float)

    logit = (
        -0.2
        - 0.06 * (col("tenure_months", 24) - 24)
        + 0.9 * (frame["plan"] == "basic").to_numpy()
        - 0.8 * (frame["plan"] == "premium").to_numpy()
        - 0.03 * (col("usage_hours", 20) - 20)
        + 0.015 * (42 - col("age", 42))
        + 0.5 * (frame["region"] == "south").to_numpy()
    )
    return 1 / (1 + np.exp(-logit))


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def rows(n: int, seed: int, drifts: list[str] = (), index: int = 0) -> pd.DataFrame:
    """n generated rows (with the label `churned`); drifts as `kubetfx generate --drift`."""
    parsed = [generate.Drift.parse(spec) for spec in drifts]
    return generate.chunk(seed, index, n, parsed, label=True)


def records(
    frame: pd.DataFrame,
    start: datetime.datetime,
    seconds: float,
    model: str = "churn",
    version: int = 1,
    prefix: str = "req",
) -> list[dict]:
    """One single-example request per row, spread evenly over [start, start + seconds)."""
    features = [c for c in frame.columns if c != generate.LABEL]
    probability = churn_probability(frame)
    out = []
    step = seconds / max(len(frame), 1)
    for i, (row, p) in enumerate(
        zip(frame[features].itertuples(index=False), probability, strict=True)
    ):
        ts = start + datetime.timedelta(seconds=i * step)
        churn = int(p >= 0.5)
        out.append(
            {
                "ts": ts.isoformat(timespec="milliseconds"),
                "request_id": f"{prefix}-{i}",
                "model": model,
                "version": version,
                "label": "champion",
                "role": "served",
                "signature": "serving_default",
                "features": [{f: _plain(v) for f, v in zip(features, row, strict=True)}],
                "predictions": [
                    {
                        "probabilities": [float(1 - p), float(p)],
                        "class_ids": churn,
                        "classes": str(churn),
                    }
                ],
                "latency_ms": 1.0,
            }
        )
    return out


def write(log_dir: str, records_: list[dict]) -> None:
    """Write records as the model server does (same writer, same file layout)."""
    from kubetfx.serving.logs import RequestLog

    log = RequestLog(log_dir, sample_rate=1.0, flush_seconds=0.05, max_queue=len(records_) + 1)
    for record in records_:
        log.write(record)
    log.close()
    if log.dropped:
        raise OSError(f"the request log dropped {log.dropped} records under {log_dir}")


def labels(frame: pd.DataFrame, prefix: str = "req") -> pd.DataFrame:
    """The delayed ground truth of `records(frame, prefix=prefix)`, keyed by request id."""
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}-{i}" for i in range(len(frame))],
            generate.LABEL: frame[generate.LABEL].astype(int).to_numpy(),
        }
    )
