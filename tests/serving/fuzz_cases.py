"""Generated malformed requests for the model server, each with the answer it must get.

`Fuzzer(seed, ...).cases(n)` yields `Case`s across every route, both protocols, JSON and
binary bodies; every one is a client mistake by construction (a mutation that cannot produce
a valid request), so its answer must be a 4xx whose JSON error names the problem (one of
`words`). Deterministic for a seed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import struct
import urllib.parse

from kubetfx.serving.contract import Contract

BAD_VERSIONS = ["²", "⑦", "٣", "١٢", "-1", "+1", "1.5", "0x1f", "1e3", "abc", " 1", "1 ", "9" * 20]
BAD_VERSIONS += ["9" * 4301, "1" * 5000]
BAD_NAMES = ["nope", "PENGUINS", "penguins2", "ü" * 40, "a" * 300, "%ff%fe", "%00", "..", "名前"]
KINDS_BAD = {
    "string": [3, 2.5, True, [], ["a", "b"], {"x": 1}, {"b64": "%%%"}, {"b64": 5}],
    "int": ["3", 2.5, True, [], [1, 2], {"a": 1}, "NaN", 1.25e3 + 0.5],
    "float": ["1.5", True, [1.0, 2.0], {"a": 1}, "abc", []],
}
V2_MUTATIONS = ["inputs", "item", "datatype", "kind", "shape", "count", "missing", "unknown",
                "twice", "id", "outputs", "rank", "nodata", "value"]  # fmt: skip
NOT_AN_EXAMPLE = [b"\x0f", b"\xff\xff\xff\xff", b"\x0a\x05\x0a\x03", b"\x0f" + bytes(range(40))]


@dataclasses.dataclass
class Case:
    kind: str  # the mutation's class, for the report
    method: str
    path: str
    body: bytes | None
    headers: dict
    statuses: tuple[int, ...]
    words: tuple[str, ...]  # the error must contain one of these (case-insensitive)


def quote(segment: str) -> str:
    """A URL segment as a client sends it ('%ff' stays a raw percent-escape)."""
    if segment.startswith("%"):
        return segment
    return urllib.parse.quote(segment, safe="")


class Fuzzer:
    def __init__(self, seed: int, model: str, contract: Contract, versions: dict, row: dict,
                 example: bytes, max_rows: int):  # fmt: skip
        self.rng = random.Random(seed)
        self.model, self.contract, self.versions = model, contract, versions
        self.row, self.example, self.max_rows = row, example, max_rows
        self.features = {f.name: f for f in contract.features}
        self.kinds = [
            self.url, self.url, self.predict_rows, self.predict_rows, self.predict_columns,
            self.tf_example, self.classify, self.v2_json, self.v2_json, self.v2_binary,
            self.v2_binary, self.raw_body, self.headers,
        ]  # fmt: skip

    def cases(self, count: int):
        for _ in range(count):
            yield self.rng.choice(self.kinds)()

    def havoc_cases(self, count: int):
        """Random mutations of good bodies, valid or not by chance: any answer but a 5xx."""
        for _ in range(count):
            yield self.havoc()

    # --- helpers ----------------------------------------------------------------------------
    def _prefix(self) -> str:
        """A served model's URL, at the default, a version or a label."""
        choice = self.rng.random()
        if choice < 0.5:
            return f"/v1/models/{self.model}"
        if choice < 0.75:
            return f"/v1/models/{self.model}/versions/{self.versions['champion']}"
        return f"/v1/models/{self.model}/labels/{self.rng.choice(['champion', 'challenger'])}"

    def _json(self, kind, path, body, statuses, words, headers=None) -> Case:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Case(kind, "POST", path, raw, headers or {}, statuses, words)

    def _rows(self, n: int) -> list[dict]:
        return [dict(self.row) for _ in range(n)]

    def _bad_value(self, name: str):
        return self.rng.choice(KINDS_BAD[self.features[name].kind])

    def _deep(self, depth: int):
        return "[" * depth + "1" + "]" * depth

    # --- URL segments -----------------------------------------------------------------------
    def url(self) -> Case:
        rng, m = self.rng, self.model
        what = rng.choice(
            ["version", "version", "unknown_version", "name", "label", "route", "method"]
        )
        if what == "method":  # every route, with a method it does not take
            path = rng.choice([
                "/", "/v1/models", f"/v1/models/{m}", f"/v1/models/{m}/labels/champion",
                f"/v1/models/{m}/metadata", "/v2", "/v2/health/live", "/v2/health/ready",
                f"/v2/models/{m}", f"/v2/models/{m}/ready", "/metrics",
                f"/v1/models/{m}:predict", f"/v1/models/{m}:classify", f"/v2/models/{m}/infer",
            ])  # fmt: skip
            post = path.endswith((":predict", ":classify", "/infer"))
            method = rng.choice(["GET", "PUT"] if post else ["POST", "PUT", "DELETE", "PATCH"])
            statuses = (405,) if not (post and method == "GET" and "/v1/" in path) else (404,)
            words = ("not allowed", "could not find")
            return Case("wrong_method", method, path, b"{}", {}, statuses, words)
        if what == "version":
            v = quote(rng.choice(BAD_VERSIONS))
            path = rng.choice([
                f"/v1/models/{m}/versions/{v}", f"/v1/models/{m}/versions/{v}/metadata",
                f"/v2/models/{m}/versions/{v}", f"/v2/models/{m}/versions/{v}/ready",
                f"/v1/models/{m}/versions/{v}:predict", f"/v1/models/{m}/versions/{v}:classify",
                f"/v1/models/{m}/versions/{v}:regress", f"/v2/models/{m}/versions/{v}/infer",
            ])  # fmt: skip
            return self._url_case("bad_version", path, (400,), ("version",))
        if what == "unknown_version":
            v = str(rng.choice([0, 1, 7, 2**63 - 1, 10**18, self.versions["champion"] - 1]))
            path = rng.choice([
                f"/v1/models/{m}/versions/{v}", f"/v2/models/{m}/versions/{v}/ready",
                f"/v2/models/{m}/versions/{v}", f"/v1/models/{m}/versions/{v}/metadata",
                f"/v1/models/{m}/versions/{v}:predict", f"/v2/models/{m}/versions/{v}/infer",
            ])  # fmt: skip
            return self._url_case("unknown_version", path, (404,), ("not found",))
        if what == "name":
            n = quote(rng.choice(BAD_NAMES + [f"model-{rng.randrange(10**6)}"]))
            path = rng.choice([
                f"/v1/models/{n}", f"/v1/models/{n}/metadata", f"/v1/models/{n}:predict",
                f"/v1/models/{n}:classify", f"/v1/models/{n}/labels/champion",
                f"/v2/models/{n}", f"/v2/models/{n}/ready", f"/v2/models/{n}/infer",
                f"/v1/models/{n}/versions/1", f"/v2/models/{n}/versions/1/ready",
            ])  # fmt: skip
            return self._url_case("unknown_model", path, (404,), ("could not find",))
        if what == "label":
            lab = quote(rng.choice(["beta", "stable", "Champion", "", "x" * 200, "ß"]) or "none")
            path = rng.choice([
                f"/v1/models/{m}/labels/{lab}", f"/v1/models/{m}/labels/{lab}/metadata",
                f"/v1/models/{m}/labels/{lab}:predict", f"/v1/models/{m}/labels/{lab}:regress",
            ])  # fmt: skip
            return self._url_case("unknown_label", path, (404,), ("label",))
        path = rng.choice([
            "/v1", "/v1/model", "/v3/models", f"/v1/models/{m}/versions", f"/v1/models/{m}:explain",
            f"/v2/models/{m}/generate", "/v2/health", f"/v1/models/{m}/labels", "/metrics/x",
        ])  # fmt: skip
        return self._url_case(
            "unknown_route", path, (404, 405), ("not found", "not allowed", "could not find")
        )

    def _url_case(self, kind, path, statuses, words) -> Case:
        post = path.endswith((":predict", ":classify", ":regress", "/infer"))
        method = "POST" if post else self.rng.choice(["GET", "GET", "POST", "DELETE"])
        if not post and method != "GET":
            statuses, words = (*statuses, 405), (*words, "not allowed")
        body = json.dumps({"instances": self._rows(1)}).encode() if post else None
        return Case(kind, method, path, body, {}, statuses, words)

    # --- TF Serving JSON --------------------------------------------------------------------
    def predict_rows(self) -> Case:
        rng, path = self.rng, self._prefix() + ":predict"
        rows = self._rows(rng.randint(1, 4))
        i = rng.randrange(len(rows))
        name = rng.choice(list(self.features))
        op = rng.choice(["drop", "unknown", "value", "row", "instances", "both", "signature",
                         "deep", "rows", "nan", "surrogate", "truncate"])  # fmt: skip
        body: dict | bytes = {"instances": rows}
        if op == "drop":
            del rows[i][name]
            return self._json("missing_feature", path, body, (400,), ("missing feature",))
        if op == "unknown":
            rows[i][rng.choice(["wings", "Island", "island ", "é", "x" * 100])] = 1
            return self._json("unknown_feature", path, body, (400,), ("unknown feature",))
        if op == "value":
            rows[i][name] = self._bad_value(name)
            return self._json("wrong_type", path, body, (400,), (name,))
        if op == "row":
            rows[i] = rng.choice([1, "row", None, [1, 2], True])
            return self._json("row_not_object", path, body, (400,), ("instances[",))
        if op == "instances":
            body = rng.choice([{"instances": []}, {"instances": {}}, {"instances": "x"},
                               {"instances": None}, rng.choice([[], 1, "x", None])])  # fmt: skip
            return self._json("bad_instances", path, body, (400,), ("instances",))
        if op == "both":
            body = rng.choice([{"instances": rows, "inputs": {}}, {"signature_name": "x"}, {}])
            return self._json(
                "instances_and_inputs", path, body, (400,), ("exactly one", "signature")
            )
        if op == "signature":
            body["signature_name"] = rng.choice(["predict", "", 3, None, ["serving_default"], {}])
            return self._json("bad_signature", path, body, (400,), ("signature_name",))
        if op == "deep":
            depth = rng.choice([33, 64, 200, 999, 1000, 1023, 1100, 5000])
            text = json.dumps({"instances": rows}).replace(
                f'"{name}": ', f'"{name}": ' + self._deep(depth) + ', "_": ', 1
            )
            return self._json("deep_nesting", path, text.encode(), (400,), ("nested", "depth"))
        if op == "rows":
            n = rng.randint(self.max_rows + 1, self.max_rows * 3)
            return self._json(
                "too_many_rows", path, {"instances": self._rows(n)}, (400,), ("max_rows",)
            )
        if op == "nan":  # the NaN-tolerant parse: Infinity is no integer
            number = rng.choice([f.name for f in self.contract.features if f.kind == "int"])
            rows[i][number] = 123456789
            text = json.dumps(body).replace("123456789", rng.choice(["Infinity", "-Infinity"]), 1)
            return self._json("infinity_for_int", path, text.encode(), (400,), (number,))
        if op == "surrogate":
            string = rng.choice([f.name for f in self.contract.features if f.kind == "string"])
            rows[i][string] = "\ud800"
            text = json.dumps(body)  # ensure_ascii: the lone surrogate travels as an escape
            if rng.random() < 0.5:
                text = text.replace("]}", '], "x": NaN}')  # the NaN-tolerant path
            return self._json(
                "lone_surrogate", path, text.encode(), (400,), ("JSON", "Unicode", "surrogate")
            )
        raw = json.dumps(body).encode()
        cut = rng.randrange(1, len(raw) - 1)
        return self._json("truncated_json", path, raw[:cut], (400,), ("JSON",))

    def predict_columns(self) -> Case:
        rng, path = self.rng, self._prefix() + ":predict"
        columns = {k: [v, v] for k, v in self.row.items()}
        name = rng.choice(list(columns))
        op = rng.choice(["length", "scalar", "value", "inputs"])
        if op == "length":
            columns[name] = columns[name] * rng.choice([2, 3]) if rng.random() < 0.5 else []
            return self._json(
                "column_lengths", path, {"inputs": columns}, (400,), ("same, non-zero",)
            )
        if op == "scalar":
            columns[name] = self.row[name] if self.row[name] is not None else 1
            return self._json("column_not_list", path, {"inputs": columns}, (400,), (name,))
        if op == "value":
            columns[name][1] = self._bad_value(name)
            return self._json("wrong_type", path, {"inputs": columns}, (400,), (name,))
        body = {"inputs": rng.choice([[1, 2], "x", 3, None])}
        return self._json("bad_inputs", path, body, (400,), ("inputs",))

    def tf_example(self) -> Case:
        rng, path = self.rng, self._prefix() + ":predict"
        good = base64.b64encode(self.example).decode()
        op = rng.choice(["not_base64", "not_example", "item", "empty", "inputs"])
        sig = {"signature_name": "serving_tf_example"}
        if op == "not_base64":
            b64 = rng.choice(["%%%", "abc", good[:-3] + "!!!", "ÿÿ=="])
            body = {**sig, "instances": [{"b64": good}, {"b64": b64}]}
            return self._json("b64_not_base64", path, body, (400,), ("base64",))
        if op == "not_example":
            b64 = base64.b64encode(rng.choice(NOT_AN_EXAMPLE)).decode()
            body = {**sig, "instances": [{"b64": b64}]}
            return self._json("b64_not_tf_example", path, body, (400,), ("tf.Example",))
        if op == "item":
            body = {**sig, "instances": [rng.choice([good, 1, {"b64": 1}, {"x": good}, None])]}
            return self._json("b64_item", path, body, (400,), ("b64",))
        if op == "empty":
            body = {**sig, "instances": rng.choice([[], {}, "x"])}
            return self._json("b64_empty", path, body, (400,), ("serving_tf_example",))
        body = {**sig, "inputs": rng.choice([{"examples": [good], "x": 1}, {"other": [good]}])}
        return self._json("b64_inputs", path, body, (400,), ("inputs",))

    def classify(self) -> Case:
        rng = self.rng
        verb = rng.choice([":classify", ":classify", ":regress"])
        path = self._prefix() + verb
        if verb == ":regress":  # the penguins model is a classifier
            return self._json(
                "regress_on_classifier", path, {"examples": self._rows(1)}, (400,), (":classify",)
            )
        examples = self._rows(rng.randint(1, 3))
        name = rng.choice(list(self.features))
        op = rng.choice(["examples", "context", "conflict", "list", "field", "value", "drop"])
        if op == "examples":
            body = {"examples": rng.choice([[], {}, "x", None, [1]])}
            return self._json("bad_examples", path, body, (400,), ("examples",))
        if op == "context":
            body = {"examples": examples, "context": rng.choice([[1], "x", 3])}
            return self._json("bad_context", path, body, (400,), ("context",))
        if op == "conflict":
            body = {"examples": examples, "context": {name: self.row[name]}}
            return self._json("context_conflict", path, body, (400,), ("context",))
        if op == "list":
            examples[0][name] = [self.row[name]] * rng.choice([0, 2, 3])
            return self._json("multi_value", path, {"examples": examples}, (400,), (name,))
        if op == "field":
            body = {"examples": examples, rng.choice(["instances", "inputs", "ctx"]): {}}
            return self._json("unknown_field", path, body, (400,), ("unknown field",))
        if op == "value":
            examples[0][name] = self._bad_value(name)
            if isinstance(examples[0][name], list):  # a list is unwrapped: make it two values
                examples[0][name] = [1, 2]
            return self._json("wrong_type", path, {"examples": examples}, (400,), (name,))
        del examples[-1][name]
        return self._json(
            "missing_feature", path, {"examples": examples}, (400,), ("missing feature",)
        )

    # --- KServe V2 --------------------------------------------------------------------------
    def _v2_inputs(self, n: int = 2) -> list[dict]:
        types = {"int": "INT64", "float": "FP32", "string": "BYTES"}
        inputs = []
        for name, f in self.features.items():
            value = self.row[name]
            if value is None:
                value = "" if f.kind == "string" else 0
            inputs.append(
                {"name": name, "datatype": types[f.kind], "shape": [n], "data": [value] * n}
            )
        return inputs

    def _v2_path(self) -> str:
        if self.rng.random() < 0.5:
            return f"/v2/models/{self.model}/infer"
        return f"/v2/models/{self.model}/versions/{self.versions['champion']}/infer"

    def v2_json(self) -> Case:
        rng, path = self.rng, self._v2_path()
        inputs = self._v2_inputs()
        t = rng.randrange(len(inputs))
        op = rng.choice(V2_MUTATIONS)
        body = {"inputs": inputs}
        if op == "inputs":
            body = {"inputs": rng.choice([[1, 2], {"a": 1}, "x", [], None, [[1]]])}
            if rng.random() < 0.3:
                body = rng.choice([[1], "x", 1])
            return self._json(
                "v2_inputs_not_objects", path, body, (400,), ("inputs", "JSON object")
            )
        if op == "item":
            inputs[t] = rng.choice([1, "x", None, [inputs[t]]])
            return self._json("v2_inputs_not_objects", path, body, (400,), ("tensor object",))
        if op == "datatype":
            inputs[t]["datatype"] = rng.choice(
                [1, None, ["FP32"], {"a": 1}, True, "FLOAT", "fp32", ""]
            )
            return self._json("v2_datatype", path, body, (400,), ("datatype",))
        if op == "kind":
            f = self.features[inputs[t]["name"]]
            inputs[t]["datatype"] = "FP32" if f.kind == "string" else "BYTES"
            return self._json("v2_datatype_kind", path, body, (400,), ("datatype",))
        if op == "shape":
            inputs[t]["shape"] = rng.choice(
                [None, "2", [-1], [2.0], [True, 1], [1] * 9, {}, [2, "1"]]
            )
            return self._json("v2_shape", path, body, (400,), ("shape",))
        if op == "count":
            inputs[t]["shape"] = [rng.choice([1, 3, 5])]
            return self._json("v2_shape_data_mismatch", path, body, (400,), ("shape",))
        if op == "missing":
            del inputs[t]
            return self._json("v2_missing_input", path, body, (400,), ("missing feature",))
        if op == "unknown":
            inputs.append({**inputs[t], "name": rng.choice(["wings", "x" * 90, "ø"])})
            return self._json("v2_unknown_input", path, body, (400,), ("unknown feature",))
        if op == "twice":
            inputs.append(dict(inputs[t]))
            return self._json("v2_duplicate_input", path, body, (400,), ("twice",))
        if op == "id":
            body["id"] = rng.choice([1, ["a"], {"a": 1}, True])
            return self._json("v2_id", path, body, (400,), ("'id'",))
        if op == "outputs":
            body["outputs"] = rng.choice([[{"name": "scores"}], "classes", [1], [{"n": "x"}]])
            return self._json("v2_outputs", path, body, (400,), ("output",))
        if op == "rank":
            inputs[t]["shape"] = [1, 2]
            return self._json("v2_rank", path, body, (400,), ("shape",))
        if op == "nodata":
            del inputs[t]["data"]
            return self._json("v2_no_data", path, body, (400,), ("data",))
        f = self.features[inputs[t]["name"]]
        inputs[t]["data"][1] = rng.choice(KINDS_BAD[f.kind] + [[[1]]])
        return self._json("v2_value", path, body, (400,), (f.name, "data", "shape"))

    def _binary(self, n: int = 2):
        """A valid binary request's parts: the JSON header and each input's bytes."""
        header, chunks = self._v2_inputs(n), []
        for tensor in header:
            data = tensor.pop("data")
            if tensor["datatype"] == "BYTES":
                chunk = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in data)
            elif tensor["datatype"] == "INT64":
                chunk = struct.pack(f"<{n}q", *[int(v) for v in data])
            else:
                chunk = struct.pack(f"<{n}f", *data)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        return header, chunks

    def v2_binary(self) -> Case:
        rng, path = self.rng, self._v2_path()
        inputs, chunks = self._binary()
        t = rng.randrange(len(inputs))
        op = rng.choice(["header", "header", "bigger", "smaller", "trailing", "truncate",
                         "utf8", "prefix", "size_type", "both"])  # fmt: skip
        bytes_at = [i for i, x in enumerate(inputs) if x["datatype"] == "BYTES"]
        fixed_at = [i for i, x in enumerate(inputs) if x["datatype"] != "BYTES"]
        length = None
        words: tuple[str, ...] = ("binary", "bytes", "BYTES")
        kind = "v2_binary_size"
        if op == "header":
            length = rng.choice(["²", "٣", "-5", "0x10", "1e3", "", " 12", "99999999", "9" * 30])
            kind, words = "v2_bad_header_length", ("Inference-Header-Content-Length", "JSON")
        elif op == "bigger":
            inputs[t]["parameters"]["binary_data_size"] += rng.choice([1, 8, 1000])
        elif op == "smaller":
            t = rng.choice(fixed_at)
            inputs[t]["parameters"]["binary_data_size"] -= rng.choice([1, 4])
        elif op == "trailing":
            chunks.append(b"\x00" * rng.choice([1, 3, 16]))
        elif op == "truncate":
            kind = "v2_binary_truncated"
        elif op == "utf8":
            t = rng.choice(bytes_at)
            bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"abc\x80"])
            chunks[t] = struct.pack("<I", len(bad)) + bad + struct.pack("<I", 1) + b"a"
            inputs[t]["parameters"]["binary_data_size"] = len(chunks[t])
            kind, words = "v2_bytes_not_utf8", ("UTF-8",)
        elif op == "prefix":
            t = rng.choice(bytes_at)
            chunks[t] = struct.pack("<I", 1000) + b"ab"
            inputs[t]["parameters"]["binary_data_size"] = len(chunks[t])
            kind, words = "v2_bytes_prefix", ("BYTES element",)
        elif op == "size_type":
            inputs[t]["parameters"]["binary_data_size"] = rng.choice([-1, "8", 1.5, None, True])
            kind, words = "v2_binary_data_size", ("binary_data_size", "data")
        else:
            inputs[t]["data"] = [1, 2]
            kind, words = "v2_data_and_binary", ("both",)
        header = json.dumps({"inputs": inputs}).encode()
        raw = header + b"".join(chunks)
        if op == "truncate":
            raw = raw[: rng.randrange(len(header), len(raw))]
        head = {
            "Inference-Header-Content-Length": length if length is not None else str(len(header))
        }
        if length == "99999999":
            words = ("Inference-Header-Content-Length",)
        return self._json(kind, path, raw, (400,), words, head)

    # --- havoc: random mutations of good requests ------------------------------------------
    def _random_value(self, depth: int = 0):
        rng = self.rng
        makers = [
            lambda: None, lambda: True, lambda: rng.randint(-(2**70), 2**70),
            lambda: rng.random() * 10 ** rng.randint(-5, 30), lambda: "", lambda: "Dream",
            lambda: "\u00e9\u2603" * rng.randint(1, 5), lambda: {"b64": "RHJlYW0="}, lambda: 0,
            lambda: [[[[[1]]]]],
        ]  # fmt: skip
        if depth < 3:
            makers += [
                lambda: [self._random_value(depth + 1) for _ in range(rng.randint(0, 3))],
                lambda: {rng.choice(["island", "x", "data"]): self._random_value(depth + 1)},
            ]
        return rng.choice(makers)()

    def _mutate(self, node):
        """Replace, delete or add one random node somewhere in a JSON value."""
        rng = self.rng
        if isinstance(node, dict) and node and rng.random() < 0.8:
            key = rng.choice(list(node))
            op = rng.random()
            if op < 0.2:
                del node[key]
            elif op < 0.3:
                node[rng.choice(["extra", "name", "datatype", "shape", "signature_name"])] = (
                    self._random_value()
                )
            elif op < 0.6 and isinstance(node[key], dict | list):
                self._mutate(node[key])
            else:
                node[key] = self._random_value()
            return
        if isinstance(node, list) and node and rng.random() < 0.8:
            i = rng.randrange(len(node))
            op = rng.random()
            if op < 0.15:
                del node[i]
            elif op < 0.3:
                node.append(node[i])
            elif op < 0.6 and isinstance(node[i], dict | list):
                self._mutate(node[i])
            else:
                node[i] = self._random_value()

    def havoc(self) -> Case:
        rng = self.rng
        b64 = base64.b64encode(self.example).decode()
        bodies = [
            (self._prefix() + ":predict", {"instances": self._rows(2)}),
            (self._prefix() + ":predict", {"inputs": {k: [v] for k, v in self.row.items()}}),
            (self._prefix() + ":predict",
             {"signature_name": "serving_tf_example", "instances": [{"b64": b64}]}),
            (self._prefix() + ":classify", {"context": {}, "examples": self._rows(2)}),
            (self._v2_path(), {"id": "h", "inputs": self._v2_inputs()}),
        ]  # fmt: skip
        path, body = rng.choice(bodies)
        for _ in range(rng.randint(1, 3)):
            self._mutate(body)
        raw = json.dumps(body).encode()
        headers = {}
        if rng.random() < 0.2:  # the binary form, with a flipped byte now and then
            inputs, chunks = self._binary()
            raw = json.dumps({"inputs": inputs}).encode()
            headers = {"Inference-Header-Content-Length": str(len(raw))}
            raw += b"".join(chunks)
            path = self._v2_path()
            if rng.random() < 0.7:
                i = rng.randrange(len(raw))
                raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :]
        elif rng.random() < 0.1:
            raw = raw.replace(b"0.5", b"NaN", 1).replace(b"18.0", b"-Infinity", 1)
        return Case("havoc", "POST", path, raw, headers, (200, 400, 404, 413), ("",))

    # --- bodies that are not JSON at all, and headers -----------------------------------------
    def raw_body(self) -> Case:
        rng = self.rng
        path = rng.choice([self._prefix() + ":predict", self._prefix() + ":classify",
                           f"/v2/models/{self.model}/infer"])  # fmt: skip
        op = rng.choice(["bytes", "bytes", "empty", "scalar", "large"])
        if op == "bytes":
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
            raw = b"\x00" + raw if raw[:1] in b'[{"-0123456789tfn ' else raw
            return self._json("not_json", path, raw, (400,), ("JSON",))
        if op == "empty":
            return self._json("empty_body", path, b"", (400,), ("JSON",))
        if op == "scalar":
            raw = rng.choice([b"1", b'"x"', b"null", b"[]", b"true"])
            return self._json("not_an_object", path, raw, (400,), ("object", "inputs"))
        raw = b'{"instances": [' + b'{"island": "' + b"B" * (1 << 20) + b'"}]}'
        return self._json("too_large", path, raw, (413,), ("max_body_bytes",))

    def headers(self) -> Case:
        path = self.rng.choice([self._prefix() + ":predict", "/v2/health/ready", "/v1/models"])
        method = "POST" if path.endswith(":predict") else "GET"
        body = json.dumps({"instances": self._rows(1)}).encode() if method == "POST" else None
        filler = "f" * self.rng.choice([17_000, 40_000, 100_000])
        head = {self.rng.choice(["X-Request-Id", "X-Filler", "Cookie"]): filler}
        return Case("headers_too_large", method, path, body, head, (431,), ("max_header_bytes",))
