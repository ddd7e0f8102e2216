"""`kubetfx submit` / `schedule` against a fake KFP v2beta1 API on loopback, and the Vertex AI
requests captured at the Google client's public methods. Nothing leaves this machine."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess

import pytest
import yaml

from kubetfx.cli import main
from kubetfx.components.config import PipelineConfig
from tests.pipeline.fake_kfp import FakeKfp, serve

ROOT = "gs://bucket/root"


LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Name lookups and connections beyond loopback fail, and fail the test even if the code
    under test swallows the error."""
    connect, getaddrinfo, attempts = socket.socket.connect, socket.getaddrinfo, []

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            attempts.append(address)
            raise OSError(f"test tried to reach {address}")
        return connect(sock, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            attempts.append(host)
            raise OSError(f"test tried to look up {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    for name in ("KFP_TOKEN", "KFP_TOKEN_FILE", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    yield
    assert attempts == []


@pytest.fixture
def kfp_server():
    """Start a FakeKfp on 127.0.0.1: kfp_server(**options) -> (fake, url)."""
    servers = []

    def start(**options):
        fake = FakeKfp(**options)
        server, url = serve(fake)
        servers.append(server)
        return fake, url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def kubeflow(command: str, url: str, *flags: str) -> int:
    return main([command, "--platform", "kubeflow", "--host", url, "--pipeline-root", ROOT, *flags])


def test_submit_creates_the_pipeline_and_a_run_with_the_config(kfp_server, monkeypatch):
    fake, url = kfp_server()
    monkeypatch.setenv("KFP_TOKEN", "secret-token")
    assert kubeflow("submit", url, "--service-account", "kubetfx-runner") == 0

    (upload,) = fake.named("POST", "/pipelines/upload")
    assert upload["query"]["name"] == ["kubetfx-training"]
    spec = next(yaml.safe_load_all(upload["files"]["uploadfile"]))
    assert spec["pipelineInfo"]["name"] == "kubetfx-training"
    assert spec["defaultPipelineRoot"] == ROOT  # compiled for kubeflow, not for local
    (experiment,) = fake.named("POST", "/experiments")
    assert experiment["body"]["display_name"] == "kubetfx"
    assert experiment["body"]["namespace"] == "kubeflow"
    (run,) = fake.named("POST", "/runs")
    body = run["body"]
    assert body["experiment_id"] == "experiment-0"
    assert body["pipeline_version_reference"] == {
        "pipeline_id": "pipeline-0",
        "pipeline_version_id": "pipeline-0-v0",
    }
    assert body["service_account"] == "kubetfx-runner"
    assert body["runtime_config"]["pipeline_root"] == ROOT
    cfg = PipelineConfig.from_json(body["runtime_config"]["parameters"]["config"])
    assert (cfg.pipeline_root, cfg.data.label) == (ROOT, "species")
    assert {r["auth"] for r in fake.requests} == {"Bearer secret-token"}
    assert not fake.named("GET", "/runs/run-1")  # no --wait: submit and return


def test_a_new_spec_becomes_a_version_and_the_same_spec_reuses_it(kfp_server):
    fake, url = kfp_server(pipelines=["kubetfx-training"])
    assert kubeflow("submit", url) == 0
    assert kubeflow("submit", url) == 0
    (upload,) = fake.named("POST", "/pipelines/upload_version")
    assert upload["query"]["pipelineid"] == ["pipeline-0"]
    version = upload["query"]["name"][0]
    spec_sha = version.rsplit("-", 1)[1]
    assert hashlib.sha256(upload["files"]["uploadfile"].encode()).hexdigest().startswith(spec_sha)
    runs = fake.named("POST", "/runs")
    assert len(runs) == 2
    assert {r["body"]["pipeline_version_reference"]["pipeline_version_id"] for r in runs} == {
        "pipeline-0-v0"
    }
    assert not fake.named("POST", "/pipelines/upload")


def test_wait_exits_0_when_the_run_succeeds(kfp_server, capsys):
    fake, url = kfp_server(final_state="SUCCEEDED")
    assert kubeflow("submit", url, "--wait", "--poll-seconds", "0") == 0
    out = capsys.readouterr().out
    assert "train: RUNNING" in out and "train: SUCCEEDED" in out
    assert "root:" not in out  # the DAG's own node is not a step
    assert len(fake.named("GET", "/runs/run-1")) == 2


def test_wait_exits_1_naming_the_failed_step(kfp_server, capsys):
    _, url = kfp_server(final_state="FAILED")
    assert kubeflow("submit", url, "--wait", "--poll-seconds", "0") == 1
    err = capsys.readouterr().err
    assert "failed step(s): train" in err
    assert "OOMKilled: train used more than 16G" in err


def test_schedule_creates_a_recurring_run(kfp_server):
    fake, url = kfp_server()
    assert kubeflow("schedule", url, "--cron", "0 3 * * *", "--max-concurrency", "2") == 0
    (recurring,) = fake.named("POST", "/recurringruns")
    body = recurring["body"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"  # KFP's seconds field
    assert int(body["max_concurrency"]) == 2
    assert body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["pipeline_version_reference"]["pipeline_id"] == "pipeline-0"
    assert "config" in body["runtime_config"]["parameters"]
    assert not fake.named("POST", "/runs")


def test_token_file_is_sent_as_the_bearer_token(kfp_server, tmp_path, monkeypatch):
    fake, url = kfp_server(token="projected-sa-token")
    token = tmp_path / "token"
    token.write_text("projected-sa-token\n")
    monkeypatch.setenv("KFP_TOKEN", "ignored-when-a-token-file-is-given")
    assert kubeflow("submit", url, "--token-file", str(token)) == 0
    assert fake.named("POST", "/runs")[0]["auth"] == "Bearer projected-sa-token"


@pytest.mark.parametrize("variable", ["KF_PIPELINES_SA_TOKEN_PATH", "KFP_TOKEN_FILE"])
def test_the_token_path_variable_kfps_client_reads_is_honoured(
    kfp_server, tmp_path, monkeypatch, capsys, variable
):
    fake, url = kfp_server(token="projected-sa-token")
    token = tmp_path / "token"
    token.write_text("projected-sa-token\n")
    monkeypatch.setenv(variable, str(token))
    assert kubeflow("submit", url) == 0
    assert fake.named("POST", "/runs")[0]["auth"] == "Bearer projected-sa-token"
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    assert kubeflow("submit", url) == 2
    assert f"${variable}: no file at" in capsys.readouterr().err


def test_iap_audience_sends_a_google_id_token_renewed_when_expired(kfp_server, monkeypatch):
    import google.oauth2.id_token

    class IdTokenCredentials:  # what google-auth returns for a service account
        def __init__(self, audience):
            self.audience, self.token, self.refreshes = audience, None, 0

        @property
        def valid(self):
            return self.token is not None

        def refresh(self, request):
            self.refreshes += 1
            self.token = f"id-token-{self.refreshes}"

    made = []
    monkeypatch.setattr(
        google.oauth2.id_token,
        "fetch_id_token_credentials",
        lambda audience, request=None: made.append(IdTokenCredentials(audience)) or made[-1],
    )
    fake, url = kfp_server(token="id-token-1")
    assert kubeflow("submit", url, "--iap-audience", "123.apps.googleusercontent.com") == 0
    (credentials,) = made
    assert credentials.audience == "123.apps.googleusercontent.com"
    assert credentials.refreshes == 1  # one token for all the requests while it is valid
    assert fake.named("POST", "/runs")[0]["auth"] == "Bearer id-token-1"


def test_a_refused_token_fails_with_the_status(kfp_server, monkeypatch, capsys):
    _, url = kfp_server(token="right")
    monkeypatch.setenv("KFP_TOKEN", "wrong")
    assert kubeflow("submit", url) == 1
    err = capsys.readouterr().err
    assert "401" in err and "KFP_TOKEN" in err


def test_dry_run_prints_the_request_and_sends_nothing(kfp_server, tmp_path, capsys):
    fake, url = kfp_server()
    assert kubeflow("schedule", url, "--cron", "15 4 * * 1", "--dry-run") == 0
    request = json.loads(capsys.readouterr().out)
    assert fake.requests == []
    assert request["target"] == "kubeflow" and request["host"] == url
    assert request["schedule"] == {
        "display_name": "kubetfx-training-schedule",
        "cron": "0 15 4 * * 1",
        "max_concurrency": 1,
        "no_catchup": True,
    }
    assert request["pipeline"]["version"].endswith(request["spec_sha256"][:12])
    compiled = tmp_path / "spec.yaml"
    argv = ["compile", "--platform", "kubeflow", "--pipeline-root", ROOT, "--output", str(compiled)]
    assert main(argv) == 0
    assert request["spec_sha256"] == hashlib.sha256(compiled.read_bytes()).hexdigest()
    assert json.loads(request["run"]["parameters"]["config"])["pipeline_root"] == ROOT


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["submit", "--platform", "kubeflow", "--pipeline-root", ROOT],
            "--host (config kubeflow.host)",
        ),
        (
            ["submit", "--platform", "vertex", "--region", "r", "--pipeline-root", ROOT],
            "vertex.project",
        ),
        (["submit", "--platform", "vertex", "--project", "p", "--pipeline-root", ROOT], "--region"),
        (["submit", "--platform", "vertex", "--host", "h", "--pipeline-root", ROOT], "--host"),
        (["schedule", "--platform", "kubeflow", "--host", "h", "--cron", "0 3 * *"], "--cron"),
        (
            ["submit", "--platform", "kubeflow", "--host", "h", "--pipeline-root", "./r"],
            "pipeline_root",
        ),
    ],
)
def test_missing_or_misplaced_settings_are_config_errors(argv, named, capsys):
    assert main([*argv, "--dry-run"]) == 2
    assert named in capsys.readouterr().err


