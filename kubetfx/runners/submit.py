"""`kubetfx submit` and `kubetfx schedule`: run the pipeline on Kubeflow Pipelines or Vertex AI.

Both commands compile the pipeline for the target, then send it: as a new version of a named
KFP pipeline plus a run (or recurring run) in an experiment, or as a Vertex AI PipelineJob
(or PipelineJobSchedule). `--dry-run` prints the request as JSON and sends nothing.
Credentials and environment variables are read when a command runs, never at import.

This module stays light (argparse only) so that `kubetfx --help` does not import kfp or the
Google Cloud SDK; the target modules import them when used.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError
from kubetfx.pipelines.targets import PIPELINES

CLOUD_TARGETS = ("kubeflow", "vertex")
# Flags that only mean something for one target (given for the other, they are a mistake).
TARGET_FLAGS = {
    "kubeflow": ("host", "namespace", "token_file", "iap_audience"),
    "vertex": ("project", "region"),
}


def add_cloud_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of `kubetfx submit` or `kubetfx schedule` (besides the config flags)."""
    parser.add_argument("--target", choices=CLOUD_TARGETS, required=True)
    parser.add_argument("--pipeline", choices=PIPELINES, default="training")
    kfp = parser.add_argument_group("kubeflow")
    kfp.add_argument("--host", help="KFP API endpoint (kubeflow.host)")
    kfp.add_argument("--namespace", help="namespace of the experiment (kubeflow.namespace)")
    kfp.add_argument(
        "--token-file",
        help="file holding the bearer token, re-read before each request: a projected "
        "service account token in-cluster (default $KFP_TOKEN_FILE; else $KFP_TOKEN is the token)",
    )
    kfp.add_argument(
        "--iap-audience",
        help="OAuth client ID of an IAP-fronted KFP: send a Google ID token for it "
        "(from the ambient Google credentials)",
    )
    vertex = parser.add_argument_group("vertex")
    vertex.add_argument("--project", help="Google Cloud project (vertex.project)")
    vertex.add_argument("--region", help="Vertex AI region (vertex.region)")
    parser.add_argument("--experiment", help="experiment (kubeflow.experiment, vertex.experiment)")
    parser.add_argument(
        "--service-account",
        help="what the steps run as: a Kubernetes service account (kubeflow.service_account) "
        "or a Google service account email (vertex.service_account)",
    )
    if command == "submit":
        parser.add_argument(
            "--wait", action="store_true", help="follow the run; exit 0 only on success"
        )
        parser.add_argument("--poll-seconds", type=float, default=15.0, help="with --wait")
        parser.add_argument(
            "--timeout", type=float, default=24 * 3600.0, help="with --wait: give up after (s)"
        )
    else:
        parser.add_argument(
            "--cron", required=True, help='standard 5-field cron, e.g. "0 3 * * *" (UTC)'
        )
        parser.add_argument("--max-concurrency", type=int, default=1, help="runs at once")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the request as JSON; send nothing"
    )


def cmd_submit(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    _check_flags(args)
    if args.target == "kubeflow":
        from kubetfx.runners import submit_kubeflow as target
    else:
        from kubetfx.runners import submit_vertex as target
    return target.submit(cfg, args)


def cmd_schedule(cfg: PipelineConfig, args: argparse.Namespace) -> int:
    _check_flags(args)
    if args.max_concurrency < 1:
        raise ConfigError(f"--max-concurrency: must be at least 1, got {args.max_concurrency}")
    if args.target == "kubeflow":
        from kubetfx.runners import submit_kubeflow as target
    else:
        from kubetfx.runners import submit_vertex as target
    return target.schedule(cfg, args)


def _check_flags(args: argparse.Namespace) -> None:
    for target, flags in TARGET_FLAGS.items():
        if target == args.target:
            continue
        for flag in flags:
            if getattr(args, flag, None) is not None:
                option = "--" + flag.replace("_", "-")
                raise ConfigError(f"{option}: applies to --target {target}, not {args.target}")


def required(flag_value: str | None, config_value: str | None, flag: str, key: str) -> str:
    """A flag, else its config key; neither is a ConfigError naming both."""
    value = flag_value or config_value
    if not value:
        raise ConfigError(
            f"{flag} (config {key}): required for this target; pass {flag} or set {key}"
        )
    return value


@dataclasses.dataclass(frozen=True)
class Compiled:
    name: str  # the pipeline's name: the KFP pipeline it is a version of, the Vertex job's
    path: str
    sha256: str
    steps: tuple[str, ...]  # task names in the compiled DAG, as the platforms report them


def compile_spec(cfg: PipelineConfig, target: str, directory: str, pipeline: str) -> Compiled:
    from kubetfx.pipelines import targets

    path = f"{directory}/{pipeline}.yaml"
    built = targets.compile_pipeline(cfg, target, path, pipeline)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    spec = built.pipeline_spec
    return Compiled(spec.pipeline_info.name, path, digest, tuple(spec.root.dag.tasks))


def git_commit() -> str:
    """The short commit of the working directory's checkout, or 'unknown' outside one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"


def print_request(request: dict) -> int:
    print(json.dumps(request, indent=2))
    return 0


def kfp_cron(cron: str) -> str:
    """KFP's scheduler takes 6 fields, seconds first; a standard 5-field cron gains '0'."""
    fields = cron.split()
    if fields and "=" in fields[0]:
        raise ConfigError(
            f"--cron: KFP recurring runs have no time zone prefix, got {cron!r}; "
            "write the cron in the KFP API server's time zone (UTC by default)"
        )
    if len(fields) == 5:
        return "0 " + " ".join(fields)
    if len(fields) == 6:
        return " ".join(fields)
    raise ConfigError(f"--cron: expected 5 fields (minute hour day month weekday), got {cron!r}")


def vertex_cron(cron: str) -> str:
    """Vertex takes a standard 5-field cron, optionally prefixed with TZ=... or CRON_TZ=..."""
    fields = cron.split()
    body = fields[1:] if fields and "=" in fields[0] else fields
    if len(body) != 5:
        raise ConfigError(
            f"--cron: expected 5 fields (minute hour day month weekday), optionally after "
            f"TZ=Area/City, got {cron!r}"
        )
    return " ".join(fields)


@dataclasses.dataclass
class RunStatus:
    """One look at a run: its state and each step's, with the errors the platform reported."""

    state: str
    done: bool
    succeeded: bool
    steps: dict[str, str] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""


FAILED_STEP_STATES = ("FAILED", "CANCELED", "CANCELLED")


def follow(
    poll: Callable[[], RunStatus],
    run: str,
    poll_seconds: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print each step's state as it changes until the run ends; 0 only if it succeeded."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        status = poll()
        for step, state in status.steps.items():
            if seen.get(step) != state:
                print(f"[{run}] {step}: {state}", flush=True)
                seen[step] = state
        if status.done:
            break
        if time.monotonic() > deadline:
            print(f"kubetfx: {run} still {status.state} after {timeout:.0f}s", file=sys.stderr)
            return 1
        sleep(poll_seconds)
    if status.succeeded:
        print(f"[{run}] {status.state}", flush=True)
        return 0
    failed = [step for step, state in status.steps.items() if state in FAILED_STEP_STATES]
    print(
        f"kubetfx: {run} {status.state}; failed step(s): {', '.join(failed) or 'none reported'}",
        file=sys.stderr,
    )
    for step in failed:
        if status.errors.get(step):
            print(f"  {step}: {status.errors[step]}", file=sys.stderr)
    if status.error:
        print(f"  run: {status.error}", file=sys.stderr)
    return 1
