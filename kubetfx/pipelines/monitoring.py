"""The monitoring pipeline (monitor -> monitor_act), the training trigger, `kubetfx monitor`.

One KFP v2 definition for kfp.local, Kubeflow and Vertex, like training: its only parameter is
the config, whose `monitor` section says which window to watch (a scheduled run watches the
`monitor.window` ending when it runs). The monitoring pipeline is named after the training
pipeline (kubetfx-training -> kubetfx-monitoring), and remembers the training pipeline's name
in monitor.training_pipeline, which is what a drift starts.
"""
# No `from __future__ import annotations` here: kfp reads the pipeline signature types.

from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.monitor.component import monitor, monitor_act
from kubetfx.errors import ConfigError
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
    paths = [("monitor.output_dir", cfg.monitor.output_dir)]
    if cfg.serving.request_log.source != "vertex_bigquery":  # BigQuery: no directory read
        paths.append(("serving.request_log.dir", cfg.serving.request_log.dir))
    for field, path in paths:
        if not fileio.is_remote(path):
            raise ConfigError(
                f"{field}: a cluster step needs a bucket (gs://...), got {path!r}; the "
                "monitoring state and the request logs must outlive the pod"
            )
