"""The model card's narrative: what the Model Card Toolkit's schema has no structured place
for (the gate and the blessing's reasons, the champion comparison, behavioral checks, fairness
gaps, infra validation, hyperparameters, lineage), as (title, lines) sections that fill the
card's `model_details.documentation` and its Markdown and HTML."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from kubetfx.components.contracts import Blessing
from kubetfx.components.push.model_card_render import FAIRNESS_PREFIX, FAIRNESS_RATES

if TYPE_CHECKING:
    from kubetfx.components.push.model_card import Facts

BEHAVIOR = "behavior: "
NOT_PASSED = (
    "tune.enabled is true but this push received no tune result: train used the tune step's "
    "best values over the train.* above (see the tune step's best_hyperparameters)"
)


def ordered_slices(metrics: dict) -> list[str]:
    return sorted(metrics, key=lambda s: (s != "overall", s))


def is_diff(name: str) -> bool:
    return name.split("[")[0].endswith("_diff")


def champion_version(blessing: Blessing) -> str:
    base = os.path.basename((blessing.baseline or "").rstrip("/"))
    return base if base.isdigit() else (blessing.baseline or "")


def fairness_rows(facts: Facts) -> list[dict]:
    """Per sensitive feature and rate (false positive/negative, per class): each slice's value
    and the gap between the highest and lowest."""
    rows = []
    for feature in facts.sensitive_features:
        slices = {s: v for s, v in facts.candidate.items() if s.startswith(f"{feature}=")}
        names = sorted({m for v in slices.values() for m in v if m.startswith(FAIRNESS_PREFIX)})
        for metric in names:
            if is_diff(metric) or not any(rate in metric for rate in FAIRNESS_RATES):
                continue
            by_slice = {s: v[metric] for s, v in sorted(slices.items()) if metric in v}
            if by_slice:
                gap = max(by_slice.values()) - min(by_slice.values())
                rows.append({"feature": feature, "metric": metric.removeprefix(FAIRNESS_PREFIX),
                             "values": by_slice, "gap": gap})  # fmt: skip
    return rows


def sections(facts: Facts, version: int | None, digest: str | None) -> list[tuple[str, list]]:
    """The narrative the schema has no structured place for, as (title, lines)."""
    blessing, infra = facts.blessing, facts.infra
    gate = (
        [
            f"gate: evaluate.thresholds, {name}: {json.dumps(t)}"
            for name, t in facts.thresholds.items()
        ]
        if blessing.gate == "thresholds"
        else ["gate: the default (evaluate.thresholds is empty): beat a naive predictor"]
    )
    verdict = f"{blessing.marker}: " + ("pushed" if blessing.blessed else "not pushed")
    reasons = [r for r in blessing.reasons if not r.startswith(BEHAVIOR)]
    champion = champion_version(facts.blessing)
    comparison = [
        f"{m}: candidate {facts.candidate.get('overall', {}).get(m, float('nan')):.4f}, "
        f"champion {v:.4f}"
        for m, v in sorted(facts.champion.items())
        if not is_diff(m) and not m.startswith(FAIRNESS_PREFIX)
    ] or ["no champion to compare with: the first model of this registry"]
    checks = [r.removeprefix(BEHAVIOR) for r in blessing.reasons if r.startswith(BEHAVIOR)]
    fairness = [
        f"{r['feature']}: {r['metric']} "
        + ", ".join(f"{s} {v:.4f}" for s, v in r["values"].items())
        + f" (gap {r['gap']:.4f})"
        for r in fairness_rows(facts)
    ] or ["no sensitive features (evaluate.sensitive_features is empty)"]
    tuned = facts.best_hyperparameters
    lineage = facts.lineage
    return [
        ("Gate and blessing", [verdict, *gate, *reasons,
                               f"champion compared with: {champion or 'none'}"]),
        ("Champion comparison", comparison),
        ("Behavioral checks", checks or ["none configured (evaluate.invariance, directional)"]),
        ("Fairness", fairness),
        ("Infra validation", [
            f"{'INFRA_BLESSED' if infra.blessed else 'INFRA_NOT_BLESSED'} (mode "
            f"{infra.mode or 'unknown'}): {infra.examples} eval examples, ready in "
            f"{infra.ready_seconds} s, largest difference from the model {infra.max_abs_diff}",
            *infra.reasons,
        ]),
        ("Hyperparameters", [f"train.{k}: {json.dumps(v)}" for k, v in
                             facts.hyperparameters.items()]),
        ("Tuned hyperparameters (best_hyperparameters)", (
            [f"{k}: {json.dumps(v)}" for k, v in tuned.items()] if tuned
            else [NOT_PASSED] if facts.tune_enabled
            else ["none: no tune step ran for this model"]
        )),
        ("Lineage", [
            f"run: {facts.run_name}", f"pipeline: {facts.pipeline_name}",
            f"data: {facts.data_path} (fingerprint {facts.ingest.fingerprint})",
            f"images.components: {lineage['images'].get('components')}",
            f"images.server: {lineage['images'].get('server')}",
            f"registry: {lineage['registry']}/{facts.model_name}/"
            + (str(version) if version is not None else "(not pushed)"),
            f"model digest: {digest or 'none (a model without fingerprint.pb)'}",
            f"push.destination: {lineage['destination']}, push.promote: {lineage['promote']}",
        ]),
    ]  # fmt: skip


def documentation(parts: list[tuple[str, list]]) -> str:
    return "\n\n".join(f"## {title}\n\n" + "\n".join(f"- {line}" for line in lines)
                       for title, lines in parts)  # fmt: skip
