"""The two Dockerfiles: pinned base, non-root runtime, lock-file installs, a filtered context.

A small reader of Dockerfile instructions (hadolint is not available here; checkov's
Dockerfile checks run in test_checkov.py). No image is built: there is no Docker engine.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from tests.infra.files import DOCKER, ROOT

DOCKERFILES = {
    "components": DOCKER / "components.Dockerfile",
    "server": DOCKER / "server.Dockerfile",
}
# An exact release tag (python:3.11.14-slim-bookworm), optionally with a digest as well.
PINNED_BASE_RE = re.compile(r"^python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?$")
BASE_ARG = "${BASE_IMAGE}"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, starting with its FROM."""
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(path):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def final_stage(path: Path) -> list[tuple[str, str]]:
    return stages(path)[-1]


def values(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for k, arguments in stage if k == keyword]


def base_default(path: Path) -> str:
    """The default of the BASE_IMAGE build argument declared before the first FROM."""
    (declared,) = [a for k, a in instructions(path) if k == "ARG" and a.startswith("BASE_IMAGE=")]
    return declared.partition("=")[2]


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_every_stage_starts_from_the_base_argument_pinned_by_default(kind):
    bases = {
        args.split()[0] for stage in stages(DOCKERFILES[kind]) for args in values(stage, "FROM")
    }
    assert len(stages(DOCKERFILES[kind])) >= 2, "expected a builder and a runtime stage"
    assert bases == {BASE_ARG}  # one base for every stage: the venvs' interpreter exists
    default = base_default(DOCKERFILES[kind])
    assert PINNED_BASE_RE.match(default), f"{default!r} is not pinned to an exact release"


def test_both_images_share_one_base():
    assert len({base_default(path) for path in DOCKERFILES.values()}) == 1


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_the_runtime_stage_runs_as_a_numeric_non_root_user(kind):
    users = values(final_stage(DOCKERFILES[kind]), "USER")
    assert users, "no USER in the final stage: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric, or Kubernetes cannot verify runAsNonRoot.
    assert uid.isdigit() and int(uid) > 0
    assert not gid or (gid.isdigit() and int(gid) > 0)


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_the_runtime_stage_installs_nothing_and_copies_from_the_builder(kind):
    runtime = final_stage(DOCKERFILES[kind])
    for command in values(runtime, "RUN"):
        assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", command), command
    copied_from = {args.split()[0] for args in values(runtime, "COPY") if args.startswith("--from")}
    assert copied_from == {"--from=builder"}


@pytest.mark.parametrize(
    ("kind", "locks"),
    [
        ("components", {"requirements/lock.txt"}),  # the runtime only: no dev, no server
        ("server", {"requirements/serving-lock.txt"}),
    ],
)
def test_installs_come_from_the_lock_files(kind, locks):
    builder = stages(DOCKERFILES[kind])[0]
    installs = [c for c in values(builder, "RUN") if "pip install" in c]
    installed_locks = {
        Path(m).relative_to("/opt/kubetfx").as_posix()
        for c in installs
        for m in re.findall(r"-r (\S+)", c)
    }
    assert installed_locks == locks
    for lock in locks:
        assert (ROOT / lock).is_file()
    # Every other install is the project itself, without dependencies.
    for command in installs:
        for install in re.split(r"&&", command):
            if "pip install" in install and "-r " not in install:
                assert "--no-deps" in install, install


def _context_sources(path: Path) -> list[str]:
    sources = []
    for stage in stages(path):
        for arguments in values(stage, "COPY"):
            if arguments.startswith("--from"):
                continue
            sources += arguments.split()[:-1]
    return sources


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            ignored = not negated
    return ignored


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_the_build_context_holds_what_the_dockerfile_copies_and_no_venv(kind):
    dockerfile = DOCKERFILES[kind]
    # BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile.
    ignore_file = dockerfile.with_name(dockerfile.name + ".dockerignore")
    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in _context_sources(dockerfile):
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by {ignore_file.name}"
    for unwanted in (".venv", ".venv-serving", "model_registry", "pipeline_root", ".git"):
        assert _ignored(unwanted, patterns), f"{unwanted} would be sent to the builder"


def test_component_image_puts_the_venv_python_first_for_kfp():
    runtime = final_stage(DOCKERFILES["components"])
    env = " ".join(values(runtime, "ENV"))
    # KFP runs `python3 -m kfp.dsl.executor_main`: python3 must be the venv's.
    assert re.search(r"\bPATH=/opt/venv/bin:\$PATH\b", env)
    assert "TF_CPP_MIN_LOG_LEVEL=2" in env
    # No server environment: infra_validate runs the server image (a pod, an endpoint, a
    # container), so nothing points its subprocess mode at one.
    assert "KUBETFX_SERVING_PYTHON" not in env
    assert "venv-serving" not in DOCKERFILES["components"].read_text()
    builder = " ".join(values(stages(DOCKERFILES["components"])[0], "RUN"))
    assert "-e /opt/kubetfx" in builder


def test_server_image_listens_on_8080_on_all_interfaces():
    runtime = final_stage(DOCKERFILES["server"])
    assert values(runtime, "EXPOSE") == ["8080 8500"]
    (entrypoint,) = values(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == [
        "python",
        "-m",
        "kubetfx.serving",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert "PYTHONPATH=/opt/kubetfx" in " ".join(values(runtime, "ENV"))


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_lock_installs_use_the_pip_cache_mount_and_the_optional_ca_secret(kind):
    """pip's cache lives in a build cache mount (reused by the next build, never in a layer)
    and a CA bundle given to `make images` reaches pip as the secret `ca`."""
    builder = stages(DOCKERFILES[kind])[0]
    installs = [c for c in values(builder, "RUN") if "pip install -r" in c]
    assert installs
    for command in installs:
        assert "--mount=type=cache,id=kubetfx-pip,target=/root/.cache/pip" in command
        assert "--mount=type=secret,id=ca" in command
        assert "PIP_CERT=/run/secrets/ca" in command
        assert "--no-cache-dir" not in command
