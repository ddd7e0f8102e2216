"""The HTTP front of the model server: TF Serving's REST API and KServe's V1/V2 protocols.

Routes (TF Serving clients work unchanged; KServe clients too):
    GET  /v1/models                                   KServe V1: served model names
    GET  /v1/models/{m}[/versions/{v}]                TF Serving version status (+ KServe ready)
    GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata
    POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    instances|inputs, signature_name
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{m}[/versions/{v}][/ready]
    POST /v2/models/{m}[/versions/{v}]/infer          Open Inference Protocol
    GET  /metrics                                     Prometheus

kserve 0.15's own REST server binds 0.0.0.0 and has no versioned V2 routes, so the routes are
ours; the V2 bodies are read and written with kserve's protocol types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import orjson
from fastapi import FastAPI, Request, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from kubetfx.components.config import ServingConfig
from kubetfx.serving import routing
from kubetfx.serving.logs import RequestLog, now
from kubetfx.serving.metrics import Metrics
from kubetfx.serving.models import END, ModelManager, ModelView, Servable
from kubetfx.serving.requests import (
    Batch,
    RequestError,
    encode_tf_serving,
    parse_tf_serving,
    parse_v2,
)

log = logging.getLogger("kubetfx.serving")
_DRAIN_LIMIT = 64 << 20  # read (and drop) an oversized body up to this, so the client gets 413
_V2_TYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32"}
_V2_FROM_TF = {"DT_FLOAT": "FP32", "DT_DOUBLE": "FP64", "DT_INT64": "INT64", "DT_STRING": "BYTES"}


def _json(body, status: int = 200, headers: dict | None = None, background=None) -> Response:
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(content, status, headers, "application/json", background)


def create_app(cfg: ServingConfig, manager: ModelManager, request_log: RequestLog) -> FastAPI:
    metrics = Metrics(manager, request_log)
    # TensorFlow calls run off the event loop (health checks and new requests keep flowing)
    # on a plain executor: measured cheaper per call than Starlette's anyio thread pool.
    executor = ThreadPoolExecutor(cfg.threads, thread_name_prefix="predict")

    async def run_model(servable: Servable, batch: Batch):
        return await asyncio.get_running_loop().run_in_executor(executor, _call, servable, batch)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        manager.start()
        yield
        manager.stop()
        executor.shutdown(wait=True)
        request_log.close()

    app = FastAPI(title="kubetfx model server", lifespan=lifespan, openapi_url=None)

    @app.exception_handler(RequestError)
    async def _request_error(_request, e: RequestError):
        return _json({"error": str(e)}, e.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_request, e: HTTPException):
        return _json(
            {"error": f"{e.detail}: check the URL against the API in the README"}, e.status_code
        )

    @app.exception_handler(Exception)
    async def _internal(_request, e: Exception):
        log.exception("internal error")
        return _json({"error": f"internal error: {type(e).__name__}: {e}"}, 500)

    def view_of(name: str) -> ModelView:
        view = manager.view(name)
        if view is None:
            raise RequestError(f"Could not find any versions of model {name}", 404)
        return view

    async def read_body(request: Request) -> bytes:
        limit = cfg.max_body_bytes
        declared = request.headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            too_big = too_big or size > limit
            if size > _DRAIN_LIMIT:
                break
            if not too_big:
                chunks.append(chunk)
        if too_big:
            raise RequestError(
                f"request body is larger than {limit} bytes (serving.max_body_bytes); "
                "send fewer examples per request",
                413,
            )
        return b"".join(chunks)

    async def predict(request: Request, name: str, version=None, label=None, v2=False):
        start = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        try:
            view = view_of(name)
            raw = await read_body(request)
            chosen = routing.route(
                view,
                cfg.traffic,
                _version(version),
                label,
                request.headers.get(cfg.traffic.key_header),
            )
            servable = chosen.servable
            if v2:
                batch = _parse_v2(raw, request, name, servable)
            else:
                batch = parse_tf_serving(_loads(raw), servable.contract)
            if batch.signature not in servable.signatures:
                raise RequestError(
                    f"version {servable.version} has no signature {batch.signature!r}"
                )
            outputs = await run_model(servable, batch)
        except RequestError as e:
            metrics.error(name, e.status)
            raise
        seconds = time.perf_counter() - start
        metrics.observe(name, servable.version, chosen.label, batch.size, seconds)
        payload = (
            _v2_response(request_id, servable, outputs)
            if v2
            else encode_tf_serving(outputs, batch.columnar)
        )
        background = None
        if request_log.sampled():  # logged (and shadowed) after the answer has been sent
            served = (request_id, servable, chosen.label, "served", batch, payload, seconds, now())
            background = BackgroundTask(log_answers, served, chosen.shadow)
        headers = {
            "X-Model-Version": str(servable.version),
            "X-Model-Label": chosen.label,
            "X-Request-Id": request_id,
        }
        return _json(payload, headers=headers, background=background)

    async def log_answers(served: tuple, shadow_servable: Servable | None) -> None:
        request_log.write(_record(*served))
        if shadow_servable is not None:
            await shadow(served[0], shadow_servable, served[4])

    async def shadow(request_id: str, servable: Servable, batch: Batch) -> None:
        start = time.perf_counter()
        try:
            outputs = await run_model(servable, batch)
        except RequestError as e:  # the challenger refused what the champion took: log it
            request_log.write(
                {
                    **_record(request_id, servable, "challenger", "shadow", batch, {}, 0, now()),
                    "error": str(e),
                }
            )
            return
        payload = encode_tf_serving(outputs, batch.columnar)
        seconds = time.perf_counter() - start
        request_log.write(
            _record(request_id, servable, "challenger", "shadow", batch, payload, seconds, now())
        )

    # --- KServe V1 list + TF Serving status and metadata -----------------------------------
    @app.get("/v1/models")
    async def list_models():
        return _json({"models": manager.names()})

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        view = view_of(name)
        return _json({**_status(view), "name": name, "ready": bool(view.servables)})

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str):
        view = view_of(name)
        number = _version(version)
        if number not in view.statuses:
            raise RequestError(f"Servable not found for request: Specific({name}, {number})", 404)
        return _json(_status(view, number))

    @app.get("/v1/models/{name}/metadata")
    async def metadata(name: str):
        return _json(_metadata(routing.route(view_of(name), cfg.traffic).servable))

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str):
        return _json(
            _metadata(routing.route(view_of(name), cfg.traffic, _version(version)).servable)
        )

    @app.get("/v1/models/{name}/labels/{label}/metadata")
    async def label_metadata(name: str, label: str):
        return _json(_metadata(routing.route(view_of(name), cfg.traffic, label=label).servable))

    @app.post("/v1/models/{name}:predict")
    async def predict_default(name: str, request: Request):
        return await predict(request, name)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def predict_version(name: str, version: str, request: Request):
        return await predict(request, name, version=version)

    @app.post("/v1/models/{name}/labels/{label}:predict")
    async def predict_label(name: str, label: str, request: Request):
        return await predict(request, name, label=label)

    # --- KServe V2 (Open Inference Protocol) ------------------------------------------------
    @app.get("/v2")
    async def server_metadata():
        return _json({"name": "kubetfx", "version": "0.1.0", "extensions": []})

    @app.get("/v2/health/live")
    async def live():
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready():
        ok = manager.ready()
        return _json({"ready": ok}, 200 if ok else 503)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_metadata(name: str, version: str | None = None):
        servable = routing.route(view_of(name), cfg.traffic, _version(version)).servable
        return _json(_v2_metadata(servable))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_ready(name: str, version: str | None = None):
        view = view_of(name)
        number = _version(version)
        ok = number in view.servables if number is not None else bool(view.servables)
        return _json({"name": name, "ready": ok}, 200 if ok else 503)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(name: str, request: Request, version: str | None = None):
        return await predict(request, name, version=version, v2=True)

    @app.get("/metrics")
    async def prometheus():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return app


def _loads(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise RequestError(f"JSON Parse error: {e}") from e


def _call(servable: Servable, batch: Batch):
    import tensorflow as tf

    try:
        return servable.predict(batch.signature, batch.inputs)
    except tf.errors.InvalidArgumentError as e:  # e.g. an undecodable tf.Example
        raise RequestError(e.message.splitlines()[0]) from e


def _version(version: str | None) -> int | None:
    if version is None:
        return None
    if not version.isdigit():
        raise RequestError(f"version must be a positive integer, got {version!r}")
    return int(version)


def _status(view: ModelView, only: int | None = None) -> dict:
    rows = []
    for number, status in sorted(view.statuses.items(), reverse=True):
        if only is not None and number != only:
            continue
        code = "UNKNOWN" if status.state == END else "OK"
        rows.append(
            {
                "version": str(number),
                "state": status.state,
                "status": {"error_code": code, "error_message": status.error},
            }
        )
    return {"model_version_status": rows}


def _metadata(servable: Servable) -> dict:
    return {
        "model_spec": {
            "name": servable.name,
            "signature_name": "",
            "version": str(servable.version),
        },
        "metadata": {"signature_def": {"signature_def": servable.signature_defs()}},
        "input_schema": [f.__dict__ for f in servable.features],
        "ignored_features": sorted(servable.contract.ignored),
    }


def _v2_metadata(servable: Servable) -> dict:
    kinds = {"int": "INT64", "float": "FP32", "string": "BYTES"}
    outputs = servable.signature_defs()["serving_default"]["outputs"]
    return {
        "name": servable.name,
        "versions": [str(servable.version)],
        "platform": "tensorflow_savedmodel",
        "inputs": [
            {"name": f.name, "datatype": kinds[f.kind], "shape": [-1]} for f in servable.features
        ],
        "outputs": [
            {"name": k, "datatype": _V2_FROM_TF.get(v["dtype"], v["dtype"]), "shape": [-1]}
            for k, v in outputs.items()
        ],
    }


def _parse_v2(raw: bytes, request: Request, name: str, servable: Servable) -> Batch:
    from kserve.errors import InvalidInput
    from kserve.protocol.infer_type import InferRequest

    header = request.headers.get("inference-header-content-length", "")
    try:
        infer = InferRequest.from_bytes(raw, int(header) if header.isdigit() else len(raw), name)
    except (InvalidInput, KeyError, TypeError) as e:
        raise RequestError(f"not an Open Inference Protocol request: {e}") from e
    return parse_v2(infer.inputs, servable.features)


def _v2_response(request_id: str, servable: Servable, outputs: dict) -> dict:
    from kserve.protocol.infer_type import InferOutput, InferResponse

    tensors = []
    for name, value in outputs.items():
        if value.dtype.kind in "OS":
            data = [b.decode(errors="replace") for b in value.ravel().tolist()]
            datatype = "BYTES"
        else:
            data, datatype = value.ravel().tolist(), _V2_TYPES.get(value.dtype.name, "FP32")
        tensors.append(InferOutput(name, list(value.shape), datatype, data=data))
    response = InferResponse(
        request_id, servable.name, tensors, model_version=str(servable.version)
    )
    return response.to_rest()[0]


def _record(request_id, servable, label, role, batch: Batch, payload: dict, seconds, ts) -> dict:
    return {
        "ts": ts,
        "request_id": request_id,
        "model": servable.name,
        "version": servable.version,
        "label": label,
        "role": role,
        "signature": batch.signature,
        "features": batch.rows(),
        "predictions": payload.get("predictions", payload.get("outputs")),
        "latency_ms": round(seconds * 1000, 3),
    }
