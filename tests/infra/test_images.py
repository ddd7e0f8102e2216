"""infra/images.py (`make images`): the engine commands it runs, its tags, and its errors.

The commands are checked with --dry-run and with stand-in `docker`/`podman` executables that
record their arguments; `make e2e` builds the real images with the real engine.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.files import INFRA, ROOT

SCRIPT = INFRA / "images.py"
REGISTRY = "europe-west4-docker.pkg.dev/my-project/kubetfx"
DIGEST = "sha256:" + "ab" * 32


def _module():
    spec = importlib.util.spec_from_file_location("kubetfx_images", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path if path is not None else os.environ["PATH"]}
    env.pop("PIP_CERT", None)  # the default CA bundle: tests give one explicitly
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def _fake_docker(
    directory: Path,
    info_fails: bool = False,
    build_fails: bool = False,
    name: str = "docker",
    pull_fails: bool = False,
) -> Path:
    """A `docker` (or `podman`) that logs each call to NAME.log and answers like the real one:
    the official base is not present locally, and its pull works unless pull_fails."""
    log = directory / f"{name}.log"
    script = directory / name
    refused = "echo 'Error: dial tcp: lookup registry-1.docker.io: no such host' >&2; exit 125"
    script.write_text(
        f"""#!/bin/sh
printf "%s\\n" "$*" >> {log}
case "$1" in
  info) {"echo 'Cannot connect to the Docker daemon' >&2; exit 1" if info_fails else "echo 27.0"} ;;
  build) {"exit 3" if build_fails else "exit 0"} ;;
  pull) {refused if pull_fails else "exit 0"} ;;
  image)
    if [ "$2" = inspect ] && [ "$3" != --format ]; then
      case "$3" in localhost/kubetfx-base:*) exit 0 ;; *) exit 1 ;; esac
    fi
    tag="$5"; echo "${{tag%:*}}@{DIGEST}" ;;
esac
exit 0
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return log


def _path_with(directory: Path) -> str:
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


