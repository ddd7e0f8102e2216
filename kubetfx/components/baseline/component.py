"""KFP wrapper of baseline: the champion and reference schema this run compares with, as
URIs for the pipeline's importers (kubetfx/pipelines/training.py)."""

from typing import NamedTuple

from kfp.dsl import Artifact, Output


def baseline(config: str, baselines: Output[Artifact]) -> NamedTuple(
    "Baselines", champion=str, reference_schema=str
):
    from kubetfx.components.baseline import core
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.reference import ReferenceStore
    from kubetfx.components.registry import ModelRegistry

    cfg = PipelineConfig.from_json(config)
    found, (champion, reference_schema) = core.run(
        registry=ModelRegistry(cfg.push.registry, cfg.push.model_name),
        reference=ReferenceStore(cfg.reference_root, cfg.data.name),
        output_uri=baselines.uri,
        output_path=baselines.path,
    )
    version = found.champion_version
    baselines.metadata.update(
        {"champion_version": -1 if version is None else version, "champion": champion,
         "reference_schema": reference_schema}
    )  # fmt: skip
    return (champion, reference_schema)
