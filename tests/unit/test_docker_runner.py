"""runner 'docker' (kfp.local's DockerRunner, `make e2e`): what it needs is checked before any
step runs, each refusal naming the field and the fix."""

from __future__ import annotations

import inspect

import pytest

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError
from kubetfx.runners import local
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


class _Container:
    def __init__(self, code: int):
        self.code, self.removed = code, False

    def logs(self, stream: bool):
        return iter([b"step output\n"])

    def wait(self):
        return {"StatusCode": self.code}

    def remove(self, force: bool):
        self.removed = True


class _Client:
    """The docker SDK's client, as far as the runner uses it."""

    def __init__(self, missing: tuple[str, ...] = ()):
        self.missing, self.runs, self.containers, self.images = missing, [], self, self

    def ping(self):
        return True

    def get(self, name):  # images.get
        import docker

        if name in self.missing:
            raise docker.errors.ImageNotFound(name)

    def run(self, **kwargs):  # containers.run
        self.runs.append(kwargs)
        self.last = _Container(3)
        return self.last

    def close(self):
        pass


def _command(function: str) -> list[str]:
    return ["sh", "-c", "python3 -m kfp.dsl.executor_main", "--executor_input", "{}",
            "--function_to_execute", function]  # fmt: skip


def test_only_infra_validate_gets_the_engine_api_and_every_container_is_removed(
    tmp_path, monkeypatch, capsys
):
    socket = tmp_path / "engine.sock"
    socket.touch()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket}")
    client, root = _Client(), {"/root": {"bind": "/root", "mode": "rw"}}
    assert local.step_container(client, "img", _command("train"), root) == 3
    assert client.last.removed and "step output" in capsys.readouterr().out
    assert client.runs[0]["volumes"] == root and "environment" not in client.runs[0]
    local.step_container(client, "img", _command("infra_validate"), root)
    run = client.runs[1]
    assert run["volumes"][str(socket)] == {"bind": local.ENGINE_SOCKET, "mode": "rw"}
    assert run["environment"] == {"DOCKER_HOST": f"unix://{local.ENGINE_SOCKET}"}
    assert run["group_add"] == [str(socket.stat().st_gid)]
    assert client.last.removed


def test_the_step_runner_replaces_kfps_with_the_same_signature():
    from kfp.local import docker_task_handler

    original = inspect.signature(docker_task_handler.run_docker_container)
    assert list(inspect.signature(local.step_container).parameters) == list(original.parameters)


def test_the_server_image_is_needed_only_when_infra_validate_serves_in_docker(
    tmp_path, monkeypatch
):
    import docker

    root = tmp_path / "run"
    root.mkdir()
    root.chmod(0o777)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/engine.sock")
    monkeypatch.setattr(docker, "from_env", lambda: _Client(missing=("kubetfx-server:dev",)))
    with pytest.raises(ConfigError, match=r"images.server: 'kubetfx-server:dev' is not in"):
        check_docker_run(_config(root), "training")
    check_docker_run(_config(root, infra_validate={"mode": "subprocess"}), "training")
    check_docker_run(_config(root), "batch")  # no infra validation there
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    with pytest.raises(ConfigError, match="unix socket, and DOCKER_HOST is 'tcp://"):
        check_docker_run(_config(root, images={"server": "x"}), "training")


def test_step_seconds_follow_the_order_steps_finished_in(tmp_path):
    """kfp.local may run steps in another order than the listed one (ingest before
    baseline): each step's seconds run from the end of the one that finished before it."""
    import os
    import time

    from kubetfx.runners.local import collect

    started = time.time()
    for name, end in (("ingest", 5), ("baseline", 7), ("statistics", 10)):
        (tmp_path / name).mkdir()
        record = tmp_path / name / "executor_output.json"
        record.write_text("{}")
        os.utime(record, (started + end, started + end))
    steps = collect(str(tmp_path), ["baseline", "ingest", "statistics", "push"], None, started)
    seconds = {s.name: s.seconds for s in steps}
    assert seconds == {"baseline": 2, "ingest": 5, "statistics": 3, "push": None}
    assert steps[-1].status == "NOT RUN"


def test_an_optional_input_the_pipeline_does_not_wire_reaches_the_step_as_none(tmp_path):
    """kfp 2.13's local runner fails on an unwired optional input artifact (train's
    best_hyperparameters without tune); kubetfx's runner leaves it out as a cluster does."""
    import importlib.util

    from kfp import dsl, local

    from kubetfx.runners.local import allow_unwired_optional_inputs

    # A module of its own: this one's `from __future__ import annotations` hides the types.
    source = tmp_path / "optional_consumer.py"
    source.write_text(
        "from kfp import dsl\n\n\n"
        "def consumer(extra: dsl.Input[dsl.Artifact] = None) -> str:\n"
        "    return 'none' if extra is None else extra.uri\n"
    )
    spec = importlib.util.spec_from_file_location("optional_consumer", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    consumer = dsl.component(module.consumer, install_kfp_package=False)

    allow_unwired_optional_inputs()
    allow_unwired_optional_inputs()  # idempotent
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    assert consumer().output == "none"
