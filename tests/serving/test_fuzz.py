"""Anything a client can send gets a 4xx naming the problem, never a 5xx (issue 17, item 1).

A seeded fuzzer (fuzz_cases.py) sends a few thousand malformed requests across every route,
both protocols, JSON and binary, to a real server process; after every 500 of them the same
good requests must still be answered exactly as before. Then one regression case for each
class of 5xx the issue found.
"""

from __future__ import annotations

import base64
import collections
import http.client
import itertools
import json
import struct
import time

import pytest

from kubetfx.serving import contract
from tests.serving.conftest import MODEL, make_registry, running_server
from tests.serving.fuzz_cases import Case, Fuzzer, quote

SEED = 17
REQUESTS = 8000  # malformed by construction: each must get a 4xx naming the problem
HAVOC = 2000  # random mutations of good requests: valid or not by chance, never a 5xx
BATCH = 500
MAX_ROWS = 64
ROW = {
    "bill_depth_mm": 18.0,
    "bill_length_mm": 40.0,
    "body_mass_g": 3800,
    "flipper_length_mm": 190,
    "island": "Dream",
    "sex": None,
    "year": 2008,
}


class Sender:
    """One keep-alive connection that sends whatever a Case holds (reconnecting if the server
    closed it); (status, headers, parsed JSON or None)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(self, method: str, path: str, body: bytes | None, headers: dict):
        headers = {k: v.encode() for k, v in headers.items()}  # '²', '٣' as UTF-8 bytes
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.connection.close()
                if attempt:
                    raise
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, server_python, penguins, eval_examples):
    _, paths = penguins
    root = tmp_path_factory.mktemp("fuzz")
    versions = make_registry(root / "registry", paths["model"], champion_and_challenger=True)
    config = root / "serving.yaml"
    config.write_text(f"serving:\n  limits:\n    max_rows: {MAX_ROWS}\n")
    args = ["--config", str(config), "--log-rate", "1"]
    with running_server(server_python, root / "registry", root / "logs", *args) as (server, _):
        server.wait_available(MODEL, 60, versions["challenger"])
        yield {
            "server": server,
            "versions": versions,
            "contract": contract.read(paths["model"]),
            "example": eval_examples[0],
        }


def _good_requests(example: bytes, versions: dict) -> list[tuple[str, str, bytes, dict]]:
    rows = [ROW, {**ROW, "island": "Biscoe", "body_mass_g": 5000}]
    v2_inputs, header, chunks = [], [], []
    for name, value in ROW.items():
        kind = {str: "BYTES", int: "INT64", float: "FP32"}.get(type(value), "BYTES")
        data = [value if value is not None else ""] * 2
        v2_inputs.append({"name": name, "datatype": kind, "shape": [2], "data": data})
        if kind == "BYTES":
            chunk = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in data)
        elif kind == "INT64":
            chunk = struct.pack("<2q", *data)
        else:
            chunk = struct.pack("<2f", *data)
        header.append({"name": name, "datatype": kind, "shape": [2],
                       "parameters": {"binary_data_size": len(chunk)}})  # fmt: skip
        chunks.append(chunk)
    head = json.dumps({"id": "good", "inputs": header}).encode()
    b64 = base64.b64encode(example).decode()
    champion = versions["champion"]
    tf_example = {"signature_name": "serving_tf_example", "instances": [{"b64": b64}]}
    classify = {
        "context": {"year": 2008},
        "examples": [{k: v for k, v in ROW.items() if k != "year"}],
    }
    binary_head = {"Inference-Header-Content-Length": str(len(head))}
    return [
        ("POST", f"/v1/models/{MODEL}:predict", json.dumps({"instances": rows}).encode(), {}),
        ("POST", f"/v1/models/{MODEL}/versions/{champion}:predict",
         json.dumps(tf_example).encode(), {}),
        ("POST", f"/v1/models/{MODEL}/labels/champion:classify", json.dumps(classify).encode(), {}),
        ("POST", f"/v2/models/{MODEL}/infer",
         json.dumps({"id": "good", "inputs": v2_inputs}).encode(), {}),
        ("POST", f"/v2/models/{MODEL}/infer", head + b"".join(chunks), binary_head),
    ]  # fmt: skip


def _check(case: Case, status: int, body) -> str | None:
    """Why this answer is wrong, or None."""
    if status not in case.statuses:
        return f"status {status}, expected {case.statuses}: {body}"
    if status < 300:  # a havoc mutation may leave a valid request
        return None if isinstance(body, dict) else f"not JSON: {body!r}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return f"no JSON error: {body!r}"
    error = body["error"].lower()
    if not any(word.lower() in error for word in case.words):
        return f"the error names none of {case.words}: {body['error']!r}"
    return None


def test_thousands_of_malformed_requests_get_a_4xx_naming_the_problem(fuzz_server):
    server = fuzz_server["server"]
    fuzzer = Fuzzer(
        SEED, MODEL, fuzz_server["contract"], fuzz_server["versions"], ROW,
        fuzz_server["example"], MAX_ROWS,
    )  # fmt: skip
    sender = Sender(server.port)
    good = _good_requests(fuzz_server["example"], fuzz_server["versions"])
    baseline = [sender.send(m, p, b, h) for m, p, b, h in good]
    assert [s for s, _, _ in baseline] == [200] * len(good), baseline
    by_status, by_kind, wrong = collections.Counter(), collections.Counter(), []
    start = time.monotonic()
    cases = itertools.chain(fuzzer.cases(REQUESTS), fuzzer.havoc_cases(HAVOC))
    for n, case in enumerate(cases, 1):
        status, _, body = sender.send(case.method, case.path, case.body, case.headers)
        by_status[status] += 1
        by_kind[case.kind] += 1
        problem = _check(case, status, body)
        if problem:
            wrong.append(f"{case.kind} {case.method} {case.path[:80]}: {problem}"[:400])
        if n % BATCH == 0:  # the server still answers good requests exactly as before
            again = [sender.send(m, p, b, h) for m, p, b, h in good]
            for (s0, h0, b0), (s1, h1, b1) in zip(baseline, again, strict=True):
                assert (s1, b1, h1["x-model-version"]) == (s0, b0, h0["x-model-version"])
    seconds = time.monotonic() - start
    print(f"\nfuzz: {REQUESTS} + {HAVOC} havoc requests in {seconds:.1f} s, {len(by_kind)} classes")
    print("by status:", dict(sorted(by_status.items())))
    print("by class:", dict(sorted(by_kind.items())))
    assert not wrong, f"{len(wrong)} wrong answers:\n" + "\n".join(wrong[:30])
    assert all(s < 500 for s in by_status), by_status
    assert sum(n for s, n in by_status.items() if s < 300) <= HAVOC  # only havoc may pass
    assert len(by_kind) >= 55  # every generator and its mutations ran
    # Error series are labelled only with served names; nothing crashed.
    metrics = sender.send("GET", "/metrics", None, {})[2]
    assert metrics is None  # Prometheus text, not JSON
    text = http_text(server.port, "/metrics")
    errors = [line for line in text.splitlines() if line.startswith("kubetfx_request_errors")]
    models = {line.split('model="')[1].split('"')[0] for line in errors if 'model="' in line}
    assert models <= {MODEL, "unknown"} and "unknown" in models, models
    assert not [line for line in errors if 'code="5' in line]
    assert "Traceback" not in server.log_tail(10_000)


def http_text(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def _binary_case(header_length: str | None, inputs: list[dict], data: bytes) -> tuple:
    head = json.dumps({"inputs": inputs}).encode()
    length = str(len(head)) if header_length is None else header_length
    return head + data, {"Inference-Header-Content-Length": length}


_YEAR = {"name": "year", "datatype": "INT64", "shape": [1]}
_ISLAND = {"name": "island", "datatype": "BYTES", "shape": [1]}
_REST = [
    {"name": n, "datatype": t, "shape": [1], "data": [v]}
    for n, t, v in [("bill_depth_mm", "FP32", 18.0), ("bill_length_mm", "FP32", 40.0),
                    ("body_mass_g", "INT64", 3800), ("flipper_length_mm", "INT64", 190),
                    ("sex", "BYTES", "male")]
]  # fmt: skip
_DEEP = b'{"instances": [{"island": ' + b"[" * 1000 + b"]" * 1000 + b"}]}"


@pytest.mark.parametrize(
    "what, method, path, body, headers, status, words",
    [
        ("version ²", "GET", f"/v1/models/{MODEL}/versions/{quote('²')}", None, {}, 400, "version"),
        (
            "version ⑦",
            "POST",
            f"/v1/models/{MODEL}/versions/{quote('⑦')}:predict",
            json.dumps({"instances": [ROW]}).encode(),
            {},
            400,
            "version",
        ),
        (
            "version of 4,301 digits",
            "GET",
            f"/v2/models/{MODEL}/versions/{'9' * 4301}/ready",
            None,
            {},
            400,
            "version",
        ),
        (
            "V2 inputs not objects",
            "POST",
            f"/v2/models/{MODEL}/infer",
            b'{"inputs": [1, 2]}',
            {},
            400,
            "tensor object",
        ),
        (
            "V2 datatype not a string",
            "POST",
            f"/v2/models/{MODEL}/infer",
            json.dumps({"inputs": [{**_YEAR, "datatype": 64, "data": [2008]}]}).encode(),
            {},
            400,
            "datatype",
        ),
        (
            "bad Inference-Header-Content-Length",
            "POST",
            f"/v2/models/{MODEL}/infer",
            *_binary_case("²", [{**_YEAR, "data": [2008]}], b""),
            400,
            "Inference-Header-Content-Length",
        ),
        (
            "V2 binary string not UTF-8",
            "POST",
            f"/v2/models/{MODEL}/infer",
            *_binary_case(
                None,
                [
                    *_REST,
                    {**_YEAR, "data": [2008]},
                    {**_ISLAND, "parameters": {"binary_data_size": 6}},
                ],
                struct.pack("<I", 2) + b"\xff\xfe",
            ),
            400,
            "UTF-8",
        ),
        (
            "binary tensor of the wrong byte size",
            "POST",
            f"/v2/models/{MODEL}/infer",
            *_binary_case(
                None,
                [
                    *_REST,
                    {**_ISLAND, "data": ["Dream"]},
                    {**_YEAR, "parameters": {"binary_data_size": 4}},
                ],
                struct.pack("<i", 2008),
            ),
            400,
            "take 8 bytes",
        ),
        (
            "binary tensor truncated",
            "POST",
            f"/v2/models/{MODEL}/infer",
            *_binary_case(
                None,
                [
                    *_REST,
                    {**_ISLAND, "data": ["Dream"]},
                    {**_YEAR, "parameters": {"binary_data_size": 8}},
                ],
                struct.pack("<q", 2008)[:5],
            ),
            400,
            "runs past the body",
        ),
        (
            "b64 that is not a tf.Example",
            "POST",
            f"/v1/models/{MODEL}:predict",
            json.dumps(
                {
                    "signature_name": "serving_tf_example",
                    "instances": [{"b64": base64.b64encode(b"\x0fnot").decode()}],
                }
            ).encode(),
            {},
            400,
            "the bytes do not parse",
        ),
        (
            "JSON nested 1000 deep",
            "POST",
            f"/v1/models/{MODEL}:predict",
            _DEEP,
            {},
            400,
            "max_json_depth",
        ),
        (
            "ready of an unknown version",
            "GET",
            f"/v2/models/{MODEL}/versions/7/ready",
            None,
            {},
            404,
            "Servable not found",
        ),
    ],  # fmt: skip
)
def test_each_class_of_5xx_from_the_issue_is_now_a_4xx(
    fuzz_server, what, method, path, body, headers, status, words
):
    sender = Sender(fuzz_server["server"].port)
    got, _, answer = sender.send(method, path, body, headers)
    assert got == status, (what, answer)
    assert words in answer["error"], (what, answer)
