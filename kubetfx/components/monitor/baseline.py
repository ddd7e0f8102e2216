"""What serving traffic is compared with: the champion's schema, training statistics and
evaluation-time metrics, found from the model registry.

The registry's metadata of the champion version names the run that pushed it, and (when the
pusher records them) its artifacts. Skew is measured against the train statistics recorded
there (`artifacts.statistics`), else the ones that run's validate step set in the reference
store's history (with the run name); the reference schema is the one every run validated
against. Evaluation metrics are the run's `metrics.json` (evaluate), found through
the registry metadata's `artifacts.evaluation` when the pusher records it, else in a local
pipeline root's layout ({pipeline_root}/{run}/evaluate/evaluation).
"""

from __future__ import annotations

import dataclasses
import json

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import METRICS_FILE
from kubetfx.components.reference import HISTORY_FILE, ReferenceStore
from kubetfx.components.registry import ModelRegistry


@dataclasses.dataclass(frozen=True)
class Baseline:
    model: str
    version: int | None
    run: str | None
    schema_path: str | None
    training_statistics: str | None
    evaluation_metrics: str | None
    notes: tuple[str, ...] = ()

    def eval_metrics(self) -> dict:
        """{slice: {metric: value}} of the champion at evaluation time, or {}."""
        if not self.evaluation_metrics:
            return {}
        return json.loads(fileio.read_text(self.evaluation_metrics)).get("candidate", {})


def _statistics_of_run(store: ReferenceStore, run: str | None) -> str | None:
    """The train statistics that run `run` set in the reference store (its history)."""
    history = fileio.join(store.directory, HISTORY_FILE)
    if not run or not fileio.exists(history):
        return None
    for line in reversed(fileio.read_text(history).splitlines()):
        entry = json.loads(line)
        if entry.get("set") == "statistics" and entry.get("run") == run:
            return entry["from"] if fileio.exists(entry["from"]) else None
    return None


def _evaluation_of_run(cfg: PipelineConfig, metadata: dict, run: str | None) -> str | None:
    recorded = (metadata.get("artifacts") or {}).get("evaluation")
    candidates = [fileio.join(recorded, METRICS_FILE)] if recorded else []
    if run:
        candidates.append(
            fileio.join(cfg.pipeline_root, run, "evaluate", "evaluation", METRICS_FILE)
        )
    return next((path for path in candidates if fileio.exists(path)), None)


def resolve(cfg: PipelineConfig) -> Baseline:
    """The champion's baseline; what cannot be found is None, with a note saying why."""
    model = cfg.push.model_name or cfg.data.name
    registry = ModelRegistry(cfg.serving.registry or cfg.push.registry, model)
    store = ReferenceStore(cfg.reference_root, cfg.data.name)
    champion = registry.champion()
    notes = []
    version = champion["version"] if champion else None
    metadata = registry.metadata(version) if champion else {}
    run = metadata.get("run")
    if champion is None:
        notes.append(f"no champion for {model!r} in {registry.root}: no skew or eval baseline")
    recorded = (metadata.get("artifacts") or {}).get("statistics")
    statistics = cfg.monitor.training_statistics or recorded or _statistics_of_run(store, run)
    if statistics is None and champion is not None:
        notes.append(
            f"the training statistics of run {run!r} are not in {store.directory}/{HISTORY_FILE}; "
            "skew is not measured (set monitor.training_statistics)"
        )
    evaluation = _evaluation_of_run(cfg, metadata, run)
    if evaluation is None and champion is not None:
        notes.append(f"no evaluation metrics found for run {run!r}: live quality has no baseline")
    schema = store.schema_path if store.has_schema() else None
    if schema is None:
        notes.append(f"no reference schema in {store.directory}: inferred from the windows")
    return Baseline(model, version, run, schema, statistics, evaluation, tuple(notes))
