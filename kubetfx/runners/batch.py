"""`kubetfx batch-predict`: the batch prediction pipeline run locally, and its summary."""

from __future__ import annotations

import os

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.config_loader import localize
from kubetfx.pipelines.batch import TASK, build, check, pipeline_name


def cmd_batch_predict(cfg: PipelineConfig, verbose: bool = False) -> int:
    """`kubetfx batch-predict`: run the pipeline locally and say where the rows went."""
    from kubetfx.runners import local

    cfg = localize(cfg)
    check(cfg)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(f"kubetfx: batch prediction of {cfg.batch_predict.input}", flush=True)
    named = cfg.model_copy(update={"pipeline_name": pipeline_name(cfg)})
    result = local.run(named, build(cfg), verbose=verbose, kind="batch")
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