# Vertex AI: the requests are captured where aiplatform hands them to the Google client.


@pytest.fixture
def vertex_api(monkeypatch):
    """Anonymous credentials, no bucket probe, and the create/get calls recorded."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform.utils import gcs_utils
    from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
    from google.cloud.aiplatform_v1.services.schedule_service import ScheduleServiceClient
    from google.cloud.aiplatform_v1.types import PipelineJob, PipelineState, PipelineTaskDetail

    calls: dict[str, list] = {"create": [], "get": [], "schedule": []}
    states = {"final": PipelineState.PIPELINE_STATE_SUCCEEDED}
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    monkeypatch.setattr(
        gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **k: None
    )

    def create_pipeline_job(self, parent, pipeline_job, pipeline_job_id, **kwargs):
        calls["create"].append({"parent": parent, "job": pipeline_job, "job_id": pipeline_job_id})
        created = PipelineJob(pipeline_job)
        created.name = f"{parent}/pipelineJobs/{pipeline_job_id}"
        return created

    def get_pipeline_job(self, name, **kwargs):
        calls["get"].append(name)
        done = len(calls["get"]) > 1
        final = states["final"]
        job = PipelineJob(name=name, state=final if done else PipelineState.PIPELINE_STATE_RUNNING)
        task = PipelineTaskDetail.State
        failed = final == PipelineState.PIPELINE_STATE_FAILED
        train = (task.FAILED if failed else task.SUCCEEDED) if done else task.RUNNING
        job.job_detail.task_details.extend(
            [
                PipelineTaskDetail(task_name="kubetfx-training", state=task.RUNNING),
                PipelineTaskDetail(task_name="ingest", state=task.SUCCEEDED),
                PipelineTaskDetail(task_name="train", state=train),
            ]
        )
        if done and failed:
            job.job_detail.task_details[2].error.message = "The replica workerpool0-0 exited 137"
        return job

    def create_schedule(self, parent, schedule, **kwargs):
        calls["schedule"].append({"parent": parent, "schedule": schedule})
        schedule.name = f"{parent}/schedules/123"
        return schedule

    monkeypatch.setattr(PipelineServiceClient, "create_pipeline_job", create_pipeline_job)
    monkeypatch.setattr(PipelineServiceClient, "get_pipeline_job", get_pipeline_job)
    monkeypatch.setattr(ScheduleServiceClient, "create_schedule", create_schedule)
    calls["states"] = states
    calls["PipelineState"] = PipelineState
    return calls


def vertex(command: str, *flags: str) -> int:
    return main(
        [
            command,
            "--platform",
            "vertex",
            "--project",
            "example-project",
            "--region",
            "us-central1",
            "--service-account",
            "runner@example-project.iam.gserviceaccount.com",
            "--pipeline-root",
            ROOT,
            *flags,
        ]
    )


@pytest.fixture
def git_checkout(tmp_path, monkeypatch) -> str:
    """Run from a fresh git repository; return its short commit."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    out = subprocess.run(["git", "log", "-1", "--format=%h"], cwd=tmp_path, capture_output=True)
    return out.stdout.decode().strip()


