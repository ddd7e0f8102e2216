"""Open a pipeline run and read its artifacts as typed objects (for notebooks and scripts).

    run = open_run("pipeline_root")                      # the latest local run
    run = open_run("gs://bucket/root", "kubetfx-training-2026-...")
    run = open_run("kubeflow:RUN_ID", kfp_client=kfp.Client(host=...))
    run = open_run("projects/P/locations/L/pipelineJobs/JOB")          # Vertex AI
    run.statistics("train"), run.schema(), run.validation(), run.evaluation(), run.blessing() ...

Readers reuse each stage's own file layout and readers. A step that failed, did not run or left
no output raises `StepUnavailable` naming the run, the step and what to do; never a KeyError.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re

from kubetfx.components import fileio
from kubetfx.errors import RunNotFound, StepUnavailable
from kubetfx.pipelines.training import CLUSTER_ONLY, STAGES

# The task names of a local training run (KFP spells them with dashes).
STEPS = tuple(fn.__name__.replace("_", "-") for fn in STAGES if fn not in CLUSTER_ONLY)
OPTIONAL_STEPS = ("tune",)  # in a run only when the config turns it on (tune.enabled)
# What kfp.local leaves in a task directory that succeeded: its output artifacts' metadata.
EXECUTOR_OUTPUT = "executor_output.json"
RUN_CONFIG = "config.json"  # a local run's config, as `kubetfx run` ran it
_STAMP = re.compile(r"(\d{4}(?:-\d{2}){5}-\d+)$")  # kfp.local run names end with a timestamp


@dataclasses.dataclass(frozen=True)
class Step:
    name: str
    state: str  # SUCCEEDED | FAILED | RUNNING | NOT RUN | UNKNOWN (found by path, no record)
    outputs: dict[str, str]  # output name -> URI
    metadata: dict[str, dict] = dataclasses.field(default_factory=dict)  # output -> metadata
    error: str = ""


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained SavedModel: its path, loaded (and kept) on first use."""

    path: str

    @functools.cached_property
    def saved_model(self):
        import tensorflow as tf

        return tf.saved_model.load(self.path)

    @property
    def signatures(self) -> dict:
        return dict(self.saved_model.signatures)


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    location: str  # the run directory, or the Kubeflow / Vertex resource
    state: str
    steps: dict[str, Step]
    root: str | None = None  # the pipeline root it was found in, when found by path
    parameters: dict = dataclasses.field(default_factory=dict)  # a cluster run's parameters

    def config(self) -> dict | None:
        """The config the run ran with: a local run's config.json, or a cluster run's
        `config` parameter (typed parameters given at submission are in .parameters)."""
        if "config" in self.parameters:
            return json.loads(self.parameters["config"])
        path = fileio.join(self.location, RUN_CONFIG)
        return json.loads(fileio.read_text(path)) if fileio.exists(path) else None

    # -- where things are ----------------------------------------------------------------

    def uri(self, step: str, output: str, allow_failed: bool = False) -> str:
        """The URI of one output; StepUnavailable when the step has not produced it."""
        found = self.steps.get(step)
        where = f"run {self.name!r}: step {step!r}"
        if found is None or found.state == "NOT RUN":
            failed = [s.name for s in self.steps.values() if s.state == "FAILED"]
            why = f" (step {failed[0]!r} failed before it)" if failed else ""
            raise StepUnavailable(f"{where} did not run{why}; open another run or rerun it")
        if found.state not in ("SUCCEEDED", "UNKNOWN") and not allow_failed:
            detail = f": {found.error}" if found.error else ""
            raise StepUnavailable(
                f"{where} is {found.state}{detail}; its {output!r} output is not usable. "
                f"See the step's log{self._log_hint()}, or open a run that succeeded"
            )
        if output not in found.outputs:
            raise StepUnavailable(
                f"{where} has no output {output!r} (it has {sorted(found.outputs)}); "
                f"the step was interrupted or the run was made by another pipeline version"
            )
        return found.outputs[output]

    def _log_hint(self) -> str:
        log = fileio.join(self.location, "run.log")
        return f" ({log})" if not fileio.is_remote(log) and os.path.exists(log) else ""

    def _file(self, step: str, output: str, *parts: str, allow_failed: bool = False) -> str:
        path = fileio.join(self.uri(step, output, allow_failed), *parts)
        if not fileio.exists(path):
            raise StepUnavailable(
                f"run {self.name!r}: step {step!r} left no {'/'.join(parts) or output} at {path}"
            )
        return path

    def _json(self, step: str, output: str, filename: str, allow_failed: bool = False) -> dict:
        return json.loads(
            fileio.read_text(self._file(step, output, filename, allow_failed=allow_failed))
        )

    # -- data ----------------------------------------------------------------------------

    def examples(self, split: str = "eval", limit: int | None = None) -> list[bytes]:
        """Serialized raw tf.Examples of one split, as ingest wrote them."""
        import tensorflow as tf

        from kubetfx.components.statistics.core import examples_pattern

        files = fileio.glob(examples_pattern(self.uri("ingest", "examples"), split))
        if not files:
            raise StepUnavailable(f"run {self.name!r}: ingest wrote no {split!r} examples")
        records = tf.data.TFRecordDataset(files, compression_type="GZIP")
        return [r.numpy() for r in (records.take(limit) if limit else records)]

    @property
    def splits(self) -> list[str]:
        uri = self.uri("statistics", "statistics")
        return sorted(e.rstrip("/")[6:] for e in fileio.listdir(uri) if e.startswith("Split-"))

    def statistics(self, split: str = "train"):
        """TFDV statistics of one split (a DatasetFeatureStatisticsList)."""
        from kubetfx.components.statistics import core

        if split not in self.splits:
            raise StepUnavailable(f"run {self.name!r}: no split {split!r}; it has {self.splits}")
        return core.load(self._file("statistics", "statistics", f"Split-{split}", core.STATS_FILE))

    def statistics_html(self) -> str:
        """The statistics step's self-contained HTML view (all splits side by side)."""
        return fileio.read_text(self._file("statistics", "view"))

    def schema(self):
        """The schema this run validated and transformed against (tfmd Schema)."""
        from kubetfx.components.schema import core

        return core.load(self._file("schema", "schema", core.SCHEMA_FILE))

    # Validate writes its outputs before it fails the run: a failed run's anomalies are readable.
    def anomalies(self, split: str = "train"):
        """TFDV's Anomalies proto for one split."""
        from tensorflow_metadata.proto.v0 import anomalies_pb2

        from kubetfx.components.validate.core import ANOMALIES_FILE

        path = self._file(
            "validate", "anomalies", f"Split-{split}", ANOMALIES_FILE, allow_failed=True
        )
        return anomalies_pb2.Anomalies.FromString(fileio.read_bytes(path))

    def validation(self):
        """Anomalies, drift and skew distances and their baselines (validate's ValidationResult)."""
        from kubetfx.components.validate.core import RESULT_FILE, ValidationResult

        path = self._file("validate", "anomalies", RESULT_FILE, allow_failed=True)
        return ValidationResult.from_json(fileio.read_text(path))

    def validation_report(self) -> str:
        """The readable validation report (Markdown)."""
        return fileio.read_text(self._file("validate", "report", allow_failed=True))

    # -- model ---------------------------------------------------------------------------

    def transform_output(self):
        """The tf.Transform graph (tft.TFTransformOutput)."""
        import tensorflow_transform as tft

        return tft.TFTransformOutput(self.uri("transform", "transform_graph"))

    def task(self):
        """What the model predicts: classification (and its classes) or regression."""
        from kubetfx.components.transform.core import TASK_FILE, read_task

        self._file("transform", "transform_graph", TASK_FILE)
        return read_task(self.uri("transform", "transform_graph"))

    @functools.cached_property
    def model(self) -> Model:
        """The trained SavedModel (loaded on first use of `.saved_model`)."""
        self._file("train", "model", "saved_model.pb")
        return Model(self.uri("train", "model"))

    def metrics(self) -> dict:
        """{"candidate": {slice: {metric: value}}, "baseline_overall": {metric: value}}."""
        from kubetfx.components.contracts import METRICS_FILE

        return self._json("evaluate", "evaluation", METRICS_FILE)

    def evaluation(self):
        """TFMA's EvalResult of the candidate (slicing metrics and plots)."""
        uri = self.uri("evaluate", "evaluation")
        import tensorflow_model_analysis as tfma

        from kubetfx.components.evaluate.core import candidate_key

        return tfma.load_eval_result(uri, model_name=candidate_key(self.blessing().baseline))

    def evaluation_html(self) -> str:
        """Evaluate's self-contained HTML report (metrics by slice, fairness, the verdict)."""
        return fileio.read_text(self._file("evaluate", "report"))

    def blessing(self):
        """BLESSED or not, with the reasons and the champion it was compared with."""
        from kubetfx.components.evaluate.blessing import RESULT_FILE, Blessing

        return Blessing.from_json(fileio.read_text(self._file("evaluate", "blessing", RESULT_FILE)))

    def infra_blessing(self):
        """Whether the real model server loaded the model and answered like it, and why."""
        from kubetfx.components.infra_validate.core import RESULT_FILE, InfraResult

        return InfraResult(**self._json("infra-validate", "infra_blessing", RESULT_FILE))

    def pushed(self):
        """What push did (PushResult): the version and path, or why nothing was pushed."""
        from kubetfx.components.push.core import PushResult

        body = self._json("push", "pushed_model", "push.json")
        known = {f.name for f in dataclasses.fields(PushResult)}  # runs of other versions
        return PushResult(**{k: v for k, v in body.items() if k in known})

    def registry_entry(self) -> dict | None:
        """The registry's metadata of the pushed version (run, data, metrics, reasons); None
        when this run pushed nothing (`pushed().reason` says why)."""
        from kubetfx.components.registry import ModelRegistry

        pushed = self.pushed()
        if not pushed.pushed:
            return None
        root, model, _ = pushed.path.rstrip("/").rsplit("/", 2)
        return ModelRegistry(root, model).metadata(pushed.version)

    def previous(self) -> Run | None:
        """The run before this one in the same pipeline root (for a drift view), if any."""
        if self.root is None:
            return None
        names = list_runs(self.root)
        earlier = names[: names.index(self.name)] if self.name in names else []
        return open_run(self.root, earlier[-1]) if earlier else None


