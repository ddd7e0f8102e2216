"""KFP wrapper of evaluate (Evaluator)."""

from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output


def evaluate(
    config: str,
    examples: Input[Dataset],
    model: Input[Model],
    transform_graph: Input[Artifact],
    schema: Input[Artifact],
    champion: Input[Model],
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import baseline_location
    from kubetfx.components.evaluate import core

    cfg = PipelineConfig.from_json(config)
    result = core.run_from_artifacts(
        cfg=cfg, examples_uri=cfg.beam_location("evaluate", examples),
        model_dir=cfg.beam_location("evaluate", model),
        graph_uri=cfg.beam_location("evaluate", transform_graph), schema_uri=schema.path,
        champion_dir=baseline_location(champion.uri, cfg.beam_location("evaluate", champion)),
        output_uri=cfg.beam_location("evaluate", evaluation), blessing_uri=blessing.path,
        report_path=report.path,
    )  # fmt: skip
    core.log_to(result=result, metrics=metrics, classification_metrics=classification_metrics)
    blessing.metadata.update(result.blessing_metadata())
    evaluation.metadata["tfx_type"] = "ModelEvaluation"
