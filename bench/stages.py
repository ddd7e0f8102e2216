"""The training pipeline's steps called directly, without kfp (kubetfx.runners.in_process).

The benchmarks use it to time the steps with no orchestration around them, all in one process
or one step per process, against one run directory (the seconds each step took are the last
line printed, as JSON):

    python -m bench.stages STEP [STEP...] --root RUN_DIR --config FILE.json
"""

from __future__ import annotations

import argparse
import json
import sys

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.pipelines.training import STAGES
from kubetfx.runners.in_process import training_steps

STAGE_NAMES = tuple(fn.__name__.replace("_", "-") for fn in STAGES)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stages", nargs="+", choices=STAGE_NAMES)
    parser.add_argument("--root", required=True, help="the run directory holding the artifacts")
    parser.add_argument("--config", required=True, help="the PipelineConfig as a JSON file")
    args = parser.parse_args(argv)
    steps = training_steps(PipelineConfig.from_json(fileio.read_text(args.config)), args.root)
    seconds = {}
    for stage in args.stages:
        seconds[stage] = round(steps.call(stage).seconds, 2)
        print(f"  direct {stage}: {seconds[stage]:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(seconds))  # the last line of stdout: seconds per stage


if __name__ == "__main__":
    main()
