"""What submitting to Kubeflow Pipelines and to Vertex AI share: compiling the spec, the
flag-or-config rule, cron dialects, following a run to its end, printing a dry run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable

from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError


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
    from kubetfx.pipelines import catalog

    path = f"{directory}/{pipeline}.yaml"
    built = catalog.compile_pipeline(cfg, target, path, pipeline)
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
