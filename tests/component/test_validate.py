"""validate core: anomalies, drift and skew on real statistics, fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubetfx.components.config import DataConfig, IngestConfig, SchemaConfig, ValidateConfig
from kubetfx.components.ingest import core as ingest
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.schema import core as schema
from kubetfx.components.statistics import core as statistics
from kubetfx.components.validate import core as validate
from kubetfx.errors import ValidationFailed
from kubetfx.pipelines import generate
from tests.conftest import FAST_BEAM

SPLITS = ["train", "eval"]


def _stats(tmp_path, name: str, csv: str, label: str) -> str:
    root = tmp_path / name
    ingest.run(
        data=DataConfig(path=csv, label=label),
        ingest=IngestConfig(),
        output_uri=str(root / "examples"),
    )
    statistics.run(
        examples_uri=str(root / "examples"),
        splits=SPLITS,
        output_uri=str(root / "stats"),
        beam_args=FAST_BEAM,
    )
    return str(root / "stats")


def _validate(tmp_path, stats_uri, schema_path, store, label, cfg=None, name="v"):
    return validate.run(
        stats_uri=stats_uri,
        schema_path=schema_path,
        splits=SPLITS,
        label=label,
        cfg=cfg or ValidateConfig(),
        reference=store,
        run_name=f"run-{name}",
        output_uri=str(tmp_path / name / "anomalies"),
        report_path=str(tmp_path / name / "report.md"),
    )


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """A baseline run on generated data: its stats and schema set the reference."""
    tmp = tmp_path_factory.mktemp("churn")
    generate.write(str(tmp / "base.csv"), 20_000, seed=11)
    stats_uri = _stats(tmp, "base", str(tmp / "base.csv"), generate.LABEL)
    store = ReferenceStore(str(tmp / "refs"), "churn")
    inferred = schema.run(
        stats_paths={split: statistics.stats_path(stats_uri, split) for split in SPLITS},
        label=generate.LABEL,
        cfg=SchemaConfig(),
        reference_schema=None,  # the dataset's first run: no reference yet
        output_uri=str(tmp / "s"),
    )
    first = _validate(tmp, stats_uri, inferred.path, store, generate.LABEL, name="first")
    assert first.passed and not first.distances  # no baseline yet: nothing to drift from
    return tmp, store


def test_first_pass_sets_the_reference(churn):
    _, store = churn
    described = store.describe()
    assert described["schema"] and described["statistics"]
    assert [h["set"] for h in described["history"]] == ["schema", "statistics"]


@pytest.mark.parametrize(
    ("spec", "feature", "measure"),
    [
        ("mean_shift:usage_hours=2", "usage_hours", "Jensen-Shannon"),
        ("category_mix:plan", "plan", "L-infinity"),
    ],
)
def test_injected_drift_is_flagged_on_that_feature_only(churn, tmp_path, spec, feature, measure):
    tmp, store = churn
    schema_before = Path(store.schema_path).read_text()
    stats_before = Path(store.statistics_path).read_bytes()
    drifted = tmp_path / "drifted.csv"
    generate.write(str(drifted), 20_000, seed=12, drifts=[generate.Drift.parse(spec)])
    stats_uri = _stats(tmp_path, "drifted", str(drifted), generate.LABEL)
    with pytest.raises(ValidationFailed, match=feature):
        _validate(tmp_path, stats_uri, store.schema_path, store, generate.LABEL)
    result = validate.ValidationResult.from_json(
        (tmp_path / "v" / "anomalies" / validate.RESULT_FILE).read_text()
    )
    drift = {d.feature: d for d in result.distances if d.kind == "drift"}
    assert set(drift) == {*generate.FEATURES, generate.LABEL}
    assert {name for name, d in drift.items() if d.flagged} == {feature}
    assert drift[feature].measure == measure and drift[feature].value > 0.3
    # a shift of 2 SD also leaves the recorded range (reported per split): same feature only
    assert {a.feature for a in result.anomalies} == {feature}
    report = (tmp_path / "v" / "report.md").read_text()
    assert "FAILED" in report and f"**{feature}**" in report
    assert (tmp_path / "v" / "anomalies" / "Split-eval" / "SchemaDiff.pb").exists()
    # Fail closed and lose nothing: the reference is exactly what it was.
    assert Path(store.schema_path).read_text() == schema_before
    assert Path(store.statistics_path).read_bytes() == stats_before


def test_skew_against_serving_statistics_skips_the_label(churn, tmp_path):
    tmp, store = churn
    generate.write(str(tmp_path / "train.csv"), 20_000, seed=13)
    serving = tmp_path / "serving.csv"
    generate.write(
        str(serving),
        20_000,
        seed=14,
        drifts=[generate.Drift.parse("new_category:device=0.5")],
        label=False,
    )
    train_stats = _stats(tmp_path, "train", str(tmp_path / "train.csv"), generate.LABEL)
    serving_stats = _stats(tmp_path, "serving", str(serving), "age")
    cfg = ValidateConfig(serving_statistics=statistics.stats_path(serving_stats, "train"))
    with pytest.raises(ValidationFailed, match="device"):
        _validate(tmp_path, train_stats, store.schema_path, store, generate.LABEL, cfg)
    result = validate.ValidationResult.from_json(
        (tmp_path / "v" / "anomalies" / validate.RESULT_FILE).read_text()
    )
    skew = {d.feature: d for d in result.distances if d.kind == "skew"}
    assert generate.LABEL not in skew
    assert {name for name, d in skew.items() if d.flagged} == {"device"}


def test_non_blocking_mode_reports_but_passes(churn, tmp_path):
    _, store = churn
    drifted = tmp_path / "drifted.csv"
    generate.write(
        str(drifted), 5_000, seed=15, drifts=[generate.Drift.parse("missing:income=0.6")]
    )
    stats_uri = _stats(tmp_path, "d", str(drifted), generate.LABEL)
    result = _validate(
        tmp_path,
        stats_uri,
        store.schema_path,
        store,
        generate.LABEL,
        ValidateConfig(fail_on_anomalies=False),
    )
    assert result.passed and {a.feature for a in result.anomalies} == {"income"}
    assert "not blocking" in (tmp_path / "v" / "report.md").read_text()
