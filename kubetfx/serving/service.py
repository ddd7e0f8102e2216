"""The transport-free half of the model server: one prediction, from a target to an answer.

`PredictionService.predict(target, request_id, parse, encode)` routes the request (version,
label or the canary/shadow split), validates it (`parse`, the front's body -> `Batch`), runs
the model off the event loop, counts it (Prometheus, labels bounded to what is served) and
returns the answer (`encode`, the front's outputs -> payload) with a follow-up to run once
the answer is sent: the request log record and the shadow copy. The REST front (server.py)
is one user; a gRPC front builds the same `Target` from a ModelSpec and passes its own
parse/encode, and gets the same validation, routing, logging and metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubetfx.components.config import ServingConfig
from kubetfx.errors import RequestError
from kubetfx.serving import routing
from kubetfx.serving.batching import Batcher
from kubetfx.serving.logs import RequestLog, now
from kubetfx.serving.metrics import Metrics
from kubetfx.serving.models import END, ModelManager, ModelView, Servable
from kubetfx.serving.requests import Batch
from kubetfx.serving.wire import show

log = logging.getLogger("kubetfx.serving")

# The front's request -> Batch (it may refuse with a RequestError), and the model's outputs ->
# (the answer, the predictions the request log keeps).
Parse = Callable[[Servable], Batch]
Encode = Callable[[Servable, Batch, dict], tuple[Any, Any]]


@dataclasses.dataclass(frozen=True)
class Target:
    """What a request asks for, however it arrived (a REST path, a gRPC ModelSpec)."""

    model: str
    version: int | None = None
    label: str | None = None
    routing_key: str | None = None  # the canary draw's sticky key (X-Routing-Key)


@dataclasses.dataclass(frozen=True)
class Answer:
    servable: Servable
    label: str  # champion, challenger or ""
    payload: Any
    followup: Callable[[], Awaitable[None]] | None  # run after the answer is sent


class PredictionService:
    def __init__(self, cfg: ServingConfig, manager: ModelManager, request_log: RequestLog):
        self.cfg, self.manager, self.request_log = cfg, manager, request_log
        self.metrics = Metrics(manager, request_log)
        # TensorFlow calls run off the event loop (health checks and new requests keep
        # flowing) on a plain executor: measured cheaper per call than anyio's thread pool.
        self.executor = ThreadPoolExecutor(cfg.threads, thread_name_prefix="predict")
        batching = cfg.batching
        self.batcher = (
            Batcher(
                self._call_model,
                batching.max_batch_size,
                batching.timeout_ms,
                batching.max_enqueued_batches,
                batching.max_in_flight,
            )
            if batching.enabled
            else None
        )

    def close(self) -> None:
        self.executor.shutdown(wait=True)

    def view(self, name: str) -> ModelView:
        view = self.manager.view(name)
        if view is None:
            raise RequestError(f"Could not find any versions of model {show(name)}", 404)
        return view

    def route(self, target: Target) -> routing.Route:
        return routing.route(
            self.view(target.model),
            self.cfg.traffic,
            target.version,
            target.label,
            target.routing_key,
        )

    def refused(self, model: str, status: int) -> None:
        """Count a refusal that happened before predict() (a body too large, a bad URL)."""
        self.metrics.error(model, status)

    async def predict(
        self,
        target: Target,
        request_id: str,
        parse: Parse,
        encode: Encode,
        started: float | None = None,
    ) -> Answer:
        start = time.perf_counter() if started is None else started
        try:
            chosen = self.route(target)
            servable = chosen.servable
            batch = parse(servable)
            if batch.signature not in servable.signatures:
                raise RequestError(
                    f"version {servable.version} has no signature {batch.signature!r}"
                )
            outputs = await self.run_model(servable, batch)
            payload, logged = encode(servable, batch, outputs)
        except RequestError as e:
            self.metrics.error(target.model, e.status)
            raise
        except Exception:  # a bug: counted, then answered 500 by the front
            self.metrics.error(target.model, 500)
            raise
        seconds = time.perf_counter() - start
        self.metrics.observe(servable.name, servable.version, chosen.label, batch.size, seconds)
        followup = None
        if self.request_log.sampled():  # logged (and shadowed) after the answer is sent
            ts = now()

            async def followup() -> None:
                self.request_log.write(
                    _record(
                        request_id, servable, chosen.label, "served", batch, logged, seconds, ts
                    )
                )
                if chosen.shadow is not None:
                    await self._shadow(request_id, chosen.shadow, batch, encode)

        return Answer(servable, chosen.label, payload, followup)

    async def run_model(self, servable: Servable, batch: Batch) -> dict:
        key = _CallKey(servable.name, servable.version, batch.signature, servable)
        if self.batcher is None:
            return await self._call_model(key, batch.inputs)
        return await self.batcher.call(key, batch.inputs, batch.size)

    async def _call_model(self, key: _CallKey, inputs: dict) -> dict:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _call, key.servable, key.signature, inputs)

    async def _shadow(self, request_id: str, servable: Servable, batch: Batch, encode) -> None:
        start = time.perf_counter()
        try:
            outputs = await self.run_model(servable, batch)
            _, logged = encode(servable, batch, outputs)
        except Exception as e:  # the challenger failed what the champion answered: log it
            if not isinstance(e, RequestError):  # not the request's fault: say so loudly
                log.exception(
                    "shadow call to %s version %s failed", servable.name, servable.version
                )
            record = _record(request_id, servable, "challenger", "shadow", batch, None, 0, now())
            self.request_log.write({**record, "error": str(e) or type(e).__name__})
            return
        seconds = time.perf_counter() - start
        self.request_log.write(
            _record(request_id, servable, "challenger", "shadow", batch, logged, seconds, now())
        )


@dataclasses.dataclass(frozen=True)
class _CallKey:
    """Which requests may share a model call: the same version and signature."""

    model: str
    version: int
    signature: str
    servable: Servable = dataclasses.field(compare=False, hash=False)


def _call(servable: Servable, signature: str, inputs: dict) -> dict:
    import tensorflow as tf

    try:
        return servable.predict(signature, inputs)
    except tf.errors.InvalidArgumentError as e:  # e.g. a tf.Example of the wrong shape
        raise RequestError(e.message.splitlines()[0]) from e


def _record(request_id, servable, label, role, batch: Batch, predictions, seconds, ts) -> dict:
    return {
        "ts": ts,
        "request_id": request_id,
        "model": servable.name,
        "version": servable.version,
        "label": label,
        "role": role,
        "signature": batch.signature,
        "features": batch.rows(),
        "predictions": predictions,
        "latency_ms": round(seconds * 1000, 3),
    }


# --- status and metadata, shared by every front ---------------------------------------------
def version_status(view: ModelView, only: int | None = None) -> dict:
    """TF Serving's GetModelStatus answer: every version's state (or only one's)."""
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


SIGNATURE_DEF_MAP = "type.googleapis.com/tensorflow.serving.SignatureDefMap"


def tf_metadata(servable: Servable) -> dict:
    """TF Serving's GetModelMetadataResponse in its JSON form (`json_format.Parse` reads it):
    the `signature_def` map value is a google.protobuf.Any, hence its "@type"."""
    return {
        "model_spec": {
            "name": servable.name,
            "signature_name": "",
            "version": str(servable.version),
        },
        "metadata": {
            "signature_def": {
                "@type": SIGNATURE_DEF_MAP,
                "signature_def": servable.signature_defs(),
            }
        },
    }
