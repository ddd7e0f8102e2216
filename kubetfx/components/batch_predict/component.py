"""KFP wrapper of batch_predict (BulkInferrer)."""

from kfp.dsl import Dataset, Output


def batch_predict(config: str, predictions: Output[Dataset]) -> None:
    import dataclasses
    import logging

    from kubetfx.components import fileio
    from kubetfx.components.batch_predict import core
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.registry import ModelRegistry
    from kubetfx.errors import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = PipelineConfig.from_json(config)
    if cfg.batch_predict.input is None:
        raise ConfigError("batch_predict.input: required; pass --input or set it in the config")
    # batch_predict.output sends the files elsewhere (e.g. a bucket users read); the artifact
    # then holds the summary and says where they are.
    output = cfg.batch_predict.output or cfg.beam_location("batch_predict", predictions)
    result = core.run(
        input_pattern=cfg.batch_predict.input,
        registry=ModelRegistry(cfg.push.registry, cfg.push.model_name),
        cfg=cfg.batch_predict,
        output_uri=output,
        beam_args=cfg.beam_args_for("batch_predict"),
    )
    if output not in (predictions.path, predictions.uri):
        summary_file = core.SUMMARY_FILE
        fileio.copy(fileio.join(output, summary_file), fileio.join(predictions.path, summary_file))
    summary = dataclasses.asdict(result)
    summary.pop("files")
    predictions.metadata.update({**summary, "tfx_type": "InferenceResult"})
