"""The pipelines by name, and compiling one for a target (`kubetfx compile`, submit)."""

from __future__ import annotations

from typing import Any

from kubetfx.components.config import PipelineConfig
from kubetfx.pipelines import batch, monitoring, training
from kubetfx.pipelines.targets import Target


def compile_pipeline(cfg: PipelineConfig, target: Target, output: str, name: str = "training"):
    """Write the KFP IR YAML of pipeline `name` for `target` to `output`; return the pipeline."""
    from kfp import compiler

    pipeline = _pipeline_modules()[name].build(cfg, target)
    compiler.Compiler().compile(pipeline, package_path=output)
    return pipeline


def cmd_compile(cfg: PipelineConfig, args) -> int:
    """`kubetfx compile --pipeline P --platform T --output F`."""
    compile_pipeline(cfg, args.platform, args.output, args.pipeline)
    print(f"wrote {args.output} (platform {args.platform})")
    return 0


def _pipeline_modules() -> dict[str, Any]:
    """Each pipeline's module (its STAGES and build)."""
    return {"training": training, "batch": batch, "monitoring": monitoring}
