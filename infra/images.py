"""Build and push the kubetfx container images (`make images` runs this; stdlib only).

    python infra/images.py build [--registry REPO] [--tag TAG] [--push] [--dry-run]
    python infra/images.py push --registry REPO [--tag TAG] [--dry-run]

`build` builds infra/docker/components.Dockerfile and infra/docker/server.Dockerfile with the
repository root as the build context and tags them REPO/kubetfx-components:TAG and
REPO/kubetfx-server:TAG (without --registry: local names, e.g. for `kind load`). `push` pushes
those tags. Both print the `images:` config section that points a run at them. TAG defaults to
the git commit (short sha, `-dirty` when the work tree has changes). `--dry-run` prints the
docker commands without running them (no Docker needed).

Exit codes: 0 done; 1 Docker missing, unreachable or a docker command failed; 2 a bad flag.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The image names and tag come from the package (a stdlib-only module), so `make tf-outputs`
# names exactly what this script pushed. A plain Python runs this script, without kubetfx
# installed: import that module from this checkout.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from kubetfx.pipelines.images import REPOSITORIES, image_name  # noqa: E402
from kubetfx.pipelines.images import default_tag as _tag_of  # noqa: E402

DOCKERFILES = {
    "components": "infra/docker/components.Dockerfile",
    "server": "infra/docker/server.Dockerfile",
}
# TFDV and tfx-bsl publish x86_64 wheels only, and GKE node pools default to amd64.
DEFAULT_PLATFORM = "linux/amd64"
# Docker's reference grammar: a tag is at most 128 word characters, dots and dashes.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# host[:port]/path, lowercase: e.g. europe-west4-docker.pkg.dev/my-project/kubetfx.
_REGISTRY_RE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*")


class UsageError(Exception):
    """A bad flag value (exit code 2)."""


class DockerError(Exception):
    """Docker is missing, unreachable, or a docker command failed (exit code 1)."""


def default_tag(root: Path = ROOT) -> str:
    """The short commit sha of this checkout, `-dirty` when tracked files changed; `dev`
    outside git."""
    return _tag_of(root)


def check_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise UsageError(
            f"--tag: {tag!r} is not a valid image tag; expected up to 128 letters, digits, "
            "'_', '.' or '-', not starting with '.' or '-' (e.g. --tag 1a2b3c4d or --tag v0.1.0)"
        )
    return tag


def check_registry(registry: str) -> str:
    if not _REGISTRY_RE.fullmatch(registry):
        raise UsageError(
            f"--registry: {registry!r} is not an image repository prefix; expected a lowercase "
            "host[:port]/path without a scheme or a trailing '/' "
            "(e.g. --registry europe-west4-docker.pkg.dev/my-project/kubetfx)"
        )
    return registry


def build_command(kind: str, name: str, platform: str, tag: str) -> list[str]:
    return [
        "docker",
        "build",
        "--platform",
        platform,
        "--file",
        DOCKERFILES[kind],
        "--tag",
        name,
        "--label",
        f"org.opencontainers.image.version={tag}",
        "--label",
        "org.opencontainers.image.title=" + REPOSITORIES[kind],
        ".",
    ]


def push_command(name: str) -> list[str]:
    return ["docker", "push", name]


def check_docker() -> None:
    """Fail early, and say why, when there is no Docker to build with."""
    if shutil.which("docker") is None:
        raise DockerError(
            "docker: command not found. Building the images needs Docker (Engine or Desktop, "
            "with BuildKit) on this machine or in CI; --dry-run prints the commands instead"
        )
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True
    )
    if info.returncode != 0:
        reason = (info.stderr or info.stdout).strip().splitlines()
        raise DockerError(
            "docker: cannot reach the Docker daemon"
            + (f" ({reason[-1]})" if reason else "")
            + ". Start Docker (or set DOCKER_HOST) and retry; --dry-run prints the commands"
        )


def run(commands: list[list[str]], dry_run: bool) -> None:
    # BuildKit is what reads the per-Dockerfile .dockerignore files in infra/docker/.
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    for command in commands:
        print("+ " + shlex.join(command), flush=True)
        if dry_run:
            continue
        result = subprocess.run(command, cwd=ROOT, env=env)
        if result.returncode != 0:
            raise DockerError(f"{shlex.join(command)} failed with exit code {result.returncode}")


def repo_digest(name: str) -> str | None:
    """The registry digest of a pushed tag (immutable), or None when docker does not know it."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", '{{join .RepoDigests "\\n"}}', name],
        capture_output=True,
        text=True,
    )
    repository = name.rsplit(":", 1)[0]
    for line in result.stdout.splitlines() if result.returncode == 0 else []:
        if line.startswith(repository + "@sha256:"):
            return line.strip()
    return None


def config_snippet(names: dict[str, str]) -> str:
    lines = ["images:"] + [f"  {kind}: {name}" for kind, name in names.items()]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python infra/images.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (and with --push, push) the images")
    push = sub.add_parser("push", help="push images built earlier with the same tag")
    for command in (build, push):
        command.add_argument("--registry", help="image repository prefix (push needs it)")
        command.add_argument("--tag", help="image tag (default: git short sha, -dirty if changed)")
        command.add_argument(
            "--image",
            action="append",
            choices=sorted(DOCKERFILES),
            help="only this image (repeatable; default: both)",
        )
        command.add_argument("--dry-run", action="store_true", help="print the docker commands")
    build.add_argument("--push", action="store_true", help="push after building")
    build.add_argument("--platform", default=DEFAULT_PLATFORM, help="default: %(default)s")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pushing = args.command == "push" or args.push
    try:
        tag = check_tag(args.tag or default_tag())
        registry = check_registry(args.registry.rstrip("/")) if args.registry else None
        if pushing and registry is None:
            raise UsageError(
                "--registry is required to push: give the repository the cluster pulls from "
                "(e.g. --registry europe-west4-docker.pkg.dev/my-project/kubetfx)"
            )
        kinds = args.image or sorted(DOCKERFILES)
        names = {kind: image_name(kind, tag, registry) for kind in kinds}
        commands = []
        if args.command == "build":
            commands += [build_command(k, n, args.platform, tag) for k, n in names.items()]
        if pushing:
            commands += [push_command(name) for name in names.values()]
        if not args.dry_run:
            check_docker()
        run(commands, args.dry_run)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DockerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if pushing and not args.dry_run:
        names = {kind: repo_digest(name) or name for kind, name in names.items()}
    done = "pushed" if pushing else "built"
    verb = f"would be {done}" if args.dry_run else done
    print(f"\nImages {verb}; point a run at them with this config section:\n")
    print(config_snippet(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
