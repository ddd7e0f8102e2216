"""Where `kubetfx monitor` reads served traffic: one reader per serving.request_log.source.

Every reader returns the records window.to_frame consumes, one per request: request_id, ts
(ISO, UTC), version (the registry version that answered, None when the source cannot tell),
features (one object per example) and predictions (TF Serving's `predictions` or `outputs`).

    jsonl            the model server's own request log: window.read_records
    kserve           KServe request-logger CloudEvents, as the event sink stores them
                     (kubetfx/serving/event_sink.py): {dir}/{service}/{YYYY-MM-DD}/events-*.jsonl,
                     one structured CloudEvent per line; a request and its response share the
                     `id`. The version is the pod annotation push/kserve.py sets, which the
                     logger carries in its `annotations` extension (logger.metadataAnnotations)
    vertex_bigquery  Vertex AI's request-response logging table (endpoint, deployed_model_id,
                     logging_time, request_id, request_payload and response_payload, the
                     payloads REPEATED STRING: one JSON instance or prediction each), queried
                     by logging_time with query parameters. A deployed model id is not a
                     registry version, so version is None (prediction drift then has no
                     champion rows to compare)

Only TF Serving V1 `:predict` bodies with JSON features are read (`instances` rows or
`inputs` columns); a `serving_tf_example` request (serialized tf.Example) is left out with a
warning naming how many.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging

from kubetfx.components import fileio
from kubetfx.components.config import RequestLogConfig
from kubetfx.errors import ConfigError, DataError
from kubetfx.serving.event_sink import event_time

log = logging.getLogger("kubetfx.monitor")

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
# The predictor pod annotation holding the registry version (push/kserve.py sets it).
VERSION_ANNOTATION = "kubetfx.dev/model-version"
VERTEX_COLUMNS = ("logging_time", "request_id", "deployed_model_id", "request_payload")
VERTEX_FIX = (
    "point serving.request_log.bigquery_table at the table Vertex AI's request-response "
    "logging writes (columns endpoint, deployed_model_id, logging_time, request_id, "
    "request_payload, response_payload)"
)


class Skipped(Exception):
    """A request whose features cannot be read as JSON (a serialized tf.Example)."""


def service_name(request_log: RequestLogConfig, model: str) -> str:
    return request_log.kserve_service or model.replace("_", "-")


def _days(start: datetime.datetime, end: datetime.datetime) -> list[str]:
    day, days = start.date(), []
    while day <= end.date():
        days.append(day.isoformat())
        day += datetime.timedelta(days=1)
    return days


# --- TF Serving V1 bodies -> features and predictions --------------------------------------


def _value(value):
    """A TF Serving JSON value as the request log keeps it: a one-element list is its element,
    {"b64": ...} the UTF-8 text it encodes."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"]).decode("utf-8", errors="replace")
    return value


def _instance(instance) -> dict:
    if not isinstance(instance, dict):
        raise ValueError(
            f"an instance must be an object of named features, got {str(instance)[:80]!r}"
        )
    return {name: _value(value) for name, value in instance.items()}


def request_features(body) -> list[dict]:
    """The examples of a TF Serving `:predict` body. Raises Skipped for tf.Example requests,
    ValueError for a body that is not a V1 predict request."""
    if not isinstance(body, dict):
        raise ValueError("the request is not a JSON object")
    if body.get("signature_name") == "serving_tf_example":
        raise Skipped
    if isinstance(body.get("instances"), list):
        return [_instance(i) for i in body["instances"]]
    columns = body.get("inputs")
    if isinstance(columns, dict) and columns:
        size = max(len(v) if isinstance(v, list) else 1 for v in columns.values())
        return [
            {k: _value(v[i] if isinstance(v, list) else v) for k, v in columns.items()}
            for i in range(size)
        ]
    raise ValueError("not a TF Serving V1 predict request: no 'instances' list or 'inputs' map")


def response_predictions(body):
    if not isinstance(body, dict) or not ("predictions" in body or "outputs" in body):
        raise ValueError("not a TF Serving V1 predict answer: no 'predictions' or 'outputs'")
    return body.get("predictions", body.get("outputs"))


# --- KServe logger CloudEvents ---------------------------------------------------------------


def _event_data(event: dict):
    if "data_base64" in event:
        return json.loads(base64.b64decode(event["data_base64"]))
    return event.get("data")


def _version(event: dict) -> int | None:
    annotations = event.get("annotations")
    if not annotations:
        return None
    value = json.loads(annotations).get(VERSION_ANNOTATION)
    return int(value) if value is not None else None


