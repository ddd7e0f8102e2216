"""KFP wrappers of monitor (statistics, skew, drift, quality, report) and its policy step."""

from kfp.dsl import HTML, Artifact, Input, Markdown, Output


def monitor(
    config: str, result: Output[Artifact], report: Output[Markdown], view: Output[HTML]
) -> None:
    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.monitor import core
    from kubetfx.components.monitor import window as windows

    cfg = PipelineConfig.from_json(config)
    mon = cfg.monitor
    # The window is resolved when the step runs: a scheduled run watches the last hour then.
    window = windows.resolve(None if mon.start else mon.window, mon.start, mon.end)
    outcome, markdown, page = core.run(cfg, window)
    fileio.write_text(fileio.join(result.path, core.RESULT_FILE), outcome.to_json())
    fileio.write_text(report.path, markdown)
    fileio.write_text(view.path, page)
    result.metadata.update(
        {
            "verdict": outcome.verdict,
            "flagged": outcome.flagged,
            "window_rows": outcome.window["rows"],
            "result_uri": outcome.uri,
        }
    )


def monitor_act(
    config: str, platform: str, result: Input[Artifact], decision: Output[Artifact]
) -> None:
    import dataclasses
    import datetime
    import json

    from kubetfx.components import fileio
    from kubetfx.components.config import PipelineConfig
    from kubetfx.components.monitor import core, policy
    from kubetfx.runners import monitor as runner

    cfg = PipelineConfig.from_json(config)
    outcome = core.MonitorResult.from_json(
        fileio.read_text(fileio.join(result.path, core.RESULT_FILE))
    )
    chosen = policy.apply(
        outcome.verdict,
        datetime.datetime.fromisoformat(outcome.window["end"]),
        outcome.uri,
        outcome.summary(),
        cfg.monitor,
        lambda cause: runner.trigger_training(cfg, platform, cause),
    )
    body = {
        "alert": chosen.alert,
        "retrain": chosen.retrain,
        "reason": chosen.reason,
        "state": dataclasses.asdict(chosen.state),
    }
    fileio.write_text(fileio.join(decision.path, "decision.json"), json.dumps(body, indent=2))
    decision.metadata.update({k: body[k] for k in ("alert", "retrain", "reason")})
