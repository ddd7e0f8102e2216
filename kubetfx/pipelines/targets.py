"""Compile targets: what each step asks of the cluster it runs on.

`local` (kfp.local) takes the steps as they are: it runs them in this venv and rejects
accelerators. `kubeflow` and `vertex` get, per step, `cluster.default` merged with
`cluster.steps.<stage>`: CPU and memory, accelerators, placement and caching. The two cluster
targets spell accelerators differently (DESIGN.md §4): open-source KFP schedules on Kubernetes
(`nvidia.com/gpu` plus GKE node selectors and tolerations), Vertex AI picks a machine from an
enum (`NVIDIA_TESLA_T4`, `TPU_V5_LITEPOD`...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal

from kubetfx.components.config import PipelineConfig
from kubetfx.components.resources import (
    GPU_NODE_LABEL,
    TPU_NODE_LABEL,
    TPU_TOPOLOGY_LABEL,
    StepSettings,
    accelerator_names,
    step_settings,
)
from kubetfx.errors import ConfigError

Target = Literal["local", "kubeflow", "vertex"]
TARGETS: tuple[str, ...] = ("local", "kubeflow", "vertex")
CLUSTER_TARGETS = ("kubeflow", "vertex")

# The pipelines kubetfx compiles (see pipeline_builders).
PIPELINES = ("training", "batch", "monitoring")
# Every step of every pipeline, in order (tests/pipeline/test_targets.py checks it against
# their STAGES): written out so that this module need not import the pipelines that use it.
STAGE_NAMES = (
    "configure", "data_fingerprint", "ingest", "baseline", "statistics", "schema", "validate",
    "transform", "tune", "train", "evaluate", "infra_validate", "push", "notify", "batch_predict",
    "monitor", "monitor_act",
)  # fmt: skip
# The steps whose core runs an Apache Beam pipeline; only these take beam_args.
BEAM_STAGES = ("statistics", "transform", "evaluate", "batch_predict")
# Retried by default on a cluster (cluster.*.retries): long or remote work a transient fault
# (a preempted node, a Dataflow or API hiccup) should not fail a whole run for.
RETRIED_STAGES = (*BEAM_STAGES, "train", "push")
DEFAULT_RETRIES = 2

# Where a cluster target may write artifacts. MinIO is KFP's own default artifact store (the
# kind end-to-end run uses it); Vertex AI writes to Cloud Storage only.
REMOTE_ROOTS: dict[str, tuple[str, ...]] = {
    "kubeflow": ("gs://", "s3://", "minio://"),
    "vertex": ("gs://",),
}


def check(cfg: PipelineConfig, target: Target, stages: list[str]) -> None:
    """Fail (ConfigError) before compiling anything a cluster would reject or misplace."""
    if target not in TARGETS:
        raise ConfigError(f"--target: expected one of {', '.join(TARGETS)}, got {target!r}")
    if cfg.cluster.default.beam_args is not None:
        raise ConfigError(
            "cluster.default.beam_args: Beam options for every step are beam.pipeline_args; "
            "set beam_args under cluster.steps.<stage> to override them for one step"
        )
    # One config serves every pipeline: a step of another pipeline is fine, a typo is not.
    unknown = sorted(set(cfg.cluster.steps) - set(STAGE_NAMES))
    if unknown:
        raise ConfigError(
            f"cluster.steps: unknown step(s) {', '.join(unknown)}; the steps are "
            f"{', '.join(STAGE_NAMES)}"
        )
    for stage in stages:
        settings = step_settings(cfg, stage)
        if stage not in BEAM_STAGES and settings.resources.beam_args is not None:
            raise ConfigError(
                f"cluster.steps.{stage}.beam_args: {stage} runs no Beam pipeline; "
                f"Beam options apply to {', '.join(BEAM_STAGES)}"
            )
        if target in CLUSTER_TARGETS and settings.resources.accelerator:
            accelerator_names(settings, target)
    if target in CLUSTER_TARGETS and not cfg.pipeline_root.startswith(REMOTE_ROOTS[target]):
        raise ConfigError(
            f"pipeline_root: {target} steps run in pods that cannot see this machine's disk, "
            f"so the pipeline root must be a bucket ({' or '.join(REMOTE_ROOTS[target])}...), "
            f"got {cfg.pipeline_root!r}; set pipeline_root in the config or --pipeline-root"
        )
    backend = cfg.train.backend
    if backend != "local" and target == "local":
        raise ConfigError(
            f"train.backend: {backend!r} trains on workers that read the run's artifacts from a "
            "bucket; a local run has none. Use 'local', or compile with --target kubeflow|vertex"
        )
    if backend == "gke" and target == "vertex":
        raise ConfigError(
            "train.backend: 'gke' launches worker pods from inside the Kubernetes cluster the "
            "step runs on, and a Vertex AI pipeline step runs in none; use 'vertex' (a "
            "CustomJob) or --target kubeflow"
        )


def task_settings(cfg: PipelineConfig, stage: str) -> StepSettings:
    """The KFP task's own resources. A train step with a cluster backend only launches and
    watches its workers: they get cluster.steps.train, the step itself cluster.default."""
    settings = step_settings(cfg, stage)
    if stage == "train" and cfg.train.backend != "local":
        launcher = cfg.cluster.default.model_copy(update={"caching": settings.resources.caching})
        return StepSettings(stage, launcher, frozenset())
    return settings


def pipeline_root(cfg: PipelineConfig, target: Target) -> str | None:
    """The compiled default root (a UI upload runs there); local runs set their own."""
    return cfg.pipeline_root if target in CLUSTER_TARGETS else None


def pipeline_config(cfg: PipelineConfig, target: Target) -> PipelineConfig:
    """The config the steps receive. Each Beam step reads its own options at run time
    (`PipelineConfig.beam_args_for`), so a UI edit of the one `config` parameter reaches every
    step. Locally they are dropped: cluster settings are ignored by local runs, and a Dataflow
    option would launch cloud jobs on local paths. infra_validate.mode 'auto' becomes the
    target's mode."""
    infra = cfg.infra_validate.model_copy(update={"mode": infra_validate_mode(cfg, target)})
    if target in CLUSTER_TARGETS:
        return cfg.model_copy(update={"infra_validate": infra})
    steps = {
        stage: step.model_copy(update={"beam_args": None})
        for stage, step in cfg.cluster.steps.items()
    }
    cluster = cfg.cluster.model_copy(update={"steps": steps})
    return cfg.model_copy(update={"cluster": cluster, "infra_validate": infra})


