"""What a push to Vertex AI leaves in the run's lineage: the uploaded model version as a
`google.VertexModel` artifact, the resources it made as `gcp_resources`, and evaluate's
headline metrics as a model evaluation of that version.

The artifact and the JSON follow google-cloud-pipeline-components (GCPC) without depending
on it: a VertexModel is an artifact whose schema_title is `google.VertexModel`, whose URI is
the resource's REST URL and whose metadata holds `resourceName`; `gcp_resources` is the JSON
form of GCPC's GcpResources proto ({"resources": [{"resourceType", "resourceUri"}]}), which
the Vertex console turns into links from the step to the model and endpoint.
"""

from __future__ import annotations

import json
import math

# Vertex's schemas for imported evaluations (ModelEvaluation.metrics_schema_uri).
METRICS_SCHEMAS = {
    "classification": "gs://google-cloud-aiplatform/schema/modelevaluation/"
    "classification_metrics_1.0.0.yaml",
    "regression": "gs://google-cloud-aiplatform/schema/modelevaluation/"
    "regression_metrics_1.0.0.yaml",
}
NO_RESOURCES = "{}"  # an empty GcpResources: nothing was made on Vertex


def rest_uri(region: str, resource_name: str) -> str:
    """A resource's REST URL, what GCPC gives a Vertex artifact as its URI."""
    return f"https://{region}-aiplatform.googleapis.com/v1/{resource_name}"


def gcp_resources(region: str, model: str | None, endpoint: str | None) -> str:
    """The GcpResources JSON of the model version and endpoint a push made or used."""
    found = [
        {"resourceType": kind, "resourceUri": rest_uri(region, name)}
        for kind, name in (("VertexModel", model), ("VertexEndpoint", endpoint))
        if name
    ]
    return json.dumps({"resources": found}) if found else NO_RESOURCES


def model_version_name(model) -> str:
    """`projects/.../models/ID@VERSION`: the one version this push uploaded."""
    return f"{model.resource_name}@{model.version_id}"


def evaluation_metrics(overall: dict[str, float]) -> tuple[str, dict]:
    """(task kind, metrics in Vertex's schema) from evaluate's overall TFMA metrics."""
    if "accuracy" in overall:
        metrics: dict = {"confidenceMetrics": [{"accuracy": overall["accuracy"]}]}
        if "auc" in overall:
            metrics["auRoc"] = overall["auc"]
        return "classification", metrics
    metrics = {}
    if "mean_squared_error" in overall:
        metrics["rootMeanSquaredError"] = math.sqrt(overall["mean_squared_error"])
    if "mean_absolute_error" in overall:
        metrics["meanAbsoluteError"] = overall["mean_absolute_error"]
    return "regression", metrics


def import_evaluation(sdk, model, region: str, overall: dict, headline: dict, credentials=None):
    """ModelService.ImportModelEvaluation on the uploaded version: Vertex's metrics (the
    schema of the task) plus, as metadata, the headline TFMA metrics as kubetfx names them."""
    from google.protobuf import struct_pb2

    kind, metrics = evaluation_metrics(overall)
    body, extra = struct_pb2.Struct(), struct_pb2.Struct()
    body.update(metrics)
    extra.update({"source": "kubetfx evaluate (TFMA)", "headline": headline})
    client = sdk.gapic.ModelServiceClient(
        client_options={"api_endpoint": f"{region}-aiplatform.googleapis.com"},
        credentials=credentials,
    )
    return client.import_model_evaluation(
        parent=model_version_name(model),
        model_evaluation=sdk.gapic.ModelEvaluation(
            display_name="kubetfx-evaluate",
            metrics_schema_uri=METRICS_SCHEMAS[kind],
            metrics=body,
            metadata=extra,
        ),
    )
