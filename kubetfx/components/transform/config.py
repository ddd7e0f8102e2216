"""transform's config."""

from __future__ import annotations

from pydantic import Field

from kubetfx.components.config_base import Section


class TransformConfig(Section):
    """Transform: the preprocessing_fn generated from the schema, or the user's own."""

    module_file: str | None = Field(
        None,
        description="A Python file defining preprocessing_fn(inputs) (as TFX's module_file); "
        "replaces the generated one. It must return the label under the same key.",
    )
    oov_buckets: int = Field(1, ge=1, description="Out-of-vocabulary buckets per categorical.")
    bucketize: dict[str, int] = Field(
        default_factory=dict, description="Numeric feature -> number of quantile buckets."
    )
    hash_buckets: dict[str, int] = Field(
        default_factory=dict, description="Categorical feature -> hash buckets (no vocabulary)."
    )
    max_classes: int = Field(
        20, ge=2, description="An integer label with more values than this is a regression."
    )
