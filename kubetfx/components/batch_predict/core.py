"""BulkInferrer: a registry model (the champion, or a version) over files of rows, on Beam.

Batch goes through the online server's own code, so the two accept, reject and predict alike:
each row is checked against the model's serving contract by the server's request parser (the
same messages as an HTTP 400), the version is loaded by the server's loader and called on
`serving_default`, and outputs are encoded as the server encodes them. A row that fails
validation goes to errors-*.jsonl with its reason; nothing is dropped silently. Columns that
are not model features (ids, the label) are carried through beside the predictions, with
`model_version`.

    {output}/predictions-SSSSS-of-NNNNN.{jsonl,parquet,csv}
    {output}/errors-SSSSS-of-NNNNN.jsonl        {"file", "error", "row"}
    {output}/batch_predict.json                 model, version, input, counts, seconds
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

from kubetfx.components import fileio
from kubetfx.components.batch_predict import formats
from kubetfx.components.batch_predict.config import BatchPredictConfig
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import ConfigError, DataError

log = logging.getLogger("kubetfx.batch_predict")

PREDICTIONS, SUMMARY_FILE = "predictions", "batch_predict.json"


@dataclasses.dataclass(frozen=True)
class BatchResult:
    model_name: str
    version: int
    model_path: str
    input: str
    files: list[str]
    input_format: str
    output: str
    output_format: str
    rows: int  # predicted
    errors: int  # refused by validation (errors-*.jsonl)
    seconds: float


def resolve_model(registry: ModelRegistry, choice: int | str) -> tuple[int, str]:
    """(version, path) of the registry's champion, or of the version asked for."""
    versions = registry.versions()
    if choice == "champion":
        pointer = registry.champion()
        if pointer is None:
            raise ConfigError(
                f"batch_predict.model: {registry.directory} has no champion; push a model "
                f"(kubetfx run) or pick a version with --model-version (versions: {versions})"
            )
        choice = pointer["version"]
    if choice not in versions:
        raise ConfigError(
            f"batch_predict.model: {registry.model_name} has no complete version {choice} in "
            f"{registry.root}; versions: {versions or 'none'}"
        )
    return int(choice), registry.version_dir(int(choice))


def run(
    *,
    input_pattern: str,
    registry: ModelRegistry,
    cfg: BatchPredictConfig,
    output_uri: str,
    beam_args: list[str],
) -> BatchResult:
    """Predict every row of the input files; write predictions, errors and a summary."""
    from kubetfx.components.batch_predict import inference
    from kubetfx.serving.models import load_servable

    start = time.time()
    files = formats.resolve(input_pattern)
    fmt = formats.detect_format(files, cfg.input_format)
    version, model_path = resolve_model(registry, cfg.model)
    # Loaded here too: a model that does not load fails before any worker starts, and its
    # contract and outputs make the output schema.
    servable = load_servable(registry.model_name, version, model_path)
    schema = _output_schema(servable, formats.input_schema(files[0], fmt, servable.contract))
    log.info(
        "batch_predict: %s version %s over %d %s file(s) %s -> %s (%s)",
        registry.model_name, version, len(files), fmt, input_pattern, output_uri,
        cfg.output_format,
    )  # fmt: skip

    handler = inference.ServingModelHandler(
        registry.model_name, version, model_path, cfg.batch_size
    )
    counts = _predict(files, fmt, servable.contract, handler, cfg, output_uri, schema, beam_args)
    result = BatchResult(
        registry.model_name, version, model_path, input_pattern, files, fmt, output_uri,
        cfg.output_format, counts.get("predicted", 0), counts.get("errors", 0),
        round(time.time() - start, 2),
    )  # fmt: skip
    fileio.write_text(
        fileio.join(output_uri, SUMMARY_FILE), json.dumps(dataclasses.asdict(result), indent=2)
    )
    log.info(
        "batch_predict: %d rows predicted, %d refused (errors-*.jsonl) in %.1f s",
        result.rows, result.errors, result.seconds,
    )  # fmt: skip
    return result


def _predict(files, fmt, contract, handler, cfg, output_uri, schema, beam_args) -> dict:
    """The Beam job: read, validate, RunInference, write. Returns its counters."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from kubetfx.components.batch_predict import inference

    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    checked = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Spread" >> beam.Reshuffle()  # one file per worker at a time
        | "Read" >> beam.FlatMap(inference.read, fmt, contract)
        | "Validate"
        >> beam.FlatMap(inference.validate, contract).with_outputs(inference.ERRORS, main="ok")
    )
    predicted = (
        checked.ok
        | "Predict" >> RunInference(handler)
        | "Rows" >> beam.ParDo(inference.OutputRow())
    )
    formats.write(predicted, fileio.join(output_uri, PREDICTIONS), cfg.output_format, schema)
    _ = (
        checked[inference.ERRORS]
        | "ErrorLines" >> beam.Map(formats.json_line)
        | "Errors" >> beam.io.WriteToText(fileio.join(output_uri, inference.ERRORS), ".jsonl")
    )
    result = pipeline.run()
    result.wait_until_finish()
    query = result.metrics().query(MetricsFilter().with_namespace(inference.METRICS_NAMESPACE))
    counts: dict[str, int] = {}
    for counter in query["counters"]:
        name = counter.key.metric.name
        counts[name] = counts.get(name, 0) + (counter.committed or counter.attempted or 0)
    return counts


def _output_schema(servable, inputs):
    """The input columns, then each serving_default output, then model_version."""
    import pyarrow as pa

    from kubetfx.components.batch_predict.inference import VERSION_COLUMN
    from kubetfx.serving.requests import SERVING_DEFAULT

    outputs = servable.signatures[SERVING_DEFAULT].structured_outputs
    clash = sorted(set(inputs.names) & {*outputs, VERSION_COLUMN})
    if clash:
        raise DataError(
            f"batch_predict.input: column {clash[0]!r} has the name of a prediction output "
            f"({sorted({*outputs, VERSION_COLUMN})}); rename it in the input"
        )
    for name, spec in outputs.items():
        base = (
            pa.string()
            if spec.dtype.name == "string"
            else pa.from_numpy_dtype(spec.dtype.as_numpy_dtype)
        )
        inputs = inputs.append(pa.field(name, pa.list_(base) if spec.shape.rank > 1 else base))
    return inputs.append(pa.field(VERSION_COLUMN, pa.int64()))
