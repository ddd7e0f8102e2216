"""infra_validate's config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kubetfx.components.config_base import Section

# Where the candidate is served (TFX InfraValidator's serving platforms). `auto` is resolved
# per compile target (kubetfx/pipelines/targets.py: pipeline_config): kubernetes on Kubeflow,
# vertex on Vertex AI, docker for a local run with runner 'docker', subprocess otherwise.
Mode = Literal["auto", "subprocess", "docker", "kubernetes", "vertex"]


class InfraValidateConfig(Section):
    """InfraValidator: serve the candidate in the real model server before it is pushed."""

    mode: Mode = Field(
        "auto",
        description="Where the candidate is served: 'docker' starts images.server in a container "
        "of the engine at DOCKER_HOST; 'kubernetes' runs images.server as a pod next to the step, "
        "which fetches the candidate from the step over the pod network "
        "(RBAC: infra/k8s/rbac/infra-validator.yaml); 'vertex' deploys it to a temporary Vertex "
        "AI endpoint with the image a push would deploy (Vertex's TF Serving image for "
        "push.destination 'vertex', else images.server), then deletes both; 'subprocess' runs "
        "the server from its Python environment (server_python). 'auto': kubernetes on "
        "Kubeflow, vertex on Vertex AI, docker for a local run with runner 'docker', "
        "subprocess otherwise (venv runs).",
    )
    ready_timeout_seconds: float = Field(
        180.0, gt=0, description="How long the server may take to start and load the model."
    )
    examples: int = Field(32, ge=1, description="Eval examples sent to the server.")
    atol: float = Field(
        1e-6, ge=0, description="Allowed absolute difference from the in-process predictions."
    )
    server_python: str | None = Field(
        None,
        description="Mode 'subprocess': Python of the model server environment. Default: "
        "$KUBETFX_SERVING_PYTHON, else .venv-serving/bin/python in the source tree "
        "(`make serving-setup`).",
    )
    namespace: str | None = Field(
        None,
        description="Mode 'kubernetes': namespace of the server pod. Default: the step's own.",
    )
    service_account: str | None = Field(
        None,
        description="Mode 'kubernetes': service account of the server pod (e.g. for image pull "
        "secrets; the pod gets no API token). Default: the namespace's default.",
    )
