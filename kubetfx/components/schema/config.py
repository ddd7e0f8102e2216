"""schema's config (SchemaGen / ImportSchemaGen)."""

from __future__ import annotations

from pydantic import Field

from kubetfx.components.config_base import Section


class SchemaConfig(Section):
    """SchemaGen / ImportSchemaGen."""

    import_path: str | None = Field(
        None, description="A curated schema.pbtxt to use instead of inferring or the reference."
    )
    presence_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Inferred min presence = observed presence minus this (catches floods of "
        "missing values).",
    )
    max_categorical_values: int = Field(
        100, ge=1, description="String features with more values get no domain."
    )
    min_domain_mass: float = Field(
        0.99,
        gt=0.0,
        le=1.0,
        description="Inferred categorical domains tolerate rare new values: at least this "
        "share of a feature's values must be in its domain (TFDV's "
        "distribution_constraints.min_domain_mass, stored in the reference schema). 1.0: "
        "any value outside the domain is an anomaly.",
    )
    min_presence_for_required: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A feature present in fewer than this share of train rows is optional "
        "(presence 0), so a small eval split that happens to lack it is not 'Column dropped'.",
    )
    range_margin: float = Field(
        0.1,
        ge=0.0,
        description="Inferred numeric ranges: the observed [min, max] of the first accepted run "
        "(every split), widened on each side by this fraction of its width; a feature never "
        "negative stays non-negative. Values outside it in a later run are an anomaly; edit "
        "the reference schema's int_domain/float_domain to widen one.",
    )
