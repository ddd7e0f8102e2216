"""KFP wrapper of push (Pusher)."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output


def push(
    config: str,
    run_name: str,
    model: Input[Model],
    blessing: Input[Artifact],
    infra_blessing: Input[Artifact],
    evaluation: Input[Artifact],
    examples: Input[Dataset],
    pushed_model: Output[Model],
) -> None:
    import json

    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.contracts import read_ingest as read_metadata
    from kubetfx.components.evaluate.core import METRICS_FILE
    from kubetfx.components.evaluate.results import headline
    from kubetfx.components.push import core
    from kubetfx.components.push.deploy import target_for
    from kubetfx.components.registry import ModelRegistry

    cfg = PipelineConfig.from_json(config)
    target = target_for(cfg)  # None: the registry only (push.destination 'local')
    data = read_metadata(examples.path)
    metrics = json.loads(fileio.read_text(fileio.join(evaluation.path, METRICS_FILE)))
    result = core.run(
        model.path,
        blessing.path,
        infra_blessing.path,
        ModelRegistry(cfg.push.registry, cfg.push.model_name),
        {
            "run": run_name,
            "model_name": cfg.push.model_name,
            "data": {
                "path": cfg.data.path,
                "span": data.span,
                "fingerprint": data.fingerprint,
                "rows": data.rows,
            },
            "metrics": headline(metrics["candidate"].get("overall", {})),
        },
        promote=cfg.push.promote,
        deploy=target.deploy if target is not None else None,
    )
    pushed_model.metadata.update(
        {
            "pushed": result.pushed,
            "version": result.version or -1,
            "registry_path": result.path or "",
            "reason": result.reason,
            "champion": result.champion,
            "destination": cfg.push.destination,
            "deployed": result.deployed,
        }
    )
    fileio.write_text(
        fileio.join(pushed_model.path, "push.json"), json.dumps(result.__dict__, indent=2)
    )
