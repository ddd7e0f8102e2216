"""The monitoring pipeline: compiled for Kubeflow and Vertex, scheduled, and run end to end
locally by `kubetfx monitor` (kfp.local) on a small log directory."""

from __future__ import annotations

import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubetfx.cli import main
from kubetfx.components.config import PipelineConfig
from kubetfx.pipelines import monitoring
from kubetfx.runners import monitor as monitor_runner
from tests.component.test_monitor import champion_setup, write_hour

ROOT = "gs://bucket/root"


def _compile(tmp_path, target: str) -> tuple[dict, dict]:
    from kfp import compiler

    cfg = PipelineConfig.model_validate(
        {
            "pipeline_root": ROOT,
            "cluster": {"steps": {"monitor": {"cpu": "2", "memory": "8G"}}},
            "serving": {"request_log": {"dir": "gs://bucket/serving_logs"}},
            "monitor": {"window": "30m", "retrain": True, "output_dir": "gs://bucket/monitoring"},
        }
    )
    out = tmp_path / f"{target}.yaml"
    compiler.Compiler().compile(monitoring.build(cfg, target), package_path=str(out))
    docs = list(yaml.safe_load_all(out.read_text()))
    return docs[0], (docs[1]["platforms"]["kubernetes"] if len(docs) > 1 else {})


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_monitoring_compiles_for_the_cluster_targets(tmp_path, target):
    spec, _ = _compile(tmp_path, target)
    proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # strict
    assert proto.pipeline_info.name == "kubetfx-monitoring"
    tasks = proto.root.dag.tasks
    assert set(tasks) == {"monitor", "monitor-act"}
    assert list(tasks["monitor-act"].dependent_tasks) == ["monitor"]
    # Never cached: the same config watches a different window each time.
    assert not tasks["monitor"].caching_options.enable_cache
    assert not tasks["monitor-act"].caching_options.enable_cache
    act = tasks["monitor-act"].inputs.parameters["platform"].runtime_value.constant
    assert act.string_value == target  # how a drift starts training on this platform
    config = json.loads(spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"])
    assert config["monitor"]["window"] == "30m"
    assert config["monitor"]["training_pipeline"] == "kubetfx-training"
    assert spec["defaultPipelineRoot"] == ROOT
    label = spec["components"]["comp-monitor"]["executorLabel"]
    resources = spec["deploymentSpec"]["executors"][label]["container"]["resources"]
    assert resources["cpuLimit"] == 2 and resources["memoryLimit"] == 8
    assert ("cpuRequest" in resources) == (target == "kubeflow")


def test_vertex_ai_accepts_the_monitoring_pipeline_as_a_job(tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    _compile(tmp_path, "vertex")
    job = aiplatform.PipelineJob(
        display_name="kubetfx-monitoring",
        template_path=str(tmp_path / "vertex.yaml"),
        pipeline_root=ROOT,
        project="example-project",
        location="us-central1",
        credentials=AnonymousCredentials(),
    )
    request = job._gca_resource  # the request Vertex would receive; nothing is sent
    assert request.pipeline_spec["pipelineInfo"]["name"] == "kubetfx-monitoring"
    assert set(request.pipeline_spec["root"]["dag"]["tasks"]) == {"monitor", "monitor-act"}
    assert request.runtime_config.gcs_output_directory == ROOT


def test_schedule_monitoring_every_15_minutes_dry_run(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "serving": {"request_log": {"dir": "gs://bucket/serving_logs"}},
                "monitor": {"window": "15m", "output_dir": "gs://bucket/monitoring"},
            }
        )
    )
    argv = [
        "schedule", "--platform", "kubeflow", "--host", "https://kfp.example.com",
        "--pipeline", "monitoring", "--cron", "*/15 * * * *", "--pipeline-root", ROOT,
        "--config", str(config), "--dry-run",
    ]  # fmt: skip
    assert main(argv) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["pipeline"]["name"] == "kubetfx-monitoring"
    assert request["schedule"]["display_name"] == "kubetfx-monitoring-schedule"
    config = json.loads(request["run"]["parameters"]["config"])
    assert config["monitor"]["training_pipeline"] == "kubetfx-training"


