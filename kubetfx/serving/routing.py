"""Which loaded version answers a request: explicit version, label, or the traffic split."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Callable

from kubetfx.components.config import TrafficConfig
from kubetfx.errors import RequestError
from kubetfx.serving.models import ModelView, Servable
from kubetfx.serving.wire import show

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclasses.dataclass(frozen=True)
class Route:
    servable: Servable
    label: str  # champion, challenger, or "" for a version that carries no label
    shadow: Servable | None = None  # gets a copy of the request; its answer is only logged


def to_challenger(percent: float, key: str | None, rand: Callable[[], float]) -> bool:
    """The canary draw. With a key the draw is its hash, so a key always lands the same way."""
    if percent <= 0:
        return False
    if key is None:
        point = rand() * 100
    else:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64 * 100
    return point < percent


def route(
    view: ModelView,
    traffic: TrafficConfig,
    version: int | None = None,
    label: str | None = None,
    key: str | None = None,
    rand: Callable[[], float] = random.random,
) -> Route:
    name = view.name
    if version is not None:
        servable = view.servables.get(version)
        if servable is None:
            raise RequestError(f"Servable not found for request: Specific({name}, {version})", 404)
        return Route(servable, _label_of(view, version))
    if label is not None:
        target = {CHAMPION: view.champion, CHALLENGER: view.challenger}.get(label)
        if label not in (CHAMPION, CHALLENGER):
            raise RequestError(
                f"Unrecognized servable version label: {show(label)} (use {CHAMPION!r} or "
                f"{CHALLENGER!r})",
                404,
            )
        if target is None:
            raise RequestError(f"model {name!r} has no version labelled {label!r} now", 404)
        return Route(view.servables[target], label)
    if view.champion is None:  # no champion pointer: TF Serving's default, the newest version
        latest = view.latest()
        if latest is None:
            raise RequestError(f"model {name!r} has no version loaded yet", 503)
        return Route(latest, _label_of(view, latest.version))
    champion = view.servables[view.champion]
    if view.challenger is None or not to_challenger(traffic.challenger_percent, key, rand):
        return Route(champion, CHAMPION)
    challenger = view.servables[view.challenger]
    if traffic.mode == "shadow":
        return Route(champion, CHAMPION, shadow=challenger)
    return Route(challenger, CHALLENGER)


def _label_of(view: ModelView, version: int) -> str:
    if version == view.champion:
        return CHAMPION
    return CHALLENGER if version == view.challenger else ""
