"""Where the infra files are, and small readers shared by the infra tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
