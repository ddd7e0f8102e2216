"""The exit handler of the cluster pipelines: the run's final status to a webhook whose URL is
kept in a secret (a Kubernetes Secret on Kubeflow, Secret Manager on Vertex), never in the
config the UIs show."""

from __future__ import annotations

import base64
import json

import pytest
from kfp import dsl
from kfp.dsl import PipelineTaskFinalStatus

from kubetfx.components.config import PipelineConfig
from kubetfx.components.notify import core
from kubetfx.components.notify.component import notify
from tests.pipeline.test_targets import compile_yaml
from tests.unit.test_retry import script  # noqa: F401 (fixture)

FAILED = PipelineTaskFinalStatus(
    state="FAILED",
    pipeline_job_resource_name="projects/p/locations/r/pipelineJobs/kubetfx-training-7",
    pipeline_task_name="exit-handler-1",
    error_code=9,
    error_message="The DAG failed because some tasks failed. The failed tasks are: [train].",
)


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_the_training_pipeline_reports_its_end_from_an_exit_handler(tmp_path, target):
    spec, platform = compile_yaml(tmp_path, target, notify={"secret": "kubetfx-notify"})
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"exit-handler-1", "notify"}  # every step runs inside the handler
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert {"ingest", "train", "push"} <= set(inner)
    report = tasks["notify"]
    assert report["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    status = report["inputs"]["parameters"]["status"]["taskFinalStatus"]
    assert status["producerTask"] == "exit-handler-1"
    executors = platform.get("deploymentSpec", {}).get("executors", {})
    secrets = [e.get("secretAsEnv") for e in executors.values() if e.get("secretAsEnv")]
    if target == "kubeflow":  # the Secret's key becomes the step's environment variable
        ((secret,),) = secrets
        assert secret["secretName"] == "kubetfx-notify"
        assert secret["keyToEnv"] == [{"secretKey": "url", "envVar": core.URL_VARIABLE}]
    else:  # Vertex: the step reads Secret Manager itself
        assert secrets == []


def test_no_secret_no_exit_handler_and_none_locally(tmp_path):
    spec, _ = compile_yaml(tmp_path, "kubeflow")
    assert "exit-handler-1" not in spec["root"]["dag"]["tasks"]
    spec, _ = compile_yaml(tmp_path, "local", pipeline_root="./r", notify={"secret": "s"})
    assert "exit-handler-1" not in spec["root"]["dag"]["tasks"]  # kfp.local has none


def test_the_step_posts_the_final_status_to_the_secret_url(script, monkeypatch):  # noqa: F811
    hook = script((503, {}), (200, {}))
    monkeypatch.setenv(core.URL_VARIABLE, hook.url + "/kubetfx")
    monkeypatch.setattr("kubetfx.components.retry.time.sleep", lambda s: None)
    cfg = PipelineConfig.model_validate({"notify": {"secret": "kubetfx-notify"}})
    dsl.component(notify).python_func(config=cfg.to_json(), status=FAILED)
    assert len(hook.requests) == 2  # a 503 is sent again
    method, path, body = hook.requests[-1]
    assert (method, path) == ("POST", "/kubetfx")
    assert json.loads(body) == {
        "pipeline": "kubetfx-training",
        "run": FAILED.pipeline_job_resource_name,
        "state": "FAILED",
        "error_code": 9,
        "error_message": FAILED.error_message,
    }


def test_a_webhook_that_refuses_does_not_fail_the_exit_handler(script, monkeypatch, caplog):  # noqa: F811
    hook = script((404, {"error": "no such hook"}))
    monkeypatch.setenv(core.URL_VARIABLE, hook.url)
    report = core.message(pipeline="p", status=FAILED)
    assert core.run(cfg=core.NotifyConfig(), project=None, report=report) is False
    assert len(hook.requests) == 1 and "not delivered" in caplog.text


class _Session:  # google.auth's AuthorizedSession, as far as Secret Manager is read
    def __init__(self, url: str):
        self.url, self.gets = url, []

    def get(self, url, timeout):
        self.gets.append(url)
        data = base64.b64encode(self.url.encode()).decode()
        return type("R", (), {"status_code": 200, "json": lambda s: {"payload": {"data": data}}})()


def test_on_vertex_the_url_comes_from_secret_manager(monkeypatch):
    name = core.secret_manager_name("kubetfx-notify", "my-project")
    assert name == "projects/my-project/secrets/kubetfx-notify/versions/latest"
    assert core.secret_manager_name("projects/q/secrets/s", None).endswith("/s/versions/latest")
    with pytest.raises(ValueError, match="vertex.project"):
        core.secret_manager_name("kubetfx-notify", None)
    session = _Session("https://hooks.example/x")
    assert core.url_from_secret_manager(name, session) == "https://hooks.example/x"
    assert session.gets == [f"https://secretmanager.googleapis.com/v1/{name}:access"]
