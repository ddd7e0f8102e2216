"""Submit and schedule on Vertex AI Pipelines (google-cloud-aiplatform PipelineJob).

Credentials are the ambient Google credentials (Application Default Credentials: a service
account key, Workload Identity Federation in CI, or the metadata server), looked up when the
command runs. A dry run builds the same PipelineJob with anonymous credentials and sends nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import tempfile
import warnings

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError, SubmitFailed
from kubetfx.runners.cloud import (
    Compiled,
    RunStatus,
    compile_spec,
    follow,
    git_commit,
    print_request,
    required,
    vertex_cron,
)

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


@dataclasses.dataclass(frozen=True)
class Plan:
    project: str
    region: str
    display_name: str
    pipeline_root: str
    labels: dict[str, str]
    parameters: dict[str, str]
    service_account: str | None
    experiment: str | None
    spec_sha256: str

    def request(self, job_id: str, schedule: dict | None = None) -> dict:
        body = {
            "target": "vertex",
            "project": self.project,
            "region": self.region,
            "pipeline_job": {
                "job_id": job_id,
                "display_name": self.display_name,
                "pipeline_root": self.pipeline_root,
                "labels": self.labels,
                "service_account": self.service_account,
                "experiment": self.experiment,
                "parameters": self.parameters,
            },
            "spec_sha256": self.spec_sha256,
        }
        if schedule is not None:
            body["schedule"] = schedule
        return body


def plan_for(cfg: PipelineConfig, args: argparse.Namespace, compiled: Compiled) -> Plan:
    return Plan(
        project=required(args.project, cfg.vertex.project, "--project", "vertex.project"),
        region=required(args.region, cfg.vertex.region, "--region", "vertex.region"),
        display_name=compiled.name,
        pipeline_root=cfg.pipeline_root,
        # Label values: at most 63 lowercase letters, digits, '-' or '_' (names already are).
        labels={
            "kubetfx-pipeline": compiled.name[:63],
            "kubetfx-dataset": (cfg.data.name or "dataset")[:63],
            "git-commit": git_commit(),
        },
        parameters={"config": cfg.to_json()},
        service_account=args.service_account or cfg.vertex.service_account,
        experiment=args.experiment or cfg.vertex.experiment,
        spec_sha256=compiled.sha256,
    )


def _aiplatform():
    # Importing the Google Cloud SDK warns about future Python and library versions on every
    # command; they are not the user's to act on here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from google.cloud import aiplatform
    return aiplatform


def build_job(plan: Plan, compiled: Compiled, credentials=None):
    """The PipelineJob (the request body) for this plan; building it sends nothing."""
    aiplatform = _aiplatform()
    try:
        return aiplatform.PipelineJob(
            display_name=plan.display_name,
            template_path=compiled.path,
            pipeline_root=plan.pipeline_root,
            parameter_values=plan.parameters,
            labels=plan.labels,
            project=plan.project,
            location=plan.region,
            credentials=credentials,
        )
    except ValueError as e:  # aiplatform validates labels and the generated job id
        raise ConfigError(f"pipeline_name / data.name: Vertex AI refused them: {e}") from e


def _anonymous():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


@contextlib.contextmanager
def api_errors(plan: Plan):
    """Google client errors as a SubmitFailed naming the project and region."""
    _aiplatform()
    import google.api_core.exceptions
    import google.auth.exceptions

    try:
        yield
    except google.auth.exceptions.DefaultCredentialsError as e:
        raise SubmitFailed(
            f"no Google credentials for Vertex AI: {e}. In CI use Workload Identity "
            "Federation; on a workstation `gcloud auth application-default login`"
        ) from e
    except google.api_core.exceptions.GoogleAPIError as e:
        raise SubmitFailed(f"Vertex AI ({plan.project}, {plan.region}) refused: {e}") from e


def submit(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="kubetfx-") as tmp:
        compiled = compile_spec(cfg, "vertex", tmp, args.pipeline)
        plan = plan_for(cfg, args, compiled)
        if args.dry_run:
            job = build_job(plan, compiled, _anonymous())
            return print_request(plan.request(job.job_id))
        with api_errors(plan):
            job = build_job(plan, compiled)
            job.submit(service_account=plan.service_account, experiment=plan.experiment)
    print(f"kubetfx: submitted {job.resource_name}", flush=True)
    if not args.wait:
        return 0

    def poll() -> RunStatus:
        with api_errors(plan):
            state = job.state  # a GET of the job
            return job_status(state, job.gca_resource, compiled.steps)

    return follow(poll, job.job_id, args.poll_seconds, args.timeout)


def schedule(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    cron = vertex_cron(args.cron)
    with tempfile.TemporaryDirectory(prefix="kubetfx-") as tmp:
        compiled = compile_spec(cfg, "vertex", tmp, args.pipeline)
        plan = plan_for(cfg, args, compiled)
        name = f"{compiled.name}-schedule"
        # Vertex schedules do not catch up on missed runs unless asked (catch_up=false).
        trigger = {
            "display_name": name,
            "cron": cron,
            "max_concurrent_run_count": args.max_concurrency,
        }
        if args.dry_run:
            job = build_job(plan, compiled, _anonymous())
            return print_request(plan.request(job.job_id, schedule=trigger))
        with api_errors(plan):
            created = build_job(plan, compiled).create_schedule(
                cron=cron,
                display_name=name,
                max_concurrent_run_count=args.max_concurrency,
                service_account=plan.service_account,
            )
    print(f"kubetfx: schedule {created.resource_name} ({name}, cron {cron})")
    return 0


def job_status(state, resource, steps: tuple[str, ...]) -> RunStatus:
    """A PipelineJob resource as a RunStatus, keeping only the pipeline's own steps."""
    name = state.name.removeprefix("PIPELINE_STATE_")
    by_step: dict[str, str] = {}
    errors: dict[str, str] = {}
    for task in resource.job_detail.task_details:
        if task.task_name in steps:
            by_step[task.task_name] = task.state.name
            if task.error.message:
                errors[task.task_name] = task.error.message
    return RunStatus(
        state=name,
        done=name in TERMINAL,
        succeeded=name == "SUCCEEDED",
        steps={step: by_step[step] for step in steps if step in by_step},
        errors=errors,
        error=resource.error.message,
    )
