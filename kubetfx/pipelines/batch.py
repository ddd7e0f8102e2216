"""The batch prediction pipeline: the registry's champion (or a version) over files of rows.

One KFP v2 definition, like the training pipeline: run locally with kfp.local
(`kubetfx batch-predict`), compiled for Kubeflow or Vertex (`kubetfx compile --pipeline batch`).
The step runs Beam with `cluster.steps.batch_predict.beam_args` or `beam.pipeline_args`
(Dataflow on GCP).
"""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

import os
import re

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.batch_predict.component import batch_predict
from kubetfx.components.config import PipelineConfig
from kubetfx.components.errors import ConfigError, DataError
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


def localize(cfg: PipelineConfig) -> PipelineConfig:
    """kubetfx.pipelines.config.localize, plus the batch input and output paths."""
    from kubetfx.pipelines.config import localize as localize_paths

    cfg = localize_paths(cfg)
    paths = {
        key: os.path.abspath(value)
        for key in ("input", "output")
        if (value := getattr(cfg.batch_predict, key)) is not None and not fileio.is_remote(value)
    }
    return cfg.model_copy(update={"batch_predict": cfg.batch_predict.model_copy(update=paths)})


def check(cfg: PipelineConfig) -> None:
    """Fail fast (exit 2) on what the step would refuse: no input, a local input that matches
    nothing or of an unknown format, no such model version."""
    from kubetfx.components.batch_predict import core, formats
    from kubetfx.components.push.registry import ModelRegistry

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


def cmd_batch_predict(cfg: PipelineConfig, verbose: bool = False) -> int:
    """`kubetfx batch-predict`: run the pipeline locally and say where the rows went."""
    from kubetfx.runners import local

    cfg = localize(cfg)
    check(cfg)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"kubetfx: batch prediction of {cfg.batch_predict.input}", flush=True)
    named = cfg.model_copy(update={"pipeline_name": pipeline_name(cfg)})
    result = local.run(named, build(cfg), verbose=verbose)
    print(summary(result), flush=True)
    return 0 if result.succeeded else 1


def summary(result) -> str:
    step = result.step(TASK)
    lines = [f"Run {result.run_name}: {'SUCCEEDED' if result.succeeded else 'FAILED'}"]
    if step.status != "SUCCEEDED":
        last = (result.error or "").strip().splitlines()[-1:] or ["unknown error"]
        return "\n".join([*lines, f"  error: {last[0]}", f"  log:   {result.log_path}"])
    meta = step.artifacts["predictions"]["metadata"]
    out, ext = meta["output"], meta["output_format"]
    # KFP keeps artifact metadata numbers as floats.
    lines += [
        f"  model:       {meta['model_name']} version {int(meta['version'])}",
        f"  predictions: {int(meta['rows']):,} rows in {fileio.join(out, f'predictions-*.{ext}')}",
        f"  errors:      {int(meta['errors']):,} rows in {fileio.join(out, 'errors-*.jsonl')}",
        f"  took:        {meta['seconds']:.1f} s (log {result.log_path})",
    ]
    return "\n".join(lines)
