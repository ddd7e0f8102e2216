"""runner 'docker' (kfp.local's DockerRunner, `make e2e`): what it needs is checked before any
step runs, each refusal naming the field and the fix."""

from __future__ import annotations

import pytest

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError
from kubetfx.runners.local import check_docker_run


def _config(root, **sections) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "runner": "docker",
            "pipeline_root": str(root),
            "reference_root": str(root / "references"),
            "push": {"registry": str(root / "model_registry")},
            "serving": {"request_log": {"dir": str(root / "serving_logs")}},
            "monitor": {"output_dir": str(root / "monitoring")},
            **sections,
        }
    )


def test_paths_outside_the_mounted_root_are_named(tmp_path):
    root = tmp_path / "run"
    root.mkdir(mode=0o777)
    cfg = _config(
        root, reference_root=str(tmp_path / "elsewhere"), data={"path": "/data/x.csv", "label": "y"}
    )
    with pytest.raises(ConfigError) as error:
        check_docker_run(cfg)
    message = str(error.value)
    assert f"reference_root={str(tmp_path / 'elsewhere')!r}" in message
    assert "data.path='/data/x.csv'" in message
    assert "push.registry" not in message  # it is under the root
    assert "Put them under pipeline_root" in message


def test_only_the_paths_of_the_pipeline_that_runs_count(tmp_path, monkeypatch):
    """A training run does not read serving logs: their default outside the root is fine,
    and the monitoring pipeline, which reads them, is refused."""
    root = tmp_path / "run"
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    cfg = _config(root, serving={"request_log": {"dir": str(tmp_path / "logs")}})
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    with pytest.raises(ConfigError, match="serving.request_log.dir"):
        check_docker_run(cfg, "monitoring")
    with pytest.raises(ConfigError, match="needs a Docker API") as error:
        check_docker_run(cfg, "training")  # got past the paths: no API in this test
    assert "request_log" not in str(error.value)


def test_a_root_the_image_user_cannot_write_is_refused_with_both_fixes(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    root.chmod(0o755)
    with pytest.raises(ConfigError, match=r"uid 10001.*chown 10001 .*chmod 0777"):
        check_docker_run(_config(root))


def test_no_docker_api_says_how_to_start_one(tmp_path, monkeypatch):
    root = tmp_path / "run"
    root.mkdir()
    root.chmod(0o777)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no.sock")
    with pytest.raises(ConfigError, match=r"needs a Docker API .*podman system service"):
        check_docker_run(_config(root))


def test_the_flag_reaches_the_config():
    from kubetfx.cli import build_parser

    args = build_parser().parse_args(["run", "--runner", "docker"])
    assert args.runner == "docker"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--runner", "kubernetes"])
