"""The `kubetfx` command line: run, compile, submit, schedule, generate, reference, config.

Exit codes: 0 success, 1 the run failed (a step failed, e.g. blocking anomalies),
2 bad flags or config (a message names the field; no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from components.errors import ConfigError, KubetfxError

PIPELINES = ("training",)


def _config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see `kubetfx config`)")
    parser.add_argument("--data", help="CSV/Parquet file, glob or {SPAN} pattern (data.path)")
    parser.add_argument("--label", help="label column (data.label)")
    parser.add_argument("--name", help="dataset name (data.name; default from the file name)")
    parser.add_argument("--pipeline-root", help="where run artifacts go (pipeline_root)")
    parser.add_argument("--reference-root", help="reference schemas (reference_root)")
    parser.add_argument(
        "--beam-arg",
        action="append",
        metavar="ARG",
        help="Beam pipeline option, repeatable (replaces beam.pipeline_args)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "data.path": args.data,
        "data.label": args.label,
        "data.name": args.name,
        "pipeline_root": args.pipeline_root,
        "reference_root": args.reference_root,
        "beam.pipeline_args": args.beam_arg,
    }


def _load(args: argparse.Namespace):
    from pipelines.config import load_config

    return load_config(args.config, _overrides(args))


def _check_input_exists(cfg) -> None:
    """Fail fast (exit 2) on a local data path that matches nothing, before any step runs."""
    from components import fileio
    from components.errors import DataError
    from components.ingest.core import resolve_input

    if fileio.is_remote(cfg.data.path):
        return  # checked by the ingest step, which has the cloud credentials
    try:
        resolve_input(cfg.data.path)
    except DataError as e:
        raise ConfigError(f"--data: {e}") from e


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.config import localize

    cfg = localize(_load(args))
    _check_input_exists(cfg)
    # Quieten TensorFlow's C++ start-up chatter in every step's subprocess.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipelines import local, summary, training

    print(f"kubetfx: training pipeline on {cfg.data.path} (label {cfg.data.label!r})", flush=True)
    result = local.run(cfg, training.build(cfg), verbose=args.verbose)
    print(summary.render(result), flush=True)
    return 0 if result.succeeded else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from pipelines import targets

    return targets.cmd_compile(_load(args), args)


def cmd_submit(args: argparse.Namespace) -> int:
    from pipelines import submit

    return submit.cmd_submit(_load(args), args)


def cmd_schedule(args: argparse.Namespace) -> int:
    from pipelines import submit

    return submit.cmd_schedule(_load(args), args)


def cmd_generate(args: argparse.Namespace) -> int:
    from pipelines import generate

    drifts = [generate.Drift.parse(spec) for spec in args.drift or []]
    rows = generate.write(args.out, args.rows, args.seed, drifts, label=not args.no_label)
    print(f"wrote {rows:,} rows to {args.out}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from components.reference import ReferenceStore
    from pipelines.config import localize

    cfg = localize(_load(args))
    store = ReferenceStore(cfg.reference_root, cfg.data.name)
    if args.action == "show":
        print(json.dumps(store.describe(), indent=2))
        if store.has_schema():
            print(f"\nEdit {store.schema_path} to curate the schema; the next run imports it.")
    elif args.action == "path":
        print(store.schema_path)
    elif args.action == "reset":
        existed = store.reset()
        print(f"{'removed' if existed else 'nothing to remove at'} {store.directory}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from pipelines.config import to_yaml

    print(to_yaml(_load(args)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubetfx", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the training pipeline locally (kfp.local)")
    _config_flags(run)
    run.add_argument("--verbose", action="store_true", help="show each step's own output")
    run.set_defaults(func=cmd_run)

    comp = sub.add_parser("compile", help="compile a pipeline to KFP IR YAML")
    comp.add_argument("--pipeline", choices=PIPELINES, default="training")
    comp.add_argument("--output", required=True, help="YAML file to write")
    comp.add_argument(
        "--target",
        choices=("local", "kubeflow", "vertex"),
        default="local",
        help="local (kfp.local), kubeflow (KFP on Kubernetes) or vertex (Vertex AI Pipelines): "
        "decides per-step resources, accelerators and placement",
    )
    _config_flags(comp)
    comp.set_defaults(func=cmd_compile)

    from pipelines.submit import add_cloud_flags

    subm = sub.add_parser("submit", help="run a pipeline on Kubeflow Pipelines or Vertex AI")
    add_cloud_flags(subm, "submit")
    _config_flags(subm)
    subm.set_defaults(func=cmd_submit)

    sched = sub.add_parser("schedule", help="run a pipeline on a cron schedule, on KFP or Vertex")
    add_cloud_flags(sched, "schedule")
    _config_flags(sched)
    sched.set_defaults(func=cmd_schedule)

    gen = sub.add_parser("generate", help="write a synthetic dataset (optionally drifted)")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--out", required=True, help="output .csv or .parquet file")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--drift",
        action="append",
        metavar="KIND:FEATURE[=VALUE]",
        help="repeatable; kinds: mean_shift, category_mix, new_category, missing, drop",
    )
    gen.add_argument("--no-label", action="store_true", help="leave out the label (serving data)")
    gen.set_defaults(func=cmd_generate)

    ref = sub.add_parser("reference", help="show, locate or reset a dataset's reference schema")
    ref.add_argument("action", choices=("show", "path", "reset"))
    _config_flags(ref)
    ref.set_defaults(func=cmd_reference)

    conf = sub.add_parser("config", help="print the effective config as YAML")
    _config_flags(conf)
    conf.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"kubetfx: error: {e}", file=sys.stderr)
        return 2
    except KubetfxError as e:
        print(f"kubetfx: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
