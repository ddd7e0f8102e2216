"""KFP wrapper of push (Pusher)."""

from typing import NamedTuple

from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from kubetfx.components.push.artifact_types import VertexModel


def push(
    config: str, run_name: str, model: Input[Model], blessing: Input[Artifact],
    infra_blessing: Input[Artifact], evaluation: Input[Artifact], examples: Input[Dataset],
    pushed_model: Output[Model], vertex_model: Output[VertexModel], model_card: Output[HTML],
    best_hyperparameters: Input[Artifact] = None,
) -> NamedTuple("PushOutputs", gcp_resources=str):  # fmt: skip
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.push import core
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    result = core.run_from_artifacts(
        cfg=cfg, run_name=run_name, model_dir=model.path, blessing_uri=blessing.path,
        infra_blessing_uri=infra_blessing.path, evaluation_uri=evaluation.path,
        examples_uri=examples.path, output_uri=pushed_model.path, card_path=model_card.path,
        tuned_uri=best_hyperparameters.path if best_hyperparameters else None,
    )  # fmt: skip
    pushed_model.metadata.update(result.metadata(cfg.push.destination))
    return (core.record_vertex_model(result=result, cfg=cfg, artifact=vertex_model),)
