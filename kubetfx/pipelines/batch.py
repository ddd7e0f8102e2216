"""The batch prediction pipeline: the registry's champion (or a version) over files of rows.

One KFP v2 definition, like the training pipeline: run locally with kfp.local
(`kubetfx batch-predict`), compiled for Kubeflow or Vertex (`kubetfx compile --pipeline batch`).
The step runs Beam with `cluster.steps.batch_predict.beam_args` or `beam.pipeline_args`
(Dataflow on GCP).
"""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

import re

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.batch_predict.component import batch_predict
from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError, DataError
from kubetfx.pipelines import targets

STAGES = (batch_predict,)
TASK = "batch-predict"  # KFP's task name for the step


def pipeline_name(cfg: PipelineConfig) -> str:
    """kubetfx-training -> kubetfx-batch-predict; churn -> churn-batch-predict."""
    return re.sub(r"-training$", "", cfg.pipeline_name) + "-batch-predict"


def build(cfg: PipelineConfig, target: targets.Target = "local"):
    """The batch prediction pipeline for this config and compile target."""
    component = dsl.component(base_image=cfg.images.components, install_kfp_package=False)
    op = targets.configure_steps(cfg, target, {fn.__name__: component(fn) for fn in STAGES})

    @dsl.pipeline(
        name=pipeline_name(cfg),
        description="kubetfx batch prediction: the registry's champion (or a version) over "
        "CSV, Parquet or TFRecord rows, with Beam RunInference.",
        pipeline_root=targets.pipeline_root(cfg, target),
    )
    def batch(config: str = targets.config_parameter(cfg, target)) -> None:
        op["batch_predict"](config=config)

    return batch


def check(cfg: PipelineConfig) -> None:
    """Fail fast (exit 2) on what the step would refuse: no input, a local input that matches
    nothing or of an unknown format, no such model version."""
    from kubetfx.components.batch_predict import core, formats
    from kubetfx.components.registry import ModelRegistry

    batch = cfg.batch_predict
    if batch.input is None:
        raise ConfigError("--input: required (or batch_predict.input in the config)")
    if not fileio.is_remote(batch.input):  # a bucket is checked by the step's credentials
        try:
            formats.detect_format(formats.resolve(batch.input), batch.input_format)
        except DataError as e:
            raise ConfigError(f"--input: {e}") from e
    if not fileio.is_remote(cfg.push.registry):
        core.resolve_model(ModelRegistry(cfg.push.registry, cfg.push.model_name), batch.model)