def test_dry_run_prints_both_builds_from_the_repository_root():
    result = _run("build", "--tag", "abc123", "--dry-run", path="/nonexistent")
    assert result.returncode == 0, result.stderr
    commands = [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
    base = "--build-arg BASE_IMAGE=docker.io/library/python:3.11.14-slim-bookworm"
    assert commands == [
        "docker build --platform linux/amd64 --file infra/docker/components.Dockerfile "
        f"--tag kubetfx-components:abc123 {base} --label org.opencontainers.image.version=abc123 "
        "--label org.opencontainers.image.title=kubetfx-components .",
        "docker build --platform linux/amd64 --file infra/docker/server.Dockerfile "
        f"--tag kubetfx-server:abc123 {base} --label org.opencontainers.image.version=abc123 "
        "--label org.opencontainers.image.title=kubetfx-server .",
    ]
    assert "images:\n  components: kubetfx-components:abc123\n  server: kubetfx-server:abc123" in (
        result.stdout
    )


def test_the_dockerfiles_it_builds_exist():
    for dockerfile in _module().DOCKERFILES.values():
        assert (ROOT / dockerfile).is_file()


def test_build_and_push_run_docker_and_print_the_pushed_digests(tmp_path):
    log = _fake_docker(tmp_path)
    result = _run(
        "build", "--registry", REGISTRY, "--tag", "v1", "--push", path=_path_with(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith("info")
    # The official base is looked up, then pulled (the stand-in's pull works).
    assert [c.split()[0] for c in calls[1:7]] == ["image", "pull", "build", "build", "push", "push"]
    assert calls[5] == f"push {REGISTRY}/kubetfx-components:v1"
    assert calls[6] == f"push {REGISTRY}/kubetfx-server:v1"
    # Pushed images are named by digest: what a cluster pulls can then never change.
    assert f"  components: {REGISTRY}/kubetfx-components@{DIGEST}" in result.stdout
    assert f"  server: {REGISTRY}/kubetfx-server@{DIGEST}" in result.stdout


def test_push_alone_pushes_without_building(tmp_path):
    log = _fake_docker(tmp_path)
    result = _run("push", "--registry", REGISTRY + "/", "--tag", "v1", path=_path_with(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [c.split()[0] for c in log.read_text().splitlines()] == [
        "info",
        "push",
        "push",
        "image",
        "image",
    ]


def test_without_an_engine_it_says_what_to_install_and_fails(tmp_path):
    result = _run("build", "--tag", "v1", path=str(tmp_path))
    assert result.returncode == 1
    assert "docker: command not found; podman: command not found" in result.stderr
    assert "infra/engine.sh install" in result.stderr and "--dry-run" in result.stderr


def test_an_unreachable_daemon_is_reported_before_any_build(tmp_path):
    log = _fake_docker(tmp_path, info_fails=True)
    result = _run("build", "--engine", "docker", "--tag", "v1", path=_path_with(tmp_path))
    assert result.returncode == 1
    assert "docker: cannot reach the engine (Cannot connect to the Docker daemon)" in result.stderr
    assert log.read_text().splitlines() == ["info --format {{.ID}}"]


def test_podman_when_docker_is_absent_with_local_names_and_the_debian_base(tmp_path):
    """No docker: podman, with the project's containers.conf, localhost/ names (what kfp's
    DockerRunner looks up), host networking, the per-Dockerfile ignore file, the CA bundle as
    a secret; the official base cannot be pulled, so the Debian-built one is used (present)."""
    log = _fake_docker(tmp_path, name="podman", pull_fails=True)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    result = _run("build", "--tag", "v1", "--ca-bundle", str(ca), path=_path_with(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "cannot be pulled (Error: dial tcp" in result.stdout
    assert "building on localhost/kubetfx-base:bookworm" in result.stdout
    builds = [c for c in log.read_text().splitlines() if c.startswith("build")]
    assert len(builds) == 2
    for build, kind in zip(builds, ("components", "server"), strict=True):
        assert f"--tag localhost/kubetfx-{kind}:v1" in build
        assert "--build-arg BASE_IMAGE=localhost/kubetfx-base:bookworm" in build
        assert f"--secret id=ca,src={ca}" in build
        assert f"--network host --ignorefile infra/docker/{kind}.Dockerfile.dockerignore" in build
    assert "  components: localhost/kubetfx-components:v1" in result.stdout


def test_the_podman_settings_file_is_what_these_hosts_need():
    text = (ROOT / "infra" / "podman" / "containers.conf").read_text()
    assert "default_ulimits = []" in text
    assert 'cgroup_manager = "cgroupfs"' in text and 'runtime = "runc"' in text
    assert (
        _module().engine_env("podman")["CONTAINERS_CONF"].endswith("infra/podman/containers.conf")
    )


def test_a_failed_build_stops_before_pushing(tmp_path):
    log = _fake_docker(tmp_path, build_fails=True)
    result = _run(
        "build", "--registry", REGISTRY, "--tag", "v1", "--push", path=_path_with(tmp_path)
    )
    assert result.returncode == 1
    assert "failed with exit code 3" in result.stderr
    assert not any(c.startswith("push") for c in log.read_text().splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["push", "--tag", "v1"], "--registry is required to push"),
        (["build", "--tag=-v1"], "--tag: '-v1' is not a valid image tag"),
        (["build", "--registry", "https://gcr.io/p"], "--registry: 'https://gcr.io/p'"),
        (["build", "--registry", "Gcr.io/P"], "expected a lowercase host[:port]/path"),
        (["build", "--ca-bundle", "/nonexistent.pem"], "--ca-bundle: '/nonexistent.pem' is not"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag_and_the_fix(args, message):
    result = _run(*args, "--dry-run")
    assert result.returncode == 2
    assert message in result.stderr
    assert "e.g." in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_default_tag_is_the_commit_and_says_when_the_tree_is_dirty(tmp_path):
    default_tag = _module().default_tag
    assert default_tag(tmp_path) == "dev"  # not a repository

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    git("init", "--quiet")
    (tmp_path / "f.txt").write_text("1")
    git("add", "f.txt")
    git("commit", "--quiet", "-m", "one")
    sha = git("rev-parse", "--short=12", "HEAD")
    assert default_tag(tmp_path) == sha
    (tmp_path / "f.txt").write_text("2")
    assert default_tag(tmp_path) == f"{sha}-dirty"
