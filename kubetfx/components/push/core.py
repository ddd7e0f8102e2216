"""Pusher: copy a model into the registry only when it has both blessings; else nothing.

The model blessing comes from evaluate (quality, fairness, behavior, the champion gate), the
infra blessing from infra_validate (the real server loads it and answers like the model).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import (
    headline,
    read_blessing,
    read_examples,
    read_infra_blessing,
    read_ingest,
    read_metrics,
    read_tuned,
)
from kubetfx.components.registry import ModelRegistry, model_digest

RESULT_FILE = "push.json"


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushed: bool
    version: int | None
    path: str | None
    reason: str
    champion: bool = False
    deployed: str = ""  # where push.destination serves it (empty for the registry only)
    vertex_model: str = ""  # push.destination 'vertex': the uploaded version's resource name
    vertex_endpoint: str = ""  # and the endpoint it was deployed to

    def metadata(self, destination: str) -> dict:
        """The pushed_model artifact's metadata (what the Kubeflow UI shows)."""
        return {
            "pushed": self.pushed,
            "version": self.version or -1,
            "registry_path": self.path or "",
            "reason": self.reason,
            "champion": self.champion,
            "destination": destination,
            "deployed": self.deployed,
        }


def run_from_artifacts(
    *,
    cfg: PipelineConfig,
    run_name: str,
    model_dir: str,
    blessing_uri: str,
    infra_blessing_uri: str,
    evaluation_uri: str,
    examples_uri: str,
    output_uri: str,
    card_path: str | None = None,
    target=False,
    tuned_uri: str | None = None,
) -> PushResult:
    """The push step on its artifacts: the registry record says where the model came from
    (run, data fingerprint, headline metrics); push.destination deploys it (through `target`
    when given: a KServeTarget or VertexTarget with its client, or None for the registry).

    Every pushed version carries its model card (model_card.py), written inside the version
    so that it appears with it; `card_path` (the step's HTML artifact) gets the card's HTML:
    the pushed version's, the registry's for a model already there, else the candidate's
    with the reason nothing was pushed. `tuned_uri`: the tune step's result, when one ran."""
    from kubetfx.components.push import model_card
    from kubetfx.components.push.deploy import target_for

    if target is False:
        target = target_for(cfg)  # None: the registry only (push.destination 'local')
    data = read_ingest(examples_uri)
    metrics = read_metrics(evaluation_uri)
    facts = model_card.read_facts(
        cfg=cfg, run_name=run_name, model_dir=model_dir, ingest=data, metrics=metrics,
        blessing=read_blessing(blessing_uri), infra=read_infra_blessing(infra_blessing_uri),
        best_hyperparameters=read_tuned(tuned_uri) if tuned_uri else None,
    )  # fmt: skip
    card = model_card.VersionCard(facts, datetime.datetime.now(datetime.UTC).date().isoformat())
    if hasattr(target, "evaluation"):  # Vertex: imported as the new version's evaluation
        target.evaluation = metrics["candidate"].get("overall", {})
    record = {
        "run": run_name,
        "model_name": cfg.push.model_name,
        "data": {
            "path": cfg.data.path,
            "span": data.span,
            "fingerprint": data.fingerprint,
            "rows": data.rows,
        },
        "metrics": headline(metrics["candidate"].get("overall", {})),
    }
    registry = ModelRegistry(cfg.push.registry, cfg.push.model_name)
    result = run(
        model_dir=model_dir,
        blessing_uri=blessing_uri,
        infra_blessing_uri=infra_blessing_uri,
        registry=registry,
        metadata=record,
        promote=cfg.push.promote,
        deploy=target.deploy if target is not None else None,
        extra_files=lambda: warmup_files(
            examples_uri=examples_uri,
            model_dir=model_dir,
            model_name=cfg.push.model_name,
            rows=cfg.push.warmup_rows,
        ),
        card=card,
    )
    if card_path is not None:
        fileio.write_text(card_path, _card_html(result, registry, card))
    if getattr(target, "uploaded", None) is not None:
        from kubetfx.components.push.vertex_lineage import model_version_name

        result = dataclasses.replace(
            result,
            vertex_model=model_version_name(target.uploaded),
            vertex_endpoint=getattr(target.deployed_to, "resource_name", ""),
        )
    body = json.dumps(dataclasses.asdict(result), indent=2)
    fileio.write_text(fileio.join(output_uri, RESULT_FILE), body)
    return result


