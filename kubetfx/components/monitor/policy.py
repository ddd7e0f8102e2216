"""The decision policy: from a window's verdict to an alert and/or a training run.

- debounce: act only after `monitor.debounce` drifting windows in a row (one noisy window
  does nothing);
- alert on every window past the debounce: a log line, and a JSON POST to
  `monitor.alert_webhook` when set;
- retrain (when `monitor.retrain`) at most once per `monitor.cooldown_seconds`: repeated
  alerts within the cooldown start exactly one run;
- a window is counted once: re-running the monitor over a window that ends at or before the
  last one counted (a retry, a backfill) changes nothing.

The state lives in a small JSON file next to the monitoring output ({output_dir}/state.json),
so it survives between runs and pods; it is replaced whole (write, then rename).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import time
from collections.abc import Callable

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.monitor.config import MonitorConfig
from kubetfx.components.retry import post_json

log = logging.getLogger("kubetfx.monitor")
STATE_FILE = "state.json"
DECISION_FILE = "decision.json"  # the act step's output
HISTORY = 50  # decisions kept in the state file


@dataclasses.dataclass(frozen=True)
class State:
    consecutive: int = 0
    last_window_end: str | None = None
    last_retrain_at: str | None = None
    last_retrain_run: str | None = None
    history: tuple[dict, ...] = ()

    @classmethod
    def load(cls, output_dir: str) -> State:
        path = fileio.join(output_dir, STATE_FILE)
        if not fileio.exists(path):
            return cls()
        body = json.loads(fileio.read_text(path))
        return cls(**{**body, "history": tuple(body.get("history", ()))})

    def save(self, output_dir: str) -> None:
        path = fileio.join(output_dir, STATE_FILE)
        body = dataclasses.asdict(self)
        body["history"] = list(self.history)[-HISTORY:]
        fileio.write_text(path + ".tmp", json.dumps(body, indent=2))
        fileio.replace_file(path + ".tmp", path)


@dataclasses.dataclass(frozen=True)
class Decision:
    alert: bool
    retrain: bool
    reason: str
    state: State


def _time(text: str | None) -> datetime.datetime | None:
    return datetime.datetime.fromisoformat(text) if text else None


def decide(
    verdict: str,
    window_end: datetime.datetime,
    state: State,
    cfg: MonitorConfig,
    now: datetime.datetime,
) -> Decision:
    """verdict: 'drift' | 'no drift' | 'insufficient data' (no verdict: the count is kept)."""
    last_end = _time(state.last_window_end)
    if last_end is not None and window_end <= last_end:
        return Decision(False, False, f"window ending {window_end} was already counted", state)
    if verdict == "insufficient data":
        state = dataclasses.replace(state, last_window_end=window_end.isoformat())
        return Decision(False, False, "too few rows for a verdict; nothing counted", state)
    consecutive = state.consecutive + 1 if verdict == "drift" else 0
    state = dataclasses.replace(
        state, consecutive=consecutive, last_window_end=window_end.isoformat()
    )
    if verdict != "drift":
        return Decision(False, False, "no drift", state)
    if consecutive < cfg.debounce:
        return Decision(
            False, False, f"drifting window {consecutive} of {cfg.debounce} (debounce)", state
        )
    if not cfg.retrain:
        return Decision(
            True, False, f"drift in {consecutive} windows in a row; retrain is off", state
        )
    last = _time(state.last_retrain_at)
    if last is not None and (now - last).total_seconds() < cfg.cooldown_seconds:
        wait = cfg.cooldown_seconds - (now - last).total_seconds()
        return Decision(
            True,
            False,
            f"drift, but a training run started at {last} (cooldown {wait:.0f}s left)",
            state,
        )
    return Decision(True, True, f"drift in {consecutive} windows in a row: retraining", state)


def send_alert(message: dict, webhook: str | None, timeout: float = 10.0, sleep=time.sleep) -> None:
    """A log line always; a JSON POST to the webhook when one is configured, sent again
    with backoff while it fails transiently (no answer, 429, 5xx)."""
    log.warning("kubetfx monitor alert: %s", json.dumps(message))
    if not webhook:
        return
    try:
        post_json(webhook, message, f"monitor.alert_webhook {webhook}", timeout, sleep)
    except OSError as e:  # an unreachable webhook must not lose the decision: say so
        log.error("monitor.alert_webhook %s failed: %s", webhook, e)


def apply(
    verdict: str,
    window_end: datetime.datetime,
    result_uri: str,
    summary: dict,
    cfg: MonitorConfig,
    trigger: Callable[[str], str],
    now: datetime.datetime | None = None,
    alert: Callable[[dict, str | None], None] = send_alert,
) -> Decision:
    """Decide, alert, trigger (trigger(result_uri) -> run name) and save the state."""
    now = now or datetime.datetime.now(datetime.UTC)
    state = State.load(cfg.output_dir)
    decision = decide(verdict, window_end, state, cfg, now)
    state = decision.state
    run = None
    if decision.alert:
        alert({**summary, "reason": decision.reason, "result": result_uri}, cfg.alert_webhook)
    if decision.retrain:
        # Recorded before the run starts: a crash while it runs must not start a second one.
        state = dataclasses.replace(state, last_retrain_at=now.isoformat())
        state.save(cfg.output_dir)
        run = trigger(result_uri)
        state = dataclasses.replace(state, last_retrain_run=run)
    entry = {
        "at": now.isoformat(),
        "window_end": window_end.isoformat(),
        "verdict": verdict,
        "alert": decision.alert,
        "retrain": decision.retrain,
        "run": run,
        "reason": decision.reason,
        "result": result_uri,
    }
    state = dataclasses.replace(state, history=(*state.history, entry))
    state.save(cfg.output_dir)
    return dataclasses.replace(decision, state=state)


def act(*, cfg: PipelineConfig, platform: str, result_uri: str, decision_uri: str) -> dict:
    """The monitor's act step: apply the policy to a monitoring result; write and return
    the decision. A retrain goes through monitor.retrain_trigger (module:function)."""
    from kubetfx.components.module_file import load_callable
    from kubetfx.components.monitor import core

    outcome = core.MonitorResult.from_json(
        fileio.read_text(fileio.join(result_uri, core.RESULT_FILE))
    )
    trigger = load_callable(cfg.monitor.retrain_trigger, "monitor.retrain_trigger")
    chosen = apply(
        outcome.verdict,
        datetime.datetime.fromisoformat(outcome.window["end"]),
        outcome.uri,
        outcome.summary(),
        cfg.monitor,
        lambda cause: trigger(cfg, platform, cause),
    )
    body = {
        "alert": chosen.alert,
        "retrain": chosen.retrain,
        "reason": chosen.reason,
        "state": dataclasses.asdict(chosen.state),
    }
    fileio.write_text(fileio.join(decision_uri, DECISION_FILE), json.dumps(body, indent=2))
    return body