def infra_validate_mode(cfg: PipelineConfig, target: Target) -> str:
    """Where infra_validate serves the candidate on `target` (TFX InfraValidator's platforms):
    a pod beside the step on Kubeflow; a temporary endpoint on Vertex AI, whose steps have
    neither a container engine nor a cluster API; a container of the engine when the local
    steps run in containers; else the server's Python environment in a subprocess."""
    mode = cfg.infra_validate.mode
    if mode == "auto":
        auto = {"kubeflow": "kubernetes", "vertex": "vertex"}
        if target == "local" and cfg.runner == "docker":
            return "docker"
        return auto.get(target, "subprocess")
    allowed = {
        "local": ("subprocess", "docker"),
        "kubeflow": ("subprocess", "kubernetes", "vertex"),
        "vertex": ("subprocess", "vertex"),
    }
    if mode not in allowed[target]:
        raise ConfigError(
            f"infra_validate.mode: {mode!r} is not available on target {target} (it can use "
            f"{' or '.join(allowed[target])}); set it to one of those or 'auto'"
        )
    return mode


def config_parameter(cfg: PipelineConfig, target: Target) -> str:
    """The `config` pipeline parameter: the steps' config as JSON.

    kfp.local (2.13) replaces every "python3" in a step's command line with its interpreter's
    path, config included, so a data path under .../lib/python3.11/... would be mangled.
    Locally the word is written with a JSON escape, which parses back to the same text.
    """
    text = pipeline_config(cfg, target).to_json()
    return text if target in CLUSTER_TARGETS else text.replace("python3", "\\u0070ython3")


