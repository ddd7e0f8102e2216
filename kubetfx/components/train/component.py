"""KFP wrapper of train (Trainer)."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    config: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    schema: Input[Artifact],
    model: Output[Model],
    model_run: Output[Artifact],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.train import remote

    cfg = PipelineConfig.from_json(config)
    artifacts = {
        "transformed-examples": transformed_examples,
        "transform-graph": transform_graph,
        "schema": schema,
        "model": model,
        "model-run": model_run,
    }
    # Workers on GKE or Vertex AI read and write the bucket URIs; the chief exports to this
    # step's own model URI, so the Model artifact is the same as when training here.
    paths = {flag: artifact.path for flag, artifact in artifacts.items()}
    uris = {flag: artifact.uri for flag, artifact in artifacts.items()}
    result = remote.train_step(cfg=cfg, paths=paths, uris=uris)
    model.metadata.update(result.metadata(cfg.train.backend))
    model_run.metadata["tfx_type"] = "ModelRun"  # TensorBoard logs
