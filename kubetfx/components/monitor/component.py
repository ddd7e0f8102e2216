"""KFP wrappers of monitor (statistics, skew, drift, quality, report) and its policy step."""

from kfp.dsl import HTML, Artifact, Input, Markdown, Output


def monitor(
    config: str, result: Output[Artifact], report: Output[Markdown], view: Output[HTML]
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.monitor import core

    outcome = core.run_from_artifacts(
        cfg=PipelineConfig.from_json(config),
        result_uri=result.path,
        report_path=report.path,
        view_path=view.path,
    )
    result.metadata.update(outcome.metadata())


def monitor_act(
    config: str, platform: str, result: Input[Artifact], decision: Output[Artifact]
) -> None:
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.monitor import policy

    body = policy.act(
        cfg=PipelineConfig.from_json(config),
        platform=platform,
        result_uri=result.path,
        decision_uri=decision.path,
    )
    decision.metadata.update({k: body[k] for k in ("alert", "retrain", "reason")})
