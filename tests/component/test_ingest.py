from __future__ import annotations

import glob
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from kubetfx.components.config import DataConfig, IngestConfig
from kubetfx.components.ingest import core
from kubetfx.errors import ConfigError, DataError
from tests.conftest import write_csv


def _examples(uri: str, split: str) -> list[tf.train.Example]:
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*.gz")))
    return [
        tf.train.Example.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP")
    ]


def _value(example: tf.train.Example, name: str):
    feature = example.features.feature.get(name)
    kind = feature.WhichOneof("kind") if feature is not None else None
    return getattr(feature, kind).value[0] if kind and getattr(feature, kind).value else None


def test_penguins_become_gzipped_tfrecords_in_a_2_to_1_split(tmp_path, penguins_csv):
    out = str(tmp_path / "examples")
    result = core.run(
        data=DataConfig(path=penguins_csv, label="species"), ingest=IngestConfig(), output_uri=out
    )
    assert sum(result.rows.values()) == 344
    assert result.rows["train"] / 344 == pytest.approx(2 / 3, abs=0.07)
    train = _examples(out, "train")
    assert len(train) == result.rows["train"]
    assert {_value(e, "species") for e in train} == {b"Adelie", b"Chinstrap", b"Gentoo"}
    assert isinstance(_value(train[0], "body_mass_g"), int)
    assert isinstance(_value(train[0], "bill_length_mm"), float)
    # A missing value is an absent feature, not a zero.
    missing_sex = [e for e in train + _examples(out, "eval") if _value(e, "sex") is None]
    assert len(missing_sex) == 11
    assert core.read_metadata(out).columns["body_mass_g"] == "int64"


def test_split_is_deterministic_and_independent_of_sharding(tmp_path, penguins_csv):
    data = DataConfig(path=penguins_csv, label="species")
    a = core.run(data=data, ingest=IngestConfig(), output_uri=str(tmp_path / "a"))
    b = core.run(data=data, ingest=IngestConfig(num_shards=3), output_uri=str(tmp_path / "b"))
    assert a.rows == b.rows
    assert len(glob.glob(str(tmp_path / "b" / "Split-train" / "*.gz"))) == 3
    assert sorted(map(_canonical, _examples(str(tmp_path / "a"), "eval"))) == sorted(
        map(_canonical, _examples(str(tmp_path / "b"), "eval"))
    )


def test_auto_sharding_gives_one_file_per_32_mib_of_input(tmp_path, penguins_csv):
    assert [core.auto_shards(n * 2**20) for n in (0, 1, 32, 33, 100, 10_000)] == [
        1, 1, 1, 2, 4, 64,
    ]  # fmt: skip
    core.run(
        data=DataConfig(path=penguins_csv, label="species"),
        ingest=IngestConfig(),
        output_uri=str(tmp_path),
    )
    assert [os.path.basename(p) for p in glob.glob(str(tmp_path / "Split-eval" / "*"))] == [
        "data_tfrecord-00000-of-00001.gz"
    ]


def _canonical(example: tf.train.Example) -> str:
    # Serialized bytes depend on map order; the feature values do not.
    return repr(sorted((k, str(v)) for k, v in example.features.feature.items()))


def test_partition_column_keeps_each_key_in_one_split(tmp_path, penguins_csv):
    out = str(tmp_path / "examples")
    cfg = IngestConfig(partition_column="island", splits={"train": 1, "eval": 1})
    core.run(data=DataConfig(path=penguins_csv, label="species"), ingest=cfg, output_uri=out)
    train = {_value(e, "island") for e in _examples(out, "train")}
    evals = {_value(e, "island") for e in _examples(out, "eval")}
    assert train and evals
    assert not train & evals


def test_span_pattern_selects_the_latest_span(tmp_path, penguins_table):
    for span, rows in ((1, 50), (2, 120), (10, 90)):
        os.makedirs(tmp_path / f"span-{span}")
        # rows 100-189: Adelie and Gentoo (a one-class span would be refused)
        write_csv(penguins_table.slice(100, rows), tmp_path / f"span-{span}" / "part.csv")
    pattern = str(tmp_path / "span-{SPAN}" / "*.csv")
    result = core.run(
        data=DataConfig(path=pattern, label="species"),
        ingest=IngestConfig(),
        output_uri=str(tmp_path / "o"),
    )
    assert result.span == 10
    assert sum(result.rows.values()) == 90


def test_glob_of_parquet_files(tmp_path, penguins_table):
    pq.write_table(penguins_table.slice(0, 200), tmp_path / "a.parquet")
    pq.write_table(penguins_table.slice(200), tmp_path / "b.parquet")
    data = DataConfig(path=str(tmp_path / "*.parquet"), label="species")
    result = core.run(data=data, ingest=IngestConfig(), output_uri=str(tmp_path / "o"))
    assert sum(result.rows.values()) == 344
    assert len(result.files) == 2


