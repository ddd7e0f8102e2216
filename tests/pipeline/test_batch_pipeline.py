"""The batch prediction pipeline: compiled for Kubeflow and Vertex, and run with kfp.local
through `kubetfx batch-predict`, as a user runs it."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp import compiler
from kfp.pipeline_spec import pipeline_spec_pb2

from kubetfx.components.config import PipelineConfig
from kubetfx.components.registry import ModelRegistry
from kubetfx.errors import ConfigError
from kubetfx.pipelines import batch
from tests.conftest import write_csv

IMAGE = "registry.example/kubetfx:1.2"
CLUSTER = {
    "default": {"cpu": "1", "memory": "4G"},
    # The training pipeline's steps may share the config; they do not concern this pipeline.
    "steps": {"train": {"cpu": "4"}, "batch_predict": {"cpu": "2", "memory": "8G"}},
}


def compiled(tmp_path, target: str, **sections) -> dict:
    cfg = PipelineConfig.model_validate(
        {"pipeline_root": "gs://bucket/root", "images": {"components": IMAGE}, **sections}
    )
    out = tmp_path / f"{target}.yaml"
    compiler.Compiler().compile(batch.build(cfg, target), package_path=str(out))
    return yaml.safe_load(out.read_text())


@pytest.mark.parametrize("target", ["kubeflow", "vertex"])
def test_the_batch_pipeline_compiles_with_its_step_resources(tmp_path, target):
    spec = compiled(tmp_path, target, cluster=CLUSTER)
    proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # strict
    assert proto.pipeline_info.name == "kubetfx-batch-predict"
    assert list(proto.root.dag.tasks) == ["batch-predict"]
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["image"] == IMAGE
    resources = executor["container"]["resources"]
    assert (resources["resourceCpuLimit"], resources["resourceMemoryLimit"]) == ("2", "8G")
    # Kubeflow requests what it limits (Guaranteed QoS); Vertex sizes by limits alone.
    assert resources.get("resourceCpuRequest") == ("2" if target == "kubeflow" else None)
    config = json.loads(spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"])
    assert config["batch_predict"]["model"] == "champion"


def test_vertex_ai_accepts_it_as_a_pipeline_job(tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    compiled(tmp_path, "vertex")
    job = aiplatform.PipelineJob(
        display_name="kubetfx-batch-test",
        template_path=str(tmp_path / "vertex.yaml"),
        pipeline_root="gs://example-bucket/pipeline_root",
        project="example-project",
        location="us-central1",
        credentials=AnonymousCredentials(),
        parameter_values={"config": "{}"},
    )
    assert job._gca_resource.pipeline_spec["pipelineInfo"]["name"] == "kubetfx-batch-predict"


def test_an_unknown_step_is_still_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cluster.steps: unknown step"):
        compiled(tmp_path, "kubeflow", cluster={"steps": {"batch_predikt": {"cpu": "2"}}})


@pytest.mark.pipeline
def test_kubetfx_batch_predict_runs_the_pipeline_locally(penguins, penguins_table, tmp_path):
    _, paths = penguins
    version = ModelRegistry(str(tmp_path / "registry"), "penguins").push(paths["model"], {})
    write_csv(penguins_table, tmp_path / "rows.csv")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"push": {"registry": "registry"}}))
    # Relative paths, resolved against the directory kubetfx runs in.
    args = ["--config", "c.yaml", "--input", "rows.csv", "--output", "preds"]
    args += ["--beam-arg=--runner=DirectRunner", "--beam-arg=--direct_running_mode=in_memory"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "kubetfx.cli", "batch-predict", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"penguins version {version}" in done.stdout
    assert f"predictions: {penguins_table.num_rows} rows" in done.stdout
    rows = []
    for path in glob.glob(str(tmp_path / "preds" / "predictions-*.jsonl")):
        with open(path) as f:
            rows += [json.loads(line) for line in f]
    assert len(rows) == penguins_table.num_rows
    assert {row["model_version"] for row in rows} == {version}
    # A version that is not in the registry: exit 2 before anything runs.
    done = subprocess.run(
        [sys.executable, "-m", "kubetfx.cli", "batch-predict", *args, "--model-version", "7"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "no complete version 7" in done.stderr
