"""The `kubetfx` command line: run, batch-predict, monitor, compile, submit, schedule,
promote, rollback, generate, reference, registry, config.

Exit codes: 0 success, 1 the run failed (a step failed, e.g. blocking anomalies),
2 bad flags or config (a message names the field; no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from kubetfx.errors import ConfigError, DataError, KubetfxError
from kubetfx.pipelines.targets import PIPELINES


def _verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="show each step's own output and tracebacks"
    )


def _config_flags(parser: argparse.ArgumentParser) -> None:
    _verbose_flag(parser)
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


def _runner_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runner",
        choices=("subprocess", "docker"),
        help="kfp.local runner (runner): subprocess in this environment (default), or docker: "
        "each step in images.components through the Docker API at DOCKER_HOST",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "runner": getattr(args, "runner", None),
        "data.path": args.data,
        "data.label": args.label,
        "data.name": args.name,
        "pipeline_root": args.pipeline_root,
        "reference_root": args.reference_root,
        "beam.pipeline_args": args.beam_arg,
    }


def _load(args: argparse.Namespace):
    from kubetfx.components.config_loader import load_config

    cfg = load_config(args.config, _overrides(args))
    if getattr(args, "pipeline", None) == "monitoring":  # compile/submit/schedule it by name
        from kubetfx.pipelines.monitoring import for_monitoring

        cfg = for_monitoring(cfg)
    return cfg


def _check_input(cfg) -> None:
    """Read a local data path once before any step runs: a bad file, a missing or constant
    label, or a glob matching nothing stops here with one message (exit 2), not as a failed
    step. Remote data is checked by the ingest step, which has the cloud credentials."""
    from kubetfx.components import fileio
    from kubetfx.components.ingest.core import inspect

    if fileio.is_remote(cfg.data.path):
        return
    check = inspect(cfg.data, cfg.ingest)
    print(f"kubetfx: read {check.rows:,} rows, {len(check.columns)} columns", flush=True)
    for name in check.empty_columns():
        print(f"kubetfx: warning: column {name!r} has no value in any row")


def cmd_run(args: argparse.Namespace) -> int:
    from kubetfx.components.config_loader import localize

    original = None
    if args.reproduce:
        from kubetfx.runners import reproduce

        flags = {"runner": "--runner", "data.path": "--data", "data.label": "--label",
                 "data.name": "--name", "reference_root": "--reference-root",
                 "beam.pipeline_args": "--beam-arg"}  # fmt: skip
        given = [flags[f] for f, v in _overrides(args).items() if v and f in flags]
        if given or args.config:
            raise ConfigError(
                f"--reproduce runs the config {args.reproduce!r} recorded; drop "
                f"{', '.join(given) or '--config'} (only --pipeline-root says where it is)"
            )
        root = args.pipeline_root or localize(_load(args)).pipeline_root
        cfg, original = reproduce.recorded(root, args.reproduce)
        reproduce.check_data(original, cfg)
    else:
        cfg = localize(_load(args))
    _check_input(cfg)
    # Quieten TensorFlow's C++ start-up chatter in every step's subprocess.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kubetfx.pipelines import training
    from kubetfx.pipelines.artifacts import record_config
    from kubetfx.runners import in_process, local, summary

    print(f"kubetfx: training pipeline on {cfg.data.path} (label {cfg.data.label!r})", flush=True)
    if args.in_process:
        if cfg.runner == "docker":
            raise ConfigError(
                "--in-process calls the steps in this process: not with --runner docker"
            )
        result = in_process.run(cfg)
    else:
        result = local.run(cfg, training.build(cfg), verbose=args.verbose)
    record_config(result.run_dir, cfg.to_json())
    print(summary.render(result), flush=True)
    if original is not None and result.succeeded:
        from kubetfx.pipelines.artifacts import open_run

        same, line = reproduce.verdict(original, open_run(cfg.pipeline_root, result.run_name))
        print(line, flush=True)
        return 0 if same else 1
    return 0 if result.succeeded else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from kubetfx.pipelines import catalog

    return catalog.cmd_compile(_load(args), args)


def cmd_submit(args: argparse.Namespace) -> int:
    from kubetfx.runners import submit

    return submit.cmd_submit(_load(args), args)


def cmd_schedule(args: argparse.Namespace) -> int:
    from kubetfx.runners import submit

    return submit.cmd_schedule(_load(args), args)


def cmd_operations(args: argparse.Namespace) -> int:
    """`kubetfx runs|schedules ACTION [ID]` on Kubeflow or Vertex AI."""
    from kubetfx.components.config_loader import load_config
    from kubetfx.runners import experiments, operations

    if args.action in ("compare", "history"):
        run = experiments.cmd_compare if args.action == "compare" else experiments.cmd_history
        return run(load_config(args.config), args)
    if not args.platform:
        raise ConfigError(f"{args.command} {args.action}: give --platform kubeflow or vertex")
    if args.action != "list" and not args.id:
        raise ConfigError(f"{args.command} {args.action}: give the id (see `{args.command} list`)")
    if args.limit < 1:
        raise ConfigError(f"--limit: must be at least 1, got {args.limit}")
    command = operations.cmd_runs if args.command == "runs" else operations.cmd_schedules
    return command(load_config(args.config), args)


def cmd_serving_change(args: argparse.Namespace) -> int:
    """`kubetfx promote|rollback`: move a canary on the serving target (push.destination)."""
    from kubetfx.components.push.deploy import target_for
    from kubetfx.runners.cloud import print_request

    cfg = _load(args)
    name = args.destination or cfg.push.destination
    if name == "local":
        raise ConfigError(
            f"--destination: {args.command} acts on a serving destination (kserve or vertex); "
            "push.destination is 'local' (the registry's champion pointer moves with "
            "`push.promote`)"
        )
    target = target_for(cfg, name)
    change = target.change(args.command)
    if args.dry_run:
        return print_request(change)
    target.apply(change)
    print(f"kubetfx: {args.command} done: {json.dumps(change)}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from kubetfx.pipelines import generate

    drifts = [generate.Drift.parse(spec) for spec in args.drift or []]
    rows = generate.write(args.out, args.rows, args.seed, drifts, label=not args.no_label)
    print(f"wrote {rows:,} rows to {args.out}")
    return 0


def cmd_reference(args: argparse.Namespace) -> int:
    from kubetfx.components.config_loader import localize
    from kubetfx.components.reference import ReferenceStore

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


def cmd_batch_predict(args: argparse.Namespace) -> int:
    from kubetfx.components.config_loader import load_config
    from kubetfx.runners import batch as runner

    overrides = {
        **_overrides(args),
        "batch_predict.input": args.input,
        "batch_predict.input_format": args.input_format,
        "batch_predict.output": args.output,
        "batch_predict.output_format": args.output_format,
        "batch_predict.model": args.model_version,
    }
    return runner.cmd_batch_predict(load_config(args.config, overrides), args.verbose)


def cmd_monitor(args: argparse.Namespace) -> int:
    from kubetfx.components.config_loader import load_config
    from kubetfx.runners import monitor as runner

    overrides = {
        **_overrides(args),
        "monitor.window": args.window,
        "monitor.start": args.start,
        "monitor.end": args.end,
        "monitor.labels": args.labels,
    }
    if args.window and args.start:
        raise ConfigError("--window and --start: give a window length or a start, not both")
    return runner.cmd_monitor(load_config(args.config, overrides), args)


def cmd_registry(args: argparse.Namespace) -> int:
    """`kubetfx registry gc`: report and remove what interrupted pushes left in the registry."""
    from kubetfx.components import fileio, registry
    from kubetfx.components.config_loader import load_config, localize
    from kubetfx.errors import RegistryError

    grace = registry.GC_GRACE_SECONDS if args.grace_seconds is None else args.grace_seconds
    if not grace >= 0:  # also NaN
        raise ConfigError(f"--grace-seconds: give 0 or more seconds, got {grace:g}")
    root = localize(load_config(args.config, {"push.registry": args.registry})).push.registry
    if not fileio.exists(root):
        raise ConfigError(
            f"--registry: {root} does not exist; give the registry root that push writes to "
            "(push.registry)"
        )
    models = registry.model_names(root)
    if args.model is not None and args.model not in models:
        raise ConfigError(
            f"--model: {root} holds no model {args.model!r} (it holds: "
            f"{', '.join(models) or 'none'})"
        )
    found = registry.collect_garbage(
        root, [args.model] if args.model else models, grace, args.dry_run
    )
    for item in found:
        print(item.describe())
    said = {"removed": "removed", "would remove": "to remove (dry run)", "kept": "kept (young)"}
    counts = {text: sum(i.action == action for i in found) for action, text in said.items()}
    done = ", ".join(f"{n} {text}" for text, n in counts.items() if n) or "nothing to remove"
    print(f"kubetfx: registry gc of {root} (grace {grace:g} s): {done}")
    failed = sum(i.action == "failed" for i in found)
    if failed:
        raise RegistryError(f"{failed} leftover(s) could not be removed (see above)")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from kubetfx.components.config_loader import to_yaml

    print(to_yaml(_load(args)), end="")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kubetfx")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    from kubetfx.components.registry import GC_GRACE_SECONDS
    from kubetfx.runners.submit import add_cloud_flags, renamed_flag

    parser = argparse.ArgumentParser(prog="kubetfx", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"kubetfx {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the training pipeline locally (kfp.local)")
    _config_flags(run)
    _runner_flag(run)
    run.add_argument(
        "--in-process",
        action="store_true",
        help="call the steps one after another in this process instead of a kfp.local "
        "subprocess each: breakpoints work and the libraries load once (same artifacts)",
    )
    run.add_argument(
        "--reproduce",
        metavar="RUN",
        help="run RUN (a run name in the pipeline root, or latest) again with the config it "
        "recorded; refused if its data changed; checks the new model predicts as it did",
    )
    run.set_defaults(func=cmd_run)

    comp = sub.add_parser("compile", help="compile a pipeline to KFP IR YAML")
    comp.add_argument("--pipeline", choices=PIPELINES, default="training")
    comp.add_argument("--output", required=True, help="YAML file to write")
    comp.add_argument(
        "--platform",
        choices=("local", "kubeflow", "vertex"),
        default="local",
        help="local (kfp.local), kubeflow (KFP on Kubernetes) or vertex (Vertex AI Pipelines): "
        "decides per-step resources, accelerators and placement",
    )
    renamed_flag(comp, "--target", "--platform")
    _config_flags(comp)
    comp.set_defaults(func=cmd_compile)

    subm = sub.add_parser("submit", help="run a pipeline on Kubeflow Pipelines or Vertex AI")
    add_cloud_flags(subm, "submit")
    _config_flags(subm)
    subm.set_defaults(func=cmd_submit)

    sched = sub.add_parser("schedule", help="run a pipeline on a cron schedule, on KFP or Vertex")
    add_cloud_flags(sched, "schedule")
    _config_flags(sched)
    sched.set_defaults(func=cmd_schedule)

    from kubetfx.runners.operations import add_flags

    for command, actions, text in (
        (
            "runs",
            ("list", "get", "cancel", "compare", "history"),
            "list, inspect or cancel runs on Kubeflow or Vertex; compare two runs (local or "
            "cluster); a metric over a dataset's runs",
        ),
        (
            "schedules",
            ("list", "delete", "pause", "resume"),
            "list, delete, pause or resume schedules on Kubeflow or Vertex",
        ),
    ):
        ops = sub.add_parser(command, help=text)
        add_flags(ops, actions)
        ops.add_argument("--config", help="YAML config file (see `kubetfx config`)")
        ops.set_defaults(func=cmd_operations)

    for action, text in (
        (
            "promote",
            "give the canary all traffic (KServe: drop canaryTrafficPercent; Vertex: "
            "100%% to the newest deployed model, undeploy the others)",
        ),
        ("rollback", "send all traffic back to the previous model and drop the canary"),
    ):
        change = sub.add_parser(action, help=text)
        change.add_argument(
            "--destination",
            choices=("kserve", "vertex"),
            help="where the model is served (default push.destination)",
        )
        renamed_flag(change, "--target", "--destination")
        change.add_argument(
            "--dry-run",
            action="store_true",
            help="print the exact change as JSON and apply nothing (Vertex reads the endpoint)",
        )
        _config_flags(change)
        change.set_defaults(func=cmd_serving_change)

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
    _verbose_flag(gen)
    gen.set_defaults(func=cmd_generate)

    ref = sub.add_parser("reference", help="show, locate or reset a dataset's reference schema")
    ref.add_argument("action", choices=("show", "path", "reset"))
    _config_flags(ref)
    ref.set_defaults(func=cmd_reference)

    bp = sub.add_parser("batch-predict", help="predict files of rows with a registry model")
    bp.add_argument("--input", help="CSV, Parquet or TFRecord file or glob (batch_predict.input)")
    bp.add_argument("--input-format", choices=("auto", "csv", "parquet", "tfrecord"))
    bp.add_argument("--output", help="directory for predictions and errors (batch_predict.output)")
    bp.add_argument("--output-format", choices=("jsonl", "parquet", "csv"))
    bp.add_argument("--model-version", type=int, help="a registry version (default: champion)")
    _config_flags(bp)
    _runner_flag(bp)
    bp.set_defaults(func=cmd_batch_predict)

    mon = sub.add_parser("monitor", help="skew, drift and live quality of serving traffic")
    mon.add_argument("--window", help="window ending now (or --end), e.g. 1h (monitor.window)")
    mon.add_argument("--start", help="ISO start of the window (monitor.start)")
    mon.add_argument("--end", help="ISO end of the window (monitor.end; default now)")
    mon.add_argument("--labels", help="delayed labels keyed by request_id (monitor.labels)")
    mon.add_argument(
        "--platform",
        choices=("local", "kubeflow", "vertex"),
        default="local",
        help="local: kfp.local here; kubeflow/vertex: submit the monitoring pipeline",
    )
    renamed_flag(mon, "--target", "--platform")
    mon.add_argument("--host", help="kubeflow: KFP API endpoint (kubeflow.host)")
    mon.add_argument("--project", help="vertex: Google Cloud project (vertex.project)")
    mon.add_argument("--region", help="vertex: Vertex AI region (vertex.region)")
    mon.add_argument("--dry-run", action="store_true", help="cluster targets: print, send nothing")
    _config_flags(mon)
    _runner_flag(mon)
    mon.set_defaults(func=cmd_monitor)

    reg = sub.add_parser(
        "registry", help="look after the model registry: gc removes what killed pushes left"
    )
    reg.add_argument(
        "action",
        choices=("gc",),
        help="gc: list and remove staging directories and temporary files of killed pushes",
    )
    reg.add_argument("--registry", help="registry root, local or gs:// (default push.registry)")
    reg.add_argument("--model", help="only this model (default: every model in the registry)")
    reg.add_argument(
        "--grace-seconds",
        type=float,
        metavar="N",
        help="leave leftovers that changed in the last N seconds: they may belong to a push "
        f"still running (default {GC_GRACE_SECONDS:g}, one hour)",
    )
    reg.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    reg.add_argument("--config", help="YAML config file (see `kubetfx config`)")
    _verbose_flag(reg)
    reg.set_defaults(func=cmd_registry)

    conf = sub.add_parser("config", help="print the effective config as YAML")
    _config_flags(conf)
    conf.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; the only place that turns kubetfx's exceptions into exit codes."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError) as e:  # the user's flags, config or input: fix and rerun
        _explain(args, e, f"kubetfx: error: {e}")
        return 2
    except KubetfxError as e:  # the run was valid and failed on its merits
        _explain(args, e, f"kubetfx: {type(e).__name__}: {e}")
        return 1


def _explain(args: argparse.Namespace, error: Exception, message: str) -> None:
    """One message for the user; the traceback too with --verbose."""
    if getattr(args, "verbose", False):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    print(message, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
