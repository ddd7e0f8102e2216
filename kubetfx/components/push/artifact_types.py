"""The Vertex AI artifact type the push step emits, as google-cloud-pipeline-components
defines it (schema_title google.VertexModel, metadata resourceName), without depending on
that package. kfp imports it from here in the step's generated code."""

from kfp import dsl


class VertexModel(dsl.Artifact):
    """A Vertex AI Model (version): URI its REST URL, metadata `resourceName`."""

    schema_title = "google.VertexModel"
    schema_version = "0.0.1"
