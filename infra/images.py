"""Build and push the kubetfx container images (`make images` runs this; stdlib only).

    python infra/images.py build [--registry REPO] [--tag TAG] [--push] [--base IMAGE]
                                 [--ca-bundle FILE] [--engine docker|podman] [--dry-run]
    python infra/images.py push --registry REPO [--tag TAG] [--dry-run]

`build` builds infra/docker/components.Dockerfile and infra/docker/server.Dockerfile with the
repository root as the build context and tags them REPO/kubetfx-components:TAG and
REPO/kubetfx-server:TAG (without --registry: local names, e.g. for `kind load` or
`make e2e`). `push` pushes those tags. Both print the `images:` config section that points a
run at them. TAG defaults to the git commit (short sha, `-dirty` when the work tree has
changes). `--dry-run` prints the commands without running them (no engine needed).

The engine is docker when its daemon answers, else podman (Debian's, with the settings of
infra/podman/containers.conf). The base image defaults to the official Python 3.11 bookworm
image; when it cannot be pulled, infra/base_image.sh makes an equivalent from Debian packages
and the build uses that, saying so. pip's cache is a build cache mount, so a rebuild after a
lock change installs only what changed; a CA bundle (--ca-bundle, default: the one pip uses
here, from PIP_CERT) is passed to the builds as a secret for TLS-inspecting proxies.

Exit codes: 0 done; 1 no engine, or an engine command failed; 2 a bad flag.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
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
OFFICIAL_BASE = "docker.io/library/python:3.11.14-slim-bookworm"
DEBIAN_BASE = "localhost/kubetfx-base:bookworm"
PODMAN_CONF = ROOT / "infra" / "podman" / "containers.conf"
# Docker's reference grammar: a tag is at most 128 word characters, dots and dashes.
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# host[:port]/path, lowercase: e.g. europe-west4-docker.pkg.dev/my-project/kubetfx.
_REGISTRY_RE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*")


class UsageError(Exception):
    """A bad flag value (exit code 2)."""


class EngineError(Exception):
    """No container engine, or one of its commands failed (exit code 1)."""


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


def check_ca_bundle(path: str | None) -> str | None:
    if path is not None and not os.path.isfile(path):
        raise UsageError(
            f"--ca-bundle: {path!r} is not a file; give a PEM bundle of the CA certificates "
            "pip must trust (e.g. --ca-bundle /etc/ssl/certs/ca-certificates.crt)"
        )
    return path


def engine_env(engine: str) -> dict[str, str]:
    """The environment engine commands run with: BuildKit for docker (it reads the
    per-Dockerfile .dockerignore files and the cache and secret mounts); for podman, the
    project's containers.conf unless the caller chose one."""
    env = dict(os.environ)
    if engine == "docker":
        env["DOCKER_BUILDKIT"] = "1"
    else:
        env.setdefault("CONTAINERS_CONF", str(PODMAN_CONF))
    return env


def local_name(engine: str, kind: str, tag: str) -> str:
    """podman names a local image localhost/NAME:TAG, and kfp's DockerRunner looks images up
    by that exact name, so the build tags it so."""
    name = image_name(kind, tag)
    return f"localhost/{name}" if engine == "podman" else name


def find_engine(wanted: str | None = None) -> str:
    """docker when its daemon answers, else podman; fail naming what to install."""
    candidates = [wanted] if wanted else ["docker", "podman"]
    reasons = []
    for engine in candidates:
        if shutil.which(engine) is None:
            reasons.append(f"{engine}: command not found")
            continue
        info = subprocess.run(
            [engine, "info", "--format", "{{.Host.Arch}}" if engine == "podman" else "{{.ID}}"],
            capture_output=True,
            text=True,
            env=engine_env(engine),
        )
        if info.returncode == 0:
            return engine
        said = (info.stderr or info.stdout).strip().splitlines()
        reasons.append(f"{engine}: cannot reach the engine" + (f" ({said[-1]})" if said else ""))
    raise EngineError(
        "no container engine: "
        + "; ".join(reasons)
        + ". Install Docker (Engine or Desktop) or podman; on Debian, as root, "
        "`infra/engine.sh install` installs podman from Debian's packages. "
        "--dry-run prints the commands instead"
    )


