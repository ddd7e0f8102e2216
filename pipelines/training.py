"""The training pipeline: one KFP v2 definition for local runs, Kubeflow and Vertex."""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

from kfp import dsl

from components.config import PipelineConfig
from components.ingest.component import ingest
from components.schema.component import schema
from components.statistics.component import statistics
from components.validate.component import validate


def build(cfg: PipelineConfig):
    """The training pipeline for this config (its image and default parameters)."""
    # Lightweight components on the project image: the body imports the installed package,
    # so the same definition runs in the local venv (kfp.local) and in the cluster image.
    component = dsl.component(base_image=cfg.images.components, install_kfp_package=False)
    ingest_op, statistics_op, schema_op, validate_op = (
        component(fn) for fn in (ingest, statistics, schema, validate)
    )

    @dsl.pipeline(
        name=cfg.pipeline_name,
        description="kubetfx training pipeline: ingest, statistics, schema, validate.",
    )
    def training(config: str = cfg.to_json()) -> None:
        examples = ingest_op(config=config).set_display_name("ingest")
        stats = statistics_op(config=config, examples=examples.outputs["examples"])
        inferred = schema_op(config=config, statistics=stats.outputs["statistics"])
        validate_op(
            config=config,
            run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            statistics=stats.outputs["statistics"],
            schema=inferred.outputs["schema"],
        )

    return training
