"""GET /v1/models/{m}/versions/{v}/card: the model card push wrote into a version.

The card is read from the registry, so it is there for every complete version of a served
model, loaded or not (the version policy may keep only the newest loaded). JSON (the Model
Card Toolkit's schema) by default; `?format=html` or `md`, or an `Accept: text/html` header
without a format, for the page or the Markdown.
"""

from __future__ import annotations

from kubetfx.components import fileio
from kubetfx.components.registry import CARD_FORMATS, SAVED_MODEL, ModelRegistry
from kubetfx.errors import RequestError


def choose_format(query: str | None, accept: str | None) -> str:
    """The card's format from `?format=` (json, html or md), else the Accept header."""
    if query is not None:
        if query not in CARD_FORMATS:
            raise RequestError(
                f"format must be one of {sorted(CARD_FORMATS)}, got {query[:40]!r}", 400
            )
        return query
    return "html" if "text/html" in (accept or "") else "json"


def read(registry_root: str, model: str, version: int, fmt: str) -> tuple[bytes, str]:
    """(the card's bytes, its media type); 404 for a version not in the registry or one
    pushed without a card."""
    registry = ModelRegistry(registry_root, model)
    if not fileio.exists(fileio.join(registry.version_dir(version), SAVED_MODEL)):
        raise RequestError(f"version {version} of model {model!r} is not in the registry", 404)
    path = registry.card_path(version, fmt)
    if not fileio.exists(path):
        raise RequestError(
            f"version {version} of model {model!r} has no model card: it was pushed before "
            "push wrote cards (or by hand); push the model again to get one",
            404,
        )
    return fileio.read_bytes(path), CARD_FORMATS[fmt]
