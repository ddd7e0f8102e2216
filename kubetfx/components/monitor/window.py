"""A time window of request logs as columns: features, predictions and request keys.

Other sources of served traffic (KServe logger events, Vertex AI's BigQuery table) are read by
sources.py, chosen by serving.request_log.source; this module reads the model server's own.

The serving request log (kubetfx/serving/logs.py) keeps one JSONL record per request under
{dir}/{model}/{YYYY-MM-DD}/requests-*.jsonl. A window reads the day directories it overlaps
and keeps the records whose `ts` falls in [start, end). Shadow copies (role "shadow") are left
out: they are the challenger's answers to requests the champion already answered.
"""

from __future__ import annotations

import dataclasses
import datetime
import json

import numpy as np
import pandas as pd

from kubetfx.components import fileio
from kubetfx.components.config import RequestLogConfig
from kubetfx.errors import ConfigError, DataError

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
PREDICTION_PREFIX = "prediction."
KEYS = ("request_id", "index", "version", "ts")  # columns that are not features


@dataclasses.dataclass(frozen=True)
class Window:
    start: datetime.datetime
    end: datetime.datetime

    @property
    def length(self) -> datetime.timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The window of the same length just before this one (the drift baseline)."""
        return Window(self.start - self.length, self.start)

    @property
    def name(self) -> str:
        """A file-name-safe id, e.g. 20261201T070000Z-3600s."""
        return f"{self.end:%Y%m%dT%H%M%SZ}-{int(self.length.total_seconds())}s"

    def describe(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"


def parse_duration(text: str, field: str = "--window") -> datetime.timedelta:
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or int(number) < 1 or unit not in UNITS:
        raise ConfigError(
            f"{field}: expected a number and a unit s, m, h or d (e.g. 1h), got {text!r}"
        )
    return datetime.timedelta(**{UNITS[unit]: int(number)})


def parse_time(text: str, field: str) -> datetime.datetime:
    """An ISO date or date-time; naive values are UTC."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(
            f"{field}: expected an ISO date or time (2026-12-01 or 2026-12-01T07:00:00Z), "
            f"got {text!r}"
        ) from e
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def resolve(
    window: str | None,
    start: str | None,
    end: str | None,
    now: datetime.datetime | None = None,
) -> Window:
    """--window ending at --end (default now), or --start/--end."""
    if start and window:
        raise ConfigError("--window and --start: give a window length or a start, not both")
    end_time = parse_time(end, "--end") if end else (now or datetime.datetime.now(datetime.UTC))
    if start:
        start_time = parse_time(start, "--start")
    else:
        start_time = end_time - parse_duration(window or "1h")
    if start_time >= end_time:
        raise ConfigError(f"--start: must be before --end, got {start_time} >= {end_time}")
    return Window(start_time, end_time)


def _days(window: Window) -> list[str]:
    day, days = window.start.date(), []
    while day <= window.end.date():
        days.append(day.isoformat())
        day += datetime.timedelta(days=1)
    return days


def read_records(log_dir: str, model: str, window: Window) -> list[dict]:
    """The served request records of `model` with window.start <= ts < window.end."""
    records = []
    for day in _days(window):
        for path in sorted(fileio.glob(fileio.join(log_dir, model, day, "requests-*.jsonl"))):
            for number, line in enumerate(fileio.read_text(path).splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    ts = datetime.datetime.fromisoformat(record["ts"])
                except (ValueError, KeyError, TypeError) as e:
                    raise DataError(f"{path}:{number}: not a request log record ({e})") from e
                if record.get("role", "served") == "served" and window.start <= ts < window.end:
                    records.append(record)
    return records


def _prediction_columns(prediction) -> dict:
    """One example's model output as flat columns: the class and each class probability
    (classification) or the value (regression)."""
    if isinstance(prediction, dict):
        out = {}
        if "classes" in prediction:
            out[PREDICTION_PREFIX + "class"] = str(prediction["classes"])
        for i, p in enumerate(prediction.get("probabilities") or []):
            out[f"{PREDICTION_PREFIX}probability_{i}"] = float(p)
        if "predictions" in prediction:
            out[PREDICTION_PREFIX + "value"] = float(prediction["predictions"])
        return out
    if isinstance(prediction, list) and len(prediction) == 1:
        prediction = prediction[0]
    return {PREDICTION_PREFIX + "value": float(prediction)} if prediction is not None else {}


def _per_example(predictions, size: int) -> list:
    """TF Serving's row `predictions`, columnar `outputs` (a dict of lists) or KServe V2
    `outputs` (a list of flat tensors) -> one per example."""
    if isinstance(predictions, list) and all(
        isinstance(p, dict) and {"name", "shape", "data"} <= p.keys() for p in predictions
    ):
        predictions = {
            p["name"]: np.reshape(np.array(p["data"], dtype=object), p["shape"]).tolist()
            for p in predictions
        }
    if isinstance(predictions, dict):
        return [{name: values[i] for name, values in predictions.items()} for i in range(size)]
    if isinstance(predictions, list) and len(predictions) == size:
        return predictions
    return [None] * size


def to_frame(records: list[dict]) -> pd.DataFrame:
    """One row per example: the request keys, the features and the prediction columns."""
    rows = []
    for record in records:
        features = record.get("features") or []
        predictions = _per_example(record.get("predictions"), len(features))
        for index, (example, prediction) in enumerate(zip(features, predictions, strict=True)):
            row = {
                "request_id": record.get("request_id"),
                "index": index,
                "version": record.get("version"),
                "ts": record["ts"],
                **example,
            }
            if prediction is not None:
                row.update(_prediction_columns(prediction))
            rows.append(row)
    return pd.DataFrame(rows)


def load(
    request_log: RequestLogConfig | str, model: str, window: Window, client=None
) -> pd.DataFrame:
    """The window's examples from serving.request_log's source (a directory: the model
    server's JSONL). `client` is a BigQuery client for the 'vertex_bigquery' source."""
    if isinstance(request_log, str) or request_log.source == "jsonl":
        log_dir = request_log if isinstance(request_log, str) else request_log.dir
        return to_frame(read_records(log_dir, model, window))
    from kubetfx.components.monitor import sources

    return to_frame(sources.read(request_log, model, window.start, window.end, client))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in KEYS and not c.startswith(PREDICTION_PREFIX)]


def prediction_columns(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c.startswith(PREDICTION_PREFIX))
