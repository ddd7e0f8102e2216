"""The model card of a pushed version, generated from the run (never hand-written).

`read_facts` gathers what the card says from the run's artifacts (ingest.json, evaluate's
metrics.json and blessing, the infra blessing, the model's serving contract) and the config
(train's hyperparameters, `model_card` for the human half: intended use, limitations, owners,
ethical considerations). `build` turns them into a `Card`: the JSON of the Model Card
Toolkit's schema v0.0.2 (`mct`, only fields that schema defines, so the toolkit can load it)
and the narrative sections the schema has no structured place for (the gate, the blessing's
reasons, behavioral checks, infra validation, hyperparameters, lineage), which also fill its
`model_details.documentation`. `files` renders the JSON, Markdown and HTML that push writes
into the version (registry.card_file).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import urllib.parse

from kubetfx.components.contracts import Blessing, InfraResult, IngestResult
from kubetfx.components.push import model_card_render as render
from kubetfx.components.push.model_card_render import FAIRNESS_PREFIX
from kubetfx.components.push.model_card_text import (
    champion_version,
    documentation,
    fairness_rows,
    is_diff,
    ordered_slices,
    sections,
)
from kubetfx.components.registry import card_file

SCHEMA_VERSION = "0.0.2"
SMALL_SLICE = 30  # eval examples: fewer and the slice's metrics are named as a limitation
Z95 = 1.959964  # two-sided 95% normal quantile (Wilson score interval)
TRAIN_KEYS = (
    "task", "model", "hidden_units", "embedding_dim", "dropout", "learning_rate", "batch_size",
    "epochs", "steps_per_epoch", "early_stopping_patience", "seed", "deterministic", "strategy",
    "mixed_precision", "module_file", "backend", "workers",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Facts:
    """What one run knows about its candidate model: everything a card is made from."""

    model_name: str
    run_name: str
    pipeline_name: str
    data_path: str
    label: str
    ingest: IngestResult
    metrics: dict  # metrics.json: {"candidate": {slice: {metric: value}}, "baseline_overall"}
    blessing: Blessing
    infra: InfraResult
    contract: dict  # assets.extra/serving_schema.json: {"features": [...], "ignored": [...]}
    hyperparameters: dict
    thresholds: dict
    sensitive_features: list[str]
    decision_threshold: float
    lineage: dict  # images, registry, destination, promote
    human: dict  # the model_card config section
    best_hyperparameters: dict | None = None  # a tune step's result, when one ran
    tune_enabled: bool = False  # tune.enabled: train used the search's values over train.*

    @property
    def candidate(self) -> dict:
        return self.metrics.get("candidate", {})

    @property
    def champion(self) -> dict:
        return self.metrics.get("baseline_overall") or {}

    @property
    def is_classification(self) -> bool:
        return "accuracy" in self.candidate.get("overall", {})


@dataclasses.dataclass(frozen=True)
class Card:
    mct: dict  # Model Card Toolkit JSON (schema v0.0.2)
    sections: list[tuple[str, list[str]]]  # the narrative, in the order the card shows it
    status: str  # "version V of M" or why nothing was pushed


def read_facts(*, cfg, run_name: str, model_dir: str, ingest: IngestResult, metrics: dict,
               blessing: Blessing, infra: InfraResult,
               best_hyperparameters: dict | None = None) -> Facts:  # fmt: skip
    """The card's facts from the run's artifacts and the config (a PipelineConfig)."""
    from kubetfx.components import fileio

    contract_path = fileio.join(model_dir, "assets.extra", "serving_schema.json")
    contract = json.loads(fileio.read_text(contract_path)) if fileio.exists(contract_path) else {}
    thresholds = {k: v.model_dump(exclude_none=True) for k, v in cfg.evaluate.thresholds.items()}
    return Facts(
        model_name=cfg.push.model_name,
        run_name=run_name,
        pipeline_name=cfg.pipeline_name,
        data_path=cfg.data.path,
        label=cfg.data.label,
        ingest=ingest,
        metrics=metrics,
        blessing=blessing,
        infra=infra,
        contract=contract,
        hyperparameters=cfg.train.model_dump(include=set(TRAIN_KEYS)),
        thresholds=thresholds,
        sensitive_features=list(cfg.evaluate.sensitive_features),
        decision_threshold=cfg.evaluate.decision_threshold,
        lineage={
            "images": cfg.images.model_dump(),
            "registry": cfg.push.registry,
            "destination": cfg.push.destination,
            "promote": cfg.push.promote,
        },
        human=cfg.model_card.model_dump(),
        best_hyperparameters=best_hyperparameters,
        tune_enabled=cfg.tune.enabled,
    )


def wilson(p: float, n: float) -> tuple[float, float]:
    """The Wilson score 95% interval of a proportion p observed on n examples."""
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    # At p = 0 or 1 the bound is exactly 0 or 1; rounding must not put p outside it.
    low = 0.0 if p <= 0 else max(0.0, min(p, centre - half))
    high = 1.0 if p >= 1 else min(1.0, max(p, centre + half))
    return low, high


def _interval(facts: Facts, slice_name: str, metric: str) -> tuple[float, float] | None:
    """TFMA's 95% interval when evaluate computed one (metrics.json "intervals"), else a
    Wilson interval for accuracy (a proportion of the slice's examples)."""
    computed = facts.metrics.get("intervals", {}).get(slice_name, {}).get(metric)
    if computed:
        return float(computed[0]), float(computed[1])
    values = facts.candidate[slice_name]
    n = values.get("example_count")
    return wilson(values[metric], n) if metric == "accuracy" and n else None


def performance_metrics(facts: Facts) -> list[dict]:
    """Every candidate metric per slice (fairness included; TFMA's `_diff` metrics are the
    champion comparison, given as the champion's own values instead) with its 95% interval,
    then the champion's overall metrics."""
    found = []
    for name in ordered_slices(facts.candidate):
        values = facts.candidate[name]
        for metric in sorted(values):
            if is_diff(metric):
                continue
            entry = {"type": metric, "value": repr(float(values[metric])), "slice": name}
            interval = _interval(facts, name, metric)
            if interval:
                low, high = interval
                entry["confidence_interval"] = {"lower_bound": repr(low), "upper_bound": repr(high)}
            found.append(entry)
    champion = champion_version(facts.blessing)
    for metric in sorted(facts.champion):
        if not is_diff(metric) and not metric.startswith(FAIRNESS_PREFIX):
            value = repr(float(facts.champion[metric]))
            found.append({"type": f"{metric} of champion {champion}", "value": value,
                          "slice": "overall"})  # fmt: skip
    return found


def _dataset(facts: Facts, split: str) -> dict:
    ingest = facts.ingest
    columns = ", ".join(f"{k} ({v})" for k, v in ingest.columns.items())
    description = (
        f"{split} split: {ingest.rows.get(split, 0)} rows of {facts.data_path} "
        f"(span {ingest.span if ingest.span is not None else 'none'}, data fingerprint "
        f"{ingest.fingerprint}, {len(ingest.files)} file(s)); columns: {columns}; "
        f"label {facts.label}"
        + (f" with values {ingest.label_values}" if ingest.label_values else "")
        + (f"; empty columns left out: {ingest.empty_columns}" if ingest.empty_columns else "")
    )
    dataset = {"name": f"{facts.model_name} {split}", "link": _uri(facts.data_path),
               "description": description}  # fmt: skip
    if facts.sensitive_features:
        dataset["sensitive"] = {"sensitive_data": list(facts.sensitive_features)}
    return dataset


def _uri(path: str) -> str:
    if ":" in path and not os.path.isabs(path):  # gs://..., builtin:penguins
        scheme, rest = path.split(":", 1)
        return f"{scheme}:{urllib.parse.quote(rest, safe='/')}"
    return "file://" + urllib.parse.quote(os.path.abspath(path))


def _feature_map(facts: Facts) -> list[dict]:
    return [
        {"key": f["name"], "value": f"{f['kind']}, {'required' if f['required'] else 'optional'}"}
        for f in facts.contract.get("features", [])
    ]


def _outputs(facts: Facts) -> tuple[str, list[dict]]:
    if facts.is_classification:
        classes = facts.ingest.label_values or []
        return (
            f"probabilities (one per class, in the order {classes}), class_ids and classes "
            f"(the most probable class of {facts.label})",
            [{"key": "probabilities", "value": f"float per class {classes}"},
             {"key": "class_ids", "value": "int"}, {"key": "classes", "value": "string"}],
        )  # fmt: skip
    return f"predictions: the predicted {facts.label}", [{"key": "predictions", "value": "float"}]


def overview(facts: Facts, version: int | None) -> str:
    overall = facts.candidate.get("overall", {})
    kind = "classifier" if facts.is_classification else "regressor"
    metric = "accuracy" if facts.is_classification else "mean_squared_error"
    score = f"{metric} {overall[metric]:.4f}" if metric in overall else "no headline metric"
    rows = facts.ingest.rows
    where = f"version {version}" if version is not None else "not pushed"
    return (
        f"{facts.model_name} ({where}): a {facts.hyperparameters.get('model')} {kind} of "
        f"{facts.label} from {len(facts.contract.get('features', []))} features, trained by "
        f"run {facts.run_name} on {rows.get('train', 0)} rows; {score} on "
        f"{rows.get('eval', 0)} eval rows."
    )


def _measured_limitations(facts: Facts) -> list[str]:
    found = []
    for name in ordered_slices(facts.candidate):
        n = facts.candidate[name].get("example_count")
        if name != "overall" and n is not None and n < SMALL_SLICE:
            found.append(
                f"slice {name} has only {n:.0f} eval examples (under {SMALL_SLICE}): its "
                "metrics are uncertain (see their intervals)"
            )
    return found


def _risks(facts: Facts) -> list[dict]:
    risks = [dict(r) for r in facts.human["ethical_considerations"]]
    by_feature: dict[str, list[dict]] = {}
    for row in fairness_rows(facts):
        by_feature.setdefault(row["feature"], []).append(row)
    for feature in facts.sensitive_features:
        rows = by_feature.get(feature, [])
        worst = max(rows, key=lambda r: r["gap"], default=None)
        measured = (
            f"largest gap between its slices: {worst['metric']} {worst['gap']:.4f}"
            if worst
            else "no fairness metrics were computed for it"
        )
        risks.append({
            "name": f"unequal errors across {feature} (evaluate.sensitive_features)",
            "mitigation_strategy": f"FairnessIndicators per slice of {feature} at decision "
            f"threshold {facts.decision_threshold} on the eval split; {measured}",
        })  # fmt: skip
    return risks


def build(facts: Facts, *, version: int | None, date: str, digest: str | None = None,
          status: str = "") -> Card:  # fmt: skip
    """The card of the candidate as `version` (None: not pushed, `status` says why)."""
    human = facts.human
    parts = sections(facts, version, digest)
    output_format, output_map = _outputs(facts)
    features = ", ".join(f"{f['key']} ({f['value']})" for f in _feature_map(facts))
    champion = champion_version(facts.blessing)
    details = {
        "name": facts.model_name,
        "overview": overview(facts, version),
        "documentation": documentation(parts),
        "owners": [{"name": o["name"], "contact": o["contact"]} for o in human["owners"]],
        "version": {
            "name": str(version) if version is not None else "not pushed",
            "date": date,
            "diff": f"candidate of run {facts.run_name}; compared with champion {champion}"
            if champion
            else f"candidate of run {facts.run_name}; the first model (no champion)",
        },
        "licenses": [{"identifier": human["license"]}] if human["license"] else [],
        "references": [{"reference": _uri(facts.lineage["registry"].rstrip("/") + "/"
                                          + facts.model_name + f"/{version}")}]
        if version is not None
        else [],
    }  # fmt: skip
    train = facts.hyperparameters
    mct = {
        "schema_version": SCHEMA_VERSION,
        "model_details": details,
        "model_parameters": {
            "model_architecture": f"{train.get('model')} tf_keras model (hidden units "
            f"{train.get('hidden_units')}, embedding dim {train.get('embedding_dim')}) with the "
            "tf.Transform graph inside; hyperparameters in the documentation",
            "data": [_dataset(facts, "train"), _dataset(facts, "eval")],
            "input_format": "raw features as JSON (signature serving_default) or serialized "
            f"tf.Example (serving_tf_example): {features}",
            "input_format_map": _feature_map(facts),
            "output_format": output_format,
            "output_format_map": output_map,
        },
        "quantitative_analysis": {"performance_metrics": performance_metrics(facts)},
        "considerations": {
            "users": [{"description": u} for u in human["users"]],
            "use_cases": [{"description": human["intended_use"]
                           or "not stated: set model_card.intended_use in the config"}],
            "limitations": [{"description": d}
                            for d in [*human["limitations"], *_measured_limitations(facts)]],
            "tradeoffs": [{"description": f"classes are decided at probability threshold "
                           f"{facts.decision_threshold} (evaluate.decision_threshold) for the "
                           "per-class precision, recall and fairness rates"}]
            if facts.is_classification
            else [],
            "ethical_considerations": _risks(facts),
        },
    }  # fmt: skip
    where = f"version {version} of {facts.model_name}" if version is not None else status
    return Card(mct, parts, where)


def files(card: Card) -> dict[str, bytes]:
    """The card's three renderings, by their path inside the version."""
    return {
        card_file("json"): json.dumps(card.mct, indent=2).encode(),
        card_file("md"): render.markdown(card).encode(),
        card_file("html"): render.html(card).encode(),
    }


class VersionCard:
    """The card's files for a version number (registry.push's `version_files`, through
    push's `card`), keeping the last rendering for the push step's HTML artifact."""

    def __init__(self, facts: Facts, date: str):
        self.facts, self.date = facts, date
        self.rendered: dict[str, bytes] = {}

    def __call__(self, version: int, digest: str | None) -> dict[str, bytes]:
        self.rendered = files(build(self.facts, version=version, date=self.date, digest=digest))
        return self.rendered

    def unpushed(self, reason: str) -> dict[str, bytes]:
        """The candidate's card when nothing was pushed, saying why."""
        return files(build(self.facts, version=None, date=self.date, status=reason))
