"""The gRPC front, on `serving.grpc_port` (TF Serving's 8500 by default, 0 turns it off).

Services, as their own clients call them:
    tensorflow.serving.PredictionService   Predict, Classify, Regress, GetModelMetadata
    tensorflow.serving.ModelService        GetModelStatus
    inference.GRPCInferenceService         KServe V2: ServerLive/Ready, ModelReady,
                                           ServerMetadata, ModelMetadata, ModelInfer

Every prediction goes through the same PredictionService as REST (kubetfx/serving/service.py):
the request becomes the body the REST front would have parsed, so validation, routing (version,
label, canary/shadow with the `x-routing-key` metadata), the request log and the metrics are
the same. A RequestError's HTTP status becomes the gRPC status code (400 INVALID_ARGUMENT,
404 NOT_FOUND, 413 RESOURCE_EXHAUSTED, 503 UNAVAILABLE) with the same message.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import math
import sys

import grpc
import numpy as np
import tensorflow as tf  # before tensorflow_serving: its protos import tensorflow's half-way
from google.protobuf import json_format
from grpc import aio
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from kubetfx.components.config import ServingConfig
from kubetfx.errors import RequestError
from kubetfx.serving import classify, v2, wire
from kubetfx.serving.requests import SERVING_TF_EXAMPLE, parse_tf_serving
from kubetfx.serving.service import PredictionService, Target, tf_metadata, version_status


def _kserve_protos():
    """KServe V2's generated gRPC modules. Importing anything of kserve runs its model server's
    argument parser on sys.argv (kserve/model_server.py, at import time), which exits on this
    server's own flags: import it with an empty command line."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        from kserve.protocol.grpc import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
    finally:
        sys.argv = saved
    return grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc


v2_pb, v2_grpc = _kserve_protos()
log = logging.getLogger("kubetfx.serving")
CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    431: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
# V2 typed contents by datatype (ModelInferRequest.inputs[i].contents.<field>).
_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


def _rpc(method):
    """Turn a RequestError into the gRPC status its HTTP status means, with its message."""

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except RequestError as e:
            await context.abort(CODES.get(e.status, grpc.StatusCode.INVALID_ARGUMENT), str(e))

    return wrapper


class _Front:
    def __init__(self, service: PredictionService, cfg: ServingConfig):
        self.service, self.cfg, self.limits = service, cfg, cfg.limits
        self._followups: set[asyncio.Task] = set()

    def metadata(self, context, key: str) -> str | None:
        for item in context.invocation_metadata() or ():
            if item.key == key.lower():
                return item.value if isinstance(item.value, str) else None
        return None

    def target(self, spec, context) -> Target:
        if not spec.name:
            raise RequestError("model_spec.name is required")
        version = spec.version.value if spec.HasField("version") else None
        label = spec.version_label or None
        key = self.metadata(context, self.cfg.traffic.key_header)
        return Target(spec.name, version, label, key)

    async def predict(self, target: Target, context, parse, encode):
        rid = wire.request_id(
            self.metadata(context, "x-request-id"), self.limits.max_request_id_chars
        )
        answer = await self.service.predict(target, rid, parse, encode)
        context.set_trailing_metadata(
            (
                ("x-model-version", str(answer.servable.version)),
                ("x-model-label", answer.label),
                ("x-request-id", rid),
            )
        )
        if answer.followup is not None:  # the request log and the shadow copy, after the answer
            task = asyncio.get_running_loop().create_task(answer.followup())
            self._followups.add(task)
            task.add_done_callback(self._followups.discard)
        return answer.payload


def _tensor_values(name: str, proto) -> list:
    """A TensorProto of one feature -> its values as the JSON body would hold them."""
    fast = _repeated_values(name, proto)
    if fast is not None:
        return fast
    try:
        array = tf.make_ndarray(proto)
    except Exception as e:  # a dtype TF does not know, content that does not fit the shape
        raise RequestError(f"input {wire.show(name)}: not a valid TensorProto ({e})") from e
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise RequestError(
            f"input {wire.show(name)}: shape must be [batch] or [batch, 1], got {list(array.shape)}"
        )
    if array.dtype.kind in "OS":
        try:
            return [v.decode() if isinstance(v, bytes) else v for v in array.tolist()]
        except UnicodeDecodeError as e:
            raise RequestError(
                f"input {wire.show(name)}: value is not UTF-8 text ({e.reason}); this model's "
                "string features take text"
            ) from e
    return array.tolist()


