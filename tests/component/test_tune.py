"""The tune step on real penguins data: a KerasTuner search whose best values train takes, the
report, and the errors a user meets; the step in the compiled pipelines."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import yaml

from kubetfx.components.config import PipelineConfig, TrainConfig, TuneConfig
from kubetfx.components.contracts import read_tuned
from kubetfx.components.train import remote, tuning
from kubetfx.errors import ConfigError

SEARCH = {
    "enabled": True,
    "max_trials": 3,
    "epochs": 15,
    "search_space": {
        "learning_rate": {"type": "float", "min": 0.003, "max": 0.1, "sampling": "log"},
        "units": {"type": "int", "min": 8, "max": 32, "step": 8},
        "layers": {"type": "choice", "values": [1, 2]},
    },
}


def _accuracy(model_dir: str, examples: list[bytes], labels: list[str]) -> float:
    import tensorflow as tf

    fn = tf.saved_model.load(model_dir).signatures["serving_tf_example"]
    out = fn(examples=tf.constant(examples))
    classes = np.array(out["classes"]).astype(str).ravel()
    return float(np.mean(classes == np.array(labels)))


def _eval_split(examples_uri: str) -> tuple[list[bytes], list[str]]:
    import glob

    import tensorflow as tf

    files = sorted(glob.glob(f"{examples_uri}/Split-eval/*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    labels = []
    for record in records:
        example = tf.train.Example.FromString(record)
        labels.append(example.features.feature["species"].bytes_list.value[0].decode())
    return records, labels


@pytest.fixture(scope="module")
def searched(penguins, tmp_path_factory):
    cfg, paths = penguins
    cfg = cfg.model_copy(update={"tune": TuneConfig.model_validate(SEARCH)})
    out = tmp_path_factory.mktemp("tune")
    result = remote.tune_step(
        cfg=cfg,
        transformed_uri=paths["transformed"],
        graph_uri=paths["graph"],
        output_uri=str(out / "best"),
        report_path=str(out / "report.html"),
    )
    return cfg, paths, out, result


def test_the_search_runs_every_trial_and_its_best_is_no_worse_than_untuned(searched):
    _, _, out, result = searched
    assert [t.trial_id for t in result.trials][0] == tuning.UNTUNED
    assert len(result.trials) == 1 + SEARCH["max_trials"]
    assert all(t.objective is not None and 1 <= t.epochs <= 15 for t in result.trials)
    assert result.best.objective == min(t.objective for t in result.trials)  # val_loss: lower
    assert result.best.objective <= result.untuned.objective
    for trial in result.trials[1:]:  # every value inside the search space
        assert 0.003 <= trial.values["learning_rate"] <= 0.1
        assert trial.values["units"] in (8, 16, 24, 32) and trial.values["layers"] in (1, 2)
    written = tuning.read(str(out / "best"))
    assert written == result and result.metadata()["trials"] == 4
    assert read_tuned(str(out / "best")) == result.best.values  # what push puts on the card
    page = (out / "report.html").read_text()
    assert 'id="tuning-objective"' in page and "<script" not in page
    assert page.count("<rect") == len(result.trials) and "trial untuned" in page


def test_train_takes_the_best_values_and_predicts_at_least_as_well(searched):
    """The measured claim: the tuned model's eval accuracy is at least the untuned one's."""
    from tests.modeling import train

    cfg, paths, out, result = searched
    best = types.SimpleNamespace(path=str(out / "best"))
    tuned = remote.tuned(cfg=cfg, best_hyperparameters=best)
    values = result.best.values
    assert tuned.train.learning_rate == pytest.approx(values["learning_rate"])
    assert tuned.train.hidden_units[0] == values["units"]
    assert len(tuned.train.hidden_units) == values["layers"]
    assert tuned.train.hyperparameters == values
    assert (
        remote.tuned(cfg=cfg, best_hyperparameters=None) is cfg
    )  # no tune step: train as configured
    model_dir = train(tuned, paths, "tuned-model")
    examples, labels = _eval_split(paths["examples"])
    after, before = (_accuracy(d, examples, labels) for d in (model_dir, paths["model"]))
    print(f"eval accuracy: tuned {after:.4f}, untuned {before:.4f}; best {values}")
    assert after >= before


def test_apply_turns_units_and_layers_into_a_funnel_and_keeps_custom_values():
    cfg = TrainConfig()
    tuned = tuning.apply(cfg, {"units": 48, "layers": 3, "batch_size": 64.0, "my_gamma": 0.5})
    assert tuned.hidden_units == [48, 24, 12] and tuned.batch_size == 64
    assert tuned.hyperparameters["my_gamma"] == 0.5  # what a user's build_model reads
    assert tuning.untuned_values(cfg, TuneConfig()) == {
        "learning_rate": 0.01, "units": 32, "layers": 2, "dropout": 0.0,
    }  # fmt: skip


@pytest.mark.parametrize(
    "space, message",
    [
        ({"gamma": {"type": "float", "min": 0, "max": 1}}, "not hyperparameters of the built-in"),
    ],
)
def test_a_hyperparameter_the_model_cannot_take_is_refused(space, message):
    tune = TuneConfig.model_validate({"search_space": space})
    with pytest.raises(ConfigError, match=message):
        tuning.check_space(tune, TrainConfig())
    tuning.check_space(tune, TrainConfig(module_file="my_model.py"))  # a user model may


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"type": "float", "min": 0.0, "max": 1.0, "sampling": "log"}, "'log' needs min > 0"),
        ({"type": "choice"}, "needs values"),
        ({"type": "int", "min": 5, "max": 5}, "needs min < max"),
    ],
)
def test_bad_search_space_entries_name_the_fix(spec, message):
    with pytest.raises(ValueError, match=message):
        PipelineConfig.model_validate({"tune": {"search_space": {"units": spec}}})


def test_an_objective_the_history_lacks_names_the_choices(penguins):
    cfg, paths = penguins
    cfg = cfg.model_copy(update={"tune": TuneConfig(enabled=True, objective="val_accuracy")})
    run_trial = tuning.trial_runner(
        cfg=cfg, transformed_uri=paths["transformed"], graph_uri=paths["graph"]
    )
    with pytest.raises(ConfigError, match="tune.objective: 'val_accuracy' is not in the train"):
        run_trial({"learning_rate": 0.01}, 1)


@pytest.mark.parametrize("target", ["local", "kubeflow", "vertex"])
def test_the_tune_step_feeds_train_only_when_enabled(tmp_path, target):
    from kubetfx.pipelines import catalog

    def train_inputs(enabled: bool) -> dict:
        cfg = PipelineConfig.model_validate(
            {"tune": {"enabled": enabled}, "pipeline_root": "gs://b/root"}
        )
        out = tmp_path / f"{enabled}.yaml"
        catalog.compile_pipeline(cfg, target, str(out))
        spec = yaml.safe_load(out.read_text())
        dags = [spec["root"], *spec["components"].values()]
        tasks = {n: t for d in dags for n, t in d.get("dag", {}).get("tasks", {}).items()}
        return tasks, tasks["train"]["inputs"].get("artifacts", {})

    tasks, inputs = train_inputs(True)
    from_tune = {"outputArtifactKey": "best_hyperparameters", "producerTask": "tune"}
    assert inputs["best_hyperparameters"]["taskOutputArtifact"] == from_tune
    pushed = tasks["push"]["inputs"]["artifacts"]["best_hyperparameters"]  # for the card
    assert pushed["taskOutputArtifact"] == from_tune
    assert set(tasks["tune"]["inputs"]["artifacts"]) == {"transformed_examples", "transform_graph"}
    tasks, inputs = train_inputs(False)
    assert "tune" not in tasks and "best_hyperparameters" not in inputs
    assert "best_hyperparameters" not in tasks["push"]["inputs"]["artifacts"]


def test_the_result_round_trips_as_json():
    trial = tuning.Trial("1", {"units": 8}, 0.5, 3, 1.0)
    result = tuning.SearchResult("val_loss", False, "random", "local", trial, [trial])
    assert tuning.SearchResult.from_json(result.to_json()) == result
    assert json.loads(result.to_json())["best"]["values"] == {"units": 8}


def test_a_vertex_trial_takes_its_values_as_arguments_and_reports_the_metric(
    penguins, tmp_path, monkeypatch
):
    """What each Vertex AI trial replica runs, for real on penguins: the values come as
    --NAME=VALUE, the result goes where Vertex's tuning service reads it."""
    cfg, paths = penguins
    cfg = cfg.model_copy(update={"tune": TuneConfig.model_validate({**SEARCH, "epochs": 3})})
    metrics = tmp_path / "hypertune" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(metrics))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "7")
    argv = [
        "--config-json", cfg.to_json(), "--transformed-examples", paths["transformed"],
        "--transform-graph", paths["graph"],
    ]  # fmt: skip
    assert tuning.main([*argv, "--learning_rate=0.02", "--units=16", "--layers=1"]) == 0
    line = json.loads(metrics.read_text().splitlines()[-1])
    assert line["trial"] == "7" and float(line["val_loss"]) > 0
    assert 1 <= int(line["global_step"]) <= 3
    with pytest.raises(SystemExit):
        tuning.main([*argv, "--momentum=0.9"])  # not in tune.search_space