def configure_steps(
    cfg: PipelineConfig, target: Target, ops: Mapping[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """Wrap each stage's component so the task it creates carries the target's settings."""
    check(cfg, target, list(ops))
    if target == "local":
        return dict(ops)
    return {
        stage: functools.partial(_configured_task, op, task_settings(cfg, stage), target)
        for stage, op in ops.items()
    }


def _configured_task(op: Callable[..., Any], settings: StepSettings, target: Target, **inputs):
    task = op(**inputs)
    _set_resources(task, settings, target)
    if settings.resources.accelerator:
        _set_accelerator(task, settings, target)
    # Vertex runs each step on a machine it picks from the resources above, outside any
    # Kubernetes cluster of ours: node selectors and tolerations have nothing to act on there.
    if target == "kubeflow":
        _set_placement(task, settings)
    task.set_caching_options(settings.resources.caching)
    retries = settings.resources.retries
    if retries is None:
        retries = DEFAULT_RETRIES if settings.stage in RETRIED_STAGES else 0
    if retries:
        backoff = settings.resources.retry_backoff_seconds
        task.set_retry(retries, f"{backoff:g}s", 2.0, "3600s")
    return task


def _set_resources(task, settings: StepSettings, target: Target) -> None:
    res = settings.resources
    for field, value, setters in (
        ("cpu", res.cpu, (task.set_cpu_limit, task.set_cpu_request)),
        ("memory", res.memory, (task.set_memory_limit, task.set_memory_request)),
    ):
        if value is None:
            continue
        # Vertex sizes the machine from the limits alone; requests are a Kubernetes
        # scheduling notion. On Kubeflow, request == limit gives the pod Guaranteed QoS, so a
        # Beam or training step is neither throttled below nor evicted above what it asked.
        for setter in setters[:1] if target == "vertex" else setters:
            try:
                setter(value)
            except ValueError as e:
                raise ConfigError(f"{settings.field(field)}: {e} (got {value!r})") from e


def _set_accelerator(task, settings: StepSettings, target: Target) -> None:
    res = settings.resources
    kind, name = accelerator_names(settings, target)
    task.set_accelerator_type(name)
    try:
        task.set_accelerator_limit(res.accelerator_count)
    except ValueError as e:
        raise ConfigError(
            f"{settings.field('accelerator_count')}: {e} (got {res.accelerator_count})"
        ) from e
    if target != "kubeflow":
        return
    from kfp import kubernetes

    if kind == "gpu":
        kubernetes.add_node_selector(task, GPU_NODE_LABEL, res.accelerator)
    else:
        kubernetes.add_node_selector(task, TPU_NODE_LABEL, res.accelerator)
        kubernetes.add_node_selector(task, TPU_TOPOLOGY_LABEL, res.tpu_topology)
    kubernetes.add_toleration(task, key=name, operator="Exists", effect="NoSchedule")


def _set_placement(task, settings: StepSettings) -> None:
    from kfp import kubernetes

    for key, value in settings.resources.node_selector.items():
        kubernetes.add_node_selector(task, key, value)
    for toleration in settings.resources.tolerations:
        kubernetes.add_toleration(
            task,
            key=toleration.key,
            operator=toleration.operator,
            value=toleration.value,
            effect=toleration.effect,
        )


def secret_as_env(task, secret: str, key: str) -> None:
    """The Kubernetes Secret's `key` as the step's $KUBETFX_NOTIFY_URL (kfp-kubernetes)."""
    from kfp import kubernetes

    from kubetfx.components.notify.core import URL_VARIABLE

    kubernetes.use_secret_as_env(task, secret_name=secret, secret_key_to_env={key: URL_VARIABLE})
