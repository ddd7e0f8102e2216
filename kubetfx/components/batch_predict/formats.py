"""Batch prediction's inputs and outputs: CSV, Parquet or TFRecord rows in; JSONL, Parquet or
CSV rows out.

Every input format becomes the same thing: one dict per row, column -> plain Python value
(None when missing), as a JSON client would send it in `instances`. CSV is read as text and each
contract feature converted by its kind, so a bad value fails its own row (validation names the
field), not the whole file; nulls follow ingest's rules (pyarrow, strings_can_be_null).
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator

import pyarrow as pa

from kubetfx.components import fileio
from kubetfx.errors import ConfigError, DataError
from kubetfx.serving.contract import Contract

INPUT_FORMATS = ("csv", "parquet", "tfrecord")
_EXTENSIONS = {
    "csv": "csv",
    "txt": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "tfrecord": "tfrecord",
    "tfrecords": "tfrecord",
    "tfr": "tfrecord",
}
_KIND_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}
_READ_ROWS = 8192


def resolve(pattern: str) -> list[str]:
    files = fileio.glob(pattern)
    if not files:
        raise DataError(f"batch_predict.input: no file matches {pattern!r}; check the path or glob")
    return files


def detect_format(files: list[str], declared: str) -> str:
    if declared != "auto":
        return declared
    found = {_format_of(f) for f in files}
    if len(found) != 1 or None in found:
        raise ConfigError(
            f"batch_predict.input_format: cannot tell the format of {files[:3]} from the "
            "extension (.csv, .parquet, .tfrecord, each optionally .gz); set "
            f"batch_predict.input_format to one of {', '.join(INPUT_FORMATS)}"
        )
    return found.pop()


def _format_of(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    if "tfrecord" in name:  # TFX's own shards: data_tfrecord-00000-of-00001.gz
        return "tfrecord"
    return _EXTENSIONS.get(name.rsplit(".", 1)[-1]) if "." in name else None


@contextlib.contextmanager
def _open(path: str):
    with fileio.open_file(path, "rb") as handle:
        yield gzip.GzipFile(fileobj=handle) if path.endswith(".gz") else handle


def read_rows(path: str, fmt: str, contract: Contract) -> Iterator[dict]:
    """The rows of one file, streamed a block at a time."""
    yield from {"csv": _csv_rows, "parquet": _parquet_rows, "tfrecord": _tfrecord_rows}[fmt](
        path, contract
    )


def _csv_rows(path: str, contract: Contract) -> Iterator[dict]:
    import pyarrow.csv as pacsv

    kinds = {f.name: f.kind for f in contract.features}
    with _open(path) as handle:
        names = pacsv.open_csv(handle).schema.names
    as_text = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
    )
    with _open(path) as handle:
        for batch in pacsv.open_csv(handle, convert_options=as_text):
            for row in batch.to_pylist():
                yield {name: _from_text(kinds.get(name), text) for name, text in row.items()}


def _from_text(kind: str | None, text: str | None):
    """A CSV cell -> the JSON value a client sends for a feature of this kind (left as text
    when it is not a number, for validation to reject with the feature named)."""
    if text is None or kind in (None, "string"):
        return text
    with contextlib.suppress(ValueError):
        return int(text) if kind == "int" else float(text)
    with contextlib.suppress(ValueError):
        number = float(text)
        return int(number) if number.is_integer() else number
    return text


def _parquet_rows(path: str, contract: Contract) -> Iterator[dict]:
    import pyarrow.parquet as pq

    with _open(path) as handle:
        for batch in pq.ParquetFile(handle).iter_batches(batch_size=_READ_ROWS):
            for row in batch.to_pylist():
                yield {name: _plain(value) for name, value in row.items()}


def _tfrecord_rows(path: str, contract: Contract) -> Iterator[dict]:
    import tensorflow as tf

    compression = "GZIP" if path.endswith(".gz") else ""
    for record in tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator():
        yield example_row(record, contract)


def example_row(serialized: bytes, contract: Contract) -> dict:
    """A tf.Example as a JSON row. No value is None (ingest writes a null as an absent
    feature); several values stay a list, which validation rejects for a model feature."""
    from tensorflow.core.example import example_pb2

    row = {f.name: None for f in contract.features}
    for name, feature in example_pb2.Example.FromString(serialized).features.feature.items():
        kind = feature.WhichOneof("kind")
        values = [_plain(v) for v in getattr(feature, kind).value] if kind else []
        row[name] = values[0] if len(values) == 1 else values or None
    return row


def _plain(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def input_schema(path: str, fmt: str, contract: Contract) -> pa.Schema:
    """The columns of the first input file, typed as they are written out: model features by
    their contract kind (the validated values), CSV columns as text, others as read."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with _open(path) as handle:
            fields = [(f.name, f.type) for f in pq.read_schema(handle)]
    else:
        first = next(read_rows(path, fmt, contract), {})
        fields = [
            (name, pa.string() if fmt == "csv" or value is None else pa.infer_type([value]))
            for name, value in first.items()
        ]
    kinds = {f.name: _KIND_TYPES[f.kind] for f in contract.features}
    return pa.schema([(name, kinds.get(name, kind)) for name, kind in fields])


def write(rows, prefix: str, fmt: str, schema: pa.Schema):
    """Write a PCollection of row dicts as {prefix}-SSSSS-of-NNNNN.{jsonl,parquet,csv}."""
    import apache_beam as beam

    names = schema.names
    if fmt == "parquet":
        return (
            rows
            | "Columns" >> beam.Map(lambda row: {n: row.get(n) for n in names})
            | "Parquet" >> beam.io.WriteToParquet(prefix, schema, file_name_suffix=".parquet")
        )
    if fmt == "csv":
        header = csv_line(dict(zip(names, names, strict=True)), names)
        return (
            rows
            | "CsvLines" >> beam.Map(csv_line, names)
            | "Csv" >> beam.io.WriteToText(prefix, file_name_suffix=".csv", header=header)
        )
    return (
        rows
        | "JsonLines" >> beam.Map(json_line)
        | "Jsonl" >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl")
    )


def json_line(row: dict) -> str:
    return json.dumps(row, default=str)  # dates and times of a Parquet input as ISO text


def csv_line(row: dict, names: list[str]) -> str:
    """One CSV line; a list (class probabilities) is written as JSON text, None as empty."""
    import csv
    import io

    cells = [row.get(n) for n in names]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        [json.dumps(c) if isinstance(c, list) else "" if c is None else c for c in cells]
    )
    return buffer.getvalue()
