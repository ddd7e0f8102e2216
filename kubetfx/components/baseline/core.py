"""Baseline: what this run compares with, resolved when the run starts, so that the pipeline
can import it (dsl.importer) and the run's lineage graph shows it as an input.

- the champion: the registry's current champion version (evaluate's baseline model);
- the reference schema: the dataset's curated schema in the reference store (the schema step
  imports it instead of inferring one).

Their locations are only known at run time (a push or a `kubetfx reference reset` between two
runs moves them), so a step looks them up and the importers take its answers. When there is
none (the first run of a dataset or a model), the answer is the URI of an empty directory
holding only a NO_BASELINE marker (`contracts.baseline_location` reads it as none): KFP's
importer refuses an empty URI, and a marker keeps one pipeline shape for every run instead of
branching (kfp.local runs no dsl.If).
"""

from __future__ import annotations

import dataclasses
import json

from kubetfx.components import fileio
from kubetfx.components.contracts import NO_BASELINE_FILE
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.registry import ModelRegistry

RESULT_FILE = "baseline.json"
NONE_DIR = "none"  # under the step's output: the "none" marker directory


@dataclasses.dataclass(frozen=True)
class Baselines:
    champion: str | None  # the champion version's directory in the registry
    champion_version: int | None
    reference_schema: str | None  # the reference store directory holding schema.pbtxt

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def resolve(*, registry: ModelRegistry, reference: ReferenceStore) -> Baselines:
    """The champion and the reference schema as they are now (None where there is none)."""
    champion = registry.champion()
    version = champion["version"] if champion else None
    return Baselines(
        champion=registry.version_dir(version) if version is not None else None,
        champion_version=version,
        reference_schema=reference.directory if reference.has_schema() else None,
    )


def run(*, registry: ModelRegistry, reference: ReferenceStore, output_uri: str, output_path: str):
    """Resolve the baselines, record them in the step's output and return the URIs the
    importers take: (champion, reference_schema), the "none" marker directory for a missing
    one. `output_uri` is the output artifact's URI (gs://... on a cluster), `output_path`
    where this process writes it (the same locally, a mount or local copy on a cluster)."""
    found = resolve(registry=registry, reference=reference)
    fileio.write_text(fileio.join(output_path, RESULT_FILE), found.to_json())
    fileio.write_text(
        fileio.join(output_path, NONE_DIR, NO_BASELINE_FILE),
        "Nothing to compare with: imported in place of a missing champion or reference.\n",
    )
    none = fileio.join(output_uri, NONE_DIR)
    return found, (found.champion or none, found.reference_schema or none)