def test_vertex_submit_sends_the_pipeline_job(vertex_api, git_checkout, capsys):
    assert vertex("submit", "--data", "gs://bucket/data.csv", "--label", "y") == 0
    (call,) = vertex_api["create"]
    assert call["parent"] == "projects/example-project/locations/us-central1"
    job = call["job"]
    assert job.service_account == "runner@example-project.iam.gserviceaccount.com"
    assert job.runtime_config.gcs_output_directory == ROOT
    assert job.labels["git-commit"] == git_checkout
    assert job.labels["kubetfx-dataset"] == "data"
    config = json.loads(job.runtime_config.parameter_values["config"])
    assert (config["data"]["path"], config["data"]["label"]) == ("gs://bucket/data.csv", "y")
    train = job.pipeline_spec["root"]["dag"]["tasks"]["train"]
    assert train["taskInfo"]["name"] == "train"
    assert call["job_id"].startswith("kubetfx-training-")
    assert not vertex_api["get"]  # no --wait


def test_vertex_wait_follows_the_job(vertex_api, capsys):
    assert vertex("submit", "--wait", "--poll-seconds", "0") == 0
    assert "train: SUCCEEDED" in capsys.readouterr().out
    vertex_api["get"].clear()
    vertex_api["states"]["final"] = vertex_api["PipelineState"].PIPELINE_STATE_FAILED
    assert vertex("submit", "--wait", "--poll-seconds", "0") == 1
    err = capsys.readouterr().err
    assert "failed step(s): train" in err and "exited 137" in err


