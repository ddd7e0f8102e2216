"""Live quality from delayed labels: the concept-drift signal feature statistics cannot give.

Labels arrive later, in a file keyed by request id (CSV, JSONL or Parquet, local or gs://):
a `request_id` column, the label under the dataset's label name (or `label`), and an optional
`index` column for requests that carried several examples (default 0, the first). They are
joined to the window's logged predictions; quality is computed overall and per slice, with
the slices and metric names evaluate uses, next to the champion's evaluation-time values.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from kubetfx.components import fileio
from kubetfx.components.monitor.window import PREDICTION_PREFIX
from kubetfx.errors import DataError

CLASS, VALUE = PREDICTION_PREFIX + "class", PREDICTION_PREFIX + "value"


def read_labels(path: str, label: str) -> pd.DataFrame:
    """request_id, index, label (renamed to `label`), from CSV, JSONL/JSON lines or Parquet."""
    try:
        data = fileio.read_bytes(path)
    except FileNotFoundError as e:
        raise DataError(f"--labels: no file at {path!r}") from e
    if path.endswith(".parquet"):
        frame = pd.read_parquet(io.BytesIO(data))
    elif path.endswith((".jsonl", ".json")):
        frame = pd.read_json(io.BytesIO(data), lines=True)
    elif path.endswith(".csv"):
        frame = pd.read_csv(io.BytesIO(data))
    else:
        raise DataError(f"--labels: {path!r} must end in .csv, .jsonl, .json or .parquet")
    column = "label" if label not in frame.columns and "label" in frame.columns else label
    missing = [c for c in ("request_id", column) if c not in frame.columns]
    if missing:
        raise DataError(
            f"--labels: {path!r} has no column {missing[0]!r}; it needs request_id and "
            f"{label!r} (or label), optionally index; it has {list(frame.columns)}"
        )
    frame = frame.rename(columns={column: "label"})
    if "index" not in frame.columns:
        frame["index"] = 0
    frame["request_id"] = frame["request_id"].astype(str)
    return frame[["request_id", "index", "label"]]


def _text(value) -> str:
    """One spelling for a class or slice value: 1, 1.0 and '1' are all '1'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _metrics(rows: pd.DataFrame) -> dict[str, float]:
    out = {"example_count": float(len(rows))}
    if CLASS in rows.columns:
        out["accuracy"] = float((rows[CLASS].map(_text) == rows["label"].map(_text)).mean())
    elif VALUE in rows.columns:
        error = rows[VALUE].astype(float) - rows["label"].astype(float)
        out["mean_squared_error"] = float((error**2).mean())
        out["mean_absolute_error"] = float(error.abs().mean())
    return out


def join(window: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    keyed = window.assign(request_id=window["request_id"].astype(str))
    return keyed.merge(labels, on=["request_id", "index"], how="inner")


def live_quality(joined: pd.DataFrame, slices: list[str]) -> dict[str, dict[str, float]]:
    """{slice: {metric: value}}; slice names as TFMA writes them ('overall', 'sex=male')."""
    if joined.empty:
        return {}
    out = {"overall": _metrics(joined)}
    for feature in slices:
        if feature not in joined.columns:
            continue
        for value, rows in joined.dropna(subset=[feature]).groupby(feature):
            out[f"{feature}={_text(value)}"] = _metrics(rows)
    return out


def compare(live: dict, at_eval: dict) -> list[dict]:
    """Rows of the quality table: slice, metric, live, eval-time value, change."""
    rows = []
    for slice_name, metrics in sorted(live.items(), key=lambda kv: kv[0] != "overall"):
        for metric, value in metrics.items():
            before = at_eval.get(slice_name, {}).get(metric)
            change = value - before if before is not None and metric != "example_count" else None
            rows.append(
                {
                    "slice": slice_name,
                    "metric": metric,
                    "live": value,
                    "eval": before,
                    "change": change,
                }
            )
    return rows


def headline(rows: list[dict]) -> dict | None:
    """The overall live metric a policy judges (accuracy, or for a regressor mean absolute
    error) with its labelled count and evaluation-time value, from compare()'s rows."""
    overall = {r["metric"]: r for r in rows if r["slice"] == "overall"}
    for metric in ("accuracy", "mean_absolute_error"):
        if metric in overall:
            count = overall.get("example_count", {}).get("live", 0.0)
            return {**overall[metric], "labelled": int(count)}
    return None


def judge(
    row: dict | None, min_metric: float | None, max_drop: float | None, min_rows: int
) -> str | None:
    """Why live quality counts as drift (monitor.min_live_metric, monitor.max_live_drop),
    or None: within bounds, not configured, or fewer than min_rows labelled predictions."""
    if row is None or row["labelled"] < min_rows:
        return None
    metric, live, at_eval = row["metric"], row["live"], row["eval"]
    higher_is_better = metric == "accuracy"
    if min_metric is not None and higher_is_better and live < min_metric:
        return f"live {metric} {live:.3f} < monitor.min_live_metric {min_metric}"
    if max_drop is not None and at_eval is not None:
        worse = at_eval - live if higher_is_better else live - at_eval
        if worse > max_drop:
            return (
                f"live {metric} {live:.3f} vs {at_eval:.3f} at evaluation: worse by "
                f"{worse:.3f} > monitor.max_live_drop {max_drop}"
            )
    return None
