"""The artifact API: finding runs (local, gs:// through tf.io.gfile, Kubeflow, Vertex) and
reading their artifacts, on runs written by the stages' own writers on real penguins data.

Kubeflow lookups go through a real kfp.Client to a loopback server answering with captured
v2beta1 responses; Vertex lookups through aiplatform.PipelineJob.get with the Google client's
get_pipeline_job answering a captured PipelineJob. Nothing leaves this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid

import pytest

from kubetfx.components import fileio
from kubetfx.components.config import SchemaConfig, ValidateConfig
from kubetfx.components.evaluate.blessing import Blessing
from kubetfx.components.infra_validate.core import InfraResult, write_blessing
from kubetfx.components.push.core import PushResult
from kubetfx.components.reference import ReferenceStore
from kubetfx.components.registry import ModelRegistry
from kubetfx.components.schema import core as schema_core
from kubetfx.components.statistics import core as stats_core
from kubetfx.components.transform.task import Task
from kubetfx.components.validate import core as validate_core
from kubetfx.errors import ValidationFailed
from kubetfx.pipelines.artifacts import (
    EXECUTOR_OUTPUT,
    OPTIONAL_STEPS,
    STEPS,
    RunNotFound,
    StepUnavailable,
    compare_statistics,
    list_runs,
    open_run,
)

GOOD = "kubetfx-training-2026-12-01-07-08-07-000001"
FAILED = "kubetfx-training-2026-12-02-09-00-00-000002"  # the latest


def _record(run_dir, step: str, outputs: dict[str, dict]) -> dict[str, str]:
    """What kfp.local writes for a step that succeeded: its artifacts' URIs and metadata."""
    uris = {name: os.path.join(run_dir, step, name) for name in outputs}
    body = {
        name: {"artifacts": [{"name": name, "uri": uris[name], "metadata": metadata}]}
        for name, metadata in outputs.items()
    }
    fileio.write_text(os.path.join(run_dir, step, EXECUTOR_OUTPUT), json.dumps({"artifacts": body}))
    return uris


def write_run(root, name: str, frames: dict, registry) -> None:
    """A run as the pipeline leaves it, each output written by its stage's own code. Bad eval
    data fails validate, which then writes its outputs and raises, as in a real run."""
    import tensorflow_data_validation as tfdv

    run_dir = os.path.join(root, name)
    stats = os.path.join(run_dir, "statistics", "statistics")
    for split, frame in frames.items():
        statistics = tfdv.generate_statistics_from_dataframe(frame)
        fileio.write_bytes(stats_core.stats_path(stats, split), statistics.SerializeToString())
    paths = {s: stats_core.stats_path(stats, s) for s in frames}
    fileio.write_text(
        os.path.join(run_dir, "statistics", "view"), stats_core.render_html(paths, "t")
    )
    fileio.write_text(os.path.join(run_dir, "ingest", "examples", "ingest.json"), "{}")
    _record(run_dir, "ingest", {"examples": {"rows": {s: len(f) for s, f in frames.items()}}})
    _record(run_dir, "baseline", {"baselines": {"champion_version": -1}})
    _record(run_dir, "statistics", {"statistics": {}, "view": {}})
    schema_path = os.path.join(run_dir, "schema", "schema", schema_core.SCHEMA_FILE)
    schema_core.write(
        schema_core.infer(stats_core.load(paths["train"]), "species", SchemaConfig()), schema_path
    )
    _record(run_dir, "schema", {"schema": {"source": "inferred"}})
    anomalies = os.path.join(run_dir, "validate", "anomalies")
    try:
        validate_core.run(
            stats_uri=stats,
            schema_path=schema_path,
            splits=list(frames),
            label="species",
            cfg=ValidateConfig(),
            reference=ReferenceStore(os.path.join(root, "references"), "penguins"),
            run_name=name,
            output_uri=anomalies,
            report_path=os.path.join(run_dir, "validate", "report"),
        )
    except ValidationFailed:
        fileio.write_text(os.path.join(run_dir, "run.log"), "Inner task failed: 'validate'\n")
        return
    _record(run_dir, "validate", {"anomalies": {"anomaly_count": 0}, "report": {}})
    graph = os.path.join(run_dir, "transform", "transform_graph")
    fileio.write_text(
        os.path.join(graph, "task.json"),
        json.dumps(Task("classification", "species", ("Adelie", "Chinstrap", "Gentoo")).to_dict()),
    )
    _record(run_dir, "transform", {"transform_graph": {}, "transformed_examples": {}})
    model = os.path.join(run_dir, "train", "model")
    fileio.write_bytes(os.path.join(model, "saved_model.pb"), b"not loaded by these tests")
    _record(run_dir, "train", {"model": {}, "model_run": {}})
    blessing = Blessing(True, ["all thresholds held (no champion yet: value thresholds only)"])
    evaluate = _record(run_dir, "evaluate", {"evaluation": {}, "blessing": {"blessed": True}})
    fileio.write_text(os.path.join(evaluate["blessing"], "blessing.json"), blessing.to_json())
    fileio.write_text(
        os.path.join(evaluate["evaluation"], "metrics.json"),
        json.dumps({"candidate": {"overall": {"accuracy": 0.97}}, "baseline_overall": {}}),
    )
    infra = _record(run_dir, "infra-validate", {"infra_blessing": {"blessed": 1}})
    write_blessing(
        InfraResult(True, ["JSON features: answers match"], 4, 1.5, 0.0), infra["infra_blessing"]
    )
    registry = ModelRegistry(str(registry), "penguins")
    version = registry.push(model, {"run": name, "blessing": blessing.reasons})
    pushed = PushResult(True, version, registry.version_dir(version), "pushed", True)
    push = _record(run_dir, "push", {"pushed_model": {"pushed": True, "version": version}})
    fileio.write_text(os.path.join(push["pushed_model"], "push.json"), json.dumps(pushed.__dict__))
    fileio.write_text(os.path.join(run_dir, "run.log"), "done\n")


