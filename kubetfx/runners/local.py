"""Run a pipeline locally with kfp.local and summarize what happened.

kfp.local runs each component either as a subprocess of this Python (cfg.runner
'subprocess', no venv) or in a container of images.components through the Docker API
('docker': DockerRunner, which bind-mounts pipeline_root at the same path and nothing else;
`step_container` below also gives infra_validate the engine's API, and removes each step's
container when it ends).
Artifacts land under {pipeline_root}/{run}/{task}/{output}. A task that succeeded leaves an
executor_output.json holding its artifacts' metadata; that is what the summary reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.errors import ConfigError
from kubetfx.pipelines.artifacts import EXECUTOR_OUTPUT

IMAGE_UID = 10001  # the component image's user (infra/docker/components.Dockerfile)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass
class StepResult:
    name: str
    status: str  # SUCCEEDED | FAILED | NOT RUN
    seconds: float | None = None
    artifacts: dict[str, dict] = dataclasses.field(default_factory=dict)  # name -> {uri, metadata}


@dataclasses.dataclass
class RunResult:
    run_name: str
    run_dir: str
    steps: list[StepResult]
    error: str | None = None
    log_path: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and all(s.status == "SUCCEEDED" for s in self.steps)

    def step(self, name: str) -> StepResult:
        return next(s for s in self.steps if s.name == name)


def step_order(pipeline) -> list[str]:
    """The steps (tasks that run a component) of the pipeline's root DAG in dependency order.

    Left out: the importer sub-pipelines (the training pipeline's baselines), which run no
    code of ours and write nothing a summary reads."""
    spec = pipeline.pipeline_spec
    tasks = spec.root.dag.tasks
    ordered: list[str] = []
    pending = dict(tasks)
    while pending:
        ready = sorted(
            name
            for name, task in pending.items()
            if all(dep in ordered for dep in task.dependent_tasks)
        )
        ordered += ready
        for name in ready:
            del pending[name]
    return [n for n in ordered if not spec.components[tasks[n].component_ref.name].dag.tasks]


def _read_step(run_dir: str, name: str, previous_mtime: float | None) -> StepResult:
    output_file = os.path.join(run_dir, name, EXECUTOR_OUTPUT)
    if not os.path.exists(output_file):
        return StepResult(name, "NOT RUN")
    with open(output_file) as f:
        body = json.load(f)
    artifacts = {
        output: {
            "uri": entry["artifacts"][0]["uri"],
            "metadata": entry["artifacts"][0].get("metadata", {}),
        }
        for output, entry in body.get("artifacts", {}).items()
    }
    mtime = os.path.getmtime(output_file)
    seconds = mtime - previous_mtime if previous_mtime else None
    return StepResult(name, "SUCCEEDED", seconds, artifacts)


def collect(
    run_dir: str, steps: list[str], failed_task: str | None, started: float
) -> list[StepResult]:
    """Each step's result, its seconds measured from the end of the step that finished just
    before it (kfp.local runs them one at a time, not always in the order listed)."""
    ends = {}
    for name in steps:
        output_file = os.path.join(run_dir, name, EXECUTOR_OUTPUT)
        if os.path.exists(output_file):
            ends[name] = os.path.getmtime(output_file)
    in_order = sorted(ends, key=ends.get)
    before = {n: ends[in_order[i - 1]] if i else started for i, n in enumerate(in_order)}
    results = []
    for name in steps:
        step = _read_step(run_dir, name, before.get(name, started))
        if name == failed_task:
            step.status = "FAILED"
            task_dir = os.path.join(run_dir, name)
            step.artifacts = {
                output: {"uri": os.path.join(task_dir, output), "metadata": {}}
                for output in (sorted(os.listdir(task_dir)) if os.path.isdir(task_dir) else [])
            }
        results.append(step)
    return results


class _Progress:
    """A stdout stand-in for the run: everything goes to the log file; the console gets one
    line per step start and end (or everything, when verbose).

    kfp.local prints both its own task events and the components' output on stdout.
    """

    _START = re.compile(r"Executing task '([\w-]+)'")
    _END = re.compile(r"Task '([\w-]+)' finished with status (\w+)")

    def __init__(self, log, console, steps: list[str], verbose: bool):
        self.log, self.console, self.steps, self.verbose = log, console, steps, verbose
        self.pending, self.started = "", {}

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.verbose:
            self.console.write(text)
            return len(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._progress(_ANSI.sub("", line))
        return len(text)

    def _progress(self, line: str) -> None:
        import time

        match = self._START.search(line) or self._END.search(line)
        if match and match.group(1) not in self.steps:
            return  # an importer (the baselines): no code of ours runs there
        if match := self._START.search(line):
            name = match.group(1)
            self.started[name] = time.time()
            self.console.write(f"[{self._position(name)}] {name}: running\n")
        elif match := self._END.search(line):
            name, status = match.groups()
            took = time.time() - self.started.get(name, time.time())
            self.console.write(f"[{self._position(name)}] {name}: {status} ({took:.1f}s)\n")
        else:
            return
        self.console.flush()

    def _position(self, name: str) -> str:
        index = self.steps.index(name) + 1 if name in self.steps else "?"
        return f"{index}/{len(self.steps)}"

    def flush(self) -> None:
        self.log.flush()
        self.console.flush()


def run(cfg: PipelineConfig, pipeline, verbose: bool = False, kind: str = "training") -> RunResult:
    """Run `pipeline` (built from cfg; `kind` names it: training, batch or monitoring) with
    kfp.local; never raises for a failed task.

    The console shows each step's start and end; the full output of kfp.local and the
    components goes to {run_dir}/run.log (and to the console too when verbose).
    """
    import contextlib
    import sys
    import time
    import warnings

    from kfp import local

    root = cfg.pipeline_root
    fileio.makedirs(root)
    if cfg.runner == "docker":
        check_docker_run(cfg, kind)
        runner = local.DockerRunner()
        from kfp.local import docker_task_handler

        docker_task_handler.run_docker_container = step_container
    else:
        # The components run in this venv, not in cfg.images.components: kfp.local warns
        # about that on every step. It is the intended setup, so say it once here.
        warnings.filterwarnings(
            "ignore", message=".*non-Python base image.*", category=RuntimeWarning
        )
        runner = local.SubprocessRunner(use_venv=False)
    allow_unwired_optional_inputs()
    before = set(os.listdir(root))
    local.init(runner=runner, pipeline_root=root, raise_on_error=True)
    started, error, failed_task = time.time(), None, None
    log_path = os.path.join(root, f".run-{os.getpid()}-{int(started)}.log")
    steps = step_order(pipeline)
    with (
        open(log_path, "w") as log,
        contextlib.redirect_stdout(_Progress(log, sys.stdout, steps, verbose)),
    ):
        try:
            pipeline()
        except RuntimeError as e:
            error = _ANSI.sub("", str(e))
            match = re.search(r"Inner task failed: '?([\w-]+)'?", error)
            failed_task = match.group(1) if match else None
    new_runs = sorted(set(os.listdir(root)) - before - {os.path.basename(log_path)})
    run_name = next((n for n in new_runs if n.startswith(cfg.pipeline_name)), "")
    run_dir = os.path.join(root, run_name)
    if run_name:
        os.replace(log_path, os.path.join(run_dir, "run.log"))
        log_path = os.path.join(run_dir, "run.log")
    results = collect(run_dir, steps, failed_task, started)
    return RunResult(run_name, run_dir, results, error, log_path)


ENGINE_SOCKET = "/run/kubetfx-engine.sock"  # where infra_validate's container sees the API


def allow_unwired_optional_inputs() -> None:
    """kfp 2.13's local runner reads every input artifact a component declares from the task's
    arguments, so an optional one the pipeline does not wire (train's best_hyperparameters
    without a tune step) fails with a KeyError before the step starts. The cluster backends
    leave it out, and the executor then passes None; make the local runner do the same by
    dropping such inputs from the component spec it builds the executor input from."""
    from kfp.local import executor_input_utils

    construct = executor_input_utils.construct_executor_input
    if getattr(construct, "kubetfx", False):
        return

    def construct_executor_input(component_spec, arguments, task_root, block_input_artifact):
        definitions = component_spec.input_definitions.artifacts
        unwired = [k for k, d in definitions.items() if d.is_optional and k not in arguments]
        if unwired:
            component_spec = type(component_spec).FromString(component_spec.SerializeToString())
            for key in unwired:
                del component_spec.input_definitions.artifacts[key]
        return construct(component_spec, arguments, task_root, block_input_artifact)

    construct_executor_input.kubetfx = True
    executor_input_utils.construct_executor_input = construct_executor_input


def step_container(client, image: str, command: list[str], volumes: dict) -> int:
    """Run one step's container; its exit code. Replaces kfp.local's run_docker_container
    (kfp 2.13, same signature: tests/unit/test_local_runner.py checks it), which leaves every
    step's container behind and cannot give one step more than the pipeline root: the
    infra_validate step starts the server image through the engine's API (its 'docker' mode),
    so it alone gets the API socket, DOCKER_HOST and the socket's group."""
    extra: dict = {}
    if _function(command) == "infra_validate":
        socket = _engine_socket()
        volumes = {**volumes, socket: {"bind": ENGINE_SOCKET, "mode": "rw"}}
        extra = {
            "environment": {"DOCKER_HOST": f"unix://{ENGINE_SOCKET}"},
            "group_add": [str(os.stat(socket).st_gid)],
        }
    container = client.containers.run(
        image=image, command=command, detach=True, volumes=volumes, **extra
    )
    try:
        for line in container.logs(stream=True):
            print(line.decode(errors="replace"), end="")
        return container.wait()["StatusCode"]
    finally:
        container.remove(force=True)


def _function(command: list[str]) -> str | None:
    """The component function a kfp lightweight step's command runs."""
    for flag, value in zip(command, command[1:], strict=False):
        if flag == "--function_to_execute":
            return value
    return None


def _engine_socket() -> str:
    """The engine's API socket on this host (DOCKER_HOST, else Docker's default path)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise ConfigError(
            f"runner 'docker': infra_validate's container reaches the engine through its unix "
            f"socket, and DOCKER_HOST is {host!r}; use a unix:// socket, or set "
            "infra_validate.mode: subprocess"
        )
    return host[len("unix://") :]


# The config's local paths each pipeline's steps read or write: under runner 'docker' they
# must lie in the one directory kfp mounts.
STEP_PATHS = {
    "training": ("data.path", "reference_root", "schema.import_path", "push.registry"),
    "batch": ("batch_predict.input", "batch_predict.output", "push.registry"),
    "monitoring": (
        "serving.request_log.dir", "serving.registry", "push.registry", "reference_root",
        "monitor.output_dir", "monitor.labels", "monitor.training_statistics",
    ),
}  # fmt: skip


def _local_paths(cfg: PipelineConfig, pipeline: str) -> dict[str, str]:
    """The local paths of `pipeline`'s steps, by field name."""
    from kubetfx.components.ingest.config import BUILTIN_PENGUINS

    paths = {}
    for field in STEP_PATHS[pipeline]:
        value = cfg
        for part in field.split("."):
            value = getattr(value, "schema_" if part == "schema" else part)
        if value and value != BUILTIN_PENGUINS and not fileio.is_remote(value):
            paths[field] = value
    return paths


def check_docker_run(cfg: PipelineConfig, pipeline: str = "training") -> None:
    """What a run in containers needs, checked before any step runs (each a ConfigError that
    names the field and the fix): paths under the one mounted directory, a pipeline root the
    image's user can write, a Docker API, and the image in the engine's local store."""
    root = os.path.realpath(cfg.pipeline_root)
    outside = {
        field: path
        for field, path in _local_paths(cfg, pipeline).items()
        if os.path.commonpath([root, os.path.realpath(path)]) != root
    }
    if outside:
        listed = ", ".join(f"{field}={path!r}" for field, path in sorted(outside.items()))
        raise ConfigError(
            f"runner 'docker' mounts only pipeline_root ({root}) into the steps' containers, "
            f"so these paths would be invisible to them: {listed}. Put them under pipeline_root "
            "(e.g. reference_root: <pipeline_root>/references), or use runner 'subprocess'"
        )
    st = os.stat(root)
    if not (st.st_mode & 0o002 or (st.st_uid == IMAGE_UID and st.st_mode & 0o200)):
        raise ConfigError(
            f"pipeline_root: {root} is not writable for the image's user (uid {IMAGE_UID}), so "
            f"every step would fail with an empty log. Give it to that user (`chown {IMAGE_UID} "
            f"{root}`, as root) or make this run directory writable (`chmod 0777 {root}`)"
        )
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as e:  # the SDK missing, no DOCKER_HOST, a dead socket
        raise ConfigError(
            f"runner 'docker' needs a Docker API ({type(e).__name__}: {e}). Start Docker, or "
            "podman's (`podman system service --time=0 unix:///tmp/podman.sock &` and "
            "DOCKER_HOST=unix:///tmp/podman.sock)"
        ) from e
    from kubetfx.pipelines.targets import infra_validate_mode

    needed = {"components": cfg.images.components}
    if pipeline == "training" and infra_validate_mode(cfg, "local") == "docker":
        needed["server"] = cfg.images.server  # infra_validate serves the candidate in it
        _engine_socket()  # which its container reaches the engine through
    try:
        for field, image in needed.items():
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound as e:
                raise ConfigError(
                    f"images.{field}: {image!r} is not in the engine's local images. Build it "
                    f"with `make images` and set images.{field} to the name it prints (podman "
                    "names local images localhost/NAME:TAG)"
                ) from e
    finally:
        client.close()
