"""Submit and schedule on Kubeflow Pipelines through kfp.Client (KFP v2beta1 REST API).

The compiled spec is uploaded as a version of the pipeline named after the compiled pipeline (the
pipeline is created on first use; an identical spec from the same commit reuses its
version), then a run or a recurring run of that version is created in the experiment.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import tempfile
import warnings

from kubetfx.components.config import PipelineConfig
from kubetfx.components.retry import with_retries
from kubetfx.errors import ConfigError, SubmitFailed
from kubetfx.runners.cloud import (
    Compiled,
    RunStatus,
    compile_spec,
    follow,
    git_commit,
    kfp_cron,
    print_request,
    required,
)

TERMINAL = {"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"}


@dataclasses.dataclass(frozen=True)
class Auth:
    """How requests are authorized; the token itself never appears in a dry run."""

    kind: str  # none | token | token_file | iap
    token: str | None = dataclasses.field(default=None, repr=False)  # never logged
    token_file: str | None = None
    audience: str | None = None

    def describe(self) -> str:
        return {
            "none": "none",
            "token": "bearer token from $KFP_TOKEN",
            "token_file": f"bearer token read from {self.token_file}",
            "iap": f"Google ID token for IAP audience {self.audience}",
        }[self.kind]


TOKEN_PATH_VARIABLES = ("KF_PIPELINES_SA_TOKEN_PATH", "KFP_TOKEN_FILE")


def auth_from(args: argparse.Namespace) -> Auth:
    """--iap-audience, else --token-file / $KF_PIPELINES_SA_TOKEN_PATH (the variable kfp's own
    client reads; $KFP_TOKEN_FILE, this project's older name, still works), else $KFP_TOKEN,
    else none."""
    if args.iap_audience:
        return Auth("iap", audience=args.iap_audience)
    where, token_file = "--token-file", args.token_file
    for variable in TOKEN_PATH_VARIABLES:
        if not token_file and os.environ.get(variable):
            where, token_file = f"${variable}", os.environ[variable]
    if token_file:
        if not os.path.isfile(token_file):
            raise ConfigError(f"{where}: no file at {token_file!r}")
        return Auth("token_file", token_file=token_file)
    token = os.environ.get("KFP_TOKEN", "").strip()
    return Auth("token", token=token) if token else Auth("none")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything the requests carry, so that a dry run prints exactly what would be sent."""

    host: str
    namespace: str
    experiment: str
    pipeline: str
    version: str
    spec_sha256: str
    pipeline_root: str
    run_name: str
    parameters: dict[str, str]
    service_account: str | None
    commit: str
    auth: Auth

    def request(self, schedule: dict | None = None) -> dict:
        body = {
            "target": "kubeflow",
            "host": self.host,
            "namespace": self.namespace,
            "auth": self.auth.describe(),
            "experiment": self.experiment,
            "pipeline": {"name": self.pipeline, "version": self.version},
            "spec_sha256": self.spec_sha256,
            "git_commit": self.commit,
            "run": {
                "display_name": self.run_name,
                "pipeline_root": self.pipeline_root,
                "service_account": self.service_account,
                "parameters": self.parameters,
            },
        }
        if schedule is not None:
            body["schedule"] = schedule
        return body


def plan_for(cfg: PipelineConfig, args: argparse.Namespace, compiled: Compiled) -> Plan:
    commit = git_commit()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return Plan(
        host=required(args.host, cfg.kubeflow.host, "--host", "kubeflow.host"),
        namespace=args.namespace or cfg.kubeflow.namespace,
        experiment=args.experiment or cfg.kubeflow.experiment,
        pipeline=compiled.name,
        version=f"{commit}-{compiled.sha256[:12]}",
        spec_sha256=compiled.sha256,
        pipeline_root=cfg.pipeline_root,
        run_name=f"{compiled.name}-{commit}-{stamp}",
        parameters={"config": cfg.to_json()},
        service_account=args.service_account or cfg.kubeflow.service_account,
        commit=commit,
        auth=auth_from(args),
    )


def submit(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="kubetfx-") as tmp:
        compiled = compile_spec(cfg, "kubeflow", tmp, args.pipeline)
        plan = plan_for(cfg, args, compiled)
        if args.dry_run:
            return print_request(plan.request())
        client = connect(plan.host, plan.namespace, plan.auth)
        with api_errors(plan.host):
            pipeline_id, version_id = upload(client, plan, compiled.path)
            experiment_id = experiment(client, plan)
            run = client.run_pipeline(
                experiment_id,
                plan.run_name,
                params=plan.parameters,
                pipeline_id=pipeline_id,
                version_id=version_id,
                pipeline_root=plan.pipeline_root,
                service_account=plan.service_account,
            )
        print(f"kubetfx: submitted run {run.run_id} ({plan.run_name})", flush=True)
        if not args.wait:
            return 0

        def poll() -> RunStatus:  # a read: sent again while the API fails transiently
            with api_errors(plan.host):
                found = with_retries(lambda: client.get_run(run.run_id), f"KFP: get {run.run_id}")
                return run_status(found, compiled.steps)

        return follow(poll, plan.run_name, args.poll_seconds, args.timeout)


def schedule(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    cron = kfp_cron(args.cron)
    with tempfile.TemporaryDirectory(prefix="kubetfx-") as tmp:
        compiled = compile_spec(cfg, "kubeflow", tmp, args.pipeline)
        plan = plan_for(cfg, args, compiled)
        name = f"{compiled.name}-schedule"
        # No catch-up: a paused schedule that resumes starts one run, not a backlog of runs
        # on data that has since moved on.
        trigger = {"display_name": name, "cron": cron, "max_concurrency": args.max_concurrency}
        trigger["no_catchup"] = True
        if args.dry_run:
            return print_request(plan.request(schedule=trigger))
        client = connect(plan.host, plan.namespace, plan.auth)
        with api_errors(plan.host):
            pipeline_id, version_id = upload(client, plan, compiled.path)
            recurring = client.create_recurring_run(
                experiment(client, plan),
                name,
                description=f"kubetfx {plan.pipeline} at {plan.commit}, cron {cron}",
                cron_expression=cron,
                max_concurrency=args.max_concurrency,
                no_catchup=True,
                params=plan.parameters,
                pipeline_id=pipeline_id,
                version_id=version_id,
                pipeline_root=plan.pipeline_root,
                service_account=plan.service_account,
            )
    print(f"kubetfx: recurring run {recurring.recurring_run_id} ({name}, cron {cron})")
    return 0


def connect(host: str, namespace: str, auth: Auth):
    import kfp

    token, credentials = None, None
    if auth.kind == "token":
        token = auth.token
    elif auth.kind == "iap":
        credentials = iap_credentials(auth.audience)
    elif auth.kind == "token_file":
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        # Re-read before every request: the kubelet rotates projected tokens.
        credentials = ServiceAccountTokenVolumeCredentials(path=auth.token_file)
    with warnings.catch_warnings(), api_errors(host):
        warnings.simplefilter("ignore", FutureWarning)  # "works with KFP >= 2.0.0-beta.2"
        return kfp.Client(
            host=host, namespace=namespace, existing_token=token, credentials=credentials
        )


def iap_credentials(audience: str):
    """kfp.Client credentials sending a Google ID token for the IAP OAuth client, from the
    ambient service account (a key file, impersonation, or the metadata server). The token
    is renewed when it expires: a --wait can outlast its hour."""
    import google.auth.transport.requests
    import google.oauth2.id_token
    from kfp.client.token_credentials_base import TokenCredentialsBase

    request = google.auth.transport.requests.Request()
    with api_errors(f"IAP audience {audience}"):
        google_credentials = google.oauth2.id_token.fetch_id_token_credentials(audience, request)

    class IapCredentials(TokenCredentialsBase):
        def refresh_api_key_hook(self, config) -> None:
            # kfp_server_api calls this before every request; refresh only when expired.
            if not google_credentials.valid:
                google_credentials.refresh(request)
            config.api_key["authorization"] = google_credentials.token

    return IapCredentials()


@contextlib.contextmanager
def api_errors(host: str):
    """Turn the KFP client's errors into a SubmitFailed that says what the server answered."""
    import google.auth.exceptions
    import kfp_server_api
    import urllib3

    try:
        yield
    except kfp_server_api.ApiException as e:
        body = e.body[:500] if isinstance(e.body, str) else e.body
        hint = " (check the token: $KFP_TOKEN, --token-file or --iap-audience)"
        raise SubmitFailed(
            f"the KFP API at {host} answered {e.status} {e.reason}: {body}"
            + (hint if e.status in (401, 403) else "")
        ) from e
    except (urllib3.exceptions.HTTPError, TimeoutError) as e:
        raise SubmitFailed(f"cannot reach the KFP API at {host}: {e}") from e
    except ValueError as e:  # kfp.Client's own checks, e.g. two pipelines with one name
        raise SubmitFailed(f"the KFP API at {host}: {e}") from e
    except google.auth.exceptions.GoogleAuthError as e:
        raise SubmitFailed(
            f"--iap-audience: no Google ID token for {host}: {e}. It needs service account "
            "credentials (a key in GOOGLE_APPLICATION_CREDENTIALS, impersonation, or the "
            "metadata server); otherwise pass an ID token in $KFP_TOKEN"
        ) from e


def _name_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def upload(client, plan: Plan, path: str) -> tuple[str, str]:
    """(pipeline id, version id) of this spec, uploading what is missing."""
    description = f"kubetfx {plan.pipeline} at {plan.commit}, spec sha256 {plan.spec_sha256}"
    pipeline_id = client.get_pipeline_id(plan.pipeline)
    if pipeline_id is None:
        # Creating a pipeline also stores the uploaded spec as its first version.
        pipeline_id = client.upload_pipeline(path, plan.pipeline, description).pipeline_id
        newest = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc", page_size=1)
        return pipeline_id, newest.pipeline_versions[0].pipeline_version_id
    existing = client.list_pipeline_versions(pipeline_id, filter=_name_filter(plan.version))
    if existing.pipeline_versions:
        return pipeline_id, existing.pipeline_versions[0].pipeline_version_id
    version = client.upload_pipeline_version(
        path, plan.version, pipeline_id=pipeline_id, description=description
    )
    return pipeline_id, version.pipeline_version_id


def experiment(client, plan: Plan) -> str:
    """The experiment's id (kfp.Client.create_experiment reuses one of the same name)."""
    return client.create_experiment(plan.experiment, namespace=plan.namespace).experiment_id


def run_status(run, steps: tuple[str, ...]) -> RunStatus:
    """A V2beta1Run as a RunStatus, keeping only the pipeline's own steps (not the DAG's root
    or drivers), and FAILED when any attempt of a step failed."""
    state = str(run.state or "PENDING")
    by_step: dict[str, str] = {}
    errors: dict[str, str] = {}
    details = run.run_details.task_details if run.run_details else None
    for task in details or []:
        if task.display_name not in steps:
            continue
        task_state = str(task.state or "PENDING")
        if by_step.get(task.display_name) != "FAILED":
            by_step[task.display_name] = task_state
        if task.error and task.error.message:
            errors[task.display_name] = task.error.message
    return RunStatus(
        state=state,
        done=state in TERMINAL,
        succeeded=state == "SUCCEEDED",
        steps={step: by_step[step] for step in steps if step in by_step},
        errors=errors,
        error=(run.error.message if run.error and run.error.message else ""),
    )
