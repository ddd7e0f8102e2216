"""KFP wrapper of transform (Transform)."""

from kfp.dsl import Artifact, Dataset, Input, Output


def transform(
    config: str,
    examples: Input[Dataset],
    schema: Input[Artifact],
    transform_graph: Output[Artifact],
    transformed_examples: Output[Dataset],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.step_process import skip_gc_at_exit
    from kubetfx.components.transform import core

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    task = core.run_from_artifacts(
        cfg=cfg,
        examples_uri=cfg.beam_location("transform", examples),
        schema_uri=schema.path,
        graph_uri=cfg.beam_location("transform", transform_graph),
        transformed_uri=cfg.beam_location("transform", transformed_examples),
    )
    transform_graph.metadata.update(
        {"tfx_type": "TransformGraph", "task": task.kind, "classes": list(task.classes)}
    )
    transformed_examples.metadata["tfx_type"] = "Examples"
