"""The training pipeline's component functions called directly, without kfp.

Each stage is the very function kfp.local runs in a subprocess, here given plain artifacts
laid out under one directory. The benchmarks use it to time the stages with no
orchestration around them, all in one process or one stage per process (the seconds each
stage took are the last line printed, as JSON):

    python -m bench.stages STAGE --root DIR --config FILE.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.pipelines.training import STAGES

STAGE_NAMES = tuple(fn.__name__ for fn in STAGES)
RUN_NAME = "kubetfx-direct"
# artifact name -> its type; the names are the component parameters they are passed as.
ARTIFACTS = {
    "examples": dsl.Dataset,
    "statistics": dsl.Artifact,
    "view": dsl.HTML,
    "schema": dsl.Artifact,
    "anomalies": dsl.Artifact,
    "report": dsl.Markdown,
    "transform_graph": dsl.Artifact,
    "transformed_examples": dsl.Dataset,
    "model": dsl.Model,
    "model_run": dsl.Artifact,
    "evaluation": dsl.Artifact,
    "blessing": dsl.Artifact,
    "metrics": dsl.Metrics,
    "classification_metrics": dsl.ClassificationMetrics,
    "eval_report": dsl.HTML,
    "infra_blessing": dsl.Artifact,
    "pushed_model": dsl.Model,
}
# Each stage's arguments after `config`, by artifact name (run_name is a string).
ARGUMENTS = {
    "ingest": ["examples"],
    "statistics": ["examples", "statistics", "view"],
    "schema": ["statistics", "schema"],
    "validate": ["run_name", "statistics", "schema", "anomalies", "report"],
    "transform": ["examples", "schema", "transform_graph", "transformed_examples"],
    "train": ["transformed_examples", "transform_graph", "schema", "model", "model_run"],
    "evaluate": [
        "examples",
        "model",
        "transform_graph",
        "schema",
        "evaluation",
        "blessing",
        "metrics",
        "classification_metrics",
        "eval_report",
    ],
    "infra_validate": ["model", "examples", "infra_blessing"],
    "push": [
        "run_name",
        "model",
        "blessing",
        "infra_blessing",
        "evaluation",
        "examples",
        "pushed_model",
    ],
}


class Stages:
    def __init__(self, cfg: PipelineConfig, root: str):
        self.config = cfg.to_json()
        self.artifacts = {
            name: kind(name=name, uri=os.path.join(root, name), metadata={})
            for name, kind in ARTIFACTS.items()
        }
        os.makedirs(root, exist_ok=True)

    def call(self, stage: str) -> None:
        fn = {f.__name__: f for f in STAGES}[stage]
        args = [RUN_NAME if a == "run_name" else self.artifacts[a] for a in ARGUMENTS[stage]]
        fn(self.config, *args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stages", nargs="+", choices=STAGE_NAMES)
    parser.add_argument("--root", required=True, help="directory holding the artifacts")
    parser.add_argument("--config", required=True, help="the PipelineConfig as a JSON file")
    args = parser.parse_args(argv)
    stages = Stages(PipelineConfig.from_json(fileio.read_text(args.config)), args.root)
    seconds = {}
    for stage in args.stages:
        started = time.perf_counter()
        stages.call(stage)
        seconds[stage] = round(time.perf_counter() - started, 2)
        print(f"  direct {stage}: {seconds[stage]:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(seconds))  # the last line of stdout: seconds per stage


if __name__ == "__main__":
    main()
