"""Prediction requests: TF Serving REST bodies -> validated input columns (a `Batch`).

Every request is checked against the model's serving contract before TensorFlow sees it:
an unknown feature, a missing one, a null where the schema requires a value, or a value of
the wrong type is a `RequestError` (HTTP 400) that names the field and says what to send.
The KServe V2 bodies (v2.py) and TF Serving's classify/regress examples (classify.py) end in
the same column checks (`columns_batch`, `rows_batch`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
from typing import Any

import numpy as np

from kubetfx.errors import RequestError
from kubetfx.serving.contract import Contract, Feature
from kubetfx.serving.wire import show

SERVING_DEFAULT = "serving_default"
SERVING_TF_EXAMPLE = "serving_tf_example"
EXAMPLES_INPUT = "examples"

# Integers travel as float64 so that they can be missing (NaN), as serving_default takes them.
_NUMPY = {"int": np.float64, "float": np.float32, "string": object}
_EXPECTED = {"int": "an integer", "float": "a number", "string": "a string"}
_EXACT = 2**53  # float64 holds every integer up to here; larger ones are kept as the float


@dataclasses.dataclass
class Batch:
    """A validated request: what the signature is called with, and the features as columns."""

    signature: str
    inputs: dict[str, np.ndarray]
    columns: dict[str, list]  # feature -> values, None for missing (what the request log keeps)
    size: int
    columnar: bool  # the request used `inputs`, so the answer uses `outputs`

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [{n: self.columns[n][i] for n in names} for i in range(self.size)]


def parse_tf_serving(body: Any, contract: Contract, max_rows: int | None = None) -> Batch:
    """A TF Serving `:predict` body (row `instances` or columnar `inputs`)."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object with 'instances' or 'inputs'")
    signature = body.get("signature_name", SERVING_DEFAULT)
    if signature not in (SERVING_DEFAULT, SERVING_TF_EXAMPLE):
        raise RequestError(
            f"signature_name {show(signature)} not found; this model has "
            f"{SERVING_DEFAULT!r} (JSON features) and {SERVING_TF_EXAMPLE!r} (b64 tf.Example)"
        )
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("the request must have exactly one of 'instances' or 'inputs'")
    columnar = "inputs" in body
    payload = body["inputs"] if columnar else body["instances"]
    if signature == SERVING_TF_EXAMPLE:
        items = _b64_items(payload, columnar)
        check_rows(len(items), max_rows)
        return _examples_batch(items, contract, columnar)
    if columnar:
        if not isinstance(payload, dict):
            raise RequestError("'inputs' must map each feature name to a list of values")
        payload = {k: v for k, v in payload.items() if k not in contract.ignored}
        return columns_batch(payload, contract.features, "inputs", True, max_rows)
    if not isinstance(payload, list) or not payload:
        raise RequestError("'instances' must be a non-empty list of objects")
    return rows_batch(payload, contract, "instances", max_rows)


def check_rows(count: int, max_rows: int | None) -> None:
    if max_rows is not None and count > max_rows:
        raise RequestError(
            f"the request has {count} examples; send at most {max_rows} per request "
            "(serving.limits.max_rows)"
        )


def rows_batch(rows: list, contract: Contract, where: str, max_rows: int | None) -> Batch:
    """One object of feature values per example (`instances`, classify/regress `examples`)."""
    check_rows(len(rows), max_rows)
    features, ignored = contract.features, contract.ignored
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(f"{where}[{i}] must be an object of feature values, got {show(row)}")
    columns = {f.name: [] for f in features}
    for i, row in enumerate(rows):
        _check_names(row.keys() - ignored, features, f"{where}[{i}]")
        for f in features:
            columns[f.name].append(row[f.name])
    return columns_batch(columns, features, where, False)


def _check_names(names, features: list[Feature], where: str) -> None:
    known = {f.name for f in features}
    unknown = sorted(set(names) - known)
    if unknown:
        raise RequestError(
            f"{where}: unknown feature {show(unknown[0])}; the model takes {sorted(known)}"
        )
    missing = sorted(known - set(names))
    if missing:
        raise RequestError(
            f"{where}: missing feature {missing[0]!r}; send every feature of the serving "
            f"schema ({sorted(known)}), null for a missing value"
        )


def columns_batch(
    columns: dict, features: list[Feature], where: str, columnar: bool, max_rows=None
) -> Batch:
    """A list of values per feature -> the signature's input arrays, every value checked."""
    _check_names(columns.keys(), features, where)
    sizes = set()
    for f in features:
        if not isinstance(columns[f.name], list):
            raise RequestError(f"{where}[{f.name!r}] must be a list of values (one per example)")
        sizes.add(len(columns[f.name]))
    if len(sizes) != 1 or 0 in sizes:
        raise RequestError(f"{where}: every feature needs the same, non-zero number of values")
    size = sizes.pop()
    check_rows(size, max_rows)
    inputs, clean = {}, {}
    for f in features:
        values = [_coerce(f, v, f"{where}[{i}]") for i, v in enumerate(columns[f.name])]
        clean[f.name] = [None if v == "" or v != v else v for v in values]
        inputs[f.name] = np.array(values, dtype=_NUMPY[f.kind])
    return Batch(SERVING_DEFAULT, inputs, clean, size, columnar)


