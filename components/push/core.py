"""Pusher: copy a blessed model into the registry and make it the champion; else nothing."""

from __future__ import annotations

import dataclasses

from components.evaluate.core import read_blessing
from components.push.registry import ModelRegistry


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushed: bool
    version: int | None
    path: str | None
    reason: str


def run(model_dir: str, blessing_uri: str, registry: ModelRegistry, metadata: dict) -> PushResult:
    """Push only a blessed model. Not blessed: the registry and the champion are untouched."""
    blessing = read_blessing(blessing_uri)
    if not blessing.blessed:
        return PushResult(False, None, None, "not blessed: " + "; ".join(blessing.reasons))
    version = registry.push(model_dir, {**metadata, "blessing": blessing.reasons})
    return PushResult(
        True, version, registry.version_dir(version), "blessed: " + "; ".join(blessing.reasons)
    )
