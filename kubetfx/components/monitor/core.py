"""Monitor one window of serving traffic: skew, drift, prediction drift and live quality.

Pure core (no kfp): the CLI, the KFP component and the tests call `run`. Outputs, under
{monitor.output_dir}/{window id}/: result.json (what the policy reads), report.md and
report.html; the policy's state.json sits in monitor.output_dir itself.
"""

from __future__ import annotations

import dataclasses
import json

import pandas as pd

from kubetfx.components import fileio
from kubetfx.components.config import PipelineConfig
from kubetfx.components.monitor import baseline as baselines
from kubetfx.components.monitor import compare, quality, report
from kubetfx.components.monitor import window as windows

RESULT_FILE, REPORT_MD, REPORT_HTML = "result.json", "report.md", "report.html"


@dataclasses.dataclass
class MonitorResult:
    model: str
    champion_version: int | None
    run: str | None
    window: dict  # start, end, rows
    previous: dict
    verdict: str  # "drift" | "no drift" | "insufficient data"
    flagged: list[str]
    shifts: list[dict]
    anomalies: list[dict]
    settings: dict
    notes: list[str]
    labels: dict | None = None  # path, labels, joined
    quality: list[dict] | None = None
    live: dict | None = None  # the overall headline metric: metric, live, eval, labelled
    uri: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, default=str)

    @classmethod
    def from_json(cls, text: str) -> MonitorResult:
        return cls(**json.loads(text))

    def metadata(self) -> dict:
        """The result artifact's metadata (what the Kubeflow UI shows)."""
        return {
            "verdict": self.verdict,
            "flagged": self.flagged,
            "window_rows": self.window["rows"],
            "result_uri": self.uri,
        }

    def summary(self) -> dict:
        return {
            "model": self.model,
            "verdict": self.verdict,
            "flagged": self.flagged,
            "window": self.window,
            "live": self.live,
        }

    def describe_live(self) -> str | None:
        """One line on live quality, e.g. 'accuracy 0.781 on 1,000 labelled predictions
        (0.970 at evaluation)'."""
        if not self.live:
            return None
        live = self.live
        at_eval = f" ({live['eval']:.3f} at evaluation)" if live["eval"] is not None else ""
        return (
            f"{live['metric']} {live['live']:.3f} on {live['labelled']:,} labelled "
            f"predictions{at_eval}"
        )


def _shift_row(shift: compare.FeatureShift) -> dict:
    return {**dataclasses.asdict(shift), "status": shift.status, "moved": shift.moved}


def _schema(base: baselines.Baseline, frames: list[pd.DataFrame]):
    """The champion's reference schema; without one, a schema inferred from the windows."""
    import tensorflow_data_validation as tfdv

    from kubetfx.components.contracts import load_schema

    if base.schema_path:
        return load_schema(base.schema_path, "reference schema")
    frame = pd.concat(frames, ignore_index=True)
    kinds = {
        c: ("float" if pd.api.types.is_numeric_dtype(frame[c]) else "string")
        for c in windows.feature_columns(frame)
    }
    return tfdv.infer_schema(compare.statistics(frame, kinds), infer_feature_shape=False)


def _champion_predictions(frame: pd.DataFrame, version: int | None) -> pd.DataFrame:
    """Prediction drift is about one model: other versions' answers (a canary) are left out.
    Rows whose source cannot tell the version (Vertex's BigQuery log) are kept: there the
    prediction columns cover every model the endpoint serves."""
    columns = windows.prediction_columns(frame)
    if version is None or not columns or frame.empty:
        return frame
    frame = frame.copy()
    other = frame["version"].notna() & (frame["version"] != version)
    frame.loc[other, columns] = None
    return frame


def _quality(cfg: PipelineConfig, frame: pd.DataFrame, schema, base) -> tuple[dict, list]:
    from kubetfx.components.contracts import default_slices

    labels = quality.read_labels(cfg.monitor.labels, cfg.data.label)
    joined = quality.join(frame, labels)
    slices = cfg.evaluate.slices
    if slices is None:
        slices = default_slices(schema, cfg.data.label)
    slices = sorted({*slices, *cfg.evaluate.sensitive_features})
    live = quality.live_quality(joined, slices)
    info = {"path": cfg.monitor.labels, "labels": len(labels), "joined": len(joined)}
    return info, quality.compare(live, base.eval_metrics())


