"""batch_predict over CSV, Parquet and TFRecord rows, against the real model server."""

from __future__ import annotations

import csv
import glob
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kubetfx.components.batch_predict import core
from kubetfx.components.config import BatchPredictConfig
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import ConfigError, DataError
from kubetfx.serving.process import Client, ServerProcess, serving_python
from tests.conftest import FAST_BEAM, write_csv

MODEL, ID = "penguins", "row_id"
OUTPUTS = ("probabilities", "class_ids", "classes")


@pytest.fixture(scope="module")
def registry(penguins, tmp_path_factory) -> ModelRegistry:
    _, paths = penguins
    registry = ModelRegistry(str(tmp_path_factory.mktemp("registry")), MODEL)
    registry.push(paths["model"], {"run": "batch-test"})
    return registry


@pytest.fixture(scope="module")
def rows(penguins_table) -> pa.Table:
    """Every penguin, with an id column that is not a model feature (carried through)."""
    return penguins_table.append_column(ID, pa.array(range(penguins_table.num_rows)))


@pytest.fixture(scope="module")
def inputs(rows, tmp_path_factory) -> dict[str, str]:
    """The same rows as CSV (plus two bad rows), Parquet and gzipped TFRecord of tf.Example."""
    root = tmp_path_factory.mktemp("inputs")
    csv_path = write_csv(rows, root / "rows.csv")
    bad = {ID: "9001", "island": "Dream", "bill_length_mm": "long", "sex": "male"}
    fraction = {ID: "9002", "island": "", "bill_length_mm": "40.1", "year": "2007.5"}
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=rows.column_names, restval="1")
        writer.writerows([bad, fraction])
    parquet_path = str(root / "rows.parquet")
    pq.write_table(rows, parquet_path)
    tfrecord_path = str(root / "rows.tfrecord.gz")
    import tensorflow as tf

    with tf.io.TFRecordWriter(tfrecord_path, options="GZIP") as writer:
        for row in rows.to_pylist():
            writer.write(_example(row))
    return {"csv": csv_path, "parquet": parquet_path, "tfrecord": tfrecord_path}


def _example(row: dict) -> bytes:
    import tensorflow as tf

    feature = {}
    for name, value in row.items():
        if value is None:
            continue  # ingest's encoding of a null: the feature is absent
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def results(registry, inputs, tmp_path_factory) -> dict:
    """One batch run per input format, each writing another output format."""
    out = tmp_path_factory.mktemp("out")
    runs = {"csv": "jsonl", "parquet": "parquet", "tfrecord": "csv"}
    return {
        fmt: core.run(
            input_pattern=inputs[fmt],
            registry=registry,
            cfg=BatchPredictConfig(output_format=output, batch_size=64),
            output_uri=str(out / fmt),
            beam_args=FAST_BEAM,
        )
        for fmt, output in runs.items()
    }


def read_predictions(result: core.BatchResult) -> dict[int, dict]:
    """Row id -> output row, whatever the output format."""
    files = sorted(glob.glob(os.path.join(result.output, "predictions-*")))
    assert files, f"no predictions in {result.output}"
    rows = []
    for path in files:
        if result.output_format == "parquet":
            rows += pq.read_table(path).to_pylist()
        elif result.output_format == "jsonl":
            with open(path) as f:
                rows += [json.loads(line) for line in f]
        else:
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    row["probabilities"] = json.loads(row["probabilities"])
                    row["class_ids"] = int(row["class_ids"])
                    row["model_version"] = int(row["model_version"])
                    rows.append(row)
    by_id = {int(row[ID]): row for row in rows}
    assert len(by_id) == len(rows), "a row was predicted twice"
    return by_id


