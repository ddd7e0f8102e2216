"""KFP wrapper of notify: the exit handler of the training pipeline on Kubeflow and Vertex."""

from kfp.dsl import PipelineTaskFinalStatus


def notify(config: str, status: PipelineTaskFinalStatus) -> None:
    import logging

    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.notify import core

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = PipelineConfig.from_json(config)
    core.run(
        cfg=cfg.notify,
        project=cfg.vertex.project,
        report=core.message(pipeline=cfg.pipeline_name, status=status),
    )