def run_from_artifacts(
    *, cfg: PipelineConfig, result_uri: str, report_path: str, view_path: str
) -> MonitorResult:
    """The monitor step: watch the configured window (resolved now: a scheduled run watches
    the last monitor.window), and write the result and reports into the step's artifacts."""
    mon = cfg.monitor
    window = windows.resolve(None if mon.start else mon.window, mon.start, mon.end)
    outcome, markdown, page = run(cfg=cfg, window=window)
    fileio.write_text(fileio.join(result_uri, RESULT_FILE), outcome.to_json())
    fileio.write_text(report_path, markdown)
    fileio.write_text(view_path, page)
    return outcome


def run(*, cfg: PipelineConfig, window: windows.Window) -> tuple[MonitorResult, str, str]:
    """Compare the window with the previous one and the champion's training data; write the
    result and reports under monitor.output_dir. Returns (result, markdown, html)."""
    from kubetfx.components.contracts import load_statistics

    mon = cfg.monitor
    base = baselines.resolve(cfg)
    previous_window = window.previous()
    log = cfg.serving.request_log  # its source: the server's JSONL, KServe events, BigQuery
    frame = _champion_predictions(windows.load(log, base.model, window), base.version)
    before = _champion_predictions(windows.load(log, base.model, previous_window), base.version)
    notes = list(base.notes)
    shifts, anomalies, stats = [], [], {}
    if len(frame) < mon.min_window_rows:
        verdict = "insufficient data"
        notes.append(f"{len(frame)} rows in the window, fewer than monitor.min_window_rows")
    else:
        if len(before) < mon.min_window_rows:
            notes.append(f"{len(before)} rows in the previous window: drift not measured")
        schema = _schema(base, [frame, before])
        training = load_statistics(base.training_statistics) if base.training_statistics else None
        found, anomaly_list, stats = compare.compare(
            frame,
            before if len(before) >= mon.min_window_rows else None,
            schema,
            training,
            mon,
            cfg.data.label,
        )
        shifts = [_shift_row(s) for s in found]
        anomalies = [dataclasses.asdict(a) for a in anomaly_list]
        # A dropped column or a flood of unknown values is skew too, whatever the tests say.
        drifting = any(s["flagged"] for s in shifts) or anomalies
        verdict = "drift" if drifting else "no drift"
        if training is not None:
            stats["training"] = training
    result = MonitorResult(
        model=base.model,
        champion_version=base.version,
        run=base.run,
        window={"start": str(window.start), "end": str(window.end), "rows": len(frame)},
        previous={
            "start": str(previous_window.start),
            "end": str(previous_window.end),
            "rows": len(before),
        },
        verdict=verdict,
        flagged=[f"{s['feature']} ({s['kind']})" for s in shifts if s["flagged"]]
        + [f"{a['feature']} (schema: {a['short']})" for a in anomalies],
        shifts=shifts,
        anomalies=anomalies,
        settings={
            "alpha": mon.alpha,
            "correction": mon.correction,
            "flag_when": mon.flag_when,
            "shift_threshold": mon.shift_threshold,
            "min_window_rows": mon.min_window_rows,
            "tests": len(shifts),
        },
        notes=notes,
        uri=fileio.join(mon.output_dir, window.name),
    )
    if mon.labels and len(frame):
        result.labels, result.quality = _quality(cfg, frame, _schema(base, [frame]), base)
        result.live = quality.headline(result.quality)
        why = quality.judge(
            result.live, mon.min_live_metric, mon.max_live_drop, mon.min_labeled_rows
        )
        if mon.min_live_metric is not None and result.live and result.live["metric"] != "accuracy":
            result.notes.append(
                f"monitor.min_live_metric applies to accuracy; this model's live metric is "
                f"{result.live['metric']}: use monitor.max_live_drop"
            )
        if why and verdict != "insufficient data":
            # Concept drift: the features may look the same while the answers got worse.
            result.verdict = "drift"
            result.flagged.append(f"live quality ({why})")
    names = {"training": "training", "previous": "previous window", "window": "window"}
    ordered = {names[k]: stats[k] for k in names if stats.get(k) is not None}
    md, page = report.markdown(result), report.html(result, ordered)
    fileio.write_text(fileio.join(result.uri, RESULT_FILE), result.to_json())
    fileio.write_text(fileio.join(result.uri, REPORT_MD), md)
    fileio.write_text(fileio.join(result.uri, REPORT_HTML), page)
    return result, md, page