def _vertex_cfg(**tune) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "pipeline_root": "gs://b/root",
            "vertex": {"project": "p", "region": "europe-west4", "service_account": "sa@p.iam"},
            "images": {"components": "registry.example/kubetfx-components@sha256:abc"},
            "tune": {**SEARCH, "backend": "vertex", "parallel_trials": 2, **tune},
        }
    )


def test_vertex_tuning_is_one_hyperparameter_tuning_job_and_its_best_trial_wins(monkeypatch):
    """The request the real aiplatform SDK builds (anonymous credentials, nothing sent), and
    the job's trials read back as they come from the API."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform
    from google.cloud.aiplatform_v1.types import Measurement, Trial

    from kubetfx.components.train import tuning_vertex

    cfg = _vertex_cfg()
    data = ("gs://b/run/transform/transformed_examples", "gs://b/run/transform/transform_graph")
    name, job = tuning_vertex.build_job(cfg, *data, AnonymousCredentials())
    body = job._gca_resource  # the HyperparameterTuningJob request
    assert name.startswith("kubetfx-tune-") and body.display_name == name
    assert (body.max_trial_count, body.parallel_trial_count) == (3, 2)
    (metric,) = body.study_spec.metrics
    assert (metric.metric_id, metric.goal.name) == ("val_loss", "MINIMIZE")
    params = {p.parameter_id: p for p in body.study_spec.parameters}
    rate = params["learning_rate"]
    assert (rate.double_value_spec.min_value, rate.double_value_spec.max_value) == (0.003, 0.1)
    assert rate.scale_type.name == "UNIT_LOG_SCALE"
    assert list(params["units"].discrete_value_spec.values) == [8, 16, 24, 32]
    assert list(params["layers"].discrete_value_spec.values) == [1, 2]
    (pool,) = body.trial_job_spec.worker_pool_specs  # one replica per trial
    assert list(pool.container_spec.command) == ["python", "-m", "kubetfx.components.train.tuning"]
    args = list(pool.container_spec.args)
    assert args[args.index("--transformed-examples") + 1] == data[0]
    assert PipelineConfig.from_json(args[args.index("--config-json") + 1]) == cfg

    sent = {}

    def run(self, **kwargs):  # the API call, captured; the job answers with its trials
        sent.update(kwargs)
        self._gca_resource.name = "projects/p/locations/europe-west4/hyperparameterTuningJobs/1"
        for trial_id, (rate, loss) in enumerate([(0.01, 0.2), (0.05, 0.05), (0.09, None)], 1):
            trial = Trial(id=str(trial_id), state=Trial.State.SUCCEEDED)
            trial.parameters.append(Trial.Parameter(parameter_id="learning_rate", value=rate))
            trial.parameters.append(Trial.Parameter(parameter_id="units", value=16.0))
            if loss is not None:
                trial.final_measurement.step_count = 12
                trial.final_measurement.metrics.append(
                    Measurement.Metric(metric_id="val_loss", value=loss)
                )
            else:
                trial.state = Trial.State.INFEASIBLE
            self._gca_resource.trials.append(trial)

    monkeypatch.setattr(aiplatform.HyperparameterTuningJob, "run", run)
    result = tuning_vertex.vertex_search(
        cfg=cfg, transformed_uri=data[0], graph_uri=data[1], credentials=AnonymousCredentials()
    )
    assert sent == {
        "service_account": "sa@p.iam",
        "timeout": cfg.train.timeout_seconds,
        "sync": True,
    }
    assert result.backend == "vertex" and len(result.trials) == 3
    assert result.best.trial_id == "2" and result.best.values == {
        "learning_rate": 0.05,
        "units": 16,
    }
    assert result.best.objective == pytest.approx(0.05) and result.best.epochs == 12
    assert result.trials[2].objective is None and result.trials[2].error == "INFEASIBLE"
    with pytest.raises(ConfigError, match="no 'hyperband'"):
        tuning_vertex.build_job(_vertex_cfg(algorithm="hyperband"), *data, AnonymousCredentials())


def test_a_distributed_search_runs_trials_on_workers_and_the_chief_collects_them(
    penguins, tmp_path
):
    """KerasTuner's distributed mode for real, as tune.backend gke's pods run it: a chief
    oracle and two workers as processes on loopback, told their role by their index."""
    import os
    import socket
    import subprocess
    import sys

    cfg, paths = penguins
    search = {**SEARCH, "backend": "gke", "algorithm": "random", "epochs": 5}
    cfg = cfg.model_copy(update={"tune": TuneConfig.model_validate(search)})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "result"
    env = {**os.environ, "KUBETFX_ORACLE": f"127.0.0.1:{port}", "KUBETFX_ORACLE_BIND": "127.0.0.1"}
    argv = [
        sys.executable, "-m", "kubetfx.components.train.tuning", "--config-json", cfg.to_json(),
        "--transformed-examples", paths["transformed"], "--transform-graph", paths["graph"],
        "--distributed", str(out),
    ]  # fmt: skip
    pods = [
        subprocess.Popen(
            argv,
            env={**env, "KUBETFX_WORKER_INDEX": str(index)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(3)
    ]
    try:
        logs = [pod.communicate(timeout=600)[0] for pod in pods]
    finally:
        for pod in pods:
            pod.kill()
    assert [pod.returncode for pod in pods] == [0, 0, 0], "\n".join(logs)[-4000:]
    result = tuning.read(str(out))
    assert result.trials[0].trial_id == tuning.UNTUNED  # measured by the chief
    assert len(result.trials) == 1 + SEARCH["max_trials"]
    assert all(t.objective is not None and 1 <= t.epochs <= 5 for t in result.trials)
    assert result.best.objective == min(t.objective for t in result.trials)
    ran = [log.count("tune: trial ") for log in logs]
    assert ran[0] == 0 and sum(ran[1:]) == SEARCH["max_trials"]  # the workers ran them all


def test_gke_tuning_launches_one_indexed_job_whose_pod_0_is_the_oracle(monkeypatch):
    """The pods tune.backend gke starts (schema-valid, pod 0's DNS name as the oracle, no
    TF_CONFIG), the launcher loop against the fake Kubernetes API, and the result read back
    from where the chief wrote it (ram://, read through tf.io.gfile as gs:// would be)."""
    import uuid

    import kubernetes_validate

    from kubetfx.components.train import gke_manifests
    from tests.component.fake_kube import FakeKube
    from tests.component.test_cluster_training import _success_ticks
    from tests.infra.test_manifests import KUBERNETES_VERSION

    root = f"ram://kubetfx-{uuid.uuid4().hex}/root"
    cfg = PipelineConfig.model_validate(
        {
            "pipeline_root": root,
            "images": {"components": "registry.example/kubetfx-components@sha256:abc"},
            "train": {"gke": {"poll_seconds": 0.01}},
            "tune": {**SEARCH, "backend": "gke", "parallel_trials": 2},
        }
    )
    name = "kubetfx-tune-ok"
    kube = FakeKube(_success_ticks(name, workers=3))
    trial = tuning.Trial(tuning.UNTUNED, {"units": 32}, 0.1, 9, 2.0)
    chief = tuning.SearchResult("val_loss", False, "bayesian", "gke", trial, [trial])
    created = {}

    def the_chief_writes_its_result(namespace, body):
        created["job"] = body
        tuning.write(chief, f"{root}/tuning/{name}")  # what pod 0 does at the end
        return FakeKube.create_job(kube, namespace, body)

    kube.create_job = the_chief_writes_its_result
    data = ("gs://b/run/transformed", "gs://b/run/graph")
    result = remote.gke_tune(
        cfg=cfg, transformed_uri=data[0], graph_uri=data[1], kube=kube, name=name
    )
    assert result == chief and kube.objects == {}  # read back; Job and Service deleted
    job = created["job"]
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3  # the chief + 2
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "kubetfx.components.train.tuning"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBETFX_ORACLE"] == f"{name}-0.{name}.kubeflow.svc:2222" and "TF_CONFIG" not in env
    args = container["args"]
    assert args[args.index("--distributed") + 1] == f"{root}/tuning/{name}"
    assert args[args.index("--transformed-examples") + 1] == data[0]
    assert gke_manifests.INDEX_ENV in env  # each pod's role comes from its completion index
    local = cfg.model_copy(update={"pipeline_root": "/tmp/root"})
    with pytest.raises(ConfigError, match="pipeline_root: tuning pods write"):
        remote.gke_tune(cfg=local, transformed_uri=data[0], graph_uri=data[1], kube=kube)