# The proto's repeated field per dtype: what clients fill for small tensors (make_tensor_proto
# of a list), read without going through numpy (tf.make_ndarray costs ~18 us per input).
_VALUE_FIELDS = {1: "float_val", 2: "double_val", 3: "int_val", 9: "int64_val", 7: "string_val"}


def _repeated_values(name: str, proto) -> list | None:
    field = _VALUE_FIELDS.get(proto.dtype)
    if field is None or proto.tensor_content:
        return None
    values = list(getattr(proto, field))
    dims = [d.size for d in proto.tensor_shape.dim]
    count = math.prod(dims)
    if len(values) != count or not (len(dims) == 1 or (len(dims) == 2 and dims[1] == 1)):
        return None  # a broadcast value or another shape: the general path says what is wrong
    if field != "string_val":
        return values
    try:
        return [v.decode() for v in values]
    except UnicodeDecodeError as e:
        raise RequestError(
            f"input {wire.show(name)}: value is not UTF-8 text ({e.reason}); this model's "
            "string features take text"
        ) from e


# Output dtypes written directly: (TensorProto dtype, little-endian numpy type), keyed by
# dtype (`dtype.name` builds its string on every call).
_OUTPUT_TYPES = {
    np.dtype("float32"): (1, "<f4"),
    np.dtype("float64"): (2, "<f8"),
    np.dtype("int32"): (3, "<i4"),
    np.dtype("int64"): (9, "<i8"),
}


def _fill_tensor(proto, value: np.ndarray) -> None:
    """Write an output into a (response's) TensorProto, tensor_content for numbers: like
    tf.make_tensor_proto but without its per-call cost on the answer path."""
    known = _OUTPUT_TYPES.get(value.dtype)
    if known is None and value.dtype.kind not in "OS":
        proto.CopyFrom(tf.make_tensor_proto(value))
        return
    for size in value.shape:
        proto.tensor_shape.dim.add(size=size)
    if known is None:
        proto.dtype = 7  # DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in value.ravel()
        )
    else:
        proto.dtype = known[0]
        proto.tensor_content = np.ascontiguousarray(value, dtype=known[1]).tobytes()


def _example_items(examples) -> list[dict]:
    return [{"b64": base64.b64encode(e.SerializeToString()).decode()} for e in examples]


class TFServing(prediction_service_pb2_grpc.PredictionServiceServicer, _Front):
    @_rpc
    async def Predict(self, request, context):
        signature = request.model_spec.signature_name or "serving_default"

        def parse(servable):
            if signature == SERVING_TF_EXAMPLE:
                if set(request.inputs) != {"examples"}:
                    raise RequestError(f"{SERVING_TF_EXAMPLE} takes one input, 'examples'")
                serialized = _tensor_bytes(request.inputs["examples"])
                items = [{"b64": base64.b64encode(s).decode()} for s in serialized]
                body = {"signature_name": signature, "instances": items}
            else:
                inputs = {k: _tensor_values(k, v) for k, v in request.inputs.items()}
                body = {"signature_name": signature, "inputs": inputs}
            return parse_tf_serving(body, servable.contract, self.limits.max_rows)

        def encode(servable, batch, outputs):
            wanted = set(request.output_filter) or set(outputs)
            unknown = sorted(wanted - set(outputs))
            if unknown:
                raise RequestError(f"output_filter: no output {unknown[0]!r} in {sorted(outputs)}")
            response = predict_pb2.PredictResponse()
            _fill_spec(response.model_spec, servable, signature)
            for name in sorted(wanted):
                _fill_tensor(response.outputs[name], outputs[name])
            return response, _logged(outputs)

        return await self.predict(self.target(request.model_spec, context), context, parse, encode)

    async def _examples_call(self, request, context, verb: str, encode):
        def parse(servable):
            classify.check_task(servable, verb)
            which = request.input.WhichOneof("kind")
            if which != "example_list":
                raise RequestError(
                    f"{verb}: input must be an example_list of tf.Examples (got {which})"
                )
            items = _example_items(request.input.example_list.examples)
            body = {"signature_name": SERVING_TF_EXAMPLE, "instances": items}
            return parse_tf_serving(body, servable.contract, self.limits.max_rows)

        target = self.target(request.model_spec, context)
        return await self.predict(target, context, parse, encode)

    @_rpc
    async def Classify(self, request, context):
        def encode(servable, _batch, outputs):
            result = classify.classify_result(servable, outputs)["result"]
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, servable, SERVING_TF_EXAMPLE)
            for row in result:
                classes = response.result.classifications.add()
                for label, score in row:
                    classes.classes.add(label=str(label), score=float(score))
            return response, _logged(outputs)

        return await self._examples_call(request, context, classify.CLASSIFY, encode)

    @_rpc
    async def Regress(self, request, context):
        def encode(servable, _batch, outputs):
            result = classify.regress_result(outputs)["result"]
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, servable, SERVING_TF_EXAMPLE)
            for value in result:
                response.result.regressions.add(value=float(value))
            return response, _logged(outputs)

        return await self._examples_call(request, context, classify.REGRESS, encode)

    @_rpc
    async def GetModelMetadata(self, request, context):
        fields = set(request.metadata_field)
        if fields != {"signature_def"}:
            raise RequestError(
                "metadata_field must be ['signature_def'] (the only metadata), got "
                f"{sorted(fields)}"
            )
        servable = self.service.route(self.target(request.model_spec, context)).servable
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        return json_format.ParseDict(tf_metadata(servable), response)

    @_rpc
    async def MultiInference(self, request, context):
        raise RequestError("MultiInference is not supported; call Classify or Regress", 400)


