"""The KFP wrappers are plumbing only: short, calling their stage by keyword, and each one's
plumbing checked here in a second through the component's python_func (what kfp runs), with
the stage's work replaced by a recorder. The stages themselves run for real in tests/component
and the whole pipeline in tests/pipeline."""

from __future__ import annotations

import ast
import datetime
import inspect
import json
import textwrap
from pathlib import Path

import pytest
from kfp import dsl

import kubetfx.components
from kubetfx.components.batch_predict.component import batch_predict
from kubetfx.components.config_loader import load_config
from kubetfx.components.contracts import Blessing
from kubetfx.components.evaluate import core as evaluate_core
from kubetfx.components.monitor import core as monitor_core
from kubetfx.components.monitor.component import monitor, monitor_act
from kubetfx.components.push import core as push_core
from kubetfx.components.train import remote as train_remote
from kubetfx.components.train.core import TrainResult
from kubetfx.components.validate import core as validate_core
from kubetfx.errors import ConfigError
from kubetfx.pipelines import training
from kubetfx.runners.in_process import artifact_parameters, training_steps

WRAPPERS = (*training.STAGES, monitor, monitor_act, batch_predict)
CONFIG = load_config(None).to_json()


def _tree(fn) -> ast.FunctionDef:
    return ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]


@pytest.mark.parametrize("fn", WRAPPERS, ids=lambda fn: fn.__name__)
def test_every_wrapper_is_at_most_30_lines(fn):
    tree = _tree(fn)
    assert tree.end_lineno - tree.lineno + 1 <= 30, "move the logic into the stage's modules"


def _is_stage(module: str) -> bool:
    stage = Path(kubetfx.components.__file__).parent / module.split(".")[-1]
    return (stage / "component.py").exists()


@pytest.mark.parametrize("fn", WRAPPERS, ids=lambda fn: fn.__name__)
def test_wrappers_call_their_stage_by_keyword(fn):
    tree = _tree(fn)
    stage_modules = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module.startswith("kubetfx.components.")
        for alias in node.names
        if node.module.count(".") == 2 and _is_stage(node.module)  # <stage> import core
    }
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and getattr(node.func.value, "id", None) in stage_modules
    ]
    assert calls, "the wrapper calls its stage"
    assert [ast.unparse(c) for c in calls if c.args] == []


def _artifacts(fn, tmp_path) -> dict:
    """Fresh kfp artifacts for every artifact parameter of `fn`, as kfp would pass them."""
    return {
        name: kind(name=name, uri=str(tmp_path / name), metadata={})
        for name, (_, kind) in artifact_parameters(fn).items()
    }


class Recorder:
    def __init__(self, result):
        self.result, self.kwargs = result, None

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return self.result


def test_push_wrapper_passes_paths_and_records_the_outcome(monkeypatch, tmp_path):
    stage = Recorder(push_core.PushResult(True, 7, "/registry/7", "blessed", True, "kserve"))
    monkeypatch.setattr(push_core, "run_from_artifacts", stage)
    artifacts = _artifacts(training.push, tmp_path)
    dsl.component(training.push).python_func(config=CONFIG, run_name="run-1", **artifacts)
    assert stage.kwargs["run_name"] == "run-1"
    assert stage.kwargs["model_dir"] == artifacts["model"].path
    assert stage.kwargs["output_uri"] == artifacts["pushed_model"].path
    assert stage.kwargs["tuned_uri"] == artifacts["best_hyperparameters"].path  # for the card
    assert artifacts["pushed_model"].metadata == {
        "pushed": True,
        "version": 7,
        "registry_path": "/registry/7",
        "reason": "blessed",
        "champion": True,
        "destination": "local",
        "deployed": "kserve",
    }


