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

    cfg = PipelineConfig.from_json(config)
    result = core.run(
        model_dir=model.path,
        examples_uri=examples.path,
        cfg=cfg.infra_validate,
        out_uri=infra_blessing.path,
        image=cfg.images.server,
        staging_root=cfg.pipeline_root,
    )
    infra_blessing.metadata.update(result.metadata())
    print(
        ("INFRA_BLESSED: " if result.blessed else "INFRA_NOT_BLESSED: ") + "; ".join(result.reasons)
    )
