"""batch_predict's config (BulkInferrer)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kubetfx.components.config_base import Section


class BatchPredictConfig(Section):
    """BulkInferrer: a registry model over a file of rows (`kubetfx batch-predict`)."""

    input: str | None = Field(
        None,
        description="CSV, Parquet or TFRecord (gzipped or not, of tf.Example) file or glob; "
        "local or gs://. Rows carry the raw features the online API takes.",
    )
    input_format: Literal["auto", "csv", "parquet", "tfrecord"] = Field(
        "auto", description="auto: from the file extension."
    )
    output: str | None = Field(
        None, description="Directory for predictions and errors. Default: the step's artifact."
    )
    output_format: Literal["jsonl", "parquet", "csv"] = "jsonl"
    batch_size: int = Field(256, ge=1, le=65536, description="Rows per model call.")
    model: int | Literal["champion"] = Field(
        "champion", description="'champion' (the registry's pointer) or a version number."
    )
