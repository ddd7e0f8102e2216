"""The model server's config (the `serving` section)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kubetfx.components.config_base import Section


class VersionPolicy(Section):
    """Which versions the server loads (TF Serving's model_version_policy)."""

    latest: int | None = Field(1, ge=1, description="Serve the newest N complete versions.")
    specific: list[int] | None = Field(None, description="Serve exactly these versions.")

    @model_validator(mode="after")
    def _one_policy(self) -> VersionPolicy:
        if self.specific is not None:
            if not self.specific:
                raise ValueError("serving.version_policy.specific needs at least one version")
            object.__setattr__(self, "latest", None)
        elif self.latest is None:
            raise ValueError("serving.version_policy needs 'latest: N' or 'specific: [versions]'")
        return self


class ServingLabels(Section):
    """Version labels; labelled versions are loaded in addition to the version policy."""

    champion: int | Literal["registry"] = Field(
        "registry", description="'registry': the registry's champion pointer; or a version."
    )
    challenger: int | Literal["latest", "none"] = Field(
        "latest", description="'latest': the newest version that is not the champion."
    )


class TrafficConfig(Section):
    """How unversioned requests are split between the champion and the challenger."""

    challenger_percent: float = Field(
        0.0, ge=0.0, le=100.0, description="Share of requests for the challenger."
    )
    mode: Literal["canary", "shadow"] = Field(
        "canary",
        description="canary: the challenger answers its share; shadow: the champion answers "
        "every request and the challenger gets a copy of its share, logged only.",
    )
    key_header: str = Field(
        "X-Routing-Key",
        description="Requests carrying this header are assigned by its hash (sticky).",
    )


# A BigQuery table: project.dataset.table (project ids may hold '-' and a domain's ':').
_BQ_TABLE_RE = re.compile(
    r"^[a-z][a-z0-9.:-]{3,}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_-]{1,1024}$"
)
# The event sink's Service in infra/k8s/kserve/event-sink.yaml.
DEFAULT_SINK_URL = "http://kubetfx-event-sink.kubetfx-serving.svc.cluster.local"


class RequestLogConfig(Section):
    """The served traffic `kubetfx monitor` reads, and how the serving targets log it."""

    dir: str = Field(
        "./serving_logs",
        description="JSONL request logs (the model server's) and KServe logger events (the "
        "event sink's), local or gs://.",
    )
    source: Literal["jsonl", "kserve", "vertex_bigquery"] = Field(
        "jsonl",
        description="What `kubetfx monitor` reads: 'jsonl' the model server's request log "
        "under dir; 'kserve' KServe logger CloudEvents stored by the event sink under dir; "
        "'vertex_bigquery' the Vertex AI endpoint's request-response table (bigquery_table).",
    )
    bigquery_table: str | None = Field(
        None,
        description="project.dataset.table of Vertex AI request-response logging. Set, a "
        "Vertex push creates its endpoint logging sample_rate of the requests there; source "
        "'vertex_bigquery' reads it.",
    )
    kserve_logger_url: str | None = Field(
        DEFAULT_SINK_URL,
        description="Where KServe's request logger posts CloudEvents (the event sink, "
        "`python -m kubetfx.serving.event_sink`); set on InferenceServices with the "
        "'tensorflow' predictor. null: no logger.",
    )
    kserve_service: str | None = Field(
        None,
        description="InferenceService whose events source 'kserve' reads (the sink files them "
        "by its name). Default: the model name with '_' as '-' (push.kserve.name's default).",
    )
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of requests logged.")
    max_queue: int = Field(
        10_000,
        ge=1,
        description="Records waiting for the writer; when full, the newest is dropped "
        "(and counted as queue_full).",
    )
    degraded_seconds: float = Field(
        300.0, gt=0, description="/v2/health/ready reports the log degraded this long after a loss."
    )

    @field_validator("bigquery_table")
    @classmethod
    def _check_table(cls, value: str | None) -> str | None:
        if value is not None and not _BQ_TABLE_RE.match(value.removeprefix("bq://")):
            raise ValueError(
                "expected a BigQuery table as project.dataset.table (e.g. "
                f"my-project.serving_logs.penguins), got {value!r}"
            )
        return None if value is None else value.removeprefix("bq://")

    @field_validator("kserve_logger_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL or null, got {value!r}")
        return value

    @model_validator(mode="after")
    def _source_needs_table(self) -> RequestLogConfig:
        if self.source == "vertex_bigquery" and not self.bigquery_table:
            raise ValueError(
                "serving.request_log.source 'vertex_bigquery' reads the table in "
                "serving.request_log.bigquery_table: set it to project.dataset.table"
            )
        return self


class LimitsConfig(Section):
    """What one request may hold. Past a limit the answer is a 4xx that names it."""

    max_json_depth: int = Field(
        32, ge=4, le=1000, description="Nesting of a JSON body (lists and objects)."
    )
    max_rows: int = Field(10_000, ge=1, description="Examples in one request.")
    max_version_digits: int = Field(
        19, ge=1, le=19, description="ASCII digits of a version in a URL (int64: 19)."
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, description="All request headers together; more gets 431."
    )
    max_request_id_chars: int = Field(
        128,
        ge=8,
        le=1024,
        description="A longer X-Request-Id, or one that is not visible ASCII, is replaced.",
    )


class BatchingConfig(Section):
    """Dynamic batching (TF Serving's batching parameters): requests for the same version and
    signature that arrive together share one model call (kubetfx/serving/batching.py)."""

    enabled: bool = Field(True, description="Batch concurrent requests into one model call.")
    max_batch_size: int = Field(64, ge=1, description="Rows in one model call at most.")
    timeout_ms: float = Field(
        2.0, ge=0.0, description="Longest a batch waits for more requests after its first."
    )
    max_enqueued_batches: int = Field(
        64, ge=1, description="Batches waiting per version and signature; more gets 503."
    )
    max_in_flight: int = Field(
        1,
        ge=0,
        description="A batch starts at once while fewer of its queue's batches run (a lone "
        "request never waits); 0: always wait for a full batch or the timeout.",
    )


class ServingConfig(Section):
    """The model server: a KServe model server speaking TF Serving's REST API."""

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8501, ge=1, le=65535)
    grpc_port: int = Field(
        8500,
        ge=0,
        le=65535,
        description="gRPC (TF Serving's PredictionService and ModelService, KServe V2); 0: off.",
    )
    registry: str | None = Field(None, description="Default: push.registry.")
    models: list[str] = Field(
        default_factory=list, description="Model names to serve. Default: all in the registry."
    )
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)
    labels: ServingLabels = Field(default_factory=ServingLabels)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    request_log: RequestLogConfig = Field(default_factory=RequestLogConfig)
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies get 413.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    poll_seconds: float = Field(1.0, gt=0, description="How often the registry is polled.")
    threads: int = Field(4, ge=1, le=64, description="TensorFlow calls in flight at once.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    health_route: str | None = Field(
        None,
        description="Another path answering like /v2/health/ready (Vertex AI sets "
        "$AIP_HEALTH_ROUTE for a custom container; the server reads it at start).",
    )
    predict_route: str | None = Field(
        None,
        description="Another path answering POST {'instances': [...]} with {'predictions': "
        "[...]} for the one served model (Vertex AI's $AIP_PREDICT_ROUTE).",
    )

    @field_validator("health_route", "predict_route")
    @classmethod
    def _check_route(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"expected a URL path starting with '/', got {value!r}")
        return value