def test_kubetfx_monitor_runs_locally_end_to_end(tmp_path, capsys):
    cfg, version = champion_setup(tmp_path, train_rows=2000, min_window_rows=100)
    write_hour(cfg, 0, 300, seed=1, version=version)
    frame = write_hour(cfg, 1, 300, seed=2, drifts=["category_mix:plan"], version=version)
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "request_id,churned\n" + "".join(f"h1-{i},{v}\n" for i, v in enumerate(frame["churned"]))
    )
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(json.loads(cfg.to_json())))
    argv = [
        "monitor", "--config", str(config), "--start", "2026-11-02T01:00:00Z",
        "--end", "2026-11-02T02:00:00Z", "--labels", str(labels),
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "verdict: drift (300 rows in the window, 300 before)" in out
    assert "plan (drift)" in out and "plan (skew)" in out
    assert "live quality: accuracy " in out and "on 300 labelled predictions (0.740 at" in out
    assert "drifting window 1 of 2 (debounce)" in out
    window_dir = tmp_path / "monitoring" / "20261102T020000Z-3600s"
    report = (window_dir / "report.md").read_text()
    assert "Live quality" in report and "300 of 300 predictions have a label" in report
    assert (window_dir / "report.html").read_text().startswith("<!doctype html>")
    state = json.loads((tmp_path / "monitoring" / "state.json").read_text())
    assert state["consecutive"] == 1 and state["last_retrain_at"] is None
    # The KFP artifacts: the Markdown and HTML the Kubeflow UI shows.
    runs = [
        p for p in (tmp_path / "pipeline_root").iterdir() if p.name.startswith("kubetfx-monitoring")
    ]
    (run,) = runs
    assert (run / "monitor" / "report").read_text() == report
    assert "<svg" in (run / "monitor" / "view").read_text()


def test_a_bad_window_is_a_config_error(capsys):
    assert main(["monitor", "--window", "1h", "--start", "2026-11-02"]) == 2
    assert "--window and --start" in capsys.readouterr().err
    assert main(["monitor", "--window", "an hour"]) == 2
    assert "monitor.window" in capsys.readouterr().err


def test_bad_flags_exit_2_with_one_line_before_any_step(tmp_path, capsys, monkeypatch):
    """Refused by the CLI, not inside a failed step's run.log: no run directory appears."""
    monkeypatch.chdir(tmp_path)
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,outcome\nr1,Adelie\n")  # no species (or label) column
    (tmp_path / "labels.txt").write_text("r1 Adelie\n")
    cases = [
        (["--start", "2026-11-03", "--end", "2026-11-02"], "--start: must be before --end"),
        (["--labels", str(labels)], "has no column 'species'"),
        (["--labels", str(tmp_path / "labels.txt")], "must end in .csv"),
        (["--labels", str(tmp_path / "none.csv")], "--labels: no file at"),
    ]
    for flags, message in cases:
        assert main(["monitor", *flags]) == 2, flags
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "pipeline_root").exists()


def test_a_drift_on_kubeflow_submits_the_training_pipeline_with_its_cause(monkeypatch):
    """The act step's trigger goes through the existing submit path (to a fake KFP API on
    loopback): the training pipeline, labelled with the monitoring result that caused it."""
    from tests.pipeline.fake_kfp import FakeKfp, serve

    for name in ("KFP_TOKEN", "KFP_TOKEN_FILE", "KF_PIPELINES_SA_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeKfp()
    server, url = serve(fake)
    try:
        cfg = PipelineConfig.model_validate(
            {"pipeline_root": ROOT, "kubeflow": {"host": url}, "monitor": {"output_dir": ROOT}}
        )
        cause = f"{ROOT}/monitoring/20261102T020000Z-3600s"
        run = monitor_runner.trigger_training(monitoring.for_monitoring(cfg), "kubeflow", cause)
    finally:
        server.shutdown()
        server.server_close()
    assert run == "kubetfx-training on kubeflow"
    (upload,) = fake.named("POST", "/pipelines/upload")
    assert upload["query"]["name"] == ["kubetfx-training"]
    (submitted,) = fake.named("POST", "/runs")
    sent = PipelineConfig.from_json(submitted["body"]["runtime_config"]["parameters"]["config"])
    assert sent.pipeline_name == "kubetfx-training"
    assert sent.monitor.triggered_by == cause


def test_a_cluster_needs_bucket_paths_for_logs_and_state():
    from kubetfx.errors import ConfigError

    cfg = PipelineConfig.model_validate({"pipeline_root": ROOT})
    with pytest.raises(ConfigError, match="monitor.output_dir"):
        monitoring.build(cfg, "kubeflow")
