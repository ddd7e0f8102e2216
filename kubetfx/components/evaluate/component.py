"""KFP wrapper of evaluate (Evaluator)."""

from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output


def evaluate(
    config: str,
    examples: Input[Dataset],
    model: Input[Model],
    transform_graph: Input[Artifact],
    schema: Input[Artifact],
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
) -> None:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import SCHEMA_FILE, read_task
    from kubetfx.components.evaluate import core, results
    from kubetfx.components.registry import ModelRegistry

    cfg = PipelineConfig.from_json(config)
    task = read_task(transform_graph.path)
    champion = ModelRegistry(cfg.push.registry, cfg.push.model_name).champion_path()
    result = core.run(
        examples.path,
        model.path,
        champion,
        task,
        fileio.join(schema.path, SCHEMA_FILE),
        cfg.evaluate,
        cfg.beam_args_for("evaluate", fileio.tree_size(examples.path)),
        evaluation.path,
        blessing.path,
        report.path,
    )
    for slice_name, values in result.metrics.items():
        for name, value in results.headline(values).items():
            metrics.log_metric(name if slice_name == "overall" else f"{name} | {slice_name}", value)
    if task.is_classification:
        matrix, roc = results.classification_plots(
            evaluation.path, core.candidate_key(champion), task
        )
        classification_metrics.log_confusion_matrix(list(task.classes), matrix)
        if roc:
            fpr, tpr, thresholds = (list(v) for v in zip(*roc, strict=True))
            classification_metrics.log_roc_curve(fpr, tpr, thresholds)
    blessing.metadata.update(
        {
            "blessed": result.blessing.blessed,
            "reasons": result.blessing.reasons,
            "baseline": champion or "",
        }
    )
    evaluation.metadata["tfx_type"] = "ModelEvaluation"