@pytest.fixture(scope="module")
def frames(penguins_table):
    df = penguins_table.to_pandas()
    train = df.sample(frac=0.6, random_state=1)
    good_eval = df.drop(train.index)
    bad_eval = good_eval.assign(island="Atlantis")  # a category the schema has never seen
    return train, good_eval, bad_eval


@pytest.fixture(scope="module")
def runs(tmp_path_factory, frames):
    """A pipeline root with a good run and a later run that failed at validate."""
    base = tmp_path_factory.mktemp("artifacts")
    root, registry = str(base / "pipeline_root"), base / "model_registry"
    train, good_eval, bad_eval = frames
    write_run(root, GOOD, {"train": train, "eval": good_eval}, registry)
    write_run(root, FAILED, {"train": train, "eval": bad_eval}, registry)
    return root, registry


@pytest.fixture
def root_copy(runs, tmp_path):
    root = str(tmp_path / "pipeline_root")
    shutil.copytree(runs[0], root)
    return root


def test_steps_are_the_training_pipelines_tasks():
    from kubetfx.components.config import PipelineConfig
    from kubetfx.pipelines import training
    from kubetfx.runners import local

    assert set(STEPS) - {"tune"} == set(local.step_order(training.build(PipelineConfig())))
    tuned = PipelineConfig.model_validate({"tune": {"enabled": True}})
    assert set(STEPS) == set(local.step_order(training.build(tuned)))


def test_runs_are_found_by_name_and_latest(runs, root_copy):
    root, _ = runs
    assert list_runs(root) == [GOOD, FAILED]
    assert open_run(root).name == FAILED
    assert open_run(root, "latest").name == FAILED
    good = open_run(root, GOOD)
    assert good.state == "SUCCEEDED" and good.location == os.path.join(root, GOOD)
    assert all(good.steps[s].state == "SUCCEEDED" for s in STEPS if s not in OPTIONAL_STEPS)
    assert good.steps["tune"].state == "NOT RUN"  # tune.enabled is off by default
    # "latest" follows the timestamp in the name, not the name's sort order.
    newer = "another-pipeline-2026-12-03-00-00-00-000003"
    shutil.copytree(os.path.join(root_copy, GOOD), os.path.join(root_copy, newer))
    assert list_runs(root_copy)[-1] == newer
    assert open_run(root_copy).previous().name == FAILED


def test_a_good_run_gives_typed_artifacts(runs, frames):
    from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

    root, registry = runs
    run = open_run(root, GOOD)
    assert run.splits == ["eval", "train"]
    train = run.statistics("train")
    assert isinstance(train, statistics_pb2.DatasetFeatureStatisticsList)
    assert train.datasets[0].num_examples == len(frames[0])
    assert "<svg" in run.statistics_html()
    assert isinstance(run.schema(), schema_pb2.Schema)
    assert "species" in {f.name for f in run.schema().feature}
    assert isinstance(run.anomalies("eval"), anomalies_pb2.Anomalies)
    assert not run.anomalies("eval").anomaly_info
    assert run.validation().passed and run.validation().rows["eval"] == len(frames[1])
    assert run.validation_report().startswith("# Data validation: PASSED")
    assert run.task().classes == ("Adelie", "Chinstrap", "Gentoo")
    assert run.model.path == os.path.join(root, GOOD, "train", "model")
    assert run.metrics()["candidate"]["overall"]["accuracy"] == 0.97
    assert run.blessing().blessed and "no champion yet" in run.blessing().reasons[0]
    assert run.infra_blessing().reasons == ["JSON features: answers match"]
    (version,) = ModelRegistry(str(registry), "penguins").versions()
    assert run.pushed().version == version
    assert run.registry_entry()["run"] == GOOD
    assert run.steps["ingest"].metadata["examples"]["rows"]["eval"] == len(frames[1])


