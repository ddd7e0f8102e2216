"""Training as a Vertex AI CustomJob (train.backend 'vertex').

Worker pool 0 is the chief, pool 1 the other train.workers - 1 workers, all on the same
machine (train.machine_type, plus cluster.steps.train's GPUs as Vertex's enum names); or one
TPU v5e host (its machine type follows cluster.steps.train.tpu_topology). Vertex AI sets
TF_CONFIG in each replica ({"cluster": {"chief": [...], "worker": [...]}, "task": ...}), which
kubetfx.components.train.core reads: MultiWorkerMirroredStrategy across them, the chief exports.
"""

from __future__ import annotations

from kubetfx.components.config import PipelineConfig
from kubetfx.components.gcp import aiplatform, api_errors
from kubetfx.components.resources import accelerator_names, step_settings
from kubetfx.errors import ConfigError, TrainingFailed

DEFAULT_MACHINE = "n1-standard-8"
# TPU v5e single-host machines by slice topology.
V5E_MACHINES = {"1x1": "ct5lp-hightpu-1t", "2x2": "ct5lp-hightpu-4t", "2x4": "ct5lp-hightpu-8t"}


def _machine_spec(cfg: PipelineConfig) -> dict:
    settings = step_settings(cfg, "train")
    res = settings.resources
    machine = {"machine_type": cfg.train.machine_type or DEFAULT_MACHINE}
    if not res.accelerator:
        return machine
    kind, name = accelerator_names(settings, "vertex")
    if kind == "gpu":
        return {**machine, "accelerator_type": name, "accelerator_count": res.accelerator_count}
    if res.accelerator != "tpu-v5-lite-podslice":
        raise ConfigError(
            f"{settings.field('accelerator')}: Vertex training here supports TPU v5e "
            f"(tpu-v5-lite-podslice), got {res.accelerator!r}"
        )
    if cfg.train.workers != 1:
        raise ConfigError(
            f"train.workers: a TPU v5e pool is one host here (TPUStrategy), got "
            f"{cfg.train.workers}; set train.workers: 1"
        )
    topology = res.tpu_topology or "2x2"
    if not cfg.train.machine_type and topology not in V5E_MACHINES:
        raise ConfigError(
            f"{settings.field('tpu_topology')}: a single-host v5e slice is one of "
            f"{', '.join(V5E_MACHINES)}, got {topology!r} (or set train.machine_type)"
        )
    return {
        "machine_type": cfg.train.machine_type or V5E_MACHINES[topology],
        "tpu_topology": topology,
    }


TRAINER = "kubetfx.components.train"  # what each replica runs: python -m TRAINER ARGS


def worker_pool_specs(cfg: PipelineConfig, args: list[str], module: str = TRAINER) -> list[dict]:
    """CustomJob.worker_pool_specs: the chief, then the workers (if more than one)."""
    container = {
        "image_uri": cfg.images.components,
        "command": ["python", "-m", module],
        "args": list(args),
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
    }
    machine = _machine_spec(cfg)
    pools = [{"machine_spec": machine, "replica_count": 1, "container_spec": container}]
    if cfg.train.workers > 1:
        pools.append(
            {
                "machine_spec": machine,
                "replica_count": cfg.train.workers - 1,
                "container_spec": container,
            }
        )
    return pools


def build_job(
    cfg: PipelineConfig, name: str, args: list[str], credentials=None, module: str = TRAINER
):
    """The CustomJob (its request body); building it sends nothing."""
    for key, value in (
        ("vertex.project", cfg.vertex.project),
        ("vertex.region", cfg.vertex.region),
    ):
        if not value:
            raise ConfigError(f"{key}: required for train.backend 'vertex'; set it in the config")
    if not cfg.pipeline_root.startswith("gs://"):
        raise ConfigError(
            f"pipeline_root: Vertex AI workers read and write Cloud Storage, got "
            f"{cfg.pipeline_root!r}; use gs://..."
        )
    output = f"{cfg.pipeline_root.rstrip('/')}/vertex-training/{name}"
    return aiplatform().CustomJob(
        display_name=name,
        worker_pool_specs=worker_pool_specs(cfg, args, module),
        base_output_dir=output,
        staging_bucket=output,
        project=cfg.vertex.project,
        location=cfg.vertex.region,
        labels={"kubetfx-pipeline": cfg.pipeline_name[:63]},
        credentials=credentials,
    )


def run_arguments(cfg: PipelineConfig) -> dict:
    """CustomJob.run's arguments: the TensorBoard its curves go to and the Experiment its
    params and metrics are logged to, when configured (both need the service account)."""
    vertex = cfg.vertex
    extra = {"tensorboard": vertex.tensorboard, "experiment": vertex.experiment}
    extra = {key: value for key, value in extra.items() if value}
    if extra and not vertex.service_account:
        raise ConfigError(
            f"vertex.service_account: required with vertex.{' and vertex.'.join(extra)} "
            "(Vertex AI uploads training logs as that account); set it, or unset them"
        )
    return {
        "service_account": vertex.service_account,
        "timeout": cfg.train.timeout_seconds,
        "sync": True,
        **extra,
    }


def run(job, cfg: PipelineConfig, name: str) -> None:
    """Run the job `name` to its end (the SDK logs its state and a console link as it goes).
    The name is passed in: the SDK's job.display_name raises until the job is created."""
    arguments = run_arguments(cfg)
    with api_errors(TrainingFailed, f"Vertex AI training job {name}"):
        job.run(**arguments)