class ModelStatus(model_service_pb2_grpc.ModelServiceServicer, _Front):
    @_rpc
    async def GetModelStatus(self, request, context):
        spec = request.model_spec
        view = self.service.view(spec.name)
        only = spec.version.value if spec.HasField("version") else None
        if spec.version_label:
            only = self.service.route(Target(spec.name, label=spec.version_label)).servable.version
        body = version_status(view, only)
        if only is not None and not body["model_version_status"]:
            raise RequestError(
                f"Servable not found for request: Specific({spec.name}, {only})", 404
            )
        response = get_model_status_pb2.GetModelStatusResponse()
        return json_format.ParseDict(body, response)


class KServeV2(v2_grpc.GRPCInferenceServiceServicer, _Front):
    @_rpc
    async def ServerLive(self, request, context):
        return v2_pb.ServerLiveResponse(live=True)

    @_rpc
    async def ServerReady(self, request, context):
        return v2_pb.ServerReadyResponse(ready=self.service.manager.ready())

    @_rpc
    async def ModelReady(self, request, context):
        view = self.service.view(request.name)
        version = wire.version(request.version or None, self.limits.max_version_digits)
        if version is not None and version not in view.statuses:
            raise RequestError(f"model {request.name!r} has no version {version}", 404)
        ready = version in view.servables if version is not None else bool(view.servables)
        return v2_pb.ModelReadyResponse(ready=ready)

    @_rpc
    async def ServerMetadata(self, request, context):
        return v2_pb.ServerMetadataResponse(name="kubetfx", version="0.1.0")

    @_rpc
    async def ModelMetadata(self, request, context):
        version = wire.version(request.version or None, self.limits.max_version_digits)
        servable = self.service.route(Target(request.name, version)).servable
        body = v2.metadata(servable)
        body.pop("parameters", None)
        for tensor in body["inputs"]:
            tensor.pop("parameters", None)
        return json_format.ParseDict(body, v2_pb.ModelMetadataResponse())

    @_rpc
    async def ModelInfer(self, request, context):
        version = wire.version(request.model_version or None, self.limits.max_version_digits)
        parsed = _v2_request(request, self.limits.max_rows)
        wanted = parsed.outputs

        def parse(servable):
            return v2.to_batch(parsed, servable.features, self.limits.max_rows)

        def encode(servable, _batch, outputs):
            v2.check_outputs(parsed, outputs)
            response = v2_pb.ModelInferResponse(
                model_name=servable.name, model_version=str(servable.version), id=request.id
            )
            for name, value in outputs.items():
                if wanted is not None and name not in wanted:
                    continue
                _add_output(response, name, value, raw=bool(request.raw_input_contents))
            return response, _logged(outputs)

        key = self.metadata(context, self.cfg.traffic.key_header)
        target = Target(request.model_name, version, None, key)
        return await self.predict(target, context, parse, encode)


def _tensor_bytes(proto) -> list[bytes]:
    try:
        array = tf.make_ndarray(proto)
    except Exception as e:
        raise RequestError(f"input 'examples': not a valid TensorProto ({e})") from e
    if array.dtype.kind not in "OS" or array.ndim != 1:
        raise RequestError("input 'examples' must be a [batch] string tensor of tf.Examples")
    return list(array.tolist())


