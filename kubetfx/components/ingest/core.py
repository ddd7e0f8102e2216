"""ExampleGen: CSV/Parquet rows -> split, sharded, gzipped TFRecords of tf.Example.

Streaming: rows are read a block at a time (pyarrow), encoded to tf.Example in C++ (tfx_bsl),
hashed to a split and written, so memory stays flat however large the input is.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from kubetfx.components import fileio
from kubetfx.components.contracts import INGEST_FILE as METADATA_FILE
from kubetfx.components.contracts import IngestResult
from kubetfx.components.contracts import read_ingest as read_metadata
from kubetfx.components.ingest.config import BUILTIN_PENGUINS, DataConfig, IngestConfig
from kubetfx.components.ingest.inputs import ColumnCheck, read_batches
from kubetfx.errors import ConfigError, DataError

__all__ = ["IngestResult", "inspect", "read_batches", "read_metadata", "resolve_input", "run"]

SPAN_TOKEN = "{SPAN}"


def builtin_penguins_path() -> str:
    """The Palmer Penguins CSV that ships inside the palmerpenguins package."""
    import importlib.resources

    return str(importlib.resources.files("palmerpenguins") / "data" / "penguins.csv")


def resolve_input(path: str) -> tuple[list[str], int | None]:
    """Files to read and the span they belong to.

    A pattern containing {SPAN} selects the highest span present (TFX ExampleGen's rule).
    """
    if path == BUILTIN_PENGUINS:
        return [builtin_penguins_path()], None
    if SPAN_TOKEN not in path:
        files = fileio.glob(path)
        if not files:
            raise DataError(f"data.path: no file matches {path!r}. Check the path or glob.")
        return files, None
    if path.count(SPAN_TOKEN) != 1:
        raise ConfigError(f"data.path: {SPAN_TOKEN} may appear once, got {path!r}")
    prefix, suffix = path.split(SPAN_TOKEN)
    matcher = re.compile(re.escape(prefix) + r"(\d+)" + _glob_to_regex(suffix) + "$")
    by_span: dict[int, list[str]] = {}
    for candidate in fileio.glob(prefix + "*" + suffix):
        match = matcher.match(candidate)
        if match:
            by_span.setdefault(int(match.group(1)), []).append(candidate)
    if not by_span:
        raise DataError(f"data.path: no file matches {path!r} with a number in place of {{SPAN}}")
    span = max(by_span)
    return sorted(by_span[span]), span


def _glob_to_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append({"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch)))
    return "".join(out)


def detect_format(files: list[str], declared: str) -> str:
    if declared != "auto":
        return declared
    suffixes = {f.rsplit(".", 1)[-1].lower() for f in files}
    if suffixes <= {"parquet", "pq"}:
        return "parquet"
    if suffixes <= {"csv", "gz", "txt"} or all(".csv" in f for f in files):
        return "csv"
    raise ConfigError(
        f"data.format: cannot tell the format of {sorted(suffixes)} files; "
        "set data.format to 'csv' or 'parquet'"
    )


def to_example_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns as the list arrays tf.Example encoding wants: int64, float32 or bytes.

    A null becomes an absent feature (TFDV counts it as missing).
    """
    arrays, names = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        values = _example_values(column)
        valid = np.asarray(column.is_valid(), dtype=bool)
        offsets = np.concatenate([[0], np.cumsum(valid, dtype=np.int32)]).astype(np.int32)
        arrays.append(
            pa.ListArray.from_arrays(
                pa.array(offsets), values.filter(column.is_valid()), mask=pa.array(~valid)
            )
        )
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names)


def _example_values(column: pa.Array) -> pa.Array:
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return column.cast(pa.int64())
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return column.cast(pa.float32())
    if pa.types.is_null(kind):
        return pa.array([None] * len(column), pa.binary())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        column = column.cast(pa.string())  # dates, times: ISO text
    return column.cast(pa.binary())


def split_buckets(splits: dict[str, int]) -> list[str]:
    """['train', 'train', 'eval'] for {'train': 2, 'eval': 1}: bucket index -> split."""
    return [name for name, count in splits.items() for _ in range(count)]


