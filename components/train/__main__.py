"""`python -m components.train`: the trainer as a process, e.g. one worker of a cluster.

Each worker of multi-worker training runs this with the same arguments and its own
TF_CONFIG (set by Vertex AI, the GKE launcher, or a test on loopback).
"""

import argparse
import json
import sys

from components.config import PipelineConfig
from components.train.core import run_from_artifacts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.train", description=__doc__)
    parser.add_argument("--config", required=True, help="PipelineConfig as a JSON file")
    parser.add_argument("--transformed-examples", required=True)
    parser.add_argument("--transform-graph", required=True)
    parser.add_argument("--schema", required=True, help="the Schema artifact directory")
    parser.add_argument("--model", required=True, help="where the chief exports the model")
    parser.add_argument("--model-run", required=True, help="TensorBoard log directory")
    args = parser.parse_args(argv)
    with open(args.config) as f:
        cfg = PipelineConfig.from_json(f.read())
    result = run_from_artifacts(
        cfg,
        args.transformed_examples,
        args.transform_graph,
        args.schema,
        args.model,
        args.model_run,
    )
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
