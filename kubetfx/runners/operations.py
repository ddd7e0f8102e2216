"""`kubetfx runs list|get|cancel` and `kubetfx schedules list|delete|pause|resume`: the runs and
schedules on Kubeflow Pipelines and Vertex AI, as kfp's own CLI shows them (`-o json` for
scripts).

Kubeflow goes through kfp.Client with the connection and authentication `kubetfx submit` uses;
Vertex AI through the aiplatform SDK (PipelineJob, PipelineJobSchedule). Both answer rows
with the same keys (id, name, state, created, and pipeline or cron), so scripts need not care
which platform they ask.
"""

from __future__ import annotations

import argparse
import json

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import SubmitFailed
from kubetfx.runners.cloud import required

RUN_COLUMNS = ("id", "name", "state", "created")
SCHEDULE_COLUMNS = ("id", "name", "state", "cron", "created")


def _text(value) -> str:
    if value is None:
        return ""
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


class Kubeflow:
    """Runs and recurring runs of one KFP namespace (kfp.Client, v2beta1 API)."""

    def __init__(self, client, host: str, namespace: str):
        self.client, self.host, self.namespace = client, host, namespace

    @classmethod
    def connect(cls, cfg: PipelineConfig, args: argparse.Namespace) -> Kubeflow:
        from kubetfx.runners.submit_kubeflow import auth_from, connect

        host = required(args.host, cfg.kubeflow.host, "--host", "kubeflow.host")
        namespace = args.namespace or cfg.kubeflow.namespace
        return cls(connect(host, namespace, auth_from(args)), host, namespace)

    def _call(self, method: str, *args, **kwargs):
        """One API call; reads (list_*, get_*) are sent again while the API fails
        transiently, changes once."""
        from kubetfx.components.retry import with_retries
        from kubetfx.runners.submit_kubeflow import api_errors

        call = getattr(self.client, method)
        with api_errors(self.host):
            if method.startswith(("list_", "get_")):
                return with_retries(lambda: call(*args, **kwargs), f"KFP: {method}")
            return call(*args, **kwargs)

    @staticmethod
    def _run(run) -> dict:
        version = run.pipeline_version_reference
        return {
            "id": run.run_id,
            "name": run.display_name,
            "state": run.state,
            "created": _text(run.created_at),
            "pipeline": version.pipeline_version_id if version else "",
            "error": (run.error.message if run.error else "") or "",
        }

    def runs(self, limit: int) -> list[dict]:
        found = self._call(
            "list_runs", page_size=limit, sort_by="created_at desc", namespace=self.namespace
        )
        return [self._run(r) for r in found.runs or []]

    def run(self, run_id: str) -> dict:
        return self._run(self._call("get_run", run_id))

    def cancel(self, run_id: str) -> None:
        self._call("terminate_run", run_id)

    def schedules(self, limit: int) -> list[dict]:
        found = self._call(
            "list_recurring_runs",
            page_size=limit,
            sort_by="created_at desc",
            namespace=self.namespace,
        )
        rows = []
        for job in found.recurring_runs or []:
            cron = job.trigger.cron_schedule if job.trigger else None
            rows.append(
                {
                    "id": job.recurring_run_id,
                    "name": job.display_name,
                    "state": job.status,
                    "cron": cron.cron if cron else "",
                    "created": _text(job.created_at),
                }
            )
        return rows

    def schedule(self, action: str, schedule_id: str) -> None:
        method = {"delete": "delete_recurring_run", "pause": "disable_recurring_run"}
        method["resume"] = "enable_recurring_run"
        self._call(method[action], schedule_id)


