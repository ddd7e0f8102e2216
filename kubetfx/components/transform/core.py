"""Transform: tf.Transform analysis on train, applied to every split through Beam.

The preprocessing_fn is generated from the schema (z-score numerics with mean imputation,
vocabularies with OOV buckets for categoricals, optional bucketize / hash per feature), or
comes from the user's module file. Its graph is saved with the model, so serving applies
exactly the training-time preprocessing.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import (
    ROWS_FILE,
    TASK_FILE,
    TRANSFORMED_PREFIX,
    examples_pattern,
    load_schema,
    read_ingest,
    read_rows,
    read_task,
    schema_path,
    split_dir,
)
from kubetfx.components.module_file import load_module_fn
from kubetfx.components.transform.config import TransformConfig
from kubetfx.components.transform.task import Task, densify

__all__ = [
    "TASK_FILE", "TRANSFORMED_PREFIX", "feature_kinds", "make_preprocessing_fn", "read_rows",
    "read_task", "resolve_task", "run", "with_label",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class FeatureKinds:
    numeric: list[str]
    categorical: list[str]


def feature_kinds(schema, label: str) -> FeatureKinds:
    from tensorflow_metadata.proto.v0 import schema_pb2

    numeric, categorical = [], []
    for feature in schema.feature:
        if feature.name == label or feature.lifecycle_stage == schema_pb2.DEPRECATED:
            continue  # a DEPRECATED feature (e.g. empty in every row) is not a model input
        if feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            numeric.append(feature.name)
        else:
            categorical.append(feature.name)
    return FeatureKinds(sorted(numeric), sorted(categorical))


def make_preprocessing_fn(kinds: FeatureKinds, label: str, task: Task, cfg: TransformConfig):
    """The preprocessing_fn for these features; a pure function of its arguments."""

    def preprocessing_fn(inputs):
        import tensorflow as tf
        import tensorflow_transform as tft

        outputs = {}
        for name in kinds.numeric:
            values = tf.cast(inputs[name], tf.float32)
            # Impute a missing value with the train mean, so it scales to 0.
            dense = densify(values, tft.mean(values.values))
            if name in cfg.bucketize:
                outputs[name] = tft.bucketize(dense, cfg.bucketize[name])
            else:
                outputs[name] = tft.scale_to_z_score(dense)
        for name in kinds.categorical:
            dense = densify(inputs[name], "")
            if name in cfg.hash_buckets:
                outputs[name] = tf.strings.to_hash_bucket_fast(dense, cfg.hash_buckets[name])
            else:
                outputs[name] = tft.compute_and_apply_vocabulary(
                    dense, num_oov_buckets=cfg.oov_buckets, vocab_filename=name
                )
        if label in inputs:
            outputs[label] = task.encode_label(inputs[label])
        return outputs

    return preprocessing_fn


def with_label(user_fn, task: Task):
    """A user's preprocessing_fn, with the label encoded for them when they leave it out."""

    def preprocessing_fn(inputs):
        outputs = dict(user_fn(inputs))
        if task.label in inputs and task.label not in outputs:
            outputs[task.label] = task.encode_label(inputs[task.label])
        return outputs

    return preprocessing_fn


def run(
    *,
    examples_uri: str,
    schema_path: str,
    splits: list[str],
    task: Task,
    label: str,
    cfg: TransformConfig,
    graph_uri: str,
    transformed_uri: str,
    beam_args: list[str],
) -> dict[str, str]:
    """Analyze on train, transform every split. Returns the transformed file pattern per split."""
    import apache_beam as beam
    import tensorflow_transform.beam as tft_beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx_bsl.coders import example_coder
    from tfx_bsl.public import tfxio

    schema = load_schema(schema_path)
    if cfg.module_file:
        preprocessing_fn = with_label(
            load_module_fn(cfg.module_file, "preprocessing_fn", "transform.module_file"), task
        )
    else:
        preprocessing_fn = make_preprocessing_fn(feature_kinds(schema, label), label, task, cfg)
    sources = {
        split: tfxio.TFExampleRecord(
            file_pattern=examples_pattern(examples_uri, split),
            schema=schema,
            telemetry_descriptors=["kubetfx", "transform"],
        )
        for split in splits
    }
    outputs = {split: split_dir(transformed_uri, split) for split in splits}
    temp_dir = tempfile.mkdtemp(prefix="tft-")
    with (
        beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline,
        tft_beam.Context(temp_dir=temp_dir),
    ):
        train = sources["train"]
        transform_fn = (
            pipeline | "ReadAnalyze" >> train.BeamSource(),
            train.TensorAdapterConfig(),
        ) | "Analyze" >> tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(graph_uri)
        for split, source in sources.items():
            transformed, _ = (
                (pipeline | f"Read[{split}]" >> source.BeamSource(), source.TensorAdapterConfig()),
                transform_fn,
            ) | f"Transform[{split}]" >> tft_beam.TransformDataset(output_record_batches=True)
            _ = (
                transformed
                | f"Encode[{split}]"
                >> beam.FlatMap(
                    lambda batch_and_extra: example_coder.RecordBatchToExamplesEncoder().encode(
                        batch_and_extra[0]
                    )
                )
                | f"Write[{split}]"
                >> beam.io.WriteToTFRecord(
                    fileio.join(outputs[split], TRANSFORMED_PREFIX),
                    file_name_suffix=".gz",
                    compression_type=beam.io.filesystem.CompressionTypes.GZIP,
                )
            )
    # The raw schema beside the graph (TFX's layout): serving parses raw inputs with it.
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema), fileio.join(graph_uri, "metadata")
    )
    fileio.write_text(fileio.join(graph_uri, TASK_FILE), json.dumps(task.to_dict(), indent=2))

    rows = {split: read_ingest(examples_uri).rows[split] for split in splits}
    fileio.write_text(fileio.join(transformed_uri, ROWS_FILE), json.dumps(rows))
    return {
        split: fileio.join(path, f"{TRANSFORMED_PREFIX}*.gz") for split, path in outputs.items()
    }


def resolve_task(examples_uri: str, label: str, requested: str, cfg: TransformConfig) -> Task:
    """The task for this data, from what ingest saw of the label."""
    from kubetfx.components.transform.task import resolve

    seen = read_ingest(examples_uri)
    return resolve(requested, label, seen.columns[label], seen.label_values, cfg.max_classes)


def run_from_artifacts(
    *, cfg: PipelineConfig, examples_uri: str, schema_uri: str, graph_uri: str, transformed_uri: str
) -> Task:
    """The transform step on its artifacts: the task from what ingest saw of the label, then
    the transform graph and the transformed splits. Returns the task."""
    task = resolve_task(
        examples_uri=examples_uri, label=cfg.data.label, requested=cfg.train.task, cfg=cfg.transform
    )
    run(
        examples_uri=examples_uri,
        schema_path=schema_path(schema_uri),
        splits=list(cfg.ingest.splits),
        task=task,
        label=cfg.data.label,
        cfg=cfg.transform,
        graph_uri=graph_uri,
        transformed_uri=transformed_uri,
        beam_args=cfg.beam_args_for("transform", fileio.tree_size(examples_uri)),
    )
    return task