def run(
    *,
    model_dir: str,
    blessing_uri: str,
    infra_blessing_uri: str,
    registry: ModelRegistry,
    metadata: dict,
    promote: bool = True,
    deploy: Callable[[ModelRegistry, int], str] | None = None,
    extra_files: Callable[[], dict[str, bytes]] | None = None,
    card: Callable[[int, str | None], dict[str, bytes]] | None = None,
) -> PushResult:
    """Push a doubly blessed model. Otherwise the registry and the champion are untouched.

    `extra_files()` (e.g. the warmup requests) are written into the version with the model,
    and `card(version, model_digest)` (the model card's files) once its number is final: if
    it raises, no version appears.
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
    digest = model_digest(model_dir)
    same = registry.version_with_digest(digest) if digest else None
    if same is not None:  # a rerun on the same data and config (e.g. a cached schedule)
        return PushResult(
            False,
            same,
            registry.version_dir(same),
            f"the same model as version {same}, already in the registry (model digest "
            f"{digest[:19]}...): nothing pushed and nothing deployed",
        )
    record = {
        **metadata,
        "model_digest": digest,
        "blessing": blessing.reasons,
        "infra_blessing": infra.reasons,
    }
    extra = extra_files() if extra_files is not None else {}
    version_files = (lambda number: card(number, digest)) if card is not None else None
    version = registry.push(
        model_dir, record, make_champion=False, extra_files=extra, version_files=version_files
    )
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


def _card_html(result: PushResult, registry: ModelRegistry, card) -> str:
    """The HTML the push step shows: the pushed version's card, the registry's card of the
    same model already pushed, or the candidate's card saying why nothing was pushed."""
    from kubetfx.components.registry import card_file

    if result.pushed and card.rendered:
        return card.rendered[card_file("html")].decode()
    if result.version is not None and fileio.exists(registry.card_path(result.version, "html")):
        return fileio.read_text(registry.card_path(result.version, "html"))
    return card.unpushed(result.reason)[card_file("html")].decode()


def warmup_files(
    *, examples_uri: str, model_dir: str, model_name: str, rows: int
) -> dict[str, bytes]:
    """The version's warmup requests (TF Serving's assets.extra/tf_serving_warmup_requests)
    from the first `rows` eval rows; none for rows 0 or a model without a request contract."""
    from kubetfx.serving import contract, warmup

    served = contract.read(model_dir)
    examples = read_examples(examples_uri, "eval", rows) if rows else []
    if served is None or not examples:
        return {}
    return {warmup.WARMUP_FILE: warmup.encode(warmup.records(examples, served, model_name))}


def record_vertex_model(*, result: PushResult, cfg: PipelineConfig, artifact) -> str:
    """Fill the step's google.VertexModel artifact and return its `gcp_resources` JSON.

    Pushed to Vertex AI: the artifact's URI is the version's REST URL and its metadata
    `resourceName` (as GCPC's ModelUploadOp leaves it), and the resources are the model version
    and the endpoint. Otherwise (another destination, or nothing pushed) KFP still needs the
    declared outputs: the artifact keeps its URI and holds `vertex_model.json` saying why there
    is no model, with an empty `resourceName`, and the resources are empty ("{}").
    """
    from kubetfx.components.push import vertex_lineage

    region = cfg.vertex.region or ""
    if result.vertex_model:
        artifact.uri = vertex_lineage.rest_uri(region, result.vertex_model)
        artifact.metadata.update({"resourceName": result.vertex_model})
        return vertex_lineage.gcp_resources(region, result.vertex_model, result.vertex_endpoint)
    why = (
        f"push.destination is {cfg.push.destination!r}: nothing is uploaded to Vertex AI"
        if cfg.push.destination != "vertex"
        else f"nothing was pushed: {result.reason}"
    )
    artifact.metadata.update({"resourceName": "", "reason": why})
    fileio.write_text(fileio.join(artifact.path, "vertex_model.json"), json.dumps({"why": why}))
    return vertex_lineage.NO_RESOURCES
