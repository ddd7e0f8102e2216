"""The tune step on Vertex AI (tune.backend 'vertex'): a HyperparameterTuningJob (Vizier).

Each trial is a CustomJob replica running `python -m kubetfx.components.train.tuning` on the
components image with the run's config and the transformed data's gs:// URIs; Vertex adds the
trial's values as `--name=value` arguments. The trial trains as a local trial does and reports
its objective the way Vertex reads it (tuning.report_metric: the JSON line cloudml-hypertune
writes to /tmp/hypertune/output.metrics). tune.parallel_trials run at once; Vizier chooses
the values (tune.algorithm bayesian: Vizier's default; random: random search). The step
waits for the job and returns its trials as a SearchResult, best by the final measurement.

The untuned config is not measured on Vertex (no trial can be pinned to given values), so
the result is the best of the search.
"""

from __future__ import annotations

import uuid

from kubetfx.components.config import PipelineConfig
from kubetfx.components.train.tuning import SearchResult, Trial
from kubetfx.errors import ConfigError, TrainingFailed

TRIAL_MODULE = "kubetfx.components.train.tuning"  # a trial: python -m TRIAL_MODULE ARGS


def parameter_spec(cfg: PipelineConfig) -> dict:
    """tune.search_space as Vertex parameter specs: a range with a step is its grid of values."""
    import numpy as np
    from google.cloud.aiplatform import hyperparameter_tuning as hpt

    specs = {}
    for name, spec in cfg.tune.search_space.items():
        if spec.type == "choice":
            if all(isinstance(v, int | float) for v in spec.values):
                specs[name] = hpt.DiscreteParameterSpec([float(v) for v in spec.values], "linear")
            else:
                specs[name] = hpt.CategoricalParameterSpec([str(v) for v in spec.values])
        elif spec.step:
            grid = np.arange(spec.min, spec.max + spec.step / 2, spec.step)
            specs[name] = hpt.DiscreteParameterSpec([float(v) for v in grid], "linear")
        elif spec.type == "int":
            specs[name] = hpt.IntegerParameterSpec(int(spec.min), int(spec.max), spec.sampling)
        else:
            specs[name] = hpt.DoubleParameterSpec(spec.min, spec.max, spec.sampling)
    return specs


def build_job(cfg: PipelineConfig, transformed_uri: str, graph_uri: str, credentials=None):
    """(name, the HyperparameterTuningJob); building it sends nothing. The name is returned:
    the SDK's job.display_name raises until the job is created."""
    from kubetfx.components.gcp import aiplatform
    from kubetfx.components.train import vertex

    tune = cfg.tune
    if tune.algorithm == "hyperband":
        raise ConfigError(
            "tune.algorithm: Vertex AI Vizier has no 'hyperband'; use 'bayesian' or 'random', "
            "or tune.backend 'local' or 'gke'"
        )
    name = f"kubetfx-tune-{uuid.uuid4().hex[:8]}"
    args = [
        "--config-json", cfg.to_json(),
        "--transformed-examples", transformed_uri,
        "--transform-graph", graph_uri,
    ]  # fmt: skip
    one = cfg.model_copy(update={"train": cfg.train.model_copy(update={"workers": 1})})
    trial = vertex.build_job(one, name, args, credentials, module=TRIAL_MODULE)
    return name, aiplatform().HyperparameterTuningJob(
        display_name=name,
        custom_job=trial,
        metric_spec={tune.objective: "maximize" if tune.maximize else "minimize"},
        parameter_spec=parameter_spec(cfg),
        max_trial_count=tune.max_trials,
        parallel_trial_count=tune.parallel_trials,
        max_failed_trial_count=max(1, tune.max_trials // 4),
        search_algorithm="random" if tune.algorithm == "random" else None,
        project=cfg.vertex.project,
        location=cfg.vertex.region,
        credentials=credentials,
        labels={"kubetfx-pipeline": cfg.pipeline_name[:63]},
    )


def _value(value):
    number = float(value) if isinstance(value, int | float) else value
    return int(number) if isinstance(number, float) and number.is_integer() else number


def trials_of(job, objective: str) -> list[Trial]:
    """The job's trials as Trials (a trial without a final measurement failed)."""
    found = []
    for t in job.trials:
        values = {p.parameter_id: _value(p.value) for p in t.parameters}
        metrics = {m.metric_id: m.value for m in t.final_measurement.metrics}
        try:
            seconds = (t.end_time - t.start_time).total_seconds()
        except TypeError:  # not finished
            seconds = 0.0
        value = metrics.get(objective)
        error = "" if value is not None else (t.infeasible_reason or str(t.state.name))
        found.append(
            Trial(str(t.id), values, value, int(t.final_measurement.step_count), seconds, error)
        )
    return found


def vertex_search(
    *, cfg: PipelineConfig, transformed_uri: str, graph_uri: str, credentials=None
) -> SearchResult:
    from kubetfx.components.gcp import api_errors
    from kubetfx.components.train import tuning

    name, job = build_job(cfg, transformed_uri, graph_uri, credentials)
    with api_errors(TrainingFailed, f"Vertex AI tuning job {name}"):
        job.run(
            service_account=cfg.vertex.service_account,
            timeout=cfg.train.timeout_seconds,
            sync=True,
        )
    trials = trials_of(job, cfg.tune.objective)
    done = [t for t in trials if t.objective is not None]
    if not done:
        raise TrainingFailed(f"Vertex AI tuning job {name}: no trial succeeded")
    best = done[0]
    for trial in done[1:]:
        best = tuning.better(best, trial, cfg.tune.maximize)
    tune = cfg.tune
    return SearchResult(tune.objective, tune.maximize, tune.algorithm, "vertex", best, trials)
