"""Every endpoint of the model server, over HTTP, against a real server process."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from kubetfx.components.infra_validate.core import json_columns
from kubetfx.serving import contract
from tests.serving.conftest import MODEL, make_registry, read_logs, running_server

PREDICT = f"/v1/models/{MODEL}:predict"


@pytest.fixture(scope="module")
def api(tmp_path_factory, server_python, penguins):
    _, paths = penguins
    root = tmp_path_factory.mktemp("api")
    versions = make_registry(root / "registry", paths["model"], champion_and_challenger=True)
    log_dir = root / "logs"
    args = ["--challenger-percent", "10", "--log-rate", "1"]
    with running_server(server_python, root / "registry", log_dir, *args) as (server, client):
        server.wait_available(MODEL, 60, versions["challenger"])
        yield {"client": client, "versions": versions, "logs": log_dir, "model": paths["model"]}


@pytest.fixture(scope="module")
def expected(penguins, eval_examples):
    import tensorflow as tf

    _, paths = penguins
    fn = tf.saved_model.load(paths["model"]).signatures["serving_tf_example"]
    out = fn(examples=tf.constant(eval_examples))
    return {
        "probabilities": out["probabilities"].numpy(),
        "classes": [c.decode() for c in out["classes"].numpy()],
    }


def _instances(api, eval_examples) -> list[dict]:
    columns = json_columns(eval_examples, contract.read(api["model"]).features)
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def test_models_and_version_status(api):
    client, versions = api["client"], api["versions"]
    assert client.request("GET", "/v1/models")[2] == {"models": [MODEL]}
    status, _, body = client.request("GET", f"/v1/models/{MODEL}")
    assert status == 200 and body["ready"] is True
    rows = {r["version"]: r for r in body["model_version_status"]}
    assert set(rows) == {str(v) for v in versions.values()}
    assert all(
        r["state"] == "AVAILABLE" and r["status"]["error_code"] == "OK" for r in rows.values()
    )
    one = client.request("GET", f"/v1/models/{MODEL}/versions/{versions['champion']}")[2]
    assert [r["version"] for r in one["model_version_status"]] == [str(versions["champion"])]
    status, _, body = client.request("GET", f"/v1/models/{MODEL}/versions/1")
    assert status == 404 and "Specific(penguins, 1)" in body["error"]
    assert client.request("GET", "/v1/models/nope")[0] == 404


def test_metadata_has_both_signatures_and_the_contract(api):
    client, versions = api["client"], api["versions"]
    body = client.request("GET", f"/v1/models/{MODEL}/metadata")[2]
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_tf_example"}
    inputs = signatures["serving_default"]["inputs"]
    assert inputs["island"]["dtype"] == "DT_STRING" and inputs["year"]["dtype"] == "DT_DOUBLE"
    assert set(signatures["serving_default"]["outputs"]) == {
        "probabilities",
        "class_ids",
        "classes",
    }
    assert "species" not in inputs  # the label is not in the SERVING environment
    v2 = client.request("GET", f"/v2/models/{MODEL}")[2]  # the contract: required, ignored
    assert {i["name"] for i in v2["inputs"]} == set(inputs)
    assert v2["parameters"] == {"ignored_inputs": "species"}
    for path, version in [
        (f"versions/{versions['challenger']}", versions["challenger"]),
        ("labels/challenger", versions["challenger"]),
        ("labels/champion", versions["champion"]),
    ]:
        meta = client.request("GET", f"/v1/models/{MODEL}/{path}/metadata")[2]
        assert meta["model_spec"]["version"] == str(version)


def test_row_columnar_and_b64_answers_equal_the_in_process_model(api, eval_examples, expected):
    client, champion = api["client"], api["versions"]["champion"]
    url = f"/v1/models/{MODEL}/versions/{champion}:predict"
    instances = _instances(api, eval_examples)
    b64 = [{"b64": base64.b64encode(e).decode()} for e in eval_examples]
    columns = {k: [row[k] for row in instances] for k in instances[0]}
    bodies = {
        "rows": {"instances": instances},
        "columns": {"inputs": columns},
        "b64 rows": {"signature_name": "serving_tf_example", "instances": b64},
        "b64 columns": {"signature_name": "serving_tf_example", "inputs": {"examples": b64}},
    }
    for what, body in bodies.items():
        status, headers, answer = client.request("POST", url, body)
        assert status == 200, (what, answer)
        assert headers["x-model-version"] == str(champion)
        if "predictions" in answer:
            probabilities = [p["probabilities"] for p in answer["predictions"]]
            classes = [p["classes"] for p in answer["predictions"]]
        else:
            probabilities, classes = (
                answer["outputs"]["probabilities"],
                answer["outputs"]["classes"],
            )
        np.testing.assert_allclose(probabilities, expected["probabilities"], atol=1e-6)
        assert classes == expected["classes"], what


def test_labels_and_versions_pick_the_version(api, eval_examples):
    client, versions = api["client"], api["versions"]
    body = {"instances": _instances(api, eval_examples[:1])}
    for path, label in [
        (f"/v1/models/{MODEL}/labels/champion:predict", "champion"),
        (f"/v1/models/{MODEL}/labels/challenger:predict", "challenger"),
        (f"/v1/models/{MODEL}/versions/{versions['challenger']}:predict", "challenger"),
    ]:
        status, headers, _ = client.request("POST", path, body)
        assert status == 200
        assert headers["x-model-label"] == label
        assert headers["x-model-version"] == str(versions[label])


def test_open_inference_protocol(api, eval_examples, expected):
    client, versions = api["client"], api["versions"]
    assert client.request("GET", "/v2/health/live")[2] == {"live": True}
    assert client.request("GET", "/v2/health/ready")[0] == 200
    assert client.request("GET", f"/v2/models/{MODEL}/ready")[2]["ready"] is True
    challenger = versions["challenger"]
    assert client.request("GET", f"/v2/models/{MODEL}/versions/{challenger}/ready")[0] == 200
    assert client.request("GET", f"/v2/models/{MODEL}/versions/1/ready")[0] == 404
    meta = client.request("GET", f"/v2/models/{MODEL}")[2]
    kinds = {i["name"]: i["datatype"] for i in meta["inputs"]}
    columns = json_columns(eval_examples, contract.read(api["model"]).features)
    # JSON has no NaN: rows with a missing number are left out; a missing string is ''.
    keep = np.all([[v is not None for v in columns[n]] for n in columns if kinds[n] != "BYTES"], 0)
    inputs = []
    for name, values in columns.items():
        data = ["" if v is None else v for v, k in zip(values, keep, strict=True) if k]
        inputs.append({"name": name, "datatype": kinds[name], "shape": [len(data)], "data": data})
    url = f"/v2/models/{MODEL}/versions/{challenger}/infer"
    status, headers, body = client.request("POST", url, {"id": "r1", "inputs": inputs})
    assert status == 200, body
    assert body["model_version"] == str(challenger) and body["id"]
    outputs = {o["name"]: o for o in body["outputs"]}
    n = int(keep.sum())
    assert outputs["probabilities"]["shape"] == [n, 3]
    got = np.array(outputs["probabilities"]["data"]).reshape(n, 3)
    np.testing.assert_allclose(got, expected["probabilities"][keep], atol=1e-6)
    assert outputs["classes"]["datatype"] == "BYTES"


ROW = {
    "bill_depth_mm": 18.0,
    "bill_length_mm": 40.0,
    "body_mass_g": 3800,
    "flipper_length_mm": 190,
    "island": "Dream",
    "sex": None,
    "year": 2008,
}
NO_YEAR = {k: v for k, v in ROW.items() if k != "year"}
LONG_ROW = {**ROW, "island": "Biscoe" * 100}


@pytest.mark.parametrize(
    "method, path, body, status, words",
    [
        ("POST", PREDICT, b"{not json", 400, "JSON Parse error"),
        ("POST", PREDICT, {"instances": [{**ROW, "island": 3}]}, 400, "'island' must be a string"),
        (
            "POST",
            PREDICT,
            {"instances": [ROW, NO_YEAR]},
            400,
            "instances[1]: missing feature 'year'",
        ),
        ("POST", PREDICT, {"instances": [{**ROW, "wings": 2}]}, 400, "unknown feature 'wings'"),
        ("POST", "/v1/models/nope:predict", {"instances": []}, 404, "nope"),
        ("POST", f"/v1/models/{MODEL}/versions/7:predict", {"instances": []}, 404, "7"),
        ("POST", f"/v1/models/{MODEL}/versions/x:predict", {"instances": []}, 400, "integer"),
        ("POST", f"/v1/models/{MODEL}/labels/beta:predict", {"instances": []}, 404, "beta"),
        ("POST", PREDICT, {"instances": [LONG_ROW] * 3500}, 413, "max_body_bytes"),
        ("POST", f"/v2/models/{MODEL}/infer", {"inputs": [{"name": "year"}]}, 400, "Open Inf"),
        ("GET", "/v1/nothing/here", None, 404, "Not Found"),
    ],
)
def test_bad_input_gets_the_right_status_and_the_server_keeps_serving(
    api, eval_examples, method, path, body, status, words
):
    client = api["client"]
    got, _, answer = client.request(method, path, body)
    assert got == status, answer
    assert words in answer["error"]
    good = {"instances": _instances(api, eval_examples[:2])}
    assert client.request("POST", PREDICT, good)[0] == 200


def test_canary_split_and_sticky_keys(api, eval_examples):
    client, versions = api["client"], api["versions"]
    body = {"instances": _instances(api, eval_examples[:1])}
    served = [client.request("POST", PREDICT, body)[1]["x-model-version"] for _ in range(2000)]
    share = served.count(str(versions["challenger"])) / len(served)
    assert 0.07 <= share <= 0.13, share
    assert set(served) == {str(versions["champion"]), str(versions["challenger"])}
    for key in [f"customer-{i}" for i in range(40)]:
        seen = {
            client.request("POST", PREDICT, body, {"X-Routing-Key": key})[1]["x-model-version"]
            for _ in range(3)
        }
        assert len(seen) == 1, key


def test_request_log_and_metrics(api, eval_examples):
    client = api["client"]
    body = {"instances": _instances(api, eval_examples[:2])}
    status, headers, _ = client.request("POST", PREDICT, body, {"X-Request-Id": "req-log-1"})
    assert status == 200
    deadline = time.monotonic() + 10
    while not (records := [r for r in read_logs(api["logs"]) if r["request_id"] == "req-log-1"]):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.3)
    record = records[0]
    assert record["version"] == int(headers["x-model-version"]) and record["role"] == "served"
    assert record["features"] == body["instances"]
    assert len(record["predictions"]) == 2 and record["ts"].endswith("+00:00")
    text = client.request("GET", "/metrics")[2]
    # Counted under the version and label the answer reported (a reload may move labels).
    version, label = headers["x-model-version"], headers["x-model-label"]
    assert f'kubetfx_requests_total{{label="{label}",model="{MODEL}",version="{version}"}}' in text
    assert f'kubetfx_request_latency_seconds_bucket{{le="0.005",model="{MODEL}"' in text
    assert f'kubetfx_request_errors_total{{code="413",model="{MODEL}"}} 1.0' in text
    assert f'kubetfx_model_versions_available{{model="{MODEL}"}} 2.0' in text