def test_a_failed_run_says_which_step_failed(runs):
    root, _ = runs
    run = open_run(root, FAILED)
    assert run.state == "FAILED"
    assert run.steps["validate"].state == "FAILED"
    assert run.steps["train"].state == "NOT RUN"
    # Validate writes its findings before failing the run: those are readable.
    assert not run.validation().passed
    assert "island" in {a.feature for a in run.validation().anomalies}
    assert "island" in run.anomalies("eval").anomaly_info
    assert run.validation_report().startswith("# Data validation: FAILED")
    assert run.statistics("eval").datasets[0].num_examples > 0
    with pytest.raises(StepUnavailable, match=r"step 'evaluate' did not run \(step 'validate'"):
        run.blessing()
    with pytest.raises(StepUnavailable, match="step 'train' did not run"):
        _ = run.model
    with pytest.raises(StepUnavailable, match=r"'validate' is FAILED.*run\.log"):
        run.uri("validate", "anomalies")


def test_missing_steps_outputs_and_runs_are_clear_errors(root_copy):
    shutil.rmtree(os.path.join(root_copy, GOOD, "evaluate"))
    os.remove(os.path.join(root_copy, GOOD, "push", "pushed_model", "push.json"))
    run = open_run(root_copy, GOOD)
    assert run.state == "INCOMPLETE"
    with pytest.raises(StepUnavailable, match="step 'evaluate' did not run"):
        run.evaluation()
    with pytest.raises(StepUnavailable, match="step 'push' left no push.json"):
        run.pushed()
    with pytest.raises(StepUnavailable, match=r"no split 'test'.*\['eval', 'train'\]"):
        run.statistics("test")
    with pytest.raises(StepUnavailable, match="has no output 'nothing'"):
        run.uri("train", "nothing")
    with pytest.raises(RunNotFound, match=f"no run 'nope'.*{GOOD}"):
        open_run(root_copy, "nope")
    with pytest.raises(RunNotFound, match="does not exist; run `make run`"):
        open_run(os.path.join(root_copy, "elsewhere"))


def _cluster_copy(run_dir: str, target: str) -> None:
    """The run as a cluster leaves it in a bucket: the outputs only, no kfp.local record."""
    for folder, _, files in os.walk(run_dir):
        for name in files:
            if name not in (EXECUTOR_OUTPUT, "run.log"):
                source = os.path.join(folder, name)
                copy = fileio.join(target, os.path.relpath(source, run_dir))
                fileio.makedirs(os.path.dirname(copy))  # ram:// lists only directories made
                fileio.copy(source, copy)


def test_a_remote_root_is_read_through_gfile(runs):
    """ram:// is not local to fileio, so every call goes through tf.io.gfile as gs:// does."""
    root, _ = runs
    remote = f"ram://kubetfx-{uuid.uuid4().hex}/root"
    _cluster_copy(os.path.join(root, GOOD), fileio.join(remote, GOOD))
    assert fileio.is_remote(remote)
    run = open_run(remote)
    assert run.name == GOOD and run.location == f"{remote}/{GOOD}"
    assert run.state == "UNKNOWN"  # found by path: no record of the steps' states
    assert run.statistics("eval").datasets[0].num_examples > 0
    assert run.blessing().blessed and run.pushed().pushed
    assert run.model.path == f"{remote}/{GOOD}/train/model"
    fileio.remove(f"{remote}/{GOOD}/push/pushed_model/push.json")
    with pytest.raises(StepUnavailable, match="step 'push' left no push.json"):
        run.pushed()


# -- Kubeflow Pipelines: a real kfp.Client against captured v2beta1 answers ------------------

RUN_ID = "6f1c2a4e-3b5d-4c7e-9f80-1a2b3c4d5e6f"