def test_evaluate_wrapper_logs_metrics_plots_and_the_blessing(monkeypatch, tmp_path):
    result = evaluate_core.EvaluationResult(
        Blessing(True, ["all thresholds held"]),
        {"overall": {"accuracy": 0.9, "loss": 0.3}, "island=Dream": {"accuracy": 0.8}},
        {},
        baseline="/registry/6",
        confusion_matrix=[[5, 1], [0, 4]],
        classes=("no", "yes"),
        roc=[(0.0, 0.0, 1.0), (0.2, 1.0, 0.5), (1.0, 1.0, 0.0)],
    )
    stage = Recorder(result)
    monkeypatch.setattr(evaluate_core, "run_from_artifacts", stage)
    artifacts = _artifacts(training.evaluate, tmp_path)
    dsl.component(training.evaluate).python_func(config=CONFIG, **artifacts)
    assert stage.kwargs["graph_uri"] == artifacts["transform_graph"].path
    assert stage.kwargs["report_path"] == artifacts["report"].path
    assert artifacts["metrics"].metadata == {"accuracy": 0.9, "accuracy | island=Dream": 0.8}
    plots = artifacts["classification_metrics"].metadata
    assert plots["confusionMatrix"]["rows"] == [{"row": [5, 1]}, {"row": [0, 4]}]
    assert len(plots["confidenceMetrics"]) == 3
    assert artifacts["blessing"].metadata == {
        "blessed": True,
        "reasons": ["all thresholds held"],
        "baseline": "/registry/6",
    }


def test_train_wrapper_gives_local_paths_and_remote_uris(monkeypatch, tmp_path):
    stage = Recorder(TrainResult("MirroredStrategy", 2, 5, {"loss": 0.1234567}, True))
    monkeypatch.setattr(train_remote, "train_step", stage)
    artifacts = _artifacts(training.train, tmp_path)
    artifacts["best_hyperparameters"] = None  # no tune step in this run
    dsl.component(training.train).python_func(config=CONFIG, **artifacts)
    assert stage.kwargs["paths"]["model-run"] == artifacts["model_run"].path
    assert stage.kwargs["uris"]["transformed-examples"] == artifacts["transformed_examples"].uri
    assert artifacts["model"].metadata["replicas"] == 2
    assert artifacts["model"].metadata["loss"] == 0.123457


def test_validate_wrapper_passes_the_run_and_counts(monkeypatch, tmp_path):
    outcome = validate_core.ValidationResult([], [], {}, {"train": 10}, warnings=["w"])
    stage = Recorder(outcome)
    monkeypatch.setattr(validate_core, "run", stage)
    artifacts = _artifacts(training.validate, tmp_path)
    dsl.component(training.validate).python_func(config=CONFIG, run_name="run-2", **artifacts)
    assert stage.kwargs["run_name"] == "run-2"
    assert stage.kwargs["schema_path"].startswith(artifacts["schema"].path)
    assert stage.kwargs["splits"] == ["train", "eval"]
    assert artifacts["anomalies"].metadata == {
        "tfx_type": "ExampleAnomalies",
        "anomaly_count": 0,
        "flagged_distances": 0,
        "warnings": ["w"],
    }


def _monitor_result(uri: str) -> monitor_core.MonitorResult:
    return monitor_core.MonitorResult(
        model="penguins",
        champion_version=1,
        run="r",
        window={
            "start": "2026-11-02T00:00:00+00:00",
            "end": "2026-11-02T01:00:00+00:00",
            "rows": 9,
        },
        previous={},
        verdict="drift",
        flagged=["island (drift)"],
        shifts=[],
        anomalies=[],
        settings={},
        notes=[],
        uri=uri,
    )


def test_monitor_wrapper_records_the_verdict(monkeypatch, tmp_path):
    stage = Recorder(_monitor_result("/monitoring/w1"))
    monkeypatch.setattr(monitor_core, "run_from_artifacts", stage)
    artifacts = _artifacts(monitor, tmp_path)
    dsl.component(monitor).python_func(config=CONFIG, **artifacts)
    assert stage.kwargs["view_path"] == artifacts["view"].path
    assert artifacts["result"].metadata == {
        "verdict": "drift",
        "flagged": ["island (drift)"],
        "window_rows": 9,
        "result_uri": "/monitoring/w1",
    }


TRIGGERED: list = []


