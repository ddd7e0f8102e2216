"""KFP wrapper of train (Trainer)."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    config: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    schema: Input[Artifact],
    model: Output[Model],
    model_run: Output[Artifact],
) -> None:
    from components.config import PipelineConfig
    from components.train import core

    result = core.run_from_artifacts(
        PipelineConfig.from_json(config),
        transformed_examples.path,
        transform_graph.path,
        schema.path,
        model.path,
        model_run.path,
    )
    model.metadata.update(
        {
            "framework": "tensorflow",
            "strategy": result.strategy,
            "replicas": result.replicas,
            "epochs": result.epochs,
            **{k: round(v, 6) for k, v in result.final_metrics.items()},
        }
    )
    model_run.metadata["tfx_type"] = "ModelRun"  # TensorBoard logs
