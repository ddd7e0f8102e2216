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
    from kubetfx.components.contracts import SCHEMA_FILE
    from kubetfx.components.reference import ReferenceStore
    from kubetfx.components.validate import core

    cfg = PipelineConfig.from_json(config)
    anomalies.metadata["tfx_type"] = "ExampleAnomalies"
    result = core.run(
        statistics.path,
        f"{schema.path}/{SCHEMA_FILE}",
        list(cfg.ingest.splits),
        cfg.data.label,
        cfg.validate_,
        ReferenceStore(cfg.reference_root, cfg.data.name),
        run_name,
        anomalies.path,
        report.path,
        examples_uri=examples.path,
    )
    anomalies.metadata.update(
        {
            "anomaly_count": len(result.anomalies),
            "flagged_distances": sum(d.flagged for d in result.distances),
            "warnings": result.warnings,
        }
    )
