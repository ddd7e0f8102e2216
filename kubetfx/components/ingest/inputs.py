"""Reading a user's CSV/Parquet files, and saying exactly what is wrong with them.

Every problem a file can have (empty, a header and no rows, bytes that are not UTF-8, a text
value in a numeric column, unreadable, a label that cannot be learnt) becomes one `DataError`
naming the file, the column and the row where it is known, and the fix. pyarrow's own
messages name none of these; where it fails, the file is re-read with the csv module to find
the row (only on that failure path, so a good file is read once).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import gzip
import io
import re
from collections.abc import Iterator

import pyarrow as pa

from kubetfx.components import fileio
from kubetfx.errors import DataError

_ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_ARROW_COLUMN = re.compile(r"In CSV column #(\d+)")
# A text column whose values are numbers in at least this share of rows is a numeric column
# with a few bad values (a typo, '?', 'unknown'), not a categorical.
MOSTLY_NUMERIC = 0.95


def read_batches(
    files: list[str], fmt: str, column_types: dict[str, str], block_bytes: int = 4 << 20
) -> Iterator[pa.RecordBatch]:
    """Record batches of every file, with one column schema for all of them.

    Types are inferred from the first block of the first file (or taken from
    data.column_types) and then imposed on every other file, so a column cannot silently
    change type between files.
    """
    forced = {name: _ARROW_TYPES[kind] for name, kind in column_types.items()}
    for path in files:
        try:
            if fmt == "parquet":
                yield from _parquet_batches(path, forced)
            else:
                forced = yield from _csv_batches(path, forced, block_bytes)
        except OSError as e:  # permissions, a directory, a vanished file
            raise DataError(f"{path}: cannot be read ({e.strerror or e}); check the path") from e


def _csv_batches(path: str, forced: dict, block_bytes: int):
    with _open_csv(path, forced, block_bytes) as reader:
        # A column empty in all of the first block is typed null, and its first value further
        # down would fail to convert: settle such columns' types with a pass over them alone.
        empty = [f.name for f in reader.schema if pa.types.is_null(f.type) and f.name not in forced]
        if not empty:
            return (yield from _read_csv(path, reader))
    # Each reader is closed before the next opens: pyarrow's read-ahead of an open one can
    # hold the IO threads another needs.
    forced = {**forced, **_settle_types(path, empty, block_bytes)}
    with _open_csv(path, forced, block_bytes) as reader:
        return (yield from _read_csv(path, reader))


def _read_csv(path: str, reader):
    schema = {field.name: field.type for field in reader.schema}
    rows = 0
    try:
        for batch in reader:
            _check_text(path, batch, rows)
            rows += batch.num_rows
            yield batch
    except pa.ArrowInvalid as e:
        raise _csv_error(path, e, schema) from e
    if rows == 0:
        raise DataError(
            f"{path}: has a header ({len(schema)} columns) but no rows; "
            "give a file with at least one row of data"
        )
    # Imposed on the next files; a column with no value here says nothing about its type.
    return {name: kind for name, kind in schema.items() if not pa.types.is_null(kind)}


@contextlib.contextmanager
def _open_csv(path: str, column_types: dict, block_bytes: int, include: list | None = None):
    """A streaming reader of the CSV file, closed (with its file) on leaving the block."""
    import pyarrow.csv as pacsv

    with fileio.open_file(path, "rb") as handle:
        try:
            reader = pacsv.open_csv(
                handle,
                read_options=pacsv.ReadOptions(block_size=block_bytes),
                convert_options=pacsv.ConvertOptions(
                    column_types=column_types, strings_can_be_null=True, include_columns=include
                ),
            )
        except pa.ArrowInvalid as e:
            raise _csv_error(path, e, {}) from e
        try:
            yield reader
        finally:
            reader.close()


def _settle_types(path: str, columns: list[str], block_bytes: int) -> dict[str, pa.DataType]:
    """int64, float64 or string for each of `columns` that has a value anywhere."""
    import pyarrow.compute as pc

    integer, number = r"^\s*[-+]?\d+\s*$", _NUMBER.pattern
    state = {name: {"seen": False, "int": True, "number": True} for name in columns}
    text = dict.fromkeys(columns, pa.string())
    with _open_csv(path, text, block_bytes, include=columns) as reader:
        for batch in reader:
            for name in columns:
                values = batch.column(name).drop_null()
                if not len(values):
                    continue
                seen = state[name]
                seen["seen"] = True
                seen["int"] = (
                    seen["int"] and pc.all(pc.match_substring_regex(values, integer)).as_py()
                )
                seen["number"] = (
                    seen["number"] and pc.all(pc.match_substring_regex(values, number)).as_py()
                )
    kinds = {}
    for name, seen in state.items():
        if seen["seen"]:
            kinds[name] = (
                pa.int64() if seen["int"] else pa.float64() if seen["number"] else pa.string()
            )
    return kinds


def _check_text(path: str, batch: pa.RecordBatch, rows_before: int) -> None:
    """pyarrow reads a CSV column with bytes that are not UTF-8 as binary: name the row."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_binary(column.type):
            row, value = locate_bad_utf8(path, name)
            raise DataError(
                f"{path}: column {name!r}, row {row}: {value!r} is not UTF-8 text; "
                "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            )


def _csv_error(path: str, error: pa.ArrowInvalid, schema: dict) -> DataError:
    text = str(error)
    if "Empty CSV file" in text:
        return DataError(
            f"{path}: the file is empty; give a CSV file with a header row and rows of data"
        )
    if "UTF8" in text or "UTF-8" in text:
        row, value = locate_bad_utf8(path, None)
        return DataError(
            f"{path}: {value} (row {row}) is not UTF-8 text; "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )
    if "Expected" in text and "columns, got" in text:
        row, fields, expected = locate_ragged_row(path)
        return DataError(
            f"{path}: row {row} has {fields} fields where the header has {expected}; fix the "
            "row (a value that contains a comma must be quoted)"
        )
    match = _ARROW_COLUMN.search(text)
    names = list(schema)
    if match and int(match.group(1)) < len(names):
        name = names[int(match.group(1))]
        kind = schema[name]
        row, value = locate_bad_value(path, name, pa.types.is_integer(kind))
        return DataError(
            f"{path}: column {name!r}, row {row}: {value!r} is not a {kind} like the rows "
            f"before it (column #{match.group(1)}); fix the value (leave the cell empty for "
            f"missing) or declare the column's type in data.column_types, e.g. {{{name}: string}}"
        )
    return DataError(
        f"{path}: not a readable CSV file ({text}); check the file, or set data.column_types "
        "(e.g. {column: float}) in the config if a column's values do not fit its first rows"
    )


def _parquet_batches(path: str, forced: dict[str, pa.DataType]):
    import pyarrow.parquet as pq

    with fileio.open_file(path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except pa.ArrowInvalid as e:
            raise DataError(
                f"{path}: not a readable Parquet file ({e}); check the file, or set "
                "data.format: csv if it is a CSV file"
            ) from e
        if parquet.metadata.num_rows == 0:
            raise DataError(f"{path}: the Parquet file has no rows")
        for batch in parquet.iter_batches(batch_size=65_536):
            yield _impose_types(batch, forced, path)


def _impose_types(batch: pa.RecordBatch, forced: dict, path: str) -> pa.RecordBatch:
    for name, arrow_type in forced.items():
        index = batch.schema.get_field_index(name)
        if index >= 0 and batch.column(index).type != arrow_type:
            try:
                column = batch.column(index).cast(arrow_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise DataError(
                    f"{path}: column {name!r} cannot be read as {arrow_type}; fix data.column_types"
                ) from e
            batch = batch.set_column(index, name, column)
    return batch


@contextlib.contextmanager
def _csv_text(path: str) -> Iterator[io.TextIOWrapper]:
    """The file as text for the csv module (gunzipped when .gz), undecodable bytes kept as
    surrogates so that an error can show them."""
    with fileio.open_file(path, "rb") as raw:
        binary = gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw
        yield io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")


def _csv_rows(path: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(data row number from 1, {column: text})."""
    with _csv_text(path) as text:
        yield from enumerate(csv.DictReader(text), start=1)


def _undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def locate_bad_utf8(path: str, column: str | None) -> tuple[int | str, str]:
    """(row, 'column NAME') of the first value that is not UTF-8 (in `column` if given)."""
    for row, values in _csv_rows(path):
        for name, value in values.items():
            if (column is None or name == column) and value and _undecodable(value):
                shown = value.encode("utf-8", "surrogateescape")
                return row, f"column {name!r}: {shown!r}" if column is None else shown
        if column is None and any(_undecodable(name or "") for name in values):
            return "header", "the header"
    return "?", "a value"


def locate_ragged_row(path: str) -> tuple[int | str, int | str, int]:
    """(row, its field count, the header's) of the first row that does not fit the header."""
    with _csv_text(path) as text:
        rows = csv.reader(text)
        header = next(rows, [])
        for number, row in enumerate(rows, start=1):
            if row and len(row) != len(header):
                return number, len(row), len(header)
    return "?", "?", len(header)


def locate_bad_value(path: str, column: str, integer: bool) -> tuple[int | str, str]:
    """(row, value) of the first non-empty value of `column` that is not a number."""
    for row, values in _csv_rows(path):
        value = (values.get(column) or "").strip()
        if value and not (value.lstrip("+-").isdigit() if integer else _NUMBER.match(value)):
            return row, value
    return "?", "?"


@dataclasses.dataclass
class ColumnCheck:
    """What one pass over the rows learns about them: per column, how many values are
    present and whether a text column is really a numeric one with a few bad values; for
    the label, its distinct values (classes)."""

    label: str
    declared: frozenset[str] = frozenset()  # data.column_types: the user decided
    rows: int = 0
    columns: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> arrow type
    present: dict[str, int] = dataclasses.field(default_factory=dict)
    numeric_text: dict[str, int] = dataclasses.field(default_factory=dict)
    first_text: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    label_values: set | None = dataclasses.field(default_factory=set)
    label_range: list = dataclasses.field(default_factory=list)  # [min, max] without classes

    LIMIT = 1_000  # more distinct label values than this: not a class label

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            self.present[name] = self.present.get(name, 0) + len(column) - column.null_count
            if pa.types.is_string(column.type) and name not in self.declared:
                numeric = pc.match_substring_regex(column, _NUMBER.pattern).fill_null(True)
                self.numeric_text[name] = self.numeric_text.get(name, 0) + int(
                    pc.sum(pc.and_(numeric, column.is_valid())).as_py() or 0
                )
                if name not in self.first_text and not pc.all(numeric).as_py():
                    index = pc.index(numeric, False).as_py()
                    self.first_text[name] = (self.rows + index + 1, column[index].as_py())
        self._add_label(batch.column(self.label))
        self.rows += batch.num_rows

    def _add_label(self, column: pa.Array) -> None:
        import pyarrow.compute as pc

        values = column.drop_null()
        if pa.types.is_floating(values.type):
            self.label_values = None  # a float label is a regression target: no classes
            if len(values):
                bounds = pc.min_max(values)
                self.label_range.extend([bounds["min"].as_py(), bounds["max"].as_py()])
                self.label_range[:] = [min(self.label_range), max(self.label_range)]
            return
        if self.label_values is not None:
            self.label_values.update(pc.unique(values).to_pylist())
            if len(self.label_values) > self.LIMIT:
                self.label_values = None  # too many to be classes; it certainly varies
                self.label_range[:] = [0, 1]

    def empty_columns(self) -> list[str]:
        return sorted(name for name, count in self.present.items() if count == 0)

    def check(self, where: str) -> None:
        """Raise DataError for a label that cannot be learnt or a mostly numeric text column."""
        label = self.label
        if self.present.get(label, 0) == 0:
            raise DataError(f"data.label: column {label!r} of {where} is empty in every row")
        values = self.label_values
        if values is not None:
            constant, seen = len(values) < 2, next(iter(values), None)
        else:
            constant, seen = self.label_range[0] == self.label_range[1], self.label_range[0]
        if constant:
            raise DataError(
                f"data.label: column {label!r} of {where} has one value ({seen!r}) in all "
                f"{self.present[label]:,} rows that have one; a model needs at least two "
                "classes or a varying target. Check --label, or the rows you selected"
            )
        for name, numeric in sorted(self.numeric_text.items()):
            present = self.present.get(name, 0)
            if name in self.first_text and present and numeric / present >= MOSTLY_NUMERIC:
                row, value = self.first_text[name]
                raise DataError(
                    f"{where}: column {name!r} holds numbers in {numeric:,} of {present:,} rows "
                    f"but row {row} has {value!r}; fix the value (leave the cell empty for "
                    f"missing) or declare the column as text: data.column_types: "
                    f"{{{name}: string}}"
                )

    def sorted_label_values(self) -> list | None:
        return None if self.label_values is None else sorted(self.label_values)