def assign_splits(keys: list[bytes], buckets: list[str]) -> list[str]:
    """Deterministic hash split: the same key always lands in the same split."""
    n = len(buckets)
    return [
        buckets[int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") % n]
        for key in keys
    ]


def row_keys(batch: pa.RecordBatch, partition_column: str | None) -> list[bytes]:
    """The bytes each row is hashed on: the partition column, or every value of the row.

    Built from the values, not from the serialized tf.Example, whose map order is not
    guaranteed, so the split of a row never depends on how it was encoded.
    """
    import pyarrow.compute as pc

    names = [partition_column] if partition_column else batch.schema.names
    texts = [pc.fill_null(batch.column(name).cast(pa.string()), "\x00") for name in names]
    joined = texts[0] if len(texts) == 1 else pc.binary_join_element_wise(*texts, "\x1f")
    return [value.encode() for value in joined.to_pylist()]


def input_fingerprint(files: list[str]) -> str:
    """Which files, how large and when last written (TFX ExampleGen's fingerprint, which the
    cluster pipelines make part of ingest's cache key): any rewrite of the data changes it,
    without reading it."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path}\0{fileio.size(path)}\0{fileio.mtime_ns(path)}\n".encode())
    return digest.hexdigest()[:16]


def data_fingerprint(*, path: str) -> str:
    """What ingest would read now, as one string: the span and the files' fingerprint."""
    files, span = resolve_input(path)
    return f"span={span if span is not None else '-'} files={len(files)} {input_fingerprint(files)}"


def auto_shards(input_bytes: int, per_shard: int = 32 * 2**20, most: int = 64) -> int:
    """Files per split for ingest.num_shards 'auto': one per 32 MiB of input, at most 64."""
    return max(1, min(most, -(-input_bytes // per_shard)))


def run(*, data: DataConfig, ingest: IngestConfig, output_uri: str) -> IngestResult:
    """Read data.path and write {output_uri}/Split-{name}/data_tfrecord-SSSSS-of-NNNNN.gz."""
    import tensorflow as tf
    from tfx_bsl.coders import example_coder

    files, span = resolve_input(data.path)
    fmt = detect_format(files, data.format)
    buckets = split_buckets(ingest.splits)
    shards = ingest.num_shards
    if shards == "auto":
        shards = auto_shards(sum(fileio.size(f) for f in files))
    for split in ingest.splits:
        fileio.makedirs(fileio.join(output_uri, f"Split-{split}"))
    writers = {
        (split, shard): tf.io.TFRecordWriter(
            fileio.join(
                output_uri,
                f"Split-{split}",
                f"data_tfrecord-{shard:05d}-of-{shards:05d}.gz",
            ),
            options="GZIP",
        )
        for split in ingest.splits
        for shard in range(shards)
    }
    rows = dict.fromkeys(ingest.splits, 0)
    check = ColumnCheck(data.label, frozenset(data.column_types))
    try:
        for batch in _checked_batches(files, fmt, data, ingest, check):
            examples = example_coder.RecordBatchToExamplesEncoder().encode(to_example_batch(batch))
            keys = row_keys(batch, ingest.partition_column)
            for example, split in zip(examples, assign_splits(keys, buckets), strict=True):
                writers[(split, rows[split] % shards)].write(example)
                rows[split] += 1
    finally:
        for writer in writers.values():
            writer.close()
    for split, count in rows.items():
        if count == 0:
            raise DataError(
                f"ingest.splits: split {split!r} got no rows out of {sum(rows.values())}; "
                "give it more buckets or use more data"
            )
    result = IngestResult(
        rows,
        span,
        files,
        input_fingerprint(files),
        check.columns,
        check.sorted_label_values(),
        check.empty_columns(),
    )
    fileio.write_text(fileio.join(output_uri, METADATA_FILE), result.to_json())
    return result


def inspect(data: DataConfig, ingest: IngestConfig) -> ColumnCheck:
    """Read every row of data.path once and check it as ingest will, writing nothing.

    The CLI calls this before a local run, so a bad file stops with one message (exit 2)
    instead of a failed step. Raises DataError or ConfigError.
    """
    files, _ = resolve_input(data.path)
    check = ColumnCheck(data.label, frozenset(data.column_types))
    for _ in _checked_batches(files, detect_format(files, data.format), data, ingest, check):
        pass
    return check


def _checked_batches(
    files: list[str], fmt: str, data: DataConfig, ingest: IngestConfig, check: ColumnCheck
) -> Iterator[pa.RecordBatch]:
    """Every batch, added to `check`; the whole-data checks run after the last one."""
    for batch in read_batches(files, fmt, data.column_types):
        if not check.columns:
            check.columns = {f.name: str(f.type) for f in batch.schema}
            _check_columns(check.columns, data, ingest)
        check.add(batch)
        yield batch
    if check.rows == 0:
        raise DataError(f"data.path: {data.path!r} has no rows")
    check.check(repr(data.path))


def _check_columns(columns: dict[str, str], data: DataConfig, ingest: IngestConfig) -> None:
    for field, name in (
        ("data.label", data.label),
        ("ingest.partition_column", ingest.partition_column),
    ):
        if name is not None and name not in columns:
            raise DataError(
                f"{field}: {name!r} is not a column of {data.path!r}; columns are "
                f"{sorted(columns)}{_separator_hint(columns)}"
            )


def _separator_hint(columns: dict[str, str]) -> str:
    """A one-column header holding ';', tab or '|': the file is not comma-separated."""
    if len(columns) != 1:
        return ""
    (header,) = columns
    found = next((sep for sep in (";", "\t", "|") if sep in header), None)
    if found is None:
        return ""
    return f". The header looks separated by {found!r}: save the file with commas"
