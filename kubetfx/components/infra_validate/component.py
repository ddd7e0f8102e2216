"""KFP wrapper of infra_validate (InfraValidator)."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def infra_validate(
    config: str,
    model: Input[Model],
    examples: Input[Dataset],
    infra_blessing: Output[Artifact],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.infra_validate import core
    from kubetfx.components.step_process import skip_gc_at_exit

    skip_gc_at_exit()
    result = core.run_from_artifacts(
        cfg=PipelineConfig.from_json(config),
        model_dir=model.path,
        model_uri=model.uri,
        examples_uri=examples.path,
        out_uri=infra_blessing.path,
    )
    infra_blessing.metadata.update(result.metadata())
    print(
        ("INFRA_BLESSED: " if result.blessed else "INFRA_NOT_BLESSED: ") + "; ".join(result.reasons)
    )
