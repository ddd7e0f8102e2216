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
    from kubetfx.components.train import core, remote

    cfg = PipelineConfig.from_json(config)
    if cfg.train.backend == "local":
        result = core.run_from_artifacts(
            cfg,
            transformed_examples.path,
            transform_graph.path,
            schema.path,
            model.path,
            model_run.path,
        )
    else:
        # Workers on GKE or Vertex AI read and write the bucket URIs; the chief exports to
        # this step's own model URI, so the Model artifact is the same as when local.
        result = remote.train(
            cfg,
            {
                "transformed-examples": transformed_examples.uri,
                "transform-graph": transform_graph.uri,
                "schema": schema.uri,
                "model": model.uri,
                "model-run": model_run.uri,
            },
        )
    model.metadata.update(
        {
            "framework": "tensorflow",
            "backend": cfg.train.backend,
            "strategy": result.strategy,
            "replicas": result.replicas,
            "epochs": result.epochs,
            **{k: round(v, 6) for k, v in result.final_metrics.items()},
        }
    )
    model_run.metadata["tfx_type"] = "ModelRun"  # TensorBoard logs