def build_command(
    engine: str,
    kind: str,
    name: str,
    platform: str,
    tag: str,
    base: str,
    ca_bundle: str | None,
    no_cache: bool = False,
) -> list[str]:
    command = [engine, "build", "--platform", platform, "--file", DOCKERFILES[kind]]
    command += ["--no-cache"] if no_cache else []
    command += ["--tag", name, "--build-arg", f"BASE_IMAGE={base}"]
    command += ["--label", f"org.opencontainers.image.version={tag}"]
    command += ["--label", "org.opencontainers.image.title=" + REPOSITORIES[kind]]
    if ca_bundle:
        command += ["--secret", f"id=ca,src={ca_bundle}"]
    if engine == "podman":
        # podman's build containers reach the network like the host does (no bridge setup),
        # and read <Dockerfile>.dockerignore only when told.
        ignore = DOCKERFILES[kind] + ".dockerignore"
        command += ["--network", "host", "--ignorefile", ignore]
    return command + ["."]


def push_command(engine: str, name: str) -> list[str]:
    return [engine, "push", name]


def choose_base(engine: str, base: str | None, dry_run: bool) -> str:
    """The given base; else the official image when it is present or can be pulled; else the
    Debian-built equivalent (made by infra/base_image.sh when it is not there yet)."""
    if base:
        return base
    if dry_run:
        return OFFICIAL_BASE
    env = engine_env(engine)

    def have(image: str) -> bool:
        inspect = [engine, "image", "inspect", image]
        return subprocess.run(inspect, capture_output=True, env=env).returncode == 0

    if have(OFFICIAL_BASE):
        return OFFICIAL_BASE
    pull = subprocess.run([engine, "pull", OFFICIAL_BASE], capture_output=True, text=True, env=env)
    if pull.returncode == 0:
        return OFFICIAL_BASE
    reason = (pull.stderr or pull.stdout).strip().splitlines()
    print(
        f"The official base {OFFICIAL_BASE} cannot be pulled"
        + (f" ({reason[-1]})" if reason else "")
        + f":\nbuilding on {DEBIAN_BASE}, Python 3.11 from Debian packages (infra/base_image.sh).",
        flush=True,
    )
    if not have(DEBIAN_BASE):
        run([["bash", "infra/base_image.sh", engine, DEBIAN_BASE]], env, dry_run=False)
    return DEBIAN_BASE


def run(commands: list[list[str]], env: dict[str, str], dry_run: bool) -> None:
    for command in commands:
        print("+ " + shlex.join(command), flush=True)
        if dry_run:
            continue
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env)
        if result.returncode != 0:
            raise EngineError(f"{shlex.join(command)} failed with exit code {result.returncode}")
        print(f"  ({command[1]} took {time.monotonic() - started:.0f} s)", flush=True)


def repo_digest(engine: str, name: str) -> str | None:
    """The registry digest of a pushed tag (immutable), or None when the engine does not know
    it."""
    result = subprocess.run(
        [engine, "image", "inspect", "--format", '{{join .RepoDigests "\\n"}}', name],
        capture_output=True,
        text=True,
        env=engine_env(engine),
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
        command.add_argument(
            "--engine", choices=["docker", "podman"], help="default: docker, else podman"
        )
        command.add_argument("--dry-run", action="store_true", help="print the commands")
    build.add_argument("--push", action="store_true", help="push after building")
    build.add_argument("--platform", default=DEFAULT_PLATFORM, help="default: %(default)s")
    build.add_argument(
        "--base", help=f"base image (default: {OFFICIAL_BASE}, else a Debian-built one)"
    )
    build.add_argument(
        "--no-cache", action="store_true", help="rebuild every layer (pip's cache mount stays)"
    )
    build.add_argument(
        "--ca-bundle",
        default=os.environ.get("PIP_CERT") or None,
        help="CA bundle pip trusts inside the builds (default: $PIP_CERT, if set)",
    )
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
        ca_bundle = check_ca_bundle(getattr(args, "ca_bundle", None))
        engine = (args.engine or "docker") if args.dry_run else find_engine(args.engine)
        kinds = args.image or sorted(DOCKERFILES)
        names = {
            kind: image_name(kind, tag, registry) if registry else local_name(engine, kind, tag)
            for kind in kinds
        }
        commands = []
        if args.command == "build":
            base = choose_base(engine, args.base, args.dry_run)
            commands += [
                build_command(engine, k, n, args.platform, tag, base, ca_bundle, args.no_cache)
                for k, n in names.items()
            ]
        if pushing:
            commands += [push_command(engine, name) for name in names.values()]
        run(commands, engine_env(engine), args.dry_run)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except EngineError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if pushing and not args.dry_run:
        names = {kind: repo_digest(engine, name) or name for kind, name in names.items()}
    done = "pushed" if pushing else "built"
    verb = f"would be {done}" if args.dry_run else done
    print(f"\nImages {verb}; point a run at them with this config section:\n")
    print(config_snippet(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