def compare_statistics(current, baseline, schema, cfg=None) -> list:
    """Drift of `current` against `baseline` statistics, with validate's comparators and
    thresholds (validate.drift_threshold...): one Distance per feature, largest first."""
    import tensorflow_data_validation as tfdv

    from kubetfx.components.anomalies import read_distances, set_comparators
    from kubetfx.components.config import ValidateConfig

    schema_copy = type(schema)()
    schema_copy.CopyFrom(schema)
    set_comparators(schema_copy, cfg or ValidateConfig(), label="")
    result = tfdv.validate_statistics(
        current, schema_copy, environment="TRAINING", previous_statistics=baseline
    )
    return [d for d in read_distances(result) if d.kind == "drift"]


# -- finding runs ------------------------------------------------------------------------


def list_runs(root: str) -> list[str]:
    """Run directories under a pipeline root, oldest first (by the timestamp in the name)."""
    if not fileio.exists(root):
        raise RunNotFound(
            f"pipeline root {root!r} does not exist; run `make run` (it writes ./pipeline_root) "
            "or pass the pipeline_root of your config"
        )
    names = [e.rstrip("/") for e in fileio.listdir(root)]
    runs = [n for n in names if any(fileio.exists(fileio.join(root, n, s)) for s in STEPS)]
    return sorted(runs, key=lambda n: (m.group(1) if (m := _STAMP.search(n)) else "", n))


