"""KFP wrapper of transform (Transform)."""

from kfp.dsl import Artifact, Dataset, Input, Output


def transform(
    config: str,
    examples: Input[Dataset],
    schema: Input[Artifact],
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
) -> None:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import SCHEMA_FILE
    from kubetfx.components.transform import core

    cfg = PipelineConfig.from_json(config)
    task = core.resolve_task(examples.path, cfg.data.label, cfg.train.task, cfg.transform)
    core.run(
        examples.path,
        fileio.join(schema.path, SCHEMA_FILE),
        list(cfg.ingest.splits),
        task,
        cfg.data.label,
        cfg.transform,
        transform_graph.path,
        transformed_examples.path,
        cfg.beam_args_for("transform", fileio.tree_size(examples.path)),
    )
    transform_graph.metadata.update(
        {"tfx_type": "TransformGraph", "task": task.kind, "classes": list(task.classes)}
    )
    transformed_examples.metadata["tfx_type"] = "Examples"
