"""notify's config."""

from __future__ import annotations

from pydantic import Field

from kubetfx.components.config_base import Section


class NotifyConfig(Section):
    """The run's final status, posted to a webhook by an exit handler step (cluster targets)."""

    secret: str | None = Field(
        None,
        description="Where the webhook URL is kept, never in this config (the Kubeflow UI and "
        "Vertex show it): on Kubeflow a Kubernetes Secret of the run's namespace, on Vertex AI "
        "a Secret Manager secret (a name in vertex.project, or projects/P/secrets/S). Unset: "
        "no exit handler.",
    )
    secret_key: str = Field("url", description="Kubeflow: the Secret's key holding the URL.")