def record_trigger(cfg, platform: str, cause: str) -> str:
    """A monitor.retrain_trigger plug-in (module:function), as a user would write one."""
    TRIGGERED.append((cfg.pipeline_name, platform, cause))
    return "ci-job-42"


def _act(tmp_path, trigger: str) -> dict:
    cfg = load_config(
        None,
        {
            "monitor.output_dir": str(tmp_path / "monitoring"),
            "monitor.retrain": True,
            "monitor.debounce": 1,
            "monitor.retrain_trigger": trigger,
        },
    )
    artifacts = _artifacts(monitor_act, tmp_path)
    result = _monitor_result(str(tmp_path / "monitoring" / "w1"))
    (tmp_path / "result").mkdir()
    (tmp_path / "result" / monitor_core.RESULT_FILE).write_text(result.to_json())
    dsl.component(monitor_act).python_func(config=cfg.to_json(), platform="local", **artifacts)
    return artifacts


def test_monitor_act_retrains_through_the_configured_trigger(tmp_path):
    TRIGGERED.clear()
    artifacts = _act(tmp_path, f"{__name__}:record_trigger")
    assert [(platform, cause) for _, platform, cause in TRIGGERED] == [
        ("local", str(tmp_path / "monitoring" / "w1"))
    ]
    assert artifacts["decision"].metadata["retrain"] is True
    decision = json.loads((tmp_path / "decision" / "decision.json").read_text())
    assert decision["state"]["last_retrain_run"] == "ci-job-42"
    assert datetime.datetime.fromisoformat(decision["state"]["last_retrain_at"])


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("no_such_module:fn", "cannot import 'no_such_module'"),
        (f"{__name__}:missing", "has no function missing()"),
    ],
)
def test_a_bad_retrain_trigger_names_the_field(tmp_path, trigger, message):
    with pytest.raises(ConfigError, match="monitor.retrain_trigger") as error:
        _act(tmp_path, trigger)
    assert message in str(error.value)


def test_a_malformed_retrain_trigger_is_a_config_error():
    with pytest.raises(ConfigError, match="retrain_trigger"):
        load_config(None, {"monitor.retrain_trigger": "not a function path"})


def test_in_process_steps_follow_the_compiled_pipeline(tmp_path):
    """Every step gets its function's parameters: config, the run name, each input from the
    step that makes it (an earlier one) and its own outputs."""
    cfg = load_config(None)
    steps = training_steps(cfg, str(tmp_path / "run-x"))
    assert steps.order[:2] == ["baseline", "ingest"] and steps.order[-1] == "push"
    # The baselines come through importers: the URIs the baseline step returned.
    steps.returned = {("baseline", "champion"): "/r/m/7", ("baseline", "reference_schema"): "/n"}
    assert steps._arguments("evaluate")[0]["champion"].uri == "/r/m/7"
    assert steps._arguments("schema")[0]["reference_schema"].uri == "/n"
    for position, name in enumerate(steps.order):
        kwargs, outputs = steps._arguments(name)
        parameters = inspect.signature(steps.functions[name]).parameters
        required = {k for k, p in parameters.items() if p.default is inspect.Parameter.empty}
        # A defaulted input the local pipeline does not wire (ingest's data_fingerprint,
        # a cluster-only step's) keeps its default.
        assert required <= set(kwargs) <= set(parameters)
        for key, value in kwargs.items():
            if key in outputs:
                assert value.uri == str(tmp_path / "run-x" / name / key)
            elif hasattr(value, "uri") and key not in ("champion", "reference_schema"):
                producer = value.uri.split("/")[-2]
                assert producer in steps.order[:position]
    assert steps._arguments("push")[0]["run_name"] == "run-x"
    assert steps._arguments("ingest")[0]["config"] == cfg.to_json()


# Beam steps on a remote runner get bucket URIs (Dataflow's workers cannot read a pod's copy
# or Vertex's /gcs mount); on the DirectRunner, the local paths.
DATAFLOW = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/t"]


def _bucket_artifacts(fn) -> dict:
    """Artifacts as Vertex passes them: .uri in the bucket, .path its /gcs mount."""
    return {
        name: kind(name=name, uri=f"gs://bucket/run/{name}", metadata={})
        for name, (_, kind) in artifact_parameters(fn).items()
    }