def _read_events(path: str) -> list[dict]:
    events = []
    for number, line in enumerate(fileio.read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            kind, when = event["type"], event_time(event)
            if kind in (REQUEST_TYPE, RESPONSE_TYPE):
                events.append(
                    {
                        "id": event["id"],
                        "type": kind,
                        "time": when,
                        "data": _event_data(event),
                        "version": _version(event),
                        "where": f"{path}:{number}",
                    }
                )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(
                f"{path}:{number}: not a KServe logger CloudEvent in structured JSON ({e!r}); "
                "each line must be one event as `python -m kubetfx.serving.event_sink` writes "
                "it (id, type, time, data): remove or repair the line"
            ) from e
    return events


def read_kserve_events(
    log_dir: str, service: str, start: datetime.datetime, end: datetime.datetime
) -> list[dict]:
    """Request/response pairs of `service` whose request time is in [start, end)."""
    events = []
    # A response can land in the next day's file: read one day past the window.
    for day in _days(start, end + datetime.timedelta(days=1)):
        for path in sorted(fileio.glob(fileio.join(log_dir, service, day, "events-*.jsonl"))):
            events += _read_events(path)
    requests = {e["id"]: e for e in events if e["type"] == REQUEST_TYPE}
    responses = {e["id"]: e for e in events if e["type"] == RESPONSE_TYPE}
    records, skipped = [], 0
    for rid, request in sorted(requests.items(), key=lambda item: item[1]["time"]):
        # The logger posts a response only for a 200: an unanswered request was refused.
        if not start <= request["time"] < end or rid not in responses:
            continue
        response = responses[rid]
        try:
            features = request_features(request["data"])
            predictions = response_predictions(response["data"])
        except Skipped:
            skipped += 1
            continue
        except ValueError as e:
            raise DataError(
                f"{request['where']} (event {rid}): {e}; the 'kserve' source reads the TF "
                "Serving V1 predict requests of a 'tensorflow' predictor"
            ) from e
        records.append(
            {
                "request_id": rid,
                "ts": request["time"].isoformat(),
                "version": response["version"] or request["version"],
                "features": features,
                "predictions": predictions,
            }
        )
    if skipped:
        log.warning(
            "left out %d serving_tf_example requests of %s (no JSON features)", skipped, service
        )
    return records


# --- Vertex AI request-response logging in BigQuery ------------------------------------------


def bigquery_client(project: str):
    """A BigQuery client on the table's project (Application Default Credentials)."""
    from google.cloud import bigquery

    return bigquery.Client(project=project)


def vertex_query(table: str) -> str:
    return (
        "SELECT logging_time, request_id, deployed_model_id, request_payload, response_payload\n"
        f"FROM `{table}`\n"
        "WHERE logging_time >= @start AND logging_time < @end\n"
        "ORDER BY logging_time, request_id"
    )


def _payload(values, key: str) -> list:
    """REPEATED STRING payload -> items. Each element is one JSON instance (prediction); an
    element that is a whole body ({"instances": [...]}) is read as its items."""
    items = []
    for text in values or []:
        value = json.loads(text)
        if isinstance(value, dict) and isinstance(value.get(key), list):
            items += value[key]
        else:
            items.append(value)
    return items


def read_vertex_bigquery(
    table: str, start: datetime.datetime, end: datetime.datetime, client=None
) -> list[dict]:
    from google.api_core import exceptions as api_exceptions
    from google.cloud import bigquery

    client = client or bigquery_client(table.split(".")[0])
    parameters = [
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
    ]
    config = bigquery.QueryJobConfig(query_parameters=parameters)
    try:
        rows = list(client.query(vertex_query(table), job_config=config).result())
    except (api_exceptions.BadRequest, api_exceptions.NotFound) as e:
        raise DataError(f"BigQuery table {table}: {e.message}; {VERTEX_FIX}") from e
    except api_exceptions.Forbidden as e:
        raise ConfigError(
            f"serving.request_log.bigquery_table {table}: {e.message}; grant the monitoring "
            "identity roles/bigquery.dataViewer on the dataset and roles/bigquery.jobUser"
        ) from e
    records = []
    for number, row in enumerate(rows, 1):
        where = f"BigQuery table {table}, row {number} of the window"
        row = dict(row.items())
        missing = [c for c in (*VERTEX_COLUMNS, "response_payload") if c not in row]
        if missing:
            raise DataError(f"{where}: no column {', '.join(missing)}; {VERTEX_FIX}")
        try:
            features = [_instance(i) for i in _payload(row["request_payload"], "instances")]
            predictions = _payload(row["response_payload"], "predictions")
        except ValueError as e:
            raise DataError(
                f"{where} (request_id {row['request_id']}): {e}; the payloads must be TF "
                "Serving predict instances and predictions in JSON"
            ) from e
        when = row["logging_time"]
        records.append(
            {
                "request_id": str(row["request_id"]),
                "ts": when.astimezone(datetime.UTC).isoformat(),
                "version": None,
                "deployed_model_id": row["deployed_model_id"],
                "features": features,
                "predictions": predictions,
            }
        )
    return records


def read(
    request_log: RequestLogConfig,
    model: str,
    start: datetime.datetime,
    end: datetime.datetime,
    client=None,
) -> list[dict]:
    """The served records of the window from the configured source (not 'jsonl')."""
    if request_log.source == "kserve":
        return read_kserve_events(request_log.dir, service_name(request_log, model), start, end)
    if request_log.source == "vertex_bigquery":
        return read_vertex_bigquery(request_log.bigquery_table, start, end, client)
    raise ConfigError(
        f"serving.request_log.source: expected kserve or vertex_bigquery here, got "
        f"{request_log.source!r}"
    )
