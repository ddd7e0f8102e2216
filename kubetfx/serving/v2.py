"""KServe V2 (Open Inference Protocol) over REST: request bodies in and answers out.

A request is JSON, or JSON followed by raw tensor bytes (the binary tensor data extension:
the `Inference-Header-Content-Length` header says where the JSON ends, each input's
`parameters.binary_data_size` how many bytes it takes; BYTES elements are a 4-byte
little-endian length and the bytes). Everything is checked here, so a malformed tensor is a 400
naming the input: a `datatype` that is not one of the protocol's, a shape that does not match
the data, a byte count that does not match the shape, bytes that run short or are left over,
BYTES that are not UTF-8 text.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

import numpy as np

from kubetfx.errors import RequestError
from kubetfx.serving import wire
from kubetfx.serving.contract import Feature
from kubetfx.serving.requests import SERVING_DEFAULT, Batch, check_rows, columns_batch
from kubetfx.serving.wire import show

HEADER = "Inference-Header-Content-Length"
# The protocol's datatypes -> little-endian numpy types (BYTES is length-prefixed).
DATATYPES = {
    "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "BYTES": None,
}  # fmt: skip
FOR_KIND = {"int": ("INT64", "INT32"), "float": ("FP32", "FP64"), "string": ("BYTES",)}
_FROM_NUMPY = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32"}
_MAX_RANK = 8


@dataclasses.dataclass(frozen=True)
class Request:
    """A parsed V2 request: its id, one flat list of values per input, the outputs asked for."""

    id: str | None
    tensors: dict[str, tuple[str, list[int], list]]  # name -> (datatype, shape, values)
    outputs: list[str] | None


def parse(raw: bytes, json_length: str | None, max_depth: int, max_rows: int) -> Request:
    """The body (and the Inference-Header-Content-Length header, if sent) -> a Request."""
    end = len(raw) if json_length is None else wire.content_length(json_length, len(raw), HEADER)
    body = wire.loads(raw[:end], max_depth)
    if not isinstance(body, dict):
        raise RequestError("Open Inference Protocol: the request must be a JSON object")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(
            f"Open Inference Protocol: 'id' must be a string, got {show(request_id)}"
        )
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(
            "Open Inference Protocol: 'inputs' must be a non-empty list of tensor objects "
            "({'name', 'datatype', 'shape', 'data'})"
        )
    binary = memoryview(raw)[end:]
    tensors, offset = {}, 0
    for i, tensor in enumerate(inputs):
        name, datatype, shape, values, offset = _tensor(tensor, i, binary, offset, max_rows)
        if name in tensors:
            raise RequestError(f"Open Inference Protocol: input {show(name)} is sent twice")
        tensors[name] = (datatype, shape, values)
    if offset != len(binary):
        raise RequestError(
            f"Open Inference Protocol: {len(binary) - offset} bytes of binary data follow the "
            f"last input's; check each input's parameters.binary_data_size and {HEADER}"
        )
    return Request(request_id, tensors, _requested_outputs(body.get("outputs")))


def _tensor(tensor: Any, i: int, binary: memoryview, offset: int, max_rows: int):
    where = f"inputs[{i}]"
    if not isinstance(tensor, dict):
        raise RequestError(
            f"Open Inference Protocol: {where} must be a tensor object "
            f"({{'name', 'datatype', 'shape', 'data'}}), got {show(tensor)}"
        )
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise RequestError(f"Open Inference Protocol: {where}: 'name' must be a non-empty string")
    where = f"input {name!r}" if len(name) <= 64 else where
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise RequestError(
            f"Open Inference Protocol: {where}: 'datatype' must be one of "
            f"{', '.join(DATATYPES)}, got {show(datatype)}"
        )
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise RequestError(
            f"Open Inference Protocol: {where}: 'shape' must be a list of at most {_MAX_RANK} "
            f"non-negative integers, got {show(shape)}"
        )
    count = math.prod(shape)
    check_rows(count, max_rows)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise RequestError(f"Open Inference Protocol: {where}: 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise RequestError(
                f"Open Inference Protocol: {where} has neither 'data' nor "
                "parameters.binary_data_size"
            )
        return name, datatype, shape, _json_data(tensor["data"], shape, count, where), offset
    if "data" in tensor:
        raise RequestError(
            f"Open Inference Protocol: {where} has both 'data' and parameters.binary_data_size"
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RequestError(
            f"Open Inference Protocol: {where}: binary_data_size must be a byte count, "
            f"got {show(size)}"
        )
    if offset + size > len(binary):
        raise RequestError(
            f"Open Inference Protocol: {where}: binary_data_size {size} runs past the body "
            f"({len(binary) - offset} bytes left after the JSON and earlier inputs)"
        )
    chunk = binary[offset : offset + size]
    return name, datatype, shape, _binary_data(chunk, datatype, count, where), offset + size


def _json_data(data: Any, shape: list[int], count: int, where: str) -> list:
    """`data` flat or nested as the shape is -> a flat list of `count` values."""
    values = data if isinstance(data, list) else [data]
    for _ in range(len(shape) - 1):  # flatten nested rows, one level per dimension
        if not any(isinstance(v, list) for v in values):
            break
        if not all(isinstance(v, list) for v in values):
            raise RequestError(f"Open Inference Protocol: {where}: 'data' mixes lists and values")
        values = [x for v in values for x in v]
    if len(values) != count:
        raise RequestError(
            f"Open Inference Protocol: {where}: shape {shape} holds {count} values, "
            f"'data' has {len(values)}"
        )
    return values


def _binary_data(chunk: memoryview, datatype: str, count: int, where: str) -> list:
    if datatype != "BYTES":
        itemsize = np.dtype(DATATYPES[datatype]).itemsize
        if len(chunk) != count * itemsize:
            raise RequestError(
                f"Open Inference Protocol: {where}: {count} {datatype} values take "
                f"{count * itemsize} bytes, binary_data_size is {len(chunk)}"
            )
        return np.frombuffer(chunk, DATATYPES[datatype]).tolist()
    values, at = [], 0
    while at < len(chunk):
        if at + 4 > len(chunk):
            raise RequestError(
                f"Open Inference Protocol: {where}: BYTES element {len(values)} is truncated "
                "(each element is a 4-byte little-endian length, then the bytes)"
            )
        (length,) = struct.unpack_from("<I", chunk, at)
        if at + 4 + length > len(chunk):
            raise RequestError(
                f"Open Inference Protocol: {where}: BYTES element {len(values)} says {length} "
                f"bytes, {len(chunk) - at - 4} are left"
            )
        try:
            values.append(bytes(chunk[at + 4 : at + 4 + length]).decode())
        except UnicodeDecodeError as e:
            raise RequestError(
                f"Open Inference Protocol: {where}: BYTES element {len(values)} is not UTF-8 "
                f"text ({e.reason} at byte {e.start}); this model's string features take text"
            ) from e
        at += 4 + length
    if len(values) != count:
        raise RequestError(
            f"Open Inference Protocol: {where}: the shape holds {count} values, the binary "
            f"data has {len(values)} BYTES elements"
        )
    return values


def _requested_outputs(outputs: Any) -> list[str] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise RequestError(
            "Open Inference Protocol: 'outputs' must be a list of {'name': <output name>}"
        )
    return [o["name"] for o in outputs]


def to_batch(request: Request, features: list[Feature], max_rows: int) -> Batch:
    """The tensors -> the model's feature columns, each checked against the contract."""
    kinds = {f.name: f for f in features}
    columns = {}
    for name, (datatype, shape, values) in request.tensors.items():
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise RequestError(
                f"input {show(name)}: shape must be [batch] or [batch, 1], got {shape}"
            )
        f = kinds.get(name)
        if f is not None and datatype not in FOR_KIND[f.kind]:
            raise RequestError(
                f"input {name!r}: datatype must be {' or '.join(FOR_KIND[f.kind])} "
                f"for this {f.kind} feature, got {datatype}"
            )
        columns[name] = values
    return columns_batch(columns, features, "inputs", True, max_rows)


