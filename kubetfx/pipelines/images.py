"""The names of kubetfx's two container images and their default tag.

Shared by `make images` (infra/images.py builds and pushes them) and `make tf-outputs`
(pipelines/terraform_outputs.py points a config at them), so both agree on what was pushed.
Standard library only: infra/images.py imports this module from a plain Python, without the
pipeline environment.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# kind (the `images:` config key) -> repository name under the registry prefix
REPOSITORIES = {"components": "kubetfx-components", "server": "kubetfx-server"}


def image_name(kind: str, tag: str, registry: str | None = None) -> str:
    """REGISTRY/kubetfx-KIND:TAG, or a local name (no registry) e.g. for `kind load`."""
    repository = REPOSITORIES[kind]
    return f"{registry}/{repository}:{tag}" if registry else f"{repository}:{tag}"


def default_tag(root: str | Path) -> str:
    """The short commit sha of the git checkout at `root`, with `-dirty` when tracked files
    changed; `dev` when `root` is not in a git checkout or there is no git."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    try:
        sha = git("rev-parse", "--short=12", "HEAD")
        if sha.returncode != 0:
            return "dev"
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except OSError:  # no git binary, or no such directory
        return "dev"
    return sha.stdout.strip() + ("-dirty" if dirty else "")