def open_run(root_or_ref: str, run: str = "latest", *, kfp_client=None, **vertex_args) -> Run:
    """A run from a pipeline root (local or gs://; `run` is a name or "latest"), a Kubeflow
    run ("kubeflow:RUN_ID") or a Vertex AI PipelineJob ("projects/.../pipelineJobs/JOB")."""
    if root_or_ref.startswith("kubeflow:"):
        return from_kubeflow(root_or_ref.removeprefix("kubeflow:"), kfp_client)
    if root_or_ref.startswith("projects/") and "/pipelineJobs/" in root_or_ref:
        return from_vertex(root_or_ref, **vertex_args)
    names = list_runs(root_or_ref)
    if not names:
        raise RunNotFound(f"no runs in {root_or_ref!r} yet; `make run` makes one")
    name = names[-1] if run == "latest" else run
    if name not in names:
        raise RunNotFound(
            f"no run {run!r} in {root_or_ref!r}; runs there: {names[-5:]} (newest last)"
        )
    return _from_directory(root_or_ref, name)


def _from_directory(root: str, name: str) -> Run:
    """Steps from the run directory: kfp.local records each success in executor_output.json;
    a cluster run found by path has no such record, so its steps' states are UNKNOWN."""
    run_dir = fileio.join(root, name)
    present = [s for s in STEPS if fileio.exists(fileio.join(run_dir, s))]
    local_record = any(fileio.exists(fileio.join(run_dir, s, EXECUTOR_OUTPUT)) for s in present)
    finished = fileio.exists(fileio.join(run_dir, "run.log"))  # kfp.local moves it in at the end
    steps = {}
    for step in STEPS:
        task_dir = fileio.join(run_dir, step)
        if step not in present:
            steps[step] = Step(step, "NOT RUN", {})
            continue
        entries = [e.rstrip("/") for e in fileio.listdir(task_dir)]
        outputs = {e: fileio.join(task_dir, e) for e in entries if e != EXECUTOR_OUTPUT}
        metadata, state = {}, "UNKNOWN"
        if EXECUTOR_OUTPUT in entries:
            body = json.loads(fileio.read_text(fileio.join(task_dir, EXECUTOR_OUTPUT)))
            # Its URIs are where the run was written; the listing stays right if it was moved.
            for output, entry in body.get("artifacts", {}).items():
                metadata[output] = entry["artifacts"][0].get("metadata", {})
            state = "SUCCEEDED"
        elif finished:
            state = "FAILED"
        elif local_record:
            state = "RUNNING"
        steps[step] = Step(step, state, outputs, metadata)
    return Run(name, run_dir, _overall(steps), steps, root)


