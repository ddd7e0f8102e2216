"""The monitoring decision policy: debounce, cooldown, the state file, alerts, config errors."""

from __future__ import annotations

import datetime
import http.server
import json
import threading

import pytest

from kubetfx.components.config import MonitorConfig
from kubetfx.components.config_loader import load_config
from kubetfx.components.monitor import policy
from kubetfx.errors import ConfigError

T0 = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC)
STEP = datetime.timedelta(minutes=10)


class Trigger:
    """The injected training trigger: records each call."""

    def __init__(self):
        self.causes: list[str] = []

    def __call__(self, cause: str) -> str:
        self.causes.append(cause)
        return f"run-{len(self.causes)}"


def _run(cfg: MonitorConfig, verdicts: list[str], trigger, alerts: list | None = None, start=0):
    decisions = []
    for i, verdict in enumerate(verdicts, start):
        end = T0 + (i + 1) * STEP
        decisions.append(
            policy.apply(
                verdict,
                end,
                f"{cfg.output_dir}/w{i}",
                {"verdict": verdict},
                cfg,
                trigger,
                now=end,
                alert=lambda message, webhook: (alerts if alerts is not None else []).append(
                    message
                ),
            )
        )
    return decisions


def test_repeated_alerts_within_the_cooldown_trigger_exactly_one_retraining(tmp_path):
    cfg = MonitorConfig(output_dir=str(tmp_path), retrain=True, debounce=1, cooldown_seconds=3600)
    trigger, alerts = Trigger(), []
    decisions = _run(cfg, ["drift"] * 6, trigger, alerts)  # 6 windows in 60 minutes
    assert trigger.causes == [f"{tmp_path}/w0"]  # the result that caused it
    assert [d.retrain for d in decisions] == [True, False, False, False, False, False]
    assert len(alerts) == 6 and "cooldown" in alerts[-1]["reason"]
    # Once the cooldown is over, a drift that persists starts the next run.
    later = _run(cfg, ["drift"], trigger, start=6)
    assert later[0].retrain and len(trigger.causes) == 2
    state = policy.State.load(str(tmp_path))
    assert state.last_retrain_run == "run-2"
    assert [h["run"] for h in state.history if h["retrain"]] == ["run-1", "run-2"]


def test_debounce_needs_consecutive_drifting_windows(tmp_path):
    cfg = MonitorConfig(output_dir=str(tmp_path), retrain=True, debounce=3, cooldown_seconds=0)
    trigger = Trigger()
    verdicts = ["drift", "drift", "no drift", "drift", "insufficient data", "drift", "drift"]
    decisions = _run(cfg, verdicts, trigger)
    # "no drift" resets the count; "insufficient data" neither counts nor resets it.
    assert [d.state.consecutive for d in decisions] == [1, 2, 0, 1, 1, 2, 3]
    assert [d.retrain for d in decisions] == [False] * 6 + [True]
    assert len(trigger.causes) == 1


def test_the_state_file_survives_and_a_window_is_counted_once(tmp_path):
    cfg = MonitorConfig(output_dir=str(tmp_path), retrain=True, debounce=2, cooldown_seconds=60)
    trigger = Trigger()
    _run(cfg, ["drift"], trigger)
    saved = json.loads((tmp_path / policy.STATE_FILE).read_text())
    assert saved["consecutive"] == 1 and saved["last_window_end"] == str(T0 + STEP).replace(
        " ", "T"
    )
    # A retry of the same window (a new process reading the file) changes nothing.
    again = _run(cfg, ["drift"], trigger)
    assert again[0].state.consecutive == 1 and not again[0].retrain
    assert "already counted" in again[0].reason
    # The next window reaches the debounce from the saved count.
    nxt = _run(cfg, ["drift"], trigger, start=1)
    assert nxt[0].retrain and len(trigger.causes) == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_retrain_off_alerts_only(tmp_path):
    cfg = MonitorConfig(output_dir=str(tmp_path), retrain=False, debounce=1)
    trigger, alerts = Trigger(), []
    decisions = _run(cfg, ["drift", "no drift"], trigger, alerts)
    assert [d.alert for d in decisions] == [True, False]
    assert not trigger.causes and len(alerts) == 1


def test_alert_is_posted_to_the_webhook(tmp_path):
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        policy.send_alert({"verdict": "drift", "flagged": ["plan (drift)"]}, url)
    finally:
        server.shutdown()
        server.server_close()
    assert received == [("application/json", {"verdict": "drift", "flagged": ["plan (drift)"]})]
    # An unreachable webhook is logged, not raised: the decision is still saved.
    policy.send_alert({"verdict": "drift"}, f"http://127.0.0.1:{server.server_port}/gone", 1.0)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("window", "1 hour", "monitor.window: must be a number and a unit"),
        ("alpha", 1.5, "monitor.alpha"),
        ("correction", "fdr", "monitor.correction"),
        ("alert_webhook", "hooks.example.com", "monitor.alert_webhook: must be an http"),
        ("start", "yesterday", "monitor.start: must be an ISO date"),
        ("debounce", 0, "monitor.debounce"),
        ("drift_thresholds", {"income": 2}, "threshold for 'income' must be in (0, 1]"),
        ("windw", "1h", "monitor.windw: unknown field"),
    ],
)
def test_bad_monitor_config_names_the_field(tmp_path, key, value, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps({"monitor": {key: value}}))
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert message in str(error.value)


def test_live_quality_judgement_names_the_setting_and_needs_enough_labels():
    from kubetfx.components.monitor.quality import judge

    accuracy = {"metric": "accuracy", "live": 0.78, "eval": 0.97, "labelled": 500}
    assert "< monitor.min_live_metric 0.9" in judge(accuracy, 0.9, None, 100)
    assert "worse by 0.190 > monitor.max_live_drop 0.1" in judge(accuracy, None, 0.1, 100)
    assert judge(accuracy, 0.7, 0.2, 100) is None  # within both bounds
    assert judge(accuracy, 0.9, 0.1, 501) is None  # too few labelled predictions
    assert judge(None, 0.9, 0.1, 1) is None  # no labels joined
    # A regressor's live metric is an error: higher is worse; a floor does not apply.
    error = {"metric": "mean_absolute_error", "live": 3.0, "eval": 2.0, "labelled": 500}
    assert judge(error, 0.9, None, 100) is None
    assert "worse by 1.000 > monitor.max_live_drop 0.5" in judge(error, None, 0.5, 100)
    assert judge({**error, "eval": None}, None, 0.5, 100) is None  # nothing to compare with