def _v2_request(request, max_rows: int) -> v2.Request:
    """A ModelInferRequest -> the same parsed request the REST front makes."""
    if not request.inputs:
        raise RequestError("Open Inference Protocol: 'inputs' must be a non-empty list")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(
            f"Open Inference Protocol: {len(raw)} raw_input_contents for "
            f"{len(request.inputs)} inputs; send one per input, or typed contents"
        )
    tensors = {}
    for i, tensor in enumerate(request.inputs):
        where = f"input {wire.show(tensor.name)}"
        if tensor.datatype not in _CONTENTS:
            raise RequestError(
                f"Open Inference Protocol: {where}: datatype {wire.show(tensor.datatype)} is "
                f"not one of {sorted(_CONTENTS)}"
            )
        shape = list(tensor.shape)
        if any(d < 0 for d in shape) or not shape:
            raise RequestError(f"Open Inference Protocol: {where}: shape {shape} is not valid")
        count = math.prod(shape)
        if shape[0] > max_rows:
            raise RequestError(
                f"{shape[0]} examples in one request; at most {max_rows} (serving.limits.max_rows)",
                413,
            )
        if raw:
            values = v2._binary_data(memoryview(raw[i]), tensor.datatype, count, where)
        else:
            values = list(getattr(tensor.contents, _CONTENTS[tensor.datatype]))
            if tensor.datatype == "BYTES":
                try:
                    values = [v.decode() for v in values]
                except UnicodeDecodeError as e:
                    raise RequestError(
                        f"Open Inference Protocol: {where}: BYTES value is not UTF-8 text"
                    ) from e
            if len(values) != count:
                raise RequestError(
                    f"Open Inference Protocol: {where}: shape {shape} holds {count} values, "
                    f"got {len(values)}"
                )
        if tensor.name in tensors:
            raise RequestError(f"Open Inference Protocol: {where} is sent twice")
        tensors[tensor.name] = (tensor.datatype, shape, values)
    outputs = [o.name for o in request.outputs] or None
    return v2.Request(request.id or None, tensors, outputs)


def _add_output(response, name: str, value: np.ndarray, raw: bool) -> None:
    """One output tensor: typed `contents`, or (`raw`, when the request sent its inputs that
    way, as Triton's clients do and read back) little-endian bytes in raw_output_contents."""
    tensor = response.outputs.add(name=name, shape=list(value.shape))
    flat = value.ravel()
    if value.dtype.kind in "OS":
        tensor.datatype = "BYTES"
        items = [b if isinstance(b, bytes) else str(b).encode() for b in flat.tolist()]
        if raw:  # each element: a 4-byte little-endian length, then its bytes
            response.raw_output_contents.append(
                b"".join(len(b).to_bytes(4, "little") + b for b in items)
            )
        else:
            tensor.contents.bytes_contents.extend(items)
        return
    if value.dtype.kind == "f":
        wide = value.dtype.itemsize == 8
        tensor.datatype, field, dtype = (
            ("FP64", "fp64_contents", "<f8") if wide else ("FP32", "fp32_contents", "<f4")
        )
    else:
        tensor.datatype, field, dtype = "INT64", "int64_contents", "<i8"
    if raw:
        response.raw_output_contents.append(flat.astype(dtype).tobytes())
    else:
        getattr(tensor.contents, field).extend(flat.astype(dtype).tolist())


def _fill_spec(spec, servable, signature: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature


def _logged(outputs: dict) -> dict:
    """What the request log keeps of the answer: plain lists per output."""
    return {
        k: [b.decode(errors="replace") if isinstance(b, bytes) else b for b in v.tolist()]
        for k, v in outputs.items()
    }


async def start(service: PredictionService, cfg: ServingConfig) -> aio.Server:
    """Start the gRPC server on cfg.host:cfg.grpc_port (in the running event loop)."""
    options = [
        ("grpc.max_receive_message_length", cfg.max_body_bytes),
        ("grpc.max_send_message_length", 64 << 20),
    ]
    server = aio.server(options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        TFServing(service, cfg), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelStatus(service, cfg), server)
    v2_grpc.add_GRPCInferenceServiceServicer_to_server(KServeV2(service, cfg), server)
    address = f"{cfg.host}:{cfg.grpc_port}"
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address} (serving.grpc_port)")
    await server.start()
    log.info("gRPC on %s", address)
    return server
