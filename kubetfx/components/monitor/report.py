"""The monitoring report: Markdown (the Kubeflow UI renders it) and self-contained HTML.

Features are ranked by how far they moved (distance over threshold, flagged first), with the
test's corrected p-value and both window sizes beside each, so a reader can see whether a
large distance rests on a handful of rows or a small one on a million.
"""

from __future__ import annotations

import html as _html
from typing import TYPE_CHECKING

from kubetfx.components import stats_html, svg

if TYPE_CHECKING:
    from kubetfx.components.monitor.core import MonitorResult


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 and value else f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _header(result: MonitorResult) -> list[str]:
    w, p = result.window, result.previous
    s = result.settings
    return [
        f"# Monitoring {result.model}: {result.verdict.upper()}",
        "",
        f"- window: {w['start']} .. {w['end']} · **{w['rows']:,} rows**",
        f"- previous window (drift baseline): {p['start']} .. {p['end']} · **{p['rows']:,} rows**",
        f"- champion: version {result.champion_version} (run `{result.run}`)",
        f"- flagged: {', '.join(result.flagged) or 'nothing'}",
        f"- rule: flag when {s['flag_when']} (distance > threshold, or for numeric columns a "
        f"shift > {s.get('shift_threshold', '-')} SD; {s['correction']}-corrected "
        f"p < {s['alpha']} over {s['tests']} tests); no verdict under {s['min_window_rows']} rows",
        *([f"- live quality: {result.describe_live()}"] if result.live else []),
        *[f"- note: {n}" for n in result.notes],
    ]


SHIFT_COLUMNS = (
    ("feature", "feature"),
    ("kind", "vs"),
    ("measure", "distance"),
    ("distance", "value"),
    ("threshold", "threshold"),
    ("shift", "shift (SD)"),
    ("shift_threshold", "shift threshold"),
    ("test", "test"),
    ("statistic", "statistic"),
    ("p_adjusted", "corrected p"),
    ("rows", "rows"),
    ("baseline_rows", "baseline rows"),
    ("status", "status"),
)
QUALITY_COLUMNS = (
    ("slice", "slice"),
    ("metric", "metric"),
    ("live", "live"),
    ("eval", "at evaluation"),
    ("change", "change"),
)


def _md_table(rows: list[dict], columns) -> list[str]:
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k)) for k, _ in columns) + " |")
    return lines


def markdown(result: MonitorResult) -> str:
    lines = _header(result)
    lines += ["", "## Features ranked by how far they moved", ""]
    lines += _md_table(result.shifts, SHIFT_COLUMNS) if result.shifts else ["Not compared."]
    if result.anomalies:
        lines += ["", "## Schema anomalies of the window (SERVING environment)", ""]
        lines += [
            f"- **{_cell(a['feature'])}**: {_cell(a['description'])}" for a in result.anomalies
        ]
    if result.labels is not None:
        j = result.labels
        lines += [
            "",
            "## Live quality (delayed labels)",
            "",
            f"{j['joined']:,} of {result.window['rows']:,} predictions have a label "
            f"({j['labels']:,} labels read from `{j['path']}`).",
            "",
        ]
        lines += _md_table(result.quality, QUALITY_COLUMNS) if result.quality else ["No match."]
    return "\n".join(lines) + "\n"


def _html_table(rows: list[dict], columns, flag_key: str | None = None) -> str:
    head = "".join(f"<th>{_html.escape(t)}</th>" for _, t in columns)
    body = []
    for row in rows:
        cls = ' class="warn"' if flag_key and row.get(flag_key) else ""
        cells = "".join(f"<td>{_html.escape(_cell(row.get(k)))}</td>" for k, _ in columns)
        body.append(f"<tr{cls}>{cells}</tr>")
    return svg.scroll(f"<table><tr>{head}</tr>{''.join(body)}</table>")


def html(result: MonitorResult, stats_by_name: dict) -> str:
    """The ranking, anomalies and quality, then each feature's statistics side by side."""
    items = "".join(f"<li>{_html.escape(line[2:])}</li>" for line in _header(result)[2:])
    parts = [f"<ul>{items}</ul>", "<h2>Features ranked by how far they moved</h2>"]
    parts.append(_html_table(result.shifts, SHIFT_COLUMNS, "flagged"))
    if result.anomalies:
        parts.append("<h2>Schema anomalies of the window</h2><ul>")
        parts += [
            f"<li><b>{_html.escape(a['feature'])}</b>: {_html.escape(a['description'])}</li>"
            for a in result.anomalies
        ]
        parts.append("</ul>")
    if result.quality:
        parts += [
            "<h2>Live quality (delayed labels)</h2>",
            _html_table(result.quality, QUALITY_COLUMNS),
        ]
    parts.append("<h2>Statistics</h2>")
    title = f"Monitoring {result.model}: {result.verdict}"
    page = stats_html.render(stats_by_name, title) if stats_by_name else svg.page(title, "")
    heading = f"<h1>{_html.escape(title)}</h1>"
    return page.replace(heading, heading + "".join(parts), 1)
