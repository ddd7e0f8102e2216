"""The monitoring pipeline (monitor -> monitor_act), the training trigger, `kubetfx monitor`.

One KFP v2 definition for kfp.local, Kubeflow and Vertex, like training: its only parameter is
the config, whose `monitor` section says which window to watch (a scheduled run watches the
`monitor.window` ending when it runs). The monitoring pipeline is named after the training
pipeline (kubetfx-training -> kubetfx-monitoring), and remembers the training pipeline's name
in monitor.training_pipeline, which is what a drift starts.
"""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

import argparse
import json
import os

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.errors import ConfigError, KubetfxError
from kubetfx.components.monitor.component import monitor, monitor_act
from kubetfx.pipelines import targets

STAGES = (monitor, monitor_act)
TRIGGER_FILE = "triggered_by.json"  # written into a locally triggered run's directory


def monitoring_name(training: str) -> str:
    return training.removesuffix("-training") + "-monitoring"


def for_monitoring(cfg: PipelineConfig) -> PipelineConfig:
    """The config of the monitoring pipeline (idempotent): its own name, and the training
    pipeline's name kept as the one to start."""
    training = cfg.monitor.training_pipeline or cfg.pipeline_name
    name = monitoring_name(training)
    if cfg.pipeline_name == name:
        return cfg
    monitor_cfg = cfg.monitor.model_copy(update={"training_pipeline": training})
    return cfg.model_copy(update={"pipeline_name": name, "monitor": monitor_cfg})


def training_config(cfg: PipelineConfig, cause: str) -> PipelineConfig:
    """The training run a drift starts: the training pipeline, labelled with its cause."""
    training = cfg.monitor.training_pipeline or cfg.pipeline_name
    monitor_cfg = cfg.monitor.model_copy(update={"triggered_by": cause})
    return cfg.model_copy(update={"pipeline_name": training, "monitor": monitor_cfg})


def build(cfg: PipelineConfig, target: targets.Target = "local"):
    """The monitoring pipeline for this config and compile target (local, kubeflow, vertex)."""
    cfg = for_monitoring(cfg)
    if target in targets.CLUSTER_TARGETS:
        _check_remote(cfg)
    component = dsl.component(base_image=cfg.images.components, install_kfp_package=False)
    op = targets.configure_steps(cfg, target, {fn.__name__: component(fn) for fn in STAGES})

    @dsl.pipeline(
        name=cfg.pipeline_name,
        description="kubetfx monitoring: skew and drift of serving traffic, live quality, "
        "and the alert/retrain policy.",
        pipeline_root=targets.pipeline_root(cfg, target),
    )
    def monitoring(config: str = targets.config_parameter(cfg, target)) -> None:
        watched = op["monitor"](config=config)
        # Never cached: the same config watches a different window every time it runs.
        watched.set_caching_options(False)
        acted = op["monitor_act"](config=config, platform=target, result=watched.outputs["result"])
        acted.set_caching_options(False)

    return monitoring


def _check_remote(cfg: PipelineConfig) -> None:
    """Steps in pods cannot see this machine's disk; the policy state must outlive the pod."""
    for field, path in (
        ("monitor.output_dir", cfg.monitor.output_dir),
        ("serving.request_log.dir", cfg.serving.request_log.dir),
    ):
        if not fileio.is_remote(path):
            raise ConfigError(
                f"{field}: a cluster step needs a bucket (gs://...), got {path!r}; the "
                "monitoring state and the request logs must outlive the pod"
            )


def trigger_training(cfg: PipelineConfig, target: str, cause: str) -> str:
    """Start the training pipeline because of `cause` (a monitoring result URI).

    The run's config carries monitor.triggered_by = cause (its only parameter, shown by the
    Kubeflow UI and Vertex); a local run also gets {run_dir}/triggered_by.json.
    """
    training = training_config(cfg, cause)
    if target == "local":
        from kubetfx.pipelines import training as training_pipeline
        from kubetfx.runners import local

        result = local.run(training, training_pipeline.build(training))
        if result.run_dir and os.path.isdir(result.run_dir):
            fileio.write_text(
                os.path.join(result.run_dir, TRIGGER_FILE),
                json.dumps({"triggered_by": cause, "succeeded": result.succeeded}, indent=2),
            )
        return result.run_name
    from kubetfx.runners.submit import add_cloud_flags

    parser = argparse.ArgumentParser()
    add_cloud_flags(parser, "submit")
    args = parser.parse_args(["--target", target])
    if target == "kubeflow":
        from kubetfx.runners import submit_kubeflow as submitter
    else:
        from kubetfx.runners import submit_vertex as submitter
    if submitter.submit(training, args) != 0:
        raise KubetfxError(f"could not submit the training pipeline to {target}")
    return f"{training.pipeline_name} on {target}"


def localize(cfg: PipelineConfig) -> PipelineConfig:
    """kubetfx.pipelines.config.localize plus the monitor section's paths."""
    from kubetfx.pipelines.config import _absolute
    from kubetfx.pipelines.config import localize as localize_all

    cfg = localize_all(cfg)
    mon = cfg.monitor
    paths = {k: _absolute(getattr(mon, k)) for k in ("output_dir", "labels", "training_statistics")}
    return cfg.model_copy(update={"monitor": mon.model_copy(update=paths)})


def cmd_monitor(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    """`kubetfx monitor`: locally with kfp.local, or submitted to a cluster target."""
    cfg = for_monitoring(cfg)
    if args.target != "local":
        from kubetfx.runners import submit

        unset = ("namespace", "token_file", "iap_audience", "experiment", "service_account")
        submit_args = argparse.Namespace(
            target=args.target,
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
    print(f"kubetfx: monitoring {cfg.push.model_name} from {cfg.serving.request_log.dir}")
    result = local.run(cfg, build(cfg), verbose=args.verbose)
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
    print(f"policy: {decision.get('reason')}")
    print(f"report: {fileio.join(outcome.uri, core.REPORT_HTML)}")
    return 0
