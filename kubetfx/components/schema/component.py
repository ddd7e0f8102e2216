"""KFP wrapper of schema (SchemaGen / ImportSchemaGen with the reference schema)."""

from kfp.dsl import Artifact, Input, Output


def schema(config: str, statistics: Input[Artifact], schema: Output[Artifact]) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import stats_path
    from kubetfx.components.reference import ReferenceStore
    from kubetfx.components.schema import core

    cfg = PipelineConfig.from_json(config)
    result = core.run(
        stats_paths={split: stats_path(statistics.path, split) for split in cfg.ingest.splits},
        label=cfg.data.label,
        cfg=cfg.schema_,
        reference=ReferenceStore(cfg.reference_root, cfg.data.name),
        output_uri=schema.path,
    )
    schema.metadata.update(
        {
            "tfx_type": "Schema",
            "source": result.source,
            "origin": result.origin or "",
            "empty_features": result.empty,
        }
    )
