"""`kubetfx runs` and `kubetfx schedules` on Kubeflow (against the fake KFP API on loopback,
through the real kfp.Client) and on Vertex AI (against a fake of the aiplatform calls, each
bound to the real SDK's signature)."""

from __future__ import annotations

import datetime
import json
from types import SimpleNamespace

import pytest

from kubetfx.cli import main
from tests.component.fake_aiplatform import assert_calls_match_the_real_sdk
from tests.pipeline.fake_kfp import API
from tests.pipeline.test_submit import kfp_server, no_internet  # noqa: F401 (fixtures)


def kubeflow(url: str, *argv: str) -> int:
    return main([*argv, "--platform", "kubeflow", "--host", url])


def test_runs_list_and_get_show_kfps_runs_as_a_table_or_json(kfp_server, capsys):  # noqa: F811
    fake, url = kfp_server()
    assert kubeflow(url, "runs", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "NAME", "STATE", "CREATED"]
    assert table[1].split()[:3] == ["run-0", "kubetfx-training-abc-1", "FAILED"]
    (listed,) = fake.named("GET", "/runs")
    assert listed["query"]["sort_by"] == ["created_at desc"]
    assert listed["query"]["namespace"] == ["kubeflow"]
    assert kubeflow(url, "runs", "get", "run-0", "-o", "json") == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run == {
        "id": "run-0",
        "name": "kubetfx-training-abc-1",
        "state": "FAILED",
        "created": "2026-12-06T03:00:00+00:00",
        "pipeline": "pv-1",
        "error": "task train failed",
    }


def test_runs_cancel_terminates_the_run(kfp_server, capsys):  # noqa: F811
    fake, url = kfp_server()
    assert kubeflow(url, "runs", "cancel", "run-0") == 0
    assert fake.named("POST", "/runs/run-0:terminate")
    assert fake.past_runs["run-0"]["state"] == "CANCELING"
    assert kubeflow(url, "runs", "cancel") == 2  # which run?
    assert "runs cancel: give the id" in capsys.readouterr().err


def test_schedules_list_pause_resume_delete(kfp_server, capsys):  # noqa: F811
    fake, url = kfp_server()
    assert kubeflow(url, "schedules", "list", "-o", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["id"], row["state"], row["cron"]) == ("recurring-1", "ENABLED", "0 0 3 * * *")
    assert kubeflow(url, "schedules", "pause", "recurring-1") == 0
    assert fake.recurring["recurring-1"]["status"] == "DISABLED"
    assert kubeflow(url, "schedules", "resume", "recurring-1") == 0
    assert fake.recurring["recurring-1"]["status"] == "ENABLED"
    assert kubeflow(url, "schedules", "delete", "recurring-1") == 0
    assert fake.recurring == {}
    paths = [r["path"] for r in fake.requests if r["method"] != "GET"]
    assert paths == [
        f"{API}/recurringruns/recurring-1:disable",
        f"{API}/recurringruns/recurring-1:enable",
        f"{API}/recurringruns/recurring-1",
    ]
    # An unknown schedule: the API's answer, named, exit 1.
    assert kubeflow(url, "schedules", "delete", "recurring-9") == 1
    assert "answered 404" in capsys.readouterr().err


def test_operations_use_submits_authentication(kfp_server, tmp_path, monkeypatch):  # noqa: F811
    fake, url = kfp_server(token="projected")
    token = tmp_path / "token"
    token.write_text("projected\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    assert kubeflow(url, "runs", "list") == 0
    assert {r["auth"] for r in fake.named("GET", "/runs")} == {"Bearer projected"}


class FakeVertex:
    """PipelineJob and PipelineJobSchedule, as far as kubetfx calls them."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        created = datetime.datetime(2026, 12, 6, 3, tzinfo=datetime.UTC)
        state = SimpleNamespace(name="PIPELINE_STATE_SUCCEEDED")
        job = SimpleNamespace(
            resource_name="projects/p/locations/r/pipelineJobs/kubetfx-training-1",
            display_name="kubetfx-training",
            state=state,
            create_time=created,
            gca_resource=SimpleNamespace(template_uri="", error=SimpleNamespace(message="")),
            cancel=lambda: self.calls.append(("PipelineJob.cancel", {})),
        )
        schedule = SimpleNamespace(
            resource_name="projects/p/locations/r/schedules/7",
            display_name="kubetfx-training-schedule",
            state=SimpleNamespace(name="ACTIVE"),
            cron="TZ=UTC 0 3 * * *",
            create_time=created,
            pause=lambda: self.calls.append(("PipelineJobSchedule.pause", {})),
            resume=lambda **kw: self.calls.append(("PipelineJobSchedule.resume", kw)),
            delete=lambda: self.calls.append(("PipelineJobSchedule.delete", {})),
        )
        vertex = self

        class PipelineJob:
            @staticmethod
            def list(**kwargs):
                vertex.calls.append(("PipelineJob.list", kwargs))
                return [job]

            @staticmethod
            def get(**kwargs):
                vertex.calls.append(("PipelineJob.get", kwargs))
                return job

        class PipelineJobSchedule:
            @staticmethod
            def list(**kwargs):
                vertex.calls.append(("PipelineJobSchedule.list", kwargs))
                return [schedule]

            @staticmethod
            def get(**kwargs):
                vertex.calls.append(("PipelineJobSchedule.get", kwargs))
                return schedule

        self.PipelineJob, self.PipelineJobSchedule = PipelineJob, PipelineJobSchedule


@pytest.fixture
def vertex(monkeypatch):
    fake = FakeVertex()
    monkeypatch.setattr("kubetfx.components.gcp.aiplatform", lambda: fake)
    return fake


def _vertex(*argv: str) -> int:
    return main([*argv, "--platform", "vertex", "--project", "p", "--region", "r"])


def test_vertex_runs_and_schedules(vertex, capsys):
    assert _vertex("runs", "list", "-o", "json") == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["state"] == "PIPELINE_STATE_SUCCEEDED" and run["name"] == "kubetfx-training"
    job = "projects/p/locations/r/pipelineJobs/kubetfx-training-1"
    assert _vertex("runs", "cancel", job) == 0
    assert _vertex("schedules", "list") == 0
    assert "TZ=UTC 0 3 * * *" in capsys.readouterr().out
    for action in ("pause", "resume", "delete"):
        assert _vertex("schedules", action, "7") == 0
    names = [name for name, _ in vertex.calls]
    assert names == [
        "PipelineJob.list", "PipelineJob.get", "PipelineJob.cancel", "PipelineJobSchedule.list",
        "PipelineJobSchedule.get", "PipelineJobSchedule.pause",
        "PipelineJobSchedule.get", "PipelineJobSchedule.resume",
        "PipelineJobSchedule.get", "PipelineJobSchedule.delete",
    ]  # fmt: skip
    assert dict(vertex.calls)["PipelineJobSchedule.resume"] == {"catch_up": False}
    assert dict(vertex.calls)["PipelineJob.list"]["location"] == "r"
    assert_calls_match_the_real_sdk(
        [(n, kw) for n, kw in vertex.calls if n.endswith((".list", ".get"))]
    )


def test_vertex_needs_a_project(capsys, vertex):
    assert main(["runs", "list", "--platform", "vertex", "--region", "r"]) == 2
    assert "--project (config vertex.project)" in capsys.readouterr().err
