"""`kubetfx run --in-process`: the pipeline's steps called one after another in this process.

No kfp.local and no process per step: a breakpoint in a component or core stops the run in
your debugger, and the libraries are imported once. Nothing is restated here: the steps and
their order, which output feeds which input and which parameters they take come from the
compiled pipeline (its DAG), and each step's artifact types from its component function's
signature. Artifacts are laid out as kfp.local lays them out ({pipeline_root}/{run}/{step}/
{output}, with an executor_output.json per step), so the run summary and the
notebooks read an in-process run like any other.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
import sys
import time
import traceback

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.pipelines.artifacts import EXECUTOR_OUTPUT
from kubetfx.runners.local import RunResult, StepResult, step_order

JOB_NAME = "{{$.pipeline_job_name}}"  # dsl.PIPELINE_JOB_NAME_PLACEHOLDER, as compiled


def artifact_parameters(fn) -> dict[str, tuple[str, type]]:
    """A component function's artifact parameters: name -> ('input' | 'output', class)."""
    from kfp.dsl.types import type_annotations as kfp_types

    found = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        kind = parameter.annotation
        if kfp_types.is_artifact_wrapped_in_Input(kind):
            found[name] = ("input", kfp_types.get_io_artifact_class(kind))
        elif kfp_types.is_artifact_wrapped_in_Output(kind):
            found[name] = ("output", kfp_types.get_io_artifact_class(kind))
    return found


class Steps:
    """The steps of `pipeline` (built from the functions in `functions`, keyed by task name),
    callable one at a time against the run directory `run_dir`."""

    def __init__(self, pipeline, functions: dict, config: str, run_dir: str):
        self.spec = pipeline.pipeline_spec
        self.tasks = self.spec.root.dag.tasks
        self.order = step_order(pipeline)
        self.functions, self.config, self.run_dir = functions, config, run_dir
        self.run_name = os.path.basename(run_dir)
        self.returned: dict[tuple[str, str], object] = {}  # (step, output) -> returned value

    def _arguments(self, name: str) -> tuple[dict, dict]:
        """(keyword arguments of the step's function, its output artifacts by name)."""
        task = self.tasks[name]
        kwargs: dict = {}
        for key, value in task.inputs.parameters.items():
            if value.component_input_parameter == "config":
                kwargs[key] = self.config
            else:
                constant = value.runtime_value.constant.string_value
                kwargs[key] = self.run_name if constant == JOB_NAME else constant
        outputs = {}
        wired = task.inputs.artifacts
        for key, (direction, kind) in artifact_parameters(self.functions[name]).items():
            if direction == "output":
                outputs[key] = kwargs[key] = self._artifact(kind, key, name, key)
                continue
            if key not in wired:  # an optional input this run does not wire (train without tune)
                continue
            source = wired[key].task_output_artifact
            producer, output = source.producer_task, source.output_artifact_key
            if producer in self.order:
                kwargs[key] = self._artifact(kind, key, producer, output)
            else:  # an importer sub-pipeline (the baselines): the URI a step returned
                kwargs[key] = kind(name=key, uri=self._imported_uri(producer, output), metadata={})
        return kwargs, outputs

    def _imported_uri(self, task: str, output: str) -> str:
        """The URI the importer inside sub-pipeline task `task` imports as its `output`: the
        value of the sub-pipeline input it reads, which an earlier step returned."""
        dag = self.spec.components[self.tasks[task].component_ref.name].dag
        inner = dag.outputs.artifacts[output].artifact_selectors[0].producer_subtask
        dag_input = dag.tasks[inner].inputs.parameters["uri"].component_input_parameter
        source = self.tasks[task].inputs.parameters[dag_input].task_output_parameter
        key = (source.producer_task, source.output_parameter_key)
        if key not in self.returned:  # returned in another process (bench.stages: one per step)
            path = os.path.join(self.run_dir, source.producer_task, EXECUTOR_OUTPUT)
            with open(path) as f:
                values = json.load(f).get("parameterValues", {})
            self.returned[key] = values[source.output_parameter_key]
        return str(self.returned[key])

    def _artifact(self, kind: type, name: str, task: str, output: str):
        uri = os.path.join(self.run_dir, task, output)
        return kind(name=name, uri=uri, metadata=self._metadata(task, output))

    def _metadata(self, task: str, output: str) -> dict:
        path = os.path.join(self.run_dir, task, EXECUTOR_OUTPUT)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            entry = json.load(f).get("artifacts", {}).get(output, {"artifacts": [{}]})
        return entry["artifacts"][0].get("metadata", {})

    def call(self, name: str) -> StepResult:
        """Run one step; raises what the step raises. Its artifacts are written like kfp.local's."""
        kwargs, outputs = self._arguments(name)
        for artifact in outputs.values():
            fileio.makedirs(os.path.dirname(artifact.uri))
        started = time.perf_counter()
        value = self.functions[name](**kwargs)
        seconds = time.perf_counter() - started
        fields = getattr(inspect.signature(self.functions[name]).return_annotation, "_fields", ())
        for key, item in zip(fields, value, strict=True) if fields else [("Output", value)]:
            self.returned[(name, key)] = item
        body = {
            key: {"artifacts": [{"name": key, "uri": a.uri, "metadata": dict(a.metadata)}]}
            for key, a in outputs.items()
        }
        values = {
            key: item
            for (step, key), item in self.returned.items()
            if step == name and isinstance(item, str | int | float | bool)
        }
        with open(os.path.join(self.run_dir, name, EXECUTOR_OUTPUT), "w") as f:
            json.dump({"artifacts": body, "parameterValues": values}, f)
        artifacts = {k: {"uri": a.uri, "metadata": dict(a.metadata)} for k, a in outputs.items()}
        return StepResult(name, "SUCCEEDED", seconds, artifacts)


def training_steps(cfg: PipelineConfig, run_dir: str) -> Steps:
    """The training pipeline's steps for this config, against `run_dir`."""
    from kubetfx.pipelines import training

    functions = {fn.__name__.replace("_", "-"): fn for fn in training.STAGES}
    return Steps(training.build(cfg), functions, cfg.to_json(), run_dir)


def run(cfg: PipelineConfig) -> RunResult:
    """The training pipeline in this process. Never raises for a failed step: like
    kfp.local's run, the result says which step failed (its traceback goes to stderr)."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
    run_name = f"{cfg.pipeline_name}-{stamp}"
    run_dir = os.path.join(cfg.pipeline_root, run_name)
    os.makedirs(run_dir)
    steps = training_steps(cfg, run_dir)
    results: list[StepResult] = []
    error = None
    for position, name in enumerate(steps.order, 1):
        if error is not None:
            results.append(StepResult(name, "NOT RUN"))
            continue
        print(f"[{position}/{len(steps.order)}] {name}: running", flush=True)
        try:
            results.append(steps.call(name))
        except Exception as e:  # the step failed; the run stops here, like kfp.local's
            traceback.print_exc(file=sys.stderr)
            error = f"step {name!r} failed: {type(e).__name__}: {e}"
            task_dir = os.path.join(run_dir, name)
            written = sorted(os.listdir(task_dir)) if os.path.isdir(task_dir) else []
            artifacts = {o: {"uri": os.path.join(task_dir, o), "metadata": {}} for o in written}
            results.append(StepResult(name, "FAILED", artifacts=artifacts))
            continue
        took = results[-1].seconds or 0.0
        print(f"[{position}/{len(steps.order)}] {name}: SUCCESS ({took:.1f}s)", flush=True)
    return RunResult(run_name, run_dir, results, error)
