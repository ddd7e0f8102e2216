"""statistics and schema cores on the real penguins data."""

from __future__ import annotations

import re

import pytest
import tensorflow_data_validation as tfdv

from kubetfx.components.config import DataConfig, IngestConfig, SchemaConfig
from kubetfx.components.ingest import core as ingest
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.schema import core as schema
from kubetfx.components.statistics import core as statistics
from kubetfx.errors import ConfigError, DataError
from tests.conftest import FAST_BEAM


@pytest.fixture(scope="module")
def penguin_stats(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    data = DataConfig()  # the built-in penguins
    ingest.run(data=data, ingest=IngestConfig(), output_uri=str(root / "examples"))
    paths = statistics.run(
        examples_uri=str(root / "examples"),
        splits=["train", "eval"],
        output_uri=str(root / "stats"),
        beam_args=FAST_BEAM,
    )
    return root, paths


def _feature(stats, name):
    return next(f for f in stats.datasets[0].features if f.path.step == [name])


def test_statistics_per_split_count_rows_and_missing_values(penguin_stats):
    root, paths = penguin_stats
    rows = ingest.read_metadata(str(root / "examples")).rows
    total_missing_sex = 0
    for split, path in paths.items():
        assert path.endswith(f"Split-{split}/FeatureStats.pb")
        stats = statistics.load(path)
        assert stats.datasets[0].num_examples == rows[split]
        total_missing_sex += _feature(stats, "sex").string_stats.common_stats.num_missing
    assert total_missing_sex == 11
    train = statistics.load(paths["train"])
    mass = _feature(train, "body_mass_g").num_stats
    assert 3_000 < mass.mean < 5_500
    assert _feature(train, "species").string_stats.unique == 3


def test_html_view_is_self_contained(penguin_stats):
    _, paths = penguin_stats
    page = statistics.render_html(paths, "penguins")
    assert "<svg" in page and "body_mass_g" in page and "Adelie" in page
    assert "train" in page and "eval" in page
    # Nothing is fetched when the page opens: no external scripts, styles, links or imports.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page


def test_inferred_schema_has_environments_domains_and_tight_presence(penguin_stats, tmp_path):
    _, paths = penguin_stats
    store = ReferenceStore(str(tmp_path / "refs"), "penguins")
    result = schema.run(
        stats_paths={"train": paths["train"]},
        label="species",
        cfg=SchemaConfig(),
        reference_schema=store.directory if store.has_schema() else None,
        output_uri=str(tmp_path / "s"),
    )
    assert result.source == "inferred"
    inferred = schema.load(result.path)
    assert list(inferred.default_environment) == ["TRAINING", "SERVING"]
    assert list(tfdv.get_feature(inferred, "species").not_in_environment) == ["SERVING"]
    assert set(tfdv.get_domain(inferred, "island").value) == {"Biscoe", "Dream", "Torgersen"}
    # Fully present features demand ~95% presence; sex (~3% missing) a little less.
    assert tfdv.get_feature(inferred, "island").presence.min_fraction == pytest.approx(0.95)
    assert 0.85 < tfdv.get_feature(inferred, "sex").presence.min_fraction < 0.95


def test_schema_precedence_import_then_reference_then_infer(penguin_stats, tmp_path):
    _, paths = penguin_stats
    store = ReferenceStore(str(tmp_path / "refs"), "penguins")
    first = schema.run(
        stats_paths={"train": paths["train"]},
        label="species",
        cfg=SchemaConfig(),
        reference_schema=store.directory if store.has_schema() else None,
        output_uri=str(tmp_path / "a"),
    )
    curated = schema.load(first.path)
    tfdv.get_domain(curated, "island").value.append("Anvers")
    schema.write(curated, str(tmp_path / "reference.pbtxt"))
    store.set_schema(str(tmp_path / "reference.pbtxt"), "test")

    from_reference = schema.run(
        stats_paths={"train": paths["train"]},
        label="species",
        cfg=SchemaConfig(),
        reference_schema=store.directory if store.has_schema() else None,
        output_uri=str(tmp_path / "b"),
    )
    assert from_reference.source == "reference"
    assert "Anvers" in tfdv.get_domain(schema.load(from_reference.path), "island").value

    imported = schema.run(
        stats_paths={"train": paths["train"]},
        label="species",
        cfg=SchemaConfig(import_path=first.path),
        reference_schema=store.directory if store.has_schema() else None,
        output_uri=str(tmp_path / "c"),
    )
    assert imported.source == "imported"
    assert "Anvers" not in tfdv.get_domain(schema.load(imported.path), "island").value


def test_schema_errors_name_the_field(penguin_stats, tmp_path):
    _, paths = penguin_stats
    store = ReferenceStore(str(tmp_path / "refs"), "penguins")
    with pytest.raises(ConfigError, match="schema.import_path: schema file .* does not exist"):
        schema.run(
            stats_paths={"train": paths["train"]},
            label="species",
            cfg=SchemaConfig(import_path="/nope"),
            reference_schema=store.directory if store.has_schema() else None,
            output_uri="x",
        )
    (tmp_path / "bad.pbtxt").write_text("feature { nme: 'x' }")
    with pytest.raises(ConfigError, match="schema.import_path: .* not a valid schema.pbtxt"):
        schema.run(
            stats_paths={"train": paths["train"]},
            label="species",
            cfg=SchemaConfig(import_path=str(tmp_path / "bad.pbtxt")),
            reference_schema=store.directory if store.has_schema() else None,
            output_uri="x",
        )
    with pytest.raises(DataError, match="data.label: 'kind'"):
        schema.run(
            stats_paths={"train": paths["train"]},
            label="kind",
            cfg=SchemaConfig(),
            reference_schema=store.directory if store.has_schema() else None,
            output_uri=str(tmp_path / "d"),
        )
