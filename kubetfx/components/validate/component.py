"""KFP wrapper of validate (ExampleValidator + DistributionValidator)."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Output


def validate(
    config: str,
    run_name: str,
    examples: Input[Dataset],
    statistics: Input[Artifact],
    schema: Input[Artifact],
    anomalies: Output[Artifact],
    report: Output[Markdown],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import schema_path
    from kubetfx.components.reference import ReferenceStore
    from kubetfx.components.step_process import skip_gc_at_exit
    from kubetfx.components.validate import core

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    anomalies.metadata["tfx_type"] = "ExampleAnomalies"
    result = core.run(
        stats_uri=statistics.path, schema_path=schema_path(schema.path),
        splits=list(cfg.ingest.splits), label=cfg.data.label, cfg=cfg.validate_,
        reference=ReferenceStore(cfg.reference_root, cfg.data.name), run_name=run_name,
        output_uri=anomalies.path, report_path=report.path, examples_uri=examples.path,
    )  # fmt: skip
    anomalies.metadata.update(result.metadata())
