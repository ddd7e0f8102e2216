"""The input contract a model carries to the server: its SERVING-environment features.

Train writes it next to the SavedModel as `assets.extra/serving_schema.json` (TF Serving's
loader ignores `assets.extra/`, and the registry copies it with the model). The server reads
it to validate requests before they reach TensorFlow; it has no tensorflow-metadata, hence
JSON rather than the schema proto. A SavedModel without the file is still served, with the
contract read off its `serving_default` signature (every feature optional).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from kubetfx.components import fileio

CONTRACT_FILE = "assets.extra/serving_schema.json"
Kind = Literal["int", "float", "string"]


@dataclasses.dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    # Required: the schema says every serving example has a value (presence 1.0), so a null
    # is rejected instead of being imputed.
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Contract:
    features: list[Feature]
    # In the schema but not served (the label): a request may carry them; they are dropped.
    ignored: frozenset[str] = frozenset()


def from_schema(schema, label: str | None) -> Contract:
    """The features a SERVING request carries, from a tensorflow-metadata Schema proto."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "string"}
    features, ignored = [], set()
    for feature in schema.feature:
        deprecated = feature.lifecycle_stage == schema_pb2.DEPRECATED  # not a model input
        if feature.name == label or deprecated or not _in_serving(feature, schema):
            ignored.add(feature.name)
            continue
        required = feature.presence.min_fraction >= 1.0
        features.append(Feature(feature.name, kinds[feature.type], required))
    return Contract(sorted(features, key=lambda f: f.name), frozenset(ignored))


def _in_serving(feature, schema) -> bool:
    if "SERVING" in feature.not_in_environment:
        return False
    if feature.in_environment:
        return "SERVING" in feature.in_environment
    return not schema.default_environment or "SERVING" in schema.default_environment


def write(contract: Contract, model_dir: str) -> None:
    body = {
        "features": [dataclasses.asdict(f) for f in contract.features],
        "ignored": sorted(contract.ignored),
    }
    fileio.write_text(fileio.join(model_dir, CONTRACT_FILE), json.dumps(body, indent=2))


def read(model_dir: str) -> Contract | None:
    path = fileio.join(model_dir, CONTRACT_FILE)
    if not fileio.exists(path):
        return None
    body = json.loads(fileio.read_text(path))
    return Contract([Feature(**f) for f in body["features"]], frozenset(body.get("ignored", [])))
