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
    from components import fileio
    from components.config import PipelineConfig
    from components.schema.core import SCHEMA_FILE
    from components.train import core
    from components.transform.core import TRANSFORMED_PREFIX, read_rows, read_task

    cfg = PipelineConfig.from_json(config)
    splits = ("train", "eval")
    patterns = {
        s: fileio.join(transformed_examples.path, f"Split-{s}", f"{TRANSFORMED_PREFIX}*.gz")
        for s in splits
    }
    result = core.run(
        patterns,
        transform_graph.path,
        fileio.join(schema.path, SCHEMA_FILE),
        read_task(transform_graph.path),
        read_rows(transformed_examples.path)["train"],
        cfg.train,
        cfg.transform,
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
