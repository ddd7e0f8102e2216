"""The model card push writes for every pushed version, from a real run's artifacts: the
penguins model trained once per session, evaluated here by TFMA, pushed into a real registry."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re

import jsonschema
import pytest

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import read_ingest, read_metrics
from kubetfx.components.infra_validate import core as infra_validate
from kubetfx.components.push import core, model_card, model_card_text
from kubetfx.components.registry import ModelRegistry, card_file, model_digest
from kubetfx.errors import RegistryError
from tests.component.test_modeling import _evaluate
from tests.component.test_push_targets import pushable  # noqa: F401 (a fixture)
from tests.component.test_reports import chromium  # noqa: F401 (a fixture)

SCHEMA = os.path.join(os.path.dirname(__file__), "fixtures", "model_card.schema.v0.0.2.json")
HUMAN = {
    "intended_use": "Teaching: tell three penguin species apart from body measurements.",
    "users": ["students of the MLOps course"],
    "limitations": ["Penguins of three islands of the Palmer Archipelago, 2007-2009, only."],
    "owners": [{"name": "ML platform team", "contact": "ml-platform@example.com"}],
    "ethical_considerations": [{"name": "none known", "mitigation_strategy": "n/a"}],
    "license": "Apache-2.0",
}


def strict(schema: dict) -> dict:
    """The schema with no property left undefined anywhere: a card that passes uses only
    fields the Model Card Toolkit knows (its loader refuses others)."""
    schema = copy.deepcopy(schema)

    def close(node):
        if isinstance(node, dict):
            if "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def validate(card: dict) -> None:
    with open(SCHEMA) as f:
        schema = strict(json.load(f))
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    jsonschema.Draft7Validator(schema, format_checker=checker).validate(card)


@pytest.fixture(scope="module")
def run(penguins, tmp_path_factory):
    """evaluate -> (infra blessing) -> push, as the pipeline runs them; what they wrote."""
    cfg, paths = penguins
    tmp = tmp_path_factory.mktemp("card")
    cfg = PipelineConfig.model_validate(
        {**json.loads(cfg.to_json()), "model_card": HUMAN, "push": {"registry": str(tmp / "reg")}}
    )
    evaluated = _evaluate(cfg, paths, paths["model"], None, tmp)
    assert evaluated.blessing.blessed, evaluated.blessing.reasons
    infra = str(tmp / "infra")
    checked = infra_validate.InfraResult(True, ["answers match"], 32, 4.2, 0.0, "subprocess")
    infra_validate.write_blessing(checked, infra)
    artifacts = {
        "cfg": cfg, "run_name": "run-card", "model_dir": paths["model"],
        "blessing_uri": str(tmp / "blessing"), "infra_blessing_uri": infra,
        "evaluation_uri": str(tmp / "evaluation"), "examples_uri": paths["examples"],
    }  # fmt: skip
    result = core.run_from_artifacts(
        **artifacts, output_uri=str(tmp / "pushed"), card_path=str(tmp / "card.html"), target=None
    )
    assert result.pushed, result.reason
    registry = ModelRegistry(cfg.push.registry, cfg.push.model_name)
    card = json.loads(fileio.read_text(registry.card_path(result.version)))
    return {"tmp": tmp, "artifacts": artifacts, "result": result, "registry": registry,
            "card": card, "paths": paths}  # fmt: skip


def test_the_card_follows_the_model_card_toolkit_schema(run):
    validate(run["card"])
    assert run["card"]["schema_version"] == "0.0.2"
    bad = copy.deepcopy(run["card"])
    bad["model_details"]["hyperparameters"] = {}  # not a toolkit field: refused
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_the_card_holds_the_runs_metrics_per_slice(run):
    metrics = read_metrics(run["artifacts"]["evaluation_uri"])["candidate"]
    entries = run["card"]["quantitative_analysis"]["performance_metrics"]
    reported = {(m["slice"], m["type"]): m for m in entries}
    assert {"overall", "island=Biscoe", "sex=female", "sex=male"} <= {s for s, _ in reported}
    for slice_name, values in metrics.items():
        for name, value in values.items():
            if not name.split("[")[0].endswith("_diff"):
                assert float(reported[(slice_name, name)]["value"]) == value
    for slice_name, by_metric in read_metrics(run["artifacts"]["evaluation_uri"])[
        "intervals"
    ].items():
        for name, (low, high) in by_metric.items():  # TFMA's intervals, where evaluate made them
            if name.split("[")[0].endswith("_diff"):
                continue
            bounds = reported[(slice_name, name)]["confidence_interval"]
            assert (float(bounds["lower_bound"]), float(bounds["upper_bound"])) == (low, high)
    overall = reported[("overall", "accuracy")]
    low, high = (float(overall["confidence_interval"][k]) for k in ("lower_bound", "upper_bound"))
    assert low <= metrics["overall"]["accuracy"] <= high and high - low > 0
    # fairness indicators per slice of the sensitive feature
    assert any(
        s == "sex=female" and t.startswith("fairness_indicators_metrics/false_positive_rate")
        for s, t in reported
    )


def test_the_card_holds_data_blessing_checks_infra_and_lineage(run):
    card, result = run["card"], run["result"]
    ingest = read_ingest(run["paths"]["examples"])
    train, evaluation = card["model_parameters"]["data"]
    assert f"{ingest.rows['train']} rows" in train["description"]
    assert f"{ingest.rows['eval']} rows" in evaluation["description"]
    assert ingest.fingerprint in train["description"]
    assert train["sensitive"] == {"sensitive_data": ["sex"]}
    details = card["model_details"]
    assert details["version"]["name"] == str(result.version)
    assert details["name"] == "penguins" and str(result.version) in details["overview"]
    docs = details["documentation"]
    blessing = json.loads(fileio.read_text(run["artifacts"]["blessing_uri"] + "/blessing.json"))
    for reason in blessing["reasons"]:
        assert reason.removeprefix("behavior: ") in docs
    assert "## Behavioral checks\n\n- year set to each of" in docs
    assert "INFRA_BLESSED (mode subprocess): 32 eval examples" in docs
    assert "train.epochs: 60" in docs and "train.learning_rate" in docs
    assert "## Tuned hyperparameters (best_hyperparameters)\n\n- none: no tune step" in docs
    digest = model_digest(run["paths"]["model"])
    assert f"model digest: {digest}" in docs and "run: run-card" in docs
    assert "images.components: kubetfx-components:dev" in docs
    considerations = card["considerations"]
    assert considerations["use_cases"] == [{"description": HUMAN["intended_use"]}]
    assert HUMAN["limitations"][0] in [x["description"] for x in considerations["limitations"]]
    risks = [r["name"] for r in considerations["ethical_considerations"]]
    assert risks == ["none known", "unequal errors across sex (evaluate.sensitive_features)"]
    assert details["owners"] == HUMAN["owners"]
    assert details["licenses"] == [{"identifier": "Apache-2.0"}]
    names = {f["key"] for f in card["model_parameters"]["input_format_map"]}
    assert names == {"island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                     "body_mass_g", "sex", "year"}  # fmt: skip


def test_markdown_and_html_beside_it_and_in_the_step(run):
    registry, version = run["registry"], run["result"].version
    page = fileio.read_text(registry.card_path(version, "html"))
    text = fileio.read_text(registry.card_path(version, "md"))
    assert (run["tmp"] / "card.html").read_text() == page  # the push step's HTML artifact
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    widths = [int(w) for w in re.findall(r'width="(\d+)', page)]
    widths += [int(w) for w in re.findall(r"width:(\d+)px", page)]
    assert widths and max(widths) <= 1000
    assert "<svg" in page and "95% interval" in page
    for blessing_line in run["card"]["model_details"]["documentation"].splitlines()[2:5]:
        assert blessing_line.removeprefix("- ") in text
    assert "| island=Biscoe |" in text and HUMAN["intended_use"] in text
    assert "Fairness: false positive and negative rates per slice" in page


def test_the_page_renders_offline_within_1000_px_with_its_figure(run, chromium, tmp_path):  # noqa: F811
    from tests import browser

    page = fileio.read_text(run["registry"].card_path(run["result"].version, "html"))
    assert not browser.external_references(page)
    seen = browser.measure(chromium, page, tmp_path, "model_card")
    assert not seen["errors"] and not seen["resources"], seen
    assert seen["scrollWidth"] <= min(browser.WIDTH, seen["clientWidth"])
    (figure,) = seen["figures"]
    assert figure["id"] == "slices" and figure["right"] <= browser.WIDTH
    assert figure["bars"] >= 6 and figure["whiskers"] == figure["bars"]


def test_the_card_leaves_the_model_digest_and_a_rerun_shows_the_same_card(run):
    registry, version = run["registry"], run["result"].version
    assert model_digest(registry.version_dir(version)) == model_digest(run["paths"]["model"])
    again = core.run_from_artifacts(
        **run["artifacts"], output_uri=str(run["tmp"] / "pushed2"),
        card_path=str(run["tmp"] / "card2.html"), target=None,
    )  # fmt: skip
    assert not again.pushed and again.version == version and "the same model" in again.reason
    assert (run["tmp"] / "card2.html").read_text() == (run["tmp"] / "card.html").read_text()
    assert registry.versions() == [version]


def test_nothing_pushed_shows_the_candidates_card_and_why(run, tmp_path):
    artifacts = dict(run["artifacts"], infra_blessing_uri=str(tmp_path / "no-infra"))
    refused = core.run_from_artifacts(
        **artifacts, output_uri=str(tmp_path / "pushed"), card_path=str(tmp_path / "c.html"),
        target=None,
    )  # fmt: skip
    assert not refused.pushed and refused.version is None
    page = (tmp_path / "c.html").read_text()
    assert 'class="warn">not infra-blessed' in page and "not pushed" in page
    assert run["registry"].versions() == [run["result"].version]


def test_a_card_that_fails_leaves_no_version_and_the_champion(run, tmp_path):
    registry = ModelRegistry(str(tmp_path / "reg"), "penguins")
    first = registry.push(run["paths"]["model"], {"run": "a"})

    def broken(version: int) -> dict[str, bytes]:
        raise ValueError("card rendering failed")

    with pytest.raises(ValueError, match="card rendering failed"):
        registry.push(run["paths"]["model"], {"run": "b"}, version_files=broken)
    assert registry.versions() == [first] and registry.champion()["version"] == first
    assert not [n for n in os.listdir(registry.directory) if n.startswith(".")]
    with pytest.raises(RegistryError):
        registry.metadata(first + 1)


def test_a_taken_version_number_gets_a_card_naming_the_next(run, tmp_path, monkeypatch):
    registry = ModelRegistry(str(tmp_path / "reg"), "penguins")
    os.makedirs(registry.version_dir(7))  # another push's number, taken meanwhile
    monkeypatch.setattr(ModelRegistry, "next_version", lambda self: 7)
    seen = []

    def card(version: int) -> dict[str, bytes]:
        seen.append(version)
        return {card_file("json"): json.dumps({"version": version}).encode()}

    version = registry.push(run["paths"]["model"], {"run": "c"}, version_files=card)
    assert version == 8 and seen == [8]
    assert json.loads(fileio.read_text(registry.card_path(8))) == {"version": 8}


def test_a_card_without_a_run_context_is_still_valid():
    """Regression model, no sensitive features, no contract, nothing configured by a person."""
    from kubetfx.components.contracts import Blessing, InfraResult, IngestResult

    facts = model_card.Facts(
        model_name="houses", run_name="r", pipeline_name="p", data_path="/data/h*.csv",
        label="price", ingest=IngestResult({"train": 10, "eval": 5}, 3, [], "f", {}),
        metrics={"candidate": {"overall": {"mean_squared_error": 2.0, "example_count": 5.0}}},
        blessing=Blessing(False, ["failed"]), infra=InfraResult(False, ["no marker"]),
        contract={}, hyperparameters={"model": "dnn"}, thresholds={}, sensitive_features=[],
        decision_threshold=0.5, lineage={"images": {}, "registry": "gs://b/m",
                                         "destination": "local", "promote": True},
        human=PipelineConfig().model_card.model_dump(),
    )  # fmt: skip
    card = model_card.build(facts, version=None, date="2026-12-07", status="not blessed: failed")
    validate(card.mct)
    assert card.mct["considerations"]["use_cases"][0]["description"].startswith("not stated")
    assert card.mct["model_parameters"]["data"][0]["link"] == "file:///data/h%2A.csv"
    assert "<script" not in model_card.files(card)[card_file("html")].decode()


def test_tuned_values_fill_their_slot_and_an_enabled_tune_is_not_hidden(run):
    cfg = run["artifacts"]["cfg"]
    facts = model_card.read_facts(
        cfg=cfg.model_copy(update={"tune": cfg.tune.model_copy(update={"enabled": True})}),
        run_name="r", model_dir=run["paths"]["model"], ingest=read_ingest(run["paths"]["examples"]),
        metrics=read_metrics(run["artifacts"]["evaluation_uri"]),
        blessing=model_card.Blessing(True, ["ok"]), infra=model_card.InfraResult(True, ["ok"]),
    )  # fmt: skip
    tuned = dict(model_card.sections(facts, 1, None))[
        "Tuned hyperparameters (best_hyperparameters)"
    ]
    assert tuned == [model_card_text.NOT_PASSED]
    facts = dataclasses.replace(facts, best_hyperparameters={"learning_rate": 0.003, "units": 24})
    tuned = dict(model_card.sections(facts, 1, None))[
        "Tuned hyperparameters (best_hyperparameters)"
    ]
    assert tuned == ["learning_rate: 0.003", "units: 24"]


def test_the_push_step_declares_the_card_as_html():
    from kfp.dsl import component

    from kubetfx.pipelines import training

    spec = component(training.push).component_spec
    assert spec.outputs["model_card"].type == "system.HTML@0.0.1"


def test_the_config_section_refuses_unknown_keys():
    with pytest.raises(ValueError, match="intended_uses"):
        PipelineConfig.model_validate({"model_card": {"intended_uses": "x"}})
    fields = type(PipelineConfig().model_card).model_fields
    assert all(field.description for field in fields.values())


def test_vertex_gets_the_cards_overview_and_the_card_in_its_artifact(tmp_path, pushable):  # noqa: F811
    from tests.component.fake_aiplatform import FakeAiplatform, assert_calls_match_the_real_sdk
    from tests.component.test_vertex_lineage import _push

    sdk = FakeAiplatform()
    result, _, _ = _push(tmp_path, pushable, "vertex", sdk)
    registry, version = pushable[0], result.version
    card = json.loads(fileio.read_text(registry.card_path(version)))
    overview = card["model_details"]["overview"]
    assert overview.startswith(f"penguins (version {version}): a wide_deep classifier")
    upload = dict(sdk.calls)["Model.upload"]
    assert upload == {
        "display_name": "penguins",
        "artifact_uri": registry.version_dir(version),
        "serving_container_image_uri": "europe-docker.pkg.dev/x/tf:2.16",
        "parent_model": None,
        "is_default_version": True,
        "version_aliases": [f"v{version}"],
        "labels": {"kubetfx-version": str(version)},
        "description": overview,
        "version_description": overview,
        "sync": True,
        "project": "p",
        "location": "europe-west4",
        "credentials": None,
    }
    for fmt in ("json", "html", "md"):  # uploaded with the model: inside its artifact_uri
        assert os.path.exists(os.path.join(upload["artifact_uri"], card_file(fmt)))
    assert_calls_match_the_real_sdk(sdk.calls)