def test_column_types_override_inference(tmp_path, penguins_csv):
    data = DataConfig(path=penguins_csv, label="species", column_types={"year": "string"})
    out = str(tmp_path / "o")
    core.run(data=data, ingest=IngestConfig(), output_uri=out)
    assert _value(_examples(out, "train")[0], "year") == b"2007"


def test_errors_name_the_field(tmp_path, penguins_csv):
    with pytest.raises(DataError, match=r"data.label: 'kind' is not a column.*species"):
        core.run(
            data=DataConfig(path=penguins_csv, label="kind"),
            ingest=IngestConfig(),
            output_uri=str(tmp_path / "a"),
        )
    with pytest.raises(DataError, match="data.path: no file matches"):
        core.run(
            data=DataConfig(path=str(tmp_path / "*.csv.nope"), label="y"),
            ingest=IngestConfig(),
            output_uri="x",
        )
    with pytest.raises(DataError, match="ingest.partition_column: 'colour'"):
        core.run(
            data=DataConfig(path=penguins_csv, label="species"),
            ingest=IngestConfig(partition_column="colour"),
            output_uri=str(tmp_path / "b"),
        )
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(ConfigError, match="data.format"):
        core.run(
            data=DataConfig(path=str(tmp_path / "data.json"), label="y"),
            ingest=IngestConfig(),
            output_uri="x",
        )


def test_a_late_value_that_breaks_the_inferred_type_names_the_fix(tmp_path):
    rows = "a,label\n" + "1,x\n" * 2_000 + "1.5,y\n"  # the float is past the first block
    (tmp_path / "late.csv").write_text(rows)
    with pytest.raises(DataError, match=r"column #0.*data.column_types"):
        list(core.read_batches([str(tmp_path / "late.csv")], "csv", {}, block_bytes=1024))
    batches = core.read_batches([str(tmp_path / "late.csv")], "csv", {"a": "float"}, 1024)
    assert sum(b.num_rows for b in batches) == 2_001


def test_to_example_batch_maps_arrow_types():
    batch = pa.RecordBatch.from_arrays(
        [pa.array([1, None]), pa.array([0.5, 1.5]), pa.array(["a", None]), pa.array([True, False])],
        ["i", "f", "s", "b"],
    )
    out = core.to_example_batch(batch)
    assert out.schema.field("i").type == pa.list_(pa.int64())
    assert out.schema.field("f").type == pa.list_(pa.float32())
    assert out.schema.field("s").type == pa.list_(pa.binary())
    assert out.column(0).to_pylist() == [[1], None]
    assert out.column(3).to_pylist() == [[1], [0]]


@pytest.mark.parametrize(("late", "kind"), [("3.5", pa.float64()), ("7", pa.int64()),
                                            ("hello", pa.string())])  # fmt: skip
def test_a_column_empty_in_the_first_block_gets_the_type_of_its_later_values(tmp_path, late, kind):
    (tmp_path / "sparse.csv").write_text("a,b,y\n" + "1,,x\n" * 3_000 + f"2,{late},y\n")
    batches = list(core.read_batches([str(tmp_path / "sparse.csv")], "csv", {}, 1024))
    assert sum(b.num_rows for b in batches) == 3_001
    assert all(b.schema.field("b").type == kind for b in batches)
    assert batches[-1].column(1).to_pylist()[-1] == pa.scalar(late).cast(kind).as_py()


def test_a_one_class_label_is_refused_at_ingest(tmp_path, penguins_table):
    """Caught where the data is read, not at transform: the Adelie rows only."""
    csv = write_csv(penguins_table.slice(0, 100), tmp_path / "adelie.csv")
    with pytest.raises(DataError, match=r"data.label: column 'species' .* one value \('Adelie'\)"):
        core.run(
            data=DataConfig(path=csv, label="species"),
            ingest=IngestConfig(),
            output_uri=str(tmp_path / "o"),
        )


def test_ingest_records_empty_columns(tmp_path, penguins_table):
    empty = pa.nulls(penguins_table.num_rows, pa.string())
    csv = write_csv(penguins_table.append_column("notes", empty), tmp_path / "notes.csv")
    result = core.run(
        data=DataConfig(path=csv, label="species"),
        ingest=IngestConfig(),
        output_uri=str(tmp_path / "o"),
    )
    assert result.empty_columns == ["notes"]
    assert core.read_metadata(str(tmp_path / "o")).empty_columns == ["notes"]


def test_a_column_empty_in_the_first_file_takes_its_type_from_the_next(tmp_path):
    (tmp_path / "a.csv").write_text("a,b,y\n1,,x\n2,,y\n")
    (tmp_path / "b.csv").write_text("a,b,y\n3,4.5,x\n")
    files = [str(tmp_path / "a.csv"), str(tmp_path / "b.csv")]
    batches = list(core.read_batches(files, "csv", {}))
    assert [b.schema.field("b").type for b in batches] == [pa.null(), pa.float64()]
    assert batches[-1].column(1).to_pylist() == [4.5]
