"""A push to Vertex AI leaves the uploaded version in the run's lineage: a google.VertexModel
artifact, `gcp_resources`, and evaluate's metrics imported as the version's model evaluation.
Against the shared fake of the aiplatform calls (no Vertex AI is reachable here)."""

from __future__ import annotations

import json
import os

import pytest
from kfp import dsl

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.contracts import INGEST_FILE, METRICS_FILE, IngestResult
from kubetfx.components.push import core, vertex_lineage
from kubetfx.components.push.artifact_types import VertexModel
from kubetfx.components.push.vertex import VertexTarget
from tests.component.fake_aiplatform import FakeAiplatform, assert_calls_match_the_real_sdk
from tests.component.test_push_targets import pushable  # noqa: F401 (a fixture)

OVERALL = {"accuracy": 0.97, "example_count": 110.0, "auc[Adelie]": 0.99}


def _cfg(tmp_path, destination: str) -> PipelineConfig:
    """The config, with the registry (gs:// for Vertex) moved to the fixture's local one."""
    cfg = PipelineConfig.model_validate(
        {
            "vertex": {"project": "p", "region": "europe-west4", "endpoint": "penguins"},
            "push": {
                "registry": "gs://bucket/models",
                "model_name": "penguins",
                "destination": destination,
                "warmup_rows": 0,
                "vertex": {"serving_image": "europe-docker.pkg.dev/x/tf:2.16"},
            },
        }
    )
    local = cfg.push.model_copy(update={"registry": str(tmp_path / "registry")})
    return cfg.model_copy(update={"push": local})


def _push(tmp_path, pushable, destination: str, sdk=None):  # noqa: F811
    _, model, blessing, infra = pushable
    cfg = _cfg(tmp_path, destination)
    examples, evaluation = tmp_path / "examples", tmp_path / "evaluation"
    fileio.write_text(
        os.path.join(examples, INGEST_FILE), IngestResult({"train": 1}, None, [], "f", {}).to_json()
    )
    fileio.write_text(
        os.path.join(evaluation, METRICS_FILE), json.dumps({"candidate": {"overall": OVERALL}})
    )
    result = core.run_from_artifacts(
        cfg=cfg, run_name="run-1", model_dir=model, blessing_uri=blessing,
        infra_blessing_uri=infra, evaluation_uri=str(evaluation), examples_uri=str(examples),
        output_uri=str(tmp_path / "pushed"),
        target=VertexTarget(cfg, sdk) if sdk is not None else None,
    )  # fmt: skip
    artifact = VertexModel(name="vertex_model", uri=str(tmp_path / "vm"), metadata={})
    return result, artifact, core.record_vertex_model(result=result, cfg=cfg, artifact=artifact)


def test_a_vertex_push_records_the_model_its_resources_and_its_evaluation(tmp_path, pushable):  # noqa: F811
    sdk = FakeAiplatform()
    result, artifact, resources = _push(tmp_path, pushable, "vertex", sdk)
    version = "projects/p/models/77@1"
    assert result.vertex_model == version
    assert artifact.schema_title == "google.VertexModel"
    assert artifact.uri == f"https://europe-west4-aiplatform.googleapis.com/v1/{version}"
    assert artifact.metadata == {"resourceName": version}
    endpoint = "projects/p/locations/europe-west4/endpoints/55"
    api = "https://europe-west4-aiplatform.googleapis.com/v1/"
    assert json.loads(resources) == {
        "resources": [
            {"resourceType": "VertexModel", "resourceUri": api + version},
            {"resourceType": "VertexEndpoint", "resourceUri": api + endpoint},
        ]
    }
    names = [name for name, _ in sdk.calls]
    # The evaluation is imported after the upload and before any traffic moves.
    assert (
        names.index("Model.upload")
        < names.index("gapic.ModelServiceClient.import_model_evaluation")
        < names.index("Endpoint.deploy")
    )
    client = dict(sdk.calls)["gapic.ModelServiceClient"]
    assert client == {
        "client_options": {"api_endpoint": "europe-west4-aiplatform.googleapis.com"},
        "credentials": None,
    }
    request = dict(sdk.calls)["gapic.ModelServiceClient.import_model_evaluation"]
    assert request["parent"] == version
    evaluation = type(request["model_evaluation"]).to_dict(request["model_evaluation"])
    assert evaluation["display_name"] == "kubetfx-evaluate"
    assert evaluation["metrics_schema_uri"] == (
        "gs://google-cloud-aiplatform/schema/modelevaluation/classification_metrics_1.0.0.yaml"
    )
    assert evaluation["metrics"] == {"confidenceMetrics": [{"accuracy": 0.97}]}
    assert evaluation["metadata"] == {
        "source": "kubetfx evaluate (TFMA)",
        "headline": {"accuracy": 0.97, "example_count": 110.0},
    }
    assert_calls_match_the_real_sdk(sdk.calls)


def test_a_failed_evaluation_import_fails_the_push_before_traffic_moves(tmp_path, pushable):  # noqa: F811
    from kubetfx.errors import DeployFailed

    sdk = FakeAiplatform()
    from google.api_core.exceptions import BadRequest

    sdk.fail_evaluation = BadRequest("bad metrics")
    with pytest.raises(DeployFailed, match="bad metrics"):
        _push(tmp_path, pushable, "vertex", sdk)
    assert "Endpoint.deploy" not in [name for name, _ in sdk.calls]
    assert pushable[0].champion() is None


def test_other_destinations_still_give_the_declared_outputs(tmp_path, pushable):  # noqa: F811
    result, artifact, resources = _push(tmp_path, pushable, "local")
    assert result.pushed and resources == "{}"
    assert artifact.uri == str(tmp_path / "vm")
    assert artifact.metadata["resourceName"] == ""
    assert "push.destination is 'local'" in artifact.metadata["reason"]
    assert json.loads(fileio.read_text(os.path.join(artifact.uri, "vertex_model.json")))


def test_regression_metrics_take_vertex_names():
    kind, metrics = vertex_lineage.evaluation_metrics(
        {"mean_squared_error": 4.0, "mean_absolute_error": 1.5}
    )
    assert kind == "regression"
    assert metrics == {"rootMeanSquaredError": 2.0, "meanAbsoluteError": 1.5}
    assert vertex_lineage.evaluation_metrics({"accuracy": 0.5, "auc": 0.7})[1]["auRoc"] == 0.7


def test_the_push_step_declares_the_vertex_model_and_gcp_resources():
    from kfp.dsl import component

    from kubetfx.pipelines import training

    spec = component(training.push).component_spec
    assert spec.outputs["vertex_model"].type == "google.VertexModel@0.0.1"
    assert spec.outputs["gcp_resources"].type == "String"
    assert dsl.Artifact in VertexModel.__mro__
