"""The training pipeline compiles to KFP IR that kfp, the IR schema and Vertex AI accept.

(The batch and monitoring pipelines have their own compile tests beside their runs.)
"""

from __future__ import annotations

import json

import pytest
import yaml
from google.protobuf import json_format
from kfp import components
from kfp.pipeline_spec import pipeline_spec_pb2

from kubetfx.cli import main


@pytest.fixture
def compiled(tmp_path):
    path = tmp_path / "training.yaml"
    assert main(["compile", "--pipeline", "training", "--output", str(path)]) == 0
    return path


def test_yaml_loads_back_with_kfp(compiled):
    loaded = components.load_component_from_file(str(compiled))
    assert loaded.name == "kubetfx-training"
    assert list(loaded.component_spec.inputs) == ["config"]


def test_ir_parses_strictly_as_a_pipeline_spec(compiled):
    spec = yaml.safe_load(compiled.read_text())
    proto = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # unknown fields fail
    tasks = proto.root.dag.tasks
    assert set(tasks) == {
        "baseline", "import-champion", "import-reference-schema", "ingest", "statistics",
        "schema", "validate", "transform", "train", "evaluate", "infra-validate", "push",
    }  # fmt: skip
    # validate reads the examples only to count values outside a recorded range
    assert set(tasks["validate"].dependent_tasks) == {"ingest", "statistics", "schema"}
    # Nothing is transformed before validation passed; push needs both blessings.
    assert "validate" in tasks["transform"].dependent_tasks
    assert {"train", "evaluate", "infra-validate"} <= set(tasks["push"].dependent_tasks)
    assert set(tasks["infra-validate"].dependent_tasks) == {"train", "ingest"}
    executors = spec["deploymentSpec"]["executors"].values()
    images = {e["container"]["image"] for e in executors if "container" in e}
    assert images == {"kubetfx-components:dev"}
    # The default config travels with the pipeline, so a UI user can see and edit it.
    default = spec["root"]["inputDefinitions"]["parameters"]["config"]["defaultValue"]
    assert json.loads(default)["data"]["label"] == "species"


def test_vertex_ai_accepts_it_as_a_pipeline_job(compiled):
    # Builds the exact PipelineJob request Vertex would receive; nothing is sent.
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    job = aiplatform.PipelineJob(
        display_name="kubetfx-test",
        template_path=str(compiled),
        pipeline_root="gs://example-bucket/pipeline_root",
        project="example-project",
        location="us-central1",
        credentials=AnonymousCredentials(),
        parameter_values={"config": "{}"},
    )
    request = job._gca_resource
    assert request.runtime_config.gcs_output_directory == "gs://example-bucket/pipeline_root"
    assert request.runtime_config.parameter_values["config"] == "{}"
    assert request.pipeline_spec["pipelineInfo"]["name"] == "kubetfx-training"


def test_compile_takes_the_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("images:\n  components: registry.example/kubetfx:1.2\n")
    out = tmp_path / "t.yaml"
    assert main(["compile", "--output", str(out), "--config", str(cfg)]) == 0
    assert "image: registry.example/kubetfx:1.2" in out.read_text()


@pytest.mark.parametrize("target", ["local", "kubeflow", "vertex"])
def test_the_baselines_enter_through_importers(tmp_path, target):
    """The champion and the reference schema are dsl.importer outputs (inputs of the run in
    its lineage graph) that evaluate and schema take as artifacts; the URIs come from the
    never-cached baseline step, through a sub-pipeline input (what KFP's backend resolves)."""
    path = tmp_path / "t.yaml"
    args = ["compile", "--pipeline", "training", "--platform", target, "--output", str(path)]
    assert main(args + (["--pipeline-root", "gs://b/r"] if target != "local" else [])) == 0
    spec = yaml.safe_load(path.read_text())
    tasks, components = spec["root"]["dag"]["tasks"], spec["components"]
    executors = spec["deploymentSpec"]["executors"]
    for name, kind, output, consumer in (
        ("import-champion", "system.Model", "champion", "evaluate"),
        ("import-reference-schema", "system.Artifact", "reference_schema", "schema"),
    ):
        uri = tasks[name]["inputs"]["parameters"]["uri"]["taskOutputParameter"]
        assert uri == {"producerTask": "baseline", "outputParameterKey": output}
        dag = components[tasks[name]["componentRef"]["name"]]["dag"]
        (inner,) = dag["tasks"].values()
        assert inner["inputs"]["parameters"]["uri"] == {"componentInputParameter": "uri"}
        importer = executors[components[inner["componentRef"]["name"]]["executorLabel"]]
        assert importer["importer"]["typeSchema"]["schemaTitle"] == kind
        assert importer["importer"]["artifactUri"] == {"runtimeParameter": "uri"}
        wired = tasks[consumer]["inputs"]["artifacts"][output]["taskOutputArtifact"]
        assert wired["producerTask"] == name
        if target != "local":
            assert tasks[name]["cachingOptions"] == {}  # enableCache false is left out
    if target != "local":
        assert tasks["baseline"]["cachingOptions"] == {}
