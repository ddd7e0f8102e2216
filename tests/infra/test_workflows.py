"""The GitHub Actions templates in infra/ci/github: valid YAML, real make targets and paths,
pinned actions, keyless cloud access, and run configs that kubetfx accepts."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest

from tests.infra.files import INFRA, ROOT, makefile_targets, workflow_files, yaml_docs

WORKFLOWS = {path.stem: path for path in workflow_files()}
# `uses: owner/repo@<40-hex commit>  # vX.Y.Z`: a tag can be moved, a commit cannot.
PINNED_RE = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _workflow(name: str) -> dict[str, Any]:
    (doc,) = yaml_docs(WORKFLOWS[name])
    return doc


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _run_text(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(workflow))


def test_the_four_templates_exist():
    assert set(WORKFLOWS) == {"pr", "main", "e2e-kind", "terraform"}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflows_are_valid_and_read_only_by_default(name):
    workflow = _workflow(name)
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    assert workflow.get("on") or workflow.get(True), "no trigger"
    assert workflow["permissions"] == {"contents": "read"}
    for job_name, job in workflow["jobs"].items():
        assert job["steps"], job_name
        assert "timeout-minutes" in job, f"{job_name} has no timeout"


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_action_is_pinned_to_a_commit(name):
    for step in _steps(_workflow(name)):
        if "uses" in step:
            assert PINNED_RE.match(step["uses"]), f"{step['uses']} is not pinned to a commit"
    # The version each commit is, for humans and Dependabot.
    for line in WORKFLOWS[name].read_text().splitlines():
        if re.search(r"uses: \S+@[0-9a-f]{40}", line):
            assert re.search(r"# v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_make_target_called_exists(name):
    called = set(re.findall(r"\bmake\s+([A-Za-z][\w-]*)", _run_text(_workflow(name))))
    missing = called - makefile_targets()
    assert not missing, f"{name}.yaml calls make {sorted(missing)}, which the Makefile lacks"


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_repository_path_named_exists(name):
    for path in set(re.findall(r"\binfra/[\w./-]*[\w/]", _run_text(_workflow(name)))):
        assert (ROOT / path).exists(), f"{name}.yaml names {path}, which does not exist"


def test_pull_requests_run_make_e2e_on_the_docker_engine():
    e2e = _workflow("pr")["jobs"]["e2e"]
    assert [s.get("run") for s in e2e["steps"] if "run" in s] == ["make e2e"]


def test_pull_requests_lint_test_and_compile():
    assert re.findall(r"\bmake (\w+)", _run_text(_workflow("pr"))) == [
        "lint", "test", "compile", "e2e"
    ]  # fmt: skip


def test_main_authenticates_with_workload_identity_federation_not_keys():
    workflow = _workflow("main")
    (job,) = workflow["jobs"].values()
    assert job["permissions"]["id-token"] == "write"
    (auth,) = [
        s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth")
    ]
    assert set(auth["with"]) >= {"workload_identity_provider", "service_account"}
    assert "credentials_json" not in auth["with"]
    assert "secrets." not in WORKFLOWS["main"].read_text()
    run = _run_text(workflow)
    assert "make images" in run and "make compile" in run
    assert re.search(r"kubetfx submit --platform kubeflow .*--wait", run)


@pytest.mark.parametrize("service_account", ["", "kubetfx-runs"])
def test_main_writes_a_run_config_kubetfx_accepts(tmp_path, service_account):
    from kubetfx.components.config_loader import load_config

    (job,) = _workflow("main")["jobs"].values()
    (step,) = [s for s in job["steps"] if s.get("name") == "Write the run's config"]
    env = {
        "PATH": os.environ["PATH"],
        "IMAGE_REGISTRY": "europe-west4-docker.pkg.dev/my-project/kubetfx",
        "TAG": "0123456789abcdef0123456789abcdef01234567",
        "KFP_HOST": "https://kfp.example.com/pipeline",
        "PIPELINE_ROOT": "gs://bucket/pipeline_root",
        "REFERENCE_ROOT": "gs://bucket/references",
        "MODEL_REGISTRY": "gs://bucket/models",
        "KFP_SERVICE_ACCOUNT": service_account,
    }
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", step["run"]], cwd=tmp_path, env=env, check=True
    )

    config = load_config(str(tmp_path / "ci-config.yaml"))
    assert config.images.components == f"{env['IMAGE_REGISTRY']}/kubetfx-components:{env['TAG']}"
    assert config.images.server == f"{env['IMAGE_REGISTRY']}/kubetfx-server:{env['TAG']}"
    assert config.pipeline_root == "gs://bucket/pipeline_root"
    assert config.push.registry == "gs://bucket/models"
    assert config.kubeflow.host == env["KFP_HOST"]
    assert config.kubeflow.service_account == (service_account or None)


def test_e2e_installs_kfp_from_this_repo_and_loads_the_images_into_kind():
    run = _run_text(_workflow("e2e-kind"))
    assert "kubectl apply -k infra/k8s/kfp/cluster-scoped" in run
    assert "kubectl apply -k infra/k8s/kfp\n" in run
    assert "kind load docker-image" in run
    assert "port-forward svc/ml-pipeline 8888:8888" in run
    assert re.search(r"kubetfx submit --platform kubeflow --config infra/ci/configs/kind.yaml", run)


def test_the_kind_run_config_is_a_valid_kubetfx_config():
    from kubetfx.components.config_loader import load_config

    config = load_config(str(INFRA / "ci" / "configs" / "kind.yaml"))
    e2e = _workflow("e2e-kind")
    (job,) = e2e["jobs"].values()
    tag = job["env"]["TAG"]
    # The images the workflow builds and loads are the ones the run names.
    assert config.images.components == f"kubetfx-components:{tag}"
    assert config.images.server == f"kubetfx-server:{tag}"
    assert config.kubeflow.host == "http://localhost:8888"


def test_terraform_checks_format_validates_each_env_and_lints():
    workflow = _workflow("terraform")
    on = workflow.get("on") or workflow[True]
    assert on["pull_request"]["paths"] == ["terraform/**"]
    run = _run_text(workflow)
    assert "terraform fmt -check" in run
    assert "terraform init -backend=false" in run and "terraform validate" in run
    assert "tflint" in run
    assert workflow["jobs"]["validate"]["strategy"]["matrix"]["env"] == ["dev", "prod"]
