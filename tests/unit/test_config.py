from __future__ import annotations

import pytest

from kubetfx.components.config import BUILTIN_PENGUINS, PipelineConfig, dataset_name_from_path
from kubetfx.components.config_loader import load_config, localize
from kubetfx.errors import ConfigError


def test_defaults_run_penguins():
    cfg = load_config()
    assert cfg.data.path == BUILTIN_PENGUINS
    assert cfg.data.label == "species"
    assert cfg.data.name == "penguins"
    assert cfg.ingest.splits == {"train": 2, "eval": 1}
    assert cfg.validate_.drift_threshold == 0.3


def test_json_round_trip_keeps_every_field():
    cfg = load_config(overrides={"data.path": "x.csv", "data.label": "y", "ingest.num_shards": 3})
    assert PipelineConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("data/churn.csv", "churn"),
        ("gs://bucket/sales/span-{SPAN}/*.csv", "sales"),
        ("/tmp/My Data.v2.parquet", "my-data"),
        (BUILTIN_PENGUINS, "penguins"),
    ],
)
def test_dataset_name_from_path(path, name):
    assert dataset_name_from_path(path) == name


def test_own_data_needs_a_label():
    with pytest.raises(ConfigError, match=r"data.label is required.*--label"):
        load_config(overrides={"data.path": "my.csv"})


def test_yaml_errors_name_field_value_and_expectation(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "data:\n  lable: y\ningest:\n  num_shards: 0\n  splits: {train: 2}\n"
        "validate:\n  drift_thresholds: {income: 2.0}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    message = str(err.value)
    assert "data.lable: unknown field (got 'y')" in message
    assert "ingest.num_shards: must be 'auto' or a number of files from 1 to 256 (got 0)" in message
    assert "ingest.splits: must include ['eval']" in message
    assert "validate.drift_thresholds: threshold for 'income' must be in (0, 1]" in message
    assert str(path) in message


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(str(bad))


def test_localize_makes_local_paths_absolute_and_leaves_remote_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = localize(
        load_config(
            overrides={"data.path": "d.csv", "data.label": "y", "reference_root": "gs://b/r"}
        )
    )
    assert cfg.data.path == str(tmp_path / "d.csv")
    assert cfg.pipeline_root == str(tmp_path / "pipeline_root")
    assert cfg.reference_root == "gs://b/r"


def test_small_inputs_run_beam_in_one_process_unless_told_otherwise():
    cfg = PipelineConfig()  # DirectRunner, multi_processing, 16 MiB threshold
    assert cfg.beam_args_for("statistics", 2**20) == [
        "--runner=DirectRunner",
        "--direct_running_mode=in_memory",
    ]
    assert cfg.beam_args_for("statistics", 64 * 2**20) == cfg.beam.pipeline_args
    assert cfg.beam_args_for("statistics") == cfg.beam.pipeline_args  # size unknown
    off = PipelineConfig.model_validate({"beam": {"in_memory_below_mb": 0}})
    assert off.beam_args_for("statistics", 1) == off.beam.pipeline_args
    dataflow = ["--runner=DataflowRunner", "--project=p"]
    remote = PipelineConfig.model_validate({"beam": {"pipeline_args": dataflow}})
    assert remote.beam_args_for("transform", 1) == dataflow  # never on another runner
    step = {"cluster": {"steps": {"evaluate": {"beam_args": ["--direct_num_workers=4"]}}}}
    assert PipelineConfig.model_validate(step).beam_args_for("evaluate", 1) == [
        "--direct_num_workers=4"
    ]  # a step's own options are taken as written


def test_local_config_parameter_survives_kfp_local_python3_rewrite():
    """kfp.local rewrites 'python3' anywhere in a step's command; a data path inside a venv
    (.../lib/python3.11/site-packages/...) must reach the step unchanged."""
    from kfp.local.subprocess_task_handler import replace_python_executable

    from kubetfx.pipelines import targets

    path = "/venv/lib/python3.11/site-packages/pkg/data.csv"
    cfg = PipelineConfig.model_validate({"data": {"path": path, "label": "y"}})
    text = targets.config_parameter(cfg, "local")
    (rewritten,) = replace_python_executable([text], "/usr/bin/python3.11")
    assert PipelineConfig.from_json(rewritten).data.path == path
    assert PipelineConfig.from_json(targets.config_parameter(cfg, "vertex")).data.path == path
