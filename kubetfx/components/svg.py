"""Self-contained report pieces shared by every HTML page kubetfx writes: a page frame no
wider than 1,000 px, and small inline-SVG figures (no script, no external resource).

The Kubeflow UI shows an HTML artifact in a panel about 1,000 px wide and an air-gapped
cluster has no CDN, so pages are plain HTML: tables wrap or scroll inside `.scroll`, and every
figure has a viewBox and `max-width:100%`, so it shrinks with the panel instead of widening it.
A value that is undefined (None) is left blank, never drawn as 0.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

MAX_WIDTH = 960  # px: the page's content; with its margins it stays under 1,000
COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d")
STYLE = f"""
body{{font-family:system-ui,sans-serif;margin:0 auto;padding:12px;max-width:{MAX_WIDTH}px;
color:#222;box-sizing:border-box;overflow-wrap:anywhere}}
table{{border-collapse:collapse;margin-bottom:1.2em}}
th,td{{border:1px solid #ddd;padding:3px 6px;font-size:12px;vertical-align:top}}
th{{background:#f3f3f3;text-align:left}} td.num{{text-align:right}}
.scroll{{max-width:100%;overflow-x:auto}} svg{{max-width:100%;height:auto}}
.figs{{display:flex;flex-wrap:wrap;gap:12px}}
.figs figure{{margin:0;flex:1 1 300px;max-width:460px}}
figcaption,.note,small{{color:#666;font-size:12px}} .warn{{color:#b00020;font-weight:600}}
"""


def esc(value: object) -> str:
    return html.escape(str(value))


def page(title: str, body: str, style: str = "") -> str:
    """A whole document: the shared style, a title and the body."""
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f'<meta name="viewport" content="width=device-width">'
        f"<style>{STYLE}{style}</style></head><body><h1>{esc(title)}</h1>{body}</body></html>"
    )


def scroll(table_html: str) -> str:
    """A table that scrolls inside the page when it is wider than it, never the page."""
    return f'<div class="scroll">{table_html}</div>'


def _svg(fig_id: str, title: str, width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{esc(fig_id)}" viewBox="0 0 {width} '
        f'{height}" width="{width}" role="img" font-size="11"><title>{esc(title)}</title>'
        f"{''.join(parts)}</svg>"
    )


def figure(svg: str, caption: str = "") -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>" if caption else svg


def line_chart(
    fig_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    *,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    unit_square: bool = True,
    markers: bool = False,
) -> str:
    """Curves (name, [(x, y)]) on one pair of axes; [0, 1] x [0, 1] unless unit_square=False.
    `diagonal` draws y = x (chance for ROC, perfect calibration)."""
    w, h, left, bottom, pad = 420, 320, 44, 36, 10
    xs = [x for _, pts in series for x, _ in pts] or [0.0, 1.0]
    ys = [y for _, pts in series for _, y in pts] or [0.0, 1.0]
    lo_x, hi_x = (0.0, 1.0) if unit_square else (min(xs), max(xs))
    lo_y, hi_y = (0.0, 1.0) if unit_square else (min(ys), max(ys))
    span_x, span_y = (hi_x - lo_x) or 1.0, (hi_y - lo_y) or 1.0

    def at(x: float, y: float) -> str:
        px = left + (x - lo_x) / span_x * (w - left - pad)
        py = h - bottom - (y - lo_y) / span_y * (h - bottom - pad)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<rect x="{left}" y="{pad}" width="{w - left - pad}" height="{h - bottom - pad}" '
        'fill="none" stroke="#bbb"/>',
        f'<text x="{(w + left) / 2:.0f}" y="{h - 6}" text-anchor="middle">{esc(x_label)}</text>',
        f'<text x="12" y="{(h - bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(h - bottom) / 2:.0f})">{esc(y_label)}</text>',
    ]
    for value, anchor in ((lo_x, "start"), (hi_x, "end")):
        parts.append(
            f'<text x="{at(value, lo_y).split(",")[0]}" y="{h - bottom + 14}" '
            f'text-anchor="{anchor}">{value:.3g}</text>'
        )
    for value in (lo_y, hi_y):
        y = at(lo_x, value).split(",")[1]
        parts.append(f'<text x="{left - 4}" y="{y}" text-anchor="end">{value:.3g}</text>')
    if diagonal:
        parts.append(
            f'<polyline class="diagonal" points="{at(lo_x, lo_x)} {at(hi_x, hi_x)}" '
            'fill="none" stroke="#999" stroke-dasharray="4 3"/>'
        )
    for i, (name, points) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        if not points:
            continue
        path = " ".join(at(x, y) for x, y in points)
        parts.append(
            f'<polyline class="curve" points="{path}" fill="none" stroke="{color}" '
            f'stroke-width="2"><title>{esc(name)}</title></polyline>'
        )
        if markers:
            for x, y in points:
                cx, cy = at(x, y).split(",")
                parts.append(
                    f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}">'
                    f"<title>{esc(name)}: {x:.3g}, {y:.3g}</title></circle>"
                )
        parts.append(
            f'<text x="{left + 8}" y="{pad + 14 + 14 * i}" fill="{color}">{esc(name)}</text>'
        )
    return _svg(fig_id, title, w, h, parts)


def heatmap(fig_id: str, title: str, labels: Sequence[str], matrix: Sequence[Sequence[float]]):
    """A square matrix (rows actual, columns predicted) as shaded cells with their counts."""
    n = len(labels)
    cell = max(24, min(64, 360 // max(n, 1)))
    left, top = 110, 50
    w, h = left + n * cell + 10, top + n * cell + 10
    peak = max((v for row in matrix for v in row), default=0) or 1
    parts = [
        f'<text x="{left + n * cell / 2:.0f}" y="14" text-anchor="middle">predicted</text>',
        f'<text x="4" y="{top - 8}">actual</text>',
    ]
    for j, name in enumerate(labels):
        parts.append(
            f'<text x="{left + j * cell + cell / 2:.0f}" y="{top - 8}" '
            f'text-anchor="middle">{esc(name[:10])}</text>'
        )
    for i, (name, row) in enumerate(zip(labels, matrix, strict=True)):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4:.0f}" text-anchor="end">'
            f"{esc(name[:16])}</text>"
        )
        for j, value in enumerate(row):
            shade = 0.08 + 0.87 * value / peak
            ink = "#fff" if shade > 0.55 else "#222"
            parts.append(
                f'<rect class="cell" x="{left + j * cell}" y="{y}" width="{cell - 1}" '
                f'height="{cell - 1}" fill="#1f5fa8" fill-opacity="{shade:.2f}"><title>actual '
                f"{esc(name)}, predicted {esc(labels[j])}: {value:,.0f}</title></rect>"
                f'<text x="{left + j * cell + cell / 2:.0f}" y="{y + cell / 2 + 4:.0f}" '
                f'text-anchor="middle" fill="{ink}">{value:,.0f}</text>'
            )
    return _svg(fig_id, title, w, h, parts)


def interval_bars(
    fig_id: str,
    title: str,
    rows: Sequence[dict],
    *,
    lo: float = 0.0,
    hi: float | None = None,
) -> str:
    """One horizontal bar per row {label, value, low, high, n, note}: the value, its interval
    as a whisker (`line.ci`), the row count beside it; a None value is a blank bar with the
    note instead. The axis runs from `lo` to `hi` (default: the largest value or bound)."""
    bar, left, right, top = 22, 190, 190, 20
    w, h = 760, top + bar * len(rows) + 24
    bounds = [r[k] for r in rows for k in ("value", "high") if r.get(k) is not None]
    top_value = hi if hi is not None else max([lo + 1e-12, *bounds])
    span = (top_value - lo) or 1.0

    def x(value: float) -> float:
        clipped = min(max(value, lo), top_value)
        return left + (clipped - lo) / span * (w - left - right)

    parts = [
        f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{h - 20}" stroke="#999"/>',
        f'<text x="{left}" y="{h - 6}" text-anchor="middle">{lo:.3g}</text>',
        f'<text x="{w - right}" y="{h - 6}" text-anchor="middle">{top_value:.3g}</text>',
    ]
    for i, row in enumerate(rows):
        y = top + i * bar
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{esc(row["label"][:28])}</text>'
        )
        value = row.get("value")
        n = row.get("n")
        size = "" if n is None else f"n={n:,.0f}"
        if value is None or (isinstance(value, float) and math.isnan(value)):
            note = row.get("note") or "undefined"
            parts.append(
                f'<text class="undefined" x="{left + 6}" y="{y + 15}" fill="#666">'
                f"blank: {esc(note[:60])}</text>"
            )
        else:
            parts.append(
                f'<rect class="bar" x="{left}" y="{y + 4}" width="{x(value) - left:.1f}" '
                f'height="{bar - 8}" fill="{COLORS[0]}" fill-opacity="0.8"><title>'
                f"{esc(row['label'])}: {value:.4g} {size}</title></rect>"
            )
            low, high = row.get("low"), row.get("high")
            if low is not None and high is not None:
                mid = y + bar / 2
                parts.append(
                    f'<g class="ci" stroke="#222"><title>interval {low:.4g} .. {high:.4g}</title>'
                    f'<line class="ci" x1="{x(low):.1f}" y1="{mid}" x2="{x(high):.1f}" '
                    f'y2="{mid}"/><line x1="{x(low):.1f}" y1="{mid - 5}" x2="{x(low):.1f}" '
                    f'y2="{mid + 5}"/><line x1="{x(high):.1f}" y1="{mid - 5}" '
                    f'x2="{x(high):.1f}" y2="{mid + 5}"/></g>'
                )
            text = f"{value:.3f}" + (
                f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
            )
            parts.append(f'<text x="{w - right + 6}" y="{y + 15}">{text} {size}</text>')
    return _svg(fig_id, title, w, h, parts)
