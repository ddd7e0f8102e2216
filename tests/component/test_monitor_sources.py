"""`kubetfx monitor` on cloud-served traffic: KServe request-logger CloudEvents (through the
real event sink, a process on loopback) and Vertex AI's BigQuery request-response table
(through a fake BigQuery client that captures the SQL and its parameters).

The formats are the published ones: fixtures/kserve_logger_penguins.json holds what KServe's
logger POSTs for TF Serving V1 predicts, fixtures/vertex_bigquery_penguins.json the rows Vertex
writes; the drift tests turn `kubetfx generate` traffic into the same shapes.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubetfx.components.monitor import core, sources
from kubetfx.components.monitor import window as windows
from kubetfx.errors import ConfigError, DataError
from kubetfx.serving.process import free_port
from tests import serving_traffic as simulate
from tests.component.test_monitor import HOUR, T0, champion_setup, flagged_inputs, hour_window

FIXTURES = Path(__file__).parent / "fixtures"
VERSION = "kubetfx.dev/model-version"


# --- the event sink, a real process ----------------------------------------------------------


@contextlib.contextmanager
def event_sink(directory):
    port = free_port()
    command = [sys.executable, "-m", "kubetfx.serving.event_sink", "--dir", str(directory)]
    command += ["--port", str(port), "--flush-seconds", "0.2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                if post(port, {}, b"", "GET")[0] == 200:
                    break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()  # SIGTERM: the sink writes what it holds, then exits
        assert process.wait(timeout=15) == 0, process.stderr.read().decode()


def post(port: int, headers: dict, body: bytes, method: str = "POST") -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def kserve_posts(records: list[dict], service: str = "churn") -> list[tuple[dict, bytes]]:
    """What KServe's logger posts for each request log record: request and response events in
    binary mode, the request a TF Serving `instances` body, the answer its `predictions`."""
    posts = []
    for record in records:
        sent = datetime.datetime.fromisoformat(record["ts"])
        common = {
            "Content-Type": "application/json",
            "Ce-Specversion": "1.0",
            "Ce-Id": record["request_id"],
            "Ce-Source": f"{service}-predictor-00001-deployment-5d8f-abcde",
            "Ce-Inferenceservicename": service,
            "Ce-Namespace": "kubetfx-serving",
            "Ce-Component": "predictor",
            "Ce-Endpoint": "default",
            "Ce-Annotations": json.dumps({VERSION: str(record["version"])}),
        }
        for kind, when, body in (
            ("request", sent, {"instances": record["features"]}),
            (
                "response",
                sent + datetime.timedelta(milliseconds=3),
                {"predictions": record["predictions"]},
            ),
        ):
            headers = {
                **common,
                "Ce-Type": f"org.kubeflow.serving.inference.{kind}",
                "Ce-Time": when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",  # Go: nanoseconds
                "Ce-Metadata": "{}" if kind == "request" else "null",
            }
            posts.append((headers, json.dumps(body).encode()))
    return posts


def send_hour(port, hour: int, rows: int, seed: int, version: int, drifts=()) -> None:
    frame = simulate.rows(rows, seed, list(drifts))
    records = simulate.records(frame, T0 + hour * HOUR, 3600, "churn", version, prefix=f"h{hour}")
    for headers, body in kserve_posts(records):
        assert post(port, headers, body)[0] == 200


def with_source(cfg, **request_log):
    log = cfg.serving.request_log.model_validate(
        {**cfg.serving.request_log.model_dump(), **request_log}
    )
    return cfg.model_copy(update={"serving": cfg.serving.model_copy(update={"request_log": log})})


# --- KServe ---------------------------------------------------------------------------------


def test_kserve_logger_events_are_stored_as_structured_cloudevents_and_read_back(tmp_path):
    recorded = json.loads((FIXTURES / "kserve_logger_penguins.json").read_text())["posts"]
    with event_sink(tmp_path / "logs") as port:
        for item in recorded:
            assert post(port, item["headers"], item["body"].encode()) == (200, {"status": "stored"})
    (path,) = (tmp_path / "logs" / "penguins" / "2026-12-01").glob("events-07-*.jsonl")
    stored = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(stored) == 4
    first = stored[0]
    assert first == {
        "specversion": "1.0",
        "id": "5f0c1e1a-8d7e-4f53-9a54-0c2b1f6d7a11",
        "type": "org.kubeflow.serving.inference.request",
        "source": "penguins-predictor-00003-deployment-7d9c6b5f4-x2k4p",
        "time": "2026-12-01T07:15:02.123456789Z",
        "datacontenttype": "application/json",
        "inferenceservicename": "penguins",
        "namespace": "kubetfx-serving",
        "component": "predictor",
        "endpoint": "default",
        "metadata": "{}",
        "annotations": '{"kubetfx.dev/model-version":"20261201070000"}',
        "data": json.loads(recorded[0]["body"]),
    }
    # Percent-encoded header values (the CloudEvents HTTP binding) are decoded.
    assert stored[2]["annotations"] == first["annotations"] and stored[2]["metadata"] == "{}"

    window = windows.Window(
        datetime.datetime(2026, 12, 1, 7, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 1, 8, tzinfo=datetime.UTC),
    )
    log = with_source(champion_cfg_stub(tmp_path), source="kserve").serving.request_log
    records = sources.read(log, "penguins", window.start, window.end)
    assert [r["request_id"] for r in records] == [e["id"] for e in stored[::2]]
    assert records[0]["ts"] == "2026-12-01T07:15:02.123456+00:00"
    assert {r["version"] for r in records} == {20261201070000}
    # TF Serving's one-element lists and {"b64": ...} strings become plain values.
    assert records[0]["features"][1] == {
        "island": "Dream",
        "bill_length_mm": 46.5,
        "bill_depth_mm": 17.9,
        "flipper_length_mm": 192,
        "body_mass_g": 3500,
        "sex": "female",
        "year": 2007,
    }
    frame = windows.load(log, "penguins", window)
    assert len(frame) == 3
    assert list(frame["prediction.class"]) == ["Gentoo", "Chinstrap", "Adelie"]
    assert frame["prediction.probability_2"].iloc[0] == pytest.approx(0.9657)
    assert frame["sex"].isna().iloc[2]  # columnar `inputs` with a null


def champion_cfg_stub(root):
    from kubetfx.components.config import PipelineConfig

    return PipelineConfig.model_validate({"serving": {"request_log": {"dir": str(root / "logs")}}})


def test_the_sink_refuses_what_is_not_a_logger_event(tmp_path):
    with event_sink(tmp_path / "logs") as port:
        status, body = post(port, {"Content-Type": "application/json"}, b"{}")
        assert status == 400 and "ce-id" in body["error"]
        headers = {
            "Content-Type": "application/json",
            "Ce-Specversion": "1.0",
            "Ce-Id": "1",
            "Ce-Type": "org.kubeflow.serving.inference.request",
            "Ce-Source": "pod",
        }
        status, body = post(port, headers, b"{}")
        assert status == 400 and "ce-inferenceservicename" in body["error"]
        headers["Ce-Inferenceservicename"] = "../../etc"
        assert post(port, headers, b"{}")[0] == 400
        headers["Ce-Inferenceservicename"] = "churn"
        status, body = post(port, headers, b"{not json")
        assert status == 400 and "not the JSON" in body["error"]
    assert not list((tmp_path / "logs").rglob("*.jsonl"))


def test_a_mean_shift_in_kserve_traffic_is_flagged(tmp_path):
    cfg, version = champion_setup(tmp_path)
    cfg = with_source(cfg, source="kserve")
    with event_sink(cfg.serving.request_log.dir) as port:
        send_hour(port, 0, 1500, seed=7, version=version)
        send_hour(port, 1, 1500, seed=8, version=version, drifts=["mean_shift:income=1.5"])
    result, _, _ = core.run(cfg=cfg, window=hour_window(1))
    assert (result.window["rows"], result.previous["rows"]) == (1500, 1500)
    assert result.verdict == "drift"
    assert flagged_inputs(result) == {"income"}
    # The version came with the events, so the champion's answers are compared too.
    assert any(s["feature"].startswith("prediction.") for s in result.shifts)


def test_a_malformed_event_line_names_the_file_and_line(tmp_path):
    day = tmp_path / "logs" / "churn" / "2026-11-02"
    day.mkdir(parents=True)
    good = {
        "specversion": "1.0",
        "id": "a",
        "source": "pod",
        "type": "org.kubeflow.serving.inference.request",
        "time": "2026-11-02T00:10:00Z",
        "inferenceservicename": "churn",
        "data": {"instances": [{"age": 30}]},
    }
    (day / "events-00-host-1.jsonl").write_text(json.dumps(good) + "\n{truncated\n")
    log = with_source(champion_cfg_stub(tmp_path), source="kserve").serving.request_log
    with pytest.raises(
        DataError,
        match=r"events-00-host-1.jsonl:2: not a KServe logger CloudEvent.*remove or repair",
    ):
        windows.load(log, "churn", hour_window(0))
    # A request body that is not a TF Serving V1 predict is named with its line and event.
    response = {
        **good,
        "type": "org.kubeflow.serving.inference.response",
        "data": {"predictions": [1]},
    }
    bad = {**good, "data": {"rows": []}}
    (day / "events-00-host-1.jsonl").write_text(
        json.dumps(bad) + "\n" + json.dumps(response) + "\n"
    )
    with pytest.raises(
        DataError, match=r"jsonl:1 \(event a\): not a TF Serving V1 predict request"
    ):
        windows.load(log, "churn", hour_window(0))


# --- Vertex AI BigQuery ---------------------------------------------------------------------


class FakeBigQuery:
    """client.query(sql, job_config=...).result(), as google.cloud.bigquery.Client answers it:
    rows whose logging_time is in the [start, end) the parameters give."""

    def __init__(self, rows: list[dict]):
        self.rows, self.queries = rows, []

    def query(self, sql, job_config=None):
        params = {p.name: p for p in job_config.query_parameters}
        self.queries.append((sql, params))
        start, end = params["start"].value, params["end"].value
        selected = [r for r in self.rows if start <= r["logging_time"] < end]
        return type("Job", (), {"result": lambda _self: iter(selected)})()


def vertex_rows(records: list[dict]) -> list[dict]:
    """Request log records as Vertex writes them: one JSON instance/prediction per element."""
    return [
        {
            "endpoint": "projects/1/locations/europe-west4/endpoints/2",
            "deployed_model_id": "8812345678901234567",
            "logging_time": datetime.datetime.fromisoformat(r["ts"]),
            "request_id": decimal.Decimal(1000 + i),
            "request_payload": [json.dumps(f) for f in r["features"]],
            "response_payload": [json.dumps(p) for p in r["predictions"]],
        }
        for i, r in enumerate(records)
    ]


def test_vertex_rows_are_queried_by_logging_time_with_parameters(tmp_path):
    fixture = json.loads((FIXTURES / "vertex_bigquery_penguins.json").read_text())["rows"]
    rows = [
        {
            **r,
            "logging_time": datetime.datetime.fromisoformat(r["logging_time"]),
            "request_id": decimal.Decimal(r["request_id"]),
        }
        for r in fixture
    ]
    client = FakeBigQuery(rows)
    log = with_source(
        champion_cfg_stub(tmp_path),
        source="vertex_bigquery",
        bigquery_table="my-project.serving_logs.penguins",
    ).serving.request_log
    start = datetime.datetime(2026, 12, 1, 7, tzinfo=datetime.UTC)
    window = windows.Window(start, start + HOUR)
    frame = windows.load(log, "penguins", window, client=client)
    ((sql, params),) = client.queries
    assert sql == (
        "SELECT logging_time, request_id, deployed_model_id, request_payload, response_payload\n"
        "FROM `my-project.serving_logs.penguins`\n"
        "WHERE logging_time >= @start AND logging_time < @end\n"
        "ORDER BY logging_time, request_id"
    )
    assert {n: (p.type_, p.value) for n, p in params.items()} == {
        "start": ("TIMESTAMP", window.start),
        "end": ("TIMESTAMP", window.end),
    }
    assert list(frame["request_id"]) == ["2915704582917461034"] * 2 + ["2915704582917461035"]
    assert list(frame["prediction.class"]) == ["Gentoo", "Chinstrap", "Adelie"]
    assert list(frame["island"]) == ["Biscoe", "Dream", "Torgersen"]
    assert frame["ts"].iloc[0] == "2026-12-01T07:15:02.123456+00:00"
    assert frame["version"].isna().all()  # a deployed model id is not a registry version


def test_a_mean_shift_in_vertex_traffic_is_flagged(tmp_path, monkeypatch):
    cfg, version = champion_setup(tmp_path)
    cfg = with_source(cfg, source="vertex_bigquery", bigquery_table="my-project.logs.churn")
    records = []
    for hour, seed, drifts in ((0, 7, []), (1, 8, ["mean_shift:income=1.5"])):
        frame = simulate.rows(1500, seed, drifts)
        records += simulate.records(frame, T0 + hour * HOUR, 3600, "churn", version, f"h{hour}")
    client = FakeBigQuery(vertex_rows(records))
    monkeypatch.setattr(sources, "bigquery_client", lambda project: client)
    result, _, _ = core.run(cfg=cfg, window=hour_window(1))
    assert [q[1]["start"].value for q in client.queries] == [T0 + HOUR, T0]  # window, previous
    assert (result.window["rows"], result.previous["rows"]) == (1500, 1500)
    assert result.verdict == "drift"
    assert flagged_inputs(result) == {"income"}
    # The rows carry no registry version; their predictions are still compared.
    assert ("prediction.probability_1", "drift") in {
        (s["feature"], s["kind"]) for s in result.shifts
    }


def test_a_table_without_the_vertex_columns_is_a_data_error_naming_the_fix(tmp_path):
    log = with_source(
        champion_cfg_stub(tmp_path), source="vertex_bigquery", bigquery_table="my-project.logs.t"
    ).serving.request_log
    row = {"logging_time": T0, "request_id": decimal.Decimal(1), "request_payload": ["{}"]}
    with pytest.raises(
        DataError,
        match=r"logs.t, row 1.*no column deployed_model_id, response_payload.*bigquery_table",
    ):
        windows.load(log, "churn", hour_window(0), client=FakeBigQuery([row]))
    row = {**row, "deployed_model_id": "1", "response_payload": [], "request_payload": ["[1, 2]"]}
    with pytest.raises(DataError, match=r"request_id 1\): an instance must be an object"):
        windows.load(log, "churn", hour_window(0), client=FakeBigQuery([row]))


def test_a_bigquery_error_names_the_table_and_the_fix(tmp_path):
    from google.api_core.exceptions import BadRequest

    class Refusing:
        def query(self, sql, job_config=None):
            raise BadRequest("Unrecognized name: request_payload at [1:33]")

    log = with_source(
        champion_cfg_stub(tmp_path), source="vertex_bigquery", bigquery_table="my-project.logs.t"
    ).serving.request_log
    with pytest.raises(DataError, match="my-project.logs.t: Unrecognized name.*request-response"):
        windows.load(log, "churn", hour_window(0), client=Refusing())
    from kubetfx.components.config_loader import validate_config

    with pytest.raises(ConfigError, match="serving.request_log.bigquery_table"):
        validate_config({"serving": {"request_log": {"source": "vertex_bigquery"}}}, "test")
