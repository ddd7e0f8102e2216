"""kubetfx.pipelines.terraform_outputs: `terraform output -json` -> a kubetfx config that loads."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
import yaml

from kubetfx.components.config_loader import load_config
from kubetfx.errors import ConfigError
from kubetfx.pipelines import terraform_outputs

# The shape `terraform output -json` prints for terraform/envs/*.
OUTPUTS = {
    "project_id": "acme-ml-dev",
    "region": "europe-west4",
    "pipeline_root": "gs://acme-ml-dev-kubetfx-dev-pipeline-root/pipeline_root",
    "reference_root": "gs://acme-ml-dev-kubetfx-dev-model-registry/references",
    "model_registry": "gs://acme-ml-dev-kubetfx-dev-model-registry/models",
    "serving_log_dir": "gs://acme-ml-dev-kubetfx-dev-serving-logs",
    "image_repository": "europe-west4-docker.pkg.dev/acme-ml-dev/kubetfx-dev",
    "kfp_host": "http://localhost:8888",
    "kfp_namespace": "kubeflow",
    "kfp_service_account": "pipeline-runner",
    "vertex_endpoint": "kubetfx-dev",
    "service_accounts": {
        "pipelines": "kubetfx-dev-pipelines@acme-ml-dev.iam.gserviceaccount.com",
        "ci": "kubetfx-dev-ci@acme-ml-dev.iam.gserviceaccount.com",
    },
}


def _json(outputs=OUTPUTS) -> str:
    return json.dumps(
        {k: {"sensitive": False, "type": "string", "value": v} for k, v in outputs.items()}
    )


def _run(monkeypatch, tmp_path, stdin: str, *args: str) -> tuple[int, str]:
    out = tmp_path / "kubetfx.dev.yaml"
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return terraform_outputs.main(["--out", str(out), "--tag", "abc123", *args]), str(out)


def test_writes_a_config_that_load_config_accepts(monkeypatch, tmp_path):
    code, out = _run(monkeypatch, tmp_path, _json())
    assert code == 0
    cfg = load_config(out)
    assert cfg.pipeline_root == OUTPUTS["pipeline_root"]
    assert cfg.reference_root == OUTPUTS["reference_root"]
    assert cfg.push.registry == cfg.serving.registry == OUTPUTS["model_registry"]
    assert cfg.serving.request_log.dir == OUTPUTS["serving_log_dir"]
    repo = OUTPUTS["image_repository"]
    assert cfg.images.components == f"{repo}/kubetfx-components:abc123"
    assert cfg.images.server == f"{repo}/kubetfx-server:abc123"
    assert (cfg.kubeflow.host, cfg.kubeflow.namespace, cfg.kubeflow.service_account) == (
        "http://localhost:8888",
        "kubeflow",
        "pipeline-runner",
    )
    assert (cfg.vertex.project, cfg.vertex.region, cfg.vertex.endpoint) == (
        "acme-ml-dev",
        "europe-west4",
        "kubetfx-dev",
    )
    assert cfg.vertex.service_account == OUTPUTS["service_accounts"]["pipelines"]
    assert cfg.vertex.tensorboard is None  # no vertex_tensorboard output (an older state)


def test_the_tensorboard_output_fills_vertex_tensorboard_unless_null(monkeypatch, tmp_path):
    board = "projects/acme-ml-dev/locations/europe-west4/tensorboards/42"
    code, out = _run(monkeypatch, tmp_path, _json({**OUTPUTS, "vertex_tensorboard": board}))
    assert code == 0 and load_config(out).vertex.tensorboard == board
    code, out = _run(monkeypatch, tmp_path, _json({**OUTPUTS, "vertex_tensorboard": None}))
    assert code == 0 and load_config(out).vertex.tensorboard is None  # enable_tensorboard off


def test_base_config_keeps_its_keys(monkeypatch, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"data": {"path": "gs://x/d.csv", "label": "y"}, "vertex": {}}))
    code, out = _run(monkeypatch, tmp_path, _json(), "--base", str(base))
    assert code == 0
    cfg = load_config(out)
    assert cfg.data.label == "y" and cfg.vertex.project == "acme-ml-dev"


@pytest.mark.parametrize("missing", ["pipeline_root", "kfp_host", "service_accounts"])
def test_a_missing_output_names_it_and_the_fix(missing):
    outputs = {k: v for k, v in OUTPUTS.items() if k != missing}
    with pytest.raises(ConfigError, match=rf"terraform output {missing} missing.*terraform apply"):
        terraform_outputs.config_from_outputs(_json(outputs), "t")


def test_bad_input_exits_2_with_the_reason(monkeypatch, tmp_path, capsys):
    assert _run(monkeypatch, tmp_path, "not json")[0] == 2
    assert "terraform output -json" in capsys.readouterr().err
    assert _run(monkeypatch, tmp_path, "{}")[0] == 2
    assert "apply the environment first" in capsys.readouterr().err


def test_an_output_the_config_rejects_is_reported(monkeypatch, tmp_path, capsys):
    bad = {**OUTPUTS, "pipeline_root": 42}
    assert _run(monkeypatch, tmp_path, _json(bad))[0] == 2
    assert "pipeline_root" in capsys.readouterr().err


def _git(cwd, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_default_tag_is_the_current_checkouts_commit_as_make_images_tags(monkeypatch, tmp_path):
    """Without --tag: the images `make images` pushed from the checkout one stands in (the
    tag comes from the package, so an installed kubetfx needs no source tree beside it)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(_json()))
    monkeypatch.chdir(tmp_path)  # not a git checkout
    assert terraform_outputs.main(["--out", "plain.yaml"]) == 0
    assert load_config("plain.yaml").images.server.endswith("/kubetfx-server:dev")

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    _git(checkout, "init", "-q")
    (checkout / "f").write_text("x")
    _git(checkout, "add", "f")
    _git(checkout, "commit", "-q", "-m", "c")
    sha = _git(checkout, "rev-parse", "--short=12", "HEAD")
    monkeypatch.chdir(checkout)
    monkeypatch.setattr("sys.stdin", io.StringIO(_json()))
    assert terraform_outputs.main(["--out", str(tmp_path / "git.yaml")]) == 0
    cfg = load_config(str(tmp_path / "git.yaml"))
    assert cfg.images.components == f"{OUTPUTS['image_repository']}/kubetfx-components:{sha}"
