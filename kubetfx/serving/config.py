"""The model server's config (the `serving` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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


class RequestLogConfig(Section):
    dir: str = Field("./serving_logs", description="JSONL request logs, local or gs://.")
    sample_rate: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of requests logged.")


class ServingConfig(Section):
    """The model server: a KServe model server speaking TF Serving's REST API."""

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8501, ge=1, le=65535)
    registry: str | None = Field(None, description="Default: push.registry.")
    models: list[str] = Field(
        default_factory=list, description="Model names to serve. Default: all in the registry."
    )
    version_policy: VersionPolicy = Field(default_factory=VersionPolicy)
    labels: ServingLabels = Field(default_factory=ServingLabels)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    request_log: RequestLogConfig = Field(default_factory=RequestLogConfig)
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Larger request bodies get 413.")
    poll_seconds: float = Field(1.0, gt=0, description="How often the registry is polled.")
    threads: int = Field(4, ge=1, le=64, description="TensorFlow calls in flight at once.")
