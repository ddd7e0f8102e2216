"""The protocol surface (issue 17, item 5, REST): TF Serving's classify, regress, status by
label, NaN/Infinity tokens, {"b64"} string features and metadata that tensorflow-serving-api
parses; KServe's own REST client (v1 and v2); bounded request ids and metric labels."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kubetfx.components.registry import ModelRegistry
from tests.serving.conftest import MODEL, make_registry, running_server

REGRESSOR = "regressor"
ROW = {
    "bill_depth_mm": 18.0,
    "bill_length_mm": 40.0,
    "body_mass_g": 3800,
    "flipper_length_mm": 190,
    "island": "Dream",
    "sex": "male",
    "year": 2008,
}


def make_regressor(path: str) -> str:
    """A two-feature regression SavedModel answering `predictions` [batch], as export.py's
    regressors do (without a serving contract: the server reads it off the signature)."""
    import tensorflow as tf

    class Regressor(tf.Module):
        @tf.function(
            input_signature=[
                {
                    "x": tf.TensorSpec([None], tf.float32, name="x"),
                    "n": tf.TensorSpec([None], tf.float64, name="n"),
                }
            ]
        )
        def serve(self, features):
            return {"predictions": 2.0 * features["x"] + tf.cast(features["n"], tf.float32)}

    model = Regressor()
    tf.saved_model.save(
        model, path, signatures={"serving_default": model.serve.get_concrete_function()}
    )
    return path


@pytest.fixture(scope="module")
def api(tmp_path_factory, server_python, penguins):
    _, paths = penguins
    root = tmp_path_factory.mktemp("protocol")
    versions = make_registry(root / "registry", paths["model"], champion_and_challenger=True)
    regressor = ModelRegistry(str(root / "registry"), REGRESSOR).push(
        make_regressor(str(root / "regressor")), {"run": "tiny"}
    )
    with running_server(server_python, root / "registry", root / "logs", "--log-rate", "1") as (
        server,
        client,
    ):
        server.wait_available(MODEL, 60, versions["challenger"])
        server.wait_available(REGRESSOR, 60, regressor)
        yield {"server": server, "client": client, "versions": versions, "regressor": regressor}


def _client_script(python: str, script: str, *args: str) -> dict:
    """Run one of the real-client scripts beside this file with `python`: its last line of
    output, parsed."""
    done = subprocess.run(
        [python, "-P", os.path.join(os.path.dirname(__file__), script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _predict(client, rows, path=f"/v1/models/{MODEL}:predict"):
    status, headers, body = client.request("POST", path, {"instances": rows})
    assert status == 200, body
    return body["predictions"], headers


def test_classify_pairs_every_class_with_its_score(api):
    client = api["client"]
    rows = [ROW, {**ROW, "island": "Biscoe", "body_mass_g": 5400, "flipper_length_mm": 225}]
    predictions, _ = _predict(client, rows)
    shared = {"year": 2008, "sex": "male"}
    examples = [{k: v for k, v in r.items() if k not in shared} for r in rows]
    examples[0]["island"] = ["Dream"]  # TF Serving's examples may wrap a value in a list
    for path in ["", f"/versions/{api['versions']['champion']}", "/labels/champion"]:
        status, headers, body = client.request(
            "POST",
            f"/v1/models/{MODEL}{path}:classify",
            {"signature_name": "serving_default", "context": shared, "examples": examples},
        )
        assert status == 200, body
        assert headers["x-model-version"] == str(api["versions"]["champion"])
        assert len(body["result"]) == 2
        for pairs, prediction in zip(body["result"], predictions, strict=True):
            assert [label for label, _ in pairs] == ["Adelie", "Chinstrap", "Gentoo"]
            scores = [score for _, score in pairs]
            np.testing.assert_allclose(scores, prediction["probabilities"], atol=1e-6)
            assert max(pairs, key=lambda p: p[1])[0] == prediction["classes"]


def test_regress_answers_the_predictions_and_the_wrong_task_is_a_400_naming_the_fix(api):
    client = api["client"]
    status, _, body = client.request(
        "POST",
        f"/v1/models/{REGRESSOR}:regress",
        {"context": {"n": 1}, "examples": [{"x": 1.5}, {"x": [-2.0]}]},
    )
    assert (status, body) == (200, {"result": [4.0, -3.0]})
    status, _, body = client.request(
        "POST", f"/v1/models/{REGRESSOR}:predict", {"instances": [{"x": 1.5, "n": 1}]}
    )
    assert body == {"predictions": [4.0]}
    status, _, body = client.request(
        "POST", f"/v1/models/{REGRESSOR}:classify", {"examples": [{"x": 1.0, "n": 0}]}
    )
    assert status == 400 and ":regress" in body["error"] and "regression" in body["error"]
    status, _, body = client.request("POST", f"/v1/models/{MODEL}:regress", {"examples": [ROW]})
    assert status == 400 and ":classify" in body["error"] and "classification" in body["error"]


def test_status_by_label(api):
    client, versions = api["client"], api["versions"]
    for label in ("champion", "challenger"):
        status, _, body = client.request("GET", f"/v1/models/{MODEL}/labels/{label}")
        assert status == 200, body
        assert [r["version"] for r in body["model_version_status"]] == [str(versions[label])]
        assert body["model_version_status"][0]["state"] == "AVAILABLE"
    status, _, body = client.request("GET", f"/v1/models/{MODEL}/labels/beta")
    assert status == 404 and "beta" in body["error"]


def test_nan_and_infinity_tokens(api):
    client = api["client"]
    missing, _ = _predict(client, [{**ROW, "bill_depth_mm": None}])
    text = json.dumps({"instances": [{**ROW, "bill_depth_mm": 0.5}]}).replace("0.5", "NaN")
    status, _, body = client.request("POST", f"/v1/models/{MODEL}:predict", text.encode())
    assert status == 200, body
    assert body["predictions"] == missing  # NaN is a missing number, as null is
    text = json.dumps({"instances": [{**ROW, "bill_depth_mm": 0.5}]})
    for token in ("Infinity", "-Infinity"):
        status, _, body = client.request(
            "POST", f"/v1/models/{MODEL}:predict", text.replace("0.5", token).encode()
        )
        assert status == 200, body
    status, _, body = client.request(
        "POST", f"/v1/models/{MODEL}:predict", text.replace("2008", "Infinity").encode()
    )
    assert status == 400 and "'year' must be an integer" in body["error"]


def test_b64_values_for_string_features(api):
    client = api["client"]
    plain, _ = _predict(client, [ROW])

    def b64(text: bytes) -> dict:
        return {"b64": base64.b64encode(text).decode()}

    encoded, _ = _predict(client, [{**ROW, "island": b64(b"Dream"), "sex": b64(b"male")}])
    assert encoded == plain
    status, _, body = client.request(
        "POST", f"/v1/models/{MODEL}:classify", {"examples": [{**ROW, "island": b64(b"Dream")}]}
    )
    assert status == 200
    for bad, words in [(b64(b"\xff\xfe"), "UTF-8"), ({"b64": "not base64!"}, "base64"),
                       ({"b64": "RHJlYW0=", "x": 1}, "'b64'")]:  # fmt: skip
        status, _, body = client.request(
            "POST", f"/v1/models/{MODEL}:predict", {"instances": [{**ROW, "island": bad}]}
        )
        assert status == 400 and "'island'" in body["error"] and words in body["error"], body


def test_metadata_parses_into_tensorflow_serving_apis_response(api):
    from google.protobuf import json_format
    from tensorflow_serving.apis import get_model_metadata_pb2

    client, versions = api["client"], api["versions"]
    for path in ["", f"/versions/{versions['challenger']}", "/labels/champion"]:
        status, _, body = client.request("GET", f"/v1/models/{MODEL}{path}/metadata")
        assert status == 200
        response = json_format.Parse(
            json.dumps(body), get_model_metadata_pb2.GetModelMetadataResponse()
        )
        assert response.model_spec.name == MODEL
        signatures = get_model_metadata_pb2.SignatureDefMap()
        assert response.metadata["signature_def"].Unpack(signatures)
        default = signatures.signature_def["serving_default"]
        assert set(default.outputs) == {"probabilities", "class_ids", "classes"}
        assert default.inputs["island"].dtype == 7  # DT_STRING
        assert set(signatures.signature_def) == {"serving_default", "serving_tf_example"}
    # The serving contract (required inputs, ignored label) is in the V2 metadata.
    meta = client.request("GET", f"/v2/models/{MODEL}")[2]
    assert {i["name"]: i["parameters"]["required"] for i in meta["inputs"]}.keys() == set(ROW)
    assert meta["parameters"] == {"ignored_inputs": "species"}


def test_kserve_rest_client_v1_and_v2(api, server_python):
    out = _client_script(server_python, "kserve_clients.py", api["server"].url, MODEL)
    assert out["v1_live"] is True and out["v1_model_ready"] is True
    assert out["v2_live"] is True and out["v2_ready"] is True and out["v2_model_ready"] is True
    plain, _ = _predict(api["client"], [{**ROW}] * 2)
    assert out["v1_classes"] == [plain[0]["classes"]]
    for form in ("v2_json", "v2_binary"):
        assert out[form]["id"] == "kserve-client"
        assert out[form]["classes"] == [p["classes"] for p in plain]
        np.testing.assert_allclose(
            out[form]["probabilities"], [p["probabilities"] for p in plain], atol=1e-6
        )


def test_request_ids_are_bounded_and_metric_labels_only_name_served_models(api):
    client = api["client"]
    body = {"instances": [ROW]}
    path = f"/v1/models/{MODEL}:predict"
    assert (
        client.request("POST", path, body, {"X-Request-Id": "req-42"})[1]["x-request-id"]
        == "req-42"
    )
    for sent in ["r" * 129, "has space", "tab\there", "caf\u00e9", "x" * 8000]:
        status, headers, _ = client.request("POST", path, body, {"X-Request-Id": sent})
        assert status == 200
        echoed = headers["x-request-id"]
        assert echoed != sent and len(echoed) == 32 and echoed.isalnum()
    # A control character is not valid HTTP: the HTTP server (uvicorn) refuses it before the
    # application sees it, with a 400 of its own, and echoes nothing.
    status, headers, _ = client.request("POST", path, body, {"X-Request-Id": "bell\x07"})
    assert status == 400 and "x-request-id" not in headers
    # 100 kB of headers: refused before any work, and the id is not echoed either.
    status, headers, answer = client.request("POST", path, body, {"X-Request-Id": "i" * 100_000})
    assert status == 431 and "max_header_bytes" in answer["error"]
    assert len(headers.get("x-request-id", "")) <= 128
    for name in ["nope", "model-1", "model-2", "%ff%fe", "caf%C3%A9", "x" * 200]:
        assert client.request("POST", f"/v1/models/{name}:predict", body)[0] == 404
    text = client.request("GET", "/metrics")[2]
    series = [line for line in text.splitlines() if line.startswith("kubetfx_")]
    models = {line.split('model="')[1].split('"')[0] for line in series if 'model="' in line}
    assert models <= {MODEL, REGRESSOR, "unknown"}, models
    assert 'kubetfx_request_errors_total{code="404",model="unknown"}' in text


def test_v2_answers_the_outputs_asked_for_under_the_requests_id(api):
    client = api["client"]
    types = {str: "BYTES", int: "INT64", float: "FP32"}
    inputs = [
        {"name": k, "datatype": types[type(v)], "shape": [1, 1], "data": [[v]]}
        for k, v in ROW.items()
    ]
    body = {"id": "ask-1", "inputs": inputs, "outputs": [{"name": "classes"}]}
    status, headers, answer = client.request("POST", f"/v2/models/{MODEL}/infer", body)
    assert status == 200, answer
    assert answer["id"] == "ask-1" and answer["model_name"] == MODEL
    assert [o["name"] for o in answer["outputs"]] == ["classes"]
    assert answer["outputs"][0]["data"] == [_predict(client, [ROW])[0][0]["classes"]]
    assert headers["x-model-version"] == answer["model_version"]


# --- gRPC (item 5): TF Serving's stubs from tensorflow-serving-api, KServe's gRPC client ----


@pytest.fixture(scope="module")
def grpc_stubs(api):
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(api["server"].grpc_target)
    grpc.channel_ready_future(channel).result(timeout=30)
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def _predict_request(rows: list[dict], **spec):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.pop("name", MODEL)
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    for name in rows[0]:
        values = [row[name] for row in rows]
        dtype = tf.string if isinstance(values[0], str) else tf.float64
        if isinstance(values[0], float):
            dtype = tf.float32
        request.inputs[name].CopyFrom(tf.make_tensor_proto(values, dtype=dtype))
    return request


def test_grpc_predict_answers_what_rest_answers(api, grpc_stubs):
    import tensorflow as tf

    predict, _ = grpc_stubs
    rows = [ROW, {**ROW, "island": "Biscoe", "body_mass_g": 5400, "flipper_length_mm": 225}]
    response, call = predict.Predict.with_call(_predict_request(rows), timeout=30)
    rest, _ = _predict(api["client"], rows)
    classes = [c.decode() for c in tf.make_ndarray(response.outputs["classes"]).tolist()]
    assert classes == [p["classes"] for p in rest]
    probabilities = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_allclose(probabilities, [p["probabilities"] for p in rest], rtol=1e-6)
    assert response.model_spec.version.value in api["versions"].values()
    trailers = dict(call.trailing_metadata())
    assert trailers["x-model-label"] in ("champion", "challenger")


def test_grpc_predict_tf_examples_version_and_label(api, grpc_stubs, eval_examples):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    predict, _ = grpc_stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = "serving_tf_example"
    request.model_spec.version_label = "challenger"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(eval_examples[:3], dtype=tf.string))
    request.output_filter.append("classes")
    response = predict.Predict(request, timeout=30)
    assert list(response.outputs) == ["classes"]
    assert response.model_spec.version.value == api["versions"]["challenger"]
    b64 = [{"b64": base64.b64encode(e).decode()} for e in eval_examples[:3]]
    status, _, body = api["client"].request(
        "POST",
        f"/v1/models/{MODEL}/labels/challenger:predict",
        {"signature_name": "serving_tf_example", "instances": b64},
    )
    assert status == 200
    got = [c.decode() for c in tf.make_ndarray(response.outputs["classes"]).tolist()]
    assert got == [p["classes"] for p in body["predictions"]]


def test_grpc_classify_and_regress(api, grpc_stubs, eval_examples):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    predict, _ = grpc_stubs
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    for raw in eval_examples[:2]:
        request.input.example_list.examples.add().CopyFrom(tf.train.Example.FromString(raw))
    response = predict.Classify(request, timeout=30)
    assert len(response.result.classifications) == 2
    labels = [c.label for c in response.result.classifications[0].classes]
    assert sorted(labels) == ["Adelie", "Chinstrap", "Gentoo"]
    assert sum(c.score for c in response.result.classifications[0].classes) == pytest.approx(1.0)
    wrong = regression_pb2.RegressionRequest()
    wrong.CopyFrom(regression_pb2.RegressionRequest(model_spec=request.model_spec))
    wrong.input.CopyFrom(request.input)
    with pytest.raises(grpc.RpcError) as error:
        predict.Regress(wrong, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "use :classify or :predict" in error.value.details()


def test_grpc_metadata_and_status(api, grpc_stubs):
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_pb2,
    )

    predict, status = grpc_stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name=MODEL), metadata_field=["signature_def"]
    )
    response = predict.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def["serving_default"].inputs) == set(ROW)
    champion = api["versions"]["champion"]
    spec = model_pb2.ModelSpec(name=MODEL)
    spec.version.value = champion
    answer = status.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
    (only,) = answer.model_version_status
    assert only.version == champion
    assert get_model_status_pb2.ModelVersionStatus.State.Name(only.state) == "AVAILABLE"


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"name": "nope"}, "NOT_FOUND", "Could not find any versions of model"),
        ({"version_label": "nobody"}, "NOT_FOUND", "nobody"),
        ({"drop": "island"}, "INVALID_ARGUMENT", "missing feature 'island'"),
        ({"text": b"M\xfcnchen"}, "INVALID_ARGUMENT", "not UTF-8"),
        ({"signature_name": "nope"}, "INVALID_ARGUMENT", "signature_name 'nope' not found"),
    ],
)
def test_grpc_client_mistakes_are_status_codes_that_name_them(grpc_stubs, change, code, words):
    import grpc
    import tensorflow as tf

    predict, _ = grpc_stubs
    row = dict(ROW)
    if "drop" in change:
        row.pop(change["drop"])
    request = _predict_request([row], name=change.get("name", MODEL))
    if "version_label" in change:
        request.model_spec.version_label = change["version_label"]
    if "signature_name" in change:
        request.model_spec.signature_name = change["signature_name"]
    if "text" in change:
        request.inputs["island"].CopyFrom(tf.make_tensor_proto([change["text"]], dtype=tf.string))
    with pytest.raises(grpc.RpcError) as error:
        predict.Predict(request, timeout=30)
    assert error.value.code().name == code
    assert words in error.value.details()


def test_kserve_grpc_client_v2(api, server_python):
    server = api["server"]
    out = _client_script(server_python, "kserve_clients.py", server.url, MODEL, server.grpc_target)
    assert out["grpc_live"] is True and out["grpc_ready"] is True
    assert out["grpc_model_ready"] is True
    plain, _ = _predict(api["client"], [{**ROW}] * 2)
    assert out["grpc_infer"]["classes"] == [p["classes"] for p in plain]
    assert out["grpc_infer"]["id"] == "kserve-client"


def test_triton_clients_http_and_grpc(api):
    """NVIDIA Triton's own clients (from the dev environment, in a process of their own):
    HTTP with JSON and binary tensors, gRPC with raw contents (which it reads back from
    raw_output_contents only)."""
    server = api["server"]
    host_port = server.url.split("//", 1)[1]
    out = _client_script(sys.executable, "triton_clients.py", host_port, server.grpc_target, MODEL)
    plain, _ = _predict(api["client"], [{**ROW}] * 2)
    for answer in (out["http"]["json"], out["http"]["binary"], out["grpc"]["infer"]):
        assert answer["classes"] == [p["classes"] for p in plain]
        np.testing.assert_allclose(
            answer["probabilities"], [p["probabilities"] for p in plain], atol=1e-6
        )
    assert out["http"]["json"]["id"] == out["http"]["binary"]["id"] == "triton-http"
    assert out["grpc"]["infer"]["id"] == "triton-grpc"
    for protocol in ("http", "grpc"):
        assert out[protocol]["live"] and out[protocol]["ready"] and out[protocol]["model_ready"]
        assert out[protocol]["inputs"] == sorted(ROW)