def _coerce(f: Feature, value: Any, where: str):
    """One JSON value -> what the raw-feature signature takes (NaN / '' mean missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if f.required:
            raise RequestError(
                f"{where}: feature {f.name!r} is required (the serving schema has it in every "
                "example) and cannot be null"
            )
        return "" if f.kind == "string" else float("nan")
    if f.kind == "string":
        if isinstance(value, dict):
            value = _b64_text(value, f, where)
        if not isinstance(value, str):
            raise RequestError(f"{where}: feature {f.name!r} must be a string, got {show(value)}")
        if not value.isascii():
            _check_utf8(value, f, where)
        return value
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (f.kind == "float" or float(value).is_integer())
    )
    if not ok:
        raise RequestError(
            f"{where}: feature {f.name!r} must be {_EXPECTED[f.kind]}, got {show(value)}"
        )
    if f.kind == "int":  # what float64 holds: a larger integer is kept as that float
        return int(value) if -_EXACT <= value <= _EXACT else float(value)
    return value


def _b64_text(value: dict, f: Feature, where: str) -> str:
    """TF Serving's `{"b64": ...}` for binary data, on a string feature: it must decode to text."""
    if set(value) != {"b64"} or not isinstance(value["b64"], str):
        raise RequestError(
            f"{where}: feature {f.name!r} must be a string or {{'b64': <base64>}}, "
            f"got {show(value)}"
        )
    try:
        return base64.b64decode(value["b64"], validate=True).decode()
    except (binascii.Error, ValueError) as e:  # not base64, or bytes that are not UTF-8
        raise RequestError(
            f"{where}: feature {f.name!r}: 'b64' must be base64 of UTF-8 text ({e})"
        ) from e


def _check_utf8(value: str, f: Feature, where: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError as e:  # an unpaired surrogate escape such as "\ud800"
        raise RequestError(f"{where}: feature {f.name!r} is not valid Unicode text ({e})") from e


def _b64_items(payload: Any, columnar: bool) -> list:
    if columnar and isinstance(payload, dict):
        if set(payload) != {EXAMPLES_INPUT}:
            raise RequestError(
                f"'inputs' for {SERVING_TF_EXAMPLE} must be {{'{EXAMPLES_INPUT}': [...]}}"
            )
        payload = payload[EXAMPLES_INPUT]
    if not isinstance(payload, list) or not payload:
        raise RequestError(f"{SERVING_TF_EXAMPLE} takes a non-empty list of {{'b64': ...}}")
    return [
        item[EXAMPLES_INPUT] if isinstance(item, dict) and EXAMPLES_INPUT in item else item
        for item in payload
    ]


def _examples_batch(items: list, contract: Contract, columnar: bool) -> Batch:
    from tensorflow.core.example import example_pb2

    features = contract.features
    serialized, columns = [], {f.name: [] for f in features}
    for i, item in enumerate(items):
        where = f"examples[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("b64"), str):
            raise RequestError(f"{where} must be {{'b64': <base64 serialized tf.Example>}}")
        try:
            data = base64.b64decode(item["b64"], validate=True)
        except (binascii.Error, ValueError) as e:
            raise RequestError(f"{where}: not a base64 serialized tf.Example ({e})") from e
        try:
            example = example_pb2.Example.FromString(data)
        except Exception as e:  # protobuf's DecodeError: the server imports no google.* itself
            raise RequestError(
                f"{where}: not a base64 serialized tf.Example (the bytes do not parse: {e})"
            ) from e
        values = _example_values(example, contract, where)
        for f in features:
            columns[f.name].append(values.get(f.name))
        serialized.append(data)
    inputs = {EXAMPLES_INPUT: np.array(serialized, dtype=object)}
    return Batch(SERVING_TF_EXAMPLE, inputs, columns, len(items), columnar)


def _example_values(example, contract: Contract, where: str) -> dict:
    kinds = {f.name: f for f in contract.features}
    expected_list = {"int": "int64_list", "float": "float_list", "string": "bytes_list"}
    unknown = sorted(set(example.features.feature) - set(kinds) - contract.ignored)
    if unknown:
        raise RequestError(
            f"{where}: unknown feature {show(unknown[0])}; the model takes {sorted(kinds)}"
        )
    out = {}
    for name, f in kinds.items():
        feature = example.features.feature.get(name)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = list(getattr(feature, kind).value) if kind else []
        if not values:
            if f.required:
                raise RequestError(f"{where}: required feature {name!r} has no value")
            continue
        if kind != expected_list[f.kind]:
            raise RequestError(
                f"{where}: feature {name!r} must be a {expected_list[f.kind]}, got a {kind}"
            )
        if len(values) != 1:
            raise RequestError(f"{where}: feature {name!r} must have one value, got {len(values)}")
        value = values[0]
        out[name] = value.decode(errors="replace") if isinstance(value, bytes) else value
    return out


def encode_tf_serving(outputs: dict[str, np.ndarray], columnar: bool) -> dict:
    """Signature outputs -> TF Serving's `predictions` (rows) or `outputs` (columns)."""
    plain = {name: _plain(value) for name, value in outputs.items()}
    if columnar:
        return {"outputs": next(iter(plain.values())) if len(plain) == 1 else plain}
    if len(plain) == 1:
        return {"predictions": next(iter(plain.values()))}
    names = list(plain)
    size = len(plain[names[0]])
    return {"predictions": [{n: plain[n][i] for n in names} for i in range(size)]}


def _plain(value: np.ndarray) -> list:
    """A JSON-ready list; strings come back as text, as TF Serving does for non-`_bytes` names."""
    if value.dtype.kind in "OS":  # TF hands strings back as bytes
        return np.vectorize(lambda b: b.decode(errors="replace"), otypes=[object])(value).tolist()
    return value.tolist()