def test_vertex_schedule_sends_the_cron_and_the_job(vertex_api):
    assert vertex("schedule", "--cron", "TZ=Europe/Paris 0 3 * * *", "--max-concurrency", "2") == 0
    (call,) = vertex_api["schedule"]
    schedule = call["schedule"]
    assert schedule.cron == "TZ=Europe/Paris 0 3 * * *"
    assert schedule.max_concurrent_run_count == 2
    assert not schedule.catch_up
    job = schedule.create_pipeline_job_request.pipeline_job
    assert job.service_account == "runner@example-project.iam.gserviceaccount.com"
    assert job.runtime_config.gcs_output_directory == ROOT
    assert "config" in job.runtime_config.parameter_values
    assert not vertex_api["create"]


def test_vertex_dry_run_outside_a_checkout(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # not a git repository: the commit label says so
    assert vertex("submit", "--dry-run") == 0
    request = json.loads(capsys.readouterr().out)
    job = request["pipeline_job"]
    assert (request["project"], request["region"]) == ("example-project", "us-central1")
    assert job["labels"]["git-commit"] == "unknown"
    assert job["pipeline_root"] == ROOT
    assert job["service_account"] == "runner@example-project.iam.gserviceaccount.com"
    assert json.loads(job["parameters"]["config"])["pipeline_root"] == ROOT
    assert len(request["spec_sha256"]) == 64


def test_no_cache_submits_a_spec_whose_steps_all_run_again(kfp_server):
    fake, url = kfp_server()
    assert kubeflow("submit", url) == 0
    assert kubeflow("submit", url, "--no-cache") == 0
    cached, uncached = (
        next(yaml.safe_load_all(u["files"]["uploadfile"]))["root"]["dag"]["tasks"]
        for u in fake.named("POST", "/pipelines/upload")
        + fake.named("POST", "/pipelines/upload_version")
    )
    assert cached["ingest"]["cachingOptions"]["enableCache"]
    assert not any(t.get("cachingOptions", {}).get("enableCache") for t in uncached.values())
