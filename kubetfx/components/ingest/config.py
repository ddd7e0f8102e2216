"""ingest's config: where the raw data is and how it becomes split examples."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from kubetfx.components.config_base import NAME_RE, Section

BUILTIN_PENGUINS = "builtin:penguins"


class DataConfig(Section):
    """Where the raw data is and what it means."""

    path: str = Field(
        BUILTIN_PENGUINS,
        description="CSV or Parquet file, glob, or pattern with {SPAN}; local or gs://. "
        f"'{BUILTIN_PENGUINS}' is Palmer Penguins, shipped in the palmerpenguins package.",
    )
    format: Literal["auto", "csv", "parquet"] = "auto"
    label: str | None = Field(None, description="Label column; 'species' for the built-in data.")
    name: str | None = Field(
        None, description="Dataset name (keys the reference schema). Derived from the path."
    )
    column_types: dict[str, Literal["int", "float", "string"]] = Field(
        default_factory=dict,
        description="Override the inferred type of a column.",
    )

    @model_validator(mode="after")
    def _defaults_from_path(self) -> DataConfig:
        if self.label is None:
            if self.path != BUILTIN_PENGUINS:
                raise ValueError(
                    "data.label is required for your own data: pass --label COLUMN "
                    "or set data.label in the config file"
                )
            object.__setattr__(self, "label", "species")
        if self.name is None:
            object.__setattr__(self, "name", dataset_name_from_path(self.path))
        elif not NAME_RE.match(self.name):
            raise ValueError(
                f"data.name must be lowercase letters, digits, '-' or '_', got {self.name!r}"
            )
        return self


def dataset_name_from_path(path: str) -> str:
    """'gs://b/sales/span-{SPAN}/*.csv' -> 'sales'; 'data/churn.csv' -> 'churn'."""
    if path == BUILTIN_PENGUINS:
        return "penguins"
    parts = [p for p in PurePosixPath(path.split("://", 1)[-1]).parts if p not in ("/", "")]
    for part in reversed(parts):
        stem = part.split(".", 1)[0]
        if stem and not any(ch in stem for ch in "*?[{"):
            name = re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-_")
            if name:
                return name
    return "dataset"


class IngestConfig(Section):
    """ExampleGen: how rows become split, sharded TFRecords."""

    splits: dict[str, int] = Field(
        default_factory=lambda: {"train": 2, "eval": 1},
        description="Split name -> hash buckets (ratio). Must include 'train' and 'eval'.",
    )
    partition_column: str | None = Field(
        None, description="Hash this column instead of the whole row (keeps a key in one split)."
    )
    num_shards: int | Literal["auto"] = Field(
        "auto",
        description="TFRecord files per split. auto: one per 32 MiB of input, at most 64, so "
        "Beam workers read a split in parallel (a gzipped file is read by one worker).",
    )

    @field_validator("num_shards", mode="before")
    @classmethod
    def _check_shards(cls, value):
        if value == "auto" or (type(value) is int and 1 <= value <= 256):
            return value
        raise ValueError("must be 'auto' or a number of files from 1 to 256")

    @field_validator("splits")
    @classmethod
    def _check_splits(cls, splits: dict[str, int]) -> dict[str, int]:
        missing = {"train", "eval"} - splits.keys()
        if missing:
            raise ValueError(f"must include {sorted(missing)}; got {sorted(splits)}")
        for name, buckets in splits.items():
            if not NAME_RE.match(name):
                raise ValueError(f"split name {name!r} must be lowercase letters/digits/_/-")
            if buckets < 1:
                raise ValueError(f"split {name!r} needs at least 1 bucket, got {buckets}")
        return splits