@pytest.fixture(scope="module")
def online(registry, rows, tmp_path_factory) -> dict[int, dict]:
    """The same rows predicted by the model server process, as JSON instances."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    server = ServerProcess(
        serving_python(), ["--registry", registry.root, "--model", MODEL, "--log-rate", "0"], log
    )
    instances = [{k: v for k, v in row.items() if k != ID} for row in rows.to_pylist()]
    with server:
        server.wait_available(MODEL, timeout=120)
        client = Client(server.url)
        try:
            status, headers, body = client.request(
                "POST", f"/v1/models/{MODEL}:predict", {"instances": instances}
            )
        finally:
            client.close()
    assert status == 200, body
    assert headers["x-model-version"] == str(registry.champion()["version"])
    return dict(enumerate(body["predictions"]))


def assert_same_predictions(got: dict[int, dict], want: dict[int, dict]) -> None:
    assert set(got) == set(want)
    for i, expected in want.items():
        row = got[i]
        assert row["classes"] == expected["classes"], i
        assert row["class_ids"] == expected["class_ids"], i
        np.testing.assert_allclose(row["probabilities"], expected["probabilities"], atol=1e-6)


def test_every_format_predicts_like_the_online_server(results, online):
    predictions = {fmt: read_predictions(result) for fmt, result in results.items()}
    for fmt, got in predictions.items():
        good = {i: row for i, row in got.items() if i < len(online)}
        assert_same_predictions(good, online)
        assert results[fmt].rows == len(online)
    # And so with each other, row for row.
    assert_same_predictions(predictions["parquet"], predictions["tfrecord"])
    classes = {row["classes"] for row in predictions["csv"].values()}
    assert classes == {"Adelie", "Chinstrap", "Gentoo"}  # a real model, not a constant


def test_the_model_version_and_the_input_columns_are_beside_each_row(results, registry, rows):
    version = registry.champion()["version"]
    for result in results.values():
        assert result.version == version and result.model_name == MODEL
        with open(os.path.join(result.output, core.SUMMARY_FILE)) as f:
            summary = json.load(f)
        assert summary["version"] == version and summary["rows"] == rows.num_rows
        for i, row in read_predictions(result).items():
            assert row["model_version"] == version
            assert row["species"] == rows.column("species")[i].as_py()  # the label rides along
            assert set(OUTPUTS) <= set(row)


def test_a_row_missing_an_optional_feature_is_predicted_as_online(results, online, rows):
    no_sex = [i for i, sex in enumerate(rows.column("sex").to_pylist()) if sex is None]
    assert no_sex  # the real data has them
    got = read_predictions(results["csv"])
    for i in no_sex:
        assert got[i]["sex"] is None  # written as missing, predicted with the imputed value
    assert_same_predictions({i: got[i] for i in no_sex}, {i: online[i] for i in no_sex})


def test_bad_rows_go_to_the_errors_output_with_the_field_named(results):
    result = results["csv"]
    assert result.errors == 2
    errors = []
    for path in glob.glob(os.path.join(result.output, "errors-*.jsonl")):
        with open(path) as f:
            errors += [json.loads(line) for line in f]
    by_id = {e["row"][ID]: e for e in errors}
    assert set(by_id) == {"9001", "9002"}
    assert "'bill_length_mm' must be a number, got 'long'" in by_id["9001"]["error"]
    assert "'year' must be an integer, got 2007.5" in by_id["9002"]["error"]
    assert by_id["9001"]["file"] == result.files[0]
    assert not {9001, 9002} & set(read_predictions(result))
    for other in ("parquet", "tfrecord"):
        assert results[other].errors == 0


def test_a_missing_input_an_unknown_format_or_version_is_a_clear_error(registry, tmp_path):
    cfg = BatchPredictConfig()
    with pytest.raises(DataError, match=r"batch_predict.input: no file matches .*nope"):
        core.run(
            input_pattern=str(tmp_path / "nope-*.csv"),
            registry=registry,
            cfg=cfg,
            output_uri=str(tmp_path / "o"),
            beam_args=FAST_BEAM,
        )
    sheet = tmp_path / "rows.xlsx"
    sheet.write_bytes(b"PK")
    with pytest.raises(ConfigError, match="batch_predict.input_format: cannot tell"):
        core.run(
            input_pattern=str(sheet),
            registry=registry,
            cfg=cfg,
            output_uri=str(tmp_path / "o"),
            beam_args=FAST_BEAM,
        )
    versions = registry.versions()
    with pytest.raises(ConfigError, match=rf"no complete version 7 .*versions: \[{versions[0]}\]"):
        core.resolve_model(registry, 7)
    empty = ModelRegistry(str(tmp_path / "empty"), MODEL)
    with pytest.raises(ConfigError, match="has no champion"):
        core.resolve_model(empty, "champion")


def test_the_cli_refuses_a_missing_input_with_exit_2(registry, tmp_path, capsys):
    from kubetfx.cli import main

    code = main(["batch-predict", "--input", str(tmp_path / "none.csv")])
    assert code == 2
    assert "--input: batch_predict.input: no file matches" in capsys.readouterr().err