@pytest.mark.parametrize("remote", [True, False], ids=["dataflow", "direct"])
@pytest.mark.parametrize(
    ("stage", "fn", "module", "function", "beam_inputs"),
    [
        ("statistics", training.statistics, "statistics", "run", {"examples_uri": "examples",
         "output_uri": "statistics"}),
        ("transform", training.transform, "transform", "run_from_artifacts", {
         "examples_uri": "examples", "graph_uri": "transform_graph",
         "transformed_uri": "transformed_examples"}),
        ("evaluate", training.evaluate, "evaluate", "run_from_artifacts", {
         "examples_uri": "examples", "model_dir": "model", "graph_uri": "transform_graph",
         "output_uri": "evaluation", "champion_dir": "champion"}),
    ],
)  # fmt: skip
def test_beam_steps_hand_a_remote_runner_bucket_uris(
    monkeypatch, tmp_path, remote, stage, fn, module, function, beam_inputs
):
    import importlib

    from kubetfx.components import fileio

    core = importlib.import_module(f"kubetfx.components.{module}.core")
    stage_call = Recorder(None)
    if stage == "evaluate":
        stage_call.result = evaluate_core.EvaluationResult(Blessing(True, []), {}, {})
        monkeypatch.setattr(evaluate_core, "log_to", lambda **kwargs: None)
    if stage == "transform":
        stage_call.result = type("Task", (), {"kind": "classification", "classes": ()})()
    monkeypatch.setattr(core, function, stage_call)
    monkeypatch.setattr(core, "render_html", lambda **kwargs: "", raising=False)
    monkeypatch.setattr(fileio, "tree_size", lambda path: 1 << 30)
    monkeypatch.setattr(fileio, "exists", lambda path: not path.endswith("NO_BASELINE"))
    monkeypatch.setattr(fileio, "write_text", lambda path, text: None)
    beam = {"beam": {"pipeline_args": DATAFLOW if remote else ["--runner=DirectRunner"]}}
    config = load_config(None).model_copy(
        update={"beam": load_config(None).beam.model_copy(update=beam["beam"])}
    )
    artifacts = _bucket_artifacts(fn)
    dsl.component(fn).python_func(config=config.to_json(), **artifacts)
    for argument, artifact in beam_inputs.items():
        expected = artifacts[artifact].uri if remote else artifacts[artifact].path
        assert stage_call.kwargs[argument] == expected, argument
        assert expected.startswith("gs://bucket/" if remote else "/gcs/bucket/")
    if "schema_uri" in stage_call.kwargs:  # read by the step itself, not by Beam
        assert stage_call.kwargs["schema_uri"] == artifacts["schema"].path


@pytest.mark.parametrize("remote", [True, False], ids=["dataflow", "direct"])
def test_batch_predict_writes_where_its_runner_can(monkeypatch, remote):
    from kubetfx.components import fileio
    from kubetfx.components.batch_predict import core

    stage = Recorder(
        core.BatchResult("m", 1, "gs://b/m/1", "in", [], "csv", "out", "jsonl", 0, 0, 1.0)
    )
    monkeypatch.setattr(core, "run", stage)
    copied = []
    monkeypatch.setattr(fileio, "copy", lambda src, dst: copied.append((src, dst)))
    runner = DATAFLOW if remote else ["--runner=DirectRunner"]
    cfg = load_config(None)
    cfg = cfg.model_copy(
        update={
            "beam": cfg.beam.model_copy(update={"pipeline_args": runner}),
            "batch_predict": cfg.batch_predict.model_copy(update={"input": "gs://b/in/*.csv"}),
        }
    )
    artifacts = _bucket_artifacts(batch_predict)
    dsl.component(batch_predict).python_func(config=cfg.to_json(), **artifacts)
    predictions = artifacts["predictions"]
    assert stage.kwargs["output_uri"] == (predictions.uri if remote else predictions.path)
    assert copied == []  # the summary is already in the artifact: no copy onto itself
