"""A brand-new dataset's first run: the inferred reference tolerates what real data does
(a long tail of rare categories, nearly empty columns), reports an empty column and leaves
it out, and records numeric ranges that later runs are held to."""

from __future__ import annotations

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from kubetfx.components.config import DataConfig, IngestConfig, SchemaConfig, ValidateConfig
from kubetfx.components.ingest import core as ingest
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.schema import core as schema
from kubetfx.components.statistics import core as statistics
from kubetfx.components.transform.core import feature_kinds
from kubetfx.components.validate import core as validate
from kubetfx.errors import ValidationFailed
from kubetfx.pipelines import generate
from tests.conftest import FAST_BEAM

SPLITS = ["train", "eval"]


def _run(tmp_path, name: str, frame: pd.DataFrame, store: ReferenceStore, cfg=None):
    """ingest -> statistics -> schema -> validate on `frame`, as the pipeline runs them."""
    root = tmp_path / name
    root.mkdir()
    frame.to_csv(root / "data.csv", index=False)
    data = DataConfig(path=str(root / "data.csv"), label=generate.LABEL)
    ingest.run(data=data, ingest=IngestConfig(), output_uri=str(root / "examples"))
    stats = statistics.run(
        examples_uri=str(root / "examples"),
        splits=SPLITS,
        output_uri=str(root / "stats"),
        beam_args=FAST_BEAM,
    )
    inferred = schema.run(
        stats_paths=stats,
        label=generate.LABEL,
        cfg=cfg or SchemaConfig(),
        reference_schema=store.directory if store.has_schema() else None,
        output_uri=str(root / "s"),
    )
    result = validate.run(
        stats_uri=str(root / "stats"),
        schema_path=inferred.path,
        splits=SPLITS,
        label=generate.LABEL,
        cfg=ValidateConfig(),
        reference=store,
        run_name=f"run-{name}",
        output_uri=str(root / "anomalies"),
        report_path=str(root / "report.md"),
        examples_uri=str(root / "examples"),
    )
    return inferred, result


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("first")
    generate.write(str(tmp / "gen.csv"), 1_500, seed=21)
    frame = pd.read_csv(tmp / "gen.csv")
    frame["notes"] = None  # a column with no value in any row
    store = ReferenceStore(str(tmp / "refs"), "churn")
    inferred, result = _run(tmp, "first", frame, store)
    return tmp, frame, store, inferred, result


def test_long_tail_and_nearly_empty_columns_pass_the_first_run(first):
    tmp, frame, _, inferred, result = first
    assert result.passed and not result.anomalies
    # the data really has what made the first run fail before: eval-only rare cities and a
    # column with only a handful of values
    seen = frame["promo_code"].notna().sum()
    assert 0 < seen < 15
    reference = schema.load(inferred.path)
    city = tfdv.get_feature(reference, "city")
    assert city.distribution_constraints.min_domain_mass == pytest.approx(0.99)
    # the domain holds every city the first run saw, in train or in eval
    assert set(tfdv.get_domain(reference, "city").value) == set(frame["city"].dropna())
    promo = tfdv.get_feature(reference, "promo_code")
    assert promo.presence.min_count == 0 and promo.presence.min_fraction == 0


def test_an_empty_column_is_named_and_left_out_of_the_model(first):
    _, _, _, inferred, result = first
    assert inferred.empty == ["notes"]
    reference = schema.load(inferred.path)
    assert tfdv.get_feature(reference, "notes").lifecycle_stage == schema_pb2.DEPRECATED
    kinds = feature_kinds(reference, generate.LABEL)
    assert "notes" not in kinds.numeric + kinds.categorical
    assert "age" in kinds.numeric and "city" in kinds.categorical
    assert any("'notes' has no value in any row" in w for w in result.warnings)


def test_numeric_ranges_are_recorded_with_a_margin_and_never_negative(first):
    _, frame, _, inferred, _ = first
    reference = schema.load(inferred.path)
    usage = tfdv.get_feature(reference, "usage_hours").float_domain
    low, high = frame["usage_hours"].min(), frame["usage_hours"].max()
    assert usage.min == 0.0  # never negative in the data: stays non-negative
    assert usage.max == pytest.approx(high + 0.1 * (high - low), rel=1e-3)
    age = tfdv.get_feature(reference, "age").int_domain
    assert (age.min, age.max) == (
        max(0, int(frame["age"].min() - 0.1 * (frame["age"].max() - frame["age"].min()))),
        int(-(-(frame["age"].max() + 0.1 * (frame["age"].max() - frame["age"].min())) // 1)),
    )


def test_a_later_run_is_held_to_the_reference(first, tmp_path):
    _, frame, store, _, _ = first
    later = frame.copy()
    later.loc[:2, "usage_hours"] = -5.0  # three corrupt values, never negative before
    later["city"] = later["city"].where(later.index % 5 != 0, "atlantis")
    with pytest.raises(ValidationFailed) as failed:
        _run(tmp_path, "later", later, store)
    message = str(failed.value)
    assert "usage_hours: Out-of-range values" in message
    found = validate.ValidationResult.from_json(
        (tmp_path / "later" / "anomalies" / validate.RESULT_FILE).read_text()
    )
    ranges = [a for a in found.anomalies if a.feature == "usage_hours"]
    counted = sum(int(a.description.split(" values outside")[0]) for a in ranges)
    assert counted == 3  # over the splits the three rows landed in
    assert "[0, " in ranges[0].description and "widen usage_hours" in ranges[0].description
    # 20% of a never-seen city is far beyond the 1% tolerance: still an anomaly
    assert any(a.feature == "city" for a in found.anomalies)


def test_a_rare_new_category_is_tolerated_by_the_reference(first, tmp_path):
    _, frame, store, _, _ = first
    later = frame.copy()
    later.loc[later.index % 250 == 0, "city"] = "new_town"  # 0.4% of rows
    _, result = _run(tmp_path, "rare", later, store)
    assert result.passed and not result.anomalies