def check_outputs(request: Request, available) -> None:
    unknown = sorted(set(request.outputs or ()) - set(available))
    if unknown:
        raise RequestError(
            f"Open Inference Protocol: no output {show(unknown[0])}; this model has "
            f"{sorted(available)}"
        )


def response(request_id: str, name: str, version: int, outputs: dict, wanted=None) -> dict:
    """Signature outputs -> the V2 answer (JSON tensors, row-major `data`)."""
    tensors = []
    for key, value in outputs.items():
        if wanted is not None and key not in wanted:
            continue
        if value.dtype.kind in "OS":
            data = [b.decode(errors="replace") for b in value.ravel().tolist()]
            datatype = "BYTES"
        else:
            data, datatype = value.ravel().tolist(), _FROM_NUMPY.get(value.dtype.name, "FP32")
        tensors.append(
            {"name": key, "shape": list(value.shape), "datatype": datatype, "data": data}
        )
    return {"id": request_id, "model_name": name, "model_version": str(version), "outputs": tensors}


def metadata(servable) -> dict:
    """`GET /v2/models/{m}`: inputs (with the contract's `required` as a parameter) and outputs."""
    kinds = {"int": "INT64", "float": "FP32", "string": "BYTES"}
    tf_types = {"DT_FLOAT": "FP32", "DT_DOUBLE": "FP64", "DT_INT64": "INT64", "DT_STRING": "BYTES"}
    outputs = servable.signature_defs()[SERVING_DEFAULT]["outputs"]
    body = {
        "name": servable.name,
        "versions": [str(servable.version)],
        "platform": "tensorflow_savedmodel",
        "inputs": [
            {
                "name": f.name,
                "datatype": kinds[f.kind],
                "shape": [-1],
                "parameters": {"required": f.required},
            }
            for f in servable.features
        ],
        "outputs": [
            {"name": k, "datatype": tf_types.get(v["dtype"], v["dtype"]), "shape": [-1]}
            for k, v in outputs.items()
        ],
    }
    if servable.contract.ignored:
        body["parameters"] = {"ignored_inputs": ",".join(sorted(servable.contract.ignored))}
    return body
