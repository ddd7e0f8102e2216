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
    from kubetfx.components.transform import core

    task = core.run_from_artifacts(
        cfg=PipelineConfig.from_json(config),
        examples_uri=examples.path,
        schema_uri=schema.path,
        graph_uri=transform_graph.path,
        transformed_uri=transformed_examples.path,
    )
    transform_graph.metadata.update(
        {"tfx_type": "TransformGraph", "task": task.kind, "classes": list(task.classes)}
    )
    transformed_examples.metadata["tfx_type"] = "Examples"
