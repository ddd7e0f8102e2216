"""`python -m kubetfx.components.train`: the trainer as a process, e.g. one worker of a cluster.

Each worker of multi-worker training runs this with the same arguments and its own
TF_CONFIG (set by Vertex AI, the GKE launcher, or a test on loopback). The chief also writes
its result beside the TensorBoard logs, where the launching step reads it back.
"""

import argparse
import json
import sys

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.train.core import run_from_artifacts
from kubetfx.components.train.remote import write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubetfx.components.train", description=__doc__)
    config = parser.add_mutually_exclusive_group(required=True)
    config.add_argument("--config", help="PipelineConfig as a JSON file (local or gs://)")
    config.add_argument("--config-json", help="PipelineConfig as JSON text (what launchers pass)")
    parser.add_argument("--transformed-examples", required=True)
    parser.add_argument("--transform-graph", required=True)
    parser.add_argument("--schema", required=True, help="the Schema artifact directory")
    parser.add_argument("--model", required=True, help="where the chief exports the model")
    parser.add_argument("--model-run", required=True, help="TensorBoard log directory")
    args = parser.parse_args(argv)
    text = args.config_json or fileio.read_text(args.config)
    cfg = PipelineConfig.from_json(text)
    result = run_from_artifacts(
        cfg=cfg,
        transformed_uri=args.transformed_examples,
        graph_uri=args.transform_graph,
        schema_uri=args.schema,
        model_dir=args.model,
        model_run_dir=args.model_run,
    )
    if result.is_chief:
        write_result(result, args.model_run)
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
