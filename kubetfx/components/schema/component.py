"""KFP wrapper of schema (SchemaGen / ImportSchemaGen with the reference schema)."""

from kfp.dsl import Artifact, Input, Output


def schema(
    config: str,
    statistics: Input[Artifact],
    reference_schema: Input[Artifact],
    schema: Output[Artifact],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import baseline_location, stats_path
    from kubetfx.components.schema import core
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    result = core.run(
        stats_paths={split: stats_path(statistics.path, split) for split in cfg.ingest.splits},
        label=cfg.data.label,
        cfg=cfg.schema_,
        reference_schema=baseline_location(reference_schema.uri, reference_schema.path),
        output_uri=schema.path,
    )
    schema.metadata.update(
        {"tfx_type": "Schema", "source": result.source, "origin": result.origin or "",
         "empty_features": result.empty}
    )  # fmt: skip
