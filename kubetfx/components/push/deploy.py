"""Serving targets beyond the registry (push.destination): deploy after a push, promote, roll back.

`target_for(cfg)` is the push step's deployer (None for 'local'); `kubetfx promote` and
`kubetfx rollback` call `plan` then `apply` (a dry run prints the plan only).
"""

from __future__ import annotations

from typing import Literal

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError

Action = Literal["promote", "rollback"]


def target_for(
    cfg: PipelineConfig, target: str | None = None, kube=None, sdk=None, credentials=None
):
    """The KServeTarget or VertexTarget of `target` (default push.destination), or None for 'local'.

    `kube` (kubetfx.components.k8s.Kube), `sdk` (google.cloud.aiplatform) and `credentials` are
    injectable; by default they are made when needed.
    """
    target = target or cfg.push.destination
    if target == "kserve":
        from kubetfx.components.push.kserve import KServeTarget

        return KServeTarget(cfg, kube)
    if target == "vertex":
        from kubetfx.components.push.vertex import VertexTarget

        return VertexTarget(cfg, sdk, credentials)
    if target == "local":
        return None
    raise ConfigError(f"--target: expected kserve or vertex, got {target!r}")
