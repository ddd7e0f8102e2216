"""Training off the step's own process (train.backend 'gke' or 'vertex').

The step becomes a launcher: it starts worker processes elsewhere, each running
`python -m kubetfx.components.train` on the artifacts' URIs (a bucket every worker can read), waits,
and reads back what the chief reports. The chief exports the model to the step's own model
URI, so the artifact the next steps read is the same as with local training.
"""

from __future__ import annotations

import json
import uuid

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.resources import TPUS, step_settings
from kubetfx.components.train.core import TrainResult, run_from_artifacts
from kubetfx.errors import ConfigError, TrainingFailed

RESULT_FILE = "train_result.json"  # the chief's TrainResult, in the model_run directory


def worker_config(cfg: PipelineConfig) -> PipelineConfig:
    """What each worker trains with: in its own process (never launching again), on the
    TPU host it runs on when the step asks for a TPU."""
    update: dict = {"backend": "local", "workers": 1}
    if step_settings(cfg, "train").resources.accelerator in TPUS and not cfg.train.tpu:
        update["tpu"] = "local"  # a TPU VM host: TPUClusterResolver('local')
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=update)})


def worker_args(cfg: PipelineConfig, uris: dict[str, str]) -> list[str]:
    """Arguments of `python -m kubetfx.components.train`, the same for every worker."""
    args = ["--config-json", worker_config(cfg).to_json()]
    for flag in ("transformed-examples", "transform-graph", "schema", "model", "model-run"):
        args += [f"--{flag}", uris[flag]]
    return args


def launch_name() -> str:
    """A fresh name per launch (a retried step never collides with its earlier attempt)."""
    return f"kubetfx-train-{uuid.uuid4().hex[:8]}"


def write_result(result: TrainResult, model_run_uri: str) -> None:
    fileio.write_text(fileio.join(model_run_uri, RESULT_FILE), json.dumps(result.__dict__))


def read_result(model_run_uri: str) -> TrainResult:
    path = fileio.join(model_run_uri, RESULT_FILE)
    if not fileio.exists(path):
        raise TrainingFailed(f"the workers succeeded but the chief wrote no {path}")
    return TrainResult(**json.loads(fileio.read_text(path)))


def tuned(*, cfg: PipelineConfig, best_hyperparameters) -> PipelineConfig:
    """The config train uses: with the tune step's best values over train's when the step
    has them (an artifact, or None: no tune step), else as given."""
    if best_hyperparameters is None:
        return cfg
    from kubetfx.components.train import tuning

    values = tuning.read(best_hyperparameters.path).best.values
    return cfg.model_copy(update={"train": tuning.apply(cfg.train, values)})


def train_step(*, cfg: PipelineConfig, paths: dict[str, str], uris: dict[str, str]) -> TrainResult:
    """The train step: in this process on the artifacts' local paths (train.backend 'local'),
    or on workers that read their URIs. Both dicts are keyed by the worker flags
    ('transformed-examples', 'transform-graph', 'schema', 'model', 'model-run')."""
    if cfg.train.backend != "local":
        return train(cfg, uris)
    return run_from_artifacts(
        cfg=cfg,
        transformed_uri=paths["transformed-examples"],
        graph_uri=paths["transform-graph"],
        schema_uri=paths["schema"],
        model_dir=paths["model"],
        model_run_dir=paths["model-run"],
    )


def train(
    cfg: PipelineConfig, uris: dict[str, str], kube=None, credentials=None, name: str = ""
) -> TrainResult:
    """Launch the workers on cfg.train.backend, wait for them, return the chief's result.

    `kube` (a kubetfx.components.k8s.Kube), `credentials` (Google) and the launch `name` are
    injectable for tests.
    """
    name = name or launch_name()
    args = worker_args(cfg, uris)
    if cfg.train.backend == "gke":
        from kubetfx.components.k8s import Kube
        from kubetfx.components.train import gke, gke_manifests

        launch = gke_manifests.plan(cfg, name, args)
        gke.run(kube or Kube.connect(), launch, cfg.train.gke.poll_seconds)
    elif cfg.train.backend == "vertex":
        from kubetfx.components.train import vertex

        vertex.run(vertex.build_job(cfg, name, args, credentials), cfg, name)
    else:
        raise ConfigError(f"train.backend {cfg.train.backend!r} trains in the step itself")
    return read_result(uris["model-run"])


def tune_step(
    *, cfg: PipelineConfig, transformed_uri: str, graph_uri: str, output_uri: str, report_path: str
):
    """The tune step: the search on tune.backend, then best_hyperparameters.json and the
    HTML report. Local trials read the artifacts' paths; Vertex trials their gs:// URIs."""
    import tempfile

    from kubetfx.components.train import tuning

    tuning.check_space(cfg.tune, cfg.train)
    if cfg.tune.backend == "vertex":
        from kubetfx.components.train import tuning_vertex

        result = tuning_vertex.vertex_search(
            cfg=cfg, transformed_uri=transformed_uri, graph_uri=graph_uri
        )
    elif cfg.tune.backend == "gke":
        result = gke_tune(cfg=cfg, transformed_uri=transformed_uri, graph_uri=graph_uri)
    else:
        run_trial = tuning.trial_runner(
            cfg=cfg, transformed_uri=transformed_uri, graph_uri=graph_uri
        )
        with tempfile.TemporaryDirectory(prefix="kubetfx-tune-") as workdir:
            result = tuning.search(
                run_trial=run_trial, tune=cfg.tune, cfg=cfg.train, workdir=workdir
            )
    tuning.write(result, output_uri)
    fileio.write_text(report_path, tuning.render_html(result))
    return result


def gke_tune(
    *, cfg: PipelineConfig, transformed_uri: str, graph_uri: str, kube=None, name: str = ""
):
    """tune.backend 'gke': KerasTuner's distributed mode as tune.parallel_trials + 1 pods of
    one Indexed Job (the training launcher's pattern, cluster.steps.train's resources). Pod 0
    serves the oracle at its stable DNS name and writes the result under the pipeline root;
    the others run trials. The step waits for the Job and reads the result."""
    import dataclasses

    from kubetfx.components.k8s import Kube
    from kubetfx.components.train import gke, gke_manifests, tuning

    if not fileio.is_remote(cfg.pipeline_root):
        raise ConfigError(
            f"pipeline_root: tuning pods write their result to a bucket the step reads, got "
            f"{cfg.pipeline_root!r}; use gs://..."
        )
    name = name or f"kubetfx-tune-{uuid.uuid4().hex[:8]}"
    result_uri = fileio.join(cfg.pipeline_root, "tuning", name)
    args = [
        "--config-json", cfg.to_json(), "--transformed-examples", transformed_uri,
        "--transform-graph", graph_uri, "--distributed", result_uri,
    ]  # fmt: skip
    one = cfg.model_copy(update={"train": cfg.train.model_copy(update={"workers": 1})})
    launch = dataclasses.replace(
        gke_manifests.plan(one, name, args),
        workers=cfg.tune.parallel_trials + 1,
        module="kubetfx.components.train.tuning",
        tf_config=False,
    )
    oracle = gke_manifests.worker_hosts(launch)[0]  # pod 0's name and port
    launch = dataclasses.replace(launch, env=((tuning.ORACLE_ENV, oracle),))
    gke.run(kube or Kube.connect(), launch, cfg.train.gke.poll_seconds)
    return tuning.read(result_uri)
