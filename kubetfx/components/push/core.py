"""Pusher: copy a model into the registry only when it has both blessings; else nothing.

The model blessing comes from evaluate (quality, fairness, behavior, the champion gate), the
infra blessing from infra_validate (the real server loads it and answers like the model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from kubetfx.components.contracts import read_blessing, read_infra_blessing
from kubetfx.components.registry import ModelRegistry


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushed: bool
    version: int | None
    path: str | None
    reason: str
    champion: bool = False
    deployed: str = ""  # where push.destination serves it (empty for the registry only)


def run(
    model_dir: str,
    blessing_uri: str,
    infra_blessing_uri: str,
    registry: ModelRegistry,
    metadata: dict,
    promote: bool = True,
    deploy: Callable[[ModelRegistry, int], str] | None = None,
) -> PushResult:
    """Push a doubly blessed model. Otherwise the registry and the champion are untouched.

    `deploy(registry, version)` (push.destination) runs after the version is in the registry and
    before it becomes the champion: if it raises, the previous model keeps serving, the
    champion stays, and the version remains in the registry as a challenger.
    """
    blessing = read_blessing(blessing_uri)
    infra = read_infra_blessing(infra_blessing_uri)
    if not blessing.blessed:
        return PushResult(False, None, None, "not blessed: " + "; ".join(blessing.reasons))
    if not infra.blessed:
        return PushResult(False, None, None, "not infra-blessed: " + "; ".join(infra.reasons))
    record = {**metadata, "blessing": blessing.reasons, "infra_blessing": infra.reasons}
    version = registry.push(model_dir, record, make_champion=False)
    deployed = deploy(registry, version) if deploy is not None else ""
    if promote:
        registry.set_champion(version)
    role = "the champion" if promote else "a challenger (push.promote is false)"
    return PushResult(
        True,
        version,
        registry.version_dir(version),
        f"blessed and infra-blessed, pushed as {role}: " + "; ".join(blessing.reasons),
        promote,
        deployed,
    )
