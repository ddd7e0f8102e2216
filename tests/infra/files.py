"""Where the infra files are, and small readers shared by the infra tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
DOCKER = INFRA / "docker"
WORKFLOWS = INFRA / "ci" / "github"
# Published CRDs, kept beside the project in this workplace (see ../shared/crds/README.md).
CRDS = ROOT.parent / "shared" / "crds"


# libyaml's loader when PyYAML has it: the published CRDs are megabytes.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    """The non-empty documents of a (multi-document) YAML file."""
    with path.open() as f:
        return [doc for doc in yaml.load_all(f, Loader=_LOADER) if doc is not None]


def manifest_files() -> list[Path]:
    """Every Kubernetes object file under infra/k8s (kustomization files are not objects)."""
    return sorted(
        p for p in K8S.rglob("*.yaml") if p.name not in ("kustomization.yaml", "kustomization.yml")
    )


def kustomization_files() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yaml"))


def is_remote(reference: str) -> bool:
    """A kustomize remote base (a git URL), as opposed to a path in this repository."""
    return bool(re.match(r"^(https?://|git@|github\.com/|gitlab\.com/)", reference))


def makefile_targets(makefile: Path = ROOT / "Makefile") -> set[str]:
    """Explicit targets of a Makefile: `name:` rules and names declared .PHONY."""
    targets: set[str] = set()
    for line in makefile.read_text().splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", line)
        if match:
            targets.add(match.group(1))
    return targets


# A checkov skip's reason is a sentence, not a placeholder.
MIN_REASON_CHARS = 15
# checkov:skip=CKV_xx:reason, as a comment in any file.
SKIP_COMMENT_RE = re.compile(r"checkov:skip=\s*([A-Z0-9_]+)(?::(.*))?")


def run_checkov(directory: Path, frameworks: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """checkov's JSON report per framework for a directory, run offline.

    BC_SKIP_MAPPING and --skip-download stop the policy-metadata calls, and a proxy on a
    closed loopback port makes anything else (checkov's PyPI update check on import) fail at
    once instead of leaving the machine.
    """
    candidate = Path(sys.executable).with_name("checkov")
    checkov = str(candidate) if candidate.exists() else shutil.which("checkov")
    if checkov is None:
        pytest.skip("checkov is not installed in this environment")
    command = [checkov, "--directory", str(directory), "--framework", *frameworks]
    command += ["--output", "json", "--compact", "--skip-download"]
    fence = "http://127.0.0.1:9"
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING", "NO_PROXY": ""}
    env.update({name: fence for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    # Exit code 1 means "failed checks", which the tests report one by one.
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return {report["check_type"]: report for report in reports}