def _overall(steps: dict[str, Step]) -> str:
    states = {
        s.state for s in steps.values() if not (s.name in OPTIONAL_STEPS and s.state == "NOT RUN")
    }
    for state in ("FAILED", "RUNNING", "UNKNOWN"):
        if state in states:
            return state
    return "SUCCEEDED" if states == {"SUCCEEDED"} else "INCOMPLETE"


def from_kubeflow(run_id: str, client=None, host: str | None = None) -> Run:
    """A run on Kubeflow Pipelines: states from the API (kfp.Client.get_run); artifacts under
    {pipeline_root}/{pipeline_name}/{run_id}/{task}/{output}, where the KFP backend writes them."""
    import kfp

    client = client or kfp.Client(host=host)
    found = client.get_run(run_id)
    spec = found.pipeline_spec
    reference = found.pipeline_version_reference
    if not spec and reference:
        spec = client.get_pipeline_version(
            reference.pipeline_id, reference.pipeline_version_id
        ).pipeline_spec
    spec = spec or {}
    root = (found.runtime_config.pipeline_root if found.runtime_config else None) or spec.get(
        "defaultPipelineRoot"
    )
    if not root:
        raise RunNotFound(
            f"Kubeflow run {run_id}: neither the run nor its pipeline names a pipeline root; "
            "open it by path instead: open_run('gs://ROOT/PIPELINE_NAME', run_id)"
        )
    run_dir = fileio.join(
        root, spec.get("pipelineInfo", {}).get("name", "kubetfx-training"), run_id
    )
    steps = {s: Step(s, "NOT RUN", {}) for s in STEPS}
    details = found.run_details.task_details if found.run_details else None
    for task in details or []:
        if task.display_name not in steps or steps[task.display_name].state == "SUCCEEDED":
            continue  # the DAG's root and drivers; a retried step that already succeeded
        task_dir = fileio.join(run_dir, task.display_name)
        outputs = {}
        if fileio.exists(task_dir):
            outputs = {
                e.rstrip("/"): fileio.join(task_dir, e.rstrip("/"))
                for e in fileio.listdir(task_dir)
            }
        error = task.error.message if task.error and task.error.message else ""
        steps[task.display_name] = Step(task.display_name, str(task.state), outputs, {}, error)
    parameters = dict(found.runtime_config.parameters or {}) if found.runtime_config else {}
    return Run(found.display_name or run_id, run_dir, str(found.state), steps, None, parameters)


def from_vertex(
    job_name: str, project: str | None = None, location: str | None = None, credentials=None
) -> Run:
    """A Vertex AI PipelineJob: states and output artifact URIs from the job's task details."""
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob.get(
        job_name, project=project, location=location, credentials=credentials
    )
    resource = job.gca_resource
    steps = {s: Step(s, "NOT RUN", {}) for s in STEPS}
    for task in resource.job_detail.task_details:
        if task.task_name not in steps:
            continue
        outputs, metadata = {}, {}
        for output, listed in task.outputs.items():
            if listed.artifacts:
                outputs[output] = listed.artifacts[0].uri
                metadata[output] = dict(listed.artifacts[0].metadata)
        steps[task.task_name] = Step(
            task.task_name, task.state.name, outputs, metadata, task.error.message
        )
    state = resource.state.name.removeprefix("PIPELINE_STATE_")
    parameters = dict(resource.runtime_config.parameter_values)
    return Run(resource.name.rsplit("/", 1)[-1], resource.name, state, steps, None, parameters)


def record_config(run_dir: str, config_json: str) -> None:
    """Keep a local run's config beside its steps (what `kubetfx runs compare` diffs)."""
    if run_dir and fileio.exists(run_dir):
        fileio.write_text(fileio.join(run_dir, RUN_CONFIG), config_json)