def _task(name: str, state: str, error: str | None = None) -> dict:
    task = {
        "run_id": RUN_ID,
        "task_id": f"{name}-id",
        "display_name": name,
        "create_time": "2026-12-01T07:00:00Z",
        "state": state,
        "execution_id": "42",
        "outputs": {"out": {"artifact_ids": ["7"]}},
        "child_tasks": [{"pod_name": f"kubetfx-training-abc-{name}-123"}],
    }
    if error:
        task["error"] = {"code": 9, "message": error}
    return task


def captured_run(root: str, failed: bool) -> dict:
    tasks = [_task("root", "FAILED" if failed else "SUCCEEDED"), _task("root-driver", "SUCCEEDED")]
    for step in STEPS:
        tasks.append(_task(f"{step}-driver", "SUCCEEDED"))
        if step == "train":  # a retried step: the first attempt failed, the second succeeded
            tasks.append(_task(step, "FAILED", "pod evicted"))
        if failed and step == "evaluate":
            tasks.append(_task(step, "FAILED", "OOMKilled: evaluate used more than 4G"))
            break
        tasks.append(_task(step, "SUCCEEDED"))
    return {
        "experiment_id": "exp-1",
        "run_id": RUN_ID,
        "display_name": "kubetfx-training 2026-12-01",
        "storage_state": "AVAILABLE",
        "pipeline_version_reference": {"pipeline_id": "pipe-1", "pipeline_version_id": "ver-1"},
        "runtime_config": {"parameters": {"config": "{}"}, "pipeline_root": root},
        "service_account": "kubetfx-runner",
        "created_at": "2026-12-01T07:00:00Z",
        "state": "FAILED" if failed else "SUCCEEDED",
        "run_details": {"task_details": tasks},
    }


@pytest.fixture
def kfp_api():
    from tests.pipeline.fake_kfp import API, FakeKfp, serve

    class CapturedKfp(FakeKfp):
        def __init__(self, run: dict):
            super().__init__()
            self.captured = run

        def answer(self, method, path, query, body):
            if path == f"{API}/runs/{RUN_ID}":
                return 200, self.captured
            if path == f"{API}/pipelines/pipe-1/versions/ver-1":
                spec = {"pipelineInfo": {"name": "kubetfx-training"}, "root": {}}
                return 200, {"pipeline_id": "pipe-1", "pipeline_version_id": "ver-1"} | {
                    "display_name": "abc123-0f0f",
                    "pipeline_spec": spec,
                }
            return super().answer(method, path, query, body)

    servers = []

    def start(run: dict):
        import kfp

        fake = CapturedKfp(run)
        server, url = serve(fake)
        servers.append(server)
        return fake, kfp.Client(host=url)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_kubeflow_run_is_found_by_its_id(runs, tmp_path, kfp_api):
    root, _ = runs
    bucket = str(tmp_path / "bucket")  # what gs://bucket/root holds, read through fileio
    _cluster_copy(os.path.join(root, GOOD), os.path.join(bucket, "kubetfx-training", RUN_ID))
    fake, client = kfp_api(captured_run(bucket, failed=False))
    run = open_run(f"kubeflow:{RUN_ID}", kfp_client=client)
    assert [r["path"] for r in fake.requests if r["path"] != "/apis/v2beta1/healthz"] == [
        f"/apis/v2beta1/runs/{RUN_ID}",
        "/apis/v2beta1/pipelines/pipe-1/versions/ver-1",
    ]
    assert run.name == "kubetfx-training 2026-12-01" and run.state == "SUCCEEDED"
    assert run.location == os.path.join(bucket, "kubetfx-training", RUN_ID)
    assert {s.state for s in run.steps.values()} == {"SUCCEEDED"}  # the retry succeeded
    assert run.blessing().blessed
    assert run.statistics("train").datasets[0].num_examples > 0
    assert run.registry_entry()["run"] == GOOD
    # What `kubetfx runs compare kubeflow:ID ...` reads: the config parameter and outcomes.
    from kubetfx.runners.experiments import RunFacts

    facts = RunFacts.of(run)
    assert facts.config == {} and facts.blessing["blessed"] and facts.push["pushed"]
    assert facts.metrics == {"overall": {"accuracy": 0.97}}


def test_a_failed_kubeflow_run_names_the_step_and_the_error(runs, tmp_path, kfp_api):
    root, _ = runs
    bucket = str(tmp_path / "bucket")
    _cluster_copy(os.path.join(root, GOOD), os.path.join(bucket, "kubetfx-training", RUN_ID))
    _, client = kfp_api(captured_run(bucket, failed=True))
    run = open_run(f"kubeflow:{RUN_ID}", kfp_client=client)
    assert run.state == "FAILED" and run.steps["push"].state == "NOT RUN"
    assert run.model.path.endswith(f"{RUN_ID}/train/model")
    with pytest.raises(StepUnavailable, match="'evaluate' is FAILED: OOMKilled"):
        run.blessing()
    with pytest.raises(StepUnavailable, match=r"'push' did not run \(step 'evaluate' failed"):
        run.pushed()


