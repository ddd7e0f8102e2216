"""The typed run parameters of the cluster pipelines (what a user edits per run in the Kubeflow
UI or the Vertex console): compiled with their types, applied by the configure step, and
recorded in the run."""

from __future__ import annotations

import json

import pytest
from kfp import dsl

from kubetfx.components.config import PipelineConfig
from kubetfx.components.configure import core
from kubetfx.components.configure.component import configure
from kubetfx.errors import ConfigError
from kubetfx.runners.in_process import artifact_parameters
from tests.pipeline.test_targets import compile_yaml

TYPES = {
    "config": "STRING", "data_path": "STRING", "label": "STRING",
    "epochs": "NUMBER_INTEGER", "batch_size": "NUMBER_INTEGER",
    "learning_rate": "NUMBER_DOUBLE", "min_accuracy": "NUMBER_DOUBLE",
}  # fmt: skip


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_the_cluster_pipelines_take_typed_run_parameters(tmp_path, target):
    spec, _ = compile_yaml(tmp_path, target)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: v["parameterType"] for k, v in parameters.items()} == TYPES
    assert parameters["epochs"]["defaultValue"] == -1  # "not given": the config's value
    tasks = spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        if name == "configure":
            continue
        if "config" not in task.get("inputs", {}).get("parameters", {}):
            assert name.startswith("import-"), name  # the baselines' importers take a URI
            continue
        source = task["inputs"]["parameters"]["config"]["taskOutputParameter"]
        assert source["producerTask"] == "configure", name  # every step sees the overrides


def test_the_local_pipeline_keeps_the_config_alone(tmp_path):
    spec, _ = compile_yaml(tmp_path, "local", pipeline_root="./root")
    assert list(spec["root"]["inputDefinitions"]["parameters"]) == ["config"]


def test_given_values_win_and_the_rest_is_the_config():
    base = PipelineConfig.model_validate(
        {"data": {"path": "gs://b/sales/part-*.csv", "label": "y"}}
    )
    effective, given = core.apply(
        config=base.to_json(), data_path="gs://b/churn/*.csv", label="", epochs=3,
        batch_size=-1, learning_rate=0.05, min_accuracy=0.8,
    )  # fmt: skip
    cfg = PipelineConfig.from_json(effective)
    assert (cfg.train.epochs, cfg.train.learning_rate) == (3, 0.05)
    assert cfg.train.batch_size == base.train.batch_size and cfg.data.label == "y"
    assert cfg.evaluate.thresholds["accuracy"].lower == 0.8
    # The dataset (and the model) follow a new path when their names came from the old one.
    assert (cfg.data.name, cfg.push.model_name) == ("churn", "churn")
    assert given == {
        "data.path": "gs://b/churn/*.csv",
        "train.epochs": 3,
        "train.learning_rate": 0.05,
        "evaluate.thresholds.accuracy.lower": 0.8,
    }


def test_a_bad_value_names_its_field():
    with pytest.raises(ConfigError, match=r"\(train.batch_size=0\).*train.batch_size: Input"):
        core.apply(config=PipelineConfig().to_json(), batch_size=0)


def test_the_step_records_what_was_given(tmp_path):
    artifacts = {
        name: kind(name=name, uri=str(tmp_path / name), metadata={})
        for name, (_, kind) in artifact_parameters(configure).items()
    }
    effective = dsl.component(configure).python_func(
        config=PipelineConfig().to_json(), epochs=5, **artifacts
    )
    assert PipelineConfig.from_json(effective).train.epochs == 5
    record = artifacts["run_parameters"]
    assert record.metadata["given"] == {"train.epochs": 5}
    assert json.loads((tmp_path / "run_parameters").read_text())["config"]["train"]["epochs"] == 5
