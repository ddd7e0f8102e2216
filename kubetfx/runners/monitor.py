"""`kubetfx monitor` (locally, or submitted to a cluster) and the training run a drift starts."""

from __future__ import annotations

import argparse
import json
import os

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.config_loader import localize
from kubetfx.errors import KubetfxError
from kubetfx.pipelines.monitoring import (
    TRIGGER_FILE,
    build,
    for_monitoring,
    training_config,
)


def trigger_training(cfg: PipelineConfig, target: str, cause: str) -> str:
    """Start the training pipeline because of `cause` (a monitoring result URI).

    The run's config carries monitor.triggered_by = cause (its only parameter, shown by the
    Kubeflow UI and Vertex); a local run also gets {run_dir}/triggered_by.json.
    """
    training = training_config(cfg, cause)
    if target == "local":
        from kubetfx.pipelines import training as training_pipeline
        from kubetfx.pipelines.artifacts import record_config
        from kubetfx.runners import local

        result = local.run(training, training_pipeline.build(training))
        record_config(result.run_dir, training.to_json())
        if result.run_dir and os.path.isdir(result.run_dir):
            fileio.write_text(
                os.path.join(result.run_dir, TRIGGER_FILE),
                json.dumps({"triggered_by": cause, "succeeded": result.succeeded}, indent=2),
            )
        return result.run_name
    from kubetfx.runners.submit import add_cloud_flags

    parser = argparse.ArgumentParser()
    add_cloud_flags(parser, "submit")
    args = parser.parse_args(["--platform", target])
    if target == "kubeflow":
        from kubetfx.runners import submit_kubeflow as submitter
    else:
        from kubetfx.runners import submit_vertex as submitter
    if submitter.submit(training, args) != 0:
        raise KubetfxError(f"could not submit the training pipeline to {target}")
    return f"{training.pipeline_name} on {target}"


def check_flags(cfg: PipelineConfig, readable: bool) -> None:
    """What the monitor step would refuse, refused before any step starts (a ConfigError or
    DataError: exit 2 with one line): the window (--start after --end, a bad duration or
    time) and, for a local run, the labels file (format, columns)."""
    from kubetfx.components.monitor import quality
    from kubetfx.components.monitor import window as windows

    mon = cfg.monitor
    windows.resolve(None if mon.start else mon.window, mon.start, mon.end)
    if mon.labels and readable:  # a cluster run reads it in its own pod
        quality.read_labels(mon.labels, cfg.data.label)


def cmd_monitor(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    """`kubetfx monitor`: locally with kfp.local, or submitted to a cluster target."""
    cfg = for_monitoring(cfg)
    check_flags(cfg, readable=args.platform == "local")
    if args.platform != "local":
        from kubetfx.runners import submit

        unset = ("namespace", "token_file", "iap_audience", "experiment", "service_account")
        submit_args = argparse.Namespace(
            platform=args.platform,
            pipeline="monitoring",
            wait=False,
            dry_run=args.dry_run,
            host=args.host,
            project=args.project,
            region=args.region,
            **dict.fromkeys(unset),
        )
        return submit.cmd_submit(cfg, submit_args)
    from kubetfx.components.monitor import core
    from kubetfx.runners import local

    cfg = localize(cfg)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    log = cfg.serving.request_log
    where = log.bigquery_table if log.source == "vertex_bigquery" else log.dir
    print(f"kubetfx: monitoring {cfg.push.model_name} from {where} ({log.source})")
    result = local.run(cfg, build(cfg), verbose=args.verbose, kind="monitoring")
    if not result.succeeded:
        print(f"kubetfx: monitoring failed: {result.error}\n  log: {result.log_path}")
        return 1
    watched = result.step("monitor").artifacts["result"]
    outcome = core.MonitorResult.from_json(
        fileio.read_text(fileio.join(watched["uri"], core.RESULT_FILE))
    )
    decision = result.step("monitor-act").artifacts["decision"]["metadata"]
    print(
        f"verdict: {outcome.verdict} ({outcome.window['rows']:,} rows in the window, "
        f"{outcome.previous['rows']:,} before); flagged: {', '.join(outcome.flagged) or 'none'}"
    )
    if outcome.live:
        print(f"live quality: {outcome.describe_live()}")
    print(f"policy: {decision.get('reason')}")
    print(f"report: {fileio.join(outcome.uri, core.REPORT_HTML)}")
    return 0