def test_a_kubeflow_run_without_a_pipeline_root_is_a_clear_error(kfp_api):
    run = captured_run("", failed=False)
    del run["runtime_config"]
    _, client = kfp_api(run)
    with pytest.raises(RunNotFound, match="names a pipeline root; open it by path"):
        open_run(f"kubeflow:{RUN_ID}", kfp_client=client)


# -- Vertex AI: aiplatform.PipelineJob.get with the Google client answering a captured job -----

JOB = "projects/123456/locations/europe-west4/pipelineJobs/kubetfx-training-20261201070000"


@pytest.fixture
def vertex_job(monkeypatch):
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
    from google.cloud.aiplatform_v1.types import Artifact, PipelineJob, PipelineTaskDetail

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    asked: list[str] = []

    def answer(run_dir: str, failed_step: str | None = None):
        state = PipelineTaskDetail.State
        job = PipelineJob(name=JOB, display_name="kubetfx-training")
        job.runtime_config.parameter_values["config"] = '{"data": {"name": "penguins"}}'
        job.state = (
            job.state.PIPELINE_STATE_FAILED if failed_step else job.state.PIPELINE_STATE_SUCCEEDED
        )
        tasks = [PipelineTaskDetail(task_name="kubetfx-training", state=state.RUNNING)]
        for step in (s for s in STEPS if s not in OPTIONAL_STEPS):  # a run without tune
            outputs = {}
            for output in sorted(os.listdir(os.path.join(run_dir, step))):
                if output != EXECUTOR_OUTPUT:
                    uri = os.path.join(run_dir, step, output)
                    outputs[output] = PipelineTaskDetail.ArtifactList(
                        artifacts=[Artifact(uri=uri, metadata={"tfx_type": output})]
                    )
            failed = step == failed_step
            tasks.append(
                PipelineTaskDetail(
                    task_name=step,
                    state=state.FAILED if failed else state.SUCCEEDED,
                    outputs=outputs,
                )
            )
            if failed:
                tasks[-1].error.message = "The replica workerpool0-0 exited with a non-zero status"
                break
        job.job_detail.task_details.extend(tasks)

        def get_pipeline_job(self, name, **kwargs):
            asked.append(name)
            return job

        monkeypatch.setattr(PipelineServiceClient, "get_pipeline_job", get_pipeline_job)
        return asked

    return answer


def test_a_vertex_job_is_found_by_its_name(runs, vertex_job):
    root, _ = runs
    asked = vertex_job(os.path.join(root, GOOD))
    run = open_run(JOB)
    assert asked == [JOB]
    assert run.name == "kubetfx-training-20261201070000" and run.state == "SUCCEEDED"
    assert run.config() == {"data": {"name": "penguins"}}  # what `runs compare` diffs
    assert run.steps["evaluate"].metadata["blessing"] == {"tfx_type": "blessing"}
    assert run.blessing().blessed and run.pushed().pushed
    assert run.statistics("eval").datasets[0].num_examples > 0


def test_a_failed_vertex_job_names_the_step_and_the_error(runs, vertex_job):
    root, _ = runs
    vertex_job(os.path.join(root, GOOD), failed_step="train")
    run = open_run(JOB)
    assert run.state == "FAILED" and run.steps["evaluate"].state == "NOT RUN"
    with pytest.raises(StepUnavailable, match="'train' is FAILED: The replica workerpool0-0"):
        _ = run.model
    assert run.schema().feature  # steps before the failure stay readable


def test_drift_between_two_statistics_is_flagged(runs, frames):
    """compare_statistics applies validate's comparators: a shifted category mix is drift."""
    import tensorflow_data_validation as tfdv

    root, _ = runs
    run = open_run(root, GOOD)
    train, good_eval, _ = frames
    same = compare_statistics(run.statistics("eval"), run.statistics("train"), run.schema())
    assert same and not any(d.flagged for d in same)
    shifted = tfdv.generate_statistics_from_dataframe(good_eval.assign(island="Dream"))
    drift = {
        d.feature: d for d in compare_statistics(shifted, run.statistics("train"), run.schema())
    }
    assert drift["island"].flagged and drift["island"].measure == "L-infinity"
    assert not drift["bill_length_mm"].flagged
