"""The HTTP front of the model server: TF Serving's REST API and KServe's V1/V2 protocols.

Routes (TF Serving clients work unchanged; KServe clients too):
    GET  /                                            KServe V1 liveness: {"status": "alive"}
    GET  /v1/models                                   KServe V1: served model names
    GET  /v1/models/{m}[/versions/{v}|/labels/{l}]    TF Serving version status (+ KServe ready)
    GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata
    GET  /v1/models/{m}/versions/{v}/card[?format=html|md]   the version's model card
    POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict|:classify|:regress
    GET  /v2, /v2/health/live, /v2/health/ready, /v2/models/{m}[/versions/{v}][/ready]
    POST /v2/models/{m}[/versions/{v}]/infer          Open Inference Protocol (JSON + binary)
    GET  /metrics                                     Prometheus
    GET  serving.health_route, POST serving.predict_route   Vertex AI's $AIP_HEALTH_ROUTE and
                                                      $AIP_PREDICT_ROUTE (one served model)

kserve 0.15's own REST server binds 0.0.0.0 and has no versioned V2 routes, so the routes are
ours. This module is only the HTTP side: reading bodies within the limits, the URL's target,
headers; the prediction itself (routing, the model call, metrics, logs) is service.py's, so
that another front (gRPC) shares it.

A client's mistake is always a 4xx with {"error": "..."} naming it; a 5xx is either "nothing
is loaded yet" (503) or a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import orjson
from fastapi import FastAPI, Request, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from kubetfx.components.config import ServingConfig
from kubetfx.errors import RequestError
from kubetfx.serving import cards, classify, v2, wire
from kubetfx.serving.logs import RequestLog
from kubetfx.serving.models import ModelManager
from kubetfx.serving.requests import SERVING_DEFAULT, encode_tf_serving, parse_tf_serving
from kubetfx.serving.service import Answer, PredictionService, Target, tf_metadata, version_status

log = logging.getLogger("kubetfx.serving")
_DRAIN_LIMIT = 64 << 20  # read (and drop) an oversized body up to this, so the client gets 413


def _json(body, status: int = 200, headers: dict | None = None, background=None) -> Response:
    content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(content, status, headers, "application/json", background)


def _error(message: str, status: int, request_id: str, headers: dict | None = None) -> Response:
    # The message may quote what the client sent: never let encoding it fail.
    content = orjson.dumps({"error": message.encode(errors="backslashreplace").decode()})
    head = {**(headers or {}), "X-Request-Id": request_id}
    return Response(content, status, head, "application/json")


def create_app(cfg: ServingConfig, manager: ModelManager, request_log: RequestLog) -> FastAPI:
    service = PredictionService(cfg, manager, request_log)
    limits = cfg.limits

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        grpc_server = None
        if cfg.grpc_port:  # before the models load: one thread imports TensorFlow at a time
            from kubetfx.serving import grpc_front

            grpc_server = await grpc_front.start(service, cfg)
        manager.start()
        yield
        if grpc_server is not None:
            await grpc_server.stop(grace=5)
        manager.stop()
        service.close()
        request_log.close()

    app = FastAPI(title="kubetfx model server", lifespan=lifespan, openapi_url=None)
    app.add_middleware(HeaderLimit, max_bytes=limits.max_header_bytes)

    def request_id(request: Request) -> str:
        return wire.request_id(request.headers.get("x-request-id"), limits.max_request_id_chars)

    @app.exception_handler(RequestError)
    async def _request_error(request, e: RequestError):
        return _error(str(e), e.status, request_id(request))

    @app.exception_handler(HTTPException)
    async def _http_error(request, e: HTTPException):
        message = f"{e.detail}: check the URL and method against the API in docs/serving.md"
        return _error(message, e.status_code, request_id(request), e.headers)

    @app.exception_handler(Exception)
    async def _internal(request, e: Exception):
        log.exception("internal error")
        return _error(f"internal error: {type(e).__name__}: {e}", 500, request_id(request))

    def version_of(text: str | None) -> int | None:
        return wire.version(text, limits.max_version_digits)

    async def read_body(request: Request) -> bytes:
        limit = cfg.max_body_bytes
        declared = request.headers.get("content-length", "")
        too_big = declared.isascii() and declared.isdigit() and int(declared) > limit
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

    async def serve(request: Request, name: str, version, label, parse, encode) -> Response:
        """Read the body, then let the service route, validate, predict, count and log."""
        started = time.perf_counter()
        rid = request_id(request)
        try:
            target = Target(
                name, version_of(version), label, request.headers.get(cfg.traffic.key_header)
            )
            raw = await read_body(request)
        except RequestError as e:
            service.refused(name, e.status)
            raise
        answer = await service.predict(
            target, rid, lambda servable: parse(raw, request, servable), encode, started
        )
        return _answer(answer, rid)

    # --- TF Serving REST: predict, classify, regress ------------------------------------------
    def parse_predict(raw, _request, servable):
        return parse_tf_serving(
            wire.loads(raw, limits.max_json_depth), servable.contract, limits.max_rows
        )

    def encode_predict(_servable, batch, outputs):
        payload = encode_tf_serving(outputs, batch.columnar)
        return payload, payload.get("predictions", payload.get("outputs"))

    def parse_examples(verb):
        def parse(raw, _request, servable):
            classify.check_task(servable, verb)
            body = wire.loads(raw, limits.max_json_depth)
            return classify.parse_examples(body, servable.contract, limits.max_rows)

        return parse

    def encode_classify(servable, _batch, outputs):
        return classify.classify_result(servable, outputs), _rows(outputs)

    def encode_regress(_servable, _batch, outputs):
        return classify.regress_result(outputs), _rows(outputs)

    verbs = {
        "predict": (parse_predict, encode_predict),
        classify.CLASSIFY: (parse_examples(classify.CLASSIFY), encode_classify),
        classify.REGRESS: (parse_examples(classify.REGRESS), encode_regress),
    }
    for verb, (parse, encode) in verbs.items():
        app.add_api_route(
            f"/v1/models/{{name}}:{verb}", _endpoint(serve, parse, encode), methods=["POST"]
        )
        app.add_api_route(
            f"/v1/models/{{name}}/versions/{{version}}:{verb}",
            _endpoint(serve, parse, encode),
            methods=["POST"],
        )
        app.add_api_route(
            f"/v1/models/{{name}}/labels/{{label}}:{verb}",
            _endpoint(serve, parse, encode),
            methods=["POST"],
        )

    # --- KServe V1 liveness and list, TF Serving status and metadata --------------------------
    @app.get("/")
    async def kserve_live():
        return _json({"status": "alive"})

    @app.get("/v1/models")
    async def list_models():
        return _json({"models": manager.names()})

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        view = service.view(name)
        return _json({**version_status(view), "name": name, "ready": bool(view.servables)})

    @app.get("/v1/models/{name}/versions/{version}")
    async def status_of_version(name: str, version: str):
        view = service.view(name)
        number = version_of(version)
        if number not in view.statuses:
            raise RequestError(f"Servable not found for request: Specific({name}, {number})", 404)
        return _json(version_status(view, number))

    @app.get("/v1/models/{name}/labels/{label}")
    async def status_of_label(name: str, label: str):
        chosen = service.route(Target(name, label=label))
        return _json(version_status(service.view(name), chosen.servable.version))

    @app.get("/v1/models/{name}/metadata")
    async def metadata(name: str):
        return _json(tf_metadata(service.route(Target(name)).servable))

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str):
        return _json(tf_metadata(service.route(Target(name, version_of(version))).servable))

    @app.get("/v1/models/{name}/labels/{label}/metadata")
    async def label_metadata(name: str, label: str):
        return _json(tf_metadata(service.route(Target(name, label=label)).servable))

    @app.get("/v1/models/{name}/versions/{version}/card")
    async def model_card(request: Request, name: str, version: str):
        service.view(name)  # 404 for a model this server does not serve
        fmt = cards.choose_format(request.query_params.get("format"), request.headers.get("accept"))
        number = version_of(version)
        body, media = await asyncio.to_thread(cards.read, cfg.registry, name, number, fmt)
        return Response(body, 200, {"X-Request-Id": request_id(request)}, media)

    # --- KServe V2 (Open Inference Protocol) ------------------------------------------------
    @app.get("/v2")
    async def server_metadata():
        return _json({"name": "kubetfx", "version": "0.1.0", "extensions": ["binary_tensor_data"]})

    @app.get("/v2/health/live")
    async def live():
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready():
        # Ready means the models answer. A degraded request log is reported, not a reason to
        # take every replica out of the load balancer at once (a full disk, a bucket outage).
        ok = manager.ready()
        return _json({"ready": ok, "request_log": request_log.health()}, 200 if ok else 503)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def v2_metadata(request: Request):
        name, version = request.path_params["name"], request.path_params.get("version")
        return _json(v2.metadata(service.route(Target(name, version_of(version))).servable))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_ready(request: Request):
        name, version = request.path_params["name"], request.path_params.get("version")
        view = service.view(name)
        number = version_of(version)
        if number is None:
            ok = bool(view.servables)
        elif number not in view.statuses:
            raise RequestError(f"Servable not found for request: Specific({name}, {number})", 404)
        else:
            ok = number in view.servables
        return _json({"name": name, "ready": ok}, 200 if ok else 503)

    async def infer(request: Request):
        sent = {}  # the parsed V2 request, for its id and the outputs it asks for

        def parse(raw, _request, servable):
            body = v2.parse(
                raw, request.headers.get(v2.HEADER), limits.max_json_depth, limits.max_rows
            )
            v2.check_outputs(body, servable.signatures[SERVING_DEFAULT].structured_outputs)
            sent["body"] = body
            return v2.to_batch(body, servable.features, limits.max_rows)

        def encode(servable, _batch, outputs):
            body = sent["body"]
            rid = body.id if body.id is not None else request_id(request)
            payload = v2.response(rid, servable.name, servable.version, outputs, body.outputs)
            return payload, payload["outputs"]

        params = request.path_params
        return await serve(request, params["name"], params.get("version"), None, parse, encode)

    app.add_api_route("/v2/models/{name}/infer", infer, methods=["POST"])
    app.add_api_route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"])

    # --- Vertex AI custom container: its health and predict paths ($AIP_*_ROUTE) ------------
    if cfg.health_route:
        app.add_api_route(cfg.health_route, ready, methods=["GET"])
    if cfg.predict_route:

        async def vertex_predict(request: Request):
            name = _only_model(cfg, manager)
            return await serve(request, name, None, None, parse_predict, encode_predict)

        app.add_api_route(cfg.predict_route, vertex_predict, methods=["POST"])

    @app.get("/metrics")
    async def prometheus():
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    return app


def _endpoint(serve, parse, encode):
    """A POST route's handler; the URL's parts are read from path_params (FastAPI would take
    an absent one from the query string)."""

    async def endpoint(request: Request):
        params = request.path_params
        return await serve(
            request, params["name"], params.get("version"), params.get("label"), parse, encode
        )

    return endpoint


def _only_model(cfg: ServingConfig, manager: ModelManager) -> str:
    """The model a Vertex predict route serves: Vertex deploys one model per container."""
    names = cfg.models or manager.names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise RequestError("no model is loaded yet", 503)
    raise RequestError(
        f"serving.predict_route serves one model, and this server serves {sorted(names)}: "
        "start it with one --model (serving.models)",
        503,
    )


def _answer(answer: Answer, request_id: str) -> Response:
    headers = {
        "X-Model-Version": str(answer.servable.version),
        "X-Model-Label": answer.label,
        "X-Request-Id": request_id,
    }
    background = BackgroundTask(answer.followup) if answer.followup else None
    return _json(answer.payload, headers=headers, background=background)


def _rows(outputs: dict) -> list:
    """What the request log keeps for classify/regress: the rows :predict would answer."""
    return encode_tf_serving(outputs, columnar=False)["predictions"]


class HeaderLimit:
    """431 for requests whose headers together exceed serving.limits.max_header_bytes."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            size = sum(len(k) + len(v) for k, v in scope["headers"])
            if size > self.max_bytes:
                body = orjson.dumps(
                    {
                        "error": f"the request headers take {size} bytes; at most "
                        f"{self.max_bytes} are accepted (serving.limits.max_header_bytes)"
                    }
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 431,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-request-id", uuid.uuid4().hex.encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
