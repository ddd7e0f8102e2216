"""infra_validate's config."""

from __future__ import annotations

from pydantic import Field

from kubetfx.components.config_base import Section


class InfraValidateConfig(Section):
    """InfraValidator: serve the candidate in the real model server before it is pushed."""

    ready_timeout_seconds: float = Field(
        180.0, gt=0, description="How long the server may take to start and load the model."
    )
    examples: int = Field(32, ge=1, description="Eval examples sent to the server.")
    atol: float = Field(
        1e-6, ge=0, description="Allowed absolute difference from the in-process predictions."
    )
    server_python: str | None = Field(
        None,
        description="Python of the model server environment. Default: $KUBETFX_SERVING_PYTHON, "
        "else .venv-serving/bin/python in the source tree (`make serving-setup`).",
    )