class Vertex:
    """PipelineJobs and PipelineJobSchedules of one project and region (aiplatform SDK)."""

    def __init__(self, sdk, project: str, region: str):
        self.sdk, self.where = sdk, {"project": project, "location": region}

    @classmethod
    def connect(cls, cfg: PipelineConfig, args: argparse.Namespace) -> Vertex:
        from kubetfx.components.gcp import aiplatform

        project = required(args.project, cfg.vertex.project, "--project", "vertex.project")
        region = required(args.region, cfg.vertex.region, "--region", "vertex.region")
        return cls(aiplatform(), project, region)

    def _errors(self, what: str):
        from kubetfx.components.gcp import api_errors

        return api_errors(SubmitFailed, f"Vertex AI ({self.where['project']}, {what})")

    @staticmethod
    def _state(resource) -> str:
        state = resource.state
        return getattr(state, "name", str(state))

    def _run(self, job) -> dict:
        return {
            "id": job.resource_name,
            "name": job.display_name,
            "state": self._state(job),
            "created": _text(job.create_time),
            "pipeline": job.gca_resource.template_uri or "",
            "error": job.gca_resource.error.message or "",
        }

    def runs(self, limit: int) -> list[dict]:
        with self._errors("list PipelineJobs"):
            jobs = self.sdk.PipelineJob.list(order_by="create_time desc", **self.where)
            return [self._run(job) for job in jobs[:limit]]

    def run(self, run_id: str) -> dict:
        with self._errors(f"get {run_id}"):
            return self._run(self.sdk.PipelineJob.get(resource_name=run_id, **self.where))

    def cancel(self, run_id: str) -> None:
        with self._errors(f"cancel {run_id}"):
            self.sdk.PipelineJob.get(resource_name=run_id, **self.where).cancel()

    def schedules(self, limit: int) -> list[dict]:
        with self._errors("list PipelineJobSchedules"):
            found = self.sdk.PipelineJobSchedule.list(order_by="create_time desc", **self.where)
            return [
                {
                    "id": s.resource_name,
                    "name": s.display_name,
                    "state": self._state(s),
                    "cron": s.cron,
                    "created": _text(s.create_time),
                }
                for s in found[:limit]
            ]

    def schedule(self, action: str, schedule_id: str) -> None:
        with self._errors(f"{action} {schedule_id}"):
            found = self.sdk.PipelineJobSchedule.get(schedule_id=schedule_id, **self.where)
            if action == "resume":
                found.resume(catch_up=False)  # as kubetfx schedule creates them: no backlog
            else:
                getattr(found, action)()


def print_rows(rows: list[dict], columns: tuple[str, ...], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2))
        return
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def cmd_runs(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    platform = (Kubeflow if args.platform == "kubeflow" else Vertex).connect(cfg, args)
    if args.action == "list":
        print_rows(platform.runs(args.limit), RUN_COLUMNS, args.output)
    elif args.action == "get":
        print_rows([platform.run(args.id)], (*RUN_COLUMNS, "pipeline", "error"), args.output)
    else:
        platform.cancel(args.id)
        print(f"kubetfx: asked {args.platform} to cancel run {args.id}")
    return 0


def cmd_schedules(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    platform = (Kubeflow if args.platform == "kubeflow" else Vertex).connect(cfg, args)
    if args.action == "list":
        print_rows(platform.schedules(args.limit), SCHEDULE_COLUMNS, args.output)
    else:
        platform.schedule(args.action, args.id)
        print(f"kubetfx: {args.action} of schedule {args.id} on {args.platform} done")
    return 0


def add_flags(parser: argparse.ArgumentParser, actions: tuple[str, ...]) -> None:
    parser.add_argument("action", choices=actions)
    parser.add_argument("id", nargs="?", help="the run or schedule (all actions but list)")
    parser.add_argument("--platform", choices=("kubeflow", "vertex"), help="where the runs are")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--limit", type=int, default=20, help="list: the newest N")
    kfp = parser.add_argument_group("kubeflow")
    kfp.add_argument("--host", help="KFP API endpoint (kubeflow.host)")
    kfp.add_argument("--namespace", help="namespace (kubeflow.namespace)")
    kfp.add_argument("--token-file", help="as for `kubetfx submit`")
    kfp.add_argument("--iap-audience", help="as for `kubetfx submit`")
    vertex = parser.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project (vertex.project)")
    vertex.add_argument("--region", help="Vertex AI region (vertex.region)")
    if "compare" in actions:
        history = parser.add_argument_group(
            "compare and history (runs: a local run name, kubeflow:RUN_ID or a Vertex job name)"
        )
        history.add_argument("other", nargs="?", help="compare: the second run")
        history.add_argument("--root", help="the pipeline root of run names (pipeline_root)")
        history.add_argument("--dataset", help="history: the dataset (data.name)")
        history.add_argument("--metric", default="accuracy", help="history: the metric")
        history.add_argument("--slice", default="overall", help="history: e.g. sex=female")
        history.add_argument("--html", help="history: also write a chart to this HTML file")
