"""KFP wrappers of tune (Tuner) and train (Trainer)."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output


def tune(
    config: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    best_hyperparameters: Output[Artifact],
    report: Output[HTML],
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.step_process import skip_gc_at_exit
    from kubetfx.components.train import remote

    skip_gc_at_exit()
    cfg = PipelineConfig.from_json(config)
    where = "path" if cfg.tune.backend == "local" else "uri"  # remote trials read the bucket
    result = remote.tune_step(
        cfg=cfg, transformed_uri=getattr(transformed_examples, where),
        graph_uri=getattr(transform_graph, where),
        output_uri=best_hyperparameters.path, report_path=report.path,
    )  # fmt: skip
    best_hyperparameters.metadata.update(result.metadata())


def train(
    config: str,
    transformed_examples: Input[Dataset],
    transform_graph: Input[Artifact],
    schema: Input[Artifact],
    model: Output[Model],
    model_run: Output[Artifact],
    best_hyperparameters: Input[Artifact] = None,
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.step_process import skip_gc_at_exit
    from kubetfx.components.train import remote

    skip_gc_at_exit()
    cfg = remote.tuned(
        cfg=PipelineConfig.from_json(config), best_hyperparameters=best_hyperparameters
    )
    artifacts = {"transformed-examples": transformed_examples, "transform-graph": transform_graph,
                 "schema": schema, "model": model, "model-run": model_run}  # fmt: skip
    # Workers on GKE or Vertex AI read and write the bucket URIs; the chief exports to this
    # step's own model URI, so the Model artifact is the same as when training here.
    paths = {flag: artifact.path for flag, artifact in artifacts.items()}
    uris = {flag: artifact.uri for flag, artifact in artifacts.items()}
    result = remote.train_step(cfg=cfg, paths=paths, uris=uris)
    model.metadata.update(result.metadata(cfg.train.backend))
    model_run.metadata["tfx_type"] = "ModelRun"  # TensorBoard logs
